//! What a subscriber submits, and the rules it must pass before it becomes a
//! command. Every field is checked, and every failure is reported, so a form
//! can show all its errors at once.

pub use super::email::SubscriberEmail;
use super::text::{checked_line, cleaned_line};
use crate::address::PostalAddress;
use crate::country::{Country, CountryError};
use crate::personal_data::PersonalData;
use serde::{Deserialize, Serialize};

/// The raw request as it arrives over JSON or a form. Unknown fields are
/// ignored; missing ones are empty strings so that they can be reported by
/// name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SubscriptionForm {
    pub name: String,
    pub email: String,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    pub country: String,
}

/// One field that did not pass, as shown to the subscriber.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// A request that passed every rule.
#[derive(Clone, PartialEq, Eq)]
pub struct ValidSubscription {
    pub personal: PersonalData,
    pub address: PostalAddress,
    pub country_as_typed: String,
}

/// A subscriber's name: 1–120 characters after trimming that pass the line
/// rule (`text`): no control characters, text-direction controls or line
/// separators, something visible. Holding one means the rules were checked.
#[derive(Clone, PartialEq, Eq)]
pub struct SubscriberName(String);

// Personal data must not reach logs through a stray `{:?}`.
impl std::fmt::Debug for SubscriberName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubscriberName(..)")
    }
}

/// The longest name, street and city, in characters.
pub const MAX_LINE: usize = 120;
/// The longest postal code, in characters.
pub const MAX_POSTAL_CODE: usize = 15;
/// The longest country as typed, in characters.
pub const MAX_COUNTRY: usize = 60;

fn collect<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

impl SubscriberName {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        checked_line("name", value, MAX_LINE).map(Self)
    }

    /// A name stored before the line rule existed, made fit for a greeting
    /// and a `To` header; `None` if nothing printable is left.
    pub fn from_stored(value: &str) -> Option<Self> {
        Self::parse(value).ok().or_else(|| Self::parse(&cleaned_line(value)).ok())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl SubscriptionForm {
    /// Applies every rule; returns all failures, in field order.
    pub fn validate(&self) -> Result<ValidSubscription, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = collect(SubscriberName::parse(&self.name), &mut errors);
        let email = collect(SubscriberEmail::parse(&self.email), &mut errors);
        let street = collect(checked_line("street", &self.street, MAX_LINE), &mut errors);
        let postal_code = collect(checked_line("postal_code", &self.postal_code, MAX_POSTAL_CODE), &mut errors);
        let city = collect(checked_line("city", &self.city, MAX_LINE), &mut errors);
        let country_as_typed = self.country.trim().to_owned();
        let country = match checked_line("country", &self.country, MAX_COUNTRY).map(|c| Country::parse(&c)) {
            Err(e) => {
                errors.push(e);
                None
            }
            Ok(Ok(c)) => Some(c),
            Ok(Err(CountryError::Empty)) => {
                errors.push(FieldError { field: "country", message: "is required".into() });
                None
            }
            Ok(Err(CountryError::Unknown)) => {
                errors.push(FieldError {
                    field: "country",
                    message: "is not a country we recognise; use its name or ISO code, e.g. NL".into(),
                });
                None
            }
        };
        match (name, email, street, postal_code, city, country) {
            (Some(name), Some(email), Some(street), Some(postal_code), Some(city), Some(country)) => {
                Ok(ValidSubscription {
                    personal: PersonalData::new(&name, &email),
                    address: PostalAddress { street, postal_code, city, country },
                    country_as_typed,
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> SubscriptionForm {
        SubscriptionForm {
            name: " Ada Lovelace ".into(),
            email: "ada@example.org".into(),
            street: "Kerkstraat 12 ".into(),
            postal_code: "3511 LX".into(),
            city: "Utrecht".into(),
            country: "Nederland".into(),
        }
    }

    fn fields(form: SubscriptionForm) -> Vec<&'static str> {
        form.validate().err().unwrap_or_default().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_good_request_is_trimmed_and_normalised() {
        let v = good().validate().expect("valid");
        assert_eq!(v.personal.name, "Ada Lovelace");
        assert_eq!(v.address.street, "Kerkstraat 12");
        assert_eq!(v.address.country.code(), "NL");
        assert_eq!(v.country_as_typed, "Nederland");
    }

    #[test]
    fn every_empty_field_is_reported_by_name() {
        assert_eq!(
            fields(SubscriptionForm::default()),
            vec!["name", "email", "street", "postal_code", "city", "country"]
        );
        assert_eq!(fields(SubscriptionForm { name: "   ".into(), ..good() }), vec!["name"]);
    }

    #[test]
    fn length_limits_count_characters_not_bytes() {
        assert!(fields(SubscriptionForm { name: "é".repeat(120), ..good() }).is_empty());
        assert_eq!(fields(SubscriptionForm { name: "é".repeat(121), ..good() }), vec!["name"]);
        assert_eq!(fields(SubscriptionForm { street: "s".repeat(121), ..good() }), vec!["street"]);
        assert_eq!(fields(SubscriptionForm { city: "c".repeat(121), ..good() }), vec!["city"]);
        assert!(fields(SubscriptionForm { postal_code: "1".repeat(15), ..good() }).is_empty());
        assert_eq!(fields(SubscriptionForm { postal_code: "1".repeat(16), ..good() }), vec!["postal_code"]);
    }

    #[test]
    fn emails_must_be_valid_and_short_enough() {
        for bad in ["ada", "ada@", "@example.org", "ada @example.org", "ada@localhost"] {
            assert_eq!(fields(SubscriptionForm { email: bad.into(), ..good() }), vec!["email"], "{bad}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert_eq!(fields(SubscriptionForm { email: long, ..good() }), vec!["email"]);
        assert!(fields(SubscriptionForm { email: "a.b+tag@sub.example.co.uk".into(), ..good() }).is_empty());
    }

    #[test]
    fn countries_are_recognised_or_reported() {
        assert!(fields(SubscriptionForm { country: "U.S.A.".into(), ..good() }).is_empty());
        assert_eq!(fields(SubscriptionForm { country: "Narnia".into(), ..good() }), vec!["country"]);
    }

    #[test]
    fn the_newtypes_hold_only_checked_values() {
        assert_eq!(SubscriberName::parse("  Ada  ").map(|n| n.as_str().to_owned()), Ok("Ada".to_owned()));
        assert_eq!(SubscriberName::parse(" ").map_err(|e| e.field), Err("name"));
        assert_eq!(
            SubscriberEmail::parse(" ada@example.org ").map(|e| e.as_str().to_owned()),
            Ok("ada@example.org".into())
        );
        assert_eq!(SubscriberEmail::parse("ada@localhost").map_err(|e| e.field), Err("email"));
        // Neither shows its value in a log line.
        let name = SubscriberName::parse("Ada Lovelace").expect("valid");
        assert!(!format!("{name:?}").contains("Ada"));
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(fields(SubscriptionForm { city: "Utre\u{0}cht".into(), ..good() }), vec!["city"]);
    }

    #[test]
    fn every_line_refuses_spoofing_and_invisible_values_naming_the_field() {
        let spoofed = "Ada \u{202E}txt.exe";
        let form = SubscriptionForm {
            name: spoofed.into(),
            street: "Kerkstraat\u{2066} 12".into(),
            postal_code: "\u{200B}\u{200B}".into(),
            city: "Utrecht\u{2028}Bcc: x".into(),
            country: "N\u{202D}L".into(),
            ..good()
        };
        assert_eq!(fields(form), vec!["name", "street", "postal_code", "city", "country"]);
        let e = SubscriberName::parse("\u{200B}\u{FEFF}").expect_err("invisible");
        assert_eq!((e.field, e.message.as_str()), ("name", "must contain visible characters"));
    }

    #[test]
    fn stored_names_from_before_the_rule_are_cleaned() {
        assert_eq!(
            SubscriberName::from_stored("Ada\u{202E} Lovelace").map(|n| n.as_str().to_owned()),
            Some("Ada Lovelace".into())
        );
        assert!(SubscriberName::from_stored("\u{200B}").is_none());
    }
}
