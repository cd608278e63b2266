//! Match thresholds, the grey zone and the Fellegi–Sunter model.

use serde::{Deserialize, Serialize};

use crate::score::model::Model;
use thiserror::Error;

/// Tunables of the scorer and the candidate index. `Default` holds the
/// values calibrated on the calibration set (see README "Calibration").
/// Every field may be omitted when deserialising; missing fields take the
/// default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchConfig {
    /// Match probability (0–1) at or above which `decide` returns a match.
    pub match_probability: f64,
    /// Matches below this probability are recorded for review: the grey
    /// zone's upper edge.
    pub certain_probability: f64,
    /// New addresses whose best candidate reached this probability are
    /// recorded for review: the grey zone's lower edge.
    pub review_probability: f64,
    /// Street-name similarity (0–1, OSA edit distance normalised by length)
    /// below which two streets are different streets: a veto.
    pub min_street_similarity: f64,
    /// Town similarity (0–1) at or above which towns count as similar
    /// (typos) rather than different.
    pub city_similarity: f64,
    /// At most this many streets from the town's n-gram block are scored.
    pub max_street_candidates: usize,
    /// Base addresses paired with their neighbours to estimate `u`.
    pub u_sample: usize,
    /// How many pairs' worth of weight the model's fallback `u` keeps in a
    /// country's estimate (see `LevelCounts::smoothed`).
    pub u_smoothing: f64,
    /// The Fellegi–Sunter model: `m`, prior and fallback `u`.
    pub model: Model,
}

/// The configuration calibrated on the calibration set, written by
/// `masthead-bench blind --calibrate DIR --write-config
/// services/matching/src/calibrated.json` (see README, "Calibration").
const CALIBRATED: &str = include_str!("calibrated.json");

/// The calibrated file's shape: every field required. (Deserialising a
/// `MatchConfig` itself fills missing fields from `Default`, which is this
/// file: it cannot be read that way.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Calibrated {
    match_probability: f64,
    certain_probability: f64,
    review_probability: f64,
    min_street_similarity: f64,
    city_similarity: f64,
    max_street_candidates: usize,
    u_sample: usize,
    u_smoothing: f64,
    model: Model,
}

impl Default for MatchConfig {
    /// The calibrated configuration. A test parses and validates the file,
    /// so the fallback (the model's prior beliefs, thresholds by hand) is
    /// never what ships.
    fn default() -> Self {
        static PARSED: std::sync::OnceLock<MatchConfig> = std::sync::OnceLock::new();
        PARSED
            .get_or_init(|| match serde_json::from_str::<Calibrated>(CALIBRATED) {
                Ok(c) => MatchConfig {
                    match_probability: c.match_probability,
                    certain_probability: c.certain_probability,
                    review_probability: c.review_probability,
                    min_street_similarity: c.min_street_similarity,
                    city_similarity: c.city_similarity,
                    max_street_candidates: c.max_street_candidates,
                    u_sample: c.u_sample,
                    u_smoothing: c.u_smoothing,
                    model: c.model,
                },
                Err(_) => MatchConfig::uncalibrated(),
            })
            .clone()
    }
}

impl MatchConfig {
    /// The starting point of calibration: hand-set thresholds and the
    /// model's prior beliefs.
    pub fn uncalibrated() -> Self {
        MatchConfig {
            match_probability: 0.5,
            certain_probability: 0.99,
            review_probability: 0.05,
            min_street_similarity: 0.7,
            city_similarity: 0.8,
            max_street_candidates: 24,
            u_sample: 20_000,
            u_smoothing: 200.0,
            model: Model::default(),
        }
    }
}

/// Why a configuration was rejected.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The JSON did not parse or had unknown fields. Fix the configuration
    /// source; do not fall back silently, thresholds decide merges.
    #[error("invalid match configuration: {0}")]
    Parse(#[from] serde_json::Error),
    /// A value is outside its range (named in the message). Fix the
    /// configuration; the engine would otherwise merge or split wrongly.
    #[error("match configuration field `{field}` out of range: {value}")]
    OutOfRange { field: &'static str, value: f64 },
    /// A probability table has a row that is not a distribution or holds
    /// a zero (an infinite weight). Fix the table.
    #[error("match configuration table `{0}`: every row must be positive and sum to 1")]
    BadTable(&'static str),
}

impl MatchConfig {
    /// Parses and validates a JSON configuration.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let config: MatchConfig = serde_json::from_str(json)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that every value is within its range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let unit = [
            ("match_probability", self.match_probability),
            ("certain_probability", self.certain_probability),
            ("review_probability", self.review_probability),
            ("min_street_similarity", self.min_street_similarity),
            ("city_similarity", self.city_similarity),
            ("model.prior", self.model.prior),
        ];
        for (field, value) in unit {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::OutOfRange { field, value });
            }
        }
        if !(self.review_probability <= self.match_probability && self.match_probability <= self.certain_probability) {
            return Err(ConfigError::OutOfRange { field: "match_probability", value: self.match_probability });
        }
        if !(self.u_smoothing >= 0.0 && self.u_smoothing.is_finite()) {
            return Err(ConfigError::OutOfRange { field: "u_smoothing", value: self.u_smoothing });
        }
        if self.model.prior <= 0.0 || self.model.prior >= 1.0 {
            return Err(ConfigError::OutOfRange { field: "model.prior", value: self.model.prior });
        }
        for (field, table) in [("model.m", &self.model.m), ("model.u", &self.model.u)] {
            if !table.is_valid() {
                return Err(ConfigError::BadTable(field));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calibrated_file_is_the_default() {
        serde_json::from_str::<Calibrated>(CALIBRATED).expect("calibrated.json has every field");
        let calibrated = MatchConfig::from_json(CALIBRATED).expect("calibrated.json is valid");
        assert_eq!(MatchConfig::default(), calibrated);
        assert_ne!(calibrated.model, MatchConfig::uncalibrated().model, "calibration changed the model");
    }

    #[test]
    fn partial_json_takes_defaults() {
        let c = MatchConfig::from_json(r#"{"match_probability": 0.9}"#).expect("valid");
        assert_eq!(c.match_probability, 0.9);
        assert_eq!(c.model, MatchConfig::default().model);
    }

    #[test]
    fn rejects_out_of_range_and_unknown() {
        assert!(matches!(
            MatchConfig::from_json(r#"{"min_street_similarity": 1.5}"#),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(matches!(MatchConfig::from_json(r#"{"threshold": 1}"#), Err(ConfigError::Parse(_))));
        let zero = r#"{"model": {"prior": 0.5, "m": {"street": [1,0,0,0,0], "street_type": [1,0,0],
            "postal_code": [1,0,0,0,0], "city": [1,0,0,0]}, "u": {"street": [1,0,0,0,0],
            "street_type": [1,0,0], "postal_code": [1,0,0,0,0], "city": [1,0,0,0]}}}"#;
        assert!(matches!(MatchConfig::from_json(zero), Err(ConfigError::BadTable("model.m"))));
        MatchConfig::default().validate().expect("default is valid");
    }
}
