//! The live projector far behind, against a real nats-server: it catches up
//! by reading the stream, moves its durable consumer past what it applied
//! (but not past an event the store rejected, which the consumer then
//! dead-letters), and goes on with the consumer for what comes after.

use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use async_nats::jetstream::{self, Context};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_domain::subscription::SubscriptionEvent;
use masthead_jetstream::dead_letter::{DeadLetter, DeadLetters};
use masthead_jetstream::topology::{setup, ConsumerRole, Topology};
use masthead_projections::projector::generations::ProjectionReads;
use masthead_projections::projector::{consume, ProjectorHandler};
use masthead_projections::{ProjectionStore, RedbStore};
use masthead_test_support::stream::{publish_recorded, server_with_stream};
use masthead_test_support::wait::wait_until;
use masthead_testdata::events::{generate, SynthConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const PROJECTOR: &str = "projector";

async fn applied_up_to(store: &Arc<dyn ProjectionStore>, last: u64) {
    wait_until(&format!("the projector at {last}"), Duration::from_secs(30), || async {
        (store.checkpoint().await.expect("checkpoint") >= last).then_some(())
    })
    .await
    .expect("caught up");
}

async fn consumer_info(js: &Context, topology: &Topology) -> jetstream::consumer::Info {
    let consumer = js.get_consumer_from_stream::<pull::Config, _, _>(PROJECTOR, topology.stream.as_str()).await;
    consumer.expect("consumer").cached_info().clone()
}

/// Waits until the projector's consumer exists (it is missing for a moment
/// while it is moved) and where it starts satisfies `moved`.
async fn consumer_moved(
    js: &Context,
    topology: &Topology,
    what: &str,
    moved: impl Fn(&DeliverPolicy) -> bool,
) -> jetstream::consumer::Info {
    wait_until(what, Duration::from_secs(30), || async {
        let consumer = js.get_consumer_from_stream::<pull::Config, _, _>(PROJECTOR, topology.stream.as_str()).await;
        let info = consumer.ok()?.cached_info().clone();
        moved(&info.config.deliver_policy).then_some(info)
    })
    .await
    .expect("moved")
}

/// Waits until the projector's consumer starts at `start`.
async fn consumer_starts_at(js: &Context, topology: &Topology, start: u64) {
    let policy = DeliverPolicy::ByStartSequence { start_sequence: start };
    consumer_moved(js, topology, &format!("the consumer moved to {start}"), |p| *p == policy).await;
}

/// Publishes the first 600 of `events`, then the one message `bad`
/// publishes, then the rest; returns the sequence `bad` returns and the
/// last one.
async fn backlog_around(
    js: &Context,
    topology: &Topology,
    events: &[Recorded<AnyEvent>],
    bad: impl std::future::Future<Output = u64>,
) -> (u64, u64) {
    let (before, after) = events.split_at(600);
    publish_recorded(js, topology, before).await.expect("publish");
    let bad = bad.await;
    publish_recorded(js, topology, after).await.expect("publish");
    (bad, events.len() as u64 + 1)
}

/// The projector's live loop on `store`, catching up from 100 events.
fn projector(
    js: &Context,
    topology: &Topology,
    store: &Arc<dyn ProjectionStore>,
) -> (Arc<ProjectorHandler>, CancellationToken, Live) {
    let reads = Arc::new(ProjectionReads::new(store.clone(), "live"));
    let handler = Arc::new(ProjectorHandler::new(reads, Duration::from_millis(50)).catching_up_from(100));
    let shutdown = CancellationToken::new();
    let live = tokio::spawn(consume(js.clone(), topology.clone(), handler.clone(), shutdown.clone()));
    (handler, shutdown, live)
}

type Live = tokio::task::JoinHandle<Result<(), masthead_jetstream::consumer::ConsumerError>>;

/// Starts the projector on a fresh store in `dir` and waits until it has
/// applied up to `last`.
async fn caught_up(
    js: &Context,
    topology: &Topology,
    dir: &std::path::Path,
    last: u64,
) -> (Arc<dyn ProjectionStore>, CancellationToken, Live) {
    let store: Arc<dyn ProjectionStore> = Arc::new(RedbStore::open(&dir.join("live.redb")).expect("store"));
    let (_, shutdown, live) = projector(js, topology, &store);
    applied_up_to(&store, last).await;
    (store, shutdown, live)
}

/// The stats of `events` applied directly to a fresh store in `dir`.
fn direct_stats(dir: &std::path::Path, events: &[Recorded<AnyEvent>]) -> masthead_projections::Stats {
    let direct = RedbStore::open(&dir.join("direct.redb")).expect("store");
    for batch in events.chunks(100) {
        direct.apply_batch_blocking(batch).expect("apply");
    }
    direct.stats_blocking().expect("stats")
}

/// Stops the projector and checks that it ended cleanly.
async fn stop(shutdown: CancellationToken, live: Live) {
    shutdown.cancel();
    live.await.expect("join").expect("projector");
}

/// Waits until the projector has dead-lettered sequence `seq`.
async fn dead_letter(js: &Context, topology: &Topology, seq: u64) -> (DeadLetters, DeadLetter) {
    let letters = DeadLetters::open(js, &topology.dead_letters_bucket()).await.expect("dead letters");
    let letter = wait_until(&format!("{seq} dead-lettered"), Duration::from_secs(30), || async {
        letters.get(PROJECTOR, seq).await.expect("dead letter")
    })
    .await
    .expect("dead letter");
    (letters, letter)
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
    assert_eq!(ConsumerRole::Projector.durable_name(), PROJECTOR);
    let (_server, js, topology) = server_with_stream("CATCHUP").await.expect("nats-server with the stream");
    let events = generate(&SynthConfig::for_events(1200));
    let rejected = async { publish_recorded(&js, &topology, &[poison(&events)]).await.expect("publish")[0] };
    let (poisoned, last) = backlog_around(&js, &topology, &events, rejected).await;

    let dir = tempfile::tempdir().expect("dir");
    let (store, shutdown, live) = caught_up(&js, &topology, dir.path(), last).await;

    // Moved to the rejected event, not past it: the consumer delivers it
    // (and the rest again, as duplicates) and dead-letters it at once.
    consumer_starts_at(&js, &topology, poisoned).await;
    let (letters, letter) = dead_letter(&js, &topology, poisoned).await;
    assert_eq!(letter.deliveries, 1, "a rejected event is not retried");
    assert_eq!(letters.count(Some(PROJECTOR)).await.expect("count"), 1, "only the rejected event");

    // The same read models as applying every event directly.
    let mut stats = store.stats().await.expect("stats");
    let mut expected = direct_stats(dir.path(), &events);
    // One sequence more: the rejected event.
    (stats.last_applied_seq, expected.last_applied_seq) = (0, 0);
    assert_eq!(stats, expected);

    // Set-up at the next start keeps where the moved consumer starts.
    setup(&js, &topology).await.expect("set-up over a moved consumer");
    let policy = consumer_info(&js, &topology).await.config.deliver_policy;
    assert_eq!(policy, DeliverPolicy::ByStartSequence { start_sequence: poisoned });

    // A short tail comes through the consumer.
    let more = generate(&SynthConfig { seed: 99, ..SynthConfig::for_events(40) });
    publish_recorded(&js, &topology, &more).await.expect("publish");
    applied_up_to(&store, last + more.len() as u64).await;
    stop(shutdown, live).await;
}

/// Events the consumer never settled may lie before the store's checkpoint
/// (here: a batch that failed while later ones committed). The catch-up
/// reads from the consumer's ack floor, so they are applied before the
/// consumer is moved past them.
#[tokio::test]
async fn a_catch_up_applies_what_its_consumer_left_behind_the_checkpoint() {
    let (_server, js, topology) = server_with_stream("CATCHUPGAP").await.expect("nats-server with the stream");
    let events = generate(&SynthConfig::for_events(1200));
    publish_recorded(&js, &topology, &events).await.expect("publish");
    let last = events.len() as u64;
    let dir = tempfile::tempdir().expect("dir");
    let partial = RedbStore::open(&dir.path().join("live.redb")).expect("store");
    partial.apply_batch_blocking(&events[..500]).expect("apply");
    partial.apply_batch_blocking(&events[700..]).expect("apply");
    assert_eq!(partial.checkpoint_blocking().expect("checkpoint"), last);
    let store: Arc<dyn ProjectionStore> = Arc::new(partial);
    let (_, shutdown, live) = projector(&js, &topology, &store);
    consumer_starts_at(&js, &topology, last + 1).await;

    assert_eq!(store.stats().await.expect("stats"), direct_stats(dir.path(), &events));
    stop(shutdown, live).await;
}

/// A message that does not decode shows in the catch-up as a gap in the
/// sequences: the consumer is moved to it, not past it, and dead-letters it.
#[tokio::test]
async fn an_undecodable_message_in_the_backlog_holds_the_consumer_back() {
    let (_server, js, topology) = server_with_stream("CATCHUPRAW").await.expect("nats-server with the stream");
    let events = generate(&SynthConfig::for_events(1200));
    let garble = async {
        let subject = topology.subject("subscription", &uuid::Uuid::new_v4().to_string());
        let ack = js.publish(subject, "no envelope".into()).await.expect("publish");
        ack.await.expect("ack").sequence
    };
    let (garbled, last) = backlog_around(&js, &topology, &events, garble).await;

    let dir = tempfile::tempdir().expect("dir");
    let (_store, shutdown, live) = caught_up(&js, &topology, dir.path(), last).await;
    consumer_starts_at(&js, &topology, garbled).await;
    let (_, letter) = dead_letter(&js, &topology, garbled).await;
    assert!(letter.error.contains("undecodable"), "{}", letter.error);
    stop(shutdown, live).await;
}

/// A backlog that arrives while the projector consumes: a batch that finds
/// it waiting stops the consumer, the projector catches up by reading, and
/// recreates its consumer past what it read, with the topology's settings.
#[tokio::test]
async fn a_backlog_arriving_while_consuming_is_caught_up_by_reading() {
    let (_server, js, topology) = server_with_stream("CATCHUPLIVE").await.expect("nats-server with the stream");
    // A consumer that may hold only 50 unacknowledged, so the backlog
    // waits on the server, where the consumer's pending count sees it.
    let mut narrow = topology.consumer_config(ConsumerRole::Projector);
    narrow.max_ack_pending = 50;
    js.delete_consumer_from_stream(PROJECTOR, topology.stream.as_str()).await.expect("delete");
    js.create_consumer_on_stream(narrow, topology.stream.as_str()).await.expect("create");

    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn ProjectionStore> = Arc::new(RedbStore::open(&dir.path().join("live.redb")).expect("store"));
    let (handler, shutdown, live) = projector(&js, &topology, &store);
    // Held while the backlog is published: the consumer's first batches
    // wait, and the ones after see the whole backlog behind them.
    let pause = handler.gate.write().await;
    let events = generate(&SynthConfig::for_events(1200));
    publish_recorded(&js, &topology, &events).await.expect("publish");
    drop(pause);
    applied_up_to(&store, events.len() as u64).await;

    // Moved once the catch-up has applied what it read: waited for.
    let info = consumer_moved(
        &js,
        &topology,
        "the consumer moved",
        |p| matches!(p, DeliverPolicy::ByStartSequence { start_sequence } if *start_sequence > 100),
    )
    .await;
    assert_eq!(info.config.max_ack_pending, topology.consumer_config(ConsumerRole::Projector).max_ack_pending);
    assert_eq!(store.stats().await.expect("stats"), direct_stats(dir.path(), &events));
    stop(shutdown, live).await;
}
