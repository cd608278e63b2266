//! `GET /api/v1/stats`: the stats read model plus live consumer lag, and
//! [`poll_lag`], which also feeds the Prometheus lag gauges.

use super::error::ApiError;
use super::query::{projection_store, store_error, Params};
use super::SharedState;
use async_nats::jetstream;
use axum::extract::State;
use axum::Json;
use masthead_events::dead_letter::DeadLetters;
use masthead_events::topology::{ConsumerRole, Topology};
use masthead_projections::Stats;
use serde::Serialize;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long one lag lookup may take before it is reported as unknown. A
/// stats request must answer even while JetStream is slow or away.
pub const LAG_TIMEOUT: Duration = Duration::from_secs(1);

/// Where one durable consumer stands. `null` means the lookup failed or
/// timed out: unknown, not zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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

/// The stats response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatsBody {
    #[serde(flatten)]
    pub stats: Stats,
    /// Seconds between now and when the last applied event occurred; `null`
    /// before anything was applied. Large while the stream is quiet too —
    /// read it together with `consumers[].pending`.
    pub seconds_since_last_applied_event: Option<f64>,
    /// The projection generation these figures come from.
    pub generation: String,
    /// One entry per durable consumer, in the order matcher, projector, mailer.
    pub consumers: Vec<ConsumerLag>,
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
    if let Some(m) = crate::telemetry::metrics::METRICS.as_ref() {
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        for lag in &lags {
            let label = [lag.consumer.as_str()];
            if let Some(v) = lag.pending {
                m.consumer_pending.with_label_values(&label).set(gauge(v));
            }
            if let Some(v) = lag.ack_pending {
                m.consumer_ack_pending.with_label_values(&label).set(gauge(v));
            }
            if let Some(v) = lag.dead_letters {
                m.dead_letters.with_label_values(&label).set(gauge(v));
            }
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

/// Dashboard figures plus live consumer lag.
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "read",
    responses(
        (status = 200, description = "Stats read model, consumer lag and dead letters", body = StatsBody),
        (status = 400, description = "A query parameter was given (there are none)", body = super::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = super::error::ErrorBody),
    )
)]
pub async fn get_stats(State(state): State<SharedState>, params: Params) -> Result<Json<StatsBody>, ApiError> {
    params.allow_only(&[])?;
    let store = projection_store(&state)?;
    let generation = state.reads.as_ref().map(|r| r.generation()).unwrap_or_default();
    let js = state.store.jetstream().clone();
    let (stats, consumers) = tokio::join!(store.stats(), poll_lag(&js, &state.topology, LAG_TIMEOUT));
    let stats = stats.map_err(store_error)?;
    let seconds_since_last_applied_event =
        stats.last_applied_at.map(|at| (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0);
    Ok(Json(StatsBody { stats, seconds_since_last_applied_event, generation, consumers }))
}
