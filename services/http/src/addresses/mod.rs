//! `/api/v1/addresses`: the base addresses, with search-as-you-type on
//! street names, and (`/api/v1/match`) previews of what the matcher would
//! decide for an address.

pub mod curate;
pub mod match_preview;

use crate::access::doors::DoorRouter;
use crate::error::ApiError;
use crate::error::IdPath;
use crate::query::{self, projection_store, store_error, Query};
use crate::subscriptions::view::parse_id;
use crate::SharedState;
use axum::extract::State;
use axum::Json;
use masthead_auth::Role;
use masthead_projections::query::street_tokens;
use masthead_projections::{AddressFilter, AddressHistoryEntry, AddressState, AddressView, Page};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::routes;

pub fn routes() -> DoorRouter<SharedState> {
    DoorRouter::new()
        .role(Role::Viewer, routes!(list_addresses))
        .role(Role::Viewer, routes!(get_address))
        // The address team's tool.
        .role(Role::Curator, routes!(match_preview::preview))
        .role(Role::Curator, routes!(curate::register_address))
        .role(Role::Curator, routes!(curate::correct_address))
        .role(Role::Curator, routes!(curate::merge_address))
        .role(Role::Curator, routes!(curate::retire_address))
        .role(Role::Curator, routes!(address_history))
}

/// The query parameters of the address list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Exact postal code, any case and spacing
    pub(crate) postal_code: Option<String>,
    /// Exact city, any case or accents
    pub(crate) city: Option<String>,
    /// ISO code or country name in any common spelling
    pub(crate) country: Option<String>,
    /// `active`, `merged` or `retired`
    pub(crate) status: Option<String>,
    /// The publisher's reference, exact
    #[serde(rename = "ref")]
    #[param(rename = "ref")]
    pub(crate) reference: Option<String>,
    /// Search-as-you-type on street names
    pub(crate) q: Option<String>,
    /// Page size, 1–100 (default 20); larger values are refused
    pub(crate) limit: Option<String>,
    /// `next_cursor` of the previous page
    pub(crate) cursor: Option<String>,
}

/// Longer values cannot match anything the intake accepts (120 characters
/// per field); refusing them keeps index scans bounded.
const MAX_FILTER_LEN: usize = 120;

pub fn address_filter(params: &ListParams) -> Result<AddressFilter, ApiError> {
    let q = query::bounded("q", &params.q, MAX_FILTER_LEN)?;
    if let Some(q) = q {
        // The store needs a word with a letter to drive its word index; a
        // bare house number would scan every address.
        if street_tokens(q).is_empty() {
            return Err(ApiError::bad_parameter("q", "needs at least one word with a letter"));
        }
    }
    Ok(AddressFilter {
        postal_code: query::bounded("postal_code", &params.postal_code, MAX_FILTER_LEN)?.map(str::to_owned),
        city: query::bounded("city", &params.city, MAX_FILTER_LEN)?.map(str::to_owned),
        country: query::country("country", &params.country)?,
        reference: query::bounded("ref", &params.reference, MAX_FILTER_LEN)?.map(str::to_owned),
        q: q.map(str::to_owned),
        status: match params.status.as_deref() {
            None | Some("") => None,
            Some(s) => Some(
                AddressState::parse(s)
                    .ok_or_else(|| ApiError::bad_parameter("status", "must be active, merged or retired"))?,
            ),
        },
    })
}

/// Orders one page of a `q` search best match first.
///
/// The store returns `q` matches in index order (by the matching street
/// word, then id), which keeps the cursor walk exact: `kerkstraat` before
/// `kerkstraatweg`, but `Oude Kerkstraat 9` and `Kerkstraat 2` in id order.
/// Within a page we sort by the skim score (`rank_streets`) summed over the
/// query words; the set of items and `next_cursor` stay the store's, so
/// walking the pages still returns every address exactly once.
///
/// Measured on typical Dutch street lists: for a word that every candidate
/// has as a prefix, skim scores tie except that a match at the start of the
/// street scores above a match on a later word (`Kerkstraat 2` 211 vs
/// `Oude Kerkstraat 9` 203 for `kerkstraat`). So ranking brings streets
/// that *begin* with what was typed to the top and otherwise keeps the
/// store's order (the sort is stable). Re-ranking beyond one page would need
/// the store to order by score, which its index cannot do cheaply.
pub fn rank_page(q: &str, items: &mut Vec<AddressView>) {
    let words = street_tokens(q);
    let streets: Vec<&str> = items.iter().map(|a| a.lines.street.as_str()).collect();
    let mut score = vec![0i64; items.len()];
    for w in &words {
        for (i, s) in masthead_matching::rank_streets(w, &streets) {
            score[i] += s;
        }
    }
    let mut ranked: Vec<(i64, AddressView)> = score.into_iter().zip(items.drain(..)).collect();
    // Stable: equal scores keep the store's order.
    ranked.sort_by_key(|r| std::cmp::Reverse(r.0));
    items.extend(ranked.into_iter().map(|(_, a)| a));
}

/// List or search base addresses.
///
/// Without filters, by id. With exact filters (`postal_code`, `city`,
/// `country`, `ref`; postal codes and cities compare without case, spaces
/// or accents) all must hold. `q` searches street names as you type: every
/// word of `q` must start a word of the street (`kerk` finds `Kerkstraat`,
/// house numbers in `q` are ignored); within a page the best fuzzy match
/// comes first. Pass `next_cursor` back as `cursor` for the next page.
#[utoipa::path(
    get,
    path = "/api/v1/addresses",
    tag = "read",
    params(ListParams),
    responses(
        (status = 200, description = "One page of base addresses", body = Page<AddressView>),
        (status = 400, description = "A bad parameter, named in `errors[0].field`", body = crate::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn list_addresses(
    State(state): State<SharedState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Page<AddressView>>, ApiError> {
    let filter = address_filter(&params)?;
    let page = query::page(&params.limit, &params.cursor)?;
    let store = projection_store(&state)?;
    let mut result = store.addresses(&filter, page).await.map_err(store_error)?;
    if let Some(q) = &filter.q {
        rank_page(q, &mut result.items);
    }
    Ok(Json(result))
}

/// One base address.
#[utoipa::path(
    get,
    path = "/api/v1/addresses/{id}",
    tag = "read",
    params(("id" = String, Path, description = "Base address id (UUID)")),
    responses(
        (status = 200, description = "The base address", body = AddressView),
        (status = 400, description = "Not a UUID", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown id", body = crate::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn get_address(
    State(state): State<SharedState>,
    IdPath(raw): IdPath,
    Query(_none): Query<crate::query::NoParams>,
) -> Result<Json<AddressView>, ApiError> {
    let id = parse_id(&raw)?;
    let store = projection_store(&state)?;
    let mut view = store.address(id).await.map_err(store_error)?.ok_or_else(|| ApiError::not_found("base address"))?;
    // After a chain of merges (A into B, later B into C) A's survivor is
    // C, where its subscriptions are delivered; A's history keeps each step.
    for _ in 0..masthead_domain::base_address::MAX_CHAIN {
        let Some(into) = view.merged_into else { break };
        match store.address(into).await.map_err(store_error)? {
            Some(next) if next.merged_into.is_some() => view.merged_into = next.merged_into,
            _ => break,
        }
    }
    Ok(Json(view))
}

/// A base address's history, oldest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AddressHistory {
    pub id: uuid::Uuid,
    pub items: Vec<AddressHistoryEntry>,
}

/// Every event of a base address, with time, actor, reason and what
/// changed; on a survivor also the merges into it.
#[utoipa::path(
    get,
    path = "/api/v1/addresses/{id}/history",
    tag = "curation",
    params(("id" = String, Path, description = "Base address id (UUID)")),
    responses(
        (status = 200, description = "The history, oldest first", body = AddressHistory),
        (status = 400, description = "Not a UUID", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown id", body = crate::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn address_history(
    State(state): State<SharedState>,
    IdPath(raw): IdPath,
    Query(_none): Query<crate::query::NoParams>,
) -> Result<Json<AddressHistory>, ApiError> {
    let id = parse_id(&raw)?;
    let store = projection_store(&state)?;
    let items =
        store.address_history(id).await.map_err(store_error)?.ok_or_else(|| ApiError::not_found("base address"))?;
    Ok(Json(AddressHistory { id, items }))
}
