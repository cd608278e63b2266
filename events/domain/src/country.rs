//! Countries as subscribers type them, stored as ISO 3166-1 alpha-2 codes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An ISO 3166-1 alpha-2 code, upper case (`NL`, `DE`, `GB`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(try_from = "String", into = "String")]
pub struct Country(String);

/// Why a country could not be recognised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountryError {
    /// Nothing was typed. Ask the subscriber to choose a country.
    #[error("country is required")]
    Empty,
    /// The text is not a code, name or alias we know. Show it back and ask
    /// for the ISO code or the English name.
    #[error("unknown country")]
    Unknown,
}

/// Names the ISO tables do not carry: local and foreign-language names,
/// everyday aliases and the adjectives official names are built from
/// (`French Republic`, `Swiss Confederation`). Keys are folded the same way
/// as the input: ASCII, lower case, letters and digits only.
const ALIASES: &[(&str, &str)] = &[
    // The Netherlands
    ("nederland", "NL"),
    ("nederlanden", "NL"),
    ("holland", "NL"),
    ("thenetherlands", "NL"),
    ("paysbas", "NL"),
    ("niederlande", "NL"),
    ("dutch", "NL"),
    ("nederlandse", "NL"),
    ("neerlandais", "NL"),
    ("niederlandisch", "NL"),
    // Germany
    ("deutschland", "DE"),
    ("brd", "DE"),
    ("allemagne", "DE"),
    ("duitsland", "DE"),
    ("tyskland", "DE"),
    ("germany", "DE"),
    ("german", "DE"),
    ("duitse", "DE"),
    ("deutsche", "DE"),
    ("allemande", "DE"),
    // Switzerland
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("svizzera", "CH"),
    ("svizra", "CH"),
    ("switzerland", "CH"),
    ("zwitserland", "CH"),
    ("swiss", "CH"),
    ("schweizerische", "CH"),
    ("helvetica", "CH"),
    ("helvetia", "CH"),
    ("zwitserse", "CH"),
    // Austria
    ("osterreich", "AT"),
    ("oesterreich", "AT"),
    ("austria", "AT"),
    ("autriche", "AT"),
    ("oostenrijk", "AT"),
    ("ostrig", "AT"),
    ("austrian", "AT"),
    // Belgium
    ("belgie", "BE"),
    ("belgique", "BE"),
    ("belgien", "BE"),
    ("belgium", "BE"),
    ("belgian", "BE"),
    ("belgische", "BE"),
    // Denmark
    ("danmark", "DK"),
    ("denmark", "DK"),
    ("danemark", "DK"),
    ("denemarken", "DK"),
    ("danish", "DK"),
    ("deense", "DK"),
    ("danische", "DK"),
    // United Kingdom
    ("uk", "GB"),
    ("gb", "GB"),
    ("greatbritain", "GB"),
    ("unitedkingdom", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northernireland", "GB"),
    ("britain", "GB"),
    ("british", "GB"),
    ("grootbrittannie", "GB"),
    ("verenigdkoninkrijk", "GB"),
    ("vereinigteskonigreich", "GB"),
    ("royaumeuni", "GB"),
    ("storbritannien", "GB"),
    // United States
    ("usa", "US"),
    ("us", "US"),
    ("america", "US"),
    ("american", "US"),
    ("unitedstates", "US"),
    ("unitedstatesofamerica", "US"),
    ("verenigdestaten", "US"),
    ("verenigdestatenvanamerika", "US"),
    ("vereinigtestaaten", "US"),
    ("etatsunis", "US"),
    ("etatsunisdamerique", "US"),
    // France
    ("france", "FR"),
    ("frankrijk", "FR"),
    ("frankreich", "FR"),
    ("frankrig", "FR"),
    ("french", "FR"),
    ("francaise", "FR"),
    ("franse", "FR"),
    ("franzosische", "FR"),
    // Australia
    ("australia", "AU"),
    ("australie", "AU"),
    ("australien", "AU"),
    ("oz", "AU"),
    ("australian", "AU"),
    // Elsewhere in Europe and the English-speaking world
    ("espana", "ES"),
    ("spanje", "ES"),
    ("spanien", "ES"),
    ("espagne", "ES"),
    ("italia", "IT"),
    ("italie", "IT"),
    ("italien", "IT"),
    ("sverige", "SE"),
    ("norge", "NO"),
    ("suomi", "FI"),
    ("polska", "PL"),
    ("portugal", "PT"),
    ("eire", "IE"),
    ("ireland", "IE"),
    ("luxemburg", "LU"),
    ("letzebuerg", "LU"),
    ("cesko", "CZ"),
    ("czechia", "CZ"),
    ("magyarorszag", "HU"),
    ("hellas", "GR"),
    ("ellada", "GR"),
    ("canada", "CA"),
    ("newzealand", "NZ"),
    ("aotearoa", "NZ"),
];

/// International vehicle registration codes, as people write them on
/// envelopes (`D-12345`, `F`): recognised only as the whole input.
const VEHICLE_CODES: &[(&str, &str)] =
    &[("a", "AT"), ("b", "BE"), ("d", "DE"), ("f", "FR"), ("aus", "AU"), ("ch", "CH"), ("dk", "DK"), ("nl", "NL")];

/// Words of official state names that name no country on their own
/// (`Federal Republic of`, `Kingdom of`, `Commonwealth of`, and their Dutch,
/// German, French and Danish forms), and the small words between them.
const STATE_WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "de",
    "der",
    "des",
    "den",
    "d",
    "du",
    "la",
    "le",
    "l",
    "van",
    "von",
    "y",
    "et",
    "und",
    "en",
    "republic",
    "republik",
    "republique",
    "republiek",
    "republica",
    "repubblica",
    "federal",
    "federale",
    "federative",
    "federaal",
    "federation",
    "bundesrepublik",
    "kingdom",
    "koninkrijk",
    "konigreich",
    "koenigreich",
    "royaume",
    "kongeriget",
    "commonwealth",
    "confederation",
    "confederatio",
    "confederazione",
    "eidgenossenschaft",
    "state",
    "states",
    "etat",
    "staat",
    "grand",
    "duchy",
    "grandduche",
];

/// Folds text for lookup: ASCII, lower case, letters and digits only.
fn fold(input: &str) -> String {
    deunicode::deunicode(input).chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// The folded words of `input`, split at anything that is not a letter or
/// digit (so `d'Allemagne` is `d`, `allemagne`).
fn words(input: &str) -> Vec<String> {
    deunicode::deunicode(input)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The country `folded` names exactly: an alias, an ISO code or an
/// English name.
fn lookup(folded: &str) -> Option<String> {
    if let Some((_, code)) = ALIASES.iter().find(|(alias, _)| *alias == folded) {
        return Some((*code).to_owned());
    }
    if let Ok(c) = celes::Country::from_str(folded) {
        return Some(c.alpha2.to_owned());
    }
    celes::Country::from_alias(folded).ok().map(|c| c.alpha2.to_owned())
}

/// An official or long name: what is left once the state words are
/// dropped names the country (`Federal Republic of Germany`, `Koninkrijk
/// der Nederlanden`, `French Republic`, `United Kingdom of Great Britain
/// and Northern Ireland`). Tries the remaining words together, then each
/// run of them from the left, longest first.
fn official(input: &str) -> Option<String> {
    let left: Vec<String> = words(input).into_iter().filter(|w| !STATE_WORDS.contains(&w.as_str())).collect();
    if left.is_empty() {
        return None;
    }
    for start in 0..left.len() {
        for end in (start + 1..=left.len()).rev() {
            let joined: String = left[start..end].concat();
            // Single letters and two-letter words are codes only when typed
            // alone; inside a long name they are noise.
            if joined.len() < 3 {
                continue;
            }
            if let Some(code) = lookup(&joined) {
                return Some(code);
            }
        }
    }
    None
}

impl Country {
    /// Recognises an ISO alpha-2/alpha-3/numeric code, a vehicle code
    /// (`D`, `F`), an English, local or foreign-language name, a common
    /// alias (`Holland`, `BRD`, `U.S.A.`, `Schweiz`) or an official long
    /// name (`Bundesrepublik Deutschland`, `Koninkrijk der Nederlanden`,
    /// `French Republic`).
    pub fn parse(input: &str) -> Result<Self, CountryError> {
        let folded = fold(input.trim());
        if folded.is_empty() {
            return Err(CountryError::Empty);
        }
        if let Some((_, code)) = VEHICLE_CODES.iter().find(|(v, _)| *v == folded) {
            return Ok(Self((*code).to_owned()));
        }
        if let Some(code) = lookup(&folded) {
            return Ok(Self(code));
        }
        // celes keys long names without spaces but some with underscores.
        if let Ok(c) = celes::Country::from_name(input.trim()) {
            return Ok(Self(c.alpha2.to_owned()));
        }
        official(input).map(Self).ok_or(CountryError::Unknown)
    }

    /// The alpha-2 code.
    pub fn code(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Country {
    type Error = CountryError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        // Stored values are codes already; accept anything `parse` accepts so
        // that hand-edited or legacy payloads still load.
        Country::parse(&value)
    }
}

impl From<Country> for String {
    fn from(c: Country) -> Self {
        c.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_codes_names_and_aliases() {
        for (input, code) in [
            ("NL", "NL"),
            ("nl", "NL"),
            ("Netherlands", "NL"),
            ("Nederland", "NL"),
            ("Holland", "NL"),
            ("The Netherlands", "NL"),
            ("Deutschland", "DE"),
            ("BRD", "DE"),
            ("Germany", "DE"),
            ("DEU", "DE"),
            ("UK", "GB"),
            ("England", "GB"),
            ("United Kingdom", "GB"),
            ("U.S.A.", "US"),
            ("United States", "US"),
            ("Schweiz", "CH"),
            ("Österreich", "AT"),
            ("België", "BE"),
            ("  France ", "FR"),
            ("Danmark", "DK"),
            ("Australia", "AU"),
            ("D", "DE"),
            ("F", "FR"),
            ("A", "AT"),
        ] {
            assert_eq!(Country::parse(input).map(|c| c.0), Ok(code.to_owned()), "{input}");
        }
    }

    #[test]
    fn official_and_long_names_are_countries() {
        for (input, code) in [
            ("Bundesrepublik Deutschland", "DE"),
            ("Federal Republic of Germany", "DE"),
            ("République fédérale d'Allemagne", "DE"),
            ("Koninkrijk der Nederlanden", "NL"),
            ("Kingdom of the Netherlands", "NL"),
            ("French Republic", "FR"),
            ("République française", "FR"),
            ("Republic of Austria", "AT"),
            ("Republik Österreich", "AT"),
            ("Swiss Confederation", "CH"),
            ("Schweizerische Eidgenossenschaft", "CH"),
            ("Confédération suisse", "CH"),
            ("Kingdom of Belgium", "BE"),
            ("Royaume de Belgique", "BE"),
            ("Kongeriget Danmark", "DK"),
            ("United Kingdom of Great Britain and Northern Ireland", "GB"),
            ("Commonwealth of Australia", "AU"),
            ("United States of America", "US"),
            ("Verenigde Staten van Amerika", "US"),
            ("Frankrijk", "FR"),
            ("Dänemark", "DK"),
            ("Australië", "AU"),
        ] {
            assert_eq!(Country::parse(input).map(|c| c.0), Ok(code.to_owned()), "{input}");
        }
    }

    #[test]
    fn state_words_alone_are_no_country() {
        for input in ["Republic", "Kingdom of the", "Federal Republic", "Grand Duchy"] {
            assert_eq!(Country::parse(input), Err(CountryError::Unknown), "{input}");
        }
    }

    #[test]
    fn rejects_empty_and_unknown() {
        assert_eq!(Country::parse("   "), Err(CountryError::Empty));
        assert_eq!(Country::parse("Atlantis"), Err(CountryError::Unknown));
        assert_eq!(Country::parse("..."), Err(CountryError::Empty));
    }
}
