//! Replaying the stream in order: what a projection's rebuild or catch-up
//! reads, and what an audit export walks.
//!
//! The stream is cut into chunks of consecutive sequences. Readers, each on
//! its own NATS connection, take the chunks in turn (of `n` readers, reader
//! `k` reads chunks `k`, `k + n`, …) and decode them; the applying side takes
//! the chunks back in stream order. A connection parses its messages (about
//! ten envelope headers each) on its own task, so with one connection the
//! reading side could use one core at most, however idle the others were.

use crate::headers::decode_message;
use crate::topology::Topology;
use async_nats::jetstream::{self, consumer};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use masthead_domain::envelope::{AnyEvent, Recorded};
use std::future::Future;
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
    /// JetStream did not answer or the read was interrupted. What the sink
    /// applied stays applied; run it again and, for a projection, it resumes
    /// from its checkpoint.
    #[error("reading the stream failed: {0}")]
    Stream(String),
    /// The sink refused a batch; the replay stopped there. Its source says
    /// why (for a projection: the store's error).
    #[error("applying replayed events failed: {0}")]
    Sink(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn stream_err(e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Stream(e.to_string())
}

/// What a replay reads, and how.
#[derive(Clone, Copy)]
pub struct ReplayOptions<'a> {
    /// First stream sequence to read.
    pub from: u64,
    pub until: Until,
    /// Events per batch handed to the store (one transaction each).
    pub batch_size: usize,
    /// One JetStream context per connection to read over. More than one
    /// only pays when the stream spans several chunks.
    pub readers: &'a [jetstream::Context],
    /// Sequences per chunk ([`CHUNK`]; at least a reader's piece).
    pub chunk: u64,
}

/// The time a stored message carries, as chrono.
fn published(info: &jetstream::message::Info<'_>) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(info.published.unix_timestamp(), info.published.nanosecond())
}

/// Sequences per chunk, at least. A chunk costs one ephemeral consumer
/// (created and deleted, ~1 ms), and a reader that is ahead holds up to two
/// chunks of decoded events (~1.7 KB each) until the store gets to them.
pub const CHUNK: u64 = 20_000;

/// Messages asked for in one pull. Large enough that the round trip
/// between two pulls is lost in the time spent on the messages.
const FETCH: u64 = 2_000;

/// Events per piece a reader hands over, at most. The store's batches are
/// larger (a rebuild's are 60 000): pieces are gathered into a batch in
/// stream order, so what readers hold ahead stays small however large a
/// batch is.
const PIECE: usize = 5_000;

/// Longest wait for the next message of a pull the server already answers.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Consecutive stream sequences one reader reads into order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Chunk {
    first: u64,
    /// `None`: to the end of the stream, as it is when the chunk gets there.
    last: Option<u64>,
}

/// Cuts `from..=end` (the stream as far as it is known) into chunks of
/// `len`. The last one runs on to `until` (or the end of the stream, which
/// may have grown meanwhile).
fn chunks(from: u64, end: u64, len: u64, until: Option<u64>) -> Vec<Chunk> {
    let len = len.max(1);
    let mut out = Vec::new();
    let mut first = from;
    while end >= first && end - first >= len {
        out.push(Chunk { first, last: Some(first + len - 1) });
        first += len;
    }
    out.push(Chunk { first, last: until });
    out
}

/// How a chunk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Its last sequence was reached: go on with the next chunk.
    Chunk,
    /// The replay ends here: the stream ended, or `until` was reached.
    Replay,
}

/// How a replay turns each stored message into what it hands over. It
/// runs on the reader tasks, one per connection, so work done here (a
/// rebuild's decoding, an audit's hashing) spreads over the readers.
pub trait Decoder: Clone + Send + Sync + 'static {
    type Item: Send + 'static;
    /// `None`: the message is unreadable; a replay counts and skips it.
    fn decode(&self, message: StoredMessage) -> Option<Self::Item>;
}

/// A message as the stream stores it, with where and when.
#[derive(Debug)]
pub struct StoredMessage {
    pub sequence: u64,
    pub subject: async_nats::Subject,
    pub headers: Option<async_nats::HeaderMap>,
    pub payload: Bytes,
    /// The server's time of storing it.
    pub stored_at: Option<DateTime<Utc>>,
}

/// The events themselves: decoded and upcast, as projections apply them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Events;

impl Decoder for Events {
    type Item = Recorded<AnyEvent>;
    fn decode(&self, m: StoredMessage) -> Option<Self::Item> {
        // Poison is the live consumers' business (dead letters); a replay
        // skips it and says how many it skipped.
        decode_message(m.headers.as_ref(), &m.payload, m.sequence).ok()
    }
}

/// Part of a chunk, decoded, in stream order.
struct Piece<T> {
    events: Vec<T>,
    read: u64,
    undecodable: u64,
    last_sequence: u64,
    /// Set on a chunk's last piece.
    end: Option<End>,
}

impl<T> Piece<T> {
    fn new(capacity: usize) -> Self {
        Self { events: Vec::with_capacity(capacity), read: 0, undecodable: 0, last_sequence: 0, end: None }
    }
}

type Pieces<T> = tokio::sync::mpsc::Sender<Result<Piece<T>, ReplayError>>;

/// Reads the stream from `options.from` (inclusive) to its current end, or
/// to `until`, and hands the events to `apply` in stream order, in batches
/// of `options.batch_size`; `apply` answers how many it applied. With `None`
/// the events are only read and decoded (the raw replay rate).
///
/// Reading and applying overlap: the readers decode the next batches while
/// `apply` works on the previous one, so a rebuild's rate approaches the
/// slower of the two instead of their sum.
pub async fn replay<A, Fut, E>(
    topology: &Topology,
    options: ReplayOptions<'_>,
    apply: Option<A>,
    progress: impl FnMut(u64, u64),
) -> Result<ReplayReport, ReplayError>
where
    A: FnMut(Vec<Recorded<AnyEvent>>) -> Fut,
    Fut: Future<Output = Result<u64, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    replay_with(topology, options, Events, apply, progress).await
}

/// [`replay`] with another [`Decoder`]: the stored messages as `decoder`
/// turns them into items, in stream order.
pub async fn replay_with<D, A, Fut, E>(
    topology: &Topology,
    options: ReplayOptions<'_>,
    decoder: D,
    apply: Option<A>,
    progress: impl FnMut(u64, u64),
) -> Result<ReplayReport, ReplayError>
where
    D: Decoder,
    A: FnMut(Vec<D::Item>) -> Fut,
    Fut: Future<Output = Result<u64, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<D::Item>>(1);
    let read = merge_chunks(topology, options, decoder, apply.is_some().then_some(tx), progress);
    let applying = async {
        let mut applied = 0;
        if let Some(mut apply) = apply {
            while let Some(batch) = rx.recv().await {
                applied += apply(batch).await.map_err(|e| ReplayError::Sink(Box::new(e)))?;
            }
        }
        Ok::<_, ReplayError>(applied)
    };
    // If either side fails the other is dropped: the readers then stop at
    // once, and a batch already handed to the sink still completes.
    let (mut report, applied) = futures::future::try_join(read, applying).await?;
    report.applied = applied;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// A replay that only reads and decodes: the raw rate a rebuild or an
/// export is compared with.
pub async fn read_only(
    topology: &Topology,
    options: ReplayOptions<'_>,
    progress: impl FnMut(u64, u64),
) -> Result<ReplayReport, ReplayError> {
    type Nothing = fn(Vec<Recorded<AnyEvent>>) -> std::future::Ready<Result<u64, std::convert::Infallible>>;
    replay(topology, options, None::<Nothing>, progress).await
}

/// The reading half of [`replay`]: starts the readers, takes their chunks
/// in stream order and hands the batches to `out` (dropped when `None`).
/// Closes `out` when done.
async fn merge_chunks<D: Decoder>(
    topology: &Topology,
    options: ReplayOptions<'_>,
    decoder: D,
    out: Option<tokio::sync::mpsc::Sender<Vec<D::Item>>>,
    mut progress: impl FnMut(u64, u64),
) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    let Some(first_reader) = options.readers.first() else {
        return Err(ReplayError::Stream("no connection to read the stream over".into()));
    };
    let from = options.from.max(1);
    let batch_size = options.batch_size.max(1);
    let piece_size = batch_size.min(PIECE);
    let stream = first_reader.get_stream(&topology.stream).await.map_err(stream_err)?;
    let known_end = stream.cached_info().state.last_sequence;
    let end = options.until.sequence.map_or(known_end, |s| s.min(known_end));
    if end < from {
        return Ok(report);
    }
    let total = end - from + 1;
    let plan = chunks(from, end, options.chunk.max(piece_size as u64), options.until.sequence);
    let readers = options.readers.len().min(plan.len());

    // Room for a whole chunk: a reader that is ahead finishes the chunk it
    // reads, then waits.
    let chunk_pieces = options.chunk.max(piece_size as u64).div_ceil(piece_size as u64);
    let queue = usize::try_from(chunk_pieces).unwrap_or(1).max(1) + 1;
    let mut tasks = tokio::task::JoinSet::new();
    let mut receivers = Vec::with_capacity(readers);
    for (k, js) in options.readers.iter().take(readers).enumerate() {
        let (tx, rx) = tokio::sync::mpsc::channel(queue);
        receivers.push(rx);
        let mine: Vec<Chunk> = plan.iter().skip(k).step_by(readers).copied().collect();
        let reader = Reader { decoder: decoder.clone(), until_time: options.until.time, piece_size };
        tasks.spawn(read_chunks(js.clone(), topology.clone(), mine, reader, tx));
    }
    let mut batch: Vec<D::Item> = Vec::new();
    'chunks: for i in 0..plan.len() {
        let rx = &mut receivers[i % readers];
        loop {
            let piece = rx
                .recv()
                .await
                .ok_or_else(|| ReplayError::Stream("a stream reader stopped before its chunk ended".into()))??;
            report.events += piece.read;
            report.undecodable += piece.undecodable;
            report.last_sequence = report.last_sequence.max(piece.last_sequence);
            if let Some(out) = &out {
                if batch.capacity() == 0 {
                    batch.reserve_exact(batch_size);
                }
                batch.extend(piece.events);
                if batch.len() >= batch_size && out.send(std::mem::take(&mut batch)).await.is_err() {
                    // The applying side stopped; `replay` reports its error.
                    break 'chunks;
                }
            }
            progress(report.events, total);
            match piece.end {
                None => {}
                Some(End::Chunk) => break,
                Some(End::Replay) => break 'chunks,
            }
        }
    }
    if let Some(out) = &out {
        if !batch.is_empty() {
            // An error here is the applying side's, which `replay` reports.
            let _ = out.send(batch).await;
        }
    }
    // Readers still busy (past a stop) see their channel closed and clean up.
    drop(receivers);
    while tasks.join_next().await.is_some() {}
    Ok(report)
}

/// What one reader does with each message, and where it stops.
struct Reader<D> {
    decoder: D,
    until_time: Option<DateTime<Utc>>,
    piece_size: usize,
}

/// One reader: reads `chunks` in turn into `out`, and stops at the first
/// error (which it sends) or at the end of the replay.
async fn read_chunks<D: Decoder>(
    js: jetstream::Context,
    topology: Topology,
    chunks: Vec<Chunk>,
    reader: Reader<D>,
    out: Pieces<D::Item>,
) {
    let stream = match js.get_stream(&topology.stream).await {
        Ok(s) => s,
        Err(e) => {
            let _ = out.send(Err(stream_err(e))).await;
            return;
        }
    };
    // A filter equal to the stream's only subject selects every message, but
    // makes the server count a new consumer's pending messages subject by
    // subject: with a consumer per chunk that doubled its CPU time.
    let filter = topology.all_subjects();
    let filter = if stream.cached_info().config.subjects == [filter.as_str()] { String::new() } else { filter };
    for chunk in chunks {
        match read_chunk(&stream, &filter, chunk, &reader, &out).await {
            Ok(End::Chunk) => {}
            Ok(End::Replay) => return,
            Err(e) => {
                let _ = out.send(Err(e)).await;
                return;
            }
        }
    }
}

/// Reads one chunk through an ephemeral pull consumer that starts at its
/// first sequence, and deletes the consumer afterwards.
async fn read_chunk<D: Decoder>(
    stream: &jetstream::stream::Stream,
    filter: &str,
    chunk: Chunk,
    reader: &Reader<D>,
    out: &Pieces<D::Item>,
) -> Result<End, ReplayError> {
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: filter.to_owned(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: chunk.first },
            ack_policy: consumer::AckPolicy::None,
            memory_storage: true,
            // Outlives the wait of a reader that is ahead; if the process
            // dies the server removes the consumer after this.
            inactive_threshold: Duration::from_secs(120),
            ..Default::default()
        })
        .await
        .map_err(stream_err)?;
    let name = consumer.cached_info().name.clone();
    let read = read_consumer(&consumer, chunk, reader, out).await;
    // Best effort: an ephemeral consumer also expires on its own.
    let _ = stream.delete_consumer(&name).await;
    read
}

async fn read_consumer<D: Decoder>(
    consumer: &consumer::PullConsumer,
    chunk: Chunk,
    reader: &Reader<D>,
    out: &Pieces<D::Item>,
) -> Result<End, ReplayError> {
    let piece_size = reader.piece_size;
    let mut piece = Piece::new(piece_size);
    let mut next = chunk.first;
    // The consumer numbers its deliveries 1, 2, …: a gap would be a lost
    // message, which must fail the replay rather than skip an event.
    let mut delivered = 0;
    let end = 'read: loop {
        let want = chunk.last.map_or(FETCH, |last| (last + 1 - next).min(FETCH));
        let mut messages = consumer.fetch().max_messages(want as usize).messages().await.map_err(stream_err)?;
        let mut got = 0;
        while let Some(m) = tokio::time::timeout(MESSAGE_TIMEOUT, messages.next())
            .await
            .map_err(|_| ReplayError::Stream("no message for 10 s while events were pending".into()))?
        {
            let m = m.map_err(stream_err)?;
            got += 1;
            let info = m.info().map_err(stream_err)?;
            delivered += 1;
            if info.consumer_sequence != delivered {
                return Err(ReplayError::Stream(format!(
                    "a message was lost: delivery {} arrived as {delivered}",
                    info.consumer_sequence
                )));
            }
            let (seq, left, stored_at) = (info.stream_sequence, info.pending, published(&info));
            if chunk.last.is_some_and(|last| seq > last) {
                break 'read End::Chunk; // the next chunk's
            }
            if reader.until_time.is_some_and(|t| stored_at.is_some_and(|p| p > t)) {
                break 'read End::Replay;
            }
            piece.read += 1;
            piece.last_sequence = seq;
            let m = m.split().0;
            let stored =
                StoredMessage { sequence: seq, subject: m.subject, headers: m.headers, payload: m.payload, stored_at };
            match reader.decoder.decode(stored) {
                Some(item) => piece.events.push(item),
                None => piece.undecodable += 1,
            }
            if left == 0 {
                break 'read End::Replay;
            }
            if chunk.last == Some(seq) {
                break 'read End::Chunk;
            }
            if piece.events.len() >= piece_size {
                let full = std::mem::replace(&mut piece, Piece::new(piece_size));
                send(out, full).await?;
            }
            next = seq + 1;
        }
        if got == 0 {
            // Nothing more is stored: deleted messages, or sequences the
            // filter leaves out, ran to the end of the stream.
            break End::Replay;
        }
    };
    piece.end = Some(end);
    send(out, piece).await?;
    Ok(end)
}

async fn send<T>(out: &Pieces<T>, piece: Piece<T>) -> Result<(), ReplayError> {
    // A closed channel means the merging side is done or failed, and says why.
    out.send(Ok(piece)).await.map_err(|_| ReplayError::Stream("the replay stopped".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_known_stream_and_the_last_runs_on() {
        assert_eq!(
            chunks(1, 25, 10, None),
            vec![
                Chunk { first: 1, last: Some(10) },
                Chunk { first: 11, last: Some(20) },
                Chunk { first: 21, last: None }
            ]
        );
        assert_eq!(
            chunks(5, 24, 10, Some(24)),
            vec![Chunk { first: 5, last: Some(14) }, Chunk { first: 15, last: Some(24) }]
        );
        assert_eq!(chunks(3, 3, 10, Some(3)), vec![Chunk { first: 3, last: Some(3) }]);
    }
}
