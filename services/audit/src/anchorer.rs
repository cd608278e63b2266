//! The anchorer: follows the stream with one long-lived consumer, hashes
//! each message into its leaf as it arrives, and signs an anchor every N
//! events or T after the first unanchored one.
//!
//! Why one consumer for good rather than a replay per anchor: each replay
//! cost a stream lookup, a consumer created at a sequence and deleted
//! again, the last sequence and the last anchor read back, and a pull of
//! only N messages. At the default N of 1000 and a busy stream that is
//! dozens of consumer lifecycles per second on the server that is also
//! storing the appends; the appends ran at 79 % of their rate beside it.
//! Following the stream, the anchorer's cost per event is one delivery in
//! large pulls and one hash, and the server's API sees one request per
//! anchor (its append).

use crate::anchor::Anchor;
use crate::key::AuditKey;
use crate::leaf::{header_pairs, leaf, Hash, ABSENT};
use crate::AuditError;
use async_nats::jetstream::{self, consumer, stream::DirectGetErrorKind};
use bytes::Bytes;
use futures::StreamExt;
use masthead_jetstream::topology::Topology;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// When the anchorer signs: every `every` events, or `interval` after the
/// first unanchored one, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct AnchorPolicy {
    pub every: u64,
    pub interval: Duration,
}

/// Messages asked for per pull. The client asks for more when half are
/// delivered, so the flow does not stop between pulls; large pulls keep
/// the server's work per pull request out of the cost of each event.
const PULL: usize = 4_096;

/// Bytes asked for per pull, at most: what the client buffers ahead.
const PULL_BYTES: usize = 8 << 20;

/// How often an idle server says it is still there; two missed and the
/// anchorer starts over from the last anchor.
const HEARTBEAT: Duration = Duration::from_secs(5);

fn nats(e: impl std::fmt::Display) -> AuditError {
    AuditError::Nats(e.to_string())
}

/// Where the anchors stand: the next sequence to anchor, the last anchor's
/// hash and its sequence in the anchors stream.
struct Position {
    next: u64,
    prev: String,
    anchor_seq: u64,
}

async fn position(js: &jetstream::Context, topology: &Topology) -> Result<Position, AuditError> {
    let stream = js.get_stream(topology.anchors_stream()).await.map_err(nats)?;
    match stream.direct_get_last_for_subject(topology.anchors_subject()).await {
        Ok(m) => {
            let a: Anchor = serde_json::from_slice(&m.payload).map_err(|e| AuditError::Malformed(e.to_string()))?;
            Ok(Position { next: a.last_seq + 1, prev: a.hash(), anchor_seq: m.sequence })
        }
        Err(e) if e.kind() == DirectGetErrorKind::NotFound => {
            Ok(Position { next: 1, prev: String::new(), anchor_seq: 0 })
        }
        Err(e) => Err(nats(e)),
    }
}

/// The last sequence the stored anchors cover (0: none yet).
pub async fn anchored_to(js: &jetstream::Context, topology: &Topology) -> Result<u64, AuditError> {
    Ok(position(js, topology).await?.next - 1)
}

/// Signs and stores one anchor over `leaves` from `at.next` and moves `at`
/// past it. `Ok(false)`: another anchorer got there first.
async fn anchor_once(
    js: &jetstream::Context,
    topology: &Topology,
    key: &AuditKey,
    at: &mut Position,
    leaves: &[Hash],
) -> Result<bool, AuditError> {
    let anchor = Anchor::sign(key, &topology.stream, at.next, leaves, &at.prev);
    let payload = Bytes::from(serde_json::to_vec(&anchor).map_err(|e| AuditError::Malformed(e.to_string()))?);
    let mut headers = async_nats::HeaderMap::new();
    // Two anchorers never fork the chain: the second's append is refused.
    headers.insert(async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, at.anchor_seq.to_string());
    let ack = js.publish_with_headers(topology.anchors_subject(), headers, payload).await.map_err(nats)?;
    match ack.await {
        Ok(ack) => {
            *at = Position { next: anchor.last_seq + 1, prev: anchor.hash(), anchor_seq: ack.sequence };
            metrics::counter!("masthead_audit_anchors_total").increment(1);
            Ok(true)
        }
        Err(e) if masthead_jetstream::store::is_conflict(&e) => Ok(false),
        Err(e) => Err(nats(e)),
    }
}

/// The niceness of the anchorer's thread (0 is normal, 19 the lowest).
/// Its work per event (a delivery, the client parsing about ten headers, a
/// hash: about 4.5 µs of CPU) is a quarter of what an append costs client
/// and server together, so on a machine whose cores are busy it would take
/// that share from the appends. At a lower priority it yields to them and
/// catches up whenever a core is free; the appends do not wait for it.
pub const NICENESS: i32 = 10;

/// Runs [`run_anchorer`] on a thread of its own, at `niceness` (normally
/// [`NICENESS`]), with its own runtime: `connect` opens the anchorer's NATS
/// connection there, so that parsing what it reads also runs at the lower
/// priority. The thread ends with `shutdown`, or with `connect`'s error.
pub fn spawn_anchorer<C, F>(
    connect: C,
    topology: Topology,
    key: Arc<AuditKey>,
    policy: AnchorPolicy,
    niceness: i32,
    shutdown: CancellationToken,
) -> std::io::Result<AnchorerThread>
where
    C: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = Result<jetstream::Context, AuditError>>,
{
    let (tx, ended) = tokio::sync::oneshot::channel();
    let thread = std::thread::Builder::new().name("anchorer".into()).spawn(move || {
        if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), niceness) {
            tracing::warn!(error = %e, "the audit anchorer runs at normal priority");
        }
        let run = || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| AuditError::Io(format!("the anchorer's runtime: {e}")))?;
            runtime.block_on(async {
                let js = connect().await?;
                run_anchorer(js, topology, key, policy, shutdown).await;
                Ok(())
            })
        };
        // Nobody waiting is fine: then nobody asked how it ended.
        let _ = tx.send(run());
    })?;
    Ok(AnchorerThread { ended, thread })
}

/// The anchorer's thread, as [`spawn_anchorer`] started it.
pub struct AnchorerThread {
    ended: tokio::sync::oneshot::Receiver<Result<(), AuditError>>,
    thread: std::thread::JoinHandle<()>,
}

impl AnchorerThread {
    /// Waits, without blocking a runtime's thread, until it has ended.
    pub async fn ended(self) -> Result<(), AuditError> {
        self.ended.await.unwrap_or_else(|_| Err(AuditError::Io("the anchorer's thread panicked".into())))
    }

    /// Waits until it has ended, blocking this thread.
    pub fn join(mut self) -> Result<(), AuditError> {
        let _ = self.thread.join();
        // Sent before the thread ended, unless it panicked.
        self.ended.try_recv().unwrap_or_else(|_| Err(AuditError::Io("the anchorer's thread panicked".into())))
    }
}

/// Keeps anchoring the stream until `shutdown`. Errors are logged and
/// retried from the last stored anchor: the events are stored either way,
/// and what is not anchored yet is anchored once the server answers again.
pub async fn run_anchorer(
    js: jetstream::Context,
    topology: Topology,
    key: Arc<AuditKey>,
    policy: AnchorPolicy,
    shutdown: CancellationToken,
) {
    let retry = policy.interval.min(Duration::from_millis(200));
    while !shutdown.is_cancelled() {
        match follow(&js, &topology, &key, policy, &shutdown).await {
            Ok(Followed::Shutdown) => return,
            // Another anchorer stored the anchor first: start from its.
            Ok(Followed::Overtaken) => continue,
            Err(e) => tracing::warn!(error = %e, "audit anchoring failed; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(retry) => {}
        }
    }
}

enum Followed {
    Shutdown,
    Overtaken,
}

/// The leaves read since the last anchor, from `at.next` on.
struct Pending {
    leaves: Vec<Hash>,
    /// When the first of them arrived.
    since: Option<Instant>,
}

impl Pending {
    fn push(&mut self, leaf: Hash) {
        self.since.get_or_insert_with(Instant::now);
        self.leaves.push(leaf);
    }

    fn due(&self, policy: AnchorPolicy) -> bool {
        self.leaves.len() as u64 >= policy.every.max(1) || self.since.is_some_and(|t| t.elapsed() >= policy.interval)
    }
}

/// Reads the stream from the last anchor on and signs as the policy says,
/// until shutdown, an error, or another anchorer's anchor.
async fn follow(
    js: &jetstream::Context,
    topology: &Topology,
    key: &AuditKey,
    policy: AnchorPolicy,
    shutdown: &CancellationToken,
) -> Result<Followed, AuditError> {
    let mut at = position(js, topology).await?;
    let stream = js.get_stream(&topology.stream).await.map_err(nats)?;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: masthead_jetstream::replay::filter(&stream, topology),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: at.next },
            ack_policy: consumer::AckPolicy::None,
            memory_storage: true,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    let name = consumer.cached_info().name.clone();
    let followed = async {
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(PULL)
            .max_bytes_per_batch(PULL_BYTES)
            .heartbeat(HEARTBEAT)
            .messages()
            .await
            .map_err(nats)?;
        let every = usize::try_from(policy.every.max(1)).unwrap_or(usize::MAX);
        let mut pending = Pending { leaves: Vec::with_capacity(every.min(10_000)), since: None };
        // The consumer numbers its deliveries 1, 2, …: a gap would be a
        // lost message, which must not be signed as absent.
        let mut delivered = 0;
        loop {
            let wait = pending.since.map_or(policy.interval, |t| policy.interval.saturating_sub(t.elapsed()));
            let next = tokio::select! {
                _ = shutdown.cancelled() => return Ok(Followed::Shutdown),
                _ = tokio::time::sleep(wait), if pending.since.is_some() => None,
                m = messages.next() => Some(m.ok_or_else(|| nats("the stream's consumer ended"))?.map_err(nats)?),
            };
            if let Some(m) = next {
                let info = m.info().map_err(nats)?;
                delivered += 1;
                if info.consumer_sequence != delivered {
                    return Err(nats(format!("delivery {} arrived as {delivered}", info.consumer_sequence)));
                }
                let seq = info.stream_sequence;
                // Sequences no longer stored (deleted before the anchorer
                // got there) are anchored as absent.
                while at.next + (pending.leaves.len() as u64) < seq {
                    pending.push(ABSENT);
                    if pending.leaves.len() >= every && !sign(js, topology, key, &mut at, &mut pending).await? {
                        return Ok(Followed::Overtaken);
                    }
                }
                pending.push(leaf(seq, &m.subject, header_pairs(m.headers.as_ref()), &m.payload));
            }
            if pending.due(policy) && !sign(js, topology, key, &mut at, &mut pending).await? {
                return Ok(Followed::Overtaken);
            }
        }
    };
    let result = followed.await;
    // Best effort: the consumer also expires on its own when idle.
    let _ = stream.delete_consumer(&name).await;
    result
}

/// Signs what is pending (at most `every`, which is all of it: leaves are
/// signed as soon as there are that many).
async fn sign(
    js: &jetstream::Context,
    topology: &Topology,
    key: &AuditKey,
    at: &mut Position,
    pending: &mut Pending,
) -> Result<bool, AuditError> {
    if pending.leaves.is_empty() {
        return Ok(true);
    }
    let stored = anchor_once(js, topology, key, at, &pending.leaves).await?;
    pending.leaves.clear();
    pending.since = None;
    Ok(stored)
}
