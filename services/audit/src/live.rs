//! The audit on the live stream: reading the anchors back and `audit
//! verify --live` (the anchorer that keeps signing is [`crate::anchorer`]).

pub use crate::anchorer::{run_anchorer, AnchorPolicy};

use crate::anchor::Anchor;
use crate::key::PublicKeys;
use crate::leaf::{header_pairs, leaf, Hash};
use crate::verify::{Report, Verifier};
use crate::AuditError;
use async_nats::jetstream;
use masthead_jetstream::replay::{replay_with, Decoder, ReplayOptions, StoredMessage, Until, CHUNK};
use masthead_jetstream::topology::Topology;
use std::sync::Mutex;

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
