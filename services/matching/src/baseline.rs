//! The replaced system's rule, kept only to measure against: street line
//! only, lowercased, `fuzz::ratio` ≥ 70 over every base address, last best
//! wins. Known to match `Kerkstraat 12` in Utrecht with `Kerkstraat 12` in
//! Leiden, and `Kerkstraat 12` with `Kerkstraat 21`.

use rapidfuzz::fuzz;
use uuid::Uuid;

/// Ratio (0–100) at or above which the old system declared a match.
pub const BASELINE_THRESHOLD: f64 = 70.0;

#[derive(Default)]
pub struct BaselineIndex {
    entries: Vec<(Uuid, Vec<char>)>,
}

impl BaselineIndex {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, id: Uuid, street_line: &str) {
        self.entries.push((id, street_line.to_lowercase().chars().collect()));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Best base address by ratio (0–100), ties to the later one, or
    /// `None` below the threshold. Uses rapidfuzz's cached one-vs-many
    /// comparator, which computes the same ratio faster than the old
    /// implementation did — the latency comparison favours the baseline.
    pub fn decide(&self, street_line: &str) -> Option<(Uuid, f64)> {
        let probe: Vec<char> = street_line.to_lowercase().chars().collect();
        let scorer = fuzz::RatioBatchComparator::new(probe.iter().copied());
        let mut best: Option<(Uuid, f64)> = None;
        for (id, line) in &self.entries {
            let score = 100.0 * scorer.similarity(line.iter().copied());
            if score >= BASELINE_THRESHOLD && best.is_none_or(|(_, b)| score >= b) {
                best = Some((*id, score));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_known_false_positives() {
        let mut b = BaselineIndex::new();
        b.insert(Uuid::from_u128(1), "Kerkstraat 21");
        let hit = b.decide("kerkstraat 12").expect("old rule matches");
        assert_eq!(hit.0, Uuid::from_u128(1));
        assert!(hit.1 >= 70.0);
        assert!(b.decide("Molenweg 3").is_none());
    }

    #[test]
    fn last_best_wins() {
        let mut b = BaselineIndex::new();
        b.insert(Uuid::from_u128(1), "Kerkstraat 12");
        b.insert(Uuid::from_u128(2), "Kerkstraat 12");
        assert_eq!(b.decide("Kerkstraat 12").map(|x| x.0), Some(Uuid::from_u128(2)));
    }
}
