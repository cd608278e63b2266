//! The confirmation message: rendered parts, headers, and the bytes on the
//! wire.
//!
//! The message is built once per attempt and formatted to bytes straight
//! away, so the SMTP and outbox transports send exactly the same thing.
//! Its Message-ID depends only on the subscription, so a retried or
//! redelivered confirmation is recognisably the same mail — to the
//! receiving side and to the outbox, which overwrites instead of
//! duplicating.

use crate::address_format::format_address;
use crate::language::Language;
use crate::template::{render, Target, Template, TemplateError, Value};
use chrono::{DateTime, Utc};
use lettre::address::Envelope;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use masthead_domain::personal_data::PersonalData;
use masthead_domain::subscription::text::cleaned_line;
use masthead_domain::subscription::SubscriberEmail;
use masthead_domain::AddressLines;
use std::fmt;
use uuid::Uuid;

/// Who sends confirmations and whom subscribers contact about a wrong
/// address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub from: Mailbox,
    /// Free text shown in the mail, e.g. `address@masthead.example` or
    /// `customer service, +31 20 123 4567`. When it is a mail address it
    /// also becomes the `Reply-To`.
    pub contact: String,
}

impl Sender {
    /// The `Reply-To` mailbox, if the contact line is a mail address.
    pub fn reply_to(&self) -> Option<Mailbox> {
        self.contact.trim().parse().ok()
    }

    /// The domain Message-IDs are minted under: the From address's.
    pub fn domain(&self) -> &str {
        self.from.email.domain()
    }
}

/// The deterministic Message-ID of a subscription's confirmation.
pub fn message_id_for(subscription_id: Uuid, sender: &Sender) -> String {
    format!("<confirmation.{subscription_id}@{}>", sender.domain())
}

/// Subject and bodies in the subscriber's language, before MIME.
#[derive(Clone, PartialEq, Eq)]
pub struct RenderedConfirmation {
    pub language: Language,
    pub subject: String,
    pub text: String,
    pub html: String,
}

// The bodies carry the subscriber's name.
impl fmt::Debug for RenderedConfirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderedConfirmation").field("language", &self.language).finish_non_exhaustive()
    }
}

/// Renders subject, text and HTML for one subscription.
pub fn render_confirmation(
    subscription_id: Uuid,
    delivery_address: &AddressLines,
    subscriber_name: &str,
    contact: &str,
) -> Result<RenderedConfirmation, TemplateError> {
    render_mail(subscription_id, delivery_address, subscriber_name, contact, None)
}

/// Which mail a subscription gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind<'a> {
    /// The confirmation showing the delivery address.
    Confirmation,
    /// Double opt-in: asks the subscriber to follow `link`.
    OptIn { link: &'a str },
    /// The delivery address changed (the change caused by `cause_seq`).
    Correction { cause_seq: u64 },
}

impl MailKind<'_> {
    fn template(self, language: Language) -> Template {
        match self {
            Self::Confirmation => Template::for_language(language),
            Self::OptIn { .. } => Template::opt_in_for_language(language),
            Self::Correction { .. } => Template::correction_for_language(language),
        }
    }

    /// Deterministic per mail: a retried or redelivered send is
    /// recognisably the same mail, and each correction a mail of its own.
    pub fn message_id(self, subscription_id: Uuid, sender: &Sender) -> String {
        match self {
            Self::Correction { cause_seq } => {
                format!("<correction.{subscription_id}.{cause_seq}@{}>", sender.domain())
            }
            Self::Confirmation | Self::OptIn { .. } => message_id_for(subscription_id, sender),
        }
    }
}

/// Renders the confirmation, or with `opt_in_link` the double opt-in mail
/// asking the subscriber to follow that link.
pub fn render_mail(
    subscription_id: Uuid,
    delivery_address: &AddressLines,
    subscriber_name: &str,
    contact: &str,
    opt_in_link: Option<&str>,
) -> Result<RenderedConfirmation, TemplateError> {
    let kind = opt_in_link.map_or(MailKind::Confirmation, |link| MailKind::OptIn { link });
    render_kind(subscription_id, delivery_address, subscriber_name, contact, kind)
}

/// Renders `kind` for one subscription, in the delivery country's language.
pub fn render_kind(
    subscription_id: Uuid,
    delivery_address: &AddressLines,
    subscriber_name: &str,
    contact: &str,
    kind: MailKind<'_>,
) -> Result<RenderedConfirmation, TemplateError> {
    let language = Language::for_delivery(delivery_address);
    let template = kind.template(language);
    let opt_in_link = match kind {
        MailKind::OptIn { link } => Some(link),
        _ => None,
    };
    let lines = format_address(delivery_address, language);
    let id = subscription_id.to_string();
    let values = [
        ("name", Value::Text(subscriber_name.trim())),
        ("address", Value::Lines(&lines)),
        ("subscription_id", Value::Text(&id)),
        ("contact", Value::Text(contact.trim())),
        ("confirm_link", Value::Text(opt_in_link.unwrap_or_default())),
    ];
    Ok(RenderedConfirmation {
        language,
        subject: render(template.subject.trim(), &values, Target::Text)?,
        text: render(template.text, &values, Target::Text)?,
        html: render(template.html, &values, Target::Html)?,
    })
}

/// A composed confirmation, ready for any transport.
#[derive(Clone)]
pub struct OutgoingMail {
    pub subscription_id: Uuid,
    /// With angle brackets, as in the header: `<confirmation.{id}@{domain}>`.
    pub message_id: String,
    pub language: Language,
    envelope: Envelope,
    bytes: Vec<u8>,
}

// Envelope and bytes hold the subscriber's name and address.
impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("subscription_id", &self.subscription_id)
            .field("message_id", &self.message_id)
            .field("language", &self.language)
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

impl OutgoingMail {
    /// SMTP envelope: MAIL FROM and RCPT TO.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The RFC 5322 message, CRLF line endings.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Why a confirmation could not be composed. None of these improve with a
/// retry: the caller records a permanent failure.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The decrypted e-mail address does not parse. Intake validates
    /// addresses, so this points at legacy or corrupted data.
    #[error("subscriber e-mail address is not valid")]
    InvalidRecipient,
    #[error("template: {0}")]
    Template(#[from] TemplateError),
    #[error("message: {0}")]
    Message(#[from] lettre::error::Error),
}

/// A name goes into a header and onto a line of its own in the body;
/// control characters (line breaks above all), text-direction controls and
/// line separators have no business in either. Intake refuses them; names
/// stored before that rule are cleaned here.
fn single_line(name: &str) -> String {
    cleaned_line(name)
}

/// Composes the confirmation for `subscription_id`. `date` becomes the
/// `Date` header: pass the time of this attempt.
pub fn compose(
    subscription_id: Uuid,
    delivery_address: &AddressLines,
    subscriber: &PersonalData,
    sender: &Sender,
    date: DateTime<Utc>,
) -> Result<OutgoingMail, ComposeError> {
    compose_mail(subscription_id, delivery_address, subscriber, sender, date, None)
}

/// [`compose`], or with `opt_in_link` the double opt-in mail.
pub fn compose_mail(
    subscription_id: Uuid,
    delivery_address: &AddressLines,
    subscriber: &PersonalData,
    sender: &Sender,
    date: DateTime<Utc>,
    opt_in_link: Option<&str>,
) -> Result<OutgoingMail, ComposeError> {
    let kind = opt_in_link.map_or(MailKind::Confirmation, |link| MailKind::OptIn { link });
    compose_kind(subscription_id, delivery_address, subscriber, sender, date, kind)
}

/// Composes `kind` for `subscription_id`, dated `date`.
pub fn compose_kind(
    subscription_id: Uuid,
    delivery_address: &AddressLines,
    subscriber: &PersonalData,
    sender: &Sender,
    date: DateTime<Utc>,
    kind: MailKind<'_>,
) -> Result<OutgoingMail, ComposeError> {
    // The same rule intake applied; the domain goes out as punycode.
    let email = SubscriberEmail::parse(&subscriber.email)
        .ok()
        .and_then(|e| e.ascii().parse().ok())
        .ok_or(ComposeError::InvalidRecipient)?;
    let name = single_line(&subscriber.name);
    let rendered = render_kind(subscription_id, delivery_address, &name, &sender.contact, kind)?;
    let to = Mailbox::new((!name.is_empty()).then_some(name), email);
    let message_id = kind.message_id(subscription_id, sender);

    let mut builder = Message::builder()
        .from(sender.from.clone())
        .to(to)
        .subject(rendered.subject)
        .date(date.into())
        .message_id(Some(message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Content-Language"),
            rendered.language.tag().to_owned(),
        ))
        // RFC 3834: keeps vacation responders from answering a robot.
        .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".to_owned()));
    if let Some(reply_to) = sender.reply_to() {
        builder = builder.reply_to(reply_to);
    }
    let message = builder.multipart(MultiPart::alternative_plain_html(rendered.text, rendered.html))?;
    Ok(OutgoingMail {
        subscription_id,
        message_id,
        language: rendered.language,
        envelope: message.envelope().clone(),
        bytes: message.formatted(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use masthead_domain::Country;

    fn sender() -> Sender {
        Sender {
            from: "Masthead <no-reply@masthead.invalid>".parse().expect("mailbox"),
            contact: "address-team@masthead.invalid".into(),
        }
    }

    fn utrecht() -> AddressLines {
        AddressLines {
            street: "Kerkstraat 12".into(),
            postal_code: Some("3511 LX".into()),
            city: Some("Utrecht".into()),
            country: Some(Country::parse("NL").expect("NL")),
        }
    }

    #[test]
    fn the_message_id_depends_only_on_the_subscription() {
        let id = Uuid::from_u128(7);
        assert_eq!(
            message_id_for(id, &sender()),
            "<confirmation.00000000-0000-0000-0000-000000000007@masthead.invalid>"
        );
    }

    #[test]
    fn an_unparsable_recipient_is_a_compose_error() {
        let who = PersonalData { name: "Ann".into(), email: "not an address".into() };
        let err = compose(Uuid::from_u128(1), &utrecht(), &who, &sender(), Utc::now()).unwrap_err();
        assert!(matches!(err, ComposeError::InvalidRecipient));
    }

    #[test]
    fn debug_output_hides_the_subscriber() {
        let who = PersonalData { name: "Ann Secret".into(), email: "ann@example.org".into() };
        let mail = compose(Uuid::from_u128(1), &utrecht(), &who, &sender(), Utc::now()).expect("composes");
        let debug = format!("{mail:?}");
        assert!(!debug.contains("Ann") && !debug.contains("ann@"), "{debug}");
        let rendered = render_confirmation(Uuid::from_u128(1), &utrecht(), "Ann Secret", "x").expect("renders");
        assert!(!format!("{rendered:?}").contains("Ann"));
    }

    #[test]
    fn a_control_character_in_the_name_does_not_reach_the_headers() {
        let who = PersonalData { name: "Ann\r\nBcc: evil@example.org".into(), email: "ann@example.org".into() };
        let mail = compose(Uuid::from_u128(1), &utrecht(), &who, &sender(), Utc::now()).expect("composes");
        let text = String::from_utf8_lossy(mail.bytes());
        assert!(!text.lines().any(|l| l.starts_with("Bcc:")), "{text}");
    }

    #[test]
    fn the_mailer_sends_to_what_intake_accepts_and_nothing_else() {
        // Intake's rule refuses these; the mailer must refuse them too.
        for email in ["ada@[127.0.0.1]", "\"a..b\"@example.org", "ada@localhost"] {
            let who = PersonalData { name: "Ann".into(), email: email.into() };
            let err = compose(Uuid::from_u128(1), &utrecht(), &who, &sender(), Utc::now()).unwrap_err();
            assert!(matches!(err, ComposeError::InvalidRecipient), "{email}");
        }
        // An internationalised domain goes out as punycode.
        let who = PersonalData { name: "Ann".into(), email: "ann@bücher.example".into() };
        let mail = compose(Uuid::from_u128(1), &utrecht(), &who, &sender(), Utc::now()).expect("composes");
        let to: Vec<String> = mail.envelope.to().iter().map(ToString::to_string).collect();
        assert_eq!(to, vec!["ann@xn--bcher-kva.example".to_owned()]);
    }

    #[test]
    fn a_right_to_left_override_in_a_stored_name_does_not_reach_the_mail() {
        let who = PersonalData { name: "Ann\u{202E}gnp.exe".into(), email: "ann@example.org".into() };
        let mail = compose(Uuid::from_u128(1), &utrecht(), &who, &sender(), Utc::now()).expect("composes");
        let text = String::from_utf8_lossy(mail.bytes());
        assert!(!text.contains('\u{202E}') && !text.contains("=E2=80=AE"), "{text}");
    }
}
