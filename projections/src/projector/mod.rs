//! The projector: the durable consumer that applies the event stream to the
//! read models, the generations readers switch between, and rebuilds.
//!
//! The three read models (addresses, subscriptions, stats) form one
//! projection with one checkpoint: stats and address spellings are derived
//! from subscription documents inside the same transaction, so they can
//! never disagree with each other.

pub mod catch_up;
pub mod generations;
pub mod rebuild;

use async_nats::jetstream;
pub use catch_up::CATCH_UP_FROM;
use generations::{follow_generations, ProjectionReads, StoreLocation};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_jetstream::consumer::{ConsumerError, ConsumerRuntime, Delivery, Handler, Outcome, RuntimeConfig};
use masthead_jetstream::topology::{ConsumerRole, Topology};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest pause between two attempts at one event.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Events per live batch at most: one store transaction each. When the
/// projector keeps up, a batch is what has arrived, a handful of events,
/// and nothing waits. Behind (after an import), the consumer waits up to
/// [`LIVE_LINGER`] for a batch this large: a durable commit copies each
/// B-tree page an insert touches and fsyncs, and an import's random ids
/// touch a page per insert, so the larger the batch, the more inserts share
/// a copied page (~1 000-event batches applied ~4–8k events/s, 20 000
/// ~40k/s; on the address-heavy benchmark 60 000 beat 30 000 by ~8 %).
/// Half the projector consumer's `max_ack_pending` (120 000): the next
/// batch arrives and is decoded while one is applied. (What the server may
/// deliver ahead stays below the client's subscription buffer:
/// `masthead_jetstream::connect::SUBSCRIPTION_CAPACITY`.)
const LIVE_BATCH: usize = 60_000;

/// How long a lagging projector waits for a batch to fill.
const LIVE_LINGER: Duration = Duration::from_millis(500);

pub struct ProjectorHandler {
    pub reads: Arc<ProjectionReads>,
    /// Held for reading while a batch is applied; a generation switch takes
    /// it for writing, so no batch lands in the old store after the switch.
    pub gate: tokio::sync::RwLock<()>,
    pub retry_delay: Duration,
    /// Cancelled when a batch that applied something finds
    /// `catch_up_from` or more events waiting behind it: [`consume`] then
    /// stops the consumer and catches up by reading the stream.
    far_behind: std::sync::Mutex<CancellationToken>,
    /// [`CATCH_UP_FROM`], or less in tests.
    catch_up_from: u64,
}

impl ProjectorHandler {
    pub fn new(reads: Arc<ProjectionReads>, retry_delay: Duration) -> Self {
        Self {
            reads,
            gate: tokio::sync::RwLock::new(()),
            retry_delay,
            far_behind: std::sync::Mutex::new(CancellationToken::new()),
            catch_up_from: CATCH_UP_FROM,
        }
    }

    /// Catches up by reading the stream from `events` behind (tests use a
    /// small backlog).
    pub fn catching_up_from(mut self, events: u64) -> Self {
        self.catch_up_from = events.max(1);
        self
    }

    /// A fresh token for [`Self::far_behind`], returned.
    fn watch_far_behind(&self, shutdown: &CancellationToken) -> CancellationToken {
        let token = shutdown.child_token();
        *self.far_behind.lock().unwrap_or_else(|p| p.into_inner()) = token.clone();
        token
    }
}

#[async_trait::async_trait]
impl Handler for ProjectorHandler {
    /// Applies a copy of the batch (dead-letter replays; the runtime hands
    /// live batches to [`Handler::handle_owned`]).
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        let retries = batch.iter().map(|d| self.retry_of(d)).collect();
        self.apply(batch.iter().map(|d| d.event.clone()).collect(), retries, 0).await
    }

    /// Applies the batch in one transaction with its checkpoint. Events the
    /// store rejects are dead-lettered; a failed transaction retries the
    /// whole batch. The events move to the store: copying each cost as
    /// much as decoding it.
    async fn handle_owned(&self, batch: Vec<Delivery>) -> Vec<Outcome> {
        let retries = batch.iter().map(|d| self.retry_of(d)).collect();
        // Events waiting behind this batch: a backlog (an import).
        let waiting = batch.last().map_or(0, |d| d.pending);
        self.apply(batch.into_iter().map(|d| d.event).collect(), retries, waiting).await
    }
}

impl ProjectorHandler {
    /// (stream sequence, delay before a retry) of a delivery.
    fn retry_of(&self, d: &Delivery) -> (u64, Duration) {
        (d.stream_sequence, d.backoff(self.retry_delay, MAX_RETRY_DELAY))
    }

    async fn apply(
        &self,
        events: Vec<Recorded<AnyEvent>>,
        retries: Vec<(u64, Duration)>,
        waiting: u64,
    ) -> Vec<Outcome> {
        let _gate = self.gate.read().await;
        let store = self.reads.get();
        let retry = |i: usize, reason: String| Outcome::Retry { delay: retries[i].1, reason };
        let applied = match waiting {
            0 => store.apply_batch_owned(events).await,
            waiting => store.apply_backlog_batch(events, waiting).await,
        };
        match applied {
            Ok(report) => {
                if waiting >= self.catch_up_from && report.applied > 0 {
                    self.far_behind.lock().unwrap_or_else(|p| p.into_inner()).cancel();
                }
                let mut outcomes = vec![Outcome::Done; retries.len()];
                // An event the store rejects never applies (its batch is
                // committed without it): dead-lettered at once, not held
                // for retries the catch-up could move the consumer past.
                for rejected in &report.rejected {
                    if let Some(i) = retries.iter().position(|(seq, _)| *seq == rejected.stream_sequence) {
                        outcomes[i] = Outcome::DeadLetter { reason: rejected.reason.clone() };
                    }
                }
                outcomes
            }
            Err(e) => {
                tracing::warn!(error = %e, "projection batch failed; retrying");
                (0..retries.len()).map(|i| retry(i, e.to_string())).collect()
            }
        }
    }
}

/// Runs the projector until `shutdown`: applies the stream to the active
/// generation, and follows generation switches (catching a new one up
/// before readers move to it).
pub async fn run(
    location: StoreLocation,
    js: jetstream::Context,
    topology: Topology,
    reads: Arc<ProjectionReads>,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    let handler = Arc::new(ProjectorHandler::new(reads.clone(), Duration::from_secs(1)));
    tokio::spawn(follow_generations(
        location,
        js.clone(),
        topology.clone(),
        reads,
        Some(handler.clone()),
        shutdown.clone(),
    ));
    consume(js, topology, handler, shutdown).await
}

/// The live consumer alone, applying to `handler`'s store: what [`run`]
/// runs besides following generation switches (the benchmarks time it).
/// Far behind (at the start, or when a batch finds a backlog behind it),
/// it catches up by reading the stream directly ([`catch_up`]) and then
/// goes on with the consumer.
pub async fn consume(
    js: jetstream::Context,
    topology: Topology,
    handler: Arc<ProjectorHandler>,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    while !shutdown.is_cancelled() {
        match catch_up::catch_up(&js, &topology, &handler, &shutdown).await {
            Ok(done) if done.applied > 0 || done.consumer_from.is_some() => {
                tracing::info!(applied = done.applied, consumer_from = ?done.consumer_from, "projector caught up");
            }
            Ok(_) => {}
            // The consumer delivers the backlog; a batch that applies
            // something far behind tries again, so each round progresses.
            Err(error) => tracing::warn!(%error, "projector catch-up failed; the consumer delivers the backlog"),
        }
        let stop = handler.watch_far_behind(&shutdown);
        let runtime = ConsumerRuntime::new(
            js.clone(),
            topology.clone(),
            ConsumerRole::Projector,
            RuntimeConfig { batch_size: LIVE_BATCH, linger: Some(LIVE_LINGER), ..Default::default() },
        );
        runtime.run(handler.clone(), stop).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedbStore;
    use masthead_testdata::events::{generate, SynthConfig};

    fn deliveries(events: &[Recorded<AnyEvent>], pending: u64) -> Vec<Delivery> {
        let delivery = |r: &Recorded<AnyEvent>| Delivery {
            stream_sequence: r.stream_sequence,
            subject: "s".into(),
            delivered: 1,
            max_deliver: 5,
            pending,
            event: r.clone(),
            replay: false,
        };
        events.iter().map(delivery).collect()
    }

    /// A batch that applied events with a backlog behind it stops the
    /// consumer for a catch-up; one with a short backlog, or one that only
    /// found duplicates (the consumer delivering again what a catch-up
    /// applied), does not.
    #[tokio::test]
    async fn a_batch_far_behind_stops_the_consumer_for_a_catch_up() {
        let events = generate(&SynthConfig::for_events(300));
        let dir = tempfile::tempdir().expect("dir");
        let store: Arc<dyn crate::ProjectionStore> =
            Arc::new(RedbStore::open(&dir.path().join("p.redb")).expect("store"));
        let reads = Arc::new(ProjectionReads::new(store, "live"));
        let handler = ProjectorHandler::new(reads, Duration::from_millis(1)).catching_up_from(100);
        let shutdown = CancellationToken::new();
        let stop = handler.watch_far_behind(&shutdown);
        let done = |outcomes: Vec<Outcome>| outcomes.iter().all(|o| *o == Outcome::Done);
        assert!(done(handler.handle_owned(deliveries(&events[..100], 99)).await));
        assert!(!stop.is_cancelled(), "99 waiting: the consumer goes on");
        assert!(done(handler.handle_owned(deliveries(&events[..100], 1_000)).await));
        assert!(!stop.is_cancelled(), "duplicates only: the consumer goes on");
        assert!(done(handler.handle_owned(deliveries(&events[100..200], 1_000)).await));
        assert!(stop.is_cancelled(), "new events with 1 000 behind them: catch up");
        assert!(!shutdown.is_cancelled(), "the consumer stops, not the projector");
    }
}
