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

/// Local names and everyday aliases that the ISO tables do not carry. Keys are
/// folded the same way as the input: ASCII, lower case, letters only.
const ALIASES: &[(&str, &str)] = &[
    ("nederland", "NL"),
    ("holland", "NL"),
    ("thenetherlands", "NL"),
    ("paysbas", "NL"),
    ("niederlande", "NL"),
    ("deutschland", "DE"),
    ("brd", "DE"),
    ("bundesrepublikdeutschland", "DE"),
    ("allemagne", "DE"),
    ("duitsland", "DE"),
    ("germany", "DE"),
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("svizzera", "CH"),
    ("switzerland", "CH"),
    ("osterreich", "AT"),
    ("oesterreich", "AT"),
    ("austria", "AT"),
    ("belgie", "BE"),
    ("belgique", "BE"),
    ("belgien", "BE"),
    ("belgium", "BE"),
    ("danmark", "DK"),
    ("denmark", "DK"),
    ("uk", "GB"),
    ("gb", "GB"),
    ("greatbritain", "GB"),
    ("unitedkingdom", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northernireland", "GB"),
    ("britain", "GB"),
    ("usa", "US"),
    ("us", "US"),
    ("america", "US"),
    ("unitedstates", "US"),
    ("unitedstatesofamerica", "US"),
    ("france", "FR"),
    ("frankrijk", "FR"),
    ("frankreich", "FR"),
    ("espana", "ES"),
    ("spanje", "ES"),
    ("spanien", "ES"),
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
    ("australia", "AU"),
    ("oz", "AU"),
    ("canada", "CA"),
    ("newzealand", "NZ"),
    ("aotearoa", "NZ"),
];

fn fold(input: &str) -> String {
    deunicode::deunicode(input).chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

impl Country {
    /// Recognises an ISO alpha-2/alpha-3/numeric code, an English name, a
    /// local name or a common alias (`Holland`, `BRD`, `U.S.A.`, `Schweiz`).
    pub fn parse(input: &str) -> Result<Self, CountryError> {
        let folded = fold(input.trim());
        if folded.is_empty() {
            return Err(CountryError::Empty);
        }
        if let Some((_, code)) = ALIASES.iter().find(|(alias, _)| *alias == folded) {
            return Ok(Self((*code).to_owned()));
        }
        if let Ok(c) = celes::Country::from_str(&folded) {
            return Ok(Self(c.alpha2.to_owned()));
        }
        if let Ok(c) = celes::Country::from_alias(&folded) {
            return Ok(Self(c.alpha2.to_owned()));
        }
        // celes keys long names without spaces but some with underscores.
        if let Ok(c) = celes::Country::from_name(input.trim()) {
            return Ok(Self(c.alpha2.to_owned()));
        }
        Err(CountryError::Unknown)
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
        ] {
            assert_eq!(Country::parse(input).map(|c| c.0), Ok(code.to_owned()), "{input}");
        }
    }

    #[test]
    fn rejects_empty_and_unknown() {
        assert_eq!(Country::parse("   "), Err(CountryError::Empty));
        assert_eq!(Country::parse("Atlantis"), Err(CountryError::Unknown));
        assert_eq!(Country::parse("..."), Err(CountryError::Empty));
    }
}
