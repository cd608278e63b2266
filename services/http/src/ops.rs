//! Operations routes every role serves: liveness and readiness for
//! Kubernetes probes and `masthead up`, and Prometheus metrics.

use crate::access::doors::DoorRouter;
use crate::OpsState;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;
use utoipa_axum::routes;

/// The probes, and `/metrics` when `with_metrics` (this listener is the
/// operations listener, or the only one).
pub fn routes<S>(with_metrics: bool) -> DoorRouter<S>
where
    S: Clone + Send + Sync + 'static,
    OpsState: FromRef<S>,
{
    let probes = DoorRouter::new().public(routes!(healthz)).public(routes!(readyz));
    match with_metrics {
        true => probes.operations(routes!(metrics)),
        false => probes,
    }
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`{\"status\": \"ok\"}`")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: NATS is connected and JetStream answers within a second.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\", \"last_sequence\": n}`"),
        (status = 503, description = "`{\"status\": \"unavailable\", \"reason\": …}`"),
    )
)]
pub async fn readyz(State(state): State<OpsState>) -> (StatusCode, Json<Value>) {
    if state.client.connection_state() != async_nats::connection::State::Connected {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": "nats disconnected"})),
        );
    }
    let check = tokio::time::timeout(Duration::from_secs(1), state.store.last_sequence()).await;
    match check {
        Ok(Ok(seq)) => (StatusCode::OK, Json(json!({"status": "ready", "last_sequence": seq}))),
        Ok(Err(e)) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": e.to_string()})))
        }
        Err(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "reason": "jetstream timeout"})))
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"))
)]
pub async fn metrics() -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        masthead_telemetry::metrics::render(),
    )
}
