//! `GET /api/v1/subscriptions/{id}`: one subscription, with the personal
//! data opened for the holder of its unguessable id.

use crate::error::ApiError;
use crate::error::IdPath;
use crate::{AppState, SharedState};
use axum::extract::State;
use axum::Json;
use masthead_domain::base_address::{AddressStatus, BaseAddress, BaseAddressEvent};
use masthead_domain::personal_data::SealedPersonalData;
use masthead_domain::subscription::SubscriptionEvent;
use masthead_jetstream::key_vault::VaultError;
use masthead_jetstream::store::ReadError;
use masthead_projections::{AddressState, SubscriptionView};
use serde_json::{json, Value};
use uuid::Uuid;

pub fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::bad_parameter("id", "must be a UUID"))
}

/// Opens the sealed name and email; erased personal data (no sealed record
/// left in the view, or its key destroyed) shows as erased.
pub async fn personal_fields(state: &AppState, sealed: Option<&SealedPersonalData>) -> Value {
    let Some(sealed) = sealed else { return json!({"name": null, "email": null, "personal_data": "erased"}) };
    match state.vault.open_sealed(sealed).await {
        Ok(p) => json!({"name": p.name, "email": p.email, "personal_data": "available"}),
        Err(VaultError::Erased(_)) => json!({"name": null, "email": null, "personal_data": "erased"}),
        Err(e) => {
            tracing::warn!(error = %e, "cannot open personal data");
            json!({"name": null, "email": null, "personal_data": "unavailable"})
        }
    }
}

/// A history the event store could not give: retry later (503), or a
/// fault to look into (500).
fn read_failed(e: ReadError) -> ApiError {
    match e {
        ReadError::Unavailable(_) => ApiError::unavailable(),
        other => {
            tracing::error!(error = %other, "cannot load a history");
            ApiError::internal()
        }
    }
}

/// Builds the view straight from the event store: the source of truth,
/// current to the last event of this subscription.
pub async fn view_from_events(state: &AppState, id: Uuid) -> Result<Option<Value>, ApiError> {
    let history = state.store.load::<SubscriptionEvent>(&id.to_string()).await.map_err(read_failed)?;
    let Some(mut view) = masthead_projections::subscription_view_from_history(&history.events) else {
        return Ok(None);
    };
    if let Some(address) = view.summary.base_address_id {
        if let Some((reference, status)) = current_address(state, address).await? {
            view.summary.base_address_ref = reference;
            view.summary.base_address_status = Some(status);
        }
    }
    body_of(state, &view, "event_store", history.last_sequence).await.map(Some)
}

/// The `ref` and status the base address has now, from its own history:
/// the subscription's events carry the `ref` of its match, and a
/// correction of the `ref` alone moves no subscription. `None` while the
/// address's registration is not stored (the match's `ref` stands until
/// then).
async fn current_address(state: &AppState, address: Uuid) -> Result<Option<(Option<String>, AddressState)>, ApiError> {
    let history = state.store.load::<BaseAddressEvent>(&address.to_string()).await.map_err(read_failed)?;
    let mut aggregate = BaseAddress::default();
    for r in history.events {
        aggregate.apply_event(r.event);
    }
    let status = match aggregate.status {
        AddressStatus::Merged { .. } => AddressState::Merged,
        AddressStatus::Retired => AddressState::Retired,
        AddressStatus::Active | AddressStatus::Unregistered => AddressState::Active,
    };
    Ok(aggregate.current.map(|c| (c.reference, status)))
}

/// The response body: the view with its sealed blob replaced by the opened
/// name and email, and where it came from and how current it is.
async fn body_of(state: &AppState, view: &SubscriptionView, source: &str, as_of: u64) -> Result<Value, ApiError> {
    let personal = personal_fields(state, view.subscriber.as_ref()).await;
    let mut body = serde_json::to_value(view).map_err(|_| ApiError::internal())?;
    if let Value::Object(ref mut m) = body {
        m.remove("subscriber");
        if let Value::Object(p) = personal {
            m.extend(p);
        }
        m.insert("freshness".into(), json!({"source": source, "as_of_sequence": as_of, "behind_by_events": 0}));
    }
    Ok(body)
}

/// One subscription: the projection's view, or — while the projection has not
/// caught up with this subscription's events — a view built from the events
/// themselves, so a client can read its own write right after the 202.
#[utoipa::path(
    get,
    path = "/api/v1/subscriptions/{id}",
    tag = "subscriptions",
    params(("id" = String, Path, description = "Subscription id (UUID)")),
    responses(
        (status = 200, description = "The subscription, with `freshness` saying how current it is"),
        (status = 400, description = "Not a UUID", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown id", body = crate::error::ErrorBody),
        (status = 503, description = "Event store unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn get_subscription(State(state): State<SharedState>, IdPath(raw): IdPath) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    if let Some(reads) = &state.reads {
        let projected = reads.get().subscription(id).await;
        // The last event of this subscription in the stream says whether the
        // projection is current for it.
        let last = state.store.last_sequence_of("subscription", &id.to_string()).await;
        if let (Ok(Some(view)), Ok(last)) = (&projected, &last) {
            if view.summary.last_seq >= *last {
                return body_of(&state, view, "projection", view.summary.last_seq).await.map(Json);
            }
        }
    }
    view_from_events(&state, id).await?.map(Json).ok_or_else(|| ApiError::not_found("subscription"))
}
