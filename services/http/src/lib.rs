//! Masthead's HTTP surface, one module per resource:
//!
//! - [`subscriptions`]: the intake (JSON) and the subscription views;
//! - [`addresses`]: the base-address list, search and match previews;
//! - [`stats`]: the dashboard's figures and consumer lag;
//! - [`pages`]: the subscriber's form and status page, the double opt-in
//!   page and the dashboard, rendered from the template files in
//!   `templates/` with their scripts and styles served from `assets/`;
//! - [`ops`]: health, readiness and metrics, which every role serves;
//! - [`access`]: who may call what (deny by default: every route is
//!   registered with its door), sign-in for the pages, security headers.
//! - [`reviews`]: the address team's review queue and its decisions;
//! - [`restricted`]: the auditor's and the admin's routes (audit events,
//!   personal data).
//! - [`startup`]: what a process answers while it still starts (alive, not
//!   ready), until the real router takes over.
//! - [`limits`]: the per-client intake rate limit and load shedding, in
//!   front of every handler;
//! - [`server`]: the server loop, with header, body and idle timeouts and a
//!   connection cap.
//!
//! Each route is declared once, on its handler (`#[utoipa::path]`): the
//! router and the OpenAPI document are built from the same declarations,
//! and a list's query parameters are parsed against the parameter struct
//! the document describes. Every error is JSON.

pub mod access;
pub mod addresses;
pub mod error;
pub mod json_body;
pub mod limits;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod query;
pub mod restricted;
pub mod reviews;
pub mod server;
pub mod startup;
pub mod stats;
pub mod subscriptions;

use access::doors::{DoorRouter, Gate};
use axum::extract::FromRef;
use axum::Router;
use masthead_jetstream::key_vault::KeyVault;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use masthead_matching::matcher::address_book::AddressBook;
use masthead_projections::projector::generations::ProjectionReads;
use std::sync::Arc;
use subscriptions::intake::Intake;

/// Everything the API's handlers need, assembled once per process.
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
    /// The address team's commands (over the same index).
    pub curation: Option<masthead_curation::Curation>,
    /// Token validation and the access settings.
    pub access: Arc<access::Access>,
    /// Rate and in-flight limits.
    pub limits: limits::LimitSettings,
    /// The deployment's signing secret: checks double opt-in links.
    pub signing_key: masthead_domain::signing::SigningKey,
}

/// What the router hands each request. Axum clones the state for every
/// request; cloning the parts themselves (NATS clients, KV handles with
/// their stream info, topology strings) cost several percent of intake's
/// CPU, so they sit behind one `Arc`.
#[derive(Clone)]
pub struct SharedState(Arc<AppState>, stats::StatsCache);

impl std::ops::Deref for SharedState {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.0
    }
}

impl SharedState {
    /// The stats body of the last second (see [`stats::StatsCache`]).
    pub fn stats_cache(&self) -> &stats::StatsCache {
        &self.1
    }
}

impl From<AppState> for SharedState {
    fn from(state: AppState) -> Self {
        Self(Arc::new(state), stats::StatsCache::default())
    }
}

/// What the operations routes need: every role has it, API or not.
#[derive(Clone)]
pub struct OpsState {
    pub client: async_nats::Client,
    pub store: EventStore,
}

impl FromRef<SharedState> for OpsState {
    fn from_ref(state: &SharedState) -> Self {
        OpsState { client: state.client.clone(), store: state.store.clone() }
    }
}

/// The API's routes with their doors and OpenAPI declarations.
/// `/metrics` is among them when `metrics_here`.
fn api_routes(metrics_here: bool) -> DoorRouter<SharedState> {
    DoorRouter::new()
        .merge(subscriptions::routes())
        .merge(addresses::routes())
        .merge(stats::routes())
        .merge(pages::routes())
        .merge(access::sign_in::routes())
        .merge(ops::routes(metrics_here))
        .merge(restricted::routes())
        .merge(reviews::routes())
}

/// The routes outside the OpenAPI document: Swagger UI, the document
/// itself, and the pages' assets. All public (and on the public list).
const UNDOCUMENTED_ROUTES: &[(&str, &str)] = &[
    ("GET", openapi::OPENAPI_PATH),
    ("GET", openapi::DOCS_PATH),
    ("GET", "/api/docs/"),
    ("GET", "/api/docs/{*rest}"),
    ("GET", pages::ASSETS_ROUTE),
];

/// The whole HTTP surface of `masthead api` (and `up`): the API, pages,
/// documentation and operations routes, each behind its door.
pub fn router(state: AppState) -> Router {
    let access = state.access.clone();
    let limits = limits::Limits::new(&state.limits);
    let state = SharedState::from(state);
    let (routes, doors) = api_routes(access.metrics_here).into_parts();
    let (routes, document) = routes.split_for_parts();
    let gate = Arc::new(Gate { table: doors.with_public(UNDOCUMENTED_ROUTES), access: access.clone() });
    routes
        .merge(pages::assets())
        .with_state(state)
        .merge(openapi::docs(openapi::describe(document)))
        .fallback(error::fallback_not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // Per route (`layer`), so it sees the matched route.
        .layer(axum::middleware::from_fn_with_state(gate, access::doors::enforce))
        // Outside the doors, so a flood is refused before any token is
        // checked; inside the headers, so a 429 or 503 carries them too.
        .layer(axum::middleware::from_fn(move |request, next| limits::guard(limits.clone(), request, next)))
        .layer(axum::middleware::from_fn(access::headers::security_headers))
        // Outside the doors: a preflight carries no token.
        .layer(tower::util::option_layer(access::headers::cors(&access)))
        // Outermost, so it times everything; added with `layer` (per route)
        // so it sees the matched route for span names and metric labels.
        .layer(axum::middleware::from_fn(middleware::trace_requests))
}

/// The routes a consumer role serves: health, readiness and, unless an
/// operations listener serves them (`with_metrics` false), metrics. The
/// operations listener itself serves this router with metrics.
pub fn ops_router(state: OpsState, with_metrics: bool) -> Router {
    let (routes, _) = ops::routes(with_metrics).into_parts();
    let (routes, _) = routes.split_for_parts();
    routes
        .with_state(state)
        .fallback(error::fallback_not_found)
        .layer(axum::middleware::from_fn(access::headers::security_headers))
        .layer(axum::middleware::from_fn(middleware::trace_requests))
}

/// The OpenAPI document as served at [`openapi::OPENAPI_PATH`].
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (routes, _) = api_routes(true).into_parts();
    let (_, document) = routes.split_for_parts();
    openapi::describe(document)
}

/// Every route's door, for the operators' documentation and tests.
pub fn doors() -> access::doors::DoorTable {
    api_routes(true).into_parts().1.with_public(UNDOCUMENTED_ROUTES)
}
