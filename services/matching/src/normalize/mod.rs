//! Normalisation: free-text address fields → a structured canonical form.
//!
//! The canonical form is what makes two spellings of one address equal
//! (`Canonical::key`) and what the scorer compares field by field.

mod place;
mod postcode;
mod street;
pub(crate) mod text;

use serde::{Deserialize, Serialize};

pub(crate) use postcode::postcode_area;
use street::type_id_of;
pub(crate) use street::{is_type_variant, qualifiers_differ, type_name};

/// Address fields as received. `country` is expected as ISO alpha-2 but may
/// be empty or a name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressInput<'a> {
    pub street: &'a str,
    pub postal_code: &'a str,
    pub city: &'a str,
    pub country: &'a str,
}

/// Canonical address. All text is folded (lowercase ASCII, spelling
/// variants unified) — it is a matching form, not a display form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Canonical {
    /// Name tokens then the canonical type token, joined by `' '`
    /// (`"kerk street"`, `"saint jans street"`, `"east river street"`).
    pub street: String,
    /// `"14"`, `"5a"`, `"12bis"`, `"14/3"` (number 14, unit 3), `"12/2.tv"`;
    /// `"@rose cottage"` for a house known by its name only.
    pub house_number: String,
    /// Country-aware canonical code (`"1234AB"`, `"SW1A 1AA"`, `"10001"`).
    pub postal_code: String,
    /// Folded town with aliases resolved (`"den haag"`, `"munchen"`).
    pub city: String,
    /// ISO alpha-2 or empty.
    pub country: String,
    /// The house's name (`rose cotage`), also when it has a number. Not
    /// part of the key when a number identifies the house.
    #[serde(default)]
    pub house_name: String,
}

/// Version of the normaliser. Raise it whenever a change can give an
/// address another canonical key: readers then re-normalise forms stored
/// by older versions instead of trusting them (see README, "Stable keys").
pub const NORMALIZER_VERSION: u32 = 2;

/// Whether a canonical house number is a number: not empty and not a
/// house known by its name alone (`@rose cottage`).
pub(crate) fn is_numbered_house(house_number: &str) -> bool {
    !house_number.is_empty() && !house_number.starts_with('@')
}

impl Canonical {
    /// Exact-duplicate key: equal keys mean the same address. The base
    /// address id is derived from it, so its format is part of the
    /// contract: `country|postal_code|city|street|house_number`.
    pub fn key(&self) -> String {
        make_key(&self.country, &self.postal_code, &self.city, &self.street, &self.house_number)
    }

    pub fn has_house_number(&self) -> bool {
        !self.house_number.is_empty()
    }

    /// Whether the house is known by a number, not only by its name
    /// (`@rose cottage`) or not at all.
    pub fn is_numbered(&self) -> bool {
        is_numbered_house(&self.house_number)
    }

    /// The street name without the type word (`"kerk"` of `"kerk street"`).
    pub fn street_name(&self) -> &str {
        split_street(&self.street).0
    }

    /// The canonical street type token (`"street"`, `"road"`…) or `""`.
    pub fn street_type(&self) -> &'static str {
        type_name(split_street(&self.street).1)
    }
}

pub(crate) fn make_key(country: &str, postal: &str, city: &str, street: &str, hn: &str) -> String {
    let mut k = String::with_capacity(country.len() + postal.len() + city.len() + street.len() + hn.len() + 4);
    for (i, part) in [country, postal, city, street, hn].iter().enumerate() {
        if i > 0 {
            k.push('|');
        }
        k.push_str(part);
    }
    k
}

/// Splits `"kerk street"` into (`"kerk"`, type id of street). The type is
/// always the last token and canonical type tokens never occur as folded
/// name tokens at the end (the parser would have taken them as the type),
/// so the structure is recoverable from the string alone.
pub(crate) fn split_street(street: &str) -> (&str, u8) {
    match street.rsplit_once(' ') {
        Some((name, last)) if type_id_of(last) != 0 => (name, type_id_of(last)),
        None if type_id_of(street) != 0 => ("", type_id_of(street)),
        _ => (street, 0),
    }
}

/// Normalises an address. Never panics, whatever the input.
pub fn normalize(input: &AddressInput) -> Canonical {
    let country = place::canonical_country(input.country);
    let (city_field, city_postcode) = split_city_field(input.city, &country);
    let hint = place::city_tokens(&city_field);
    let line = street::parse_street_line(input.street, &country, &hint);

    let raw_postcode = if !input.postal_code.trim().is_empty() {
        input.postal_code.to_owned()
    } else if !city_postcode.is_empty() {
        city_postcode
    } else {
        line.pasted_postcode.clone()
    };
    let raw_city = if !city_field.trim().is_empty() { city_field } else { line.pasted_city.clone() };
    let raw_city = place::strip_state(&raw_city, &country);
    let name = line.name.join(" ");
    let type_word = type_name(line.type_id);
    let street = match (name.is_empty(), type_word.is_empty()) {
        (_, true) => name.clone(),
        (true, false) => type_word.to_owned(),
        (false, false) => format!("{name} {type_word}"),
    };
    // A house known by name only (`Rose Cottage, Church Lane`) is
    // identified by the name where others are by their number; the `@`
    // keeps it from ever equalling a number.
    let house_number = match (line.house.number.is_empty(), line.house_name.is_empty()) {
        (true, false) => format!("@{}", line.house_name),
        _ => line.house.display(),
    };
    Canonical {
        street,
        house_number,
        postal_code: postcode::canonical_postcode(&raw_postcode, &country),
        city: place::canonical_city(raw_city),
        country,
        house_name: line.house_name,
    }
}

/// `3511 LX Utrecht` typed into the town field.
fn split_city_field(city: &str, country: &str) -> (String, String) {
    let toks = text::tokenize(&text::to_ascii_lower(city));
    if let Some((code, used)) = postcode::postcode_at(&toks, 0, country) {
        let rest: Vec<&str> =
            toks[used..].iter().filter(|t| t.is_word() || t.is_num()).map(|t| t.text.as_str()).collect();
        if !rest.is_empty() {
            return (rest.join(" "), code);
        }
    }
    (city.to_owned(), String::new())
}
