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
/// turns a timeout into 503 with `Retry-After`.
pub const INTAKE_DEADLINE: Duration = Duration::from_millis(1800);

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
        // A publish while disconnected would sit in the client's buffer and
        // could reach the server after we answered 503. Refuse up front.
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(IntakeError::Unavailable);
        }
        // Boxed once here: with the rare paths and async-nats' futures boxed
        // beneath it, `submit_valid` still holds ~4 KB (the command, the
        // aggregate, the append's envelope and span), which every layer
        // above (the deadline, the handler, axum's routing) would move again.
        tokio::time::timeout(
            INTAKE_DEADLINE,
            Box::pin(self.submit_valid(form, valid, channel, idempotency_key, traceparent)),
        )
        .await
        .map_err(|_| IntakeError::Unavailable)?
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
                // The fingerprint covers what the subscriber typed (trimmed),
                // so whitespace-only differences count as the same request.
                let normalised = SubscriptionForm {
                    name: form.name.trim().to_owned(),
                    email: form.email.trim().to_owned(),
                    street: form.street.trim().to_owned(),
                    postal_code: form.postal_code.trim().to_owned(),
                    city: form.city.trim().to_owned(),
                    country: form.country.trim().to_owned(),
                };
                // Boxed: only keyed requests claim, and the claim's KV
                // futures would otherwise enlarge every request's future.
                match Box::pin(self.records.claim("subscriptions", key, &fingerprint(&normalised))).await {
                    Ok(Claim::New(id)) => (id, false),
                    Ok(Claim::Replay(id)) => (id, true),
                    Ok(Claim::Mismatch) => return Err(IntakeError::KeyReused),
                    Err(_) => return Err(IntakeError::Unavailable),
                }
            }
        };
        let subscriber = self.keys.seal(&valid.personal).await.map_err(|e| match e {
            VaultError::Unavailable(_) => IntakeError::Unavailable,
            other => IntakeError::Internal(other.to_string()),
        })?;
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
        let executed = if replayed {
            self.bus.execute(&id.to_string(), command, &meta).await
        } else {
            self.bus.execute_new(&id.to_string(), command, &meta).await
        };
        match executed {
            Ok(_) => Ok(Accepted { id, replayed }),
            // A replayed key whose first attempt got as far as the stream.
            Err(CommandError::Rejected(SubscriptionError::AlreadyRegistered)) if replayed => {
                Ok(Accepted { id, replayed })
            }
            Err(CommandError::Unavailable(_)) | Err(CommandError::Conflict(_)) => Err(IntakeError::Unavailable),
            Err(other) => Err(IntakeError::Internal(other.to_string())),
        }
    }
}
