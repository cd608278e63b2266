//! `/curate`: the address team's pages (`curator` or `admin`).
//!
//! - `/curate`: search base addresses, as you type (the script asks the
//!   address list) with filters on postal code, town, country and status;
//! - `/curate/addresses/{id}`: an address's lines, status, aliases,
//!   subscription count and full history;
//! - `/curate/reviews`: the oldest open review item side by side with its
//!   candidate, each field marked as agreeing or not, with Merge and
//!   Distinct buttons (keys `1`, `2`, `d`); after a decision the next item
//!   opens. `/curate/reviews/{id}` shows one item.
//!
//! Server-rendered from the `curate_*.html` templates; the script
//! (`assets/curate.js`) posts decisions to the JSON API with the session's
//! CSRF token, so the pages change nothing the API would not.

use super::StaffSession;
use crate::addresses::{address_filter, rank_page, ListParams};
use crate::error::{ApiError, IdPath};
use crate::query::{projection_store, store_error, Query};
use crate::subscriptions::view::parse_id;
use crate::SharedState;
use askama::Template;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;
use masthead_auth::Principal;
use masthead_projections::{
    AddressState, AddressView, PageRequest, ProjectionStore, ReviewFilter, ReviewState, ReviewView,
};
use uuid::Uuid;

struct Row {
    id: Uuid,
    reference: String,
    street: String,
    postal_code: String,
    city: String,
    country: String,
    status: &'static str,
    subscriptions: u64,
}

impl From<&AddressView> for Row {
    fn from(a: &AddressView) -> Self {
        Self {
            id: a.id,
            reference: a.reference.clone().unwrap_or_default(),
            street: a.lines.street.clone(),
            postal_code: a.lines.postal_code.clone().unwrap_or_default(),
            city: a.lines.city.clone().unwrap_or_default(),
            country: a.lines.country.clone().unwrap_or_default(),
            status: a.status.as_str(),
            subscriptions: a.subscription_count,
        }
    }
}

#[derive(Template)]
#[template(path = "curate_search.html")]
struct SearchPage {
    who: Option<String>,
    csrf: Option<String>,
    q: String,
    reference: String,
    postal_code: String,
    city: String,
    country: String,
    status: String,
    problem: Option<String>,
    rows: Vec<Row>,
}

/// The address team's search page (HTML).
#[utoipa::path(
    get,
    path = "/curate",
    tag = "pages",
    params(ListParams),
    responses((status = 200, description = "HTML: base-address search", content_type = "text/html"))
)]
pub async fn search_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Extension(principal): Extension<Principal>,
    Query(params): Query<ListParams>,
) -> Response {
    let s = StaffSession::new(&state, &headers, principal);
    let (rows, problem) = match search(&state, &params).await {
        Ok(rows) => (rows, None),
        Err(e) => (Vec::new(), Some(e.message)),
    };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let view = SearchPage {
        who: s.who.clone(),
        csrf: s.csrf.clone(),
        q: text(&params.q),
        reference: text(&params.reference),
        postal_code: text(&params.postal_code),
        city: text(&params.city),
        country: text(&params.country),
        status: text(&params.status),
        problem,
        rows,
    };
    s.page(&view)
}

async fn search(state: &SharedState, params: &ListParams) -> Result<Vec<Row>, ApiError> {
    let filter = address_filter(params)?;
    let store = projection_store(state)?;
    let mut result = store.addresses(&filter, PageRequest::first(50)).await.map_err(store_error)?;
    if let Some(q) = &filter.q {
        rank_page(q, &mut result.items);
    }
    Ok(result.items.iter().map(Row::from).collect())
}

struct AliasRow {
    id: Uuid,
    kind: &'static str,
    label: String,
    since: String,
}

struct HistoryRow {
    sequence: u64,
    at: String,
    event_type: String,
    actor: String,
    reason: String,
    changes: String,
}

#[derive(Template)]
#[template(path = "curate_address.html")]
struct AddressPage {
    who: Option<String>,
    csrf: Option<String>,
    id: Uuid,
    street: String,
    postal_code: String,
    city: String,
    country: String,
    reference: String,
    status: &'static str,
    merged_into: Option<Uuid>,
    subscriptions: u64,
    aliases: Vec<AliasRow>,
    history: Vec<HistoryRow>,
}

fn minute(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A base address with its aliases and history (HTML).
#[utoipa::path(
    get,
    path = "/curate/addresses/{id}",
    tag = "pages",
    params(("id" = String, Path, description = "Base address id (UUID)")),
    responses(
        (status = 200, description = "HTML: one base address", content_type = "text/html"),
        (status = 404, description = "Unknown id", body = crate::error::ErrorBody),
    )
)]
pub async fn address_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Extension(principal): Extension<Principal>,
    IdPath(raw): IdPath,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw)?;
    let store = projection_store(&state)?;
    let a = store.address(id).await.map_err(store_error)?.ok_or_else(|| ApiError::not_found("base address"))?;
    let history = store.address_history(id).await.map_err(store_error)?.unwrap_or_default();
    let s = StaffSession::new(&state, &headers, principal);
    let aliases = a
        .aliases
        .iter()
        .map(|x| AliasRow {
            id: x.id,
            kind: match x.kind {
                masthead_projections::AliasKind::Merged => "merged",
                masthead_projections::AliasKind::Rekeyed => "rekeyed",
                masthead_projections::AliasKind::Corrected => "corrected",
            },
            label: x.street.clone().or_else(|| x.key.clone()).unwrap_or_else(|| x.id.to_string()),
            since: minute(x.since),
        })
        .collect();
    let history = history
        .into_iter()
        .map(|h| HistoryRow {
            sequence: h.stream_sequence,
            at: minute(h.occurred_at),
            changes: describe_changes(&h),
            event_type: h.event_type,
            actor: h.actor.unwrap_or_default(),
            reason: h.reason.unwrap_or_default(),
        })
        .collect();
    let view = AddressPage {
        who: s.who.clone(),
        csrf: s.csrf.clone(),
        id,
        street: a.lines.street.clone(),
        postal_code: a.lines.postal_code.clone().unwrap_or_default(),
        city: a.lines.city.clone().unwrap_or_default(),
        country: a.lines.country.clone().unwrap_or_default(),
        reference: a.reference.clone().unwrap_or_default(),
        status: a.status.as_str(),
        merged_into: a.merged_into,
        subscriptions: a.subscription_count,
        aliases,
        history,
    };
    Ok(s.page(&view))
}

fn describe_changes(h: &masthead_projections::AddressHistoryEntry) -> String {
    let mut parts: Vec<String> = h
        .changes
        .iter()
        .map(|(field, c)| format!("{field}: {} → {}", c.from.as_deref().unwrap_or("–"), c.to.as_deref().unwrap_or("–")))
        .collect();
    if let Some(into) = h.merged_into {
        parts.push(format!("merged into {into}"));
    }
    if let Some(from) = h.merged_from {
        parts.push(format!("took in {from}"));
    }
    parts.join("; ")
}

struct FieldRow {
    name: &'static str,
    left: String,
    right: String,
    agree: bool,
    evidence: String,
}

struct Item {
    id: Uuid,
    kind: String,
    reason: String,
    created_at: String,
    probability: String,
    subscription_id: Option<Uuid>,
    left_id: Uuid,
    right_id: Uuid,
    fields: Vec<FieldRow>,
    /// Every candidate of the item, best first; one is compared.
    candidates: Vec<CandidateRow>,
    /// How the item was decided, if it was: no buttons then.
    decision: Option<String>,
    /// Which decisions can still succeed: a merge needs an active survivor
    /// (or a side merged into the other already, which the merge then
    /// records), and Distinct two addresses that are not one already.
    into_right: bool,
    into_left: bool,
    distinct: bool,
    /// Why some decision is not offered.
    note: Option<String>,
}

struct CandidateRow {
    index: usize,
    id: Uuid,
    probability: String,
    shown: bool,
}

#[derive(Template)]
#[template(path = "curate_review.html")]
struct ReviewPage {
    who: Option<String>,
    csrf: Option<String>,
    open: String,
    item: Option<Item>,
}

/// Compares two lines the way a person would: case, spacing and
/// punctuation aside.
fn same(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect::<String>();
    norm(a) == norm(b)
}

/// The item with its `pick`-th candidate (the first if there is no such
/// one) beside its address; `None` until both are projected.
async fn item(store: &dyn ProjectionStore, r: &ReviewView, pick: usize) -> Result<Option<Item>, ApiError> {
    if pick > 0 && pick >= r.candidates.len() {
        let message = format!("the item has {} candidate(s), counted from 0", r.candidates.len());
        return Err(ApiError::bad_parameter("candidate", message));
    }
    let Some(candidate) = r.candidates.get(pick) else { return Ok(None) };
    let left = store.address(r.address_id).await.map_err(store_error)?;
    let right = store.address(candidate.id).await.map_err(store_error)?;
    let (Some(left), Some(right)) = (left, right) else { return Ok(None) };
    let field = |name: &'static str, l: Option<&str>, r: Option<&str>, evidence: &str| {
        let (l, r) = (l.unwrap_or_default().to_owned(), r.unwrap_or_default().to_owned());
        let verdict = candidate.explanation.get(evidence).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        FieldRow { name, agree: same(&l, &r), left: l, right: r, evidence: verdict }
    };
    let (a, b) = (&left.lines, &right.lines);
    let fields = vec![
        field("street", Some(&a.street), Some(&b.street), "street"),
        field("postal code", a.postal_code.as_deref(), b.postal_code.as_deref(), "postal_code"),
        field("town", a.city.as_deref(), b.city.as_deref(), "city"),
        field("country", a.country.as_deref(), b.country.as_deref(), "country"),
        field("reference", left.reference.as_deref(), right.reference.as_deref(), "ref"),
        field("status", Some(left.status.as_str()), Some(right.status.as_str()), "status"),
    ];
    let (left_into_right, right_into_left) = (left.merged_into == Some(right.id), right.merged_into == Some(left.id));
    let active = |a: &AddressView| a.status == AddressState::Active;
    let into_right = active(&right) && (active(&left) || left_into_right);
    // "Into left" merges the item's first candidate (the domain's rule).
    let into_left = pick == 0 && active(&left) && (active(&right) || right_into_left);
    let inactive = [("left", &left), ("right", &right)]
        .into_iter()
        .filter(|(_, a)| !active(a))
        .map(|(side, a)| format!("the {side} address is {}", a.status.as_str()))
        .collect::<Vec<_>>();
    let note = match (left_into_right, right_into_left) {
        (true, _) => Some("The left address was merged into the right one already: Merge records that.".to_owned()),
        (_, true) => Some("The right address was merged into the left one already: Merge records that.".to_owned()),
        _ if !inactive.is_empty() => Some(format!("Only Distinct can be decided: {}.", inactive.join(" and "))),
        _ => None,
    };
    Ok(Some(Item {
        id: r.id,
        kind: r.kind.replace('_', " "),
        reason: r.reason.clone().unwrap_or_default().replace('_', " "),
        created_at: minute(r.created_at),
        probability: format!("{:.3}", candidate.probability),
        subscription_id: r.subscription_id,
        left_id: left.id,
        right_id: right.id,
        fields,
        candidates: r
            .candidates
            .iter()
            .enumerate()
            .map(|(index, c)| CandidateRow {
                index,
                id: c.id,
                probability: format!("{:.3}", c.probability),
                shown: index == pick,
            })
            .collect(),
        decision: r.decision.as_ref().map(|d| match (d.as_str(), r.merged, r.into) {
            ("merge", Some(merged), Some(into)) => format!("merged {merged} into {into}"),
            (other, _, _) => other.to_owned(),
        }),
        into_right,
        into_left,
        distinct: !(left_into_right || right_into_left),
        note,
    }))
}

/// The oldest open review item (other than `done`, just decided, which
/// the projection may not show decided yet), or the one asked for (HTML).
async fn review_page(
    state: &SharedState,
    headers: &HeaderMap,
    principal: Principal,
    id: Option<(Uuid, usize)>,
    done: Option<Uuid>,
) -> Result<Response, ApiError> {
    let store = projection_store(state)?;
    let open = store
        .reviews(&ReviewFilter { status: Some(ReviewState::Open) }, PageRequest::first(100))
        .await
        .map_err(store_error)?;
    let waiting: Vec<&ReviewView> = open.items.iter().filter(|r| Some(r.id) != done).collect();
    let count = match open.next_cursor {
        Some(_) => format!("{}+", waiting.len()),
        None => waiting.len().to_string(),
    };
    let mut shown = None;
    match id {
        Some((id, pick)) => {
            let r = store.review(id).await.map_err(store_error)?.ok_or_else(|| ApiError::not_found("review item"))?;
            shown = item(store.as_ref(), &r, pick).await?;
        }
        // The oldest item whose addresses are both projected.
        None => {
            for r in waiting {
                if let Some(i) = item(store.as_ref(), r, 0).await? {
                    shown = Some(i);
                    break;
                }
            }
        }
    }
    let s = StaffSession::new(state, headers, principal);
    let view = ReviewPage { who: s.who.clone(), csrf: s.csrf.clone(), open: count, item: shown };
    Ok(s.page(&view))
}

/// The review queue page's parameters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    /// The item just decided: not shown again while the read model catches up
    done: Option<String>,
}

/// The review queue: the oldest open item side by side (HTML).
#[utoipa::path(
    get,
    path = "/curate/reviews",
    tag = "pages",
    params(QueueParams),
    responses((status = 200, description = "HTML: the oldest open review item", content_type = "text/html"))
)]
pub async fn review_queue_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Extension(principal): Extension<Principal>,
    Query(params): Query<QueueParams>,
) -> Result<Response, ApiError> {
    let done = match params.done.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(Uuid::parse_str(raw).map_err(|_| ApiError::bad_parameter("done", "must be a UUID"))?),
    };
    review_page(&state, &headers, principal, None, done).await
}

/// The review item page's parameters.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemParams {
    /// Which candidate to compare, counted from 0 (default: the best).
    candidate: Option<String>,
}

/// One review item side by side (HTML).
#[utoipa::path(
    get,
    path = "/curate/reviews/{id}",
    tag = "pages",
    params(("id" = String, Path, description = "Review item id (UUID)"), ItemParams),
    responses(
        (status = 200, description = "HTML: one review item", content_type = "text/html"),
        (status = 404, description = "Unknown item", body = crate::error::ErrorBody),
    )
)]
pub async fn review_item_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Extension(principal): Extension<Principal>,
    IdPath(raw): IdPath,
    Query(params): Query<ItemParams>,
) -> Result<Response, ApiError> {
    let id = parse_id(&raw)?;
    let pick = match params.candidate.as_deref() {
        None | Some("") => 0,
        Some(raw) => raw.parse().map_err(|_| ApiError::bad_parameter("candidate", "must be a number from 0"))?,
    };
    review_page(&state, &headers, principal, Some((id, pick)), None).await
}
