//! Where each durable consumer stands: messages waiting, delivered but not
//! yet acknowledged, and dead letters. Read on an interval for the
//! Prometheus gauges (`masthead_consumer_pending_messages`,
//! `masthead_consumer_ack_pending_messages`, `masthead_dead_letters_total`),
//! and on demand for the stats endpoint.

use crate::dead_letter::DeadLetters;
use crate::topology::{ConsumerRole, Topology};
use async_nats::jetstream;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the lag gauges are refreshed.
pub const LAG_POLL: Duration = Duration::from_secs(5);

/// How long one lag lookup may take before it is reported as unknown. A
/// stats request must answer even while JetStream is slow or away.
pub const LAG_TIMEOUT: Duration = Duration::from_secs(1);

/// Where one durable consumer stands. `null` means the lookup failed or
/// timed out: unknown, not zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsumerLag {
    /// Durable name: `matcher`, `projector` or `mailer`.
    pub consumer: String,
    /// Messages in the stream the consumer has not been delivered yet.
    pub pending: Option<u64>,
    /// Delivered but not yet acknowledged.
    pub ack_pending: Option<u64>,
    /// Dead-letter records of this consumer.
    pub dead_letters: Option<u64>,
}

async fn bounded<T, E: std::fmt::Display>(
    what: &str,
    timeout: Duration,
    f: impl Future<Output = Result<T, E>>,
) -> Option<T> {
    match tokio::time::timeout(timeout, f).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::debug!(what, error = %e, "lag lookup failed");
            None
        }
        Err(_) => {
            tracing::debug!(what, "lag lookup timed out");
            None
        }
    }
}

/// Dead-letter records per consumer, from one listing of the bucket.
async fn dead_letter_counts(js: &jetstream::Context, topology: &Topology) -> Result<HashMap<String, u64>, String> {
    let letters = DeadLetters::open(js, &topology.dead_letters_bucket()).await.map_err(|e| e.to_string())?;
    let mut counts = HashMap::new();
    for letter in letters.list(None).await.map_err(|e| e.to_string())? {
        *counts.entry(letter.consumer).or_insert(0u64) += 1;
    }
    Ok(counts)
}

/// Reads every durable consumer's lag and dead-letter count, each lookup
/// bounded by `timeout` (they run concurrently, so the whole call takes at
/// most about `timeout`), and sets the Prometheus gauges
/// `consumer_pending_messages`, `consumer_ack_pending_messages` and
/// `dead_letters_total`. A gauge whose lookup failed keeps its last value:
/// a scrape then shows the last known lag rather than a false zero.
pub async fn poll_lag(js: &jetstream::Context, topology: &Topology, timeout: Duration) -> Vec<ConsumerLag> {
    let infos = ConsumerRole::ALL.map(|role| async move {
        let name = role.durable_name();
        bounded(name, timeout, async {
            let stream = js.get_stream_no_info(&topology.stream).await.map_err(|e| e.to_string())?;
            stream.consumer_info(name).await.map_err(|e| e.to_string())
        })
        .await
    });
    let (infos, dead) = tokio::join!(
        futures::future::join_all(infos),
        bounded("dead letters", timeout, dead_letter_counts(js, topology))
    );
    let lags: Vec<ConsumerLag> = ConsumerRole::ALL
        .iter()
        .zip(infos)
        .map(|(role, info)| {
            let consumer = role.durable_name().to_owned();
            ConsumerLag {
                pending: info.as_ref().map(|i| i.num_pending),
                ack_pending: info.as_ref().map(|i| i.num_ack_pending as u64),
                dead_letters: dead.as_ref().map(|d| d.get(&consumer).copied().unwrap_or(0)),
                consumer,
            }
        })
        .collect();
    for lag in &lags {
        let consumer = lag.consumer.clone();
        if let Some(v) = lag.pending {
            metrics::gauge!("masthead_consumer_pending_messages", "consumer" => consumer.clone()).set(v as f64);
        }
        if let Some(v) = lag.ack_pending {
            metrics::gauge!("masthead_consumer_ack_pending_messages", "consumer" => consumer.clone()).set(v as f64);
        }
        if let Some(v) = lag.dead_letters {
            metrics::gauge!("masthead_dead_letters_total", "consumer" => consumer).set(v as f64);
        }
    }
    lags
}

/// Runs [`poll_lag`] every `every` until `shutdown`, so that every role's
/// `/metrics` carries current lag gauges without anyone calling the stats
/// endpoint.
pub async fn run_lag_poller(js: jetstream::Context, topology: Topology, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => { poll_lag(&js, &topology, LAG_TIMEOUT).await; }
        }
    }
}
