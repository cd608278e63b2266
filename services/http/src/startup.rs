//! The HTTP surface of a process that is still starting.
//!
//! A role listens before it has connected to NATS and set up the stream and
//! buckets, because on a first install the NATS cluster starts together with
//! the application and cannot place an R3 stream until all its peers have
//! registered. Meanwhile Kubernetes must see the pod alive (liveness:
//! `/healthz` answers 200, so the pod is not restarted for waiting) but not
//! ready (readiness: `/readyz` answers 503 with the reason), and a request
//! that reaches it anyway gets 503 with `Retry-After`. Once the process is
//! up, [`Gate::open`] hands every request to the real router.

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tower::Service;

/// Switches the HTTP surface from "starting" to the real router.
#[derive(Clone, Default)]
pub struct Gate {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The real router, once the process is up.
    open: arc_swap::ArcSwapOption<Router>,
    /// What start-up waits for now, for `/readyz` and refused requests.
    waiting_for: Mutex<String>,
}

impl Gate {
    pub fn new(waiting_for: impl Into<String>) -> Self {
        let gate = Self::default();
        gate.waiting_for(waiting_for);
        gate
    }

    /// Says what start-up waits for now ("the NATS cluster to place stream
    /// MASTHEAD: no suitable peers for placement"). Shown by `/readyz`; it
    /// must hold no secret.
    pub fn waiting_for(&self, what: impl Into<String>) {
        *self.inner.waiting_for.lock().unwrap_or_else(|p| p.into_inner()) = what.into();
    }

    fn reason(&self) -> String {
        self.inner.waiting_for.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// From now on every request goes to `router`.
    pub fn open(&self, router: Router) {
        self.inner.open.store(Some(Arc::new(router)));
    }

    pub fn is_open(&self) -> bool {
        self.inner.open.load().is_some()
    }

    /// The router to serve: the real one once open, the start-up answers
    /// before.
    pub fn router(&self) -> Router {
        let gate = self.clone();
        Router::new().fallback(move |request: Request| {
            let gate = gate.clone();
            async move { gate.handle(request).await }
        })
    }

    async fn handle(&self, request: Request) -> Response {
        if let Some(router) = self.inner.open.load_full() {
            // A router is always ready and never fails (`Infallible`).
            return match (*router).clone().call(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        }
        match request.uri().path() {
            "/healthz" => Json(json!({"status": "ok", "starting": true})).into_response(),
            "/readyz" => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "starting", "reason": format!("waiting for {}", self.reason())})),
            )
                .into_response(),
            "/metrics" => crate::ops::metrics().await.into_response(),
            _ => {
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "starting",
                    format!("masthead is starting (waiting for {}); retry shortly", self.reason()),
                );
                e.retry_after = Some(2);
                e.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;

    async fn send(router: &Router, path: &str) -> (StatusCode, Option<String>, String) {
        let request = Request::builder().uri(path).body(Body::empty()).expect("request");
        let response = router.clone().call(request).await.expect("infallible");
        let status = response.status();
        let retry = response.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_owned());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        (status, retry, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn alive_but_not_ready_until_opened_then_the_real_router_answers() {
        let gate = Gate::new("NATS at nats://a:4222");
        let served = gate.router();
        assert_eq!(send(&served, "/healthz").await.0, StatusCode::OK);
        let (status, _, body) = send(&served, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("waiting for NATS at nats://a:4222"), "{body}");
        gate.waiting_for("the NATS cluster to place stream S: no suitable peers for placement");
        let (status, retry, body) = send(&served, "/api/v1/subscriptions").await;
        assert_eq!((status, retry.as_deref()), (StatusCode::SERVICE_UNAVAILABLE, Some("2")));
        assert!(body.contains("\"code\":\"starting\"") && body.contains("no suitable peers"), "{body}");

        gate.open(Router::new().route("/readyz", get(|| async { "ready" })));
        assert!(gate.is_open());
        assert_eq!(send(&served, "/readyz").await, (StatusCode::OK, None, "ready".to_owned()));
        assert_eq!(send(&served, "/healthz").await.0, StatusCode::NOT_FOUND, "the real router answers everything");
    }
}
