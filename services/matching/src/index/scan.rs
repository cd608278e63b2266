//! The dedupe scan: every active base address probed against the rest of
//! the index, for pairs the engine would send to review or match.
//!
//! A base address is probed as a subscription typed exactly like it would
//! be, with two differences: it is not its own candidate, and its own
//! street does not count as "the street exists as typed" (it exists
//! because it is there; a sibling veto on that ground would hide every
//! misspelt street of the list). Everything else — house-number, type,
//! qualifier, postal-code and locality vetoes — keeps look-alikes apart
//! exactly as in a live decision.
//!
//! Pure and read-only: the index is shared by `&`, so the scan runs on
//! `threads` OS threads over chunks of entries taken from a shared counter
//! (chunks on a crowded town cost more than elsewhere; a static split
//! would leave one thread idle).

use super::{MatchIndex, Scored};
use crate::score::Explanation;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use uuid::Uuid;

/// Two base addresses the engine scores at or above the review
/// probability, neither merged nor retired, not decided distinct.
#[derive(Clone, Debug, PartialEq)]
pub struct DuplicatePair {
    /// The side the index took in first: with an index loaded from the
    /// stream, the older registration.
    pub first: Uuid,
    /// The side registered later.
    pub second: Uuid,
    /// The higher of the two directions' match probabilities.
    pub probability: f64,
    /// Per-field evidence of that direction.
    pub explanation: Explanation,
}

/// What a scan found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanReport {
    /// Each pair once, most probable first (then by ids, so two scans of
    /// the same index list them alike).
    pub pairs: Vec<DuplicatePair>,
    /// Active base addresses probed.
    pub scanned: usize,
    /// Pairs left out because the team decided them distinct.
    pub skipped_distinct: usize,
}

/// Entries per unit of work: small enough to balance two threads and to
/// report progress often, large enough that the shared counter is cold.
const CHUNK: usize = 2_048;

/// One direction's finding: (lower slot, higher slot, score).
type Found = (u32, u32, Scored);

impl MatchIndex {
    /// Scans the whole index for near-duplicate pairs (see the module
    /// docs) on `threads` threads (at least one). `progress(done, total)`
    /// is called after each chunk of entries, from the scanning threads.
    pub fn scan_duplicates(&self, threads: usize, progress: &(dyn Fn(usize, usize) + Sync)) -> ScanReport {
        let total = self.entries.len();
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let found: Mutex<Vec<Found>> = Mutex::new(Vec::new());
        let distinct: Mutex<Vec<(u32, u32)>> = Mutex::new(Vec::new());
        let scanned = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads.max(1) {
                scope.spawn(|| loop {
                    let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if start >= total {
                        break;
                    }
                    let end = (start + CHUNK).min(total);
                    let (mut mine, mut skipped, mut probed) = (Vec::new(), Vec::new(), 0);
                    for slot in start..end {
                        probed += usize::from(self.probe_slot(slot as u32, &mut mine, &mut skipped));
                    }
                    scanned.fetch_add(probed, Ordering::Relaxed);
                    if let Ok(mut f) = found.lock() {
                        f.append(&mut mine);
                    }
                    if let Ok(mut d) = distinct.lock() {
                        d.append(&mut skipped);
                    }
                    progress(done.fetch_add(end - start, Ordering::Relaxed) + end - start, total);
                });
            }
        });
        let mut skipped = distinct.into_inner().unwrap_or_default();
        skipped.sort_unstable();
        skipped.dedup();
        ScanReport {
            pairs: self.pairs(found.into_inner().unwrap_or_default()),
            scanned: scanned.into_inner(),
            skipped_distinct: skipped.len(),
        }
    }

    /// The order in which the index took `id` in (0 first): with an index
    /// loaded from the stream, the order of registration.
    pub fn position_of(&self, id: Uuid) -> Option<usize> {
        self.by_id.get(&id).map(|&slot| slot as usize)
    }

    /// Probes one entry; `false` when it is not an active address.
    fn probe_slot(&self, slot: u32, found: &mut Vec<Found>, distinct: &mut Vec<(u32, u32)>) -> bool {
        let entry = &self.entries[slot as usize];
        if self.by_id.get(&entry.id) != Some(&slot) || self.curated.contains_key(&entry.id) {
            return false;
        }
        let probe = self.canonical(slot);
        let review = self.config.review_probability;
        for (other, s) in self.evaluate_with(&probe, 0, false, Some(entry.block)) {
            let other_id = self.entries[other as usize].id;
            if other == slot || s.veto.is_some() || s.probability < review || self.curated.contains_key(&other_id) {
                continue;
            }
            let (lo, hi) = (slot.min(other), slot.max(other));
            if self.is_distinct(entry.id, other_id) {
                distinct.push((lo, hi));
                continue;
            }
            found.push((lo, hi, s));
        }
        true
    }

    /// Each pair once, with its more probable direction, best first.
    fn pairs(&self, mut found: Vec<Found>) -> Vec<DuplicatePair> {
        found.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(b.2.probability.total_cmp(&a.2.probability)));
        found.dedup_by(|later, kept| (later.0, later.1) == (kept.0, kept.1));
        let mut pairs: Vec<DuplicatePair> = found
            .into_iter()
            .map(|(lo, hi, s)| DuplicatePair {
                first: self.entries[lo as usize].id,
                second: self.entries[hi as usize].id,
                probability: s.probability,
                explanation: s.explanation,
            })
            .collect();
        pairs.sort_by(|a, b| {
            b.probability.total_cmp(&a.probability).then(a.first.cmp(&b.first)).then(a.second.cmp(&b.second))
        });
        pairs
    }
}
