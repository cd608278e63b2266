//! Idempotency records, leases and the consumer runtime on a real server.

mod common;

use common::*;
use masthead_events::command_bus::CommandBus;
use masthead_events::consumer::{ConsumerRuntime, Delivery, Handler, Outcome, RuntimeConfig};
use masthead_events::dead_letter::DeadLetters;
use masthead_events::envelope::{AnyEvent, CommandMeta};
use masthead_events::idempotency::{Claim, IdempotencyRecords};
use masthead_events::lease::Lease;
use masthead_events::subscription::*;
use masthead_events::topology::ConsumerRole;
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
    poison_ok_after_replay: bool,
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        batch
            .iter()
            .map(|d| match &d.event {
                Ok(r) if matches!(r.event, AnyEvent::Subscription(_)) => {
                    self.seen.lock().expect("lock").push(d.stream_sequence);
                    Outcome::Done
                }
                Ok(_) => Outcome::Done,
                Err(_) if d.replay && self.poison_ok_after_replay => Outcome::Done,
                Err(e) => Outcome::DeadLetter { reason: e.to_string() },
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

    let handler = Arc::new(Recorder { seen: Mutex::new(vec![]), poison_ok_after_replay: true });
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
    let letters = wait_until("dead letter recorded", Duration::from_secs(10), || {
        let dlq = dlq.clone();
        async move { dlq.list(Some("matcher")).await.ok().filter(|l| !l.is_empty()) }
    })
    .await
    .expect("recorded");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].stream_sequence, poison.sequence);
    assert!(!letters[0].error.is_empty());

    // An operator replays it; this handler now accepts it, so it is resolved.
    dlq.request_replay("matcher", poison.sequence).await.expect("replay");
    wait_until("dead letter resolved", Duration::from_secs(10), || {
        let dlq = dlq.clone();
        async move { dlq.list(Some("matcher")).await.ok().filter(|l| l.is_empty()).map(|_| ()) }
    })
    .await
    .expect("resolved after replay");

    shutdown.cancel();
    task.await.expect("join").expect("clean stop");
}
