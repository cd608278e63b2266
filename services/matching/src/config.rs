//! Match thresholds and weights.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Tunables of the scorer and the candidate index. `Default` holds the
/// values calibrated on the evaluation set (see README "Thresholds").
/// Every field may be omitted when deserialising; missing fields take the
/// default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchConfig {
    /// Minimum score (0–100) for `decide` to return a match.
    pub match_threshold: f64,
    /// Street-name similarity (0–1, OSA edit distance normalised by length)
    /// below which two streets are different streets: a veto.
    pub min_street_similarity: f64,
    /// Relative weights of the street, postal code and town in the score.
    pub street_weight: f64,
    pub postal_code_weight: f64,
    pub city_weight: f64,
    /// Multiplier on the street similarity when only one side names a
    /// street type (`Kerk 12` vs `Kerkstraat 12`).
    pub missing_type_factor: f64,
    /// Credit (0–1) for a postal code that is close but not equal: one
    /// edit away and unknown to the index, or only the area given.
    pub postal_code_similar_credit: f64,
    /// Credit (0–1) when either side has no postal code.
    pub postal_code_missing_credit: f64,
    /// Town similarity (0–1) at or above which towns count as similar
    /// (typos) rather than different.
    pub city_similarity: f64,
    /// Credit (0–1) for a similar town.
    pub city_similar_credit: f64,
    /// Credit (0–1) when either side has no town.
    pub city_missing_credit: f64,
    /// At most this many streets from the town's n-gram block are scored.
    pub max_street_candidates: usize,
}

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            match_threshold: 75.0,
            min_street_similarity: 0.75,
            street_weight: 60.0,
            postal_code_weight: 25.0,
            city_weight: 15.0,
            missing_type_factor: 0.9,
            postal_code_similar_credit: 0.6,
            postal_code_missing_credit: 0.5,
            city_similarity: 0.8,
            city_similar_credit: 0.8,
            city_missing_credit: 0.5,
            max_street_candidates: 24,
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
            ("min_street_similarity", self.min_street_similarity),
            ("missing_type_factor", self.missing_type_factor),
            ("postal_code_similar_credit", self.postal_code_similar_credit),
            ("postal_code_missing_credit", self.postal_code_missing_credit),
            ("city_similarity", self.city_similarity),
            ("city_similar_credit", self.city_similar_credit),
            ("city_missing_credit", self.city_missing_credit),
        ];
        for (field, value) in unit {
            if !(0.0..=1.0).contains(&value) {
                return Err(ConfigError::OutOfRange { field, value });
            }
        }
        if !(0.0..=100.0).contains(&self.match_threshold) {
            return Err(ConfigError::OutOfRange { field: "match_threshold", value: self.match_threshold });
        }
        for (field, value) in [
            ("street_weight", self.street_weight),
            ("postal_code_weight", self.postal_code_weight),
            ("city_weight", self.city_weight),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(ConfigError::OutOfRange { field, value });
            }
        }
        let total = self.street_weight + self.postal_code_weight + self.city_weight;
        if total <= 0.0 {
            return Err(ConfigError::OutOfRange { field: "street_weight", value: total });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_json_takes_defaults() {
        let c = MatchConfig::from_json(r#"{"match_threshold": 90}"#).expect("valid");
        assert_eq!(c.match_threshold, 90.0);
        assert_eq!(c.street_weight, MatchConfig::default().street_weight);
    }

    #[test]
    fn rejects_out_of_range_and_unknown() {
        assert!(matches!(
            MatchConfig::from_json(r#"{"min_street_similarity": 1.5}"#),
            Err(ConfigError::OutOfRange { .. })
        ));
        assert!(matches!(MatchConfig::from_json(r#"{"threshold": 1}"#), Err(ConfigError::Parse(_))));
        MatchConfig::default().validate().expect("default is valid");
    }
}
