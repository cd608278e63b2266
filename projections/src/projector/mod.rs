//! The projector: the durable consumer that applies the event stream to the
//! read models, the generations readers switch between, and rebuilds.
//!
//! The three read models (addresses, subscriptions, stats) form one
//! projection with one checkpoint: stats and address spellings are derived
//! from subscription documents inside the same transaction, so they can
//! never disagree with each other.

pub mod generations;
pub mod rebuild;

use async_nats::jetstream;
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
}

impl ProjectorHandler {
    pub fn new(reads: Arc<ProjectionReads>, retry_delay: Duration) -> Self {
        Self { reads, gate: tokio::sync::RwLock::new(()), retry_delay }
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
    /// store cannot apply are retried (and dead-lettered after the last
    /// attempt); a failed transaction retries the whole batch. The events
    /// move to the store: copying each cost as much as decoding it.
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
                let mut outcomes = vec![Outcome::Done; retries.len()];
                for rejected in &report.rejected {
                    if let Some(i) = retries.iter().position(|(seq, _)| *seq == rejected.stream_sequence) {
                        outcomes[i] = retry(i, rejected.reason.clone());
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
pub async fn consume(
    js: jetstream::Context,
    topology: Topology,
    handler: Arc<ProjectorHandler>,
    shutdown: CancellationToken,
) -> Result<(), ConsumerError> {
    let runtime = ConsumerRuntime::new(
        js,
        topology,
        ConsumerRole::Projector,
        RuntimeConfig { batch_size: LIVE_BATCH, linger: Some(LIVE_LINGER), ..Default::default() },
    );
    runtime.run(handler, shutdown).await
}
