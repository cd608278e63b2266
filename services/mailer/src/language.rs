//! Which language a confirmation is written in.
//!
//! The language follows the *delivery* country, not the browser or the
//! country typed in the form: the mail is about where the magazine goes, and
//! the delivery address is the curated truth. Countries with several
//! languages are split by postal code where the split is clean; everything
//! we have no template for falls back to English.

use masthead_domain::{AddressLines, Country};

/// A language we have templates for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    English,
    Dutch,
    German,
}

impl Language {
    /// BCP 47 tag, used for the `Content-Language` header and `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Dutch => "nl",
            Language::German => "de",
        }
    }

    /// The language for a delivery address. Unknown or missing country →
    /// English.
    pub fn for_delivery(address: &AddressLines) -> Self {
        match &address.country {
            Some(country) => Self::for_country(country, address.postal_code.as_deref()),
            None => Language::English,
        }
    }

    /// The language for a country, refined by postal code where a country
    /// speaks more than one of our languages.
    pub fn for_country(country: &Country, postal_code: Option<&str>) -> Self {
        match country.code() {
            "NL" | "SR" => Language::Dutch,
            "DE" | "AT" | "LI" => Language::German,
            "BE" => belgium(postal_code),
            "CH" => switzerland(postal_code),
            _ => Language::English,
        }
    }
}

fn leading_number(postal_code: Option<&str>) -> Option<u32> {
    let digits: String = postal_code?.trim().chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() == 4 {
        digits.parse().ok()
    } else {
        None
    }
}

/// Flanders gets Dutch, the German-speaking community around Eupen and
/// St. Vith gets German. Wallonia and bilingual Brussels (1000–1299) get
/// English: we have no French template, and Dutch would be wrong for half
/// of Brussels.
fn belgium(postal_code: Option<&str>) -> Language {
    match leading_number(postal_code) {
        Some(1500..=3999) | Some(8000..=9999) => Language::Dutch,
        Some(4700..=4799) => Language::German,
        _ => Language::English,
    }
}

/// German-speaking Switzerland gets German; Romandie (1000–2999) and Ticino
/// (6500–6999) get English rather than a language they do not speak.
fn switzerland(postal_code: Option<&str>) -> Language {
    match leading_number(postal_code) {
        Some(1000..=2999) | Some(6500..=6999) => Language::English,
        // Also when the postal code is missing: most Swiss addresses are in
        // German-speaking cantons.
        _ => Language::German,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(country: &str, postal_code: &str) -> Language {
        let c = Country::parse(country).expect("known country");
        Language::for_country(&c, Some(postal_code))
    }

    #[test]
    fn follows_the_delivery_country() {
        assert_eq!(lang("NL", "3511 LX"), Language::Dutch);
        assert_eq!(lang("DE", "10115"), Language::German);
        assert_eq!(lang("AT", "1010"), Language::German);
        assert_eq!(lang("FR", "75001"), Language::English);
        assert_eq!(lang("US", "10001"), Language::English);
    }

    #[test]
    fn belgium_and_switzerland_are_split_by_postal_code() {
        assert_eq!(lang("BE", "2000"), Language::Dutch); // Antwerpen
        assert_eq!(lang("BE", "9000"), Language::Dutch); // Gent
        assert_eq!(lang("BE", "4700"), Language::German); // Eupen
        assert_eq!(lang("BE", "1000"), Language::English); // Brussels
        assert_eq!(lang("BE", "5000"), Language::English); // Namur
        assert_eq!(lang("CH", "8001"), Language::German); // Zürich
        assert_eq!(lang("CH", "1201"), Language::English); // Genève
        assert_eq!(lang("CH", "6900"), Language::English); // Lugano
    }

    #[test]
    fn a_missing_country_falls_back_to_english() {
        let a = AddressLines { street: "Kerkstraat 1".into(), postal_code: None, city: None, country: None };
        assert_eq!(Language::for_delivery(&a), Language::English);
    }
}
