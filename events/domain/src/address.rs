//! Address value types shared by the subscription and base-address events.
//!
//! Events keep what a person typed (`PostalAddress`) beside what Masthead
//! derived from it (`CanonicalAddress`), so that a better normaliser can be
//! replayed over the same history later.

use crate::country::Country;
use serde::{Deserialize, Serialize};

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
    /// House number with suffix and unit in canonical form (`14`, `5a`, `14/3`).
    pub house_number: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
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
}
