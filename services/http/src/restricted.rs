//! Routes for privileged roles:
//!
//! - auditor: `GET /api/v1/audit/events?aggregate=<type>&id=<id>`, an
//!   aggregate's full history with its proofs;
//! - admin: `GET` (subject access) and `DELETE` (erasure) of
//!   `/api/v1/subscriptions/{id}/personal-data`.
//!
//! Each is registered with its door (deny by default, see
//! [`crate::access::doors`]).

use crate::access::doors::DoorRouter;
use crate::error::ApiError;
use crate::subscriptions::view::parse_id;
use crate::SharedState;
use axum::extract::{Path, Query, State};
use axum::Json;
use masthead_audit::personal_data::{erase, subject_access, PersonalDataError};
use masthead_auth::Role;
use masthead_domain::subscription::ErasureReason;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::routes;

/// The auditor's route (the aggregate's history with proofs) and the
/// admin's (subject access and erasure), each behind its door.
pub fn routes() -> DoorRouter<SharedState> {
    DoorRouter::new()
        .role(Role::Auditor, routes!(audit_events))
        .role(Role::Admin, routes!(personal_data, erase_personal_data))
}

fn failed(e: PersonalDataError) -> ApiError {
    match e {
        PersonalDataError::NotFound(_) => ApiError::not_found("subscription"),
        PersonalDataError::Store(_) | PersonalDataError::Vault(_) => ApiError::unavailable(),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct AuditEventsQuery {
    /// Aggregate type: `subscription` or `base_address`.
    pub aggregate: Option<String>,
    /// Aggregate id.
    pub id: Option<String>,
}

/// An aggregate's full history, each event as stored (sealed personal
/// fields stay sealed) with its leaf and the signed anchor covering it.
#[utoipa::path(
    get,
    path = "/api/v1/audit/events",
    tag = "audit",
    params(AuditEventsQuery),
    responses(
        (status = 200, description = "The events with their proofs"),
        (status = 400, description = "A parameter is missing or invalid", body = crate::error::ErrorBody),
        (status = 403, description = "The auditor role is needed", body = crate::error::ErrorBody),
        (status = 404, description = "No events for this aggregate", body = crate::error::ErrorBody),
    )
)]
pub async fn audit_events(
    State(state): State<SharedState>,
    Query(q): Query<AuditEventsQuery>,
) -> Result<Json<Value>, ApiError> {
    let aggregate = q.aggregate.ok_or_else(|| ApiError::bad_parameter("aggregate", "is required"))?;
    if !aggregate.chars().all(|c| c.is_ascii_lowercase() || c == '_') || aggregate.is_empty() {
        return Err(ApiError::bad_parameter("aggregate", "must be an aggregate type such as subscription"));
    }
    let id = q.id.ok_or_else(|| ApiError::bad_parameter("id", "is required"))?;
    let id = parse_id(&id)?.to_string();
    let js = state.store.jetstream();
    let events = masthead_audit::history::aggregate_history(js, &state.topology, &aggregate, &id)
        .await
        .map_err(|_| ApiError::unavailable())?;
    if events.is_empty() {
        return Err(ApiError::not_found("aggregate"));
    }
    Ok(Json(json!({"aggregate": aggregate, "id": id, "events": events})))
}

/// Subject access: the decrypted name and email (or `"erased"`) and the
/// subscription's history.
#[utoipa::path(
    get,
    path = "/api/v1/subscriptions/{id}/personal-data",
    tag = "subscriptions",
    params(("id" = String, Path, description = "Subscription id (UUID)")),
    responses(
        (status = 200, description = "The personal data and the history"),
        (status = 403, description = "The admin role is needed", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown id", body = crate::error::ErrorBody),
    )
)]
pub async fn personal_data(State(state): State<SharedState>, Path(raw): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    subject_access(&state.store, &state.vault, id).await.map(Json).map_err(failed)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct EraseQuery {
    /// Why (a ticket or request reference; never personal data).
    pub reason: Option<String>,
}

/// Erasure: records `PersonalDataErased` and destroys the data key.
/// Erasing again is a no-op with 200.
#[utoipa::path(
    delete,
    path = "/api/v1/subscriptions/{id}/personal-data",
    tag = "subscriptions",
    params(("id" = String, Path, description = "Subscription id (UUID)"), EraseQuery),
    responses(
        (status = 200, description = "Erased (now or before)"),
        (status = 400, description = "A bad id or reason", body = crate::error::ErrorBody),
        (status = 403, description = "The admin role is needed", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown id", body = crate::error::ErrorBody),
    )
)]
pub async fn erase_personal_data(
    State(state): State<SharedState>,
    Path(raw): Path<String>,
    Query(q): Query<EraseQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    let reason =
        q.reason.as_deref().map(ErasureReason::parse).transpose().map_err(|e| ApiError::bad_parameter("reason", e))?;
    let done = erase(&state.store, &state.vault, id, reason).await.map_err(failed)?;
    Ok(Json(json!({"subscription_id": id, "personal_data": "erased", "already_erased": !done.recorded})))
}
