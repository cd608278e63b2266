//! `GET /api/v1/subscriptions`: the subscription list, newest first.
//!
//! Lists carry no personal data: the projection's summaries have no name,
//! email or sealed blob, and the list never opens one. Only the
//! single-subscription view does.

use crate::error::ApiError;
use crate::query::{self, projection_store, store_error, Query};
use crate::SharedState;
use axum::extract::State;
use axum::Json;
use masthead_projections::{Page, SubscriptionFilter, SubscriptionStatus, SubscriptionSummary};
use serde::Deserialize;
use utoipa::IntoParams;

/// The query parameters of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// pending, matched, confirmed or failed
    status: Option<String>,
    /// Inclusive lower bound on creation time: RFC 3339, or a date meaning midnight UTC
    created_after: Option<String>,
    /// Exclusive upper bound on creation time: RFC 3339, or a date
    created_before: Option<String>,
    /// Country of the entered address: ISO code or name in any common spelling
    country: Option<String>,
    /// Page size, 1–100 (default 20); larger values are refused, not clamped
    limit: Option<String>,
    /// `next_cursor` of the previous page
    cursor: Option<String>,
}

/// The filters of a list request, checked before the store is asked.
pub fn subscription_filter(params: &ListParams) -> Result<SubscriptionFilter, ApiError> {
    let status = params
        .status
        .as_deref()
        .map(|s| {
            SubscriptionStatus::parse(s)
                .ok_or_else(|| ApiError::bad_parameter("status", "must be one of pending, matched, confirmed, failed"))
        })
        .transpose()?;
    let created_after = query::datetime("created_after", &params.created_after)?;
    let created_before = query::datetime("created_before", &params.created_before)?;
    if let (Some(after), Some(before)) = (created_after, created_before) {
        // An empty range is almost certainly swapped bounds; say so rather
        // than answer with an empty list.
        if before <= after {
            return Err(ApiError::bad_parameter("created_before", "must be later than created_after"));
        }
    }
    Ok(SubscriptionFilter {
        status,
        created_after,
        created_before,
        country: query::country("country", &params.country)?,
    })
}

/// List subscriptions, newest first.
///
/// Walk the list by passing `next_cursor` back as `cursor` until it is
/// `null`; every subscription is returned exactly once even while new ones
/// arrive (those newer than the first page are not included). A page may be
/// shorter than `limit` while `next_cursor` is still set: the store bounds
/// how much one request may scan for rare filter combinations.
#[utoipa::path(
    get,
    path = "/api/v1/subscriptions",
    tag = "read",
    params(ListParams),
    responses(
        (status = 200, description = "One page, newest first", body = Page<SubscriptionSummary>),
        (status = 400, description = "A bad parameter, named in `errors[0].field`", body = crate::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn list_subscriptions(
    State(state): State<SharedState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Page<SubscriptionSummary>>, ApiError> {
    let filter = subscription_filter(&params)?;
    let page = query::page(&params.limit, &params.cursor)?;
    let store = projection_store(&state)?;
    store.subscriptions(&filter, page).await.map(Json).map_err(store_error)
}
