//! The mailer: composes and sends one confirmation, and says what the
//! consumer should do next.

use crate::config::{ConfigError, MailerConfig};
use crate::decision::{Confirmation, SendOutcome};
use crate::error::SendError;
use crate::message::{compose, compose_kind, ComposeError, MailKind, OutgoingMail, Sender};
use crate::retry::{Attempt, RetryPolicy};
use crate::transport::{build_transport, MailTransport};
use chrono::{DateTime, Utc};
use masthead_domain::personal_data::PersonalData;
use std::sync::Arc;
use tracing::Instrument;

/// Cheap to clone; share one between concurrent handlers.
#[derive(Clone)]
pub struct Mailer {
    transport: Arc<dyn MailTransport>,
    sender: Sender,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("transport", &self.transport.describe())
            .field("sender", &self.sender)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Mailer {
    /// Builds the configured transport.
    pub fn from_config(config: MailerConfig) -> Result<Self, ConfigError> {
        let transport = build_transport(&config.transport)?;
        Ok(Self::new(transport, config.sender, config.retry))
    }

    pub fn new(transport: Arc<dyn MailTransport>, sender: Sender, retry: RetryPolicy) -> Self {
        Mailer { transport, sender, retry }
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    pub fn transport(&self) -> &Arc<dyn MailTransport> {
        &self.transport
    }

    /// Composes the confirmation, dated `now`.
    pub fn compose(
        &self,
        confirmation: &Confirmation,
        subscriber: &PersonalData,
        now: DateTime<Utc>,
    ) -> Result<OutgoingMail, ComposeError> {
        compose(confirmation.subscription_id, &confirmation.delivery_address, subscriber, &self.sender, now)
    }

    /// Drops the copies of a subscription's confirmation that this
    /// mailer's transport keeps (the outbox's `.eml`), once its personal
    /// data was erased.
    pub async fn forget(&self, subscription_id: uuid::Uuid) -> Result<(), SendError> {
        self.transport.forget(&crate::message::message_id_for(subscription_id, &self.sender)).await
    }

    /// Drops the kept copies of a subscription's correction mails, one per
    /// change (`cause_seqs`), once its personal data was erased.
    pub async fn forget_corrections(&self, subscription_id: uuid::Uuid, cause_seqs: &[u64]) -> Result<(), SendError> {
        for cause_seq in cause_seqs {
            let id = MailKind::Correction { cause_seq: *cause_seq }.message_id(subscription_id, &self.sender);
            self.transport.forget(&id).await?;
        }
        Ok(())
    }

    /// Sends a composed mail once.
    pub async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        self.transport.send(mail).await
    }

    /// One delivery attempt: compose, send, classify. Never panics and
    /// never returns an error: every failure is an outcome for the
    /// consumer to act on.
    pub async fn deliver(
        &self,
        confirmation: &Confirmation,
        subscriber: &PersonalData,
        attempt: Attempt,
    ) -> SendOutcome {
        self.deliver_mail(confirmation, subscriber, attempt, None).await
    }

    /// [`Mailer::deliver`], or with `opt_in_link` the double opt-in mail.
    pub async fn deliver_mail(
        &self,
        confirmation: &Confirmation,
        subscriber: &PersonalData,
        attempt: Attempt,
        opt_in_link: Option<&str>,
    ) -> SendOutcome {
        let kind = opt_in_link.map_or(MailKind::Confirmation, |link| MailKind::OptIn { link });
        self.deliver_kind(confirmation.subscription_id, &confirmation.delivery_address, subscriber, attempt, kind).await
    }

    /// One delivery attempt of any kind of mail to a subscriber.
    pub async fn deliver_kind(
        &self,
        subscription_id: uuid::Uuid,
        address: &masthead_domain::AddressLines,
        subscriber: &PersonalData,
        attempt: Attempt,
        kind: MailKind<'_>,
    ) -> SendOutcome {
        let what = match kind {
            MailKind::Correction { .. } => "correction",
            MailKind::Confirmation | MailKind::OptIn { .. } => "confirmation",
        };
        let mail = match compose_kind(subscription_id, address, subscriber, &self.sender, Utc::now(), kind) {
            Ok(mail) => mail,
            Err(e) => {
                tracing::warn!(%subscription_id, error = %e, mail = what, "mail cannot be composed");
                return SendOutcome::permanent_failure(e.to_string(), attempt, Utc::now());
            }
        };
        // A client span around the hand-over, child of the consumer's
        // `process` span. Its attributes name the transport and the
        // subscription, never the recipient.
        let span = tracing::info_span!(
            "send mail",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
            masthead.mail.transport = %self.transport.describe(),
            masthead.mail.attempt = attempt.number,
            correlation_id = %subscription_id,
        );
        let result = self.send(&mail).instrument(span.clone()).await;
        if let Err(e) = &result {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", if e.is_permanent() { "permanent" } else { "transient" });
        }
        drop(span);
        let outcome = SendOutcome::classify(result, &mail.message_id, attempt, &self.retry, Utc::now());
        match &outcome {
            SendOutcome::Sent { .. } if what == "correction" => {
                tracing::info!(%subscription_id, attempt = attempt.number, language = mail.language.tag(), "correction sent")
            }
            SendOutcome::Sent { .. } => {
                tracing::info!(%subscription_id, attempt = attempt.number, language = mail.language.tag(), "confirmation sent")
            }
            SendOutcome::RetryLater { delay, reason } => {
                tracing::warn!(%subscription_id, attempt = attempt.number, ?delay, %reason, mail = what, "mail will be retried")
            }
            SendOutcome::Failed { reason, permanent, .. } => {
                tracing::error!(%subscription_id, attempt = attempt.number, permanent, %reason, mail = what, "mail failed")
            }
        }
        outcome
    }
}
