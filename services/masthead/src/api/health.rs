//! Liveness and readiness, for Kubernetes probes and `masthead up`.

use super::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

/// The process is alive and serving HTTP.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// JetStream is reachable and the stream exists.
pub async fn readyz(State(state): State<SharedState>) -> (StatusCode, Json<Value>) {
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

/// Prometheus text exposition.
pub async fn metrics(
    State(state): State<SharedState>,
) -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    crate::telemetry::metrics::sync_key_pool_misses(state.intake.keys_written_inline());
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        crate::telemetry::metrics::render(),
    )
}
