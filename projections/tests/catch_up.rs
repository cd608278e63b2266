//! The live projector far behind, against a real nats-server: it catches up
//! by reading the stream, moves its durable consumer past what it applied
//! (but not past an event the store rejected, which the consumer then
//! dead-letters), and goes on with the consumer for what comes after.

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_domain::subscription::SubscriptionEvent;
use masthead_jetstream::dead_letter::DeadLetters;
use masthead_jetstream::topology::{setup, ConsumerRole};
use masthead_projections::projector::generations::ProjectionReads;
use masthead_projections::projector::{consume, ProjectorHandler};
use masthead_projections::{ProjectionStore, RedbStore};
use masthead_test_support::stream::{publish_recorded, server_with_stream};
use masthead_testdata::events::{generate, SynthConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Waits (polling: the checkpoint is the only signal) until `store` has
/// applied up to `last`.
async fn applied_up_to(store: &Arc<dyn ProjectionStore>, last: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.checkpoint().await.expect("checkpoint") < last {
        assert!(tokio::time::Instant::now() < deadline, "the projector did not reach {last}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A subscription event the store cannot apply: its aggregate id is not a
/// UUID.
fn poison(events: &[Recorded<AnyEvent>]) -> Recorded<AnyEvent> {
    let mut r = events
        .iter()
        .find(|r| {
            matches!(&r.event, AnyEvent::Subscription(e) if !matches!(e, SubscriptionEvent::SubscriptionRequested(_)))
        })
        .expect("a subscription event after its request")
        .clone();
    r.envelope.aggregate_id = "not-a-uuid".into();
    r.envelope.event_id = uuid::Uuid::new_v4();
    r
}

#[tokio::test]
async fn a_projector_far_behind_catches_up_by_reading_and_moves_its_consumer() {
    let (_server, js, topology) = server_with_stream("CATCHUP").await.expect("nats-server with the stream");
    let events = generate(&SynthConfig::for_events(1200));
    let (before, after) = events.split_at(600);
    publish_recorded(&js, &topology, before).await.expect("publish");
    let poisoned = publish_recorded(&js, &topology, &[poison(&events)]).await.expect("publish")[0];
    publish_recorded(&js, &topology, after).await.expect("publish");
    let last = events.len() as u64 + 1;

    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("live.redb");
    let store: Arc<dyn ProjectionStore> = Arc::new(RedbStore::open(&path).expect("store"));
    let reads = Arc::new(ProjectionReads::new(store.clone(), "live"));
    let handler = Arc::new(ProjectorHandler::new(reads, Duration::from_millis(50)).catching_up_from(100));
    let shutdown = CancellationToken::new();
    let live = tokio::spawn(consume(js.clone(), topology.clone(), handler, shutdown.clone()));
    applied_up_to(&store, last).await;

    // Moved to the rejected event, not past it: the consumer delivers it
    // (and the rest again, as duplicates) and dead-letters it.
    let name = ConsumerRole::Projector.durable_name();
    let info = js
        .get_consumer_from_stream::<pull::Config, _, _>(name, topology.stream.as_str())
        .await
        .expect("consumer")
        .cached_info()
        .clone();
    assert_eq!(info.config.deliver_policy, DeliverPolicy::ByStartSequence { start_sequence: poisoned });
    let letters = DeadLetters::open(&js, &topology.dead_letters_bucket()).await.expect("dead letters");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while letters.get(name, poisoned).await.expect("dead letter").is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the rejected event was not dead-lettered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(letters.count(Some(name)).await.expect("count"), 1, "only the rejected event");

    // The same read models as applying every event directly.
    let direct = RedbStore::open(&dir.path().join("direct.redb")).expect("store");
    for batch in events.chunks(100) {
        direct.apply_batch_blocking(batch).expect("apply");
    }
    let mut stats = store.stats().await.expect("stats");
    let mut expected = direct.stats_blocking().expect("stats");
    // One sequence more: the rejected event.
    (stats.last_applied_seq, expected.last_applied_seq) = (0, 0);
    assert_eq!(stats, expected);

    // Set-up at the next start keeps where the moved consumer starts.
    setup(&js, &topology).await.expect("set-up over a moved consumer");
    let again =
        js.get_consumer_from_stream::<pull::Config, _, _>(name, topology.stream.as_str()).await.expect("consumer");
    assert_eq!(again.cached_info().config.deliver_policy, info.config.deliver_policy);

    // A short tail comes through the consumer.
    let more = generate(&SynthConfig { seed: 99, ..SynthConfig::for_events(40) });
    publish_recorded(&js, &topology, &more).await.expect("publish");
    applied_up_to(&store, last + more.len() as u64).await;
    shutdown.cancel();
    live.await.expect("join").expect("projector");
}
