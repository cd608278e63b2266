//! The review queue as the stream has it, for tools that run without the
//! read models (the CLI): every item folded from its own events.

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use masthead_domain::envelope::AnyEvent;
use masthead_domain::review::Review;
use masthead_jetstream::headers::decode_message;
use masthead_jetstream::topology::Topology;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// Why the queue could not be read.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// NATS did not answer or the read stalled; run it again.
    #[error("reading review items: {0}")]
    Read(String),
}

/// Every review item in the stream, by id, with its decision if any.
pub async fn review_items(js: &jetstream::Context, topology: &Topology) -> Result<BTreeMap<Uuid, Review>, QueueError> {
    let read = |e: &dyn std::fmt::Display| QueueError::Read(e.to_string());
    let stream = js.get_stream(&topology.stream).await.map_err(|e| read(&e))?;
    let mut consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: topology.aggregate_filter("review"),
            ..Default::default()
        })
        .await
        .map_err(|e| read(&e))?;
    let mut items: BTreeMap<Uuid, Review> = BTreeMap::new();
    if consumer.info().await.map_err(|e| read(&e))?.num_pending == 0 {
        return Ok(items);
    }
    let mut messages = consumer.messages().await.map_err(|e| read(&e))?;
    while let Some(m) = tokio::time::timeout(Duration::from_secs(10), messages.next())
        .await
        .map_err(|_| QueueError::Read("the review feed stalled".into()))?
    {
        let m = m.map_err(|e| read(&e))?;
        let info = m.info().map_err(|e| read(&e))?;
        let (seq, left) = (info.stream_sequence, info.pending);
        match decode_message(m.headers.as_ref(), &m.payload, seq) {
            Ok(r) => {
                if let AnyEvent::Review(e) = r.event {
                    let id = e.review_id();
                    items.entry(id).or_default().apply_event(e);
                }
            }
            Err(e) => tracing::warn!(seq, error = %e, "skipping an undecodable review event"),
        }
        if left == 0 {
            break;
        }
    }
    // An item decided but never opened cannot come from the aggregate.
    items.retain(|_, r| r.opened.is_some());
    Ok(items)
}

/// Whether an item is still waiting for a decision.
pub fn is_open(item: &Review) -> bool {
    item.decided.is_none()
}
