//! Candidate retrieval and evaluation: which street blocks a probe
//! reaches (postal-code area, town + street trigrams, glued residues) and
//! how their same-number entries score. Split from `mod.rs` so the index's
//! storage and its search read separately.

use super::intern::Postings;
use super::*;
use crate::score::house_names_alike;

impl MatchIndex {
    /// Scores the entries of candidate blocks. Entries without the
    /// probe's house number are vetoed anyway; at most `vetoed_budget` of
    /// them (from the most similar streets first) are scored and returned.
    pub(super) fn evaluate(&self, probe: &Canonical, vetoed_budget: usize) -> Vec<(u32, Scored)> {
        self.evaluate_with(probe, vetoed_budget, false, None)
    }

    /// `evaluate`, optionally keeping every vetoed entry with the probe's
    /// house number (for estimating `u`). `own_block` is the probe's own
    /// street when the probe is a base address itself (a dedupe scan): its
    /// street exists because it is there, which says nothing about
    /// siblings.
    pub(super) fn evaluate_with(
        &self,
        probe: &Canonical,
        vetoed_budget: usize,
        keep_same_number: bool,
        own_block: Option<u32>,
    ) -> Vec<(u32, Scored)> {
        let postcode_towns: Vec<&str> = match self.postal_codes.get(&probe.postal_code) {
            Some(pc) if !probe.postal_code.is_empty() => {
                self.postcode_towns.iter(u64::from(pc)).map(|c| self.cities.resolve(c)).collect()
            }
            _ => Vec::new(),
        };
        let (probe_name, probe_type) = split_street(&probe.street);
        let blocks = self.country_blocks(probe, probe_name, probe_type);
        let street_exists = self.street_exists(&blocks, probe_name, probe_type, own_block);
        let context = ProbeContext { postcode_towns, street_exists };
        let scorer = ProbeScorer::new(Side::of(probe), context, &self.config);
        let u = self.u_table(&probe.country);
        let probe_hn = self.house_numbers.get(&probe.house_number);
        // A house typed by its name alone is the house of that name beside
        // a number, and a name typed beside a number finds the house known
        // by the name alone.
        let probe_name_only = probe.house_number.strip_prefix('@').and_then(|n| self.house_names.get(n));
        let probe_name_as_number =
            (!probe.house_name.is_empty()).then(|| self.house_numbers.get(&format!("@{}", probe.house_name))).flatten();
        let named_only = probe.house_number.starts_with('@');
        let same_house = |e: &Entry| {
            Some(e.house_number) == probe_hn
                || (probe_name_only.is_some() && Some(e.house_name) == probe_name_only)
                || (probe_name_as_number.is_some() && Some(e.house_number) == probe_name_as_number)
                || (named_only && house_names_alike(&probe.house_number, self.house_numbers.resolve(e.house_number)))
        };
        let glued = if probe_type == 0 {
            self.glued_blocks(probe_name, &blocks)
        } else {
            self.glued_base_blocks(probe_name, probe_type, &blocks)
        };
        let mut streets: Vec<(u32, f64)> = Vec::new();
        for b in blocks {
            let sim = if glued.contains(&b) {
                1.0
            } else {
                scorer.name_similarity(self.names.resolve(self.blocks[b as usize].name))
            };
            if sim >= self.config.min_street_similarity {
                streets.push((b, sim));
            }
        }
        streets.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut out = Vec::new();
        let mut budget = vetoed_budget;
        for (b, sim) in streets {
            for &slot in &self.blocks[b as usize].entries {
                let same_number = same_house(&self.entries[slot as usize]);
                if !same_number && budget == 0 {
                    continue;
                }
                let s = if glued.contains(&b) {
                    scorer.score_glued(&self.side(slot), u)
                } else {
                    scorer.score(&self.side(slot), Some(sim), u)
                };
                if s.veto.is_some() && !(keep_same_number && same_number) {
                    if budget == 0 {
                        continue;
                    }
                    budget -= 1;
                }
                out.push((slot, s));
            }
        }
        out
    }

    /// Whether the probe's street as typed exists among `blocks` (other
    /// than `own_block`): a similar street is then a sibling, not a typo
    /// of it.
    fn street_exists(&self, blocks: &[u32], probe_name: &str, probe_type: u8, own_block: Option<u32>) -> bool {
        !probe_name.is_empty()
            && blocks.iter().any(|&b| {
                let blk = &self.blocks[b as usize];
                Some(b) != own_block && blk.street_type == probe_type && self.names.resolve(blk.name) == probe_name
            })
    }

    /// Blocks whose street the probe typed as its name with the type glued
    /// on in a form the normaliser did not recognise (`Scholtenstrt`,
    /// `Bergstra`, `Møllegdae`, `Hammond Srtee`): the probe is the name
    /// plus a variant of that block's type. When variants of two types fit
    /// (`Kerkst`: Kerkstraat and Kerksteeg) none is taken.
    /// Candidate blocks that hold entries in the probe's country (or in
    /// no country).
    fn country_blocks(&self, probe: &Canonical, probe_name: &str, probe_type: u8) -> Vec<u32> {
        let probe_country = if probe.country.is_empty() { None } else { Some(self.countries.get(&probe.country)) };
        let empty_country = self.countries.get("");
        self.candidate_blocks(probe, probe_name, probe_type)
            .into_iter()
            .filter(|&b| {
                let blk = &self.blocks[b as usize];
                !blk.entries.is_empty()
                    && probe_country.is_none_or(|pc| pc == Some(blk.country) || empty_country == Some(blk.country))
            })
            .collect()
    }

    fn glued_blocks(&self, probe_name: &str, blocks: &[u32]) -> Vec<u32> {
        let probe: String = probe_name.chars().filter(|c| *c != ' ').collect();
        // Where the probe's words end: a split there needs no minimum
        // name length (`12th Trer.` is the 12th with a terrace).
        let mut boundaries = Vec::new();
        let mut at = 0;
        for w in probe_name.split(' ') {
            at += w.len();
            boundaries.push(at);
        }
        let hits: Vec<u32> = blocks
            .iter()
            .copied()
            .filter(|&b| {
                let blk = &self.blocks[b as usize];
                let name: String = self.names.resolve(blk.name).chars().filter(|c| *c != ' ').collect();
                let long_enough = name.len() >= 3 || (!name.is_empty() && boundaries.contains(&name.len()));
                blk.street_type != 0
                    && long_enough
                    && probe.len() > name.len()
                    && probe.starts_with(&name)
                    && is_type_variant(&probe[name.len()..], blk.street_type)
            })
            .collect();
        let first_type = hits.first().map(|&b| self.blocks[b as usize].street_type);
        if hits.iter().any(|&b| Some(self.blocks[b as usize].street_type) != first_type) {
            return Vec::new();
        }
        hits
    }

    /// The reverse of `glued_blocks`: base addresses whose street was
    /// stored with its type glued on in an unrecognised form
    /// (`Bahnhofal.` in the list, `Bahnhofallee` typed).
    fn glued_base_blocks(&self, probe_name: &str, probe_type: u8, blocks: &[u32]) -> Vec<u32> {
        let probe: String = probe_name.chars().filter(|c| *c != ' ').collect();
        if probe.len() < 3 {
            return Vec::new();
        }
        blocks
            .iter()
            .copied()
            .filter(|&b| {
                let blk = &self.blocks[b as usize];
                let name: String = self.names.resolve(blk.name).chars().filter(|c| *c != ' ').collect();
                blk.street_type == 0
                    && name.len() > probe.len()
                    && name.starts_with(&probe)
                    && is_type_variant(&name[probe.len()..], probe_type)
            })
            .collect()
    }

    fn candidate_blocks(&self, probe: &Canonical, name: &str, street_type: u8) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        let area = postcode_area(&probe.postal_code, &probe.country);
        if !area.is_empty() {
            if let Some(a) = self.areas.get(area) {
                out.extend(self.area_blocks.iter(u64::from(a)));
            }
        }
        if let Some(city) = self.city_id(&probe.city) {
            let text = if name.is_empty() { type_name(street_type) } else { name };
            let grams = trigrams(text);
            let ranked = ranked_hits(
                grams.iter().map(|g| u64::from(city) << 24 | u64::from(*g)),
                &self.grams,
                grams.len(),
                self.config.max_street_candidates,
            );
            out.extend(ranked);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The town's id; a town not in the index is looked up by trigrams so
    /// a typo (`Utrect`) still reaches the town's streets.
    fn city_id(&self, city: &str) -> Option<u32> {
        if city.is_empty() {
            return None;
        }
        if let Some(id) = self.cities.get(city) {
            return Some(id);
        }
        let grams = trigrams(city);
        let hits = ranked_hits(grams.iter().map(|g| CITY_NAMESPACE << 24 | u64::from(*g)), &self.grams, grams.len(), 8);
        hits.into_iter()
            .map(|id| {
                let sim =
                    rapidfuzz::distance::osa::normalized_similarity(city.bytes(), self.cities.resolve(id).bytes());
                (id, sim)
            })
            .filter(|(_, sim)| *sim >= self.config.city_similarity)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(id, _)| id)
    }
}

/// Values posted under at least a third of the keys, most shared first.
pub(super) fn ranked_hits(
    keys: impl Iterator<Item = u64>,
    postings: &Postings,
    n_keys: usize,
    limit: usize,
) -> Vec<u32> {
    let mut hits: Vec<u32> = Vec::new();
    for k in keys {
        hits.extend(postings.iter(k));
    }
    hits.sort_unstable();
    let mut counted: Vec<(u32, u32)> = Vec::new();
    for run in hits.chunk_by(|a, b| a == b) {
        counted.push((run.len() as u32, run[0]));
    }
    let min_shared = n_keys.div_ceil(3).max(1) as u32;
    counted.retain(|(c, _)| *c >= min_shared);
    counted.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    counted.truncate(limit);
    counted.into_iter().map(|(_, v)| v).collect()
}

/// Distinct space-padded trigrams of the text with spaces removed, packed
/// into 24 bits (the text is folded ASCII).
pub(super) fn trigrams(text: &str) -> Vec<u32> {
    let mut bytes: Vec<u8> = Vec::with_capacity(text.len() + 2);
    bytes.push(b' ');
    bytes.extend(text.bytes().filter(|b| *b != b' '));
    bytes.push(b' ');
    if bytes.len() == 2 {
        return Vec::new();
    }
    let mut grams: Vec<u32> =
        bytes.windows(3).map(|w| u32::from(w[0]) << 16 | u32::from(w[1]) << 8 | u32::from(w[2])).collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}
