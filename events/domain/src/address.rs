//! Address value types shared by the subscription and base-address events.
//!
//! Events keep what a person typed (`PostalAddress`) beside what Masthead
//! derived from it (`CanonicalAddress`), so that a better normaliser can be
//! replayed over the same history later.

use crate::country::Country;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An address as entered by a subscriber, trimmed but otherwise untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    /// Street and house number as typed, e.g. `East river str. 14`.
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: Country,
}

/// The lines of a base address as the address team curates them. Legacy
/// imports may lack fields; such addresses carry flags in their event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressLines {
    pub street: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
}

impl From<PostalAddress> for AddressLines {
    fn from(a: PostalAddress) -> Self {
        Self { street: a.street, postal_code: Some(a.postal_code), city: Some(a.city), country: Some(a.country) }
    }
}

/// The normalised, structured form the matching engine works on. `key` is the
/// exact-duplicate key: two addresses with the same key are the same address,
/// and the base address id is derived from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CanonicalAddress {
    pub key: String,
    /// Street name tokens after folding and abbreviation expansion, joined by a space.
    pub street: String,
    /// House number with suffix and unit in canonical form (`14`, `5a`,
    /// `14/3`), or `@` and the house name for a house known by name only.
    pub house_number: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
    /// The house's name when it has one (`rose cotage`), also beside a
    /// number: a subscriber may type either.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub house_name: String,
    /// Version of the normaliser that wrote this form. Events from before
    /// versions were recorded hold version 1. A reader with a newer
    /// normaliser re-normalises the lines; the id, derived from the key at
    /// registration, never changes.
    #[serde(default = "first_version")]
    pub version: u32,
}

fn first_version() -> u32 {
    1
}

/// How one part of two addresses compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldAgreement {
    /// Identical after normalisation.
    Exact,
    /// Different spellings of the same thing (an alias or abbreviation).
    Equivalent,
    /// Close enough to count as a typo.
    Similar,
    /// One side lacks the field; it neither helps nor hurts much.
    Missing,
    /// The parts disagree.
    Different,
}

/// Why a match was made: one entry per part plus the street similarity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchExplanation {
    /// Edit-distance similarity of the street names, 0–100.
    pub street_similarity: f64,
    pub street: FieldAgreement,
    pub house_number: FieldAgreement,
    pub postal_code: FieldAgreement,
    pub city: FieldAgreement,
    pub country: FieldAgreement,
    /// Calibrated probability (0–1) that the two are one address; absent
    /// in decisions made before probabilities were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// The evidence behind the probability, field by field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<FieldWeights>,
}

/// Each weighed field's log2 Bayes factor: positive is evidence for one
/// address, negative for two.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FieldWeights {
    pub street: f64,
    pub street_type: f64,
    pub postal_code: f64,
    pub city: f64,
}

/// Why the matcher put a decision before the address team as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    /// Matched, but not with certainty.
    UncertainMatch,
    /// Two different base addresses were both convincing; a new address
    /// was registered rather than picking one.
    Ambiguous,
    /// Registered as new, though a base address came close.
    PossibleMatch,
    /// Registered as new without a house number, on a street the list has
    /// numbered addresses on.
    MissingHouseNumber,
    /// It would have matched a base address the team retired: registered
    /// as new, for the team to decide where it goes.
    RetiredAddress,
}

/// A base address a reviewer should compare the entered address with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewCandidate {
    pub base_address_id: Uuid,
    pub probability: f64,
    pub explanation: MatchExplanation,
    /// The hard requirement it failed, if one did (`house_number`,
    /// `street_type`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veto: Option<String>,
}

/// A decision in the grey zone: it stands (the subscriber was answered),
/// and the address team confirms or corrects it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewRequest {
    pub reason: ReviewReason,
    /// Best first.
    pub candidates: Vec<ReviewCandidate>,
}
