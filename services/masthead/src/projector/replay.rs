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

/// Reads the stream from `from` (inclusive) to its current end, or to
/// `until`. `apply` receives decoded batches; with `None` the events are only
/// read and decoded (the raw replay rate).
pub async fn replay(
    js: &jetstream::Context,
    topology: &Topology,
    from: u64,
    until: Until,
    store: Option<&Arc<dyn ProjectionStore>>,
    batch_size: usize,
    mut progress: impl FnMut(u64, u64),
) -> Result<ReplayReport, ReplayError> {
    let started = Instant::now();
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
        report.elapsed = started.elapsed();
        return Ok(report);
    }
    let messages = consumer.messages().await.map_err(stream_err)?;
    let mut chunks = messages.ready_chunks(batch_size);
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
            if let Some(store) = store {
                if !batch.is_empty() {
                    let r = store.apply_batch(&batch).await?;
                    report.applied += r.applied;
                }
            }
            batch.clear();
            progress(report.events, pending);
        }
    }
    if let Some(store) = store {
        if !batch.is_empty() {
            report.applied += store.apply_batch(&batch).await?.applied;
        }
    }
    progress(report.events, pending);
    report.elapsed = started.elapsed();
    Ok(report)
}
