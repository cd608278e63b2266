//! Curation in the index: base addresses the address team merged or
//! retired.
//!
//! Neither is removed. A merged address's entry stays where it is, so a
//! probe spelled like it still reaches it, and then resolves to the
//! survivor: its spellings become aliases of the survivor. A retired
//! address's entry stays too, so a probe that would match it is noticed
//! and goes to review instead of being delivered to an address that no
//! longer exists.

use super::{exact_candidate, Decision, MatchIndex, ReviewReason, Verdict};
use crate::normalize::Canonical;
use crate::score::Candidate;
use masthead_domain::{base_address, review};
use uuid::Uuid;

/// What the team did to a base address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Curated {
    MergedInto(Uuid),
    Retired,
}

/// Where an id resolves now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Deliver to this id: the address itself, or the survivor it was
    /// merged into (through any chain of merges).
    Active(Uuid),
    /// The address, or the survivor it was merged into, is retired.
    Retired(Uuid),
}

use base_address::MAX_CHAIN;

impl MatchIndex {
    /// `id` was merged into `into`.
    pub fn merge(&mut self, id: Uuid, into: Uuid) {
        self.curated.insert(id, Curated::MergedInto(into));
    }

    /// `id` was retired.
    pub fn retire(&mut self, id: Uuid) {
        self.curated.insert(id, Curated::Retired);
    }

    /// The team decided `a` and `b` are different addresses: they are never
    /// offered as a pair for review again (dedupe, the grey zone).
    pub fn mark_distinct(&mut self, a: Uuid, b: Uuid) {
        self.distinct.insert(review::pair(a, b), ());
    }

    /// Whether the team decided `a` and `b` are different addresses
    /// (either order).
    pub fn is_distinct(&self, a: Uuid, b: Uuid) -> bool {
        !self.distinct.is_empty() && self.distinct.contains_key(&review::pair(a, b))
    }

    /// How many pairs were decided distinct.
    pub fn distinct_pairs(&self) -> usize {
        self.distinct.len()
    }

    /// Where `id` resolves now.
    pub fn resolve(&self, id: Uuid) -> Resolution {
        let mut at = id;
        for _ in 0..MAX_CHAIN {
            match self.curated.get(&at) {
                None => return Resolution::Active(at),
                Some(Curated::Retired) => return Resolution::Retired(at),
                Some(Curated::MergedInto(into)) => at = *into,
            }
        }
        Resolution::Active(at)
    }

    /// Whether `id` is a base address in the index (active or not).
    pub fn knows(&self, id: Uuid) -> bool {
        self.by_id.contains_key(&id)
    }

    /// `probe` as a match to the address `id` resolves to, when the probe's
    /// key is one the address was registered under or a correction reserved
    /// for it: the engine no longer finds it there (a correction moved the
    /// address to its new spelling), but equal keys are the same address by
    /// definition. `None` when `id` is unknown or resolves to a retired
    /// address (a new one then takes a successor id).
    pub fn former_spelling(&self, probe: &Canonical, id: Uuid) -> Option<Candidate> {
        match self.knows(id).then(|| self.resolve(id))? {
            Resolution::Active(active) => Some(exact_candidate(probe, active)),
            Resolution::Retired(_) => None,
        }
    }

    /// The verdict with curation applied: matches to a merged address go
    /// to its survivor, a match to a retired address becomes a new address
    /// for review, and candidates that are one address after merges are
    /// listed once (the best of them).
    pub(super) fn curate(&self, v: Verdict) -> Verdict {
        if self.curated.is_empty() {
            return v;
        }
        if let Some(settled) = self.uncontested(&v) {
            return settled;
        }
        let candidates = self.redirect_all(v.candidates);
        match v.decision {
            Decision::Match(c) => match self.resolve(c.id) {
                Resolution::Active(id) => {
                    Verdict { decision: Decision::Match(Candidate { id, ..c }), review: v.review, candidates }
                }
                Resolution::Retired(retired) => match self.successor(retired) {
                    // A subscription typed like the retired address
                    // created its successor before: later ones match it.
                    Some(id) => {
                        Verdict { decision: Decision::Match(Candidate { id, ..c }), review: v.review, candidates }
                    }
                    None => Verdict {
                        decision: Decision::New { best_rejected: Some(c) },
                        review: Some(ReviewReason::RetiredAddress),
                        candidates,
                    },
                },
            },
            Decision::New { best_rejected } => Verdict {
                decision: Decision::New { best_rejected: best_rejected.map(|c| self.redirect(c)) },
                review: v.review,
                candidates,
            },
        }
    }

    /// The address registered in a retired address's place, where it
    /// resolves now, if there is one and it is active. It took the
    /// successor of its key's id: the retired address's own id, or after a
    /// correction the id the correction reserved for the new spelling (the
    /// successor of the address's own id belongs to its former spelling).
    fn successor(&self, retired: Uuid) -> Option<Uuid> {
        let slot = *self.by_id.get(&retired)?;
        let mut id = base_address::successor_id(base_address::id_for_key(&self.entry_key(slot)));
        for _ in 0..MAX_CHAIN {
            if !self.by_id.contains_key(&id) {
                return None;
            }
            match self.resolve(id) {
                Resolution::Active(active) => return Some(active),
                Resolution::Retired(r) => id = base_address::successor_id(r),
            }
        }
        None
    }

    /// A verdict left open only because two of its candidates looked
    /// alike — both convincing (`Ambiguous`) — settled when the team has
    /// merged them into one address since: a match to that address, as
    /// certain as its best spelling. `None` when that is not the case.
    fn uncontested(&self, v: &Verdict) -> Option<Verdict> {
        if v.review != Some(ReviewReason::Ambiguous) {
            return None;
        }
        let cfg = &self.config;
        let plausible: Vec<&Candidate> =
            v.candidates.iter().filter(|c| c.veto.is_none() && c.probability >= cfg.review_probability).collect();
        let best = *plausible.first()?;
        let Resolution::Active(target) = self.resolve(best.id) else { return None };
        let one_address = plausible.iter().all(|c| self.resolve(c.id) == Resolution::Active(target));
        if !one_address || best.probability < cfg.match_probability {
            return None;
        }
        let review = (best.probability < cfg.certain_probability).then_some(ReviewReason::UncertainMatch);
        let decision = Decision::Match(Candidate { id: target, ..best.clone() });
        Some(Verdict { decision, review, candidates: self.redirect_all(v.candidates.clone()) })
    }

    /// A candidate pointing where its address resolves now; a retired
    /// one keeps its own id, so a reviewer sees which address it was.
    fn redirect(&self, c: Candidate) -> Candidate {
        match self.resolve(c.id) {
            Resolution::Active(id) => Candidate { id, ..c },
            Resolution::Retired(_) => c,
        }
    }

    /// Candidates (best first) redirected, each address once.
    pub(super) fn redirect_all(&self, candidates: Vec<Candidate>) -> Vec<Candidate> {
        if self.curated.is_empty() {
            return candidates;
        }
        let mut out: Vec<Candidate> = Vec::with_capacity(candidates.len());
        for c in candidates {
            let c = self.redirect(c);
            if !out.iter().any(|o| o.id == c.id) {
                out.push(c);
            }
        }
        out
    }
}
