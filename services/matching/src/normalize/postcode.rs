//! Postal codes: country-aware canonical form and the coarser "area" used
//! for blocking and for partial agreement.

use super::text::{to_ascii_lower, Token};

/// Country prefixes people type in front of a code (`D-12345`, `CH-8001`).
fn strip_prefixes(country: &str) -> &'static [&'static str] {
    match country {
        "DE" => &["DE", "D"],
        "AT" => &["AT", "A"],
        "CH" => &["CH"],
        "BE" => &["BE", "B"],
        "DK" => &["DK"],
        "FR" => &["FR", "F"],
        "NL" => &["NL"],
        "LU" => &["LU", "L"],
        _ => &[],
    }
}

/// Canonical postal code. Formatting differences vanish (`1234 ab` =
/// `1234AB`, `sw1a1aa` = `SW1A 1AA`, `D-12345` = `12345`), ZIP+4 is cut to
/// the ZIP because the +4 is optional and routinely omitted.
pub(crate) fn canonical_postcode(raw: &str, country: &str) -> String {
    let folded = to_ascii_lower(raw);
    let mut clean: String =
        folded.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).take(16).collect();
    for prefix in strip_prefixes(country) {
        if let Some(rest) = clean.strip_prefix(prefix) {
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                clean = rest.to_owned();
                break;
            }
        }
    }
    if country.is_empty() {
        // Without a country only the explicit `XX-digits…` form is a
        // prefix, and `12345-6789` is a ZIP+4.
        if let Some((head, tail)) = folded.trim().split_once('-') {
            let head = head.trim();
            let tail: String =
                tail.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
            if (1..=3).contains(&head.len())
                && head.chars().all(|c| c.is_ascii_alphabetic())
                && tail.starts_with(|c: char| c.is_ascii_digit())
            {
                clean = tail;
            } else if head.len() == 5
                && head.chars().all(|c| c.is_ascii_digit())
                && tail.len() == 4
                && tail.chars().all(|c| c.is_ascii_digit())
            {
                return head.to_owned();
            }
        }
    }
    match country {
        "US" => {
            let digits: String = clean.chars().filter(|c| c.is_ascii_digit()).collect();
            if digits.len() >= 5 {
                return digits[..5].to_owned();
            }
            digits
        }
        // `NSW 2000`, `4337 QLD`: the state is not part of the code.
        "AU" => {
            let digits: String = clean.chars().filter(|c| c.is_ascii_digit()).collect();
            if digits.len() == 4 {
                return digits;
            }
            clean
        }
        "GB" if (5..=7).contains(&clean.len()) => {
            let (out, inw) = clean.split_at(clean.len() - 3);
            format!("{out} {inw}")
        }
        _ if country.is_empty() && is_gb_code(&clean.to_ascii_lowercase()) => {
            let (out, inw) = clean.split_at(clean.len() - 3);
            format!("{out} {inw}")
        }
        _ => {
            clean.truncate(12);
            clean
        }
    }
}

/// The part of a code that identifies a delivery area rather than a
/// street: NL `1234` of `1234AB`, the GB outward code. Elsewhere the whole
/// code already is an area.
pub(crate) fn postcode_area<'a>(code: &'a str, country: &str) -> &'a str {
    let nl_like = code.len() == 6
        && code.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && code.as_bytes()[4..].iter().all(u8::is_ascii_alphabetic);
    if (country == "NL" || country.is_empty()) && nl_like {
        return &code[..4];
    }
    if let Some((outward, _)) = code.split_once(' ') {
        return outward;
    }
    code
}

/// UK postcode shape on folded lowercase alphanumerics without spaces.
pub(crate) fn is_gb_code(s: &str) -> bool {
    let b = s.as_bytes();
    if !(5..=7).contains(&b.len()) {
        return false;
    }
    let (out, inw) = b.split_at(b.len() - 3);
    if !(inw[0].is_ascii_digit() && inw[1].is_ascii_alphabetic() && inw[2].is_ascii_alphabetic()) {
        return false;
    }
    let letters = out.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    if !(1..=2).contains(&letters) {
        return false;
    }
    let rest = &out[letters..];
    !rest.is_empty() && rest.len() <= 2 && rest[0].is_ascii_digit() && rest.iter().all(u8::is_ascii_alphanumeric)
}

/// Recognises a postal code starting at `toks[i]` in a street line (for a
/// code and town pasted into it). Returns the raw code and tokens consumed.
pub(crate) fn postcode_at(toks: &[Token], i: usize, country: &str) -> Option<(String, usize)> {
    let t = toks.get(i)?;
    let any = country.is_empty();
    let next = toks.get(i + 1);
    // Country letter prefix: `D-12345`.
    if t.is_word() && t.text.len() <= 2 {
        if let (Some(d), Some(n)) = (next, toks.get(i + 2)) {
            if d.kind == super::text::Kind::Dash && n.is_num() {
                let prefixed = strip_prefixes(country).iter().any(|p| p.eq_ignore_ascii_case(&t.text));
                if prefixed || any {
                    if let Some((code, used)) = postcode_at(toks, i + 2, country) {
                        return Some((code, used + 2));
                    }
                }
            }
        }
    }
    if t.is_num() {
        let len = t.text.len();
        let nl = country == "NL" || any;
        if nl && len == 4 && !t.text.starts_with('0') {
            if let Some(w) = next.filter(|w| w.is_word() && w.text.len() == 2) {
                return Some((format!("{}{}", t.text, w.text), 2));
            }
            if country == "NL" {
                return Some((t.text.clone(), 1));
            }
        }
        let five = matches!(country, "DE" | "FR" | "US") || any;
        if five && len == 5 {
            if country == "US" {
                if let (Some(d), Some(n)) = (next, toks.get(i + 2)) {
                    if d.kind == super::text::Kind::Dash && n.is_num() && n.text.len() == 4 {
                        return Some((t.text.clone(), 3));
                    }
                }
            }
            return Some((t.text.clone(), 1));
        }
        let four = matches!(country, "BE" | "AT" | "CH" | "DK" | "AU" | "LU");
        // Without a country a bare 4-digit code needs a town after it.
        let town_follows = next.is_some_and(|w| w.is_word() && w.text.len() >= 3);
        if (four || (any && town_follows)) && len == 4 && !t.text.starts_with('0') {
            return Some((t.text.clone(), 1));
        }
    }
    if (country == "GB" || any) && t.is_word() && t.text.len() <= 2 {
        // Try outward + inward spread over up to five tokens.
        let mut s = String::new();
        for (used, tok) in toks[i..].iter().take(5).enumerate() {
            if !(tok.is_word() || tok.is_num()) {
                break;
            }
            s.push_str(&tok.text);
            let boundary = toks.get(i + used + 1).is_none_or(|n| !n.attached);
            if boundary && is_gb_code(&s) {
                return Some((s, used + 1));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_agree() {
        assert_eq!(canonical_postcode("1234 ab", "NL"), canonical_postcode("1234AB", "NL"));
        assert_eq!(canonical_postcode("D-12345", "DE"), "12345");
        assert_eq!(canonical_postcode("10001-1234", "US"), "10001");
        assert_eq!(canonical_postcode("sw1a1aa", "GB"), "SW1A 1AA");
        assert_eq!(canonical_postcode("SW1A  1AA", "GB"), "SW1A 1AA");
        assert_eq!(canonical_postcode("CH-8001", "CH"), "8001");
        assert_eq!(canonical_postcode("D-12345", ""), "12345");
        assert_eq!(canonical_postcode("NL-1046 ru", ""), "1046RU");
        assert_eq!(canonical_postcode("12252-4531", ""), "12252");
        assert_ne!(canonical_postcode("1234AB", "NL"), canonical_postcode("1234AC", "NL"));
    }

    #[test]
    fn areas() {
        assert_eq!(postcode_area("1234AB", "NL"), "1234");
        assert_eq!(postcode_area("SW1A 1AA", "GB"), "SW1A");
        assert_eq!(postcode_area("12345", "DE"), "12345");
    }

    #[test]
    fn gb_shape() {
        assert!(is_gb_code("sw1a1aa"));
        assert!(is_gb_code("m11ae"));
        assert!(!is_gb_code("12345"));
        assert!(!is_gb_code("kerk"));
    }
}
