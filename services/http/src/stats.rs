//! `GET /api/v1/stats`: the stats read model plus live consumer lag,
//! served from a cache refreshed at most once per [`STATS_TTL`]: the lag
//! costs JetStream requests, and a flood of requests to it must not
//! turn into a flood of those (nor slow intake down).

use crate::access::doors::DoorRouter;
use crate::error::ApiError;
use crate::query::{projection_store, store_error, NoParams, Query};
use crate::SharedState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use masthead_auth::Role;
use masthead_jetstream::lag::{poll_lag, ConsumerLag, LAG_TIMEOUT};
use masthead_projections::Stats;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use utoipa_axum::routes;

/// How long one stats body is served.
pub const STATS_TTL: Duration = Duration::from_secs(1);

/// The last stats body and when it was made. One refresh at a time: the
/// lock is held while refreshing, so a burst of callers waits for one
/// JetStream round instead of each starting its own.
#[derive(Clone, Default)]
pub struct StatsCache(Arc<tokio::sync::Mutex<Option<(Instant, bytes::Bytes)>>>);

pub fn routes() -> DoorRouter<SharedState> {
    DoorRouter::new().role(Role::Viewer, routes!(get_stats))
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

/// Dashboard figures plus live consumer lag.
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "read",
    responses(
        (status = 200, description = "Stats read model, consumer lag and dead letters, at most about a second old (cached)", body = StatsBody),
        (status = 400, description = "A query parameter was given (there are none)", body = crate::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn get_stats(State(state): State<SharedState>, Query(_none): Query<NoParams>) -> Result<Response, ApiError> {
    let mut cached = state.stats_cache().0.lock().await;
    let body = match cached.as_ref() {
        Some((made, body)) if made.elapsed() < STATS_TTL => body.clone(),
        _ => {
            let fresh = bytes::Bytes::from(serde_json::to_vec(&fresh_stats(&state).await?).map_err(|e| {
                tracing::error!(error = %e, "serialising stats failed");
                ApiError::internal()
            })?);
            *cached = Some((Instant::now(), fresh.clone()));
            fresh
        }
    };
    drop(cached);
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Asks the read model and JetStream.
async fn fresh_stats(state: &SharedState) -> Result<StatsBody, ApiError> {
    let store = projection_store(state)?;
    let generation = state.reads.as_ref().map(|r| r.generation()).unwrap_or_default();
    let js = state.store.jetstream().clone();
    let (stats, consumers) = tokio::join!(store.stats(), poll_lag(&js, &state.topology, LAG_TIMEOUT));
    let stats = stats.map_err(store_error)?;
    let seconds_since_last_applied_event =
        stats.last_applied_at.map(|at| (chrono::Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0);
    Ok(StatsBody { stats, seconds_since_last_applied_event, generation, consumers })
}
