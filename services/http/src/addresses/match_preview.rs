//! `GET /api/v1/match`: what the matcher would decide for an address, for
//! the address team. A dry run on this process's copy of the base-address
//! index: nothing is appended.

use crate::error::ApiError;
use crate::query::{self, Query};
use crate::SharedState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use masthead_domain::{CanonicalAddress, MatchExplanation};
use masthead_matching::matcher::convert::{canonical_address, explanation, review_request};
use masthead_matching::{normalize, AddressInput, Candidate, Decision};
use masthead_projections::{Canonical, Lines};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;
use uuid::Uuid;

/// The address to preview, as a subscriber would type it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// Street and house number as typed
    #[param(required = true)]
    street: Option<String>,
    /// Postal code as typed
    postal_code: Option<String>,
    /// City as typed
    city: Option<String>,
    /// ISO code or country name in any common spelling
    country: Option<String>,
    /// Candidates to return, 1–20 (default 5)
    limit: Option<String>,
}
pub const DEFAULT_CANDIDATES: usize = 5;
pub const MAX_CANDIDATES: usize = 20;
/// The intake's own field limit: anything longer could never be submitted.
const MAX_FIELD_LEN: usize = 120;

/// One scored base address.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewCandidate {
    pub id: Uuid,
    /// 0–100 (100 × `probability`); 0 when vetoed.
    pub score: f64,
    /// Calibrated probability (0–1) that the entered address is this one.
    pub probability: f64,
    /// The hard requirement that failed (`house_number`, `street_name`,
    /// `street_type`, `country`, `postal_code`, `locality`), if any.
    pub veto: Option<String>,
    /// Per-field agreement: `street_similarity` 0–100 and `exact`,
    /// `equivalent`, `similar`, `missing` or `different` per field — the
    /// same explanation a match records in `AddressMatched`.
    #[schema(value_type = Object)]
    pub explanation: MatchExplanation,
    /// The publisher's reference, when the address has one.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    /// The lines a subscription matched here would be delivered to; `null`
    /// if this process has not yet loaded them.
    pub lines: Option<Lines>,
    /// Whether this is the candidate the matcher would pick.
    pub chosen: bool,
}

/// The decision the matcher would make.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewDecision {
    /// `match`: the address is `base_address_id`. `new`: it would become a
    /// new base address.
    pub kind: &'static str,
    /// The matched base address (for `match`).
    pub base_address_id: Option<Uuid>,
    /// For `match` the match score; for `new` the best rejected
    /// candidate's score, if any candidate was considered.
    pub score: Option<f64>,
    /// Why the matcher would also put this decision before the address
    /// team (`uncertain_match`, `ambiguous`, `possible_match`,
    /// `missing_house_number`); absent when it is certain.
    #[schema(value_type = Option<String>)]
    pub review: Option<masthead_domain::ReviewReason>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewBody {
    /// The address as the matcher reads it (normalised).
    pub probe: Canonical,
    pub decision: PreviewDecision,
    /// Best first; vetoed candidates (score 0) after the others.
    pub candidates: Vec<PreviewCandidate>,
    /// Base addresses in this process's index, and the stream sequence of
    /// the last one it has seen: a fresh replica may lag the matcher.
    pub index_size: usize,
    pub index_position: u64,
}

fn veto_name(c: &Candidate) -> Option<String> {
    // The matching crate serialises vetoes in snake_case; reuse that rather
    // than keep a second list of names here.
    c.veto.and_then(|v| serde_json::to_value(v).ok()).and_then(|v| v.as_str().map(str::to_owned))
}

fn book_unavailable() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "match_index_unavailable",
        "this process has no base-address index; ask an API instance that runs with match previews",
    );
    e.retry_after = Some(5);
    e
}

/// Preview the matcher's decision for an address. Appends nothing.
#[utoipa::path(
    get,
    path = "/api/v1/match",
    tag = "read",
    params(PreviewParams),
    responses(
        (status = 200, description = "Candidates and the decision", body = PreviewBody),
        (status = 400, description = "A bad or missing parameter, named in `errors[0].field`", body = crate::error::ErrorBody),
        (status = 503, description = "No base-address index in this process", body = crate::error::ErrorBody),
    )
)]
pub async fn preview(
    State(state): State<SharedState>,
    Query(params): Query<PreviewParams>,
) -> Result<Json<PreviewBody>, ApiError> {
    let street = query::bounded("street", &params.street, MAX_FIELD_LEN)?
        .ok_or_else(|| ApiError::bad_parameter("street", "is required"))?;
    let postal_code = query::bounded("postal_code", &params.postal_code, MAX_FIELD_LEN)?;
    let city = query::bounded("city", &params.city, MAX_FIELD_LEN)?;
    let country = query::country("country", &params.country)?;
    let limit = query::limit(&params.limit, DEFAULT_CANDIDATES, MAX_CANDIDATES)?;
    let book = state.book.as_ref().ok_or_else(book_unavailable)?;
    let probe = normalize(&AddressInput {
        street,
        postal_code: postal_code.unwrap_or(""),
        city: city.unwrap_or(""),
        country: country.as_deref().unwrap_or(""),
    });
    // One read lock for both, so they see the same index.
    let (candidates, verdict) = book
        .with_index(|i| (i.candidates(&probe, limit), i.verdict(&probe)))
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the address index is unusable"))?;
    let review = verdict.review.map(|r| review_request(r, &[]).reason);
    let decision = match &verdict.decision {
        Decision::Match(c) => {
            PreviewDecision { kind: "match", base_address_id: Some(c.id), score: Some(c.score), review }
        }
        Decision::New { best_rejected } => PreviewDecision {
            kind: "new",
            base_address_id: None,
            score: best_rejected.as_ref().map(|c| c.score),
            review,
        },
    };
    let candidates = candidates
        .iter()
        .map(|c| {
            let info = book.info(&c.id);
            PreviewCandidate {
                id: c.id,
                score: c.score,
                probability: c.probability,
                veto: veto_name(c),
                explanation: explanation(&c.explanation, c.probability),
                reference: info.as_ref().and_then(|i| i.reference.clone()),
                lines: info.as_ref().map(|i| Lines::from(&i.lines)),
                chosen: decision.base_address_id == Some(c.id),
            }
        })
        .collect();
    let probe: CanonicalAddress = canonical_address(&probe);
    Ok(Json(PreviewBody {
        probe: Canonical::from(&probe),
        decision,
        candidates,
        index_size: book.len(),
        index_position: book.position(),
    }))
}
