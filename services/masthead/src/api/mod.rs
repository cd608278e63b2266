//! The HTTP surface: intake (JSON and form), the read-model API, health,
//! metrics and the OpenAPI document. Every role serves the health and
//! metrics routes; `masthead api` serves everything.

pub mod addresses;
pub mod dashboard;
pub mod error;
pub mod form;
pub mod health;
pub mod intake;
pub mod list;
pub mod match_preview;
pub mod openapi;
pub mod query;
pub mod stats;
pub mod subscriptions;

use crate::intake::Intake;
use crate::matcher::address_book::AddressBook;
use crate::projector::generation::ProjectionReads;
use axum::routing::{get, post};
use axum::Router;
use masthead_events::key_vault::KeyVault;
use masthead_events::store::EventStore;
use masthead_events::topology::Topology;
use std::sync::Arc;

/// Everything the handlers need, assembled once per process.
#[derive(Clone)]
pub struct AppState {
    pub intake: Intake,
    pub store: EventStore,
    pub vault: KeyVault,
    pub client: async_nats::Client,
    pub topology: Topology,
    /// The read models, when this process has them.
    pub reads: Option<Arc<ProjectionReads>>,
    /// The base-address index, for match previews.
    pub book: Option<Arc<AddressBook>>,
}

/// What the router hands each request. Axum clones the state for every
/// request; cloning the parts themselves (NATS clients, KV handles with
/// their stream info, topology strings) cost several percent of intake's
/// CPU, so they sit behind one `Arc`.
#[derive(Clone)]
pub struct SharedState(Arc<AppState>);

impl std::ops::Deref for SharedState {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0
    }
}

impl From<AppState> for SharedState {
    fn from(state: AppState) -> Self {
        Self(Arc::new(state))
    }
}

/// Routes every role serves: health and readiness.
pub fn ops_routes() -> Router<SharedState> {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
}

pub fn router(state: AppState) -> Router {
    let state = SharedState::from(state);
    Router::new()
        .route("/", get(form::form_page))
        .route("/subscribe", post(form::submit_form))
        .route("/status/{id}", get(form::status_page))
        .route("/api/v1/subscriptions", post(intake::create_subscription))
        .route("/api/v1/subscriptions/{id}", get(subscriptions::get_subscription))
        .route("/api/v1/subscriptions", get(list::list_subscriptions))
        .route("/api/v1/addresses", get(addresses::list_addresses))
        .route("/api/v1/addresses/{id}", get(addresses::get_address))
        .route("/api/v1/stats", get(stats::get_stats))
        .route("/api/v1/match", get(match_preview::preview))
        .route("/dashboard", get(dashboard::dashboard))
        .merge(openapi::swagger_ui())
        .merge(ops_routes())
        .fallback(error::fallback_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
        // Outermost, so it times everything; added with `layer` (per route)
        // so it sees the matched route for span names and metric labels.
        .layer(axum::middleware::from_fn(crate::telemetry::http::trace_requests))
}
