//! One aggregate's history with its proofs, for `GET /api/v1/audit/events`:
//! each event as an export line, with the anchor that signs its leaf.

use crate::anchor::Anchor;
use crate::export::event_line;
use crate::live::read_anchors;
use crate::AuditError;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use masthead_jetstream::replay::StoredMessage;
use masthead_jetstream::topology::Topology;
use serde_json::{json, Value};
use std::time::Duration;

fn nats(e: impl std::fmt::Display) -> AuditError {
    AuditError::Nats(e.to_string())
}

/// The stored messages of one subject, in order, with their headers as
/// stored (a consumer, not a direct get, which adds headers of its own).
async fn messages_of(
    js: &jetstream::Context,
    topology: &Topology,
    subject: String,
) -> Result<Vec<StoredMessage>, AuditError> {
    let stream = js.get_stream(&topology.stream).await.map_err(nats)?;
    let c: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            filter_subject: subject,
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    let pending = c.cached_info().num_pending;
    let mut out = Vec::new();
    if pending > 0 {
        let mut batch = c.fetch().max_messages(pending as usize).messages().await.map_err(nats)?;
        while let Some(m) = batch.next().await {
            let m = m.map_err(nats)?;
            let info = m.info().map_err(nats)?;
            let (seq, t) = (info.stream_sequence, info.published);
            let stored_at = chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond());
            let m = m.split().0;
            out.push(StoredMessage {
                sequence: seq,
                subject: m.subject,
                headers: m.headers,
                payload: m.payload,
                stored_at,
            });
        }
    }
    let _ = stream.delete_consumer(&c.cached_info().name).await;
    Ok(out)
}

/// The events of aggregate `aggregate_type`/`id` as export lines, each
/// with `proof`: the anchor covering it (its place in the anchors stream,
/// key and signature), or `null` while it is not anchored yet.
pub async fn aggregate_history(
    js: &jetstream::Context,
    topology: &Topology,
    aggregate_type: &str,
    id: &str,
) -> Result<Vec<Value>, AuditError> {
    let messages = messages_of(js, topology, topology.subject(aggregate_type, id)).await?;
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let anchors = read_anchors(js, topology).await?;
    let covering = |seq: u64| -> Option<&(u64, Anchor)> {
        let i = anchors.partition_point(|(_, a)| a.last_seq < seq);
        anchors.get(i).filter(|(_, a)| a.first_seq <= seq)
    };
    let mut out = Vec::with_capacity(messages.len());
    for m in &messages {
        let line = event_line(m).ok_or_else(|| AuditError::Malformed(format!("event {}", m.sequence)))?;
        let mut event: Value = serde_json::from_slice(&line).map_err(|e| AuditError::Malformed(e.to_string()))?;
        let proof = covering(m.sequence).map(|(at, a)| {
            json!({
                "anchor_sequence": at,
                "first_seq": a.first_seq,
                "last_seq": a.last_seq,
                "key_id": a.key_id,
                "signed_at": a.signed_at,
                "prev": a.prev,
                "signature": a.signature,
            })
        });
        event["proof"] = proof.unwrap_or(Value::Null);
        out.push(event);
    }
    Ok(out)
}
