//! Everything on a street line that is not the street: units and flats
//! (`Flat 2`, `Apt 4B`, `U2/21`), care-of lines, and house or building
//! names typed before, after or instead of the street.

use super::*;

/// Words that introduce a unit/apartment/box. Their value goes to the unit.
pub(super) const UNIT_MARKERS: &[&str] = &[
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

/// Words that end a house's name (`Rose Cottage`, `Jordan Lodge`).
const HOUSE_WORDS: &[&str] = &[
    "cottage",
    "cottages",
    "lodge",
    "house",
    "farm",
    "barn",
    "villa",
    "croft",
    "grange",
    "bungalow",
    "farmhouse",
    "manor",
    "hall",
    "mill",
    "oast",
    "rectory",
    "vicarage",
    "stables",
];

/// `The Beeches Hill Drive`, `Rose Cottage Church Lane`: a house name
/// typed before its street without a comma, in a line without any number.
/// A comma is put where the name ends: after `The` and one word, or after
/// a house word in second place.
pub(super) fn separate_house_name(mut toks: Vec<Token>) -> Vec<Token> {
    if toks.iter().any(|t| t.is_num() || t.is(Kind::Comma)) || toks.len() < 4 || !toks.iter().all(Token::is_word) {
        return toks;
    }
    let ends_typed = toks.last().is_some_and(|t| super::word_type(&t.text).is_some());
    let named = toks[0].text == "the" || HOUSE_WORDS.contains(&toks[1].text.as_str());
    if ends_typed && named {
        toks.insert(2, Token { text: ",".into(), kind: Kind::Comma, attached: false });
    }
    toks
}

/// A care-of or for-the-attention-of line (`c/o`, `t.a.v.`, `attn`,
/// `z.H.`, `p/a`): who receives the mail, not where it goes.
pub(super) fn is_care_of(seg: &[Token]) -> bool {
    // `C/- C. Lord` (Australian care-of).
    if seg.len() >= 3 && seg[0].text == "c" && seg[1].is(Kind::Slash) && seg[2].is(Kind::Dash) {
        return true;
    }
    let words: Vec<&str> = seg.iter().filter(|t| t.is_word()).map(|t| t.text.as_str()).take(3).collect();
    matches!(
        words.as_slice(),
        ["c", "o", ..]
            | ["co", ..]
            | ["t", "a", "v", ..]
            | ["tav", ..]
            | ["attn" | "att" | "attention", ..]
            | ["z", "h", ..]
            | ["zhd", ..]
            | ["p", "a", ..]
            | ["care", "of", ..]
            | ["a", "l", "attention", ..]
            | ["chez", ..]
    )
}

/// What a segment other than the street's is: the house number when it is
/// only a number (`Kerkstraat, 12`), a pasted postal code and town, a
/// pasted town, a house or building name, or a floor and side.
pub(super) fn secondary_segment(
    seg: &[Token],
    before: bool,
    number_found: bool,
    country: &str,
    city_hint: &[String],
    out: &mut StreetLine,
) {
    if !number_found && seg[0].is_num() && seg.iter().all(|t| !is_name_word(t)) {
        // `26 A, Watford Close`: a letter beside the number is its suffix.
        let lettered = seg.len() == 2 && seg[1].is_word() && seg[1].text.len() == 1;
        let unit_first = number_first(country).unwrap_or(before);
        let (_, used) = parse_number_group(seg, before && !lettered, unit_first, &mut out.house);
        push_units(&mut out.house.unit, &seg[used..]);
        return;
    }
    if !before {
        if let Some((j, code, used)) = (0..seg.len()).find_map(|j| postcode_at(seg, j, country).map(|(c, u)| (j, c, u)))
        {
            // `…, st. th 6351 Randers`: a floor and side before the code.
            if seg[..j].iter().all(|t| t.is_num() || TAIL_WORDS.contains(&t.text.as_str()) || t.text.len() == 1) {
                push_units(&mut out.house.unit, &seg[..j]);
            }
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
            return;
        }
    }
    let words_only =
        seg.iter().all(|t| t.is_word() || t.is(Kind::Dash) || t.is(Kind::Slash)) && seg.iter().any(is_name_word);
    if words_only {
        let text = words_text(seg);
        let is_town = city_hint.is_empty() || text.split(' ').eq(city_hint.iter().map(String::as_str));
        if !before && is_town {
            if out.pasted_city.is_empty() && city_hint.is_empty() {
                out.pasted_city = text;
            }
        } else if out.house_name.is_empty() {
            out.house_name = house_name(seg);
        }
        return;
    }
    if before {
        // A building name with a number in it, and the like: no identity.
        return;
    }
    // `Villa 183`, `Lot 4`: the number is the unit; the word before it
    // describes it, and a typo there (`Vill a 183`) is not another unit.
    let from = seg.iter().position(Token::is_num).unwrap_or(0);
    push_units(&mut out.house.unit, &seg[from..]);
}

/// A house name's matching form: folded words without articles.
pub(super) fn house_name(seg: &[Token]) -> String {
    seg.iter()
        .filter(|t| {
            t.is_word() && !matches!(t.text.as_str(), "the" | "de" | "het" | "le" | "la" | "les" | "die" | "das")
        })
        .map(|t| fold_word(&t.text))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn words_text(toks: &[Token]) -> String {
    toks.iter().filter(|t| t.is_word() || t.is_num()).map(|t| t.text.as_str()).collect::<Vec<_>>().join(" ")
}

/// Unit parts after the number (`2. tv`, `st. t.h.`, `4. m.f.`): letters
/// typed with dots are one word (`t.h.` = `th`).
pub(super) fn push_units(unit: &mut Vec<String>, toks: &[Token]) {
    let mut letters = String::new();
    for t in toks {
        if t.is_word() && t.text.len() == 1 {
            letters.push_str(&t.text);
            continue;
        }
        if !letters.is_empty() {
            unit.push(std::mem::take(&mut letters));
        }
        push_unit(unit, t);
    }
    if !letters.is_empty() {
        unit.push(letters);
    }
}

fn push_unit(unit: &mut Vec<String>, t: &Token) {
    if t.is_word() || t.is_num() {
        let v = t.text.trim_start_matches('0');
        unit.push(if v.is_empty() { "0".to_owned() } else { v.to_owned() });
    }
}

/// Removes `Apt 4B`, `#5`, `bus 3`, `Nr.` and records the unit value.
pub(super) fn take_unit_markers(toks: Vec<Token>, unit: &mut Vec<String>) -> Vec<Token> {
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let mut is_marker = t.is(Kind::Hash) || (t.is_word() && UNIT_MARKERS.contains(&t.text.as_str()));
        // `U2/21 Smith St`, `Smith Street U2/21` (AU): unit 2 of number 21.
        is_marker |= t.text == "u"
            && toks.get(i + 1).is_some_and(|n| n.is_num() && n.attached)
            && toks.get(i + 2).is_some_and(|s| s.is(Kind::Slash));
        // `Flat No. 6`: the number marker belongs to the unit.
        if is_marker
            && toks.get(i + 1).is_some_and(|w| w.is_word() && NUMBER_MARKERS.contains(&w.text.as_str()))
            && toks.get(i + 2).is_some_and(Token::is_num)
        {
            i += 1;
        }
        let next_num = toks.get(i + 1).filter(|n| n.is_num());
        if is_marker && next_num.is_some() {
            // `11/Top 3`: the slash introduced the marker.
            if out.last().is_some_and(|s: &Token| s.is(Kind::Slash)) {
                out.pop();
            }
        }
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
