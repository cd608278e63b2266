//! Intake: turning a submitted form into a durably stored
//! `SubscriptionRequested`, or a clear refusal. Shared by the JSON API and
//! the HTML form, so both obey exactly the same rules.

use masthead_domain::envelope::CommandMeta;
use masthead_domain::subscription::{
    Channel, FieldError, RegisterSubscription, Subscription, SubscriptionCommand, SubscriptionError, SubscriptionForm,
};
use masthead_jetstream::command_bus::{CommandBus, CommandError};
use masthead_jetstream::idempotency::{fingerprint, Claim, IdempotencyRecords};
use masthead_jetstream::key_vault::{KeyPool, KeyVault, VaultError, DEFAULT_POOL_SIZE};
use masthead_jetstream::store::EventStore;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The whole intake must answer within this, whatever NATS does; the API
/// turns a timeout into 503 with `Retry-After`. Refusals must reach the
/// client within 2 s; the rest is the margin for a loaded machine.
pub const INTAKE_DEADLINE: Duration = Duration::from_millis(1500);

/// How long a request that finds the NATS client disconnected waits for it
/// to reconnect (to another node of the cluster) before it is refused.
const RECONNECT_GRACE: Duration = Duration::from_millis(500);
const RECONNECT_POLL: Duration = Duration::from_millis(10);

/// How long one attempt at a step (reserving the key, sealing, appending)
/// may take before it is abandoned and tried again within the deadline. A
/// request sent to a stream leader that is handing over (a node stopped for
/// maintenance) can go unanswered; the next attempt reaches the new leader.
/// An abandoned attempt that landed after all is found by the next one (the
/// key's record, the subscription already registered under our id).
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);

/// The pause before a step that found NATS unavailable is tried again
/// within the request's deadline: long enough not to hammer a cluster that
/// is electing a leader, short enough to retry several times.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Why a subscription was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// Some fields break the rules. Show every one to the subscriber (422).
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// The Idempotency-Key was used before with a different body (422).
    #[error("the Idempotency-Key was already used with a different request")]
    KeyReused,
    /// The Idempotency-Key header itself is malformed (400).
    #[error("Idempotency-Key must be 1-255 visible ASCII characters")]
    BadKey,
    /// NATS or JetStream did not answer in time. Nothing the client can see
    /// was accepted; it should retry, ideally with an Idempotency-Key (503).
    #[error("the event store is unavailable")]
    Unavailable,
    /// An unexpected store failure (500). Logged with details.
    #[error("internal error")]
    Internal(String),
}

#[derive(Clone)]
pub struct Intake {
    bus: Arc<CommandBus<Subscription>>,
    keys: KeyPool,
    records: IdempotencyRecords,
    client: async_nats::Client,
}

/// What was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: Uuid,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

pub fn valid_idempotency_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic())
}

impl Intake {
    /// Must be called inside a Tokio runtime: the data-key pool refills
    /// itself on it.
    pub fn new(store: EventStore, vault: KeyVault, records: IdempotencyRecords, client: async_nats::Client) -> Self {
        Self::with_keys(store, KeyPool::start(vault, DEFAULT_POOL_SIZE), records, client)
    }

    fn with_keys(store: EventStore, keys: KeyPool, records: IdempotencyRecords, client: async_nats::Client) -> Self {
        Self { bus: Arc::new(CommandBus::new(store, ())), keys, records, client }
    }

    /// Validates, seals and appends. Returns only after JetStream acknowledged
    /// the event.
    ///
    /// `traceparent` is the caller's W3C trace context. It is used only when
    /// the current span (the HTTP server span) has no context of its own:
    /// when it has, that span already descends from the caller's, and the
    /// event's publish span becomes its child.
    pub async fn submit(
        &self,
        form: &SubscriptionForm,
        channel: Channel,
        idempotency_key: Option<&str>,
        traceparent: Option<String>,
    ) -> Result<Accepted, IntakeError> {
        let valid = form.validate().map_err(IntakeError::Invalid)?;
        if let Some(key) = idempotency_key {
            if !valid_idempotency_key(key) {
                return Err(IntakeError::BadKey);
            }
        }
        let attempt = async {
            // A publish while disconnected would sit in the client's buffer
            // and could reach the server after we answered 503. A client
            // that lost its server (a NATS node stopped for maintenance) is
            // usually on another one within milliseconds, so wait for that
            // briefly (within the deadline); then refuse.
            if !self.is_connected() && !self.reconnected_within(RECONNECT_GRACE).await {
                return Err(IntakeError::Unavailable);
            }
            // Boxed once here: with the rare paths and async-nats' futures
            // boxed beneath it, `submit_valid` still holds ~4 KB (the
            // command, the aggregate, the append's envelope and span), which
            // every layer above (the deadline, the handler, axum's routing)
            // would move again.
            Box::pin(self.submit_valid(form, valid, channel, idempotency_key, traceparent)).await
        };
        tokio::time::timeout(INTAKE_DEADLINE, attempt).await.map_err(|_| IntakeError::Unavailable)?
    }

    async fn submit_valid(
        &self,
        form: &SubscriptionForm,
        valid: masthead_domain::subscription::ValidSubscription,
        channel: Channel,
        idempotency_key: Option<&str>,
        traceparent: Option<String>,
    ) -> Result<Accepted, IntakeError> {
        let (id, replayed) = match idempotency_key {
            None => (masthead_domain::subscription::new_subscription_id(), false),
            Some(key) => {
                // Boxed: only keyed requests claim, and the claim's KV
                // futures would otherwise enlarge every request's future.
                match Box::pin(self.claim(form, key)).await? {
                    Claim::New(id) => (id, false),
                    Claim::Replay(id) => (id, true),
                    Claim::Mismatch => return Err(IntakeError::KeyReused),
                }
            }
        };
        let subscriber = loop {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, self.keys.seal(&valid.personal)).await {
                Ok(Ok(sealed)) => break sealed,
                Ok(Err(VaultError::Unavailable(_))) | Err(_) => self.before_retry().await,
                Ok(Err(other)) => return Err(IntakeError::Internal(other.to_string())),
            }
        };
        let command = SubscriptionCommand::Register(RegisterSubscription {
            subscription_id: id,
            subscriber,
            address: valid.address,
            country_as_typed: valid.country_as_typed,
            channel,
            requested_at: chrono::Utc::now(),
        });
        // The HTTP span declares `correlation_id`, so its log lines (and
        // trace) name the subscription from here on.
        tracing::Span::current().record("correlation_id", tracing::field::display(id));
        // Inside a traced HTTP span the publish span descends from it by
        // itself; only without one is the caller's context handed on as is.
        let traceparent = if masthead_jetstream::trace::current_is_traced() { None } else { traceparent };
        let meta = CommandMeta {
            correlation_id: Some(id.to_string()),
            causation_id: None,
            traceparent,
            tracestate: None,
            // No `Nats-Msg-Id`: registering appends with "subject must be
            // empty", so it cannot land twice, and a second attempt (a
            // replayed Idempotency-Key racing its first) conflicts, reloads
            // and is answered below as already registered. Dedup ids would
            // only fill the server's window and cost it a lookup per request.
            idempotency_key: None,
        };
        self.register(id, replayed, command, &meta).await
    }

    /// Appends the registration: a new subscription, or the replay of a
    /// key whose first attempt may have got as far as the stream.
    async fn register(
        &self,
        id: Uuid,
        replayed: bool,
        command: SubscriptionCommand,
        meta: &CommandMeta,
    ) -> Result<Accepted, IntakeError> {
        // A failover (a NATS node died, a stream elects a new leader) makes
        // appends unavailable for a moment: retried here until the deadline
        // rather than refused at the first miss. A retry after an append
        // whose answer was lost finds the subscription registered; the id is
        // ours alone (new, or reserved by this request's key), so that is
        // this request's own event.
        let mut attempts = 0u32;
        let executed = loop {
            attempts += 1;
            let (aggregate, command) = (id.to_string(), command.clone());
            let execution = async {
                match replayed {
                    true => self.bus.execute(&aggregate, command, meta).await,
                    false => self.bus.execute_new(&aggregate, command, meta).await,
                }
            };
            let executed = tokio::time::timeout(ATTEMPT_TIMEOUT, execution)
                .await
                .unwrap_or_else(|_| Err(CommandError::Unavailable("no acknowledgement in time".into())));
            match executed {
                Err(CommandError::Unavailable(_)) => self.before_retry().await,
                other => break other,
            }
        };
        match executed {
            Ok(_) => Ok(Accepted { id, replayed }),
            Err(CommandError::Rejected(SubscriptionError::AlreadyRegistered)) if replayed || attempts > 1 => {
                Ok(Accepted { id, replayed })
            }
            Err(CommandError::Unavailable(_)) | Err(CommandError::Conflict(_)) => Err(IntakeError::Unavailable),
            Err(other) => Err(IntakeError::Internal(other.to_string())),
        }
    }

    /// Reserves the Idempotency-Key (or finds what it was used for),
    /// retrying while the records bucket does not answer.
    async fn claim(&self, form: &SubscriptionForm, key: &str) -> Result<Claim, IntakeError> {
        // The fingerprint covers what the subscriber typed (trimmed), so
        // whitespace-only differences count as the same request.
        let normalised = SubscriptionForm {
            name: form.name.trim().to_owned(),
            email: form.email.trim().to_owned(),
            street: form.street.trim().to_owned(),
            postal_code: form.postal_code.trim().to_owned(),
            city: form.city.trim().to_owned(),
            country: form.country.trim().to_owned(),
        };
        let fingerprint = fingerprint(&normalised);
        loop {
            // A retry after a reservation whose answer was lost finds it
            // made, with this body's fingerprint: a replay of this request.
            match tokio::time::timeout(ATTEMPT_TIMEOUT, self.records.claim("subscriptions", key, &fingerprint)).await {
                Ok(Ok(claim)) => return Ok(claim),
                Ok(Err(_)) | Err(_) => self.before_retry().await,
            }
        }
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Whether the client is connected again within `grace`.
    async fn reconnected_within(&self, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(RECONNECT_POLL).await;
            if self.is_connected() {
                return true;
            }
        }
        false
    }

    /// Pauses before the next attempt at a step that found NATS
    /// unavailable, and waits for the connection if it is down (nothing is
    /// published into a disconnected client's buffer). The request's
    /// deadline (`INTAKE_DEADLINE`) bounds every wait.
    async fn before_retry(&self) {
        tokio::time::sleep(RETRY_PAUSE).await;
        while !self.is_connected() {
            tokio::time::sleep(RECONNECT_POLL).await;
        }
    }
}
