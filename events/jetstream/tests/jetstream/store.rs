//! The event store against a real nats-server with JetStream.

use crate::common::*;
use masthead_domain::address::*;
use masthead_domain::envelope::{header, CommandMeta};
use masthead_domain::personal_data::PersonalData;
use masthead_domain::subscription::*;
use masthead_jetstream::command_bus::{CommandBus, CommandError};
use masthead_jetstream::key_vault::{KeyPool, KeyVault, VaultError};
use masthead_jetstream::store::AppendError;
use uuid::Uuid;

fn requested(id: Uuid) -> SubscriptionEvent {
    let c = register(id, dummy_sealed(id));
    SubscriptionEvent::SubscriptionRequested(SubscriptionRequested {
        subscription_id: id,
        subscriber: c.subscriber,
        address: c.address,
        country_as_typed: c.country_as_typed,
        channel: c.channel,
        requested_at: c.requested_at,
    })
}

fn matched(base: Uuid) -> AddressMatched {
    AddressMatched {
        base_address_id: base,
        base_address_ref: None,
        delivery_address: AddressLines { street: "Kerkstraat 12".into(), postal_code: None, city: None, country: None },
        entered: CanonicalAddress {
            key: "k".into(),
            street: "kerk straat".into(),
            house_number: "12".into(),
            postal_code: "3511lx".into(),
            city: "utrecht".into(),
            country: "NL".into(),
            house_name: String::new(),
            version: 1,
        },
        score: 97.0,
        explanation: MatchExplanation {
            street_similarity: 100.0,
            street: FieldAgreement::Exact,
            house_number: FieldAgreement::Exact,
            postal_code: FieldAgreement::Exact,
            city: FieldAgreement::Exact,
            country: FieldAgreement::Exact,
            probability: None,
            weights: None,
        },
        matched_at: chrono::Utc::now(),
        review: None,
    }
}

#[tokio::test]
async fn appended_events_load_back_with_their_envelope() {
    let env = env().await;
    let id = Uuid::new_v4();
    let meta = CommandMeta {
        correlation_id: Some("corr-1".into()),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        ..Default::default()
    };
    let event = requested(id);
    let first = env.store.append(&id.to_string(), 0, 1, &event, &meta).await.expect("append");
    let history = env.store.load::<SubscriptionEvent>(&id.to_string()).await.expect("load");
    assert_eq!(history.events.len(), 1);
    assert_eq!(history.last_sequence, first.stream_sequence);
    let e = &history.events[0].envelope;
    assert_eq!(e.event_type, "SubscriptionRequested");
    assert_eq!(e.schema_version, 2);
    assert_eq!(e.aggregate_type, "subscription");
    assert_eq!(e.aggregate_id, id.to_string());
    assert_eq!(e.aggregate_version, 1);
    assert_eq!(e.correlation_id, "corr-1");
    assert_eq!(e.traceparent.as_deref(), meta.traceparent.as_deref());
    assert_eq!(history.events[0].event, event);
    // The raw message has the envelope in its headers.
    let (headers, _) = env.store.get_raw(first.stream_sequence).await.expect("raw");
    assert_eq!(headers.get(header::EVENT_ID).map(|v| v.as_str().to_owned()), Some(e.event_id.to_string()));
}

#[tokio::test]
async fn histories_of_every_length_load_whole_and_in_order() {
    // One, two (the first-and-last shortcut) and several events, with
    // another aggregate's events interleaved on the stream.
    let env = env().await;
    let id = Uuid::new_v4();
    let other = Uuid::new_v4();
    let meta = CommandMeta::default();
    let sid = id.to_string();
    let mut last = 0;
    let mut expected = Vec::new();
    for version in 1..=5u64 {
        let event =
            if version == 1 { requested(id) } else { SubscriptionEvent::AddressMatched(matched(Uuid::new_v4())) };
        let stored = env.store.append(&sid, last, version, &event, &meta).await.expect("append");
        last = stored.stream_sequence;
        expected.push(event);
        env.store.append(&other.to_string(), 0, 1, &requested(other), &meta).await.ok();
        let history = env.store.load::<SubscriptionEvent>(&sid).await.expect("load");
        let versions: Vec<u64> = history.events.iter().map(|r| r.envelope.aggregate_version).collect();
        assert_eq!(versions, (1..=version).collect::<Vec<_>>(), "after {version} appends");
        let events: Vec<_> = history.events.into_iter().map(|r| r.event).collect();
        assert_eq!(events, expected);
        assert_eq!(history.last_sequence, last);
    }
    let empty = env.store.load::<SubscriptionEvent>(&Uuid::new_v4().to_string()).await.expect("load");
    assert!(empty.events.is_empty() && empty.last_sequence == 0);
}

#[tokio::test]
async fn two_concurrent_appends_at_the_same_position_have_exactly_one_winner() {
    let env = env().await;
    let id = Uuid::new_v4();
    let first = env.store.append(&id.to_string(), 0, 1, &requested(id), &CommandMeta::default()).await.expect("append");
    for _ in 0..5 {
        let a = SubscriptionEvent::AddressMatched(matched(Uuid::new_v4()));
        let b = SubscriptionEvent::AddressMatched(matched(Uuid::new_v4()));
        let (sid, meta) = (id.to_string(), CommandMeta::default());
        let (ra, rb) = tokio::join!(
            env.store.append(&sid, first.stream_sequence, 2, &a, &meta),
            env.store.append(&sid, first.stream_sequence, 2, &b, &meta),
        );
        // After the first round every append at that position conflicts.
        let wins = [ra.is_ok(), rb.is_ok()].iter().filter(|x| **x).count();
        let conflicts = [&ra, &rb].iter().filter(|r| matches!(r, Err(AppendError::Conflict { .. }))).count();
        assert!(wins <= 1, "at most one winner");
        assert_eq!(wins + conflicts, 2, "the loser sees a conflict: {ra:?} {rb:?}");
    }
    let history = env.store.load::<SubscriptionEvent>(&id.to_string()).await.expect("load");
    assert_eq!(history.events.len(), 2, "exactly one match was stored");
}

#[tokio::test]
async fn appending_to_a_new_aggregate_that_exists_conflicts() {
    let env = env().await;
    let id = Uuid::new_v4();
    env.store.append(&id.to_string(), 0, 1, &requested(id), &CommandMeta::default()).await.expect("append");
    let again = env.store.append(&id.to_string(), 0, 1, &requested(id), &CommandMeta::default()).await;
    assert!(matches!(again, Err(AppendError::Conflict { .. })), "{again:?}");
}

#[tokio::test]
async fn a_duplicate_append_returns_the_original_event() {
    let env = env().await;
    let id = Uuid::new_v4();
    let meta = CommandMeta { idempotency_key: Some("key-1".into()), ..Default::default() };
    let first = env.store.append(&id.to_string(), 0, 1, &requested(id), &meta).await.expect("first");
    // A retry after a lost ack: same key, stale expectation, different event id.
    let second = env.store.append(&id.to_string(), 0, 1, &requested(id), &meta).await.expect("duplicate is success");
    assert_eq!(second.stream_sequence, first.stream_sequence);
    assert_eq!(second.envelope.event_id, first.envelope.event_id);
    assert_eq!(env.store.load::<SubscriptionEvent>(&id.to_string()).await.expect("load").events.len(), 1);
}

#[tokio::test]
async fn a_v1_event_in_the_stream_is_read_as_v2() {
    let env = env().await;
    let id = Uuid::new_v4();
    let subject = env.topology.subject("subscription", &id.to_string());
    let mut headers = async_nats::HeaderMap::new();
    for (k, v) in [
        (header::EVENT_TYPE, "SubscriptionRequested".to_owned()),
        (header::SCHEMA_VERSION, "1".to_owned()),
        (header::AGGREGATE_TYPE, "subscription".to_owned()),
        (header::AGGREGATE_ID, id.to_string()),
        (header::AGGREGATE_VERSION, "1".to_owned()),
        (header::EVENT_ID, Uuid::new_v4().to_string()),
        (header::OCCURRED_AT, "2024-03-01T10:00:00Z".to_owned()),
        (header::CORRELATION_ID, id.to_string()),
    ] {
        headers.insert(k, v.as_str());
    }
    let v1 = serde_json::json!({
        "subscription_id": id, "subscriber": dummy_sealed(id),
        "street": "Kerkstraat 12", "postal_code": "3511 LX", "city": "Utrecht", "country": "NL",
        "requested_at": "2024-03-01T10:00:00Z"
    });
    env.store.publish(subject, headers, serde_json::to_vec(&v1).expect("json").into()).await.expect("publish");
    let history = env.store.load::<SubscriptionEvent>(&id.to_string()).await.expect("load");
    let SubscriptionEvent::SubscriptionRequested(e) = &history.events[0].event else { panic!("wrong event") };
    assert_eq!(e.address.city, "Utrecht");
    assert_eq!(e.channel, Channel::Api);
}

#[tokio::test]
async fn personal_data_is_unreadable_in_the_raw_stream_and_after_its_key_is_deleted() {
    let env = env().await;
    let vault = KeyVault::open(&env.js, &env.topology.keys_bucket()).await.expect("vault");
    let pool = KeyPool::start(vault.clone(), 4);
    let id = Uuid::new_v4();
    let person = PersonalData { name: "Grace Hopper".into(), email: "grace@example.org".into() };
    let sealed = pool.seal(&person).await.expect("seal");
    let bus: CommandBus<Subscription> = CommandBus::new(env.store.clone(), ());
    let stored = bus
        .execute(&id.to_string(), SubscriptionCommand::Register(register(id, sealed)), &CommandMeta::default())
        .await
        .expect("register");
    let (headers, payload) = env.store.get_raw(stored[0].stream_sequence).await.expect("raw");
    let raw = format!("{:?}{}", headers, String::from_utf8_lossy(&payload));
    assert!(!raw.contains("Grace") && !raw.contains("grace@example.org"), "plaintext in stream: {raw}");
    assert!(raw.contains("Kerkstraat 12"), "the address stays readable");

    let history = env.store.load::<SubscriptionEvent>(&id.to_string()).await.expect("load");
    let SubscriptionEvent::SubscriptionRequested(e) = &history.events[0].event else { panic!("wrong event") };
    assert_eq!(vault.open_sealed(&e.subscriber).await.expect("opens"), person);

    // Erasure destroys the key the event names.
    vault.erase(&e.subscriber.key_id).await.expect("erase");
    assert!(matches!(vault.open_sealed(&e.subscriber).await, Err(VaultError::Erased(_))));
    // The rest of the history still loads.
    assert_eq!(env.store.load::<SubscriptionEvent>(&id.to_string()).await.expect("load").events.len(), 1);
}

#[tokio::test]
async fn the_command_bus_re_decides_after_a_conflict() {
    let env = env().await;
    let id = Uuid::new_v4();
    let bus: std::sync::Arc<CommandBus<Subscription>> = std::sync::Arc::new(CommandBus::new(env.store.clone(), ()));
    bus.execute(
        &id.to_string(),
        SubscriptionCommand::Register(register(id, dummy_sealed(id))),
        &CommandMeta::default(),
    )
    .await
    .expect("register");
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (sid, meta) = (id.to_string(), CommandMeta::default());
    let (ra, rb) = tokio::join!(
        bus.execute(&sid, SubscriptionCommand::RecordMatch(matched(a)), &meta),
        bus.execute(&sid, SubscriptionCommand::RecordMatch(matched(b)), &meta),
    );
    // One decision wins; the other, re-decided on the new state, is refused
    // as a contradiction rather than reported as a storage conflict.
    let outcomes = [ra, rb];
    assert_eq!(outcomes.iter().filter(|r| matches!(r, Ok(v) if v.len() == 1)).count(), 1);
    assert_eq!(
        outcomes
            .iter()
            .filter(|r| matches!(r, Err(CommandError::Rejected(SubscriptionError::AlreadyResolved(_)))))
            .count(),
        1,
        "{outcomes:?}"
    );
}
