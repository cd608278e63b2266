//! Replaying the stream into a projection store: the catch-up of a new
//! generation, and `masthead projections rebuild`.

use async_nats::jetstream::{self, consumer};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use masthead_events::envelope::{decode_any, AnyEvent, Recorded};
use masthead_events::topology::Topology;
use masthead_projections::ProjectionStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a replay stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct Until {
    /// Last stream sequence to include.
    pub sequence: Option<u64>,
    /// Include only events the server stored at or before this time. The
    /// server's timestamp is used, not the writer's clock, because it grows
    /// with the stream sequence: "the stream as it was at T".
    pub time: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Clone)]
pub struct ReplayReport {
    pub events: u64,
    pub applied: u64,
    pub undecodable: u64,
    pub last_sequence: u64,
    pub elapsed: Duration,
}

impl ReplayReport {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// JetStream did not answer or the read was interrupted. Nothing is
    /// half-applied (each batch is atomic with its checkpoint); run it again
    /// and it resumes from the checkpoint.
    #[error("reading the stream failed: {0}")]
    Stream(String),
    /// The projection store refused a batch.
    #[error(transparent)]
    Store(#[from] masthead_projections::StoreError),
}

fn stream_err(e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Stream(e.to_string())
}

/// The time a stored message carries, as chrono.
fn published(info: &jetstream::message::Info<'_>) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(info.published.unix_timestamp(), info.published.nanosecond())
}

/// How many messages are taken off the consumer at a time. Independent of
/// the apply batch: `ready_chunks` allocates a vector of its full capacity
/// for every chunk, however few messages are ready.
const READ_CHUNK: usize = 1000;

/// Reads the stream from `from` (inclusive) to its current end, or to
/// `until`. `apply` receives decoded batches; with `None` the events are only
/// read and decoded (the raw replay rate).
///
/// Reading and applying overlap: the stream is read and decoded into the
/// next batch while the store applies the previous one (at most one more
/// batch waits between them), so the JetStream read and the store's write
/// run on different cores and a rebuild's rate approaches the slower of the
/// two instead of their sum.
pub async fn replay(
    js: &jetstream::Context,
    topology: &Topology,
    from: u64,
    until: Until,
    store: Option<&Arc<dyn ProjectionStore>>,
    batch_size: usize,
    progress: impl FnMut(u64, u64),
) -> Result<ReplayReport, ReplayError> {
    let started = Instant::now();
    let batch_size = batch_size.max(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Recorded<AnyEvent>>>(1);
    let read = read_batches(js, topology, from, until, batch_size, store.is_some().then_some(tx), progress);
    let apply = async {
        let mut applied = 0;
        if let Some(store) = store {
            while let Some(batch) = rx.recv().await {
                applied += store.apply_batch_owned(batch).await?.applied;
            }
        }
        Ok::<_, ReplayError>(applied)
    };
    // If either side fails the other is dropped: the reader then stops at
    // once, and a batch already handed to the store still commits whole.
    let (mut report, applied) = futures::future::try_join(read, apply).await?;
    report.applied = applied;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The reading half of [`replay`]: decodes messages into batches of
/// `batch_size` and hands them to `out` (dropped when `None`). Closes `out`
/// when done.
async fn read_batches(
    js: &jetstream::Context,
    topology: &Topology,
    from: u64,
    until: Until,
    batch_size: usize,
    out: Option<tokio::sync::mpsc::Sender<Vec<Recorded<AnyEvent>>>>,
    mut progress: impl FnMut(u64, u64),
) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    let stream = js.get_stream(&topology.stream).await.map_err(stream_err)?;
    let mut consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: topology.all_subjects(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from.max(1) },
            ..Default::default()
        })
        .await
        .map_err(stream_err)?;
    let pending = consumer.info().await.map_err(stream_err)?.num_pending;
    if pending == 0 {
        return Ok(report);
    }
    let messages = consumer.messages().await.map_err(stream_err)?;
    let mut chunks = messages.ready_chunks(READ_CHUNK.min(batch_size));
    let mut batch: Vec<Recorded<AnyEvent>> = Vec::with_capacity(batch_size);
    let mut done = false;
    while !done {
        let chunk = tokio::time::timeout(Duration::from_secs(10), chunks.next())
            .await
            .map_err(|_| ReplayError::Stream("no message for 10 s while events were pending".into()))?;
        let Some(chunk) = chunk else { break };
        for m in chunk {
            let m = m.map_err(stream_err)?;
            let info = m.info().map_err(stream_err)?;
            let (seq, left) = (info.stream_sequence, info.pending);
            let past_seq = until.sequence.is_some_and(|s| seq > s);
            let past_time = until.time.is_some_and(|t| published(&info).is_some_and(|p| p > t));
            if past_seq || past_time {
                done = true;
                break;
            }
            report.events += 1;
            report.last_sequence = seq;
            match m.headers.as_ref().map(|h| decode_any(h, &m.payload, seq)) {
                Some(Ok(r)) => batch.push(r),
                // Poison is the live consumers' business (dead letters); a
                // replay skips it and says how many it skipped.
                _ => report.undecodable += 1,
            }
            if left == 0 || until.sequence.is_some_and(|s| seq >= s) {
                done = true;
                break;
            }
        }
        if batch.len() >= batch_size || done {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            if let Some(out) = &out {
                if !full.is_empty() && out.send(full).await.is_err() {
                    // The applying side stopped; `replay` reports its error.
                    break;
                }
            }
            progress(report.events, pending);
        }
    }
    if let Some(out) = &out {
        if !batch.is_empty() {
            // An error here means the applying side stopped and reports why.
            let _ = out.send(batch).await;
        }
    }
    progress(report.events, pending);
    Ok(report)
}
