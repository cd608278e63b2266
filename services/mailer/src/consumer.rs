//! The mailer: the durable consumer that sends the confirmation mail once a
//! subscription's address is resolved, and records `ConfirmationSent` or
//! `ConfirmationFailed`.
//!
//! The decision comes from the subscription's full history (the mailer
//! crate's `decide`), so a redelivered trigger after a success sends nothing.
//! Transient failures are retried through JetStream redelivery with the
//! mailer's bounded backoff; a permanent refusal or the last attempt records
//! the failure and leaves a dead letter that `masthead mail resend` replays.

use crate::{decide, Attempt, MailDecision, Mailer, SendOutcome, SkipReason};
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use masthead_domain::envelope::Recorded;
use masthead_domain::envelope::{AnyEvent, CommandMeta};
use masthead_domain::personal_data::PersonalData;
use masthead_domain::signing::SigningKey;
use masthead_domain::subscription::{
    ConfirmationWithheld, OptInRequested, SubscriberEmail, Subscription, SubscriptionCommand, SubscriptionError,
    SubscriptionEvent, WithheldReason,
};
use masthead_jetstream::command_bus::{CommandBus, CommandError};
use masthead_jetstream::consumer::{ConsumerError, ConsumerRuntime, Delivery, Handler, Outcome, RuntimeConfig};
use masthead_jetstream::dead_letter::{DeadLetterError, DeadLetters};
use masthead_jetstream::key_vault::{KeyVault, VaultError};
use masthead_jetstream::recipients::{signing_key, RecipientAllowance, RecipientsError};
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::{ConsumerRole, Topology};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct MailerHandler {
    pub mailer: Arc<Mailer>,
    pub store: EventStore,
    pub vault: KeyVault,
    pub bus: CommandBus<Subscription>,
    pub retry_delay: Duration,
    /// The per-recipient daily limit; `None` when off.
    pub allowance: Option<RecipientAllowance>,
    /// Double opt-in; `None` when off.
    pub opt_in: Option<OptInLinks>,
}

impl MailerHandler {
    /// The subscriber's personal data was erased: the copies of their mail
    /// this mailer keeps go too.
    async fn forget(&self, aggregate_id: &str) -> Outcome {
        let Ok(id) = uuid::Uuid::parse_str(aggregate_id) else { return Outcome::Done };
        // Each correction mail is a copy of its own.
        let changes: Vec<u64> = match self.history(aggregate_id).await {
            Ok((_, events)) => events
                .iter()
                .filter_map(|e| match e {
                    SubscriptionEvent::DeliveryAddressChanged(c) => Some(c.cause_seq),
                    _ => None,
                })
                .collect(),
            Err(retry) => return retry,
        };
        if let Err(e) = self.mailer.forget_corrections(id, &changes).await {
            return self.retry(format!("removing the erased subscriber's mail: {e}"));
        }
        match self.mailer.forget(id).await {
            Ok(()) => {
                tracing::info!(subscription_id = %id, "personal data erased: the mailer keeps no copy of the mail");
                Outcome::Done
            }
            Err(e) => self.retry(format!("removing the erased subscriber's mail: {e}")),
        }
    }

    /// A subscription's events, and the stream sequence of the last one
    /// (to append an outcome right after it); a retry if it cannot be read.
    pub(crate) async fn history(&self, id: &str) -> Result<(u64, Vec<SubscriptionEvent>), Outcome> {
        match self.store.load::<SubscriptionEvent>(id).await {
            Ok(h) => Ok((h.last_sequence, h.events.into_iter().map(|r| r.event).collect())),
            Err(e) => Err(self.retry(format!("loading subscription: {e}"))),
        }
    }

    pub(crate) fn retry(&self, reason: impl Into<String>) -> Outcome {
        Outcome::Retry { delay: self.retry_delay, reason: reason.into() }
    }

    async fn handle_one(&self, d: &Delivery) -> Outcome {
        let recorded = &d.event;
        let AnyEvent::Subscription(trigger) = &recorded.event else { return Outcome::Done };
        match trigger {
            SubscriptionEvent::PersonalDataErased(_) => return self.forget(&recorded.envelope.aggregate_id).await,
            SubscriptionEvent::DeliveryAddressChanged(e) => return self.handle_correction(d, e.cause_seq).await,
            SubscriptionEvent::AddressMatched(_) | SubscriptionEvent::AddressAssigned(_) => {}
            _ => return Outcome::Done,
        }
        let id = recorded.envelope.aggregate_id.clone();
        let (last_sequence, known) = match self.history(&id).await {
            Ok(h) => h,
            Err(retry) => return retry,
        };
        // An operator asked to resend: earlier failures do not stop it.
        let resend = |e: &&SubscriptionEvent| !(d.replay && matches!(e, SubscriptionEvent::ConfirmationFailed(_)));
        let events: Vec<SubscriptionEvent> = known.iter().filter(resend).cloned().collect();
        let confirmation = match decide(&events) {
            MailDecision::Send(c) => c,
            MailDecision::Skip(
                SkipReason::AlreadyConfirmed { .. }
                | SkipReason::AlreadyFailed
                | SkipReason::AlreadyDecided
                | SkipReason::Erased,
            ) => return Outcome::Done,
            MailDecision::Skip(reason) => return self.retry(format!("nothing to confirm yet: {reason:?}")),
        };
        let attempt = Attempt { number: u32::try_from(d.delivered).unwrap_or(u32::MAX), is_last: d.is_last_attempt() };
        let opt_in = self.opt_in.as_ref().map(|o| o.link(confirmation.subscription_id, chrono::Utc::now()));
        let outcome = match self.vault.open_sealed(&confirmation.subscriber).await {
            Ok(who) => {
                if let Some(done) = self.over_limit(&who, &confirmation, recorded, &id, &known, last_sequence).await {
                    return done;
                }
                let link = opt_in.as_ref().map(|(link, _)| link.as_str());
                self.mailer.deliver_mail(&confirmation, &who, attempt, link).await
            }
            Err(VaultError::Erased(_)) => {
                SendOutcome::permanent_failure("personal data was erased", attempt, chrono::Utc::now())
            }
            Err(e) => return self.retry(format!("opening personal data: {e}")),
        };
        if let Some((command, purpose)) = outcome_command(d, &outcome, opt_in.as_ref().map(|(_, at)| *at)) {
            let meta = CommandMeta::caused_by(&recorded.envelope, &purpose);
            if let Err(e) = self.record(&id, &known, last_sequence, command, &meta).await {
                // The mail may be out already; the Message-ID is the same on
                // the retry, so the outbox overwrites and mail clients thread it.
                return self.retry(format!("recording the mail outcome: {e}"));
            }
        }
        match outcome {
            SendOutcome::Sent { .. } => {
                // `Mailer::deliver` already logged the send with its attempt.
                metrics::counter!("masthead_mail_sent_total").increment(1);
                Outcome::Done
            }
            SendOutcome::RetryLater { delay, reason } => {
                metrics::counter!("masthead_mail_failed_total", "reason" => "transient").increment(1);
                Outcome::Retry { delay, reason }
            }
            SendOutcome::Failed { reason, permanent, .. } => {
                let kind = if permanent { "permanent" } else { "transient" };
                metrics::counter!("masthead_mail_failed_total", "reason" => kind).increment(1);
                Outcome::DeadLetter { reason }
            }
        }
    }
}

/// How long the outcome of a send is retried while the event store is
/// unavailable, before the delivery is given back to JetStream (which would
/// send the mail again). A stream's leader election in a 3-node cluster
/// takes 5-10 s; this stays well below the mailer's 60 s ack wait.
const RECORD_PATIENCE: Duration = Duration::from_secs(20);

impl MailerHandler {
    /// Appends the send's outcome right after the history just read,
    /// without reading it again; anything appended meanwhile conflicts, and
    /// the command is then re-decided on the full history. While the store
    /// is unavailable (a NATS node died and the stream elects a new leader)
    /// the append is retried here rather than by redelivery: a redelivered
    /// trigger would find no `ConfirmationSent` and send the mail again. The
    /// append's dedup id makes a retry of an append that did land harmless.
    pub(crate) async fn record(
        &self,
        id: &str,
        known: &[SubscriptionEvent],
        last_sequence: u64,
        command: SubscriptionCommand,
        meta: &CommandMeta,
    ) -> Result<(), CommandError<SubscriptionError>> {
        let deadline = tokio::time::Instant::now() + RECORD_PATIENCE;
        let mut pause = Duration::from_millis(200);
        loop {
            match self.bus.execute_after(id, known, last_sequence, command.clone(), meta).await {
                Err(CommandError::Unavailable(reason)) if tokio::time::Instant::now() + pause < deadline => {
                    tracing::warn!(error = %reason, "event store unavailable; retrying the mail outcome");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                other => return other.map(|_| ()),
            }
        }
    }
}

/// The command recording `outcome`, and its dedup purpose. The purpose
/// names the outcome (and, for a failure, the attempt): a success recorded
/// after a failure for the same trigger must not be mistaken for a retry of
/// that failure. With double opt-in (`opt_in_expires`), a sent mail is the
/// opt-in request, not the confirmation.
fn outcome_command(
    d: &Delivery,
    outcome: &SendOutcome,
    opt_in_expires: Option<DateTime<Utc>>,
) -> Option<(SubscriptionCommand, String)> {
    Some(match outcome.to_event()? {
        SubscriptionEvent::ConfirmationSent(e) => match opt_in_expires {
            Some(expires_at) => (
                SubscriptionCommand::RecordOptInRequested(OptInRequested {
                    message_id: e.message_id,
                    sent_at: e.sent_at,
                    expires_at,
                }),
                "opt-in-requested".to_owned(),
            ),
            None => (SubscriptionCommand::RecordConfirmationSent(e), "confirmation-sent".to_owned()),
        },
        SubscriptionEvent::ConfirmationFailed(e) => (
            SubscriptionCommand::RecordConfirmationFailed(e),
            format!("confirmation-failed-{}-{}", d.delivered, if d.replay { "replay" } else { "delivery" }),
        ),
        _ => return None,
    })
}

/// Double opt-in: how the signed link in the first mail is made.
#[derive(Clone)]
pub struct OptInLinks {
    /// Where subscribers reach the pages, e.g. `https://masthead.example`.
    pub base_url: String,
    pub key: SigningKey,
    /// How long a link works.
    pub valid_for: chrono::Duration,
}

impl OptInLinks {
    /// How long a link works unless told otherwise.
    pub const VALID_FOR_DAYS: i64 = 7;

    /// The link for `subscription`, and when it stops working.
    pub fn link(&self, subscription: uuid::Uuid, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let expires_at = now + self.valid_for;
        let token = self.key.opt_in_token(subscription, expires_at.timestamp());
        (format!("{}/confirm/{subscription}?token={token}", self.base_url.trim_end_matches('/')), expires_at)
    }
}

impl MailerHandler {
    /// `Some(outcome)` when this mail must not go out: the recipient's
    /// allowance for the day is spent (the withheld mail is recorded), or
    /// the allowance could not be consulted (retry).
    async fn over_limit(
        &self,
        who: &PersonalData,
        confirmation: &crate::Confirmation,
        recorded: &Recorded<AnyEvent>,
        id: &str,
        known: &[SubscriptionEvent],
        last_sequence: u64,
    ) -> Option<Outcome> {
        let allowance = self.allowance.as_ref()?;
        // An address the rule refuses fails in `compose`, permanently.
        let email = SubscriberEmail::parse(&who.email).ok()?;
        let now = chrono::Utc::now();
        match allowance.admit(&email.mailbox_key(), confirmation.subscription_id, now.date_naive()).await {
            Ok(true) => None,
            Err(e) => Some(self.retry(format!("consulting the recipient allowance: {e}"))),
            Ok(false) => {
                let withheld = ConfirmationWithheld {
                    reason: WithheldReason::RecipientLimit,
                    limit: allowance.per_day(),
                    withheld_at: now,
                };
                let command = SubscriptionCommand::RecordConfirmationWithheld(withheld);
                let meta = CommandMeta::caused_by(&recorded.envelope, "confirmation-withheld");
                if let Err(e) = self.record(id, known, last_sequence, command, &meta).await {
                    return Some(self.retry(format!("recording the withheld mail: {e}")));
                }
                metrics::counter!("masthead_mail_withheld_total").increment(1);
                tracing::info!(
                    subscription_id = %confirmation.subscription_id,
                    "confirmation withheld: the recipient's daily limit is reached"
                );
                Some(Outcome::Done)
            }
        }
    }
}

#[async_trait::async_trait]
impl Handler for MailerHandler {
    /// Concurrently: each mail is independent, and SMTP round trips dominate.
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        futures::future::join_all(batch.iter().map(|d| self.handle_one(d))).await
    }
}

/// Mails handled at once; the SMTP pool bounds the sends in flight.
const BATCH: usize = 64;

/// Runs the mailer until `shutdown`. `retry_delay` paces retries of what is
/// not the mail server's fault (an unreadable history, a busy store).
/// `per_recipient_per_day` caps confirmation mails per mailbox and day (0:
/// no cap). With `opt_in_base_url` (double opt-in), the first mail asks the
/// subscriber to confirm with a signed link to that site.
pub async fn run(
    js: &jetstream::Context,
    topology: &Topology,
    mailer: Mailer,
    retry_delay: Duration,
    per_recipient_per_day: u32,
    opt_in_base_url: Option<String>,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let store = EventStore::new(js.clone(), topology.clone());
    let vault = KeyVault::open(js, &topology.keys_bucket()).await.map_err(RunError::Vault)?;
    let allowance = match per_recipient_per_day {
        0 => None,
        n => Some(RecipientAllowance::open(js, topology, n).await.map_err(RunError::Recipients)?),
    };
    let opt_in = match opt_in_base_url {
        None => None,
        Some(base_url) => Some(OptInLinks {
            base_url,
            key: signing_key(js, &topology.secrets_bucket()).await.map_err(RunError::Recipients)?,
            valid_for: chrono::Duration::days(OptInLinks::VALID_FOR_DAYS),
        }),
    };
    let handler = Arc::new(MailerHandler {
        mailer: Arc::new(mailer),
        store: store.clone(),
        vault,
        bus: CommandBus::new(store, ()),
        retry_delay,
        allowance,
        opt_in,
    });
    let config = RuntimeConfig { batch_size: BATCH, ..Default::default() };
    let runtime = ConsumerRuntime::new(js.clone(), topology.clone(), ConsumerRole::Mailer, config);
    Ok(runtime.run(handler, shutdown).await?)
}

/// The delivery attempts JetStream makes before it gives up on a mail: the
/// retry policy's `max_attempts` must match it.
pub fn max_attempts(topology: &Topology) -> u32 {
    u32::try_from(topology.consumer_config(ConsumerRole::Mailer).max_deliver).unwrap_or(8)
}

/// Asks the mailer to send a subscription's confirmation again, after the
/// cause of its failure was fixed: flags the subscription's latest mail
/// dead letter for replay, which the running mailer picks up. Returns the
/// stream sequence being replayed.
pub async fn request_resend(
    js: &jetstream::Context,
    topology: &Topology,
    subscription_id: uuid::Uuid,
) -> Result<u64, ResendError> {
    let store = EventStore::new(js.clone(), topology.clone());
    let history = store.load::<SubscriptionEvent>(&subscription_id.to_string()).await.map_err(ResendError::History)?;
    if history.events.iter().any(|r| matches!(r.event, SubscriptionEvent::PersonalDataErased(_))) {
        return Err(ResendError::Erased(subscription_id));
    }
    let dead_letters =
        DeadLetters::open(js, &topology.dead_letters_bucket()).await.map_err(ResendError::DeadLetters)?;
    let subject = topology.subject("subscription", &subscription_id.to_string());
    let consumer = ConsumerRole::Mailer.durable_name();
    let letters = dead_letters.list(Some(consumer)).await.map_err(ResendError::DeadLetters)?;
    let letter =
        letters.iter().rev().find(|l| l.subject == subject).ok_or(ResendError::NothingToResend(subscription_id))?;
    dead_letters.request_replay(consumer, letter.stream_sequence).await.map_err(ResendError::DeadLetters)?;
    Ok(letter.stream_sequence)
}

/// Why a resend was not requested.
#[derive(Debug, thiserror::Error)]
pub enum ResendError {
    /// No failed confirmation waits for this subscription: it was sent, or
    /// has not failed (yet). Nothing to do.
    #[error("no failed confirmation is waiting for subscription {0} (see `masthead dlq list --consumer mailer`)")]
    NothingToResend(uuid::Uuid),
    /// The dead-letter bucket did not answer: retry, or run `masthead setup`.
    #[error("dead-letter records unavailable: {0}")]
    DeadLetters(#[source] DeadLetterError),
    /// The subscriber's personal data was erased: there is no one to mail,
    /// ever again. Refuse; nothing to retry.
    #[error("subscription {0}'s personal data was erased: no mail can be sent for it")]
    Erased(uuid::Uuid),
    /// The subscription's history could not be read: retry later.
    #[error("reading the subscription's history: {0}")]
    History(#[source] masthead_jetstream::store::ReadError),
}

/// Why the mailer could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The key vault bucket is missing or unreachable: run `masthead setup`,
    /// or retry once NATS is back.
    #[error("opening the key vault: {0}")]
    Vault(#[source] VaultError),
    /// The secrets or recipients bucket is missing or unreachable: run
    /// `masthead setup`, or retry once NATS is back.
    #[error("opening the recipient allowance: {0}")]
    Recipients(#[source] RecipientsError),
    /// The consumer runtime stopped; its source says why.
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
}
