//! The rule every line of text a subscriber types must pass: the name, the
//! address lines and the country.
//!
//! A line is what a person reads back in a mail or on a page, so it must
//! read as typed. Refused:
//! - control characters (a line break would start a new mail header line);
//! - the bidirectional embeddings, overrides and isolates U+202A–U+202E and
//!   U+2066–U+2069, which reorder the text around them (a right-to-left
//!   override turns `Ada txt.exe` into something else on screen);
//! - the line and paragraph separators U+2028 and U+2029 (a line break by
//!   another name);
//! - a line with nothing visible in it once invisible characters (spaces,
//!   zero-width and other format characters, fillers) are removed.
//!
//! Invisible characters *inside* a line are kept: zero-width joiners and
//! non-joiners are part of correct spelling in several scripts.

use super::request::FieldError;

/// The bidirectional controls that reorder text: embeddings and overrides
/// (U+202A–U+202E) and isolates (U+2066–U+2069).
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR.
pub fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Characters that take no visible space on their own: white space, the
/// Unicode format characters (general category Cf), variation selectors,
/// the combining grapheme joiner and the Hangul and Braille blanks.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{115F}'..='\u{1160}'
                | '\u{17B4}'..='\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{110BD}'
                | '\u{110CD}'
                | '\u{13430}'..='\u{1343F}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0001}'
                | '\u{E0020}'..='\u{E007F}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

/// What is wrong with a character, if anything.
fn refused(c: char) -> Option<&'static str> {
    if c.is_control() {
        Some("must not contain control characters")
    } else if is_bidi_control(c) {
        Some("must not contain text-direction controls (U+202A–U+202E, U+2066–U+2069)")
    } else if is_line_separator(c) {
        Some("must be a single line (no line or paragraph separators)")
    } else {
        None
    }
}

/// The trimmed value if it passes the line rule and is at most `max`
/// characters long, or what is wrong with it, naming `field`.
pub fn checked_line(field: &'static str, value: &str, max: usize) -> Result<String, FieldError> {
    let v = value.trim();
    let n = v.chars().count();
    let message = if n == 0 {
        "is required".to_owned()
    } else if n > max {
        format!("must be at most {max} characters (got {n})")
    } else if let Some(why) = v.chars().find_map(refused) {
        why.to_owned()
    } else if v.chars().all(is_invisible) {
        "must contain visible characters".to_owned()
    } else {
        return Ok(v.to_owned());
    };
    Err(FieldError { field, message })
}

/// A stored line made fit to print for records written before this rule
/// existed: refused characters become spaces, runs of white space one
/// space. Empty if nothing visible is left.
pub fn cleaned_line(value: &str) -> String {
    if value.chars().all(is_invisible) {
        return String::new();
    }
    let spaced: String = value.chars().map(|c| if refused(c).is_some() { ' ' } else { c }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(value: &str) -> Option<String> {
        checked_line("name", value, 20).err().map(|e| e.message)
    }

    #[test]
    fn ordinary_lines_pass_trimmed() {
        assert_eq!(checked_line("name", "  Ada Lovelace ", 20), Ok("Ada Lovelace".to_owned()));
        // Joiners inside a word are spelling, not spoofing.
        assert!(message("می\u{200C}خواهم").is_none());
        assert!(message("👩\u{200D}🔬 Ada").is_none());
    }

    #[test]
    fn bidi_controls_and_separators_are_refused() {
        for c in
            ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}']
        {
            let m = message(&format!("Ada{c}txt")).expect("refused");
            assert!(m.contains("text-direction"), "{c:?}: {m}");
        }
        for c in ['\u{2028}', '\u{2029}'] {
            assert!(message(&format!("Ada{c}Bcc: x")).expect("refused").contains("single line"));
        }
        assert!(message("Ada\r\nBcc: x").expect("refused").contains("control"));
    }

    #[test]
    fn lines_of_invisible_characters_are_empty() {
        for v in ["\u{200B}\u{200B}", "\u{3164}", "\u{2800} \u{FEFF}", "\u{00AD}", "\u{E0041}\u{E0042}"] {
            assert_eq!(message(v).as_deref(), Some("must contain visible characters"), "{v:?}");
        }
        // Unicode white space alone is simply empty.
        assert_eq!(message("\u{3000}\u{00A0}").as_deref(), Some("is required"));
    }

    #[test]
    fn length_counts_characters() {
        assert!(message(&"é".repeat(20)).is_none());
        assert!(message(&"é".repeat(21)).expect("too long").contains("at most 20"));
    }

    #[test]
    fn legacy_lines_are_cleaned_for_printing() {
        assert_eq!(cleaned_line("Ada\u{202E}  Lovelace\r\n"), "Ada Lovelace");
        assert_eq!(cleaned_line("\u{200B}\u{200B}"), "");
    }
}
