//! Scoring one probe against one base address, field by field.
//!
//! House number, country, street type and a locality are hard
//! requirements (a mismatch is a veto, not a penalty): no amount of street
//! similarity makes `Kerkstraat 12` the same address as `Kerkstraat 21`.

use rapidfuzz::distance::osa;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::MatchConfig;
use crate::normalize::{postcode_area, split_street, Canonical};

/// How one field of the probe relates to the same field of a base address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// Canonical values are identical.
    Exact,
    /// Identical after a coarser but still safe comparison (street names
    /// equal once spaces are ignored: `east river` / `eastriver`).
    Equivalent,
    /// Close but not equal: a street within the similarity threshold, a
    /// town with a typo, a postal code one edit away or given only as area.
    Similar,
    /// One side has no value.
    Missing,
    /// The values disagree.
    Different,
}

impl Agreement {
    fn agrees(self) -> bool {
        matches!(self, Agreement::Exact | Agreement::Equivalent)
    }
}

/// Which hard requirement failed; a vetoed candidate never matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Veto {
    /// Number, suffix or unit differ, or only one side has a number.
    HouseNumber,
    /// Street names below the similarity threshold, or one side has none.
    StreetName,
    /// Both name a street type and they differ (`Kerkweg`/`Kerkstraat`).
    StreetType,
    /// Both name a country and they differ.
    Country,
    /// Both have postal codes and they are not plausibly the same.
    PostalCode,
    /// The towns differ without an equal postal code, or neither postal
    /// code nor town agrees at all.
    Locality,
}

/// Per-field agreement behind a score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Street-name similarity, 0–1 (OSA edit distance normalised by the
    /// longer name, spaces ignored).
    pub street_similarity: f64,
    pub street: Agreement,
    pub house_number: Agreement,
    pub postal_code: Agreement,
    pub city: Agreement,
    pub country: Agreement,
}

/// A scored base address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: Uuid,
    /// 0–100; 0 when vetoed.
    pub score: f64,
    pub explanation: Explanation,
    /// Set when a hard requirement failed.
    pub veto: Option<Veto>,
}

/// Borrowed view of the compared fields of one side.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Side<'a> {
    pub name: &'a str,
    pub street_type: u8,
    pub house_number: &'a str,
    pub postal_code: &'a str,
    pub city: &'a str,
    pub country: &'a str,
}

impl<'a> Side<'a> {
    pub fn of(c: &'a Canonical) -> Self {
        let (name, street_type) = split_street(&c.street);
        Side {
            name,
            street_type,
            house_number: &c.house_number,
            postal_code: &c.postal_code,
            city: &c.city,
            country: &c.country,
        }
    }
}

fn compact(name: &str) -> impl DoubleEndedIterator<Item = u8> + Clone + '_ {
    name.bytes().filter(|b| *b != b' ')
}

/// A probe prepared for scoring against many base addresses.
pub(crate) struct ProbeScorer<'a> {
    side: Side<'a>,
    name: osa::BatchComparator<u8>,
    name_len: usize,
    /// Towns in which the probe's postal code is used by some base
    /// address. A near miss to the base's code is a typo unless the probe's
    /// code is a real code of the base's own town — then it is another
    /// postal code (`Hauptstraße 5, 10117` ≠ `Hauptstraße 5, 10115`).
    postcode_towns: Vec<&'a str>,
    config: &'a MatchConfig,
}

/// Outcome of comparing two sides.
pub(crate) struct Scored {
    pub score: f64,
    pub explanation: Explanation,
    pub veto: Option<Veto>,
}

impl<'a> ProbeScorer<'a> {
    pub fn new(side: Side<'a>, postcode_towns: Vec<&'a str>, config: &'a MatchConfig) -> Self {
        ProbeScorer {
            side,
            name: osa::BatchComparator::new(compact(side.name)),
            name_len: compact(side.name).count(),
            postcode_towns,
            config,
        }
    }

    pub fn side(&self) -> &Side<'a> {
        &self.side
    }

    /// Street-name similarity 0–1; both empty counts as identical.
    pub fn name_similarity(&self, name: &str) -> f64 {
        let other_len = compact(name).count();
        match (self.name_len, other_len) {
            (0, 0) => 1.0,
            (0, _) | (_, 0) => 0.0,
            _ => self.name.normalized_similarity(compact(name)),
        }
    }

    /// Scores a base address; `similarity` may be passed when the caller
    /// already computed it for the base's street.
    pub fn score(&self, base: &Side, similarity: Option<f64>) -> Scored {
        let cfg = self.config;
        let p = &self.side;
        let sim = similarity.unwrap_or_else(|| self.name_similarity(base.name));

        let country = presence(p.country, base.country).unwrap_or(if p.country == base.country {
            Agreement::Exact
        } else {
            Agreement::Different
        });
        let house_number = if p.house_number == base.house_number {
            Agreement::Exact
        } else if p.house_number.is_empty() || base.house_number.is_empty() {
            Agreement::Missing
        } else {
            Agreement::Different
        };
        let types_differ = p.street_type != 0 && base.street_type != 0 && p.street_type != base.street_type;
        let one_type = (p.street_type == 0) != (base.street_type == 0);
        let street = if p.name.is_empty() != base.name.is_empty() {
            Agreement::Missing
        } else if types_differ || sim < cfg.min_street_similarity {
            Agreement::Different
        } else if p.name == base.name && !one_type {
            Agreement::Exact
        } else if sim >= 1.0 && !one_type {
            Agreement::Equivalent
        } else {
            Agreement::Similar
        };
        let postal_code = self.postcode_agreement(base);
        let city = presence(p.city, base.city).unwrap_or_else(|| {
            if p.city == base.city {
                Agreement::Exact
            } else if osa::normalized_similarity(p.city.bytes(), base.city.bytes()) >= cfg.city_similarity {
                Agreement::Similar
            } else {
                Agreement::Different
            }
        });

        let locality_positive = matches!(postal_code, Agreement::Exact | Agreement::Similar)
            || matches!(city, Agreement::Exact | Agreement::Similar);
        let veto = if country == Agreement::Different {
            Some(Veto::Country)
        } else if house_number != Agreement::Exact {
            Some(Veto::HouseNumber)
        } else if types_differ {
            Some(Veto::StreetType)
        } else if matches!(street, Agreement::Different | Agreement::Missing) {
            Some(Veto::StreetName)
        } else if postal_code == Agreement::Different {
            Some(Veto::PostalCode)
        } else if (city == Agreement::Different && !postal_code.agrees()) || !locality_positive {
            Some(Veto::Locality)
        } else {
            None
        };

        let explanation = Explanation { street_similarity: sim, street, house_number, postal_code, city, country };
        let score = match veto {
            Some(_) => 0.0,
            None => {
                let street_part = if one_type { sim * cfg.missing_type_factor } else { sim };
                let pc = credit(postal_code, cfg.postal_code_similar_credit, cfg.postal_code_missing_credit);
                let town = credit(city, cfg.city_similar_credit, cfg.city_missing_credit);
                let total = cfg.street_weight + cfg.postal_code_weight + cfg.city_weight;
                100.0 * (cfg.street_weight * street_part + cfg.postal_code_weight * pc + cfg.city_weight * town) / total
            }
        };
        Scored { score, explanation, veto }
    }

    fn postcode_agreement(&self, base: &Side) -> Agreement {
        let (p, b) = (self.side.postal_code, base.postal_code);
        if let Some(a) = presence(p, b) {
            return a;
        }
        if p == b {
            return Agreement::Exact;
        }
        let country = if self.side.country.is_empty() { base.country } else { self.side.country };
        let (pa, ba) = (postcode_area(p, country), postcode_area(b, country));
        if pa == ba && (pa == p || ba == b) {
            // Only the area was given on one side (`1234` vs `1234AB`).
            return Agreement::Similar;
        }
        if !self.postcode_towns.contains(&base.city) && osa::distance(p.bytes(), b.bytes()) <= 1 {
            return Agreement::Similar;
        }
        Agreement::Different
    }
}

fn presence(a: &str, b: &str) -> Option<Agreement> {
    (a.is_empty() || b.is_empty()).then_some(Agreement::Missing)
}

fn credit(a: Agreement, similar: f64, missing: f64) -> f64 {
    match a {
        Agreement::Exact | Agreement::Equivalent => 1.0,
        Agreement::Similar => similar,
        Agreement::Missing => missing,
        Agreement::Different => 0.0,
    }
}

/// Compares two canonical addresses without an index. A postal code one
/// edit away counts as a typo here, because there is no list of known
/// codes to say otherwise.
pub fn compare(probe: &Canonical, base: &Canonical, config: &MatchConfig) -> (f64, Explanation, Option<Veto>) {
    let scorer = ProbeScorer::new(Side::of(probe), Vec::new(), config);
    let s = scorer.score(&Side::of(base), None);
    (s.score, s.explanation, s.veto)
}
