//! The one email rule, shared by intake and the mailer: an address intake
//! accepts is one the mailer can send to.
//!
//! Accepted: `local@domain` where
//! - the local part is an RFC 5322 *dot-atom* of ASCII characters (letters,
//!   digits and ``! # $ % & ' * + - / = ? ^ _ ` { | } ~``, dots between
//!   them), at most 64 characters. Quoted local parts (`"a..b"@…`) and
//!   comments are refused: mail servers handle them inconsistently, and
//!   a subscriber never needs them. Non-ASCII local parts need SMTPUTF8 on
//!   every server on the way, which the mailer cannot know in advance, so
//!   they are refused too.
//! - the domain is a host name with at least two labels whose last label
//!   is not numeric. Internationalised domains are accepted and converted
//!   to their ASCII (punycode) form with UTS #46 (IDNA 2008), which is what
//!   the mailer sends. Address literals (`[127.0.0.1]`) are refused.
//! - the ASCII form is at most 254 characters (RFC 5321's path limit).

use super::request::FieldError;
use super::text::{is_bidi_control, is_line_separator};

/// A subscriber's email address that passed the rule. Holding one means the
/// mailer can send to it.
#[derive(Clone, PartialEq, Eq)]
pub struct SubscriberEmail {
    /// As typed, trimmed: what the subscriber sees of their own address.
    typed: String,
    /// The local part and the domain in ASCII (punycode), lowercased.
    ascii: String,
}

// Personal data must not reach logs through a stray `{:?}`.
impl std::fmt::Debug for SubscriberEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubscriberEmail(..)")
    }
}

/// The characters RFC 5322 allows in an atom besides letters and digits.
const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

fn invalid(message: impl Into<String>) -> FieldError {
    FieldError { field: "email", message: message.into() }
}

fn check_local(local: &str) -> Result<(), FieldError> {
    if local.is_empty() {
        return Err(invalid("needs a mailbox name before the @"));
    }
    if local.starts_with('"') || local.contains(['(', ')']) {
        return Err(invalid("quoted names and comments (\"…\"@, (…)) are not accepted"));
    }
    if local.len() > 64 {
        return Err(invalid("the part before the @ must be at most 64 characters"));
    }
    if !local.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || ATEXT_SPECIALS.contains(c)) {
        return Err(invalid(format!(
            "the part before the @ may use ASCII letters, digits, dots and {}",
            ATEXT_SPECIALS.chars().map(String::from).collect::<Vec<_>>().join(" ")
        )));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(invalid("dots in the part before the @ must sit between other characters"));
    }
    Ok(())
}

/// The domain in ASCII, lowercased, or what is wrong with it.
fn ascii_domain(domain: &str) -> Result<String, FieldError> {
    if domain.starts_with('[') {
        return Err(invalid("address literals such as [127.0.0.1] are not accepted; use a domain name"));
    }
    let not_a_domain = || invalid("needs a domain such as example.org");
    // Strict UTS #46: host-name characters only, hyphen rules and DNS
    // lengths checked; lowercases and converts to punycode.
    let ascii = idna::domain_to_ascii_strict(domain).map_err(|_| not_a_domain())?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels.last().is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(ascii)
    } else {
        Err(not_a_domain())
    }
}

impl SubscriberEmail {
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        let v = value.trim();
        if v.is_empty() {
            return Err(invalid("is required"));
        }
        if v.chars().count() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        if v.chars().any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c) || is_line_separator(c)) {
            return Err(invalid("must not contain spaces, line breaks or control characters"));
        }
        let Some((local, domain)) = v.rsplit_once('@') else {
            return Err(invalid("is not a valid email address: it needs an @"));
        };
        check_local(local)?;
        let domain = ascii_domain(domain)?;
        let ascii = format!("{local}@{domain}");
        if ascii.len() > 254 {
            return Err(invalid("must be at most 254 characters once the domain is in ASCII"));
        }
        Ok(Self { typed: v.to_owned(), ascii })
    }

    /// The address as typed (trimmed).
    pub fn as_str(&self) -> &str {
        &self.typed
    }

    /// The address the mailer sends to: the domain in ASCII (punycode).
    pub fn ascii(&self) -> &str {
        &self.ascii
    }

    /// The part before the @, and the ASCII domain.
    pub fn parts(&self) -> (&str, &str) {
        self.ascii.rsplit_once('@').unwrap_or((&self.ascii, ""))
    }

    /// Which mailbox the address reaches, for counting mails per recipient:
    /// lowercased, and without a `+tag` (most providers deliver
    /// `ada+1@example.org` to `ada@example.org`, so a tag must not buy
    /// another allowance).
    pub fn mailbox_key(&self) -> String {
        let (local, domain) = self.parts();
        let local = local.split('+').next().unwrap_or(local);
        format!("{}@{domain}", local.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(v: &str) -> Option<String> {
        SubscriberEmail::parse(v).err().map(|e| e.message)
    }

    #[test]
    fn ordinary_addresses_pass() {
        for v in ["ada@example.org", "a.b+tag@sub.example.co.uk", "o'brien@example.ie", "x_y-z@a-b.example", "1@2.io"] {
            assert_eq!(message(v), None, "{v}");
        }
        let e = SubscriberEmail::parse(" Ada@Example.ORG ").expect("valid");
        assert_eq!(e.as_str(), "Ada@Example.ORG");
        assert_eq!(e.ascii(), "Ada@example.org");
    }

    #[test]
    fn internationalised_domains_are_sent_as_punycode() {
        let e = SubscriberEmail::parse("ada@bücher.example").expect("valid");
        assert_eq!(e.ascii(), "ada@xn--bcher-kva.example");
        assert_eq!(e.as_str(), "ada@bücher.example");
        assert_eq!(SubscriberEmail::parse("ada@例え.テスト").expect("valid").ascii(), "ada@xn--r8jz45g.xn--zckzah");
    }

    #[test]
    fn quoted_literal_and_other_exotic_forms_are_refused() {
        for v in [
            "ada@[127.0.0.1]",
            "ada@[IPv6:::1]",
            "\"a..b\"@example.org",
            "\"ada lovelace\"@example.org",
            "ada(comment)@example.org",
            "a..b@example.org",
            ".ada@example.org",
            "ada.@example.org",
            "ada@localhost",
            "ada@127.0.0.1",
            "ada@-example.org",
            "ada@example..org",
            "ada@exa_mple.org",
            "ädä@example.org",
            "ada@example.org\u{202E}",
            "ada@exam ple.org",
            "ada\r\nbcc:x@example.org",
            "ada",
            "@example.org",
            "ada@",
        ] {
            assert!(message(v).is_some(), "{v} must be refused");
        }
        assert!(message("ada@[127.0.0.1]").expect("refused").contains("literal"));
        assert!(message("\"a..b\"@example.org").expect("refused").contains("quoted"));
    }

    #[test]
    fn lengths_are_checked_in_ascii() {
        let long_local = format!("{}@example.org", "a".repeat(65));
        assert!(message(&long_local).is_some());
        let long = format!("{}@{}.org", "a".repeat(64), vec!["b".repeat(60); 3].join("."));
        assert!(long.len() <= 254 && message(&long).is_none(), "{}", long.len());
        let too_long = format!("{}@{}.org", "a".repeat(64), vec!["b".repeat(60); 4].join("."));
        assert!(message(&too_long).is_some());
    }

    #[test]
    fn the_mailbox_key_ignores_case_and_tags() {
        let key = |v: &str| SubscriberEmail::parse(v).expect("valid").mailbox_key();
        assert_eq!(key("Ada+news@Example.org"), key("ada@example.org"));
        assert_eq!(key("ada@BÜCHER.example"), "ada@xn--bcher-kva.example");
        assert_ne!(key("ada@example.org"), key("bob@example.org"));
    }
}
