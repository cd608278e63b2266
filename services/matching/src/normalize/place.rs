//! Countries and towns: ISO codes, exonyms and local spellings.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::text::{fold_word, folded_words, to_ascii_lower};

/// Canonical country: ISO alpha-2 upper case. Common names and `UK` are
/// tolerated because forms get pasted from elsewhere; anything else is kept
/// (folded, upper-cased, capped) so two equal spellings still agree.
pub(crate) fn canonical_country(input: &str) -> String {
    let folded = to_ascii_lower(input);
    let words: Vec<&str> = folded.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let joined = words.join(" ");
    let code = match joined.as_str() {
        "" => return String::new(),
        "uk" | "united kingdom" | "great britain" | "england" | "scotland" | "wales" => "GB",
        "netherlands" | "the netherlands" | "nederland" | "holland" | "nld" => "NL",
        "germany" | "deutschland" | "deu" => "DE",
        "belgium" | "belgie" | "belgique" | "belgien" | "bel" => "BE",
        "usa" | "united states" | "united states of america" => "US",
        "france" | "fra" => "FR",
        "austria" | "osterreich" | "oesterreich" | "aut" => "AT",
        "switzerland" | "schweiz" | "suisse" | "svizzera" | "che" => "CH",
        "denmark" | "danmark" | "dnk" => "DK",
        "australia" | "aus" => "AU",
        other => {
            let mut s: String = other.chars().filter(|c| c.is_ascii_alphanumeric()).take(16).collect();
            s.make_ascii_uppercase();
            return s;
        }
    };
    code.to_owned()
}

/// Whether the country writes the house number before the street name.
/// `None` when unknown: the parser then decides from the line itself.
pub(crate) fn number_first(country: &str) -> Option<bool> {
    match country {
        "GB" | "US" | "FR" | "AU" | "IE" | "CA" | "NZ" | "LU" => Some(true),
        "NL" | "DE" | "BE" | "AT" | "CH" | "DK" | "SE" | "NO" | "FI" | "PL" | "CZ" | "IT" | "ES" | "PT" => Some(false),
        _ => None,
    }
}

/// Whether Germanic compound street names (`Kerkstraat`, `Hauptstr`) are
/// split into name + type. Off for English/French so `Broadway` or `Catalan`
/// are not cut into pieces.
pub(crate) fn splits_compounds(country: &str) -> bool {
    !matches!(country, "GB" | "US" | "FR" | "AU" | "IE" | "CA" | "NZ")
}

/// Each row: canonical name first, then other names for the same town.
/// Umlaut transcriptions (München/Muenchen) need no row: folding handles them.
const TOWN_ALIASES: &[&[&str]] = &[
    &["den haag", "'s-gravenhage", "s gravenhage", "gravenhage", "the hague", "la haye"],
    &["'s-hertogenbosch", "den bosch", "hertogenbosch", "bois-le-duc"],
    &["münchen", "munich", "monaco di baviera"],
    &["köln", "cologne", "koeln"],
    &["wien", "vienna", "vienne"],
    &["nürnberg", "nuremberg"],
    &["hannover", "hanover"],
    &["braunschweig", "brunswick"],
    &["aachen", "aix-la-chapelle"],
    &["frankfurt am main", "frankfurt a.m.", "frankfurt a. m.", "frankfurt/main", "frankfurt"],
    &["brussel", "bruxelles", "brussels", "brüssel"],
    &["antwerpen", "anvers", "antwerp"],
    &["gent", "gand", "ghent"],
    &["liège", "luik", "lüttich", "liege"],
    &["brugge", "bruges", "brügge"],
    &["leuven", "louvain"],
    &["mechelen", "malines"],
    &["namur", "namen"],
    &["genève", "geneva", "genf", "ginevra"],
    &["zürich", "zurich", "zurigo"],
    &["basel", "bâle", "basle"],
    &["bern", "berne"],
    &["luzern", "lucerne"],
    &["københavn", "copenhagen", "kopenhagen"],
    &["aarhus", "århus"],
    &["new york", "new york city", "nyc"],
    &["marseille", "marseilles"],
    &["biel/bienne", "biel", "bienne"],
    &["london", "city of london"],
    &["lyon", "lyons"],
];

fn alias_table() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        for row in TOWN_ALIASES {
            let canonical = fold_town_words(row[0]);
            for name in row.iter() {
                map.insert(fold_town_words(name), canonical.clone());
            }
        }
        map
    })
}

fn fold_town_words(input: &str) -> String {
    let words: Vec<String> = folded_words(input)
        .into_iter()
        .map(|w| match w.as_str() {
            "st" | "sankt" | "sint" | "saint" | "skt" => "saint".to_owned(),
            "ste" | "sainte" => "sainte".to_owned(),
            _ => w,
        })
        .collect();
    words.join(" ")
}

/// US state and Australian state/territory codes, as typed after a town
/// (`Dearborn, MI`, `Puyallup WA`, `East Innisfail, QLD`).
const STATES: &[&str] = &[
    "al", "ak", "az", "ar", "ca", "co", "ct", "de", "fl", "ga", "hi", "id", "il", "in", "ia", "ks", "ky", "la", "me",
    "md", "ma", "mi", "mn", "ms", "mo", "mt", "ne", "nv", "nh", "nj", "nm", "ny", "nc", "nd", "oh", "ok", "or", "pa",
    "ri", "sc", "sd", "tn", "tx", "ut", "vt", "va", "wa", "wv", "wi", "wy", "dc", "nsw", "vic", "qld", "sa", "tas",
    "act", "nt",
];

/// The town without a trailing state code, in the countries that have
/// them. A town of one word keeps it (`Wa` could be a name).
pub(crate) fn strip_state<'a>(city: &'a str, country: &str) -> &'a str {
    if !matches!(country, "US" | "AU") {
        return city;
    }
    let trimmed = city.trim_end_matches(|c: char| c.is_whitespace() || c == '.' || c == ',');
    let Some(cut) = trimmed.rfind(|c: char| c.is_whitespace() || c == ',') else { return city };
    let (head, last) = trimmed.split_at(cut);
    let last = last.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
    let head = head.trim_end_matches(|c: char| c.is_whitespace() || c == ',');
    if !head.is_empty() && STATES.contains(&last.to_ascii_lowercase().as_str()) {
        head
    } else {
        city
    }
}

/// Canonical town: folded words with saint-forms unified, then the alias
/// table. Typos are left to the scorer.
pub(crate) fn canonical_city(input: &str) -> String {
    let folded = fold_town_words(input);
    match alias_table().get(&folded) {
        Some(c) => c.clone(),
        None => folded,
    }
}

/// Folded word tokens of a town as typed, used to strip a town pasted at the
/// end of a street line.
pub(crate) fn city_tokens(input: &str) -> Vec<String> {
    to_ascii_lower(input)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Fold a single word the same way as town words (exposed for tests).
#[allow(dead_code)]
pub(crate) fn fold(word: &str) -> String {
    fold_word(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_one_town() {
        assert_eq!(canonical_city("Munich"), canonical_city("München"));
        assert_eq!(canonical_city("Muenchen"), canonical_city("München"));
        assert_eq!(canonical_city("'s-Gravenhage"), canonical_city("Den Haag"));
        assert_eq!(canonical_city("Köln"), canonical_city("Cologne"));
        assert_eq!(canonical_city("Vienna"), canonical_city("WIEN"));
        assert_eq!(canonical_city("St. Gallen"), canonical_city("Sankt Gallen"));
        assert_ne!(canonical_city("Utrecht"), canonical_city("Leiden"));
    }

    #[test]
    fn countries() {
        assert_eq!(canonical_country(" nl "), "NL");
        assert_eq!(canonical_country("UK"), "GB");
        assert_eq!(canonical_country("Deutschland"), "DE");
        assert_eq!(canonical_country(""), "");
    }
}
