//! The words of street lines: street types in the languages of the
//! countries served (with their abbreviations), and how a type word is
//! recognised when it is typed glued to the name, split in two, abbreviated
//! outside the list, or misspelt.
//!
//! Types are kept apart from the name because a different type is a
//! different street (`Kerkweg` is not `Kerkstraat`, `Church Road` is not
//! `Church Lane`), while a misspelt or glued type is the same one. So every
//! tolerant rule below is guarded: it only ever yields a type when exactly
//! one type family fits, and it never turns one known type into another.

use std::collections::HashMap;
use std::sync::OnceLock;

use rapidfuzz::distance::osa;

use super::super::text::fold_word;

/// Where a type word may be recognised. Short abbreviations are ambiguous
/// (`St` = Street at the end, Saint at the start; `Dr` = Drive or Doctor).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pos {
    /// Full word: last token, or first token if the street has no trailing type.
    Anywhere,
    /// Abbreviation valid only as the last token.
    End,
    /// Abbreviation valid as last token or leading (French `Av.`, `Bd`).
    EndOrStart,
}

/// Canonical type tokens. A type's id is its index here + 1; ids live only
/// in memory (the index is rebuilt at start), the canonical form stores the
/// token itself.
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
    "divide",
    "trail",
    "loop",
    "run",
    "ridge",
    "view",
    "park",
    "green",
    "heights",
    "crossing",
    "point",
    "pass",
    "pike",
    "plaza",
    "circuit",
    "rise",
    "esplanade",
    "promenade",
    "chase",
    "glade",
    "vista",
    "track",
    "spur",
    "summit",
    "trace",
    "turnpike",
    "expressway",
    "freeway",
    "causeway",
    "bypass",
    "center",
    "commons",
    "estates",
    "glen",
    "hollow",
    "junction",
    "knoll",
    "landing",
    "manor",
    "meadows",
    "mount",
    "oval",
    "orchard",
    "ramp",
    "ranch",
    "shore",
    "skyway",
    "station",
    "valley",
    "village",
    "wharf",
    "yard",
    "courtyard",
    "dam",
    "bank",
    "moat",
    "field",
    "brook",
    "creek",
    "cove",
    "bend",
    "crest",
    "dale",
    "falls",
    "ferry",
    "fork",
    "harbor",
    "haven",
    "island",
    "lake",
    "mill",
    "port",
    "spring",
    "stream",
    "tunnel",
    "underpass",
    "viaduct",
    "sentier",
    "voie",
    "faubourg",
    "vale",
    "outlook",
    "parkland",
    "strip",
    "corso",
    "via",
    "stiege",
    "zeile",
    "lei",
];

/// Type words as typed, with their canonical type and where they may stand.
/// Folded with `fold_word` before use, like every token.
pub(crate) const TYPE_WORDS: &[(&str, &str, Pos)] = &[
    // street
    ("straat", "street", Pos::Anywhere),
    ("strasse", "street", Pos::Anywhere),
    ("str", "street", Pos::EndOrStart),
    ("street", "street", Pos::Anywhere),
    ("st", "street", Pos::End),
    ("gade", "street", Pos::Anywhere),
    ("rue", "street", Pos::Anywhere),
    ("strada", "street", Pos::Anywhere),
    ("calle", "street", Pos::Anywhere),
    // road
    ("road", "road", Pos::Anywhere),
    ("rd", "road", Pos::End),
    ("route", "road", Pos::Anywhere),
    ("rte", "road", Pos::EndOrStart),
    // way
    ("weg", "way", Pos::Anywhere),
    ("vej", "way", Pos::Anywhere),
    ("way", "way", Pos::Anywhere),
    ("wy", "way", Pos::End),
    // lane
    ("lane", "lane", Pos::Anywhere),
    ("ln", "lane", Pos::End),
    ("laan", "lane", Pos::Anywhere),
    // avenue
    ("avenue", "avenue", Pos::Anywhere),
    ("ave", "avenue", Pos::EndOrStart),
    ("av", "avenue", Pos::EndOrStart),
    ("avda", "avenue", Pos::EndOrStart),
    // boulevard
    ("boulevard", "boulevard", Pos::Anywhere),
    ("blvd", "boulevard", Pos::EndOrStart),
    ("bd", "boulevard", Pos::EndOrStart),
    ("bld", "boulevard", Pos::EndOrStart),
    ("boul", "boulevard", Pos::EndOrStart),
    // place
    ("place", "place", Pos::Anywhere),
    ("pl", "place", Pos::EndOrStart),
    ("plc", "place", Pos::EndOrStart),
    ("platz", "place", Pos::Anywhere),
    ("plads", "place", Pos::Anywhere),
    ("plein", "place", Pos::Anywhere),
    ("piazza", "place", Pos::Anywhere),
    ("plaza", "plaza", Pos::Anywhere),
    ("plz", "plaza", Pos::End),
    // square
    ("square", "square", Pos::Anywhere),
    ("sq", "square", Pos::End),
    ("torv", "square", Pos::Anywhere),
    // drive
    ("drive", "drive", Pos::Anywhere),
    ("dr", "drive", Pos::End),
    ("drv", "drive", Pos::End),
    // court
    ("court", "court", Pos::Anywhere),
    ("ct", "court", Pos::End),
    ("crt", "court", Pos::End),
    ("hof", "court", Pos::Anywhere),
    ("courtyard", "courtyard", Pos::Anywhere),
    // crescent
    ("crescent", "crescent", Pos::Anywhere),
    ("cres", "crescent", Pos::End),
    ("cresc", "crescent", Pos::End),
    // close
    ("close", "close", Pos::Anywhere),
    ("cl", "close", Pos::End),
    // terrace
    ("terrace", "terrace", Pos::Anywhere),
    ("tce", "terrace", Pos::End),
    ("terr", "terrace", Pos::End),
    // parade, highway, parkway, circle, circuit
    ("parade", "parade", Pos::Anywhere),
    ("pde", "parade", Pos::End),
    ("highway", "highway", Pos::Anywhere),
    ("hwy", "highway", Pos::End),
    ("parkway", "parkway", Pos::Anywhere),
    ("pkwy", "parkway", Pos::End),
    ("pky", "parkway", Pos::End),
    ("circle", "circle", Pos::Anywhere),
    ("cir", "circle", Pos::End),
    ("circ", "circle", Pos::End),
    ("circuit", "circuit", Pos::Anywhere),
    ("cct", "circuit", Pos::End),
    // German, Dutch, Danish, French
    ("gasse", "gasse", Pos::Anywhere),
    ("gracht", "canal", Pos::Anywhere),
    ("kanal", "canal", Pos::Anywhere),
    ("kade", "quay", Pos::Anywhere),
    ("quai", "quay", Pos::Anywhere),
    ("qu", "quay", Pos::EndOrStart),
    ("quay", "quay", Pos::Anywhere),
    ("kai", "quay", Pos::Anywhere),
    ("kaai", "quay", Pos::Anywhere),
    // Flemish `Lei` (`Frankrijklei`): a street type of its own.
    ("lei", "lei", Pos::Anywhere),
    ("ufer", "quay", Pos::Anywhere),
    ("singel", "singel", Pos::Anywhere),
    ("dijk", "dike", Pos::Anywhere),
    ("deich", "dike", Pos::Anywhere),
    ("damm", "dam", Pos::Anywhere),
    ("dam", "dam", Pos::Anywhere),
    ("ring", "ring", Pos::Anywhere),
    ("markt", "market", Pos::Anywhere),
    ("market", "market", Pos::Anywhere),
    ("marked", "market", Pos::Anywhere),
    ("chaussee", "chaussee", Pos::Anywhere),
    ("steenweg", "chaussee", Pos::Anywhere),
    ("allee", "allee", Pos::Anywhere),
    ("alle", "allee", Pos::Anywhere),
    ("all", "allee", Pos::EndOrStart),
    ("chemin", "chemin", Pos::Anywhere),
    ("ch", "chemin", Pos::EndOrStart),
    ("chem", "chemin", Pos::EndOrStart),
    ("impasse", "impasse", Pos::Anywhere),
    ("imp", "impasse", Pos::EndOrStart),
    ("pad", "path", Pos::Anywhere),
    ("path", "path", Pos::Anywhere),
    ("pfad", "path", Pos::Anywhere),
    ("sentier", "sentier", Pos::Anywhere),
    ("steeg", "alley", Pos::Anywhere),
    ("straede", "alley", Pos::Anywhere),
    ("alley", "alley", Pos::Anywhere),
    ("aly", "alley", Pos::End),
    ("dreef", "dreef", Pos::Anywhere),
    ("passage", "passage", Pos::Anywhere),
    ("cours", "cours", Pos::Anywhere),
    ("voie", "voie", Pos::Anywhere),
    ("faubourg", "faubourg", Pos::Anywhere),
    ("fbg", "faubourg", Pos::EndOrStart),
    ("esplanade", "esplanade", Pos::Anywhere),
    ("esp", "esplanade", Pos::End),
    ("promenade", "promenade", Pos::Anywhere),
    ("prom", "promenade", Pos::EndOrStart),
    ("stiege", "stiege", Pos::Anywhere),
    ("zeile", "zeile", Pos::Anywhere),
    ("wal", "bank", Pos::Anywhere),
    ("gaarde", "gardens", Pos::Anywhere),
    ("corso", "corso", Pos::Anywhere),
    ("via", "via", Pos::Anywhere),
    // English, the rest (USPS suffixes and their standard abbreviations)
    ("row", "row", Pos::Anywhere),
    ("walk", "walk", Pos::Anywhere),
    ("wlk", "walk", Pos::End),
    ("grove", "grove", Pos::Anywhere),
    ("grv", "grove", Pos::End),
    ("gardens", "gardens", Pos::Anywhere),
    ("garden", "gardens", Pos::Anywhere),
    ("gdns", "gardens", Pos::End),
    ("gdn", "gardens", Pos::End),
    ("mews", "mews", Pos::Anywhere),
    ("hill", "hill", Pos::Anywhere),
    ("hl", "hill", Pos::End),
    ("divide", "divide", Pos::Anywhere),
    ("dv", "divide", Pos::End),
    ("dvd", "divide", Pos::End),
    ("trail", "trail", Pos::Anywhere),
    ("trl", "trail", Pos::End),
    ("loop", "loop", Pos::Anywhere),
    ("lp", "loop", Pos::End),
    ("run", "run", Pos::Anywhere),
    ("ridge", "ridge", Pos::Anywhere),
    ("rdg", "ridge", Pos::End),
    ("view", "view", Pos::Anywhere),
    ("vw", "view", Pos::End),
    ("park", "park", Pos::Anywhere),
    ("pk", "park", Pos::End),
    ("green", "green", Pos::Anywhere),
    ("grn", "green", Pos::End),
    ("heights", "heights", Pos::Anywhere),
    ("hts", "heights", Pos::End),
    ("crossing", "crossing", Pos::Anywhere),
    ("xing", "crossing", Pos::End),
    ("point", "point", Pos::Anywhere),
    ("pt", "point", Pos::End),
    ("pass", "pass", Pos::Anywhere),
    ("pike", "pike", Pos::Anywhere),
    ("rise", "rise", Pos::Anywhere),
    ("chase", "chase", Pos::Anywhere),
    ("glade", "glade", Pos::Anywhere),
    ("vista", "vista", Pos::Anywhere),
    ("vis", "vista", Pos::End),
    ("track", "track", Pos::Anywhere),
    ("trak", "track", Pos::End),
    ("spur", "spur", Pos::Anywhere),
    ("summit", "summit", Pos::Anywhere),
    ("smt", "summit", Pos::End),
    ("trace", "trace", Pos::Anywhere),
    ("trce", "trace", Pos::End),
    ("turnpike", "turnpike", Pos::Anywhere),
    ("tpke", "turnpike", Pos::End),
    ("expressway", "expressway", Pos::Anywhere),
    ("expy", "expressway", Pos::End),
    ("freeway", "freeway", Pos::Anywhere),
    ("fwy", "freeway", Pos::End),
    ("causeway", "causeway", Pos::Anywhere),
    ("cswy", "causeway", Pos::End),
    ("bypass", "bypass", Pos::Anywhere),
    ("byp", "bypass", Pos::End),
    ("center", "center", Pos::Anywhere),
    ("centre", "center", Pos::Anywhere),
    ("ctr", "center", Pos::End),
    ("commons", "commons", Pos::Anywhere),
    ("common", "commons", Pos::Anywhere),
    ("cmn", "commons", Pos::End),
    ("estates", "estates", Pos::Anywhere),
    ("estate", "estates", Pos::Anywhere),
    ("glen", "glen", Pos::Anywhere),
    ("gln", "glen", Pos::End),
    ("hollow", "hollow", Pos::Anywhere),
    ("holw", "hollow", Pos::End),
    ("junction", "junction", Pos::Anywhere),
    ("jct", "junction", Pos::End),
    ("knoll", "knoll", Pos::Anywhere),
    ("knl", "knoll", Pos::End),
    ("landing", "landing", Pos::Anywhere),
    ("lndg", "landing", Pos::End),
    ("manor", "manor", Pos::Anywhere),
    ("mnr", "manor", Pos::End),
    ("meadows", "meadows", Pos::Anywhere),
    ("meadow", "meadows", Pos::Anywhere),
    ("mdw", "meadows", Pos::End),
    ("mount", "mount", Pos::Anywhere),
    ("mt", "mount", Pos::End),
    ("oval", "oval", Pos::Anywhere),
    ("orchard", "orchard", Pos::Anywhere),
    ("orch", "orchard", Pos::End),
    ("ramp", "ramp", Pos::Anywhere),
    ("ranch", "ranch", Pos::Anywhere),
    ("shore", "shore", Pos::Anywhere),
    ("shr", "shore", Pos::End),
    ("skyway", "skyway", Pos::Anywhere),
    ("station", "station", Pos::Anywhere),
    ("sta", "station", Pos::End),
    ("valley", "valley", Pos::Anywhere),
    ("vly", "valley", Pos::End),
    ("village", "village", Pos::Anywhere),
    ("vlg", "village", Pos::End),
    ("wharf", "wharf", Pos::Anywhere),
    ("yard", "yard", Pos::Anywhere),
    ("field", "field", Pos::Anywhere),
    ("fld", "field", Pos::End),
    ("brook", "brook", Pos::Anywhere),
    ("brk", "brook", Pos::End),
    ("creek", "creek", Pos::Anywhere),
    ("crk", "creek", Pos::End),
    ("cove", "cove", Pos::Anywhere),
    ("cv", "cove", Pos::End),
    ("bend", "bend", Pos::Anywhere),
    ("bnd", "bend", Pos::End),
    ("crest", "crest", Pos::Anywhere),
    ("crst", "crest", Pos::End),
    ("dale", "dale", Pos::Anywhere),
    ("falls", "falls", Pos::Anywhere),
    ("fls", "falls", Pos::End),
    ("ferry", "ferry", Pos::Anywhere),
    ("fry", "ferry", Pos::End),
    ("fork", "fork", Pos::Anywhere),
    ("frk", "fork", Pos::End),
    ("harbor", "harbor", Pos::Anywhere),
    ("harbour", "harbor", Pos::Anywhere),
    ("hbr", "harbor", Pos::End),
    ("haven", "haven", Pos::Anywhere),
    ("hvn", "haven", Pos::End),
    ("island", "island", Pos::Anywhere),
    ("isle", "island", Pos::Anywhere),
    ("lake", "lake", Pos::Anywhere),
    ("lk", "lake", Pos::End),
    ("mill", "mill", Pos::Anywhere),
    ("port", "port", Pos::Anywhere),
    ("prt", "port", Pos::End),
    ("spring", "spring", Pos::Anywhere),
    ("spg", "spring", Pos::End),
    ("stream", "stream", Pos::Anywhere),
    ("strm", "stream", Pos::End),
    ("tunnel", "tunnel", Pos::Anywhere),
    ("tunl", "tunnel", Pos::End),
    ("underpass", "underpass", Pos::Anywhere),
    ("viaduct", "viaduct", Pos::Anywhere),
    ("vale", "vale", Pos::Anywhere),
    ("outlook", "outlook", Pos::Anywhere),
    ("strip", "strip", Pos::Anywhere),
];

/// Germanic suffixes that end compound street names (`Kerkstraat`,
/// `Hauptstr`, `Vesterbrogade`), split only in countries that build such
/// compounds. Splitting makes `Kerk straat` and `Kerkstraat` one street and
/// keeps `Kerkweg` apart from `Kerkstraat`.
const COMPOUND_SUFFIXES: &[&str] = &[
    "steenweg", "straat", "strasse", "str", "weg", "laan", "plein", "gracht", "kade", "singel", "dijk", "platz",
    "gasse", "allee", "alle", "ring", "ufer", "markt", "vej", "gade", "plads", "torv", "pad", "steeg", "dreef", "kai",
    "kaai", "lei", "damm", "deich", "pfad", "hof", "stiege", "zeile", "straede", "wal", "park",
];

/// Type words that, glued to a name, are split off in every country: long
/// enough that a name rarely ends in them by chance (`Millerstreet`,
/// `Harborroad`, `OlsenCourt`), unlike `way` in `Broadway`.
const GLUED_EVERYWHERE: &[&str] = &[
    "street",
    "road",
    "lane",
    "avenue",
    "drive",
    "court",
    "place",
    "close",
    "crescent",
    "terrace",
    "parade",
    "grove",
    "circle",
    "circuit",
    "square",
    "boulevard",
    "parkway",
    "highway",
    "gardens",
    "trail",
    "ridge",
    "heights",
    "walk",
    "mews",
    "view",
    "straat",
    "strasse",
    "laan",
    "weg",
];

/// Type words leading a street (French and Belgian `Rue`, `Avenue`,
/// `Place`…), the only ones recognised at the start when misspelt.
const LEADING: &[&str] = &[
    "street",
    "road",
    "avenue",
    "boulevard",
    "place",
    "chemin",
    "impasse",
    "allee",
    "quay",
    "passage",
    "cours",
    "square",
    "sentier",
    "voie",
    "faubourg",
    "esplanade",
    "promenade",
];

pub(crate) struct TypeInfo {
    pub id: u8,
    pub pos: Pos,
}

/// The type id of a canonical type token.
pub(crate) fn type_id_of(name: &str) -> u8 {
    TYPE_NAMES.iter().position(|n| *n == name).map_or(0, |i| i as u8 + 1)
}

pub(crate) fn type_name(id: u8) -> &'static str {
    TYPE_NAMES.get(usize::from(id).wrapping_sub(1)).copied().unwrap_or("")
}

/// Type words → their type, keyed both as written and folded (`fold_word`
/// collapses doubled letters, so a dropped double letter, `Stret`, finds
/// `street` through the folded key).
fn type_table() -> &'static HashMap<String, TypeInfo> {
    static TABLE: OnceLock<HashMap<String, TypeInfo>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        for (word, canonical, pos) in TYPE_WORDS {
            map.insert(fold_word(word), TypeInfo { id: type_id_of(canonical), pos: *pos });
        }
        for (word, canonical, pos) in TYPE_WORDS {
            map.insert((*word).to_owned(), TypeInfo { id: type_id_of(canonical), pos: *pos });
        }
        map
    })
}

/// The type a word (lower case, not folded) is, exactly.
pub(crate) fn type_of(word: &str) -> Option<&'static TypeInfo> {
    let table = type_table();
    table.get(word).or_else(|| table.get(&fold_word(word)))
}

/// Full (unabbreviated) type words with their type: what typos and
/// abbreviations outside the list are compared with. Compared as written,
/// not folded: folding rewrites `ue` after a consonant (`avenue` →
/// `avenu`), which would put a swapped `avneue` two edits away.
fn full_words() -> &'static [(String, u8)] {
    static TABLE: OnceLock<Vec<(String, u8)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        TYPE_WORDS
            .iter()
            .filter(|(w, _, pos)| *pos == Pos::Anywhere && w.len() >= 4)
            .map(|(w, canonical, _)| ((*w).to_owned(), type_id_of(canonical)))
            .collect()
    })
}

/// Suffixes with their type, longest first so `steenweg` wins over `weg`.
fn suffixes(words: &[&str]) -> Vec<(String, u8)> {
    let mut v: Vec<(String, u8)> =
        words.iter().filter_map(|s| type_table().get(*s).map(|t| ((*s).to_owned(), t.id))).collect();
    v.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    v
}

fn compound_suffixes() -> &'static [(String, u8)] {
    static TABLE: OnceLock<Vec<(String, u8)>> = OnceLock::new();
    TABLE.get_or_init(|| suffixes(COMPOUND_SUFFIXES))
}

fn folded_compound_suffixes() -> &'static [(String, u8)] {
    static TABLE: OnceLock<Vec<(String, u8)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut v: Vec<(String, u8)> = compound_suffixes().iter().map(|(s, id)| (fold_word(s), *id)).collect();
        v.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
        v
    })
}

fn glued_suffixes() -> &'static [(String, u8)] {
    static TABLE: OnceLock<Vec<(String, u8)>> = OnceLock::new();
    TABLE.get_or_init(|| suffixes(GLUED_EVERYWHERE))
}

/// The one type all `hits` agree on, if they agree.
fn unique(hits: impl IntoIterator<Item = u8>) -> Option<u8> {
    let mut found = None;
    for id in hits {
        match found {
            None => found = Some(id),
            Some(f) if f == id => {}
            Some(_) => return None,
        }
    }
    found
}

/// A misspelt type word (`Avneue`, `Sreet`, `Srteet`, `Stret`, `Lnae`,
/// `Cresent`, `Raod`): within one edit of exactly one type family. Short
/// words (four letters) accept only a swap of two neighbours, since one
/// letter off a short type is often another word (`Rood`, `Lane`/`Line`).
pub(crate) fn misspelt(word: &str) -> Option<u8> {
    if word.len() < 4 || type_of(word).is_some() {
        return None;
    }
    let hits = full_words().iter().filter_map(|(w, id)| {
        let d = osa::distance(word.bytes(), w.bytes());
        let ok = match w.len() {
            4 => word.len() == 4 && d == 1 && is_swap(word, w),
            5..=7 => d <= 1,
            _ => d <= 2 && word.len() + 2 >= w.len(),
        };
        ok.then_some(*id)
    });
    unique(hits)
}

/// Whether `a` is `b` with two neighbouring letters swapped.
fn is_swap(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    diff.len() == 2 && diff[1] == diff[0] + 1 && a[diff[0]] == b[diff[1]] && a[diff[1]] == b[diff[0]]
}

/// An abbreviation outside the list (`Avn`, `Boule`, `Terr`, `Grcht`,
/// `Div`): the word's letters appear in order in exactly one type family's
/// full word, starting with its first letter. Only for words the caller
/// knows stood where a type stands, and of at least three letters.
pub(crate) fn abbreviated(word: &str) -> Option<u8> {
    if word.len() < 3 || type_of(word).is_some() {
        return None;
    }
    let hits = full_words().iter().filter_map(|(w, id)| {
        (w.len() > word.len() && w.as_bytes()[0] == word.as_bytes()[0] && is_subsequence(word, w)).then_some(*id)
    });
    unique(hits)
}

fn is_subsequence(short: &str, long: &str) -> bool {
    let mut it = long.bytes();
    short.bytes().all(|c| it.any(|l| l == c))
}

/// A leading type word typed wrong (`Avnue des Prés`): only the types that
/// lead street names in French.
pub(crate) fn misspelt_leading(word: &str) -> Option<u8> {
    misspelt(word).or_else(|| abbreviated(word)).filter(|id| LEADING.contains(&type_name(*id)))
}

/// Splits a name (lower case, not folded) glued to its type into stem and type: in every country for
/// the long types of `GLUED_EVERYWHERE` (`Millerstreet`), and in countries
/// that build compounds for every compound suffix, also with one edit in a
/// suffix long enough to be unambiguous (`Kerkstrat`, `Lindensgraat`) or an
/// abbreviation glued on (`Marktpl`, `Wilhelminaln`).
pub(crate) fn split_glued(word: &str, compounds: bool) -> Option<(String, u8)> {
    const MIN_STEM: usize = 2;
    let exact = |table: &[(String, u8)], min_stem: usize| {
        table.iter().find_map(|(suffix, id)| {
            (word.len() >= suffix.len() + min_stem && word.ends_with(suffix.as_str()))
                .then(|| (word[..word.len() - suffix.len()].to_owned(), *id))
        })
    };
    if compounds {
        // Folded first, as before tolerant splitting existed: a doubled
        // joint letter collapses (`Jansstraat` = `Janstraat` = `jan` + street).
        let folded = fold_word(word);
        let folded_suffixes = folded_compound_suffixes();
        if let Some((suffix, id)) = folded_suffixes
            .iter()
            .find(|(suffix, _)| folded.len() >= suffix.len() + MIN_STEM && folded.ends_with(suffix.as_str()))
        {
            return Some((folded[..folded.len() - suffix.len()].to_owned(), *id));
        }
        if let Some(split) = exact(compound_suffixes(), MIN_STEM) {
            return Some(split);
        }
    }
    if let Some(split) = exact(glued_suffixes(), 3) {
        return Some(split);
    }
    let table: &[(String, u8)] = if compounds { compound_suffixes() } else { glued_suffixes() };
    for (suffix, id) in table.iter().filter(|(s, _)| s.len() >= 5) {
        for cut in [suffix.len(), suffix.len() - 1, suffix.len() + 1] {
            if word.len() < cut + 3 {
                continue;
            }
            let Some(tail) = word.get(word.len() - cut..) else { continue };
            if osa::distance(tail.bytes(), suffix.bytes()) <= 1 {
                return Some((word[..word.len() - cut].to_owned(), *id));
            }
        }
    }
    if compounds {
        // An abbreviation glued on (`Marktpl`, `Wilhelminaln`), also with
        // its letters swapped (`Dorpsrt`).
        // `pln` before `ln`: `Veldpln` is Veldplein, not a lane.
        for (abbr, canonical) in [("pln", "place"), ("pl", "place"), ("ln", "lane"), ("str", "street"), ("wg", "way")] {
            if word.len() < abbr.len() + 3 {
                continue;
            }
            let tail = &word[word.len() - abbr.len()..];
            if tail == abbr || (abbr.len() == 3 && is_swap(tail, abbr)) {
                return Some((word[..word.len() - abbr.len()].to_owned(), type_id_of(canonical)));
            }
        }
    }
    None
}

/// Whether `residue`, what is left of a glued street after its name, is
/// the given type typed some way: a known word of the type, an
/// abbreviation of one (its letters in order, same first letter:
/// `strt`, `gr`), or one of them with one slip (`srte`, `gdae`, `rung`,
/// `dji`). Only meaningful for a residue the caller found after an exact
/// name, and only decisive when no sibling type fits too (see the index).
pub(crate) fn is_type_variant(residue: &str, type_id: u8) -> bool {
    if residue.len() < 2 || type_id == 0 {
        return false;
    }
    let name = type_name(type_id);
    let folded = fold_word(residue);
    TYPE_WORDS.iter().any(|(word, canonical, _)| *canonical == name && word_variant(residue, &folded, word))
}

/// Whether `residue` is `word` typed short or with one slip: the word
/// itself, its letters in order (`strt`, `clo`), its beginning with two
/// neighbours swapped (`srte`, `lna`, `rao`), or, for four letters and
/// more, the whole word one edit off (`rung`, `gdae`). A letter replaced
/// in a short beginning is not enough: `col` is Close (`clo`), not Court.
fn word_variant(residue: &str, folded: &str, word: &str) -> bool {
    [word.to_owned(), fold_word(word)].iter().any(|w| {
        if w == residue || w == folded {
            return true;
        }
        let same_start = w.as_bytes().first() == residue.as_bytes().first();
        if !same_start {
            return false;
        }
        if w.len() > residue.len() && is_subsequence(residue, w) {
            return true;
        }
        if residue.len() >= 3 && w.len() >= residue.len() && is_swap(residue, &w[..residue.len()]) {
            return true;
        }
        residue.len() >= 4 && osa::distance(residue.bytes(), w.bytes()) <= 1
    })
}

/// The one type family a word that is no type word is a variant of
/// (`Avn`, `Terr`, `Crsnt`, `Lnae`); `None` when none or several fit
/// (`Ster`: street or sentier), which leaves the decision to the
/// index, where the base address's own type is known.
pub(crate) fn tolerant_type(word: &str) -> Option<u8> {
    if word.len() < 3 || type_of(word).is_some() {
        return None;
    }
    let folded = fold_word(word);
    let variants = TYPE_WORDS
        .iter()
        .filter(|(w, _, _)| word_variant(word, &folded, w))
        .map(|(_, canonical, _)| type_id_of(canonical));
    unique(misspelt(word).into_iter().chain(variants))
}

/// Whether a type word can lead a street name (`Rue de la Paix`,
/// `Avenue Victor Hugo`); elsewhere a leading type word is a name
/// (`Manor Place`, `Mill Street`, `Park Avenue`).
pub(crate) fn leads(id: u8) -> bool {
    LEADING.contains(&type_name(id))
}

/// Words that set two streets of one stem apart (`Obere`/`Untere`,
/// `Nieuwe`/`Oude`, `North`/`South`): a name that differs from another in
/// one of them is another street, however similar the rest.
const QUALIFIERS: &[&str] = &[
    "obere", "ober", "untere", "unter", "grosse", "gross", "kleine", "klein", "alte", "alter", "neue", "neuer",
    "nieuwe", "oude", "lange", "korte", "hoge", "lage", "groot", "north", "south", "east", "west", "upper", "lower",
    "old", "new", "great", "little", "n", "s", "e", "w", "norre", "sondre", "ostre", "vestre", "nordre", "store",
    "lille", "gammel", "ny", "haute", "basse", "grande", "petite", "vieille", "neuve", "vordere", "hintere",
    "mittlere", "inner", "outer", "noord", "zuid", "oost", "nord", "sud", "ouest", "est", "ost",
];

/// Whether one of the two folded names has a qualifier the other lacks
/// (no word of the other is within one edit of it).
pub(crate) fn qualifiers_differ(a: &str, b: &str) -> bool {
    static FOLDED: OnceLock<Vec<String>> = OnceLock::new();
    let folded = FOLDED.get_or_init(|| QUALIFIERS.iter().map(|q| fold_word(q)).collect());
    let lacks = |x: &str, y: &str| {
        x.split(' ').any(|w| {
            folded.iter().any(|q| q == w)
                && !y.split(' ').any(|v| v == w || (w.len() >= 3 && osa::distance(v.bytes(), w.bytes()) <= 1))
        })
    };
    a != b && (lacks(a, b) || lacks(b, a))
}

/// Ordinals written as words, in the languages served, and what they are
/// as a number: `Fourth Street` is `4th Street`, `Eerste` is `1e`.
const ORDINAL_WORDS: &[(&str, u8)] = &[
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("eleventh", 11),
    ("twelfth", 12),
    ("thirteenth", 13),
    ("fourteenth", 14),
    ("fifteenth", 15),
    ("sixteenth", 16),
    ("seventeenth", 17),
    ("eighteenth", 18),
    ("nineteenth", 19),
    ("twentieth", 20),
    ("eerste", 1),
    ("tweede", 2),
    ("derde", 3),
    ("vierde", 4),
    ("vijfde", 5),
    ("zesde", 6),
    ("zevende", 7),
    ("achtste", 8),
    ("negende", 9),
    ("tiende", 10),
    ("erste", 1),
    ("zweite", 2),
    ("dritte", 3),
    ("vierte", 4),
    ("funfte", 5),
    ("sechste", 6),
    ("siebte", 7),
    ("achte", 8),
    ("neunte", 9),
    ("zehnte", 10),
    ("premier", 1),
    ("premiere", 1),
    ("deuxieme", 2),
    ("troisieme", 3),
    ("quatrieme", 4),
    ("cinquieme", 5),
    ("forste", 1),
    ("anden", 2),
    ("tredje", 3),
    ("fjerde", 4),
    ("femte", 5),
];

/// Suffixes that make a number an ordinal: English `1st 2nd 3rd 4th`,
/// Dutch `1e 2de 8ste`, French `1er 2e 3eme`, German `1.` arrives as `1`.
pub(crate) const ORDINAL_SUFFIXES: &[&str] = &["e", "de", "ste", "st", "nd", "rd", "th", "er", "eme", "re"];

/// The canonical form of an ordinal name word: its number (`fourth`,
/// `4th`, `vierde`, `4e` → `4`), or `None` for any other word.
pub(crate) fn ordinal(word: &str) -> Option<String> {
    let digits: String = word.chars().take_while(char::is_ascii_digit).collect();
    if !digits.is_empty() {
        let rest = &word[digits.len()..];
        return ORDINAL_SUFFIXES.contains(&rest).then(|| digits.trim_start_matches('0').to_owned());
    }
    let folded = fold_word(word);
    ORDINAL_WORDS.iter().find(|(w, _)| fold_word(w) == folded).map(|(_, n)| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(id: Option<u8>) -> &'static str {
        id.map_or("", type_name)
    }

    fn folded(f: fn(&str) -> Option<u8>, word: &str) -> Option<u8> {
        f(word)
    }

    #[test]
    fn misspelt_types_are_recognised_and_sibling_types_kept_apart() {
        for (typed, want) in [
            ("avneue", "avenue"),
            ("sreet", "street"),
            ("srteet", "street"),
            ("lnae", "lane"),
            ("cresent", "crescent"),
            ("raod", "road"),
            ("boulevrad", "boulevard"),
        ] {
            assert_eq!(name(folded(misspelt, typed)), want, "{typed}");
        }
        // A dropped double letter is the type itself, through its folded key.
        assert_eq!(type_of("stret").map(|t| type_name(t.id)), Some("street"));
        // Known types are never "misspellings" of another, and one letter off
        // a short type is not enough.
        for typed in ["lane", "road", "rood", "line", "weg", "court"] {
            assert_eq!(folded(misspelt, typed), None, "{typed}");
        }
    }

    #[test]
    fn abbreviations_outside_the_list() {
        for (typed, want) in [("avn", "avenue"), ("boule", "boulevard"), ("grcht", "canal"), ("terac", "terrace")] {
            assert_eq!(name(folded(abbreviated, typed)), want, "{typed}");
        }
        // Ambiguous (crescent, creek or crest), too short, or a type itself.
        assert_eq!(folded(abbreviated, "cre"), None);
        assert_eq!(folded(abbreviated, "la"), None);
        assert_eq!(folded(abbreviated, "street"), None);
    }

    #[test]
    fn glued_types_split_in_every_country_but_broadway_stays() {
        let split = |w: &str, c| split_glued(w, c).map(|(s, id)| (s, type_name(id)));
        assert_eq!(split("millerstreet", false), Some(("miller".into(), "street")));
        assert_eq!(split("harborroad", false), Some(("harbor".into(), "road")));
        assert_eq!(split("wattlecrescent", false), Some(("wattle".into(), "crescent")));
        assert_eq!(split("broadway", false), None);
        assert_eq!(split("kerkstrat", true), Some(("kerk".into(), "street")));
        assert_eq!(split("lindensgraat", true), Some(("linden".into(), "street")));
        assert_eq!(split("marktpl", true), Some(("markt".into(), "place")));
        assert_eq!(split("dorpsrt", true), Some(("dorp".into(), "street")));
    }

    #[test]
    fn ordinals_in_digits_and_words_agree() {
        for (a, b) in [("4th", "fourth"), ("1st", "first"), ("1e", "eerste"), ("2nd", "second"), ("3rd", "third")] {
            assert_eq!(ordinal(a), ordinal(b), "{a} {b}");
            assert!(ordinal(a).is_some());
        }
        assert_eq!(ordinal("kerk"), None);
        assert_eq!(ordinal("12"), None);
    }
}
