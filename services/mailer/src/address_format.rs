//! The delivery address laid out the way the destination country writes it.
//!
//! The subscriber should recognise their own address at a glance, or spot
//! what is wrong with it, so the lines follow local convention: postal code
//! before the city on the Continent, after it in North America and
//! Australia, on a line of its own in the UK and Ireland. The street line
//! is curated and already carries the house number where locals put it.
//! The country goes last, named in the language of the mail.

use crate::language::Language;
use masthead_domain::{AddressLines, Country};

/// How postal code and city share the lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `3511 LX Utrecht` — most of Europe.
    PostcodeCity,
    /// `New York 10001` — the US, Canada, Australia, New Zealand (the state,
    /// when curated, is part of the city line).
    CityPostcode,
    /// `London` then `SW1A 1AA` — the UK and Ireland.
    CityThenPostcodeLine,
}

fn layout(country: Option<&Country>) -> Layout {
    match country.map(Country::code) {
        Some("US" | "CA" | "AU" | "NZ") => Layout::CityPostcode,
        Some("GB" | "IE" | "IM" | "JE" | "GG") => Layout::CityThenPostcodeLine,
        _ => Layout::PostcodeCity,
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|s| !s.is_empty())
}

/// The address as display lines, first to last. Missing fields (legacy
/// imports) are left out rather than shown as blanks.
pub fn format_address(address: &AddressLines, language: Language) -> Vec<String> {
    let mut lines: Vec<String> =
        address.street.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let postal_code = non_empty(address.postal_code.as_deref());
    let city = non_empty(address.city.as_deref());
    let joined = |a: &str, b: &str| format!("{a} {b}");
    match (layout(address.country.as_ref()), postal_code, city) {
        (_, None, None) => {}
        (_, Some(only), None) | (_, None, Some(only)) => lines.push(only.to_owned()),
        (Layout::PostcodeCity, Some(p), Some(c)) => lines.push(joined(p, c)),
        (Layout::CityPostcode, Some(p), Some(c)) => lines.push(joined(c, p)),
        (Layout::CityThenPostcodeLine, Some(p), Some(c)) => {
            lines.push(c.to_owned());
            lines.push(p.to_owned());
        }
    }
    if let Some(country) = &address.country {
        lines.push(country_name(country, language).to_owned());
    }
    lines
}

/// Country names in the languages we write mail in. Countries outside the
/// table show their ISO code, which every postal service understands.
pub fn country_name(country: &Country, language: Language) -> &str {
    let code = country.code();
    COUNTRY_NAMES
        .iter()
        .find(|(c, ..)| *c == code)
        .map(|(_, en, nl, de)| match language {
            Language::English => *en,
            Language::Dutch => *nl,
            Language::German => *de,
        })
        .unwrap_or(code)
}

/// (code, English, Dutch, German)
const COUNTRY_NAMES: &[(&str, &str, &str, &str)] = &[
    ("NL", "Netherlands", "Nederland", "Niederlande"),
    ("BE", "Belgium", "België", "Belgien"),
    ("LU", "Luxembourg", "Luxemburg", "Luxemburg"),
    ("DE", "Germany", "Duitsland", "Deutschland"),
    ("AT", "Austria", "Oostenrijk", "Österreich"),
    ("CH", "Switzerland", "Zwitserland", "Schweiz"),
    ("LI", "Liechtenstein", "Liechtenstein", "Liechtenstein"),
    ("DK", "Denmark", "Denemarken", "Dänemark"),
    ("SE", "Sweden", "Zweden", "Schweden"),
    ("NO", "Norway", "Noorwegen", "Norwegen"),
    ("FI", "Finland", "Finland", "Finnland"),
    ("GB", "United Kingdom", "Verenigd Koninkrijk", "Vereinigtes Königreich"),
    ("IE", "Ireland", "Ierland", "Irland"),
    ("FR", "France", "Frankrijk", "Frankreich"),
    ("ES", "Spain", "Spanje", "Spanien"),
    ("PT", "Portugal", "Portugal", "Portugal"),
    ("IT", "Italy", "Italië", "Italien"),
    ("GR", "Greece", "Griekenland", "Griechenland"),
    ("PL", "Poland", "Polen", "Polen"),
    ("CZ", "Czechia", "Tsjechië", "Tschechien"),
    ("HU", "Hungary", "Hongarije", "Ungarn"),
    ("US", "United States", "Verenigde Staten", "Vereinigte Staaten"),
    ("CA", "Canada", "Canada", "Kanada"),
    ("AU", "Australia", "Australië", "Australien"),
    ("NZ", "New Zealand", "Nieuw-Zeeland", "Neuseeland"),
    ("SR", "Suriname", "Suriname", "Suriname"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(street: &str, postal_code: &str, city: &str, country: &str, language: Language) -> Vec<String> {
        let a = AddressLines {
            street: street.into(),
            postal_code: Some(postal_code.into()),
            city: Some(city.into()),
            country: Some(Country::parse(country).expect("known country")),
        };
        format_address(&a, language)
    }

    #[test]
    fn continental_addresses_put_the_postal_code_before_the_city() {
        assert_eq!(
            lines("Kerkstraat 12", "3511 LX", "Utrecht", "NL", Language::Dutch),
            ["Kerkstraat 12", "3511 LX Utrecht", "Nederland"]
        );
        assert_eq!(
            lines("Hauptstraße 5", "10115", "Berlin", "DE", Language::German),
            ["Hauptstraße 5", "10115 Berlin", "Deutschland"]
        );
        assert_eq!(
            lines("Vesterbrogade 3", "1620", "København V", "DK", Language::English),
            ["Vesterbrogade 3", "1620 København V", "Denmark"]
        );
    }

    #[test]
    fn british_postcodes_get_their_own_line() {
        assert_eq!(
            lines("10 Downing Street", "SW1A 2AA", "London", "GB", Language::English),
            ["10 Downing Street", "London", "SW1A 2AA", "United Kingdom"]
        );
    }

    #[test]
    fn north_american_postal_codes_follow_the_city() {
        assert_eq!(
            lines("14 East River Street", "10001", "New York, NY", "US", Language::English),
            ["14 East River Street", "New York, NY 10001", "United States"]
        );
    }

    #[test]
    fn the_country_is_named_in_the_language_of_the_mail() {
        assert_eq!(
            lines("1 Rue X", "75001", "Paris", "FR", Language::Dutch).last().map(String::as_str),
            Some("Frankrijk")
        );
        assert_eq!(
            lines("Via Roma 1", "00100", "Roma", "IT", Language::German).last().map(String::as_str),
            Some("Italien")
        );
        assert_eq!(lines("Calle 1", "1000", "Ciudad", "AR", Language::English).last().map(String::as_str), Some("AR"));
    }

    #[test]
    fn missing_legacy_fields_are_left_out() {
        let a = AddressLines {
            street: " Dorpsweg 1 \n".into(),
            postal_code: None,
            city: Some("Ergens".into()),
            country: None,
        };
        assert_eq!(format_address(&a, Language::Dutch), ["Dorpsweg 1", "Ergens"]);
    }
}
