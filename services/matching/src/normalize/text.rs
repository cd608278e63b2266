//! Folding arbitrary user text into lowercase ASCII tokens.
//!
//! Everything downstream (type words, aliases, keys) works on the folded
//! form, so the folding rules here decide which spellings are "the same".

use unicode_normalization::UnicodeNormalization;

/// Inputs are truncated to this many characters before folding. Real address
/// lines are far shorter; the cap bounds the work done for hostile input and
/// is applied identically to base and probe, so keys stay deterministic.
pub(crate) const MAX_INPUT_CHARS: usize = 200;

/// Lowercase ASCII transliteration. Apostrophes vanish without splitting
/// (`'s-Gravenhage` → `s-gravenhage`), pictographs become separators.
pub(crate) fn to_ascii_lower(input: &str) -> String {
    let mut out = String::with_capacity(input.len().min(MAX_INPUT_CHARS * 2));
    for c in input.nfkc().take(MAX_INPUT_CHARS) {
        match c {
            '\'' | '\u{2018}' | '\u{2019}' | '`' | '\u{b4}' => {}
            // deunicode would give "ss" too, but be explicit: Straße = Strasse.
            '\u{df}' | '\u{1e9e}' => out.push_str("ss"),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c if is_pictograph(c) => out.push(' '),
            c => match deunicode::deunicode_char(c) {
                Some(s) => out.extend(s.chars().filter(|c| *c != '\'').map(|c| c.to_ascii_lowercase())),
                None => out.push(' '),
            },
        }
    }
    out
}

/// Emoji and symbols would otherwise transliterate into words ("unicorn")
/// that end up in a street name.
fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0xFE00..=0xFE0F | 0x200D | 0xE0000..=0xE007F)
}

const VOWELS: &[u8] = b"aeiouy";

/// Spelling-variant folding for name and town tokens, applied to both sides:
/// `ij`→`y` (Dutch), `oe/ae/ue`→`o/a/u` after a consonant (German umlaut
/// transcriptions: Moedling = Mödling = Modling), and doubled letters
/// collapsed (Strasse/Strase, Rossum/Rosum). The result is a matching form,
/// not a display form.
pub(crate) fn fold_word(word: &str) -> String {
    let b = word.as_bytes();
    let mut tmp: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'i' && next == Some(b'j') {
            tmp.push(b'y');
            i += 2;
            continue;
        }
        if matches!(c, b'o' | b'a' | b'u') && next == Some(b'e') {
            if let Some(prev) = tmp.last() {
                if prev.is_ascii_alphabetic() && !VOWELS.contains(prev) {
                    tmp.push(c);
                    i += 2;
                    continue;
                }
            }
        }
        tmp.push(c);
        i += 1;
    }
    tmp.dedup_by(|a, b| a == b && a.is_ascii_alphabetic());
    // Only ASCII bytes were pushed, so this cannot fail; fall back to the
    // input rather than panic if that ever changes.
    String::from_utf8(tmp).unwrap_or_else(|_| word.to_owned())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Num,
    Slash,
    Dash,
    Hash,
    Comma,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub text: String,
    pub kind: Kind,
    /// No whitespace/dot between the previous token and this one (`5a`,
    /// `Kerkstraat12`): attachment separates a house-number suffix from an
    /// English direction word (`14a Main St` vs `14 E River St`).
    pub attached: bool,
}

impl Token {
    pub fn is(&self, kind: Kind) -> bool {
        self.kind == kind
    }
    pub fn is_word(&self) -> bool {
        self.kind == Kind::Word
    }
    pub fn is_num(&self) -> bool {
        self.kind == Kind::Num
    }
}

/// Splits folded text at letter/digit boundaries and punctuation. Commas
/// (and `;`, newlines) are kept as tokens because they separate the street
/// from a pasted town or a Danish floor/side.
pub(crate) fn tokenize(folded: &str) -> Vec<Token> {
    let mut toks: Vec<Token> = Vec::new();
    let mut cur = String::new();
    let mut cur_kind: Option<Kind> = None;
    let mut cur_attached = false;
    let mut gap = true;
    let flush = |toks: &mut Vec<Token>, cur: &mut String, kind: &mut Option<Kind>, att: bool| {
        if let Some(k) = kind.take() {
            toks.push(Token { text: std::mem::take(cur), kind: k, attached: att });
        }
    };
    for c in folded.chars() {
        let k = if c.is_ascii_lowercase() {
            Some(Kind::Word)
        } else if c.is_ascii_digit() {
            Some(Kind::Num)
        } else {
            None
        };
        match k {
            Some(k) if cur_kind == Some(k) => cur.push(c),
            Some(k) => {
                let attached = cur_kind.is_some() || (!gap && !toks.is_empty());
                flush(&mut toks, &mut cur, &mut cur_kind, cur_attached);
                cur_kind = Some(k);
                cur_attached = attached;
                cur.push(c);
                gap = false;
            }
            None => {
                flush(&mut toks, &mut cur, &mut cur_kind, cur_attached);
                let sym = match c {
                    '/' | '\\' => Some(Kind::Slash),
                    '-' => Some(Kind::Dash),
                    '#' => Some(Kind::Hash),
                    ',' | ';' | '\n' | '|' => Some(Kind::Comma),
                    _ => None,
                };
                match sym {
                    Some(kind) => {
                        toks.push(Token { text: c.to_string(), kind, attached: !gap });
                        gap = kind == Kind::Comma;
                    }
                    None => gap = true,
                }
            }
        }
    }
    flush(&mut toks, &mut cur, &mut cur_kind, cur_attached);
    toks
}

/// Fold + tokenize + keep only words and numbers, folded. Used for towns.
pub(crate) fn folded_words(input: &str) -> Vec<String> {
    tokenize(&to_ascii_lower(input))
        .into_iter()
        .filter(|t| t.is_word() || t.is_num())
        .map(|t| fold_word(&t.text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umlaut_spellings_fold_together() {
        let a = fold_word(&to_ascii_lower("Mödling"));
        assert_eq!(a, fold_word(&to_ascii_lower("Moedling")));
        assert_eq!(a, fold_word(&to_ascii_lower("Modling")));
        assert_eq!(fold_word(&to_ascii_lower("Straße")), fold_word("strasse"));
        assert_eq!(fold_word("rijnstraat"), fold_word("rynstrat"));
        assert_ne!(fold_word("rossum"), fold_word("rossem"));
    }

    #[test]
    fn tokenizer_splits_letters_from_digits() {
        let t = tokenize(&to_ascii_lower("Kerkstraat12, 5-a #3"));
        let kinds: Vec<Kind> = t.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            vec![Kind::Word, Kind::Num, Kind::Comma, Kind::Num, Kind::Dash, Kind::Word, Kind::Hash, Kind::Num]
        );
        assert!(t[1].attached);
        assert!(!t[3].attached);
    }

    #[test]
    fn emoji_and_scripts_do_not_become_noise_words() {
        let s = to_ascii_lower("Main 🦄 Street");
        assert_eq!(tokenize(&s).len(), 2);
        assert!(!to_ascii_lower("Москва").trim().is_empty());
    }
}
