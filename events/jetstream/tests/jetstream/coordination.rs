//! Idempotency records, leases and the consumer runtime on a real server.

use crate::common::*;
use masthead_domain::envelope::{AnyEvent, CommandMeta};
use masthead_domain::subscription::*;
use masthead_jetstream::command_bus::CommandBus;
use masthead_jetstream::consumer::{ConsumerRuntime, Delivery, Handler, Outcome, RuntimeConfig};
use masthead_jetstream::dead_letter::DeadLetters;
use masthead_jetstream::idempotency::{Claim, IdempotencyRecords};
use masthead_jetstream::lease::Lease;
use masthead_jetstream::topology::ConsumerRole;
use masthead_test_support::wait_until;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[tokio::test]
async fn an_idempotency_key_is_reserved_once_and_checked_against_the_body() {
    let env = env().await;
    let records = IdempotencyRecords::open(&env.js, &env.topology.idempotency_bucket()).await.expect("open");
    let Claim::New(id) = records.claim("subscribe", "abc", "fp1").await.expect("claim") else {
        panic!("first claim is new")
    };
    assert_eq!(records.claim("subscribe", "abc", "fp1").await.expect("claim"), Claim::Replay(id));
    assert_eq!(records.claim("subscribe", "abc", "fp2").await.expect("claim"), Claim::Mismatch);
    assert!(
        matches!(records.claim("subscribe", "other", "fp1").await.expect("claim"), Claim::New(other) if other != id)
    );
}

#[tokio::test]
async fn a_lease_has_one_holder_until_released() {
    let env = env().await;
    let kv = env.js.get_key_value(env.topology.leases_bucket()).await.expect("bucket");
    let mut a = Lease::try_acquire(&kv, "matcher", "a").await.expect("kv").expect("a gets it");
    assert!(Lease::try_acquire(&kv, "matcher", "b").await.expect("kv").is_none(), "b must wait");
    a.renew().await.expect("a renews");
    assert!(a.is_fresh());
    a.release().await;
    let b = Lease::try_acquire(&kv, "matcher", "b").await.expect("kv");
    assert_eq!(b.map(|l| l.holder().to_owned()), Some("b".to_owned()));
}

/// Records what it saw; fails on events of a chosen subscription.
struct Recorder {
    seen: Mutex<Vec<u64>>,
    /// Refused (dead-lettered) on delivery, accepted when an operator
    /// replays it: a handler bug fixed in the meantime.
    refuse_until_replayed: Option<Uuid>,
}

impl Recorder {
    fn refused(&self) -> Option<String> {
        self.refuse_until_replayed.map(|id| id.to_string())
    }
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        batch
            .iter()
            .map(|d| match &d.event.event {
                AnyEvent::Subscription(_)
                    if !d.replay && Some(d.event.envelope.aggregate_id.as_str()) == self.refused().as_deref() =>
                {
                    Outcome::DeadLetter { reason: "refused by the handler".into() }
                }
                AnyEvent::Subscription(_) => {
                    self.seen.lock().expect("lock").push(d.stream_sequence);
                    Outcome::Done
                }
                _ => Outcome::Done,
            })
            .collect()
    }
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_and_the_consumer_carries_on() {
    let env = env().await;
    let bus: CommandBus<Subscription> = CommandBus::new(env.store.clone(), ());
    let first = Uuid::new_v4();
    bus.execute(
        &first.to_string(),
        SubscriptionCommand::Register(register(first, dummy_sealed(first))),
        &CommandMeta::default(),
    )
    .await
    .expect("register");
    let poison = env
        .store
        .publish(env.topology.subject("subscription", "garbage"), async_nats::HeaderMap::new(), "not json".into())
        .await
        .expect("publish poison");
    let second = Uuid::new_v4();
    bus.execute(
        &second.to_string(),
        SubscriptionCommand::Register(register(second, dummy_sealed(second))),
        &CommandMeta::default(),
    )
    .await
    .expect("register");

    let refused = Uuid::new_v4();
    bus.execute(
        &refused.to_string(),
        SubscriptionCommand::Register(register(refused, dummy_sealed(refused))),
        &CommandMeta::default(),
    )
    .await
    .expect("register");
    let handler = Arc::new(Recorder { seen: Mutex::new(vec![]), refuse_until_replayed: Some(refused) });
    let runtime =
        ConsumerRuntime::new(env.js.clone(), env.topology.clone(), ConsumerRole::Matcher, RuntimeConfig::default());
    let shutdown = CancellationToken::new();
    let task = {
        let handler = handler.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move { runtime.run(handler, shutdown).await })
    };
    wait_until("both good events handled", Duration::from_secs(10), || {
        let n = handler.seen.lock().expect("lock").len();
        async move { (n == 2).then_some(()) }
    })
    .await
    .expect("consumer carries on past the poison");

    let dlq = DeadLetters::open(&env.js, &env.topology.dead_letters_bucket()).await.expect("dlq");
    let letters = wait_until("dead letters recorded", Duration::from_secs(10), || {
        let dlq = dlq.clone();
        async move { dlq.list(Some("matcher")).await.ok().filter(|l| l.len() == 2) }
    })
    .await
    .expect("recorded");
    // The poison never reached the handler: the runtime dead-lettered it.
    let poisoned = letters.iter().find(|l| l.stream_sequence == poison.sequence).expect("poison recorded");
    assert!(poisoned.error.starts_with("undecodable event"), "{}", poisoned.error);
    assert_eq!(poisoned.event_type, None);
    let refused_letter = letters.iter().find(|l| l.stream_sequence != poison.sequence).expect("refusal recorded");
    assert_eq!(refused_letter.error, "refused by the handler");
    // The handler took the event by value; the letter still names its type.
    assert_eq!(refused_letter.event_type.as_deref(), Some(SubscriptionEvent::REQUESTED));
    assert_eq!(handler.seen.lock().expect("lock").len(), 2, "refused event not counted as handled");

    // An operator replays both. The handler now accepts the refused one, so
    // it is resolved; the poison is still undecodable and stays, replayed once.
    dlq.request_replay("matcher", refused_letter.stream_sequence).await.expect("replay");
    dlq.request_replay("matcher", poison.sequence).await.expect("replay");
    let left = wait_until("replays done", Duration::from_secs(10), || {
        let dlq = dlq.clone();
        async move {
            let left = dlq.list(Some("matcher")).await.ok()?;
            (left.len() == 1 && left[0].replays == 1 && !left[0].replay_requested).then_some(left)
        }
    })
    .await
    .expect("replayed");
    assert_eq!(left[0].stream_sequence, poison.sequence);
    assert_eq!(handler.seen.lock().expect("lock").len(), 3, "the replayed event was handled");

    shutdown.cancel();
    task.await.expect("join").expect("clean stop");
}

/// Counts the events of each batch it is handed.
struct BatchSizes(Mutex<Vec<usize>>);

#[async_trait::async_trait]
impl Handler for BatchSizes {
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        self.0.lock().expect("lock").push(batch.len());
        vec![Outcome::Done; batch.len()]
    }
}

/// Without a linger this handed over `[42, 50, 8, 20]`.
#[tokio::test]
async fn a_lagging_consumer_with_linger_hands_over_full_batches() {
    let env = env().await;
    let bus: CommandBus<Subscription> = CommandBus::new(env.store.clone(), ());
    for _ in 0..120 {
        let id = Uuid::new_v4();
        let register = SubscriptionCommand::Register(register(id, dummy_sealed(id)));
        bus.execute(&id.to_string(), register, &CommandMeta::default()).await.expect("register");
    }
    let handler = Arc::new(BatchSizes(Mutex::new(vec![])));
    let config = RuntimeConfig { batch_size: 50, linger: Some(Duration::from_secs(5)), ..RuntimeConfig::default() };
    let runtime = ConsumerRuntime::new(env.js.clone(), env.topology.clone(), ConsumerRole::Matcher, config);
    let shutdown = CancellationToken::new();
    let task = {
        let (handler, shutdown) = (handler.clone(), shutdown.clone());
        tokio::spawn(async move { runtime.run(handler, shutdown).await })
    };
    let sizes = wait_until("every event handled", Duration::from_secs(20), || {
        let sizes = handler.0.lock().expect("lock").clone();
        async move { (sizes.iter().sum::<usize>() == 120).then_some(sizes) }
    })
    .await
    .expect("all handled");
    shutdown.cancel();
    task.await.expect("joins").expect("runs");
    // Behind, a batch waits to fill; it may pass the size by one chunk
    // (fewer than 50 more), and so may the last one, which stops waiting
    // once nothing is pending after it.
    let (_, full) = sizes.split_last().expect("batches");
    assert!(!full.is_empty() && full.iter().all(|n| *n >= 50), "{sizes:?}");
    assert!(sizes.iter().all(|n| *n < 100), "{sizes:?}");
}
