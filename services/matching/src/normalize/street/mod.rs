//! Street lines: where the house number is, what the street type is, and
//! what belongs to the name.

mod secondary;
mod vocab;
mod words;
use secondary::{is_care_of, push_units, secondary_segment, separate_house_name, take_unit_markers, words_text};

use super::place::{number_first, splits_compounds};
use super::postcode::postcode_at;
use super::text::{fold_word, to_ascii_lower, tokenize, Kind, Token};
pub(crate) use vocab::{is_type_variant, qualifiers_differ, type_id_of, type_name};
use vocab::{leads, misspelt, misspelt_leading, ordinal, split_glued, tolerant_type, type_of, Pos, ORDINAL_SUFFIXES};

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
    /// A house or building name typed beside the street (`Rose Cottage`,
    /// `Hammond Court`), folded words joined by a space.
    pub house_name: String,
}

/// Words that only announce the number (`Nr. 5`).
const NUMBER_MARKERS: &[&str] = &["nr", "no", "nummer", "num", "numero"];
/// Danish floor/side words and French repetition suffixes can follow the
/// number without being part of the street name.
const TAIL_WORDS: &[&str] = &["tv", "th", "mf", "st", "kl", "sal", "bis", "ter", "quater"];
const NUMBER_SUFFIX_WORDS: &[&str] = &["bis", "ter", "quater"];

fn is_name_word(t: &Token) -> bool {
    // Ordinals were merged into words (`1e`, `4th`): they name streets.
    let ordinal = t.text.starts_with(|c: char| c.is_ascii_digit());
    t.is_word() && (t.text.len() >= 3 || ordinal) && !TAIL_WORDS.contains(&t.text.as_str())
}

/// Compass letters: spaced after a number-first house number they are a
/// direction (`14 E River St`), any other letter is the suffix (`35 B
/// Danielle Road`).
const COMPASS: &[&str] = &["n", "e", "s", "w"];

/// `4th`, `1e`, `8 th` (with a street word after it) become one word
/// token, so an ordinal is never mistaken for a house number.
fn merge_ordinals(toks: Vec<Token>, country: &str) -> Vec<Token> {
    let mut out: Vec<Token> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        if t.is_num() {
            // `3rdway`, `5thwy`: an ordinal with its type glued on.
            if let Some(w) = toks.get(i + 1).filter(|w| w.is_word() && w.attached) {
                let split = ["st", "nd", "rd", "th"]
                    .iter()
                    .find_map(|s| w.text.strip_prefix(s).filter(|rest| type_of(rest).is_some()).map(|rest| (*s, rest)));
                if let Some((suffix, rest)) = split {
                    out.push(Token { text: format!("{}{suffix}", t.text), kind: Kind::Word, attached: t.attached });
                    out.push(Token { text: rest.to_owned(), kind: Kind::Word, attached: false });
                    i += 2;
                    continue;
                }
            }
            if let Some(w) = toks.get(i + 1).filter(|w| w.is_word() && ORDINAL_SUFFIXES.contains(&w.text.as_str())) {
                // Spaced (`8 th Road`) only for the English suffixes, and
                // not in Denmark, where `st`/`th` after a number are a
                // floor and a side.
                // `St` spaced is mostly Saint (`6 St. Amber's Street`): only
                // an ordinal when a type word follows (`1 st Ln`).
                let next = toks.get(i + 2).filter(|n| n.is_word() && n.text.len() >= 2);
                let spaced_ok = country != "DK"
                    && match w.text.as_str() {
                        "st" => next.is_some_and(|n| type_of(&n.text).is_some()),
                        "nd" | "rd" | "th" => next.is_some(),
                        _ => false,
                    };
                if w.attached || spaced_ok {
                    out.push(Token { text: format!("{}{}", t.text, w.text), kind: Kind::Word, attached: t.attached });
                    i += 2;
                    continue;
                }
            }
        }
        out.push(t.clone());
        i += 1;
    }
    out
}

/// Parses a free-text street line.
pub(crate) fn parse_street_line(line: &str, country: &str, city_hint: &[String]) -> StreetLine {
    let mut out = StreetLine::default();
    let toks = tokenize(&to_ascii_lower(line));
    let toks = take_unit_markers(toks, &mut out.house.unit);
    let toks = merge_ordinals(toks, country);
    let toks = separate_house_name(toks);
    let mut segments: Vec<Vec<Token>> = toks
        .split(|t| t.is(Kind::Comma))
        .map(<[Token]>::to_vec)
        .filter(|s| s.iter().any(|t| t.is_word() || t.is_num()) && !is_care_of(s))
        .collect();
    number_to_typed_street(&mut segments, country);
    let street_seg = choose_street_segment(&segments, country);
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
        secondary_segment(seg, before, number_found, country, city_hint, &mut out);
        number_found |= !out.house.number.is_empty();
    }

    let (name, type_id) = canonical_name(&name_tokens, country);
    out.name = name;
    out.type_id = type_id;
    out
}

/// Which comma-separated segment holds the street: the one with a house
/// number and a name, else the one ending in a street type (a core type
/// such as `Road` before one a building is often named after, such as
/// `View` or `Court`), else the first with a name. The others are a house
/// or building name, a pasted town, or a floor and side.
fn choose_street_segment(segments: &[Vec<Token>], country: &str) -> Option<usize> {
    let rank = |seg: &Vec<Token>| -> u8 {
        let names: Vec<&Token> = seg.iter().filter(|t| is_name_word(t)).collect();
        // `…, 1092 YM 's-Hertogenbosch`: a pasted postal code and town.
        // Never the line's first segment: `2919 Florence Taylor Street`
        // is a number-first street, not a code and a town.
        let pasted_town = !std::ptr::eq(seg, &segments[0])
            && postcode_at(seg, 0, country).is_some_and(|(_, used)| {
                seg[used..].iter().all(|t| t.is_word() || t.is(Kind::Dash) || t.is(Kind::Slash))
            });
        if names.is_empty() || pasted_town {
            return 0;
        }
        let numbered = seg.iter().enumerate().any(|(i, t)| {
            t.is_num() && !seg.get(i + 1).is_some_and(|w| w.attached && ORDINAL_SUFFIXES.contains(&w.text.as_str()))
        });
        let typed = word_type(last_word(seg));
        match (numbered, typed) {
            (true, _) => 4,
            (false, Some(id)) if !is_building_type(id) => 3,
            (false, Some(_)) => 2,
            (false, None) => 1,
        }
    };
    let best = segments.iter().map(rank).max().filter(|r| *r > 0)?;
    // Among equals the last: a house name comes before its street.
    let candidates: Vec<usize> = (0..segments.len()).filter(|&i| rank(&segments[i]) == best).collect();
    if best == 4 || best == 1 {
        candidates.first().copied()
    } else {
        candidates.last().copied()
    }
}

/// `14 Hopeview, Furey Street`: the house number typed in front of the
/// house or estate name instead of the street. When the only numbered
/// segment has no core street type and starts with its number, while a
/// later segment is a typed street without a number, the number moves to
/// that street, which then comes first (`14 Furey Street, Hopeview`), as
/// the line would have been typed the usual way round. Number-last
/// countries are left alone: there a leading number is not the house's.
fn number_to_typed_street(segments: &mut Vec<Vec<Token>>, country: &str) {
    if number_first(country) == Some(false) {
        return;
    }
    let core_type = |seg: &[Token]| {
        let last = last_word(seg);
        word_type(last)
            .or_else(|| split_glued(last, splits_compounds(country)).map(|(_, id)| id))
            .filter(|id| !is_building_type(*id))
    };
    let numbered: Vec<usize> = (0..segments.len()).filter(|&i| segments[i].iter().any(Token::is_num)).collect();
    let [n] = numbered[..] else { return };
    let seg = &segments[n];
    if !seg[0].is_num() || seg.len() < 2 || !seg[1..].iter().any(is_name_word) || core_type(seg).is_some() {
        return;
    }
    let Some(t) = (n + 1..segments.len()).find(|&i| core_type(&segments[i]).is_some()) else { return };
    // The number and a suffix letter glued to it (`14a`).
    let used = if seg.get(1).is_some_and(|w| w.attached && w.is_word() && w.text.len() == 1) { 2 } else { 1 };
    let mut numbered_seg = std::mem::take(&mut segments[n]);
    let rest = numbered_seg.split_off(used);
    let mut street = segments.remove(t);
    numbered_seg.append(&mut street);
    segments[n] = rest;
    segments.insert(0, numbered_seg);
}

/// The segment's last word, even a short one (`Brady Dr`, `Alan St.`).
fn last_word(seg: &[Token]) -> &str {
    seg.iter().rev().find(|t| t.is_word()).map_or("", |t| t.text.as_str())
}

/// The street type a word names, as typed or misspelt (`Sreet`).
pub(super) fn word_type(word: &str) -> Option<u8> {
    type_of(word).map(|t| t.id).or_else(|| tolerant_type(word))
}

/// Types that also name houses and buildings (`Meadow View`, `The Lodge`,
/// `Hammond Court`): a segment ending in one is the street only when no
/// other segment has a number or a core street type.
fn is_building_type(id: u8) -> bool {
    matches!(
        type_name(id),
        "view"
            | "court"
            | "park"
            | "green"
            | "heights"
            | "manor"
            | "lodge"
            | "house"
            | "mill"
            | "gardens"
            | "estates"
            | "village"
            | "meadows"
            | "orchard"
            | "station"
            | "center"
            | "commons"
    )
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
            let rest_words = seg[i + used..].iter().all(|t| t.is_word() || t.is(Kind::Dash) || t.is(Kind::Slash));
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
        t.is_num()
            && !seg.get(1).is_some_and(|w| w.is_word() && w.attached && ORDINAL_SUFFIXES.contains(&w.text.as_str()))
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
    // The country says what `a/b` is; the placement only when it cannot.
    let unit_first = style.unwrap_or(number_first);
    if number_first {
        // `44 B Damberlaan` in a number-last country, `35 B Danielle Road`
        // in a number-first one: B is the suffix. A spaced compass letter
        // in a number-first line is a direction (`14 E River St`).
        let (_, used) = parse_number_group(&seg, true, unit_first, house);
        let mut used = used;
        if house.suffix.is_empty() && house.unit.is_empty() {
            if let Some(w) = seg.get(used).filter(|w| w.is_word() && w.text.len() == 1) {
                let suffix = style == Some(false) || !COMPASS.contains(&w.text.as_str());
                if suffix && seg[used + 1..].iter().any(is_name_word) {
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
            let (_, used) = parse_number_group(&seg[i..], false, unit_first, house);
            push_units(&mut house.unit, &seg[i + used..]);
            (seg[..i].to_vec(), true)
        }
        None => (seg, false),
    }
}

/// Parses `12`, `5a`, `5 A`, `5-a`, `12-2`, `12 bis`, `3/14`, `12/3` from
/// `toks[0]` (a number). With `unit_first` (countries that write the number
/// first) `a/b` is unit a at number b (AU); otherwise number a, unit b (AT,
/// NL). `number_first` is the placement in this line: there a spaced
/// letter after the number is not taken as its suffix.
fn parse_number_group(toks: &[Token], number_first: bool, unit_first: bool, house: &mut HouseNumber) -> (bool, usize) {
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
                if unit_first && units.is_empty() && suffix.is_empty() {
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
    // `Fourth`, `4th`, `Vierde` and `4e` are one name.
    let mut words: Vec<String> = expand_particles(words).into_iter().map(|w| ordinal(&w).unwrap_or(w)).collect();
    // The type is found on the words as typed; folding comes after (see
    // `vocab::full_words` for why).
    join_split_words(&mut words, country);
    move_postdirectional(&mut words, country);
    let type_id = take_type(&mut words, country);
    // `Secondavenue`: the ordinal shows once the type is split off.
    if let Some(last) = words.last_mut() {
        if let Some(n) = ordinal(last) {
            *last = n;
        }
    }
    let count = words.len();
    let mut folded: Vec<String> = words.iter().map(|w| fold_word(w)).collect();
    // Saint/Sankt/Sint/St. and title abbreviations before a name; `st`
    // left at the end is Street and was taken above.
    for (i, w) in folded.iter_mut().enumerate() {
        let leading = i + 1 < count;
        if let Some(r) = expand_title(w, leading, country) {
            *w = fold_word(r);
        }
    }
    folded.retain(|w| !w.is_empty());
    (folded, type_id)
}

/// `Main St N`: a direction after the type (number-first countries) is
/// the same qualifier as `N Main St`, and `Main St S` another street. It
/// moves in front, where `expand_title` and `qualifiers_differ` see it.
fn move_postdirectional(words: &mut Vec<String>, country: &str) {
    let n = words.len();
    if number_first(country) != Some(true) || n < 3 || type_of(&words[n - 2]).is_none() {
        return;
    }
    let full = match words[n - 1].as_str() {
        "n" | "north" => "north",
        "s" | "south" => "south",
        "e" | "east" => "east",
        "w" | "west" => "west",
        _ => return,
    };
    words.pop();
    words.insert(0, full.to_owned());
}

/// The full form of an abbreviated title or qualifier in a street name
/// (`Burg.`, `Kl.`, `Gr.`, `Pdt`), folded like every name word. Qualifier
/// abbreviations only count before another word: `Gr` alone is a name.
fn expand_title(word: &str, leading: bool, country: &str) -> Option<&'static str> {
    let full = match word {
        "sankt" | "sint" | "saint" | "skt" | "snt" => "saint",
        "st" if country == "DK" => "store",
        "st" => "saint",
        "ste" | "sainte" => "sainte",
        "burg" | "brg" => "burgemeester",
        "prof" => "professor",
        "doktor" | "doctor" | "dokter" | "docteur" => "dr",
        "mt" => "mount",
        // `O. Kade`, `N. Rozenhof`: Oude and Nieuwe in Dutch names.
        "o" if leading && matches!(country, "NL" | "BE") => "oude",
        "n" if leading && matches!(country, "NL" | "BE") => "nieuwe",
        // `E Kidd Drive` is `East Kidd Drive`; only before the name, and
        // only where streets are named that way.
        "n" | "s" | "e" | "w" if !(leading && matches!(number_first(country), Some(true) | None)) => return None,
        "n" => "north",
        "s" => "south",
        "e" => "east",
        "w" => "west",
        "pres" | "pdt" => "president",
        "gen" | "gal" => "general",
        "mal" => "marechal",
        "past" => "pastoor",
        _ if !leading => return None,
        "kl" => "kleine",
        "gr" => "grosse",
        "ob" => "obere",
        "unt" => "untere",
        "gl" => "gammel",
        "nr" | "ndr" if country == "DK" => "norre",
        "sdr" => "sondre",
        _ => return None,
    };
    Some(full)
}

/// Words split where they should not be are joined again: a type word
/// split in two (`Oak S Treet`, `Impas se Chantal Fleury`, `8th L ane`),
/// or a compound split inside its type (`Kirschnerga sse`, `Bamstr aße`,
/// `Perronok ade`). Only when the second half is a fragment, not a type
/// on its own, so `Kerk Straat` stays two words (the type is taken later).
fn join_split_words(words: &mut Vec<String>, country: &str) {
    let n = words.len();
    if n < 2 || type_of(&words[n - 1]).is_some() {
        return;
    }
    for i in 0..n - 1 {
        let (a, b) = (&words[i], &words[i + 1]);
        if b.len() > 5 || type_of(b).is_some() || a.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let joined = format!("{a}{b}");
        let is_type = type_of(&joined).is_some_and(|t| t.pos == Pos::Anywhere) || misspelt(&joined).is_some();
        // `St reet`: an abbreviation is joined only into a whole type word
        // as typed (`Circuit N` is not a misspelt `Circuitn`).
        if type_of(a).is_some() && !type_of(&joined).is_some_and(|t| t.pos == Pos::Anywhere) {
            continue;
        }
        let last = i + 2 == n;
        let compound = last
            && a.len() >= 3
            && split_glued(&joined, splits_compounds(country))
                .is_some_and(|(stem, _)| stem.len() >= 3 && stem.len() < a.len());
        if is_type || compound {
            words[i] = joined;
            words.remove(i + 1);
            return;
        }
    }
}

/// Takes the street type out of the name tokens and returns its id (0:
/// none). The last token if it is a type word (exactly, misspelt, or
/// abbreviated outside the list), else a leading one (`Rue`, `Avenue`),
/// else a type glued to the last token (`Millerstreet`, in every country;
/// compounds such as `Kerkstraat` where the country builds them). A name of
/// one word keeps it: `Park` alone is a name, not a type.
fn take_type(folded: &mut Vec<String>, country: &str) -> u8 {
    let n = folded.len();
    // `Am Garten`, `Im Berg`, `An der Kirche`: after a preposition the last
    // word is the name, unless it carries a type (`An der Hauptstraße`).
    let prepositional = n >= 2 && PREPOSITIONS.contains(&folded[0].as_str());
    if n >= 2 && !prepositional {
        if let Some(t) = type_of(&folded[n - 1]) {
            folded.pop();
            return t.id;
        }
        if let Some(t) = type_of(&folded[0]).filter(|t| t.pos != Pos::End && leads(t.id)) {
            folded.remove(0);
            return t.id;
        }
        if let Some(id) = tolerant_type(&folded[n - 1]) {
            folded.pop();
            return id;
        }
        if let Some(id) = misspelt_leading(&folded[0]) {
            folded.remove(0);
            return id;
        }
    }
    if let Some(last) = folded.last_mut() {
        if let Some((stem, id)) = split_glued(last, splits_compounds(country)) {
            *last = stem;
            return id;
        }
    }
    // `RueLopez`, `Avenuepascal`: a leading type glued to the name, where
    // types lead.
    if matches!(country, "FR" | "BE" | "CH" | "LU" | "") {
        if let Some((id, rest)) = folded.first().and_then(|w| split_leading_glued(w)) {
            folded[0] = rest;
            return id;
        }
    }
    0
}

fn split_leading_glued(word: &str) -> Option<(u8, String)> {
    vocab::TYPE_WORDS.iter().find_map(|(w, _, pos)| {
        let t = type_of(w)?;
        let rest = word.strip_prefix(w)?;
        (*pos == Pos::Anywhere && leads(t.id) && w.len() >= 3 && rest.len() >= 3).then(|| (t.id, rest.to_owned()))
    })
}

/// Words that open a street named after a place (`Am Markt`, `Op de
/// Berg`).
const PREPOSITIONS: &[&str] = &[
    "am", "im", "an", "auf", "zum", "zur", "beim", "unter", "hinter", "vor", "uber", "bei", "in", "aan", "op", "bij",
    "achter", "over", "langs",
];

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

#[cfg(test)]
mod tests;
