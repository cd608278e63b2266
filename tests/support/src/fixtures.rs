//! Fixtures shared by the suites: subscriptions registered straight into a
//! real stream, and what the consumers made of them.

use crate::wait_until;
use anyhow::{Context, Result};
use async_nats::jetstream;
use futures::StreamExt;
use masthead_domain::address::PostalAddress;
use masthead_domain::country::Country;
use masthead_domain::envelope::CommandMeta;
use masthead_domain::personal_data::SealedPersonalData;
use masthead_domain::subscription::{
    Channel, RegisterSubscription, Subscription, SubscriptionCommand, SubscriptionEvent,
};
use masthead_jetstream::command_bus::CommandBus;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// Sealed personal data that names a key no vault holds: for flows that
/// never open it (the matcher, the projections).
pub fn placeholder_sealed(id: Uuid) -> SealedPersonalData {
    SealedPersonalData {
        alg: "xchacha20poly1305".into(),
        key_id: id.to_string(),
        nonce: "AA==".into(),
        ciphertext: "AA==".into(),
    }
}

/// The registration of subscription `id` at an address (country in any
/// spelling `Country::parse` knows).
pub fn registration(id: Uuid, street: &str, postal_code: &str, city: &str, country: &str) -> RegisterSubscription {
    RegisterSubscription {
        subscription_id: id,
        subscriber: placeholder_sealed(id),
        address: PostalAddress {
            street: street.into(),
            postal_code: postal_code.into(),
            city: city.into(),
            country: Country::parse(country).unwrap_or_else(|e| panic!("test country {country:?}: {e}")),
        },
        country_as_typed: country.into(),
        channel: Channel::Api,
        requested_at: chrono::Utc::now(),
    }
}

/// Registers a new subscription at an address; returns its id.
pub async fn subscribe(store: &EventStore, street: &str, postal_code: &str, city: &str, country: &str) -> Result<Uuid> {
    let id = masthead_domain::subscription::new_subscription_id();
    let bus: CommandBus<Subscription> = CommandBus::new(store.clone(), ());
    let command = SubscriptionCommand::Register(registration(id, street, postal_code, city, country));
    bus.execute_new(&id.to_string(), command, &CommandMeta::default()).await.context("registering")?;
    Ok(id)
}

/// Waits for the matcher's outcome on a subscription (`AddressMatched` or
/// `AddressAssigned`).
pub async fn outcome(store: &EventStore, id: Uuid) -> Result<SubscriptionEvent> {
    wait_until("match outcome", Duration::from_secs(20), || async {
        let h = store.load::<SubscriptionEvent>(&id.to_string()).await.ok()?;
        h.events.into_iter().map(|r| r.event).find(is_outcome)
    })
    .await
}

/// How many outcomes a subscription has now.
pub async fn outcomes_of(store: &EventStore, id: Uuid) -> Result<usize> {
    let h = store.load::<SubscriptionEvent>(&id.to_string()).await?;
    Ok(h.events.iter().filter(|r| is_outcome(&r.event)).count())
}

fn is_outcome(e: &SubscriptionEvent) -> bool {
    matches!(e, SubscriptionEvent::AddressMatched(_) | SubscriptionEvent::AddressAssigned(_))
}

/// The base address an outcome resolved to.
pub fn base_of(e: &SubscriptionEvent) -> Uuid {
    match e {
        SubscriptionEvent::AddressMatched(m) => m.base_address_id,
        SubscriptionEvent::AddressAssigned(a) => a.base_address_id,
        other => panic!("not an outcome: {other:?}"),
    }
}

/// Messages per subject of one aggregate type (`address`: base addresses).
pub async fn messages_per_subject(
    js: &jetstream::Context,
    topology: &Topology,
    aggregate_type: &str,
) -> Result<HashMap<String, usize>> {
    let stream = js.get_stream(&topology.stream).await?;
    let mut subjects = stream.info_with_subjects(topology.aggregate_filter(aggregate_type)).await?;
    let mut out = HashMap::new();
    while let Some(entry) = subjects.next().await {
        let (subject, count) = entry?;
        out.insert(subject, count);
    }
    Ok(out)
}
