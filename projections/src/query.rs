//! Filters and paging the read API passes to a store, and the normalisation
//! both sides of a filter go through (so `3511 lx` finds `3511LX`).

use crate::error::StoreError;
use crate::view::{AddressState, ReviewState, SubscriptionStatus};
use chrono::{DateTime, Utc};

/// Default and maximum page sizes. The API enforces them too; stores clamp
/// so that a caller cannot ask for an unbounded page.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// How many index entries one list request may examine before it returns a
/// short page with a cursor. Bounds the cost of filter combinations that
/// match rarely (e.g. `status=failed&country=LI`).
pub const MAX_SCAN: usize = 5_000;

/// Which page: `cursor` is the opaque `next_cursor` of the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn first(limit: usize) -> Self {
        Self { limit, cursor: None }
    }

    pub fn after(limit: usize, cursor: impl Into<String>) -> Self {
        Self { limit, cursor: Some(cursor.into()) }
    }

    /// The limit to use: 0 means the default, and no more than [`MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }
}

/// Filters for listing subscriptions, newest first. All given filters apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    pub status: Option<SubscriptionStatus>,
    /// Inclusive lower bound on `created_at`.
    pub created_after: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `created_at`.
    pub created_before: Option<DateTime<Utc>>,
    /// ISO 3166-1 alpha-2, any case.
    pub country: Option<String>,
}

impl SubscriptionFilter {
    pub(crate) fn country_code(&self) -> Option<String> {
        self.country.as_deref().map(|c| c.trim().to_ascii_uppercase())
    }
}

/// Filters for listing base addresses. All given filters apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressFilter {
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2, any case.
    pub country: Option<String>,
    /// The publisher's reference, exact.
    pub reference: Option<String>,
    /// Search as you type on street names: every word must start a word of
    /// the street (`kerk 12` is `kerk*` only; numbers are ignored).
    pub q: Option<String>,
    /// `active`, `merged` or `retired`.
    pub status: Option<AddressState>,
}

/// Filters for listing review items, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewFilter {
    pub status: Option<ReviewState>,
}

impl AddressFilter {
    /// The search words of `q`, or an error if `q` is given but has none.
    pub(crate) fn q_tokens(&self) -> Result<Option<Vec<String>>, StoreError> {
        match &self.q {
            None => Ok(None),
            Some(q) => {
                let tokens = street_tokens(q);
                if tokens.is_empty() {
                    return Err(StoreError::InvalidFilter("q needs at least one letter".into()));
                }
                Ok(Some(tokens))
            }
        }
    }
}

/// Postal codes compare without spaces and case: `3511 lx` = `3511LX`.
pub fn normalize_postal_code(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_uppercase).collect()
}

/// Cities compare folded to ASCII lower case with single spaces.
pub fn normalize_city(s: &str) -> String {
    deunicode::deunicode(s).to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn normalize_country(s: &str) -> String {
    s.trim().to_ascii_uppercase()
}

/// Words of a street line for search: ASCII-folded, lower case, split on
/// anything that is not a letter or digit; words without a letter (house
/// numbers) are dropped; duplicates removed, order kept.
pub fn street_tokens(s: &str) -> Vec<String> {
    let folded = deunicode::deunicode(s).to_lowercase();
    let mut out: Vec<String> = Vec::new();
    for t in folded.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !t.is_empty() && t.chars().any(|c| c.is_ascii_alphabetic()) && !out.iter().any(|x| x == t) {
            out.push(t.to_owned());
        }
    }
    out
}

/// Whether every search word starts some word of the address.
pub(crate) fn tokens_match(address_tokens: &[String], q: &[String]) -> bool {
    q.iter().all(|w| address_tokens.iter().any(|t| t.starts_with(w.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_ignores_case_spaces_and_accents() {
        assert_eq!(normalize_postal_code(" 3511 lx"), "3511LX");
        assert_eq!(normalize_city("  Düsseldorf   Nord "), "dusseldorf nord");
        assert_eq!(street_tokens("Sankt-Jürgen-Straße 12a, Hof"), vec!["sankt", "jurgen", "strasse", "12a", "hof"]);
        assert_eq!(street_tokens("12 / 14"), Vec::<String>::new());
    }

    #[test]
    fn every_search_word_must_start_an_address_word() {
        let t = street_tokens("East River Street");
        assert!(tokens_match(&t, &street_tokens("riv ea")));
        assert!(!tokens_match(&t, &street_tokens("river west")));
        assert!(!tokens_match(&t, &street_tokens("iver")));
    }

    #[test]
    fn limits_default_and_clamp() {
        assert_eq!(PageRequest::first(0).effective_limit(), DEFAULT_LIMIT);
        assert_eq!(PageRequest::first(1000).effective_limit(), MAX_LIMIT);
        assert_eq!(PageRequest::first(7).effective_limit(), 7);
    }
}
