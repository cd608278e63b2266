//! Evaluation: the metrics used to compare the engine with the baseline on
//! the same labelled queries.
//!
//! # Metric definitions
//!
//! Every query is labelled with the base address it means (a *positive*)
//! or as a new address (a *negative*). For each query the system either
//! matches it to one base address or reports it as new.
//!
//! - **TP**: a positive matched to its own base address.
//! - **FP**: any match that is wrong — a positive matched to another base
//!   address, or a negative matched to anything. (A wrong match merges two
//!   different addresses, the error the publisher cannot tolerate.)
//! - **FN**: a positive not matched to its own base address — reported as
//!   new *or* matched to another base address (so a wrong match on a
//!   positive counts as both FP and FN; recall is "share of positives
//!   resolved correctly").
//! - **TN**: a negative reported as new.
//!
//! precision = TP / (TP + FP), recall = TP / (TP + FN) = TP / positives,
//! F1 = harmonic mean.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{BaseAddress, Query};
use masthead_matching::baseline::BaselineIndex;
use masthead_matching::index::{Decision, MatchIndex};
use masthead_matching::normalize::normalize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
    /// Positives matched to another base address (counted in FP and FN).
    pub wrong_base: usize,
}

impl Metrics {
    /// Records one outcome: `expected` label, `got` the matched id.
    pub fn record(&mut self, expected: Option<Uuid>, got: Option<Uuid>) {
        match (expected, got) {
            (Some(e), Some(g)) if e == g => self.tp += 1,
            (Some(_), Some(_)) => {
                self.fp += 1;
                self.fn_ += 1;
                self.wrong_base += 1;
            }
            (Some(_), None) => self.fn_ += 1,
            (None, Some(_)) => self.fp += 1,
            (None, None) => self.tn += 1,
        }
    }

    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    pub fn queries(&self) -> usize {
        self.tp + self.fn_ + self.tn + self.fp - self.wrong_base
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Engine outcome per query kind/variation, for finding weak spots.
#[derive(Debug, Default)]
pub struct Breakdown {
    /// (queries, errors) per negative kind or positive variation.
    pub by_label: BTreeMap<&'static str, (usize, usize)>,
    /// A few failing queries for inspection.
    pub examples: Vec<String>,
}

/// Normalises and bulk-builds the engine index over the base list.
pub fn build_engine(config: masthead_matching::MatchConfig, base: &[BaseAddress]) -> MatchIndex {
    MatchIndex::bulk_build(config, base.iter().map(|b| (b.id, normalize(&b.address.as_input()))))
}

pub fn build_baseline(base: &[BaseAddress]) -> BaselineIndex {
    let mut ix = BaselineIndex::new();
    for b in base {
        ix.insert(b.id, &b.address.street);
    }
    ix
}

/// Runs the engine over the queries.
pub fn evaluate_engine(index: &MatchIndex, queries: &[Query]) -> (Metrics, Breakdown) {
    let mut m = Metrics::default();
    let mut breakdown = Breakdown::default();
    for q in queries {
        let got = match index.decide(&normalize(&q.address.as_input())) {
            Decision::Match(c) => Some(c.id),
            Decision::New { .. } => None,
        };
        m.record(q.expected, got);
        let wrong = got != q.expected;
        let labels: Vec<&'static str> = if q.expected.is_some() { q.variations.clone() } else { vec![q.kind] };
        for l in labels {
            let e = breakdown.by_label.entry(l).or_default();
            e.0 += 1;
            e.1 += usize::from(wrong);
        }
        if wrong && breakdown.examples.len() < 40 {
            let probe = normalize(&q.address.as_input());
            let top = index.candidates(&probe, 1);
            breakdown.examples.push(format!(
                "{} {:?} expected={} got={} :: {:?}\n    probe {}\n    top {:?}",
                q.kind,
                q.variations,
                q.expected.is_some(),
                got.is_some(),
                q.address,
                probe.key(),
                top.first().map(|c| (c.id == q.expected.unwrap_or_default(), c.score, &c.explanation, c.veto))
            ));
        }
    }
    (m, breakdown)
}

/// Runs the baseline (street line only) over the queries.
pub fn evaluate_baseline(index: &BaselineIndex, queries: &[Query]) -> Metrics {
    let mut m = Metrics::default();
    for q in queries {
        m.record(q.expected, index.decide(&q.address.street).map(|(id, _)| id));
    }
    m
}

/// Best non-vetoed candidate per query (id, score), for threshold sweeps.
pub fn best_candidates(index: &MatchIndex, queries: &[Query]) -> Vec<Option<(Uuid, f64)>> {
    queries
        .iter()
        .map(|q| {
            index
                .candidates(&normalize(&q.address.as_input()), 1)
                .into_iter()
                .find(|c| c.veto.is_none())
                .map(|c| (c.id, c.score))
        })
        .collect()
}

/// Precision/recall at each threshold, from `best_candidates` output.
pub fn sweep(queries: &[Query], best: &[Option<(Uuid, f64)>], thresholds: &[f64]) -> Vec<(f64, Metrics)> {
    thresholds
        .iter()
        .map(|&t| {
            let mut m = Metrics::default();
            for (q, b) in queries.iter().zip(best) {
                let got = b.filter(|(_, s)| *s >= t).map(|(id, _)| id);
                m.record(q.expected, got);
            }
            (t, m)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{generate, GeneratorConfig};
    use super::*;

    #[test]
    fn metrics_follow_the_definitions() {
        let (a, b) = (Some(Uuid::from_u128(1)), Some(Uuid::from_u128(2)));
        let mut m = Metrics::default();
        m.record(a, a); // TP
        m.record(a, b); // FP + FN
        m.record(a, None); // FN
        m.record(None, a); // FP
        m.record(None, None); // TN
        assert_eq!((m.tp, m.fp, m.fn_, m.tn), (1, 2, 2, 1));
        assert!((m.precision() - 1.0 / 3.0).abs() < 1e-9);
        assert!((m.recall() - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(m.queries(), 5);
    }

    #[test]
    fn generator_is_deterministic_and_labels_exist() {
        let cfg = GeneratorConfig { base_size: 500, queries: 200, negative_share: 0.3, seed: 7 };
        let a = generate(&cfg);
        let b = generate(&cfg);
        assert_eq!(a.base.len(), 500);
        assert_eq!(a.queries.len(), 200);
        assert_eq!(a.base[17].address, b.base[17].address);
        assert_eq!(a.queries[42].address, b.queries[42].address);
        let ids: std::collections::HashSet<Uuid> = a.base.iter().map(|b| b.id).collect();
        assert!(a.queries.iter().filter_map(|q| q.expected).all(|id| ids.contains(&id)));
        assert!(a.queries.iter().any(|q| q.expected.is_none()));
    }
}
