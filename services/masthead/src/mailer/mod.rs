//! `masthead mailer`: sends the confirmation mail once a subscription's
//! address is resolved, and records `ConfirmationSent` or
//! `ConfirmationFailed`.
//!
//! The decision comes from the subscription's full history (the mailer
//! crate's `decide`), so a redelivered trigger after a success sends nothing.
//! Transient failures are retried through JetStream redelivery with the
//! mailer's bounded backoff; a permanent refusal or the last attempt records
//! the failure and leaves a dead letter that `masthead mail resend` replays.

use crate::config::Config;
use crate::connect::Nats;
use anyhow::{Context, Result};
use masthead_events::command_bus::CommandBus;
use masthead_events::consumer::{ConsumerRuntime, Delivery, Handler, Outcome, RuntimeConfig};
use masthead_events::envelope::{AnyEvent, CommandMeta};
use masthead_events::key_vault::{KeyVault, VaultError};
use masthead_events::store::EventStore;
use masthead_events::subscription::{Subscription, SubscriptionCommand, SubscriptionEvent};
use masthead_events::topology::ConsumerRole;
use masthead_mailer::{decide, Attempt, MailDecision, Mailer, MailerConfig, SendOutcome, SkipReason};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct MailerHandler {
    pub mailer: Arc<Mailer>,
    pub store: EventStore,
    pub vault: KeyVault,
    pub bus: CommandBus<Subscription>,
    pub retry_delay: Duration,
}

impl MailerHandler {
    fn retry(&self, reason: impl Into<String>) -> Outcome {
        Outcome::Retry { delay: self.retry_delay, reason: reason.into() }
    }

    async fn handle_one(&self, d: &Delivery) -> Outcome {
        let recorded = match &d.event {
            Ok(r) => r,
            Err(e) => return Outcome::DeadLetter { reason: format!("undecodable event: {e}") },
        };
        let AnyEvent::Subscription(trigger) = &recorded.event else { return Outcome::Done };
        if !matches!(trigger, SubscriptionEvent::AddressMatched(_) | SubscriptionEvent::AddressAssigned(_)) {
            return Outcome::Done;
        }
        let id = recorded.envelope.aggregate_id.clone();
        let history = match self.store.load::<SubscriptionEvent>(&id).await {
            Ok(h) => h,
            Err(e) => return self.retry(format!("loading subscription: {e}")),
        };
        let last_sequence = history.last_sequence;
        let known: Vec<SubscriptionEvent> = history.events.into_iter().map(|r| r.event).collect();
        let without_failures: Vec<SubscriptionEvent>;
        let events: &[SubscriptionEvent] = if d.replay {
            // An operator asked to resend: earlier failures do not stop it.
            without_failures =
                known.iter().filter(|e| !matches!(e, SubscriptionEvent::ConfirmationFailed(_))).cloned().collect();
            &without_failures
        } else {
            &known
        };
        let confirmation = match decide(events) {
            MailDecision::Send(c) => c,
            MailDecision::Skip(SkipReason::AlreadyConfirmed { .. } | SkipReason::AlreadyFailed) => {
                return Outcome::Done
            }
            MailDecision::Skip(reason) => return self.retry(format!("nothing to confirm yet: {reason:?}")),
        };
        let attempt = Attempt { number: u32::try_from(d.delivered).unwrap_or(u32::MAX), is_last: d.is_last_attempt() };
        let outcome = match self.vault.open_sealed(&confirmation.subscriber).await {
            Ok(who) => self.mailer.deliver(&confirmation, &who, attempt).await,
            Err(VaultError::Erased(_)) => {
                SendOutcome::permanent_failure("personal data was erased", attempt, chrono::Utc::now())
            }
            Err(e) => return self.retry(format!("opening personal data: {e}")),
        };
        if let Some(event) = outcome.to_event() {
            // The dedup key names the outcome (and, for a failure, the
            // attempt): a success recorded after a failure for the same
            // trigger must not be mistaken for a retry of that failure.
            let (command, purpose) = match event {
                SubscriptionEvent::ConfirmationSent(e) => {
                    (SubscriptionCommand::RecordConfirmationSent(e), "confirmation-sent".to_owned())
                }
                SubscriptionEvent::ConfirmationFailed(e) => (
                    SubscriptionCommand::RecordConfirmationFailed(e),
                    format!("confirmation-failed-{}-{}", d.delivered, if d.replay { "replay" } else { "delivery" }),
                ),
                _ => return Outcome::Done,
            };
            let meta = CommandMeta::caused_by(&recorded.envelope, &purpose);
            // Appended right after the history just read, without reading it
            // again; anything appended meanwhile conflicts, and the command
            // is then re-decided on the full history.
            if let Err(e) = self.bus.execute_after(&id, &known, last_sequence, command, &meta).await {
                // The mail may be out already; the Message-ID is the same on
                // the retry, so the outbox overwrites and mail clients thread it.
                return self.retry(format!("recording the mail outcome: {e}"));
            }
        }
        match outcome {
            SendOutcome::Sent { .. } => {
                // The mailer crate already logged the send with its attempt.
                crate::telemetry::metrics::record_mail(true, "");
                Outcome::Done
            }
            SendOutcome::RetryLater { delay, reason } => {
                crate::telemetry::metrics::record_mail(false, "transient");
                Outcome::Retry { delay, reason }
            }
            SendOutcome::Failed { reason, permanent, .. } => {
                crate::telemetry::metrics::record_mail(false, if permanent { "permanent" } else { "transient" });
                Outcome::DeadLetter { reason }
            }
        }
    }
}

#[async_trait::async_trait]
impl Handler for MailerHandler {
    /// Concurrently: each mail is independent, and SMTP round trips dominate.
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        let outcomes = futures::future::join_all(batch.iter().map(|d| self.handle_one(d))).await;
        let failed = outcomes.iter().filter(|o| **o != Outcome::Done).count() as u64;
        crate::telemetry::metrics::record_processed("mailer", batch.len() as u64 - failed, failed);
        outcomes
    }
}

pub fn mailer_config(config: &Config) -> Result<MailerConfig> {
    let lookup = |name: &str| -> Option<String> {
        match name {
            "MASTHEAD_SMTP_URL" => config.smtp_url.clone(),
            "MASTHEAD_SMTP_USERNAME" => config.smtp_username.clone(),
            "MASTHEAD_SMTP_PASSWORD" => config.smtp_password.clone(),
            "MASTHEAD_MAIL_FROM" => Some(config.mail_from.clone()),
            "MASTHEAD_MAIL_CONTACT" => Some(config.mail_contact.clone()),
            _ => std::env::var(name).ok(),
        }
    };
    let mut mail = MailerConfig::from_lookup(lookup, &config.data_dir).context("mail configuration")?;
    mail.retry.base = Duration::from_millis(config.mail_retry_base_ms.max(1));
    mail.retry.cap = Duration::from_millis(config.mail_retry_cap_ms.max(config.mail_retry_base_ms).max(1));
    // JetStream stops redelivering at the consumer's max_deliver.
    mail.retry.max_attempts =
        u32::try_from(config.topology().consumer_config(ConsumerRole::Mailer).max_deliver).unwrap_or(8);
    Ok(mail)
}

pub async fn run(nats: &Nats, mailer: Mailer, retry_delay: Duration, shutdown: CancellationToken) -> Result<()> {
    let store = EventStore::new(nats.js.clone(), nats.topology.clone());
    let vault = KeyVault::open(&nats.js, &nats.topology.keys_bucket()).await.context("opening the key vault")?;
    let handler = Arc::new(MailerHandler {
        mailer: Arc::new(mailer),
        store: store.clone(),
        vault,
        bus: CommandBus::new(store, ()),
        retry_delay,
    });
    let runtime = ConsumerRuntime::new(
        nats.js.clone(),
        nats.topology.clone(),
        ConsumerRole::Mailer,
        RuntimeConfig { batch_size: 64, ..Default::default() },
    );
    runtime.run(handler, shutdown).await.context("mailer consumer")
}
