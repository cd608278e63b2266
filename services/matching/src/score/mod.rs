//! Scoring one probe against one base address, field by field.
//!
//! Two kinds of evidence. Hard negatives are vetoes, not penalties: no
//! amount of street similarity makes `Kerkstraat 12` the same address as
//! `Kerkstraat 21`, `Kerkweg` the same street as `Kerkstraat`, or a street
//! in one town the same as its namesake in another. Everything else is
//! weighed: each field's level of agreement carries a Fellegi–Sunter
//! weight ([`model`]), and their sum is a calibrated match probability.

pub mod model;

use rapidfuzz::distance::osa;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::MatchConfig;
use crate::normalize::{postcode_area, qualifiers_differ, split_street, Canonical};
use model::{CityLevel, Comparison, FieldWeights, LevelTable, PostcodeLevel, StreetLevel, TypeLevel};

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

/// Which hard requirement failed; a vetoed candidate never matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Veto {
    /// Number, suffix or unit differ, or only one side has a number.
    HouseNumber,
    /// Street names below the similarity threshold, one side has none, or
    /// the probe's street exists as typed in the town: then it is a
    /// sibling street (`Mill Street`/`Hill Street`), not a typo.
    StreetName,
    /// Both name a street type and they differ (`Kerkweg`/`Kerkstraat`).
    StreetType,
    /// Both name a country and they differ.
    Country,
    /// Both have postal codes and they are not plausibly the same.
    PostalCode,
    /// The towns differ without an equal postal code, or neither postal
    /// code nor town agrees at all: the same street in another town.
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
    /// The level of each weighed field; `None` when a veto decided.
    pub comparison: Option<Comparison>,
    /// Each weighed field's log2 Bayes factor (positive: evidence for the
    /// same address).
    pub weights: FieldWeights,
}

/// A scored base address.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: Uuid,
    /// Calibrated probability (0–1) that the probe is this address.
    pub probability: f64,
    /// `100 × probability`; 0 when vetoed.
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
    pub house_name: &'a str,
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
            house_name: &c.house_name,
        }
    }
}

fn compact(name: &str) -> impl DoubleEndedIterator<Item = u8> + Clone + '_ {
    name.bytes().filter(|b| *b != b' ')
}

/// What the index knows about the probe's surroundings.
#[derive(Default)]
pub(crate) struct ProbeContext<'a> {
    /// Towns in which the probe's postal code is used by some base
    /// address. A near miss to the base's code is a typo unless the
    /// probe's code is a real code of the base's own town — then it is
    /// another postal code (`Hauptstraße 5, 10117` ≠ `Hauptstraße 5, 10115`).
    pub postcode_towns: Vec<&'a str>,
    /// Whether a street with the probe's exact name and type exists in
    /// the probe's town or postal area.
    pub street_exists: bool,
}

/// A probe prepared for scoring against many base addresses.
pub(crate) struct ProbeScorer<'a> {
    side: Side<'a>,
    name: osa::BatchComparator<u8>,
    name_len: usize,
    context: ProbeContext<'a>,
    config: &'a MatchConfig,
}

/// Outcome of comparing two sides.
#[derive(Clone)]
pub(crate) struct Scored {
    /// The levels of the weighed fields whenever the number, country,
    /// type and name threshold allow a comparison at all, even if a
    /// postal-code, locality or sibling veto then decided: what `u` is
    /// estimated from.
    pub levels: Option<Comparison>,
    pub probability: f64,
    pub explanation: Explanation,
    pub veto: Option<Veto>,
}

impl Scored {
    pub fn score(&self) -> f64 {
        100.0 * self.probability
    }
}

impl<'a> ProbeScorer<'a> {
    pub fn new(side: Side<'a>, context: ProbeContext<'a>, config: &'a MatchConfig) -> Self {
        ProbeScorer {
            side,
            name: osa::BatchComparator::new(compact(side.name)),
            name_len: compact(side.name).count(),
            context,
            config,
        }
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

    /// Scores a base address under the non-match table `u`; `similarity`
    /// may be passed when the caller already computed it for the base's
    /// street.
    pub fn score(&self, base: &Side, similarity: Option<f64>, u: &LevelTable) -> Scored {
        let sim = similarity.unwrap_or_else(|| self.name_similarity(base.name));
        self.score_sides(&self.side, base, sim, false, u)
    }

    /// Scores a base address whose street the probe typed glued to a
    /// variant of its type (`Scholtenstrt` for `Scholtenstraat`, see
    /// `MatchIndex::evaluate`): the probe's street counts as the base's,
    /// one level below exact.
    pub fn score_glued(&self, base: &Side, u: &LevelTable) -> Scored {
        let probe = Side { name: base.name, street_type: base.street_type, ..self.side };
        self.score_sides(&probe, base, 1.0, true, u)
    }

    fn score_sides(&self, p: &Side, base: &Side, sim: f64, glued: bool, u: &LevelTable) -> Scored {
        let cfg = self.config;

        let country = presence(p.country, base.country).unwrap_or(if p.country == base.country {
            Agreement::Exact
        } else {
            Agreement::Different
        });
        let house_number = house_agreement(p, base);
        let types_differ = p.street_type != 0 && base.street_type != 0 && p.street_type != base.street_type;
        let street_type = match (p.street_type, base.street_type) {
            (0, 0) => TypeLevel::Neither,
            (0, _) | (_, 0) => TypeLevel::OneMissing,
            _ => TypeLevel::Same,
        };
        let street_level = street_level(p.name == base.name, sim, glued, cfg.min_street_similarity);
        let street = if p.name.is_empty() != base.name.is_empty() {
            Agreement::Missing
        } else {
            match street_level {
                None => Agreement::Different,
                _ if types_differ => Agreement::Different,
                Some(StreetLevel::Exact) if street_type != TypeLevel::OneMissing => Agreement::Exact,
                Some(StreetLevel::Exact | StreetLevel::Equivalent) => Agreement::Equivalent,
                Some(_) => Agreement::Similar,
            }
        };
        let postal_level = self.postcode_level(base);
        let postal_code = Agreement::from(postal_level);
        let city_level = city_level(p.city, base.city, cfg.city_similarity);
        let city = Agreement::from(city_level);
        let sibling = (self.context.street_exists
            && !matches!(street_level, Some(StreetLevel::Exact | StreetLevel::Equivalent)))
            || qualifiers_differ(p.name, base.name);
        let veto = self.veto(&VetoFacts {
            country,
            house_number,
            types_differ,
            street,
            sibling,
            postal: postal_level,
            city: city_level,
        });

        let mut explanation = Explanation {
            street_similarity: sim,
            street,
            house_number,
            postal_code,
            city,
            country,
            comparison: None,
            weights: FieldWeights::default(),
        };
        let levels = match (country, house_number, types_differ, street_level) {
            (Agreement::Different, ..) | (_, _, true, _) | (_, _, _, None) => None,
            (_, Agreement::Exact, false, Some(street)) => {
                Some(Comparison { street, street_type, postal_code: postal_level, city: city_level })
            }
            _ => None,
        };
        let probability = match (veto, street_level) {
            (None, Some(street_level)) => {
                let comparison =
                    Comparison { street: street_level, street_type, postal_code: postal_level, city: city_level };
                explanation.weights = cfg.model.weights(&comparison, u);
                explanation.comparison = Some(comparison);
                cfg.model.probability(&explanation.weights)
            }
            _ => 0.0,
        };
        Scored { levels, probability, explanation, veto }
    }

    /// The first hard negative between the probe and a base address, if
    /// any: these reject a pair whatever the weights say.
    fn veto(&self, f: &VetoFacts) -> Option<Veto> {
        let locality_positive =
            matches!(f.postal, PostcodeLevel::Exact | PostcodeLevel::AreaOnly | PostcodeLevel::Typo)
                || matches!(f.city, CityLevel::Exact | CityLevel::Similar);
        if f.country == Agreement::Different {
            Some(Veto::Country)
        } else if f.house_number != Agreement::Exact {
            Some(Veto::HouseNumber)
        } else if f.types_differ {
            Some(Veto::StreetType)
        } else if matches!(f.street, Agreement::Different | Agreement::Missing) || f.sibling {
            Some(Veto::StreetName)
        } else if f.postal == PostcodeLevel::Different
            && (f.city != CityLevel::Exact || !self.context.postcode_towns.is_empty())
        {
            // Another real code is another district; a code no address in
            // the list has, in the right town, is weighed as a bad code.
            Some(Veto::PostalCode)
        } else if (f.city == CityLevel::Different && f.postal != PostcodeLevel::Exact) || !locality_positive {
            Some(Veto::Locality)
        } else {
            None
        }
    }

    fn postcode_level(&self, base: &Side) -> PostcodeLevel {
        let (p, b) = (self.side.postal_code, base.postal_code);
        if p.is_empty() || b.is_empty() {
            return PostcodeLevel::Missing;
        }
        if p == b {
            return PostcodeLevel::Exact;
        }
        let country = if self.side.country.is_empty() { base.country } else { self.side.country };
        let (pa, ba) = (postcode_area(p, country), postcode_area(b, country));
        if pa == ba && (pa == p || ba == b) {
            return PostcodeLevel::AreaOnly;
        }
        if !self.context.postcode_towns.contains(&base.city) && osa::distance(p.bytes(), b.bytes()) <= 1 {
            return PostcodeLevel::Typo;
        }
        PostcodeLevel::Different
    }
}

/// Names of buildings with many addresses rather than of one house.
fn is_building_name(name: &str) -> bool {
    const BUILDING_WORDS: &[&str] = &[
        "mansions",
        "building",
        "tower",
        "towers",
        "apartments",
        "flats",
        "block",
        "residence",
        "residentie",
        "residenz",
        "centre",
        "center",
        "chambers",
        "plaza",
        "complex",
        "hall",
        "halls",
    ];
    name.rsplit(' ').next().is_some_and(|last| BUILDING_WORDS.contains(&last))
}

fn presence(a: &str, b: &str) -> Option<Agreement> {
    (a.is_empty() || b.is_empty()).then_some(Agreement::Missing)
}

/// Compares two canonical addresses without an index, under the model's
/// fallback `u`. A postal code one edit away counts as a typo here,
/// because there is no list of known codes to say otherwise.
pub fn compare(probe: &Canonical, base: &Canonical, config: &MatchConfig) -> (f64, Explanation, Option<Veto>) {
    let scorer = ProbeScorer::new(Side::of(probe), ProbeContext::default(), config);
    let s = scorer.score(&Side::of(base), None, &config.model.u);
    (s.score(), s.explanation, s.veto)
}

/// What [`ProbeScorer::veto`] looks at.
struct VetoFacts {
    country: Agreement,
    house_number: Agreement,
    types_differ: bool,
    street: Agreement,
    sibling: bool,
    postal: PostcodeLevel,
    city: CityLevel,
}

/// House numbers agree when equal, or when a house typed by name alone is
/// the numbered house of that name, unless the name is a building's
/// (`Myers Mansions`: many addresses) or the numbered address is a flat in
/// it. A match made that way still goes to review (the verdict's
/// `MissingHouseNumber`): a missing number never matches silently.
fn house_agreement(p: &Side, base: &Side) -> Agreement {
    let named = |hn: &str, name: &str, numbered: &str| {
        !name.is_empty() && hn.strip_prefix('@') == Some(name) && !numbered.contains('/') && !is_building_name(name)
    };
    if p.house_number == base.house_number
        || named(p.house_number, base.house_name, base.house_number)
        || named(base.house_number, p.house_name, p.house_number)
        || house_names_alike(p.house_number, base.house_number)
    {
        Agreement::Exact
    } else if p.house_number.is_empty() || base.house_number.is_empty() {
        Agreement::Missing
    } else {
        Agreement::Different
    }
}

/// Two houses known by name alone (`@rowethorpe`, typed `@rowethlrpe`)
/// are one house when the names are one slip apart: a street rarely has
/// two houses whose long names differ by one letter, while a number one
/// digit off is another house.
pub(crate) fn house_names_alike(a: &str, b: &str) -> bool {
    match (a.strip_prefix('@'), b.strip_prefix('@')) {
        (Some(a), Some(b)) => {
            a.len().min(b.len()) >= 6
                && !is_building_name(a)
                && !is_building_name(b)
                && osa::distance(a.bytes(), b.bytes()) <= 1
        }
        _ => false,
    }
}

/// The street-name level from the name similarity; `None` below the
/// similarity floor (another street).
fn street_level(same_name: bool, sim: f64, glued: bool, floor: f64) -> Option<StreetLevel> {
    if glued {
        Some(StreetLevel::Equivalent)
    } else if same_name {
        Some(StreetLevel::Exact)
    } else if sim >= 1.0 {
        Some(StreetLevel::Equivalent)
    } else if sim >= 0.9 {
        Some(StreetLevel::Close)
    } else if sim >= 0.8 {
        Some(StreetLevel::Near)
    } else if sim >= floor {
        Some(StreetLevel::Far)
    } else {
        None
    }
}

fn city_level(p: &str, base: &str, similar: f64) -> CityLevel {
    if p.is_empty() || base.is_empty() {
        CityLevel::Missing
    } else if p == base {
        CityLevel::Exact
    } else if osa::normalized_similarity(p.bytes(), base.bytes()) >= similar {
        CityLevel::Similar
    } else {
        CityLevel::Different
    }
}

impl From<PostcodeLevel> for Agreement {
    fn from(level: PostcodeLevel) -> Self {
        match level {
            PostcodeLevel::Exact => Agreement::Exact,
            PostcodeLevel::AreaOnly | PostcodeLevel::Typo => Agreement::Similar,
            PostcodeLevel::Missing => Agreement::Missing,
            PostcodeLevel::Different => Agreement::Different,
        }
    }
}

impl From<CityLevel> for Agreement {
    fn from(level: CityLevel) -> Self {
        match level {
            CityLevel::Exact => Agreement::Exact,
            CityLevel::Similar => Agreement::Similar,
            CityLevel::Missing => Agreement::Missing,
            CityLevel::Different => Agreement::Different,
        }
    }
}
