//! `GET /api/v1/addresses` and `GET /api/v1/addresses/{id}`: the base
//! addresses, with search-as-you-type on street names.

use super::error::ApiError;
use super::query::{projection_store, store_error, Params};
use super::subscriptions::parse_id;
use super::SharedState;
use axum::extract::{Path, State};
use axum::Json;
use masthead_projections::query::street_tokens;
use masthead_projections::{AddressFilter, AddressView, Page};

const PARAMS: &[&str] = &["postal_code", "city", "country", "ref", "q", "limit", "cursor"];

/// Longer values cannot match anything the intake accepts (120 characters
/// per field); refusing them keeps index scans bounded.
const MAX_FILTER_LEN: usize = 120;

pub fn address_filter(params: &Params) -> Result<AddressFilter, ApiError> {
    let q = params.bounded_text("q", MAX_FILTER_LEN)?;
    if let Some(q) = q {
        // The store needs a word with a letter to drive its word index; a
        // bare house number would scan every address.
        if street_tokens(q).is_empty() {
            return Err(ApiError::bad_parameter("q", "needs at least one word with a letter"));
        }
    }
    Ok(AddressFilter {
        postal_code: params.bounded_text("postal_code", MAX_FILTER_LEN)?.map(str::to_owned),
        city: params.bounded_text("city", MAX_FILTER_LEN)?.map(str::to_owned),
        country: params.country("country")?,
        reference: params.bounded_text("ref", MAX_FILTER_LEN)?.map(str::to_owned),
        q: q.map(str::to_owned),
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
    params(
        ("postal_code" = Option<String>, Query, description = "Exact postal code, any case and spacing"),
        ("city" = Option<String>, Query, description = "Exact city, any case or accents"),
        ("country" = Option<String>, Query, description = "ISO code or country name in any common spelling"),
        ("ref" = Option<String>, Query, description = "The publisher's reference, exact"),
        ("q" = Option<String>, Query, description = "Search-as-you-type on street names"),
        ("limit" = Option<usize>, Query, description = "Page size, 1–100 (default 20); larger values are refused"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "One page of base addresses", body = Page<AddressView>),
        (status = 400, description = "A bad parameter, named in `errors[0].field`", body = super::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = super::error::ErrorBody),
    )
)]
pub async fn list_addresses(
    State(state): State<SharedState>,
    params: Params,
) -> Result<Json<Page<AddressView>>, ApiError> {
    params.allow_only(PARAMS)?;
    let filter = address_filter(&params)?;
    let page = params.page()?;
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
        (status = 400, description = "Not a UUID", body = super::error::ErrorBody),
        (status = 404, description = "Unknown id", body = super::error::ErrorBody),
        (status = 503, description = "No read models in this process, or the store is unavailable", body = super::error::ErrorBody),
    )
)]
pub async fn get_address(
    State(state): State<SharedState>,
    Path(raw): Path<String>,
) -> Result<Json<AddressView>, ApiError> {
    let id = parse_id(&raw)?;
    let store = projection_store(&state)?;
    store.address(id).await.map_err(store_error)?.map(Json).ok_or_else(|| ApiError::not_found("base address"))
}
