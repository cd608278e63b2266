//! `/api/v1/reviews`: the address team's review queue (`curator` or
//! `admin`). Items come from the matcher's grey zone and from
//! `masthead addresses dedupe`; a decision merges the pair or records it
//! as distinct, which keeps it out of the queue for good.

use crate::access::doors::DoorRouter;
use crate::addresses::curate::{actor, curation, refused};
use crate::error::{ApiError, IdPath};
use crate::json_body::JsonObject;
use crate::subscriptions::create::read_limited;
use crate::subscriptions::view::parse_id;
use crate::SharedState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use masthead_auth::{Principal, Role};
use masthead_domain::review::{RequestedDecision, ReviewDecision};
use masthead_projections::query::ReviewFilter;
use masthead_projections::{Page, ReviewState, ReviewView};
use serde::Serialize;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn routes() -> DoorRouter<SharedState> {
    DoorRouter::new()
        .role(Role::Curator, routes!(list_reviews))
        .role(Role::Curator, routes!(get_review))
        .role(Role::Curator, routes!(decide_review))
}

/// The query parameters of the review queue.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewParams {
    /// `open` or `decided`; all items when absent
    status: Option<String>,
    /// Page size, 1–100 (default 20); larger values are refused
    limit: Option<String>,
    /// `next_cursor` of the previous page
    cursor: Option<String>,
}

/// The review queue, oldest first.
///
/// Each item: `{id, kind, address_id, subscription_id?, candidates: [{id,
/// score, probability, explanation}], created_at}`, plus its status and,
/// once decided, the decision. Pass `next_cursor` back as `cursor`.
#[utoipa::path(
    get,
    path = "/api/v1/reviews",
    tag = "curation",
    params(ReviewParams),
    responses(
        (status = 200, description = "One page of review items, oldest first", body = Page<ReviewView>),
        (status = 400, description = "A bad parameter, named in `errors[0].field`", body = crate::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn list_reviews(
    State(state): State<SharedState>,
    crate::query::Query(params): crate::query::Query<ReviewParams>,
) -> Result<Json<Page<ReviewView>>, ApiError> {
    let status = match params.status.as_deref() {
        None | Some("") => None,
        Some(s) => {
            Some(ReviewState::parse(s).ok_or_else(|| ApiError::bad_parameter("status", "must be open or decided"))?)
        }
    };
    let page = crate::query::page(&params.limit, &params.cursor)?;
    let store = crate::query::projection_store(&state)?;
    let result = store.reviews(&ReviewFilter { status }, page).await.map_err(crate::query::store_error)?;
    Ok(Json(result))
}

/// One review item.
#[utoipa::path(
    get,
    path = "/api/v1/reviews/{id}",
    tag = "curation",
    params(("id" = String, Path, description = "Review item id (UUID)")),
    responses(
        (status = 200, description = "The item", body = ReviewView),
        (status = 400, description = "Not a UUID", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown item", body = crate::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn get_review(
    State(state): State<SharedState>,
    IdPath(raw): IdPath,
    crate::query::Query(_none): crate::query::Query<crate::query::NoParams>,
) -> Result<Json<ReviewView>, ApiError> {
    let id = parse_id(&raw)?;
    let store = crate::query::projection_store(&state)?;
    store
        .review(id)
        .await
        .map_err(crate::query::store_error)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("review item"))
}

const REASON_MAX: usize = 500;

/// A decision body, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct DecisionBody {
    /// `merge` or `distinct`.
    decision: String,
    /// For `merge`: the survivor, one of the item's addresses.
    into: Option<String>,
    /// Why, for the history (at most 500 characters).
    reason: Option<String>,
}

/// The decision that stands for an item.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionAnswer {
    pub id: Uuid,
    /// `merge` or `distinct`.
    pub decision: &'static str,
    /// For `merge`: the address merged away.
    pub merged: Option<Uuid>,
    /// For `merge`: the survivor.
    pub into: Option<Uuid>,
    /// For `distinct`: the pairs never to be queued again.
    pub pairs: Vec<[Uuid; 2]>,
}

impl DecisionAnswer {
    fn new(id: Uuid, d: ReviewDecision) -> Self {
        match d {
            ReviewDecision::Merge { merged, into } => {
                Self { id, decision: "merge", merged: Some(merged), into: Some(into), pairs: Vec::new() }
            }
            ReviewDecision::Distinct { pairs } => Self { id, decision: "distinct", merged: None, into: None, pairs },
        }
    }
}

/// Decide a review item: `{"decision": "merge", "into": "<id>"}` merges the
/// item's other address into `into`; `{"decision": "distinct"}` records
/// the pair as different addresses, never to be queued again. Either way
/// the item leaves the open list. Deciding the same way again answers 200.
#[utoipa::path(
    post,
    path = "/api/v1/reviews/{id}/decision",
    tag = "curation",
    params(("id" = String, Path, description = "Review item id (UUID)")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided (or already so)", body = DecisionAnswer),
        (status = 400, description = "Not a UUID, or not a JSON object", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown item", body = crate::error::ErrorBody),
        (status = 409, description = "Decided otherwise before, the merge's survivor is no longer active, or `distinct` on addresses merged into one since"),
        (status = 422, description = "A bad `decision`, or `into` is none of the item's addresses", body = crate::error::ErrorBody),
        (status = 503, description = "The event store is unavailable; retry", body = crate::error::ErrorBody),
    )
)]
pub async fn decide_review(
    State(state): State<SharedState>,
    Extension(principal): Extension<Principal>,
    IdPath(raw): IdPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw)?;
    let mut o = JsonObject::parse(&read_limited(&headers, body).await?)?;
    let decision = o.required_text("decision", 20);
    let into = o.uuid("into");
    let reason = o.text("reason", REASON_MAX);
    let requested = match (decision.as_deref(), into) {
        (Some("merge"), Some(into)) => Some(RequestedDecision::Merge { into }),
        (Some("merge"), None) => {
            if !o.has("into") {
                o.required_text("into", 40);
            }
            None
        }
        (Some("distinct"), None) if !o.has("into") => Some(RequestedDecision::Distinct),
        (Some("distinct"), _) => {
            let mut e = ApiError::validation(Vec::new());
            e.errors.push(crate::error::FieldErrorBody {
                field: "into".into(),
                message: "only a `merge` decision has a survivor".into(),
            });
            return Err(e);
        }
        (Some(_), _) => {
            let mut e = ApiError::validation(Vec::new());
            e.errors.push(crate::error::FieldErrorBody {
                field: "decision".into(),
                message: "must be `merge` or `distinct`".into(),
            });
            return Err(e);
        }
        (None, _) => None,
    };
    o.finish()?;
    let Some(requested) = requested else { return Err(ApiError::internal()) };
    let curation = curation(&state)?;
    match curation.decide(id, requested, &actor(&principal, reason)).await {
        Ok(decision) => Ok((StatusCode::OK, Json(DecisionAnswer::new(id, decision))).into_response()),
        Err(e) => Ok(refused(e)),
    }
}
