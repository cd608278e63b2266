//! Catching the live projector up by reading the stream directly when it is
//! far behind: after an import, or when it starts after a long stop.
//!
//! Through the durable consumer every event is delivered, tracked and acked
//! one by one, and the server's side of that cost more than the rest of its
//! work together. On the address-heavy benchmark the projector applied
//! ~40–45 % of the raw replay rate that way, where the rebuild's reader
//! (ephemeral consumers without acks, see `masthead_jetstream::replay`)
//! let it apply ~55 %. The store's checkpoint is the projection's position
//! either way; afterwards the durable consumer is moved past what was
//! applied, so it does not deliver it all again.
//!
//! What the catch-up cannot apply it leaves to the consumer: the consumer is
//! moved only up to the first event that did not decode or that the store
//! rejected, so that event is dead-lettered the usual way (and the events
//! after it, already applied, are skipped as duplicates). The consumer is
//! never moved past an event it still holds for a retry either: the
//! projector retries only whole failed batches, which leave the store's
//! checkpoint before them, and moves the consumer to the checkpoint at most.

use super::ProjectorHandler;
use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_jetstream::replay::{self, ReplayError, ReplayOptions, Until};
use masthead_jetstream::topology::{ConsumerRole, Topology};
use std::sync::atomic::{AtomicU64, Ordering};

/// Events between the store's checkpoint and the stream's end from which
/// the projector catches up by reading the stream directly, and events a
/// batch may still see waiting behind it before the projector leaves the
/// consumer to do so. Below it the consumer's own batches (up to 60 000)
/// are as fast, and moving the consumer is not worth its churn.
pub const CATCH_UP_FROM: u64 = 100_000;

/// Events per catch-up batch: one store transaction each, as a rebuild's.
const CATCH_UP_BATCH: usize = 60_000;

/// Why a catch-up stopped. Either way what was applied stays applied, and
/// the projector goes on with its consumer, which delivers the rest.
#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    /// The stream or its consumer could not be read or changed (NATS down
    /// or the stream missing): the consumer catches up instead, slower.
    #[error("catching up: {0}")]
    Stream(String),
    /// Reading or applying the backlog failed (the store's error is the
    /// source); the consumer retries those events.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The store's checkpoint could not be read.
    #[error(transparent)]
    Store(#[from] crate::error::StoreError),
}

/// What a catch-up did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Events applied by reading the stream directly.
    pub applied: u64,
    /// Where the consumer was moved to start (`None`: it was left as it was).
    pub consumer_from: Option<u64>,
}

/// Catches the store of `handler` up to the stream's end if it is at least
/// [`CATCH_UP_FROM`] events behind (the handler's threshold), then moves
/// the durable consumer to the first event it has not applied, if the
/// consumer lags that far.
pub async fn catch_up(
    js: &jetstream::Context,
    topology: &Topology,
    handler: &ProjectorHandler,
) -> Result<CatchUp, CatchUpError> {
    let mut stream = js.get_stream(&topology.stream).await.map_err(stream_error)?;
    let end = stream.info().await.map_err(stream_error)?.state.last_sequence;
    let checkpoint = handler.reads.get().checkpoint().await?;
    let mut done = CatchUp::default();
    // The first event the catch-up could not apply: the consumer starts
    // there. Sequences are contiguous (the stream denies deletes and
    // purges), so a gap is a message that did not decode.
    let first_missed = AtomicU64::new(u64::MAX);
    if end.saturating_sub(checkpoint) >= handler.catch_up_from {
        tracing::info!(checkpoint, end, "projector far behind; reading the stream directly to catch up");
        let next = AtomicU64::new(checkpoint + 1);
        let options = ReplayOptions {
            from: checkpoint + 1,
            until: Until::default(),
            batch_size: CATCH_UP_BATCH,
            readers: std::slice::from_ref(js),
            chunk: replay::CHUNK,
        };
        let apply = |events: Vec<Recorded<AnyEvent>>| {
            let (next, first_missed) = (&next, &first_missed);
            async move {
                let expected = next.load(Ordering::Relaxed);
                let Some(last) = events.last().map(|r| r.stream_sequence) else {
                    return Ok::<u64, crate::error::StoreError>(0);
                };
                let gap = events.iter().scan(expected, |want, r| {
                    let missed = (r.stream_sequence != *want).then_some(*want);
                    *want = r.stream_sequence + 1;
                    Some(missed)
                });
                if let Some(seq) = gap.flatten().next() {
                    first_missed.fetch_min(seq, Ordering::Relaxed);
                }
                next.store(last + 1, Ordering::Relaxed);
                // Held per batch, as the consumer's batches hold it, so a
                // generation switch waits for at most one.
                let _gate = handler.gate.read().await;
                let waiting = end.saturating_sub(last);
                let report = handler.reads.get().apply_backlog_batch(events, waiting).await?;
                if let Some(seq) = report.rejected.iter().map(|r| r.stream_sequence).min() {
                    first_missed.fetch_min(seq, Ordering::Relaxed);
                }
                Ok(report.applied)
            }
        };
        let report = replay::replay(topology, options, Some(apply), |_, _| {}).await?;
        done.applied = report.applied;
    }
    let applied_to = handler.reads.get().checkpoint().await?;
    let start = first_missed.load(Ordering::Relaxed).min(applied_to + 1);
    done.consumer_from = move_consumer(js, topology, start, handler.catch_up_from).await?;
    Ok(done)
}

/// Recreates the projector's durable consumer to deliver from `start` if
/// its ack floor is `least` or more behind that; returns where it starts
/// now if it moved. A consumer's start cannot be changed in place. Only
/// this process consumes it, and it is not consuming now.
async fn move_consumer(
    js: &jetstream::Context,
    topology: &Topology,
    start: u64,
    least: u64,
) -> Result<Option<u64>, CatchUpError> {
    let name = ConsumerRole::Projector.durable_name();
    let consumer: jetstream::consumer::Consumer<pull::Config> =
        js.get_consumer_from_stream(name, &topology.stream).await.map_err(stream_error)?;
    let floor = consumer.cached_info().ack_floor.stream_sequence;
    if start.saturating_sub(floor + 1) < least {
        return Ok(None);
    }
    let mut config = topology.consumer_config(ConsumerRole::Projector);
    config.deliver_policy = DeliverPolicy::ByStartSequence { start_sequence: start };
    js.delete_consumer_from_stream(name, &topology.stream).await.map_err(stream_error)?;
    js.create_consumer_on_stream(config, &topology.stream).await.map_err(stream_error)?;
    tracing::info!(from = floor + 1, to = start, "projector consumer moved past what the catch-up applied");
    Ok(Some(start))
}

fn stream_error(e: impl std::fmt::Display) -> CatchUpError {
    CatchUpError::Stream(e.to_string())
}
