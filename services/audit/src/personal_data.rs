//! The subscriber's rights: erasure (crypto-shredding) and subject access.

use masthead_domain::envelope::CommandMeta;
use masthead_domain::subscription::{
    ErasePersonalData, ErasureReason, Subscription, SubscriptionCommand, SubscriptionEvent,
};
use masthead_jetstream::command_bus::{CommandBus, CommandError};
use masthead_jetstream::key_vault::{KeyVault, VaultError};
use masthead_jetstream::store::{EventStore, ReadError};
use serde_json::{json, Value};
use uuid::Uuid;

/// Why an erasure or an access request failed.
#[derive(Debug, thiserror::Error)]
pub enum PersonalDataError {
    /// No subscription with this id was ever requested: answer 404.
    #[error("no subscription {0}")]
    NotFound(Uuid),
    /// The event store did not answer or refused: nothing or only the event
    /// was stored; retrying is safe (erasure is idempotent).
    #[error("event store: {0}")]
    Store(String),
    /// The key vault did not answer: the event may be stored but the key
    /// not yet destroyed. Retry: the second erasure destroys the key.
    #[error("key vault: {0}")]
    Vault(#[source] VaultError),
}

impl From<ReadError> for PersonalDataError {
    fn from(e: ReadError) -> Self {
        Self::Store(e.to_string())
    }
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// `false`: it was erased before; nothing new was recorded.
    pub recorded: bool,
    /// The data key destroyed (an id).
    pub key_id: String,
}

fn key_of(events: &[SubscriptionEvent]) -> Option<String> {
    events.iter().find_map(|e| match e {
        SubscriptionEvent::SubscriptionRequested(r) => Some(r.subscriber.key_id.clone()),
        _ => None,
    })
}

/// Records `PersonalDataErased` (unless it is there already), then
/// destroys the data key. In that order: the event is the durable promise;
/// a failure between the two is repaired by erasing again.
pub async fn erase(
    store: &EventStore,
    vault: &KeyVault,
    id: Uuid,
    reason: Option<ErasureReason>,
) -> Result<Erasure, PersonalDataError> {
    let history = store.load::<SubscriptionEvent>(&id.to_string()).await?;
    let events: Vec<SubscriptionEvent> = history.events.into_iter().map(|r| r.event).collect();
    let key_id = key_of(&events).ok_or(PersonalDataError::NotFound(id))?;
    let bus = CommandBus::<Subscription>::new(store.clone(), ());
    let command = SubscriptionCommand::ErasePersonalData(ErasePersonalData { reason, erased_at: chrono::Utc::now() });
    // Idempotent per subscription: a retried request is one erasure.
    let meta = CommandMeta { idempotency_key: Some(format!("erase-{id}")), ..Default::default() };
    let stored = bus.execute_after(&id.to_string(), &events, history.last_sequence, command, &meta).await;
    let recorded = match stored {
        Ok(events) => !events.is_empty(),
        Err(CommandError::Rejected(_)) => return Err(PersonalDataError::NotFound(id)),
        Err(e) => return Err(PersonalDataError::Store(e.to_string())),
    };
    vault.erase(&key_id).await.map_err(PersonalDataError::Vault)?;
    Ok(Erasure { recorded, key_id })
}

/// A subject-access answer: the decrypted name and email (or that they
/// were erased) and the subscription's whole history.
pub async fn subject_access(store: &EventStore, vault: &KeyVault, id: Uuid) -> Result<Value, PersonalDataError> {
    let history = store.load::<SubscriptionEvent>(&id.to_string()).await?;
    let sealed = history.events.iter().find_map(|r| match &r.event {
        SubscriptionEvent::SubscriptionRequested(e) => Some(e.subscriber.clone()),
        _ => None,
    });
    let sealed = sealed.ok_or(PersonalDataError::NotFound(id))?;
    let erased = history.events.iter().any(|r| matches!(r.event, SubscriptionEvent::PersonalDataErased(_)));
    let personal = if erased {
        json!("erased")
    } else {
        match vault.open_sealed(&sealed).await {
            Ok(p) => json!({"name": p.name, "email": p.email}),
            Err(VaultError::Erased(_)) => json!("erased"),
            Err(e) => return Err(PersonalDataError::Vault(e)),
        }
    };
    let events: Vec<Value> = history
        .events
        .iter()
        .map(|r| {
            let mut event = serde_json::to_value(&r.event).unwrap_or(Value::Null);
            // The sealed blob is shown opened above, or is gone.
            if let Some(m) = event.as_object_mut() {
                m.remove("subscriber");
            }
            json!({
                "stream_sequence": r.stream_sequence,
                "event_type": r.envelope.event_type,
                "occurred_at": r.envelope.occurred_at,
                "event": event,
            })
        })
        .collect();
    Ok(json!({"subscription_id": id, "personal_data": personal, "history": events}))
}
