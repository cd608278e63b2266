//! Verification, the same for the live stream and an export: the anchors
//! are checked first (signatures, links), then the events are fed in
//! stream order and each leaf compared with what the anchors signed.

use crate::anchor::{Anchor, AnchorError};
use crate::key::PublicKeys;
use crate::leaf::{Hash, ABSENT};
use serde::Serialize;

/// The first thing found wrong, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The first stream sequence affected.
    pub sequence: u64,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Problem {
    /// The stored message differs from the one anchored (payload, headers,
    /// subject, or another message in its place).
    #[error("the event differs from the one anchored")]
    Changed,
    /// An anchored sequence is not there (deleted, or the end cut off).
    #[error("the anchored event is missing")]
    Missing,
    /// A sequence came again or out of order (an export's lines moved).
    #[error("the event is out of order or duplicated")]
    OutOfOrder,
    /// The anchor covering this sequence does not verify.
    #[error("{0}")]
    Anchor(String),
}

/// What a verification found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub stream: String,
    pub anchors: usize,
    /// The last sequence the valid anchors cover (0: none).
    pub anchored_to: u64,
    pub events: u64,
    /// The last sequence checked against an anchor and found intact.
    pub verified_to: u64,
    /// Events after the last anchor: stored, not yet provable.
    pub unanchored_tail: u64,
    pub failure: Option<Failure>,
}

/// Feeds events in stream order; see the module doc.
pub struct Verifier {
    stream: String,
    anchors: usize,
    base: u64,
    expected: Vec<Hash>,
    next: u64,
    events: u64,
    tail: u64,
    failure: Option<Failure>,
    anchor_failure: Option<Failure>,
}

impl Verifier {
    /// Checks `anchors` (in their stream order) with `keys`. A bad anchor
    /// ends what is proven: the events it and later anchors cover count as
    /// unanchored, and the report names its first sequence.
    pub fn new(stream: &str, keys: &PublicKeys, anchors: impl IntoIterator<Item = Anchor>) -> Self {
        let mut v = Self {
            stream: stream.to_owned(),
            anchors: 0,
            base: 0,
            expected: Vec::new(),
            next: 0,
            events: 0,
            tail: 0,
            failure: None,
            anchor_failure: None,
        };
        let mut prev = String::new();
        for a in anchors {
            let follows = v.base == 0 || a.first_seq == v.base + v.expected.len() as u64;
            let checked =
                a.check(keys, stream, &prev).and_then(
                    |leaves| {
                        if follows {
                            Ok(leaves)
                        } else {
                            Err(AnchorError::BrokenLink)
                        }
                    },
                );
            match checked {
                Ok(leaves) => {
                    if v.base == 0 {
                        v.base = a.first_seq;
                    }
                    v.expected.extend(leaves);
                    v.anchors += 1;
                    prev = a.hash();
                }
                Err(e) => {
                    v.anchor_failure = Some(Failure { sequence: a.first_seq, problem: Problem::Anchor(e.to_string()) });
                    break;
                }
            }
        }
        v.next = v.base.max(1);
        v
    }

    fn anchored_to(&self) -> u64 {
        if self.base == 0 {
            0
        } else {
            self.base + self.expected.len() as u64 - 1
        }
    }

    fn expected(&self, seq: u64) -> Option<&Hash> {
        seq.checked_sub(self.base).and_then(|i| self.expected.get(i as usize))
    }

    fn fail(&mut self, sequence: u64, problem: Problem) {
        self.failure.get_or_insert(Failure { sequence, problem });
    }

    /// The next stored event. Returns `false` once something was found
    /// wrong (there is no need to read further).
    pub fn event(&mut self, seq: u64, leaf: &Hash) -> bool {
        if self.failure.is_some() {
            return false;
        }
        self.events += 1;
        if seq < self.next {
            self.fail(seq, Problem::OutOfOrder);
            return false;
        }
        for gap in self.next..seq.min(self.anchored_to() + 1) {
            if self.expected(gap).is_some_and(|h| *h != ABSENT) {
                self.fail(gap, Problem::Missing);
                return false;
            }
        }
        self.next = seq + 1;
        match self.expected(seq) {
            Some(h) if h == leaf => true,
            Some(_) => {
                self.fail(seq, Problem::Changed);
                false
            }
            None => {
                self.tail += 1;
                true
            }
        }
    }

    /// Ends the verification: anchored events that never came are missing.
    pub fn finish(mut self) -> Report {
        let anchored_to = self.anchored_to();
        if self.failure.is_none() {
            if let Some(gap) = (self.next..=anchored_to).find(|s| self.expected(*s).is_some_and(|h| *h != ABSENT)) {
                self.fail(gap, Problem::Missing);
            }
        }
        let failure = match (self.failure, self.anchor_failure) {
            (Some(a), Some(b)) => Some(if a.sequence <= b.sequence { a } else { b }),
            (a, b) => a.or(b),
        };
        let verified_to = match &failure {
            Some(f) => f.sequence.saturating_sub(1).min(anchored_to),
            None => anchored_to,
        };
        Report {
            ok: failure.is_none(),
            stream: self.stream,
            anchors: self.anchors,
            anchored_to,
            events: self.events,
            verified_to,
            unanchored_tail: self.tail,
            failure,
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.failure {
            None => write!(
                f,
                "OK: stream {}: {} events read, sequences up to {} verified against {} signed anchors",
                self.stream, self.events, self.verified_to, self.anchors
            )?,
            Some(fail) => write!(
                f,
                "FAILED: stream {}: sequence {}: {} (intact up to {})",
                self.stream, fail.sequence, fail.problem, self.verified_to
            )?,
        }
        if self.unanchored_tail > 0 {
            write!(f, "\n{} events after the last anchor are not anchored yet (not proven)", self.unanchored_tail)?;
        }
        Ok(())
    }
}
