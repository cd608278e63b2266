//! The Fellegi–Sunter model: how much each field's level of agreement says
//! about "same address" versus "another address at the same number".
//!
//! For every field and level the model holds `m` (how often a true match
//! shows this level) and `u` (how often a non-match that passed the
//! vetoes shows it). A level's weight is `log2(m / u)`; the weights of the
//! fields add up, with the prior odds, to the log-odds of a match. That is
//! how agreement on a fine-grained field (NL `3512 LT`, a GB unit
//! postcode) can outweigh one misspelt street word while a coarse one
//! (a German town's five digits shared by a hundred streets) cannot.
//!
//! `u` is estimated on the base list itself (`MatchIndex::estimate_u`):
//! every base address is, by construction, a non-match of every other one,
//! so pairing base addresses through the candidate index shows what a
//! non-match looks like in this list, per country. `m` and the prior come
//! from the calibration set (see the README, "Calibration").

use serde::{Deserialize, Serialize};

/// Levels of the street-name comparison, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreetLevel {
    /// The canonical names are equal.
    Exact,
    /// Equal once spaces are ignored (`east river` / `eastriver`).
    Equivalent,
    /// Similarity ≥ 0.9: one slip in a long name.
    Close,
    /// Similarity ≥ 0.8.
    Near,
    /// Similarity at or above `min_street_similarity`.
    Far,
}

/// Whether both sides name the street's type. A different type is a veto
/// (a sibling street), so it has no level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeLevel {
    Same,
    /// One side names a type, the other none (`Kerk 12` / `Kerkstraat 12`).
    OneMissing,
    /// Neither side names one (`Broadway`).
    Neither,
}

/// Levels of the postal-code comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostcodeLevel {
    Exact,
    /// One side gives only the area (`1234` / `1234AB`).
    AreaOnly,
    /// One edit apart, and the probe's code is not a known code of the
    /// base's own town.
    Typo,
    Missing,
    Different,
}

/// Levels of the town comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CityLevel {
    Exact,
    /// Similar enough to be a typo.
    Similar,
    Missing,
    Different,
}

/// The level of every compared field of one candidate pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Comparison {
    pub street: StreetLevel,
    pub street_type: TypeLevel,
    pub postal_code: PostcodeLevel,
    pub city: CityLevel,
}

/// One probability per level of each field (`m` or `u`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelTable {
    /// Exact, equivalent, close, near, far.
    pub street: [f64; 5],
    /// Same, one missing, neither.
    pub street_type: [f64; 3],
    /// Exact, area only, typo, missing, different.
    pub postal_code: [f64; 5],
    /// Exact, similar, missing, different.
    pub city: [f64; 4],
}

impl LevelTable {
    fn get(&self, c: &Comparison) -> [f64; 4] {
        [
            self.street[c.street as usize],
            self.street_type[c.street_type as usize],
            self.postal_code[c.postal_code as usize],
            self.city[c.city as usize],
        ]
    }

    fn rows(&self) -> [&[f64]; 4] {
        [&self.street, &self.street_type, &self.postal_code, &self.city]
    }

    fn rows_mut(&mut self) -> [&mut [f64]; 4] {
        [&mut self.street, &mut self.street_type, &mut self.postal_code, &mut self.city]
    }

    /// Whether every row is a probability distribution with no zero (a
    /// zero would make a weight infinite).
    pub(crate) fn is_valid(&self) -> bool {
        self.rows().iter().all(|row| {
            let sum: f64 = row.iter().sum();
            row.iter().all(|p| p.is_finite() && *p > 0.0) && (sum - 1.0).abs() < 1e-3
        })
    }
}

/// Level counts, turned into a [`LevelTable`] once tallied.
#[derive(Clone, Debug, Default)]
pub struct LevelCounts {
    street: [u64; 5],
    street_type: [u64; 3],
    postal_code: [u64; 5],
    city: [u64; 4],
    pairs: u64,
}

impl LevelCounts {
    pub fn add(&mut self, c: &Comparison) {
        self.street[c.street as usize] += 1;
        self.street_type[c.street_type as usize] += 1;
        self.postal_code[c.postal_code as usize] += 1;
        self.city[c.city as usize] += 1;
        self.pairs += 1;
    }

    pub fn pairs(&self) -> u64 {
        self.pairs
    }

    /// The observed frequencies shrunk towards `prior` with the weight of
    /// `strength` pairs, so that a country with a handful of addresses
    /// does not get weights from a handful of pairs.
    pub fn smoothed(&self, prior: &LevelTable, strength: f64) -> LevelTable {
        let mut out = prior.clone();
        let counts: [&[u64]; 4] = [&self.street, &self.street_type, &self.postal_code, &self.city];
        let n = self.pairs as f64;
        for ((row, prior_row), count_row) in out.rows_mut().into_iter().zip(prior.rows()).zip(counts) {
            for ((p, prior_p), count) in row.iter_mut().zip(prior_row).zip(count_row) {
                *p = (*count as f64 + strength * prior_p) / (n + strength);
            }
        }
        out
    }
}

/// A pair's weights: the log2 Bayes factor of each field's level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldWeights {
    pub street: f64,
    pub street_type: f64,
    pub postal_code: f64,
    pub city: f64,
}

impl FieldWeights {
    pub fn total(&self) -> f64 {
        self.street + self.street_type + self.postal_code + self.city
    }
}

/// `m`, the prior, and the `u` the index falls back on before it has
/// estimated its own.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// P(match) for a candidate pair that passed the vetoes, before its
    /// fields are looked at.
    pub prior: f64,
    pub m: LevelTable,
    pub u: LevelTable,
}

impl Model {
    /// The weights of a comparison under the given `u`.
    pub fn weights(&self, c: &Comparison, u: &LevelTable) -> FieldWeights {
        let m = self.m.get(c);
        let u = u.get(c);
        let w = |i: usize| (m[i] / u[i]).log2();
        FieldWeights { street: w(0), street_type: w(1), postal_code: w(2), city: w(3) }
    }

    /// The match probability of a pair with these weights.
    pub fn probability(&self, weights: &FieldWeights) -> f64 {
        let prior = (self.prior / (1.0 - self.prior)).log2();
        let log_odds = prior + weights.total();
        1.0 / (1.0 + (-log_odds).exp2())
    }
}

impl Default for Model {
    /// Estimated on the calibration set (`masthead-bench match-calibrate`,
    /// see the README); `u` here is only the fallback before the index
    /// has estimated its own from the base list.
    fn default() -> Self {
        Model {
            prior: 0.5,
            m: LevelTable {
                street: [0.80, 0.05, 0.08, 0.05, 0.02],
                street_type: [0.85, 0.10, 0.05],
                postal_code: [0.82, 0.02, 0.04, 0.08, 0.04],
                city: [0.85, 0.05, 0.08, 0.02],
            },
            u: LevelTable {
                street: [0.30, 0.01, 0.15, 0.24, 0.30],
                street_type: [0.80, 0.10, 0.10],
                postal_code: [0.30, 0.02, 0.03, 0.05, 0.60],
                city: [0.90, 0.01, 0.04, 0.05],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(street: StreetLevel, pc: PostcodeLevel) -> Comparison {
        Comparison { street, street_type: TypeLevel::Same, postal_code: pc, city: CityLevel::Exact }
    }

    #[test]
    fn agreement_raises_and_disagreement_lowers_the_probability() {
        let model = Model::default();
        let p = |c: Comparison| model.probability(&model.weights(&c, &model.u));
        let exact = p(pair(StreetLevel::Exact, PostcodeLevel::Exact));
        let typo = p(pair(StreetLevel::Close, PostcodeLevel::Exact));
        let far_other_code = p(pair(StreetLevel::Far, PostcodeLevel::Different));
        assert!(exact > typo && typo > far_other_code, "{exact} {typo} {far_other_code}");
        assert!((0.0..=1.0).contains(&far_other_code));
    }

    #[test]
    fn smoothing_pulls_small_samples_towards_the_prior() {
        let prior = Model::default().u;
        let mut counts = LevelCounts::default();
        counts.add(&pair(StreetLevel::Far, PostcodeLevel::Different));
        let few = counts.smoothed(&prior, 100.0);
        assert!((few.street[4] - prior.street[4]).abs() < 0.01);
        for _ in 0..10_000 {
            counts.add(&pair(StreetLevel::Far, PostcodeLevel::Different));
        }
        let many = counts.smoothed(&prior, 100.0);
        assert!(many.street[4] > 0.95);
        assert!(few.is_valid() && many.is_valid());
    }
}
