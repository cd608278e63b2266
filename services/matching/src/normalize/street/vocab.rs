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
pub(crate) use super::words::{Pos, TYPE_NAMES, TYPE_WORDS};
use super::words::{COMPOUND_SUFFIXES, GLUED_EVERYWHERE, LEADING, ORDINAL_WORDS};

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
    let hits = full_words().iter().filter(|(w, _)| w.len().abs_diff(word.len()) <= 2).filter_map(|(w, id)| {
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
    let folded = fold_word(residue);
    surfaces_from(residue).iter().any(|s| s.id == type_id && word_variant(residue, &folded, &s.word))
}

/// A type word as typed or folded, with its type.
struct Surface {
    word: String,
    id: u8,
}

/// Every type word, as typed and folded, grouped by first letter: a
/// variant starts with the type word's first letter, so only one group is
/// ever compared (this runs for every street line).
fn surfaces_from(word: &str) -> &'static [Surface] {
    static TABLE: OnceLock<Vec<Vec<Surface>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut groups: Vec<Vec<Surface>> = (0..26).map(|_| Vec::new()).collect();
        for (w, canonical, _) in TYPE_WORDS {
            let id = type_id_of(canonical);
            for form in [w.to_string(), fold_word(w)] {
                let Some(first) = form.bytes().next().filter(u8::is_ascii_lowercase) else { continue };
                let group = &mut groups[usize::from(first - b'a')];
                if !group.iter().any(|s| s.word == form && s.id == id) {
                    group.push(Surface { word: form, id });
                }
            }
        }
        groups
    });
    match word.bytes().next() {
        Some(b) if b.is_ascii_lowercase() => &table[usize::from(b - b'a')],
        _ => &[],
    }
}

/// Whether `residue` (with its folded form) is the type word `w` typed
/// short or with one slip: the word itself, its letters in order (`strt`,
/// `clo`), its beginning with two neighbours swapped (`srte`, `lna`,
/// `rao`), or, for four letters and more, the whole word one edit off
/// (`rung`, `gdae`). A letter replaced in a short beginning is not enough:
/// `col` is Close (`clo`), not Court. The caller matched the first letter.
fn word_variant(residue: &str, folded: &str, w: &str) -> bool {
    if w == residue || w == folded {
        return true;
    }
    if w.len() > residue.len() && is_subsequence(residue, w) {
        return true;
    }
    if residue.len() >= 3 && w.len() >= residue.len() && is_swap(residue, &w[..residue.len()]) {
        return true;
    }
    residue.len() >= 4 && residue.len().abs_diff(w.len()) <= 1 && osa::distance(residue.bytes(), w.bytes()) <= 1
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
    let variants = surfaces_from(word).iter().filter(|s| word_variant(word, &folded, &s.word)).map(|s| s.id);
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

/// Whether one of the two folded names has a qualifier or a number the
/// other lacks (no word of the other is within one edit of it).
pub(crate) fn qualifiers_differ(a: &str, b: &str) -> bool {
    static FOLDED: OnceLock<Vec<String>> = OnceLock::new();
    let folded = FOLDED.get_or_init(|| QUALIFIERS.iter().map(|q| fold_word(q)).collect());
    // Numbers in names are ordinals (`Eerste`/`Tweede` = 1/2): another
    // number is another street, never a typo.
    let lacks = |x: &str, y: &str| {
        x.split(' ').any(|w| {
            let number = !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit());
            (number || folded.iter().any(|q| q == w))
                && !y
                    .split(' ')
                    .any(|v| v == w || (!number && w.len() >= 3 && osa::distance(v.bytes(), w.bytes()) <= 1))
        })
    };
    // `Galleghan` typed `Gallegha N`: a letter split off is not North.
    let spaced_alike = || a.bytes().filter(|b| *b != b' ').eq(b.bytes().filter(|b| *b != b' '));
    a != b && (lacks(a, b) || lacks(b, a)) && !spaced_alike()
}

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
#[path = "vocab_tests.rs"]
mod tests;
