//! Consumer lag: pending and ack-pending messages per durable consumer, and
//! dead letters, read from JetStream and published as gauges.

use masthead_events::dead_letter::DeadLetters;
use masthead_events::topology::{ConsumerRole, Topology};
use serde::Serialize;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConsumerLag {
    pub consumer: String,
    /// Messages not yet delivered to the consumer; `null` if JetStream did not answer.
    pub pending: Option<u64>,
    /// Delivered but not yet acknowledged.
    pub ack_pending: Option<u64>,
    pub dead_letters: Option<u64>,
}

/// Reads every consumer's lag, bounded to about a second in all.
pub async fn read(js: &async_nats::jetstream::Context, topology: &Topology) -> Vec<ConsumerLag> {
    let stream = js.get_stream_no_info(&topology.stream).await.ok();
    let letters = tokio::time::timeout(Duration::from_secs(1), DeadLetters::open(js, &topology.dead_letters_bucket()))
        .await
        .ok()
        .and_then(Result::ok);
    let mut out = Vec::new();
    for role in ConsumerRole::ALL {
        let name = role.durable_name();
        let info = match &stream {
            Some(s) => {
                tokio::time::timeout(Duration::from_secs(1), s.consumer_info(name)).await.ok().and_then(Result::ok)
            }
            None => None,
        };
        let dead = match &letters {
            Some(l) => tokio::time::timeout(Duration::from_secs(1), l.count(Some(name)))
                .await
                .ok()
                .and_then(Result::ok)
                .map(|n| n as u64),
            None => None,
        };
        out.push(ConsumerLag {
            consumer: name.to_owned(),
            pending: info.as_ref().map(|i| i.num_pending),
            ack_pending: info.as_ref().map(|i| i.num_ack_pending as u64),
            dead_letters: dead,
        });
    }
    out
}

/// Reads the lag and updates the Prometheus gauges.
pub async fn poll(js: &async_nats::jetstream::Context, topology: &Topology) -> Vec<ConsumerLag> {
    let lags = read(js, topology).await;
    if let Some(m) = super::metrics::METRICS.as_ref() {
        for l in &lags {
            if let Some(p) = l.pending {
                m.consumer_pending.with_label_values(&[&l.consumer]).set(p as i64);
            }
            if let Some(p) = l.ack_pending {
                m.consumer_ack_pending.with_label_values(&[&l.consumer]).set(p as i64);
            }
            if let Some(d) = l.dead_letters {
                m.dead_letters.with_label_values(&[&l.consumer]).set(d as i64);
            }
        }
    }
    lags
}
