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
//! after it, already applied, are skipped as duplicates), and never past
//! what the catch-up read: it reads from the consumer's ack floor (see
//! [`catch_up`]). While it runs, the consumer and its dead-letter replays
//! wait.
//!
//! Several projector processes on one MongoDB store share the consumer:
//! each moves it only past events it read and applied itself, so one that
//! moves it under another costs the other redeliveries, not events.

use super::ProjectorHandler;
use async_nats::jetstream::{self, consumer::pull, consumer::DeliverPolicy};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_jetstream::replay::{self, ReplayError, ReplayOptions, Until};
use masthead_jetstream::topology::{is_consumer_not_found, ConsumerRole, Topology};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events left for the consumer to deliver from which the projector
/// catches up by reading the stream directly, and events a batch may still
/// see waiting behind it before the projector leaves the consumer to do so.
/// Below it the consumer's own batches (up to 60 000) are as fast, and
/// moving the consumer is not worth its churn.
pub const CATCH_UP_FROM: u64 = 100_000;

/// Events per catch-up batch: one store transaction each, as a rebuild's.
const CATCH_UP_BATCH: usize = 60_000;

/// Why a catch-up stopped. Either way what was applied stays applied, and
/// the projector goes on with its consumer, which delivers the rest.
#[derive(Debug, thiserror::Error)]
pub enum CatchUpError {
    /// The stream or its consumer could not be read (NATS down, the stream
    /// or consumer missing): the consumer delivers the backlog instead,
    /// slower, and the next batch far behind tries again.
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

/// Catches the store of `handler` up if its durable consumer has at least
/// [`CATCH_UP_FROM`] events (the handler's threshold) left to deliver, then
/// moves the consumer past what it read, if that skips as many.
///
/// It reads from the consumer's ack floor, not from the store's checkpoint:
/// events the consumer has not settled may lie before the checkpoint (a
/// failed batch left for a retry while the next one committed, a crash
/// before a batch's dead letters were written, a generation built by a
/// rebuild). Applied again they are duplicates; a failed one applies now,
/// and one that will not holds the consumer back.
pub async fn catch_up(
    js: &jetstream::Context,
    topology: &Topology,
    handler: &ProjectorHandler,
    shutdown: &CancellationToken,
) -> Result<CatchUp, CatchUpError> {
    // Fetched with the stream: its info is current.
    let stream = js.get_stream(&topology.stream).await.map_err(stream_error)?;
    let end = stream.cached_info().state.last_sequence;
    let name = ConsumerRole::Projector.durable_name();
    // A consumer missing here was deleted by a move that did not finish
    // (set-up recreates it at the next start): created again below.
    let (floor, missing) = match js.get_consumer_from_stream::<pull::Config, _, _>(name, &topology.stream).await {
        Ok(consumer) => (consumer.cached_info().ack_floor.stream_sequence, false),
        Err(e) if is_consumer_not_found(&e) => (0, true),
        Err(e) => return Err(stream_error(e)),
    };
    let least = if missing { 0 } else { handler.catch_up_from };
    let checkpoint = handler.reads.get().checkpoint().await?;
    let from = checkpoint.min(floor) + 1;
    let mut done = CatchUp::default();
    if end.saturating_sub(from - 1) < handler.catch_up_from {
        done.consumer_from = move_consumer(js, topology, floor, from, least, shutdown).await?;
        return Ok(done);
    }
    tracing::info!(from, end, checkpoint, "projector far behind; reading the stream directly to catch up");
    // The next sequence to read, and the first one the catch-up could not
    // apply. Sequences are contiguous (the stream denies deletes and
    // purges), so a gap is a message that did not decode.
    let (next, first_missed) = (AtomicU64::new(from), AtomicU64::new(u64::MAX));
    let options = ReplayOptions {
        from,
        until: Until::default(),
        batch_size: CATCH_UP_BATCH,
        readers: std::slice::from_ref(js),
        chunk: replay::CHUNK,
    };
    let apply = |events: Vec<Recorded<AnyEvent>>| {
        let (next, first_missed) = (&next, &first_missed);
        async move {
            let Some(last) = events.last().map(|r| r.stream_sequence) else {
                return Ok::<u64, crate::error::StoreError>(0);
            };
            let gap = events.iter().scan(next.load(Ordering::Relaxed), |want, r| {
                let missed = (r.stream_sequence != *want).then_some(*want);
                *want = r.stream_sequence + 1;
                Some(missed)
            });
            if let Some(seq) = gap.flatten().next() {
                first_missed.fetch_min(seq, Ordering::Relaxed);
            }
            // Held per batch, as the consumer's batches hold it, so a
            // generation switch waits for at most one.
            let _gate = handler.gate.read().await;
            let waiting = end.saturating_sub(last);
            let report = handler.reads.get().apply_backlog_batch(events, waiting).await?;
            if let Some(seq) = report.rejected.iter().map(|r| r.stream_sequence).min() {
                first_missed.fetch_min(seq, Ordering::Relaxed);
            }
            // Only once applied: a failed batch is not read past.
            next.store(last + 1, Ordering::Relaxed);
            Ok(report.applied)
        }
    };
    let replayed = replay::replay(topology, options, Some(apply), |_, _| {}).await;
    let start = first_missed.load(Ordering::Relaxed).min(next.load(Ordering::Relaxed));
    // What was applied stays applied: the consumer moves past it even if
    // the read stopped early.
    done.consumer_from = move_consumer(js, topology, floor, start, least, shutdown).await?;
    done.applied = replayed?.applied;
    Ok(done)
}

/// Recreates the projector's durable consumer to deliver from `start` if
/// that skips `least` or more events past its ack floor (`least` 0: a
/// missing consumer is created); returns where it starts now if it moved.
/// A consumer's start cannot be changed in place. The projector is not
/// consuming meanwhile. Once deleted, the consumer is
/// created again until that succeeds (or shutdown): without it the
/// projector would stop.
async fn move_consumer(
    js: &jetstream::Context,
    topology: &Topology,
    floor: u64,
    start: u64,
    least: u64,
    shutdown: &CancellationToken,
) -> Result<Option<u64>, CatchUpError> {
    if start.saturating_sub(floor + 1) < least {
        return Ok(None);
    }
    let name = ConsumerRole::Projector.durable_name();
    let mut config = topology.consumer_config(ConsumerRole::Projector);
    config.deliver_policy = DeliverPolicy::ByStartSequence { start_sequence: start };
    let mut pause = Duration::from_millis(100);
    loop {
        // Deleted again on a retry: set-up may have created it meanwhile.
        let _ = js.delete_consumer_from_stream(name, &topology.stream).await;
        match js.create_consumer_on_stream(config.clone(), &topology.stream).await {
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(%error, "cannot recreate the projector consumer; retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(stream_error(error)),
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::info!(from = floor + 1, to = start, "projector consumer moved past what the catch-up applied");
    Ok(Some(start))
}

fn stream_error(e: impl std::fmt::Display) -> CatchUpError {
    CatchUpError::Stream(e.to_string())
}
