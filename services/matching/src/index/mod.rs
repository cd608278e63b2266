//! Candidate index: finds the few base addresses worth scoring without
//! scanning the list.
//!
//! Base addresses are grouped into *street blocks* (same country, town,
//! street name and type). A probe reaches blocks two ways, so a missing or
//! mistyped postal code still finds its street:
//! - postal-code area → blocks with an address in that area;
//! - town → street-name trigrams → blocks sharing enough trigrams
//!   (town typos fall back to a trigram lookup of the town itself).
//!
//! Inside a block only entries with the probe's house number can match
//! (the number is a veto), so scoring is a handful of integer compares
//! plus one edit-distance computation per candidate street.

mod curation;
mod intern;
mod retrieve;
mod scan;

pub use curation::Resolution;
pub use scan::{DuplicatePair, ScanReport};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::MatchConfig;
use crate::normalize::{
    is_numbered_house, is_type_variant, make_key, postcode_area, split_street, type_name, Canonical,
};
use crate::score::model::{Comparison, FieldWeights, LevelCounts, LevelTable};
use crate::score::{Agreement, Candidate, Explanation, ProbeContext, ProbeScorer, Scored, Side, Veto};
use intern::{hash_str, FastMap, Interner, Postings};

use intern::mix;
use retrieve::trigrams;

/// Outcome of matching a probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The probe is this base address.
    Match(Candidate),
    /// The probe is a new base address. `best_rejected` is the closest
    /// base address that was not accepted (below threshold or vetoed), for
    /// review tooling.
    New { best_rejected: Option<Candidate> },
}

/// Why a decision should also be looked at by a person. The decision
/// stands (the subscriber is answered at once); the review may correct it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewReason {
    /// Matched, with a probability below `certain_probability`.
    UncertainMatch,
    /// Matched, but another candidate was also above `review_probability`.
    Ambiguous,
    /// New, though a candidate reached `review_probability`.
    PossibleMatch,
    /// Without a house number, on a street the list has numbered addresses
    /// on: new, or matched by the house name alone; never silently.
    MissingHouseNumber,
    /// It would have matched a base address the team retired: new, and
    /// the team decides where it goes.
    RetiredAddress,
}

/// A decision with what a reviewer needs when it falls in the grey zone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub decision: Decision,
    /// Set when the decision is in the grey zone.
    pub review: Option<ReviewReason>,
    /// The best candidates, best first (vetoed ones last), for review.
    pub candidates: Vec<Candidate>,
}

struct Entry {
    id: Uuid,
    block: u32,
    house_number: u32,
    postal_code: u32,
    house_name: u32,
}

/// Candidates kept in a verdict for review.
const REVIEW_CANDIDATES: usize = 3;

struct Block {
    name: u32,
    city: u32,
    country: u32,
    street_type: u8,
    entries: Vec<u32>,
}

const TOMBSTONE: u32 = u32::MAX;
const PROBE_STEP: u64 = 0x9e37_79b9_7f4a_7c15;
/// Namespace of town-name trigrams in `grams` (street trigrams use the town id).
const CITY_NAMESPACE: u64 = u32::MAX as u64;
/// Vetoed candidates collected by `decide` to report a `best_rejected`.
const REJECTED_BUDGET: usize = 4;

/// The live base-address index. `Send + Sync`: share it behind an
/// `RwLock`/`ArcSwap`; reads never mutate.
pub struct MatchIndex {
    config: MatchConfig,
    entries: Vec<Entry>,
    by_id: FastMap<Uuid, u32>,
    /// Open addressing over the key hash (see `key_lookup`): the key
    /// string itself is rebuilt from the entry instead of being stored.
    keys: FastMap<u64, u32>,
    blocks: Vec<Block>,
    block_slots: FastMap<u64, u32>,
    names: Interner,
    cities: Interner,
    countries: Interner,
    postal_codes: Interner,
    areas: Interner,
    house_numbers: Interner,
    house_names: Interner,
    area_blocks: Postings,
    /// Postal code id → town ids using it (see `ProbeScorer`).
    postcode_towns: Postings,
    grams: Postings,
    /// `u` per country id, estimated on the base list (`estimate_u`).
    u_by_country: FastMap<u32, LevelTable>,
    /// `u` over all countries: the fallback for a country without one.
    u_all: LevelTable,
    /// Size of the list at the last estimate.
    u_estimated_at: usize,
    /// Merged and retired addresses (see `curation`).
    curated: FastMap<Uuid, curation::Curated>,
    /// Pairs the team decided are different addresses, in `review::pair`
    /// order (see `curation`).
    distinct: FastMap<[Uuid; 2], ()>,
}

impl MatchIndex {
    pub fn new(config: MatchConfig) -> Self {
        MatchIndex {
            entries: Vec::new(),
            by_id: FastMap::default(),
            keys: FastMap::default(),
            blocks: Vec::new(),
            block_slots: FastMap::default(),
            names: Interner::default(),
            cities: Interner::default(),
            countries: Interner::default(),
            postal_codes: Interner::default(),
            areas: Interner::default(),
            house_numbers: Interner::default(),
            house_names: Interner::default(),
            area_blocks: Postings::default(),
            postcode_towns: Postings::default(),
            grams: Postings::default(),
            u_all: config.model.u.clone(),
            u_by_country: FastMap::default(),
            u_estimated_at: 0,
            curated: FastMap::default(),
            distinct: FastMap::default(),
            config,
        }
    }

    /// Builds an index from many addresses at once (startup, replay).
    pub fn bulk_build(config: MatchConfig, items: impl IntoIterator<Item = (Uuid, Canonical)>) -> Self {
        let items = items.into_iter();
        let mut index = MatchIndex::new(config);
        let (lower, _) = items.size_hint();
        index.entries.reserve(lower);
        index.by_id.reserve(lower);
        index.keys.reserve(lower);
        for (id, canonical) in items {
            index.place(id, canonical);
        }
        index.shrink_to_fit();
        index.estimate_u();
        index
    }

    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Number of street blocks (distinct country/town/street).
    pub fn street_count(&self) -> usize {
        self.blocks.len()
    }

    /// Adds or replaces a base address. Inserting the same id again with
    /// the same address is a no-op; with a different address it moves.
    pub fn insert(&mut self, id: Uuid, canonical: Canonical) {
        self.place(id, canonical);
        // `u` describes the list; once the list has doubled since it was
        // estimated (an import streaming in), it describes another list.
        if self.entries.len() >= 1_000 && self.entries.len() >= 2 * self.u_estimated_at {
            self.estimate_u();
        }
    }

    fn place(&mut self, id: Uuid, canonical: Canonical) {
        if let Some(&slot) = self.by_id.get(&id) {
            if self.entry_key(slot) == canonical.key() {
                return;
            }
            self.detach(slot);
            self.attach(slot, &canonical);
            return;
        }
        let slot = self.entries.len() as u32;
        self.entries.push(Entry { id, block: 0, house_number: 0, postal_code: 0, house_name: 0 });
        self.by_id.insert(id, slot);
        self.attach(slot, &canonical);
    }

    /// Exact canonical-key lookup. With several ids under one key (a base
    /// list that already held duplicates) the first inserted is returned.
    pub fn contains_key(&self, key: &str) -> Option<Uuid> {
        self.key_lookup(key).map(|slot| self.entries[slot as usize].id)
    }

    /// Best candidate against the threshold.
    pub fn decide(&self, probe: &Canonical) -> Decision {
        self.verdict(probe).decision
    }

    /// Decision, grey-zone flag and the candidates behind them, with
    /// merged and retired addresses resolved (see `curation`).
    pub fn verdict(&self, probe: &Canonical) -> Verdict {
        self.curate(self.raw_verdict(probe))
    }

    /// The verdict over every entry as indexed, before curation.
    fn raw_verdict(&self, probe: &Canonical) -> Verdict {
        if let Some(slot) = self.key_lookup(&probe.key()) {
            let c = self.exact_candidate(probe, slot);
            return Verdict { decision: Decision::Match(c.clone()), review: None, candidates: vec![c] };
        }
        let mut scored = self.evaluate(probe, REJECTED_BUDGET);
        scored.sort_by(|(sa, a), (sb, b)| rank(a, b).then(sa.cmp(sb)));
        let cfg = &self.config;
        let accepted = |s: &Scored| s.veto.is_none() && s.probability >= cfg.match_probability;
        let plausible = scored.iter().filter(|(_, s)| s.veto.is_none() && s.probability >= cfg.review_probability);
        let plausible = plausible.count();
        let candidates: Vec<Candidate> =
            scored.iter().take(REVIEW_CANDIDATES).map(|(slot, s)| self.candidate(*slot, s.clone())).collect();
        let best = candidates.first().cloned();
        // Two different streets (or towns) both convincing: neither is
        // taken; a person decides.
        let contested = match (scored.first(), scored.get(1)) {
            (Some((a, sa)), Some((b, sb))) => {
                // Within 5 bits (32×) of each other's odds.
                accepted(sa)
                    && accepted(sb)
                    && log_odds(sa.probability) - log_odds(sb.probability) < 5.0
                    && self.entries[*a as usize].block != self.entries[*b as usize].block
            }
            _ => false,
        };
        let (decision, review) = match (scored.first(), best) {
            (Some(_), best) if contested => (Decision::New { best_rejected: best }, Some(ReviewReason::Ambiguous)),
            (Some((slot, s)), Some(c)) if accepted(s) => {
                let review = if plausible > 1 {
                    Some(ReviewReason::Ambiguous)
                } else if !probe.is_numbered() && self.is_numbered(*slot) {
                    // `Ivy Lodge, Mill Lane` for `Ivy Lodge, 3 Mill Lane`:
                    // the house name decided, but a number is missing.
                    Some(ReviewReason::MissingHouseNumber)
                } else if s.probability < cfg.certain_probability {
                    Some(ReviewReason::UncertainMatch)
                } else {
                    None
                };
                (Decision::Match(c), review)
            }
            (Some((_, s)), best) => {
                let review = if s.veto.is_none() && s.probability >= cfg.review_probability {
                    Some(ReviewReason::PossibleMatch)
                } else if !probe.is_numbered() && self.numbered_on_street(&scored) {
                    Some(ReviewReason::MissingHouseNumber)
                } else {
                    None
                };
                (Decision::New { best_rejected: best }, review)
            }
            (None, _) => (Decision::New { best_rejected: None }, None),
        };
        Verdict { decision, review, candidates }
    }

    /// Whether a candidate was turned down only because the probe has no
    /// number where the base address has one.
    fn is_numbered(&self, slot: u32) -> bool {
        is_numbered_house(self.house_numbers.resolve(self.entries[slot as usize].house_number))
    }

    fn numbered_on_street(&self, scored: &[(u32, Scored)]) -> bool {
        scored.iter().any(|(_, s)| {
            s.veto == Some(Veto::HouseNumber)
                && s.explanation.house_number == Agreement::Missing
                && matches!(s.explanation.street, Agreement::Exact | Agreement::Equivalent | Agreement::Similar)
        })
    }

    /// Top `limit` candidates (including vetoed ones, score 0, ranked
    /// after the others) for a dry-run preview.
    pub fn candidates(&self, probe: &Canonical, limit: usize) -> Vec<Candidate> {
        if limit == 0 {
            return Vec::new();
        }
        let exact = self.key_lookup(&probe.key());
        let mut scored = self.evaluate(probe, limit.saturating_mul(4));
        scored.sort_by(|(sa, a), (sb, b)| rank(a, b).then(sa.cmp(sb)));
        let mut out: Vec<Candidate> = Vec::with_capacity(limit);
        if let Some(slot) = exact {
            out.push(self.exact_candidate(probe, slot));
        }
        for (slot, s) in scored {
            if out.len() >= limit {
                break;
            }
            if Some(slot) != exact {
                out.push(self.candidate(slot, s));
            }
        }
        self.redirect_all(out)
    }

    /// The comparison levels of every candidate that passed the vetoes,
    /// by base id: what calibration tallies `m` from.
    pub fn comparisons(&self, probe: &Canonical) -> Vec<(Uuid, Comparison)> {
        self.evaluate(probe, 0)
            .into_iter()
            .filter_map(|(slot, s)| s.explanation.comparison.map(|c| (self.entries[slot as usize].id, c)))
            .collect()
    }

    /// The non-match table `u` in use for a country (ISO code or empty).
    pub fn u_table(&self, country: &str) -> &LevelTable {
        self.countries.get(country).and_then(|c| self.u_by_country.get(&c)).unwrap_or(&self.u_all)
    }

    /// Estimates `u` from the base list: a sample of base addresses, each
    /// compared with its own candidates at the same house number (other
    /// base addresses, so non-matches), tallied per country and smoothed
    /// towards the model's fallback. Postal-code, locality and sibling
    /// vetoes are not applied here: in a list without duplicates hardly a
    /// pair passes them, and what a non-match's postal code and town look
    /// like is the point. Runs after a bulk build and whenever the list has doubled
    /// since (see `insert`).
    pub fn estimate_u(&mut self) {
        let n = self.entries.len();
        self.u_estimated_at = n.max(1);
        if n == 0 || self.config.u_sample == 0 {
            return;
        }
        let step = n.div_ceil(self.config.u_sample).max(1);
        let mut all = LevelCounts::default();
        let mut by_country: FastMap<u32, LevelCounts> = FastMap::default();
        for slot in (0..n).step_by(step) {
            let slot = slot as u32;
            if !self.by_id.contains_key(&self.entries[slot as usize].id) || self.entry_detached(slot) {
                continue;
            }
            let probe = self.canonical(slot);
            let country = self.blocks[self.entries[slot as usize].block as usize].country;
            for (other, s) in self.evaluate_with(&probe, 0, true, None) {
                if other == slot {
                    continue;
                }
                if let Some(c) = s.levels {
                    all.add(&c);
                    by_country.entry(country).or_default().add(&c);
                }
            }
        }
        let strength = self.config.u_smoothing;
        self.u_all = all.smoothed(&self.config.model.u, strength);
        self.u_by_country =
            by_country.into_iter().map(|(c, counts)| (c, counts.smoothed(&self.u_all, strength))).collect();
    }

    fn entry_detached(&self, slot: u32) -> bool {
        let block = self.entries[slot as usize].block as usize;
        !self.blocks[block].entries.contains(&slot)
    }

    fn canonical(&self, slot: u32) -> Canonical {
        let s = self.side(slot);
        Canonical {
            street: street_text(s.name, s.street_type),
            house_number: s.house_number.to_owned(),
            postal_code: s.postal_code.to_owned(),
            city: s.city.to_owned(),
            country: s.country.to_owned(),
            house_name: s.house_name.to_owned(),
        }
    }

    fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        self.blocks.shrink_to_fit();
        for b in &mut self.blocks {
            b.entries.shrink_to_fit();
        }
        for i in [
            &mut self.names,
            &mut self.cities,
            &mut self.countries,
            &mut self.postal_codes,
            &mut self.areas,
            &mut self.house_numbers,
            &mut self.house_names,
        ] {
            i.shrink_to_fit();
        }
        self.area_blocks.shrink_to_fit();
        self.postcode_towns.shrink_to_fit();
        self.grams.shrink_to_fit();
    }

    fn attach(&mut self, slot: u32, c: &Canonical) {
        let (name, street_type) = split_street(&c.street);
        let (name_id, _) = self.names.intern(name);
        let (city, city_new) = self.cities.intern(&c.city);
        if city_new && !c.city.is_empty() {
            for g in trigrams(&c.city) {
                self.grams.push(CITY_NAMESPACE << 24 | u64::from(g), city);
            }
        }
        let (country, _) = self.countries.intern(&c.country);
        let block = self.block_for(name_id, city, country, street_type, name, !c.city.is_empty());
        let area = postcode_area(&c.postal_code, &c.country);
        if !area.is_empty() {
            let (area_id, _) = self.areas.intern(area);
            if !self.area_blocks.contains(u64::from(area_id), block) {
                self.area_blocks.push(u64::from(area_id), block);
            }
        }
        let (postal_code, _) = self.postal_codes.intern(&c.postal_code);
        if !self.postcode_towns.contains(u64::from(postal_code), city) {
            self.postcode_towns.push(u64::from(postal_code), city);
        }
        let (house_number, _) = self.house_numbers.intern(&c.house_number);
        let (house_name, _) = self.house_names.intern(&c.house_name);
        let e = &mut self.entries[slot as usize];
        e.block = block;
        e.house_number = house_number;
        e.postal_code = postal_code;
        e.house_name = house_name;
        self.blocks[block as usize].entries.push(slot);
        self.key_insert(&c.key(), slot);
    }

    fn detach(&mut self, slot: u32) {
        let key = self.entry_key(slot);
        let mut h = hash_str(&key);
        while let Some(&s) = self.keys.get(&h) {
            if s == slot {
                self.keys.insert(h, TOMBSTONE);
                break;
            }
            h = h.wrapping_add(PROBE_STEP);
        }
        let block = self.entries[slot as usize].block as usize;
        if let Some(b) = self.blocks.get_mut(block) {
            b.entries.retain(|&s| s != slot);
        }
    }

    fn block_for(
        &mut self,
        name: u32,
        city: u32,
        country: u32,
        street_type: u8,
        name_text: &str,
        city_known: bool,
    ) -> u32 {
        let mut h =
            mix(u64::from(name) << 32 | u64::from(city)) ^ mix(u64::from(country) << 8 | u64::from(street_type));
        loop {
            match self.block_slots.get(&h) {
                Some(&b) => {
                    let blk = &self.blocks[b as usize];
                    if blk.name == name && blk.city == city && blk.country == country && blk.street_type == street_type
                    {
                        return b;
                    }
                    h = h.wrapping_add(PROBE_STEP);
                }
                None => {
                    let b = self.blocks.len() as u32;
                    self.blocks.push(Block { name, city, country, street_type, entries: Vec::new() });
                    self.block_slots.insert(h, b);
                    if city_known {
                        let text = if name_text.is_empty() { type_name(street_type) } else { name_text };
                        for g in trigrams(text) {
                            self.grams.push(u64::from(city) << 24 | u64::from(g), b);
                        }
                    }
                    return b;
                }
            }
        }
    }

    fn key_insert(&mut self, key: &str, slot: u32) {
        let mut h = hash_str(key);
        loop {
            match self.keys.get(&h) {
                None => {
                    self.keys.insert(h, slot);
                    return;
                }
                Some(&s) if s != TOMBSTONE && self.entry_key(s) == key => return,
                Some(_) => h = h.wrapping_add(PROBE_STEP),
            }
        }
    }

    fn key_lookup(&self, key: &str) -> Option<u32> {
        let mut h = hash_str(key);
        loop {
            let s = *self.keys.get(&h)?;
            if s != TOMBSTONE && self.entry_key(s) == key {
                return Some(s);
            }
            h = h.wrapping_add(PROBE_STEP);
        }
    }

    fn side(&self, slot: u32) -> Side<'_> {
        let e = &self.entries[slot as usize];
        let b = &self.blocks[e.block as usize];
        Side {
            name: self.names.resolve(b.name),
            street_type: b.street_type,
            house_number: self.house_numbers.resolve(e.house_number),
            postal_code: self.postal_codes.resolve(e.postal_code),
            city: self.cities.resolve(b.city),
            country: self.countries.resolve(b.country),
            house_name: self.house_names.resolve(e.house_name),
        }
    }

    fn entry_key(&self, slot: u32) -> String {
        let s = self.side(slot);
        make_key(s.country, s.postal_code, s.city, &street_text(s.name, s.street_type), s.house_number)
    }

    fn candidate(&self, slot: u32, s: Scored) -> Candidate {
        Candidate {
            id: self.entries[slot as usize].id,
            probability: s.probability,
            score: s.score(),
            explanation: s.explanation,
            veto: s.veto,
        }
    }

    /// Equal keys are the same address by definition, even when the key
    /// itself is under-specified (no town, no postal code).
    fn exact_candidate(&self, probe: &Canonical, slot: u32) -> Candidate {
        exact_candidate(probe, self.entries[slot as usize].id)
    }
}

/// A candidate for `id` whose key equals the probe's.
pub(super) fn exact_candidate(probe: &Canonical, id: Uuid) -> Candidate {
    let field = |v: &str| if v.is_empty() { Agreement::Missing } else { Agreement::Exact };
    Candidate {
        id,
        probability: 1.0,
        score: 100.0,
        explanation: Explanation {
            street_similarity: 1.0,
            street: field(&probe.street),
            house_number: Agreement::Exact,
            postal_code: field(&probe.postal_code),
            city: field(&probe.city),
            country: field(&probe.country),
            comparison: None,
            weights: FieldWeights::default(),
        },
        veto: None,
    }
}

fn log_odds(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).log2()
}

/// `name type` as the canonical street field writes it.
fn street_text(name: &str, street_type: u8) -> String {
    let ty = type_name(street_type);
    match (name.is_empty(), ty.is_empty()) {
        (_, true) => name.to_owned(),
        (true, false) => ty.to_owned(),
        (false, false) => format!("{name} {ty}"),
    }
}

/// Non-vetoed first, then more probable, then more similar street.
fn rank(a: &Scored, b: &Scored) -> std::cmp::Ordering {
    a.veto
        .is_some()
        .cmp(&b.veto.is_some())
        .then(b.probability.total_cmp(&a.probability))
        .then(b.explanation.street_similarity.total_cmp(&a.explanation.street_similarity))
}

#[cfg(test)]
mod tests;
