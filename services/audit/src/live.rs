//! The audit on the live stream: the anchorer that keeps signing, reading
//! the anchors back, and `audit verify --live`.

use crate::anchor::Anchor;
use crate::key::{AuditKey, PublicKeys};
use crate::leaf::{header_pairs, leaf, Hash, ABSENT};
use crate::verify::{Report, Verifier};
use crate::AuditError;
use async_nats::jetstream::{self, stream::DirectGetErrorKind};
use bytes::Bytes;
use masthead_jetstream::replay::{replay_with, Decoder, ReplayOptions, StoredMessage, Until, CHUNK};
use masthead_jetstream::topology::Topology;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Hashes each stored message into its leaf, on the replay's readers.
#[derive(Debug, Clone, Copy)]
pub struct Leaves;

impl Decoder for Leaves {
    type Item = (u64, Hash);
    fn decode(&self, m: StoredMessage) -> Option<Self::Item> {
        Some((m.sequence, leaf(m.sequence, &m.subject, header_pairs(m.headers.as_ref()), &m.payload)))
    }
}

fn nats(e: impl std::fmt::Display) -> AuditError {
    AuditError::Nats(e.to_string())
}

/// Every anchor in stream order, with its sequence in the anchors stream.
pub async fn read_anchors(js: &jetstream::Context, topology: &Topology) -> Result<Vec<(u64, Anchor)>, AuditError> {
    let mut stream = js.get_stream(topology.anchors_stream()).await.map_err(nats)?;
    let state = stream.info().await.map_err(nats)?.state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return Ok(out);
    }
    for seq in state.first_sequence..=state.last_sequence {
        let m = stream.direct_get(seq).await.map_err(nats)?;
        let anchor =
            serde_json::from_slice(&m.payload).map_err(|e| AuditError::Malformed(format!("anchor {seq}: {e}")))?;
        out.push((seq, anchor));
    }
    Ok(out)
}

/// The leaves of `from..=to` as stored now; sequences no longer there get
/// [`ABSENT`].
async fn leaves_of(js: &jetstream::Context, topology: &Topology, from: u64, to: u64) -> Result<Vec<Hash>, AuditError> {
    let got = Mutex::new(Vec::new());
    let options = ReplayOptions {
        from,
        until: Until { sequence: Some(to), time: None },
        batch_size: 10_000,
        readers: std::slice::from_ref(js),
        chunk: CHUNK,
    };
    let apply = Some(|batch: Vec<(u64, Hash)>| {
        let n = batch.len() as u64;
        got.lock().unwrap_or_else(|p| p.into_inner()).extend(batch);
        async move { Ok::<u64, std::convert::Infallible>(n) }
    });
    replay_with(topology, options, Leaves, apply, |_, _| {}).await.map_err(nats)?;
    let mut leaves = vec![ABSENT; (to - from + 1) as usize];
    for (seq, h) in got.into_inner().unwrap_or_else(|p| p.into_inner()) {
        if let Some(slot) = seq.checked_sub(from).and_then(|i| leaves.get_mut(i as usize)) {
            *slot = h;
        }
    }
    Ok(leaves)
}

/// When the anchorer signs: every `every` events, or `interval` after the
/// first unanchored one, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct AnchorPolicy {
    pub every: u64,
    pub interval: Duration,
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

/// Signs and stores one anchor over `next..=to`. `Ok(false)`: another
/// anchorer got there first (the position is re-read).
async fn anchor_once(
    js: &jetstream::Context,
    topology: &Topology,
    key: &AuditKey,
    at: &Position,
    to: u64,
) -> Result<bool, AuditError> {
    let leaves = leaves_of(js, topology, at.next, to).await?;
    let anchor = Anchor::sign(key, &topology.stream, at.next, &leaves, &at.prev);
    let payload = Bytes::from(serde_json::to_vec(&anchor).map_err(|e| AuditError::Malformed(e.to_string()))?);
    let mut headers = async_nats::HeaderMap::new();
    // Two anchorers never fork the chain: the second's append is refused.
    headers.insert(async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, at.anchor_seq.to_string());
    let ack = js.publish_with_headers(topology.anchors_subject(), headers, payload).await.map_err(nats)?;
    match ack.await {
        Ok(_) => Ok(true),
        Err(e) if masthead_jetstream::store::is_conflict(&e) => Ok(false),
        Err(e) => Err(nats(e)),
    }
}

/// Keeps anchoring the stream until `shutdown`. Errors are logged and
/// retried: the events are stored either way, and what is not anchored yet
/// is anchored once the server answers again.
pub async fn run_anchorer(
    js: jetstream::Context,
    topology: Topology,
    key: Arc<AuditKey>,
    policy: AnchorPolicy,
    shutdown: CancellationToken,
) {
    let poll = policy.interval.min(Duration::from_millis(200));
    let store = masthead_jetstream::store::EventStore::new(js.clone(), topology.clone());
    let mut first_seen: Option<Instant> = None;
    let mut at: Option<Position> = None;
    while !shutdown.is_cancelled() {
        let step = async {
            let pos = match at.take() {
                Some(p) => p,
                None => position(&js, &topology).await?,
            };
            let last = store.last_sequence().await.map_err(nats)?;
            if last < pos.next {
                first_seen = None;
                at = Some(pos);
                return Ok::<bool, AuditError>(false);
            }
            let seen = *first_seen.get_or_insert_with(Instant::now);
            if last - pos.next + 1 < policy.every.max(1) && seen.elapsed() < policy.interval {
                at = Some(pos);
                return Ok(false);
            }
            let to = last.min(pos.next + policy.every.max(1) - 1);
            if anchor_once(&js, &topology, &key, &pos, to).await? {
                metrics::counter!("masthead_audit_anchors_total").increment(1);
                first_seen = (to < last).then(Instant::now);
            }
            Ok(true) // re-read the position: it moved
        };
        let busy = match step.await {
            Ok(busy) => busy,
            Err(e) => {
                tracing::warn!(error = %e, "audit anchoring failed; retrying");
                false
            }
        };
        if !busy {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }
}

/// `masthead audit verify --live`: the anchors, then every event.
pub async fn verify_live(
    js: &jetstream::Context,
    topology: &Topology,
    keys: &PublicKeys,
    readers: &[jetstream::Context],
    progress: impl FnMut(u64, u64),
) -> Result<Report, AuditError> {
    let anchors = read_anchors(js, topology).await?.into_iter().map(|(_, a)| a);
    let verifier = Mutex::new(Verifier::new(&topology.stream, keys, anchors));
    let options = ReplayOptions { from: 1, until: Until::default(), batch_size: 10_000, readers, chunk: CHUNK };
    let apply = Some(|batch: Vec<(u64, Hash)>| {
        let n = batch.len() as u64;
        let mut v = verifier.lock().unwrap_or_else(|p| p.into_inner());
        for (seq, h) in &batch {
            if !v.event(*seq, h) {
                break;
            }
        }
        async move { Ok::<u64, std::convert::Infallible>(n) }
    });
    replay_with(topology, options, Leaves, apply, progress).await.map_err(nats)?;
    Ok(verifier.into_inner().unwrap_or_else(|p| p.into_inner()).finish())
}
