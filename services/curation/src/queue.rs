//! The review queue as the stream has it, for tools that run without the
//! read models (the CLI): every item folded from its own events.

use async_nats::jetstream;
use masthead_domain::envelope::AnyEvent;
use masthead_domain::review::Review;
use masthead_jetstream::feed;
use masthead_jetstream::headers::decode_message;
use masthead_jetstream::topology::Topology;
use std::collections::BTreeMap;
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
    let mut items: BTreeMap<Uuid, Review> = BTreeMap::new();
    feed::read_to_end(js, topology, vec![topology.aggregate_filter("review")], 1, |m| {
        let seq = m.stream_sequence;
        match decode_message(m.headers, m.payload, seq) {
            Ok(r) => {
                if let AnyEvent::Review(e) = r.event {
                    let id = e.review_id();
                    items.entry(id).or_default().apply_event(e);
                }
            }
            Err(e) => tracing::warn!(seq, error = %e, "skipping an undecodable review event"),
        }
        Ok::<_, std::convert::Infallible>(())
    })
    .await
    .map_err(|e| QueueError::Read(e.to_string()))?;
    // An item decided but never opened cannot come from the aggregate.
    items.retain(|_, r| r.opened.is_some());
    Ok(items)
}

/// Whether an item is still waiting for a decision.
pub fn is_open(item: &Review) -> bool {
    item.decided.is_none()
}
