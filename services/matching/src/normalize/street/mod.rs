//! Street lines: where the house number is, what the street type is, and
//! what belongs to the name.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::place::{number_first, splits_compounds};
use super::postcode::postcode_at;
use super::text::{fold_word, to_ascii_lower, tokenize, Kind, Token};

/// Where a type word may be recognised. Short abbreviations are ambiguous
/// (`St` = Street at the end, Saint at the start; `Dr` = Drive or Doctor).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pos {
    /// Full word: last token, or first token if the street has no trailing type.
    Anywhere,
    /// Abbreviation valid only as the last token.
    End,
    /// Abbreviation valid as last token or leading (French `Av.`, `Bd`).
    EndOrStart,
}

/// Canonical type tokens. The index into this list (+1) is the compact
/// type id stored in the index; append only, never reorder.
pub(crate) const TYPE_NAMES: &[&str] = &[
    "street",
    "road",
    "way",
    "lane",
    "avenue",
    "boulevard",
    "place",
    "square",
    "drive",
    "court",
    "crescent",
    "close",
    "terrace",
    "parade",
    "highway",
    "parkway",
    "circle",
    "gasse",
    "canal",
    "quay",
    "singel",
    "dike",
    "ring",
    "market",
    "chaussee",
    "allee",
    "chemin",
    "impasse",
    "path",
    "alley",
    "dreef",
    "passage",
    "cours",
    "row",
    "walk",
    "grove",
    "gardens",
    "mews",
    "hill",
];

const TYPE_WORDS: &[(&str, &str, Pos)] = &[
    ("straat", "street", Pos::Anywhere),
    ("strasse", "street", Pos::Anywhere),
    ("str", "street", Pos::EndOrStart),
    ("street", "street", Pos::Anywhere),
    ("st", "street", Pos::End),
    ("gade", "street", Pos::Anywhere),
    ("rue", "street", Pos::Anywhere),
    ("road", "road", Pos::Anywhere),
    ("rd", "road", Pos::End),
    ("route", "road", Pos::Anywhere),
    ("rte", "road", Pos::EndOrStart),
    ("weg", "way", Pos::Anywhere),
    ("vej", "way", Pos::Anywhere),
    ("way", "way", Pos::Anywhere),
    ("lane", "lane", Pos::Anywhere),
    ("ln", "lane", Pos::End),
    ("laan", "lane", Pos::Anywhere),
    ("avenue", "avenue", Pos::Anywhere),
    ("ave", "avenue", Pos::EndOrStart),
    ("av", "avenue", Pos::EndOrStart),
    ("boulevard", "boulevard", Pos::Anywhere),
    ("blvd", "boulevard", Pos::EndOrStart),
    ("bd", "boulevard", Pos::EndOrStart),
    ("bld", "boulevard", Pos::EndOrStart),
    ("boul", "boulevard", Pos::EndOrStart),
    ("place", "place", Pos::Anywhere),
    ("pl", "place", Pos::EndOrStart),
    ("platz", "place", Pos::Anywhere),
    ("plads", "place", Pos::Anywhere),
    ("plein", "place", Pos::Anywhere),
    ("square", "square", Pos::Anywhere),
    ("sq", "square", Pos::End),
    ("torv", "square", Pos::Anywhere),
    ("drive", "drive", Pos::Anywhere),
    ("dr", "drive", Pos::End),
    ("court", "court", Pos::Anywhere),
    ("ct", "court", Pos::End),
    ("crescent", "crescent", Pos::Anywhere),
    ("cres", "crescent", Pos::End),
    ("close", "close", Pos::Anywhere),
    ("cl", "close", Pos::End),
    ("terrace", "terrace", Pos::Anywhere),
    ("tce", "terrace", Pos::End),
    ("terr", "terrace", Pos::End),
    ("parade", "parade", Pos::Anywhere),
    ("pde", "parade", Pos::End),
    ("highway", "highway", Pos::Anywhere),
    ("hwy", "highway", Pos::End),
    ("parkway", "parkway", Pos::Anywhere),
    ("pkwy", "parkway", Pos::End),
    ("circle", "circle", Pos::Anywhere),
    ("cir", "circle", Pos::End),
    ("gasse", "gasse", Pos::Anywhere),
    ("gracht", "canal", Pos::Anywhere),
    ("kade", "quay", Pos::Anywhere),
    ("quai", "quay", Pos::Anywhere),
    ("quay", "quay", Pos::Anywhere),
    ("kai", "quay", Pos::Anywhere),
    ("singel", "singel", Pos::Anywhere),
    ("dijk", "dike", Pos::Anywhere),
    ("ring", "ring", Pos::Anywhere),
    ("markt", "market", Pos::Anywhere),
    ("market", "market", Pos::Anywhere),
    ("marked", "market", Pos::Anywhere),
    ("chaussee", "chaussee", Pos::Anywhere),
    ("steenweg", "chaussee", Pos::Anywhere),
    ("allee", "allee", Pos::Anywhere),
    ("alle", "allee", Pos::Anywhere),
    ("chemin", "chemin", Pos::Anywhere),
    ("impasse", "impasse", Pos::Anywhere),
    ("pad", "path", Pos::Anywhere),
    ("path", "path", Pos::Anywhere),
    ("steeg", "alley", Pos::Anywhere),
    ("dreef", "dreef", Pos::Anywhere),
    ("passage", "passage", Pos::Anywhere),
    ("cours", "cours", Pos::Anywhere),
    ("row", "row", Pos::Anywhere),
    ("walk", "walk", Pos::Anywhere),
    ("grove", "grove", Pos::Anywhere),
    ("gardens", "gardens", Pos::Anywhere),
    ("gdns", "gardens", Pos::End),
    ("mews", "mews", Pos::Anywhere),
    ("hill", "hill", Pos::Anywhere),
];

/// Germanic suffixes that end compound street names (`Kerkstraat`,
/// `Hauptstr`, `Vesterbrogade`). Splitting makes `Kerk straat` and
/// `Kerkstraat` one street and keeps `Kerkweg` apart from `Kerkstraat`.
const COMPOUND_SUFFIXES: &[&str] = &[
    "steenweg", "straat", "strasse", "str", "weg", "laan", "plein", "gracht", "kade", "singel", "dijk", "platz",
    "gasse", "allee", "alle", "ring", "ufer", "markt", "vej", "gade", "plads", "torv", "pad", "steeg", "dreef", "kai",
];

struct TypeInfo {
    id: u8,
    pos: Pos,
}

fn type_table() -> &'static HashMap<String, TypeInfo> {
    static TABLE: OnceLock<HashMap<String, TypeInfo>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        for (word, canonical, pos) in TYPE_WORDS {
            let id = TYPE_NAMES.iter().position(|n| n == canonical).map_or(0, |i| i as u8 + 1);
            map.insert(fold_word(word), TypeInfo { id, pos: *pos });
        }
        map
    })
}

/// Folded compound suffixes, longest first so `steenweg` wins over `weg`.
fn compound_suffixes() -> &'static [(String, u8)] {
    static TABLE: OnceLock<Vec<(String, u8)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut v: Vec<(String, u8)> = COMPOUND_SUFFIXES
            .iter()
            .filter_map(|s| {
                let f = fold_word(s);
                type_table().get(&f).map(|t| (f, t.id))
            })
            .collect();
        v.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        v
    })
}

pub(crate) fn type_name(id: u8) -> &'static str {
    TYPE_NAMES.get(usize::from(id).wrapping_sub(1)).copied().unwrap_or("")
}

/// Type id for a canonical type token (used when rebuilding from a stored
/// street string).
pub(crate) fn type_id_of(name: &str) -> u8 {
    TYPE_NAMES.iter().position(|n| *n == name).map_or(0, |i| i as u8 + 1)
}

/// A house number split into its parts. All three must agree for two
/// addresses to be the same.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HouseNumber {
    pub number: String,
    pub suffix: String,
    pub unit: Vec<String>,
}

impl HouseNumber {
    /// `14`, `5a`, `12bis`, `14/3`, `12/2.tv`: number, suffix letters, and
    /// unit parts after a slash. Unambiguous because the suffix is letters
    /// only and the number digits only.
    pub fn display(&self) -> String {
        let mut s = self.number.clone();
        s.push_str(&self.suffix);
        if !self.unit.is_empty() {
            s.push('/');
            s.push_str(&self.unit.join("."));
        }
        s
    }
}

#[derive(Debug, Default)]
pub(crate) struct StreetLine {
    /// Canonical name tokens, without the type.
    pub name: Vec<String>,
    pub type_id: u8,
    pub house: HouseNumber,
    pub pasted_postcode: String,
    pub pasted_city: String,
}

/// Words that introduce a unit/apartment/box. Their value goes to the unit.
const UNIT_MARKERS: &[&str] = &[
    "apt",
    "apartment",
    "appt",
    "app",
    "unit",
    "flat",
    "suite",
    "bus",
    "bte",
    "boite",
    "box",
    "wohnung",
    "whg",
    "top",
    "tur",
    "door",
];
/// Words that only announce the number (`Nr. 5`).
const NUMBER_MARKERS: &[&str] = &["nr", "no", "nummer", "num", "numero"];
/// Danish floor/side words and French repetition suffixes can follow the
/// number without being part of the street name.
const TAIL_WORDS: &[&str] = &["tv", "th", "mf", "st", "kl", "sal", "bis", "ter", "quater"];
const NUMBER_SUFFIX_WORDS: &[&str] = &["bis", "ter", "quater"];
const ORDINALS: &[&str] = &["e", "de", "ste", "st", "nd", "rd", "th", "er", "eme", "re", "ter"];

fn is_name_word(t: &Token) -> bool {
    t.is_word() && t.text.len() >= 3 && !TAIL_WORDS.contains(&t.text.as_str())
}

/// Parses a free-text street line.
pub(crate) fn parse_street_line(line: &str, country: &str, city_hint: &[String]) -> StreetLine {
    let mut out = StreetLine::default();
    let toks = tokenize(&to_ascii_lower(line));
    let toks = take_unit_markers(toks, &mut out.house.unit);
    let mut segments: Vec<Vec<Token>> = toks
        .split(|t| t.is(Kind::Comma))
        .map(<[Token]>::to_vec)
        .filter(|s| s.iter().any(|t| t.is_word() || t.is_num()))
        .collect();

    let street_seg = segments
        .iter()
        .position(|s| s.iter().any(|t| t.is_word() && t.text.len() >= 2 && !TAIL_WORDS.contains(&t.text.as_str())));
    let style = number_first(country);

    let mut name_tokens: Vec<Token> = Vec::new();
    let mut number_found = false;
    if let Some(si) = street_seg {
        let mut seg = std::mem::take(&mut segments[si]);
        cut_pasted_postcode(&mut seg, country, &mut out);
        strip_trailing_city(&mut seg, city_hint);
        let (name, found) = split_segment(seg, style, &mut out.house);
        name_tokens = name;
        number_found = found;
    }

    for (i, seg) in segments.iter().enumerate() {
        if Some(i) == street_seg || seg.is_empty() {
            continue;
        }
        let before = street_seg.is_none_or(|s| i < s);
        if !number_found && seg[0].is_num() && seg.iter().all(|t| !is_name_word(t)) {
            let (_, used) = parse_number_group(seg, before, &mut out.house);
            for t in &seg[used..] {
                push_unit(&mut out.house.unit, t);
            }
            number_found = true;
            continue;
        }
        if before {
            // Care-of lines, building names: not part of the address identity.
            continue;
        }
        if let Some((j, code, used)) = (0..seg.len()).find_map(|j| postcode_at(seg, j, country).map(|(c, u)| (j, c, u)))
        {
            if out.pasted_postcode.is_empty() {
                out.pasted_postcode = code;
                // `3511 LX Utrecht`, or `New York NY 10001` when no earlier
                // segment named the town.
                let after = words_text(&seg[j + used..]);
                if !after.is_empty() {
                    out.pasted_city = after;
                } else if out.pasted_city.is_empty() {
                    out.pasted_city = words_text(&seg[..j]);
                }
            }
            continue;
        }
        if seg.iter().all(|t| t.is_word() || t.is(Kind::Dash)) && seg.iter().any(is_name_word) {
            if out.pasted_city.is_empty() {
                out.pasted_city = words_text(seg);
            }
            continue;
        }
        for t in seg {
            push_unit(&mut out.house.unit, t);
        }
    }

    let (name, type_id) = canonical_name(&name_tokens, country);
    out.name = name;
    out.type_id = type_id;
    out
}

fn words_text(toks: &[Token]) -> String {
    toks.iter().filter(|t| t.is_word() || t.is_num()).map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ")
}

fn push_unit(unit: &mut Vec<String>, t: &Token) {
    if t.is_word() || t.is_num() {
        let v = t.text.trim_start_matches('0');
        unit.push(if v.is_empty() { "0".to_owned() } else { v.to_owned() });
    }
}

/// Removes `Apt 4B`, `#5`, `bus 3`, `Nr.` and records the unit value.
fn take_unit_markers(toks: Vec<Token>, unit: &mut Vec<String>) -> Vec<Token> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let is_marker = t.is(Kind::Hash) || (t.is_word() && UNIT_MARKERS.contains(&t.text.as_str()));
        let next_num = toks.get(i + 1).filter(|n| n.is_num());
        if is_marker {
            if let Some(n) = next_num {
                push_unit(unit, n);
                i += 2;
                // `Unit 3/14 Smith St`: the slash belongs to the marker.
                if toks.get(i).is_some_and(|s| s.is(Kind::Slash)) {
                    i += 1;
                }
                // `4B`, `4-B`
                let mut j = i;
                if toks.get(j).is_some_and(|d| d.is(Kind::Dash)) {
                    j += 1;
                }
                if let Some(w) = toks.get(j).filter(|w| w.is_word() && w.text.len() <= 2 && w.attached) {
                    push_unit(unit, w);
                    i = j + 1;
                }
                continue;
            }
            if let Some(w) = toks.get(i + 1).filter(|w| w.is_word() && w.text.len() <= 2) {
                if t.text != "bus" && t.text != "box" {
                    push_unit(unit, w);
                    i += 2;
                    continue;
                }
            }
        }
        if t.is_word() && NUMBER_MARKERS.contains(&t.text.as_str()) && next_num.is_some() && i > 0 {
            i += 1;
            continue;
        }
        out.push(t.clone());
        i += 1;
    }
    out
}

/// `Kerkstraat 12, 3511 LX Utrecht` without the comma: a postal code after
/// the house number starts the town part.
fn cut_pasted_postcode(seg: &mut Vec<Token>, country: &str, out: &mut StreetLine) {
    let first_num = match seg.iter().position(Token::is_num) {
        Some(i) => i,
        None => return,
    };
    for i in (first_num + 1)..seg.len() {
        if seg[i].attached && seg[i].is_num() {
            continue;
        }
        if seg[i - 1].is(Kind::Slash) || seg[i - 1].is(Kind::Dash) {
            continue;
        }
        if let Some((code, used)) = postcode_at(seg, i, country) {
            let rest_words = seg[i + used..].iter().all(|t| t.is_word() || t.is(Kind::Dash));
            if !rest_words {
                continue;
            }
            if out.pasted_postcode.is_empty() {
                out.pasted_postcode = code;
                out.pasted_city = words_text(&seg[i + used..]);
            }
            seg.truncate(i);
            return;
        }
    }
}

/// `Kerkstraat 12 Utrecht` when the town field says Utrecht.
fn strip_trailing_city(seg: &mut Vec<Token>, city: &[String]) {
    if city.is_empty() || seg.len() <= city.len() + 1 {
        return;
    }
    let words: Vec<&Token> = seg.iter().filter(|t| t.is_word() || t.is_num()).collect();
    if words.len() <= city.len() {
        return;
    }
    let tail = &words[words.len() - city.len()..];
    if tail.iter().zip(city).all(|(t, c)| t.text == *c) {
        let keep = seg.len() - city.len();
        if seg[..keep].iter().any(Token::is_num) {
            seg.truncate(keep);
        }
    }
}

/// Splits the street segment into name tokens and house number.
fn split_segment(seg: Vec<Token>, style: Option<bool>, house: &mut HouseNumber) -> (Vec<Token>, bool) {
    let starts = seg.first().is_some_and(|t| {
        t.is_num() && !seg.get(1).is_some_and(|w| w.is_word() && w.attached && ORDINALS.contains(&w.text.as_str()))
    });
    // Tail: everything after the last name word.
    let last_name = seg.iter().rposition(is_name_word);
    let tail_num = match last_name {
        Some(l) => seg[l + 1..].iter().position(Token::is_num).map(|p| p + l + 1),
        None => seg.iter().position(Token::is_num),
    };
    let ends = tail_num.filter(|&i| i > 0 || !starts);
    let number_first = match (starts, ends) {
        (true, Some(_)) => style != Some(false),
        (true, None) => true,
        (false, _) => false,
    };
    if number_first {
        // `44 B Damberlaan` in a number-last country: B is the suffix. In
        // English-style lines a spaced letter is a direction (`14 E River St`).
        let (_, used) = parse_number_group(&seg, true, house);
        let mut used = used;
        if style == Some(false) && house.suffix.is_empty() && house.unit.is_empty() {
            if let Some(w) = seg.get(used).filter(|w| w.is_word() && w.text.len() == 1) {
                if seg[used + 1..].iter().any(is_name_word) {
                    house.suffix = w.text.clone();
                    used += 1;
                }
            }
        }
        let name = seg[used..].to_vec();
        return (name, true);
    }
    match ends {
        Some(i) => {
            let (_, used) = parse_number_group(&seg[i..], false, house);
            for t in &seg[i + used..] {
                push_unit(&mut house.unit, t);
            }
            (seg[..i].to_vec(), true)
        }
        None => (seg, false),
    }
}

/// Parses `12`, `5a`, `5 A`, `5-a`, `12-2`, `12 bis`, `3/14`, `12/3` from
/// `toks[0]` (a number). In number-first lines `a/b` is unit a at number b
/// (AU); in number-last lines it is number a, unit b (AT, NL).
fn parse_number_group(toks: &[Token], number_first: bool, house: &mut HouseNumber) -> (bool, usize) {
    let Some(first) = toks.first().filter(|t| t.is_num()) else {
        return (false, 0);
    };
    let mut number = trim_number(&first.text);
    let mut i = 1;
    let mut suffix = String::new();
    let mut units: Vec<String> = Vec::new();
    while i < toks.len() {
        let t = &toks[i];
        let n1 = toks.get(i + 1);
        match t.kind {
            Kind::Slash if n1.is_some_and(Token::is_num) => {
                let v = n1.map(|n| trim_number(&n.text)).unwrap_or_default();
                if number_first && units.is_empty() && suffix.is_empty() {
                    units.push(std::mem::replace(&mut number, v));
                } else {
                    units.push(v);
                }
                i += 2;
            }
            Kind::Dash if n1.is_some_and(Token::is_num) => {
                units.push(n1.map(|n| trim_number(&n.text)).unwrap_or_default());
                i += 2;
            }
            Kind::Dash | Kind::Slash
                if n1.is_some_and(|w| {
                    w.is_word() && (w.text.len() == 1 || NUMBER_SUFFIX_WORDS.contains(&w.text.as_str()))
                }) =>
            {
                let w = n1.map(|w| w.text.clone()).unwrap_or_default();
                if suffix.is_empty() && units.is_empty() {
                    suffix = w;
                } else {
                    units.push(w);
                }
                i += 2;
            }
            Kind::Word
                if suffix.is_empty()
                    && (NUMBER_SUFFIX_WORDS.contains(&t.text.as_str())
                        || (t.text.len() == 1 && (t.attached || !number_first))) =>
            {
                if units.is_empty() {
                    suffix = t.text.clone();
                } else {
                    units.push(t.text.clone());
                }
                i += 1;
            }
            Kind::Word if number_first && t.attached && t.text.len() == 1 => {
                units.push(t.text.clone());
                i += 1;
            }
            _ => break,
        }
    }
    house.number = number;
    house.suffix = suffix;
    // Units from markers (`Apt 4B`) come first in `house.unit`; slash/dash
    // units from the number group follow.
    house.unit.extend(units);
    (true, i)
}

fn trim_number(digits: &str) -> String {
    let t = digits.trim_start_matches('0');
    let t = if t.is_empty() { "0" } else { t };
    t.chars().take(9).collect()
}

/// Canonical name tokens and type id from the street-name tokens.
fn canonical_name(toks: &[Token], country: &str) -> (Vec<String>, u8) {
    // Merge attached ordinals (`5th`, `1e`) and drop punctuation.
    let mut words: Vec<String> = Vec::with_capacity(toks.len());
    for t in toks {
        match t.kind {
            Kind::Word if t.attached && words.last().is_some_and(|w| w.bytes().all(|b| b.is_ascii_digit())) => {
                if let Some(last) = words.last_mut() {
                    last.push_str(&t.text);
                }
            }
            Kind::Word | Kind::Num => words.push(t.text.clone()),
            _ => {}
        }
    }
    let words = expand_particles(words);
    let mut folded: Vec<String> = words.iter().map(|w| fold_word(w)).collect();
    let table = type_table();
    let n = folded.len();
    let mut type_id = 0u8;
    if n >= 2 {
        if let Some(t) = table.get(&folded[n - 1]) {
            type_id = t.id;
            folded.pop();
        } else if let Some(t) = table.get(&folded[0]).filter(|t| t.pos != Pos::End) {
            type_id = t.id;
            folded.remove(0);
        }
    }
    if type_id == 0 && splits_compounds(country) {
        if let Some(last) = folded.last_mut() {
            if let Some((stem, id)) = split_compound(last) {
                *last = stem;
                type_id = id;
            }
        }
    }
    // Saint/Sankt/Sint/St. before a name; `st` left at the end is Street and
    // was taken above.
    for w in folded.iter_mut() {
        let rep = match w.as_str() {
            "st" | "sankt" | "sint" | "saint" | "skt" | "snt" => Some("saint"),
            "ste" | "sainte" => Some("sainte"),
            "burg" => Some("burgemester"),
            "prof" => Some("profesor"),
            "doktor" | "doctor" | "dokter" => Some("dr"),
            "mt" => Some("mount"),
            _ => None,
        };
        if let Some(r) = rep {
            *w = fold_word(r);
        }
    }
    folded.retain(|w| !w.is_empty());
    (folded, type_id)
}

/// `v.d.`, `vd`, `v/d`, `van der/den/de` → one particle token.
fn expand_particles(words: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let next = words.get(i + 1).map(String::as_str);
        match (w, next) {
            ("v", Some("d" | "der" | "den" | "de")) | ("van", Some("der" | "den" | "de" | "d")) => {
                out.push("vd".to_owned());
                i += 2;
            }
            ("vd" | "vdr", _) => {
                out.push("vd".to_owned());
                i += 1;
            }
            ("v", Some(_)) => {
                out.push("van".to_owned());
                i += 1;
            }
            _ => {
                out.push(words[i].clone());
                i += 1;
            }
        }
    }
    out
}

/// Splits a compound into stem + type id, also tolerating one edit in the
/// suffix when it is long enough to be unambiguous (`Kerkstrat`).
fn split_compound(word: &str) -> Option<(String, u8)> {
    const MIN_STEM: usize = 2;
    for (suffix, id) in compound_suffixes() {
        if word.len() >= suffix.len() + MIN_STEM && word.ends_with(suffix.as_str()) {
            return Some((word[..word.len() - suffix.len()].to_owned(), *id));
        }
    }
    for (suffix, id) in compound_suffixes().iter().filter(|(s, _)| s.len() >= 5) {
        for cut in [suffix.len() - 1, suffix.len() + 1] {
            if word.len() < cut + MIN_STEM {
                continue;
            }
            let Some(tail) = word.get(word.len() - cut..) else {
                continue;
            };
            if rapidfuzz::distance::osa::distance(tail.bytes(), suffix.bytes()) <= 1 {
                return Some((word[..word.len() - cut].to_owned(), *id));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
