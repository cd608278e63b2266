//! The confirmation templates and the tiny `{{placeholder}}` renderer.
//!
//! Templates live as files under `templates/` so translators can edit them
//! without touching Rust, and are embedded with `include_str!` so the binary
//! needs no files at run time. Values are escaped for the part they land in:
//! a subscriber may well be called `<script>`.

use crate::language::Language;

/// One language's subject, text body and HTML body.
#[derive(Debug, Clone, Copy)]
pub struct Template {
    pub subject: &'static str,
    pub text: &'static str,
    pub html: &'static str,
}

impl Template {
    /// The double opt-in mail: asks the subscriber to confirm with the
    /// signed link (`{{confirm_link}}`).
    pub fn opt_in_for_language(language: Language) -> Self {
        match language {
            Language::English => Template {
                subject: include_str!("../templates/optin.en.subject.txt"),
                text: include_str!("../templates/optin.en.txt"),
                html: include_str!("../templates/optin.en.html"),
            },
            Language::Dutch => Template {
                subject: include_str!("../templates/optin.nl.subject.txt"),
                text: include_str!("../templates/optin.nl.txt"),
                html: include_str!("../templates/optin.nl.html"),
            },
            Language::German => Template {
                subject: include_str!("../templates/optin.de.subject.txt"),
                text: include_str!("../templates/optin.de.txt"),
                html: include_str!("../templates/optin.de.html"),
            },
        }
    }

    /// The mail telling a subscriber their delivery address changed (the
    /// address team corrected or merged it): the confirmation's layout and
    /// languages, another text.
    pub fn correction_for_language(language: Language) -> Self {
        match language {
            Language::English => Template {
                subject: include_str!("../templates/correction.en.subject.txt"),
                text: include_str!("../templates/correction.en.txt"),
                html: include_str!("../templates/correction.en.html"),
            },
            Language::Dutch => Template {
                subject: include_str!("../templates/correction.nl.subject.txt"),
                text: include_str!("../templates/correction.nl.txt"),
                html: include_str!("../templates/correction.nl.html"),
            },
            Language::German => Template {
                subject: include_str!("../templates/correction.de.subject.txt"),
                text: include_str!("../templates/correction.de.txt"),
                html: include_str!("../templates/correction.de.html"),
            },
        }
    }

    pub fn for_language(language: Language) -> Self {
        match language {
            Language::English => Template {
                subject: include_str!("../templates/en.subject.txt"),
                text: include_str!("../templates/en.txt"),
                html: include_str!("../templates/en.html"),
            },
            Language::Dutch => Template {
                subject: include_str!("../templates/nl.subject.txt"),
                text: include_str!("../templates/nl.txt"),
                html: include_str!("../templates/nl.html"),
            },
            Language::German => Template {
                subject: include_str!("../templates/de.subject.txt"),
                text: include_str!("../templates/de.txt"),
                html: include_str!("../templates/de.html"),
            },
        }
    }
}

/// A value to substitute.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Text(&'a str),
    /// Several lines (an address): newlines in text, `<br>` in HTML.
    Lines(&'a [String]),
}

/// Which part is being rendered, and so how values are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Text,
    Html,
}

/// A template refers to a placeholder nobody supplies, or never closes one.
/// Both are bugs in a shipped template; tests render every template to
/// catch them before release.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{{{0}}}}}")]
    UnknownPlaceholder(String),
    #[error("unclosed placeholder")]
    Unclosed,
}

/// Replaces each `{{key}}` with its value, escaped for `target`.
pub fn render(template: &str, values: &[(&str, Value<'_>)], target: Target) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let key = after[..end].trim();
        let (_, value) =
            values.iter().find(|(k, _)| *k == key).ok_or_else(|| TemplateError::UnknownPlaceholder(key.to_owned()))?;
        write_value(&mut out, *value, target);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn write_value(out: &mut String, value: Value<'_>, target: Target) {
    match (value, target) {
        (Value::Text(s), Target::Text) => out.push_str(s),
        (Value::Text(s), Target::Html) => escape_html_into(out, s),
        (Value::Lines(lines), Target::Text) => out.push_str(&lines.join("\n")),
        (Value::Lines(lines), Target::Html) => {
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    out.push_str("<br>\n");
                }
                escape_html_into(out, line);
            }
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_html_into(&mut out, s);
    out
}

fn escape_html_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_values(lines: &[String]) -> Vec<(&'static str, Value<'_>)> {
        vec![
            ("name", Value::Text("<b>Ann</b> & \"Bo\"")),
            ("address", Value::Lines(lines)),
            ("subscription_id", Value::Text("id-1")),
            ("contact", Value::Text("help@example.org")),
            ("confirm_link", Value::Text("https://masthead.example/confirm/id-1?token=1.x")),
        ]
    }

    #[test]
    fn every_shipped_template_renders_without_leftovers() {
        let lines = vec!["Kerkstraat 12".to_owned(), "3511 LX Utrecht".to_owned()];
        let values = sample_values(&lines);
        let opt_in = [Language::English, Language::Dutch, Language::German].map(Template::opt_in_for_language);
        let confirmation = [Language::English, Language::Dutch, Language::German].map(Template::for_language);
        for (language, t) in [Language::English, Language::Dutch, Language::German]
            .into_iter()
            .cycle()
            .zip(confirmation.into_iter().chain(opt_in))
        {
            for (body, target) in [(t.subject, Target::Text), (t.text, Target::Text), (t.html, Target::Html)] {
                let out = render(body, &values, target).expect("renders");
                assert!(!out.contains("{{") && !out.contains("}}"), "{language:?}: {out}");
            }
            assert!(!t.subject.trim().contains('\n'), "subject is one line");
            assert!(t.html.contains(&format!("lang=\"{}\"", language.tag())));
        }
    }

    #[test]
    fn html_values_are_escaped_and_text_values_are_not() {
        let lines = vec!["A <street>".to_owned(), "1000 B&B".to_owned()];
        let values = sample_values(&lines);
        let html = render("{{name}}|{{address}}", &values, Target::Html).expect("renders");
        assert_eq!(html, "&lt;b&gt;Ann&lt;/b&gt; &amp; &quot;Bo&quot;|A &lt;street&gt;<br>\n1000 B&amp;B");
        let text = render("{{name}}|{{address}}", &values, Target::Text).expect("renders");
        assert_eq!(text, "<b>Ann</b> & \"Bo\"|A <street>\n1000 B&B");
    }

    #[test]
    fn a_value_containing_braces_is_not_expanded_again() {
        let values = [("name", Value::Text("{{contact}}")), ("contact", Value::Text("x"))];
        assert_eq!(render("{{name}}", &values, Target::Text).expect("renders"), "{{contact}}");
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_errors() {
        assert_eq!(render("{{nope}}", &[], Target::Text), Err(TemplateError::UnknownPlaceholder("nope".into())));
        assert_eq!(render("{{name", &[], Target::Text), Err(TemplateError::Unclosed));
    }
}
