//! Confirmation mail for Masthead, and the correction mail that follows a
//! change of delivery address by the address team ([`correction`]).
//!
//! Once a subscription's address is matched or registered as new, the
//! subscriber gets a mail that shows the delivery address Masthead will
//! use, so they can spot a wrong match. This crate owns that mail: the
//! templates (English, Dutch, German, picked by delivery country), the
//! address laid out as the destination country writes it, the message with
//! its deterministic Message-ID, delivery over pooled SMTP or into an
//! outbox folder, the transient/permanent classification of failures, the
//! retry back-off, and the consumer's decisions (skip, send, record
//! success, retry, give up) as pure functions. Its [`consumer`] is the
//! durable consumer that drives them: it reads histories, opens the sealed
//! personal data, sends, and turns outcomes into acks, retries and dead
//! letters.
//!
//! Wiring, per triggering event (`AddressMatched` / `AddressAssigned`):
//!
//! ```text
//! match decide(&history) {
//!     MailDecision::Skip(_) => ack,
//!     MailDecision::Send(c) => {
//!         let who = open c.subscriber with the key from the vault;
//!         let outcome = mailer.deliver(&c, &who, policy.attempt(delivered)).await;
//!         if let Some(event) = outcome.to_event() { append event }
//!         match outcome { Sent => ack, RetryLater{delay} => nak(delay), Failed => dead-letter + ack }
//!     }
//! }
//! ```

pub mod address_format;
pub mod config;
pub mod consumer;
pub mod correction;
pub mod decision;
pub mod error;
pub mod language;
pub mod mailer;
pub mod message;
pub mod outbox;
pub mod retry;
pub mod template;
pub mod transport;

pub use config::{ConfigError, MailSettings, MailerConfig, SmtpConfig, SmtpCredentials, SmtpSecurity, TransportConfig};
pub use decision::{decide, Confirmation, MailDecision, SendOutcome, SkipReason};
pub use error::SendError;
pub use language::Language;
pub use mailer::Mailer;
pub use message::{compose, compose_mail, message_id_for, ComposeError, OutgoingMail, Sender};
pub use retry::{Attempt, RetryPolicy};
pub use transport::{build_transport, MailTransport, OutboxTransport, SmtpTransport};
