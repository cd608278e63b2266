//! The address team's commands on base addresses: register, correct,
//! merge and retire (`curator` or `admin`). Each appends one event on the
//! address's own subject, with the caller's token subject as the actor and
//! the optional `reason`; repeating a request changes nothing.

use crate::error::ApiError;
use crate::json_body::JsonObject;
use crate::subscriptions::create::read_limited;
use crate::subscriptions::view::parse_id;
use crate::SharedState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use masthead_auth::Principal;
use masthead_curation::{Actor, AddressSnapshot, Curation, CurationError, ErrorClass, NewAddress};
use masthead_domain::base_address::{AddressPatch, AddressStatus};
use masthead_domain::AddressLines;
use masthead_projections::Lines;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

// The intake's field limits: a base address holds what a subscriber can type.
use masthead_domain::subscription::request::{
    MAX_LINE as STREET_MAX, MAX_LINE as CITY_MAX, MAX_POSTAL_CODE as POSTAL_CODE_MAX,
};
const REF_MAX: usize = 64;
const REASON_MAX: usize = 500;

/// A base address after a command.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CuratedAddress {
    pub id: Uuid,
    /// `active`, `merged` or `retired`.
    pub status: &'static str,
    /// Set when `status` is `merged`.
    pub merged_into: Option<Uuid>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub lines: Lines,
}

impl From<AddressSnapshot> for CuratedAddress {
    fn from(s: AddressSnapshot) -> Self {
        let merged_into = match s.status {
            AddressStatus::Merged { into } => Some(into),
            _ => None,
        };
        Self { id: s.id, status: s.status.as_str(), merged_into, reference: s.reference, lines: Lines::from(&s.lines) }
    }
}

/// A registration body, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RegisterBody {
    /// The publisher's own id, at most 64 characters.
    #[schema(rename = "ref")]
    reference: Option<String>,
    /// Street and house number, 1–120 characters.
    street: String,
    /// At most 15 characters; may be left out, as a subscriber may.
    postal_code: Option<String>,
    /// At most 120 characters; may be left out, as a subscriber may.
    city: Option<String>,
    /// ISO code or country name in any common spelling.
    country: String,
    /// Why, for the history (at most 500 characters).
    reason: Option<String>,
}

/// A correction body, for the OpenAPI document: the fields to change, at
/// least one; each as in a registration.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct CorrectBody {
    /// `null` or `""` clears it.
    #[schema(rename = "ref")]
    reference: Option<String>,
    street: Option<String>,
    /// `null` or `""` clears it.
    postal_code: Option<String>,
    /// `null` or `""` clears it.
    city: Option<String>,
    country: Option<String>,
    /// Why, for the history (at most 500 characters).
    reason: Option<String>,
}

pub(crate) fn curation(state: &SharedState) -> Result<&Curation, ApiError> {
    state.curation.as_ref().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "this process has no base-address index")
    })
}

pub(crate) fn actor(principal: &Principal, reason: Option<String>) -> Actor {
    // A token without `sub` still names a role that was checked; the
    // history says so rather than leaving the actor empty.
    let subject = principal.subject.clone().unwrap_or_else(|| "unidentified-token".to_owned());
    Actor { subject, reason }
}

/// A refusal as the API answers it; 409 `existing` names the address the
/// engine resolves to, so the caller can open it instead.
pub(crate) fn refused(e: CurationError) -> Response {
    let status = match e.class() {
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorClass::Unavailable if matches!(e, CurationError::Busy) => {
            let mut busy = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string());
            busy.retry_after = Some(1);
            return busy.into_response();
        }
        ErrorClass::Unavailable => return ApiError::unavailable().into_response(),
        ErrorClass::Internal => {
            tracing::error!(error = %e, "curation command failed");
            return ApiError::internal().into_response();
        }
    };
    let code = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::CONFLICT => "conflict",
        _ => "refused",
    };
    let mut body = json!({"error": {"code": code, "message": e.to_string()}});
    if let Some(field) = field_of(&e) {
        body["errors"] = json!([{"field": field, "message": e.to_string()}]);
    }
    if let CurationError::Existing { id } | CurationError::RefTaken { id } = e {
        body["existing"] = json!({ "id": id });
    }
    (status, Json(body)).into_response()
}

/// The request field a refusal is about, when it is about one.
fn field_of(e: &CurationError) -> Option<&'static str> {
    use masthead_domain::base_address::BaseAddressError as A;
    use masthead_domain::review::ReviewError as R;
    match e {
        CurationError::Address(A::MergeIntoItself | A::UnknownSurvivor(_) | A::SurvivorNotActive { .. }) => {
            Some("into")
        }
        CurationError::Address(A::EmptyStreet) => Some("street"),
        CurationError::Address(A::ReasonRequired) => Some("reason"),
        CurationError::RefTaken { .. } => Some("ref"),
        CurationError::Review(R::NotInItem(_)) => Some("into"),
        CurationError::Review(R::NoCandidate | R::AlreadyDecided(_)) => Some("decision"),
        _ => None,
    }
}

/// The `{id}` of a command's path and its JSON body.
async fn target_and_body(raw: &str, headers: &HeaderMap, body: Body) -> Result<(Uuid, JsonObject), ApiError> {
    let id = parse_id(raw)?;
    Ok((id, JsonObject::parse(&read_limited(headers, body).await?)?))
}

async fn answer(curation: &Curation, id: Uuid, status: StatusCode) -> Response {
    match curation.snapshot(id).await {
        Ok(Some(s)) => (status, Json(CuratedAddress::from(s))).into_response(),
        Ok(None) => ApiError::not_found("base address").into_response(),
        Err(e) => refused(e),
    }
}

/// The answer to a command on the address `id`: the address as it is
/// now, or the command's refusal.
async fn answer_command<T>(curation: &Curation, id: Uuid, outcome: Result<T, CurationError>) -> Response {
    match outcome {
        Ok(_) => answer(curation, id, StatusCode::OK).await,
        Err(e) => refused(e),
    }
}

/// Register a base address by hand.
///
/// The matching engine checks it first: if it resolves to an existing base
/// address (the same address in another spelling), nothing is stored and
/// the answer is `409` with `existing.id`.
#[utoipa::path(
    post,
    path = "/api/v1/addresses",
    tag = "curation",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered", body = CuratedAddress),
        (status = 400, description = "Not a JSON object", body = crate::error::ErrorBody),
        (status = 409, description = "The engine resolves it to `existing.id`, or `existing.id` has this `ref`"),
        (status = 422, description = "A field is missing or invalid, named in `errors`", body = crate::error::ErrorBody),
        (status = 503, description = "The event store or the index is not ready; retry", body = crate::error::ErrorBody),
    )
)]
pub async fn register_address(
    State(state): State<SharedState>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut o = JsonObject::parse(&read_limited(&headers, body).await?)?;
    // Optional fields: an empty one (what a form posts for an empty
    // input) is the same as leaving it out.
    let reference = o.clearable_text("ref", REF_MAX).flatten();
    let street = o.required_text("street", STREET_MAX);
    let postal_code = o.clearable_text("postal_code", POSTAL_CODE_MAX).flatten();
    let city = o.clearable_text("city", CITY_MAX).flatten();
    let country = o.country("country");
    if !o.has("country") {
        o.required_text("country", 60);
    }
    let reason = o.text("reason", REASON_MAX);
    o.finish()?;
    let Some(street) = street else { return Err(ApiError::internal()) };
    let lines = AddressLines { street, postal_code, city, country };
    let curation = curation(&state)?;
    match curation.register(NewAddress { reference, lines }, &actor(&principal, reason)).await {
        Ok(registered) => {
            let id = registered.base_address_id;
            let mut response = answer(curation, id, StatusCode::CREATED).await;
            if let Ok(location) = format!("/api/v1/addresses/{id}").parse() {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Err(e) => Ok(refused(e)),
    }
}

/// Correct a base address: any of `street`, `postal_code`, `city`,
/// `country`, `ref`. `null` (or an empty string) clears `postal_code`,
/// `city` or `ref`; street and country cannot be cleared.
///
/// Subscriptions delivered there show the corrected lines, and each of
/// their subscribers gets one mail with the corrected delivery address.
/// Lines that the engine resolves to another base address are refused with
/// `409` and `existing.id`: merge instead.
#[utoipa::path(
    patch,
    path = "/api/v1/addresses/{id}",
    tag = "curation",
    params(("id" = String, Path, description = "Base address id (UUID)")),
    request_body = CorrectBody,
    responses(
        (status = 200, description = "Corrected (or already so)", body = CuratedAddress),
        (status = 400, description = "Not a UUID, or not a JSON object", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown id", body = crate::error::ErrorBody),
        (status = 409, description = "Merged, or retired (a retired address takes a change of `ref` alone), or the lines or the `ref` are another address's (`existing.id`)"),
        (status = 422, description = "A field is invalid, or nothing to change", body = crate::error::ErrorBody),
        (status = 503, description = "The event store is unavailable; retry", body = crate::error::ErrorBody),
    )
)]
pub async fn correct_address(
    State(state): State<SharedState>,
    Extension(principal): Extension<Principal>,
    crate::error::IdPath(raw): crate::error::IdPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (id, mut o) = target_and_body(&raw, &headers, body).await?;
    o.refuse_clearing("street");
    o.refuse_clearing("country");
    let patch = AddressPatch {
        street: o.text("street", STREET_MAX),
        postal_code: o.clearable_text("postal_code", POSTAL_CODE_MAX),
        city: o.clearable_text("city", CITY_MAX),
        country: o.country("country"),
        reference: o.clearable_text("ref", REF_MAX),
    };
    let reason = o.text("reason", REASON_MAX);
    let empty = patch.is_empty();
    o.finish()?;
    if empty {
        // About the body as a whole: no one field is wrong.
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing_to_change",
            "nothing to change: send at least one of street, postal_code, city, country, ref",
        ));
    }
    let curation = curation(&state)?;
    let outcome = curation.correct(id, patch, &actor(&principal, reason)).await;
    Ok(answer_command(curation, id, outcome).await)
}

/// A merge body, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct MergeBody {
    /// The survivor's id.
    into: String,
    reason: Option<String>,
}

/// Merge a base address into another (`into`), which survives.
///
/// Every subscription delivered here moves to the survivor (its timeline
/// shows the move, and its subscriber gets one mail if the lines changed);
/// this address's spellings resolve to the survivor from now on.
#[utoipa::path(
    post,
    path = "/api/v1/addresses/{id}/merge",
    tag = "curation",
    params(("id" = String, Path, description = "Base address id (UUID) to merge away")),
    request_body = MergeBody,
    responses(
        (status = 200, description = "Merged (or already so)", body = CuratedAddress),
        (status = 400, description = "Not a UUID, or not a JSON object", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown id", body = crate::error::ErrorBody),
        (status = 409, description = "This address or the survivor is merged or retired"),
        (status = 422, description = "`into` is missing, unknown, or this address itself"),
        (status = 503, description = "The event store is unavailable; retry", body = crate::error::ErrorBody),
    )
)]
pub async fn merge_address(
    State(state): State<SharedState>,
    Extension(principal): Extension<Principal>,
    crate::error::IdPath(raw): crate::error::IdPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (id, mut o) = target_and_body(&raw, &headers, body).await?;
    let into = o.uuid("into");
    if !o.has("into") {
        o.required_text("into", 40);
    }
    let reason = o.text("reason", REASON_MAX);
    o.finish()?;
    let Some(into) = into else { return Err(ApiError::internal()) };
    let curation = curation(&state)?;
    let outcome = curation.merge(id, into, &actor(&principal, reason)).await;
    Ok(answer_command(curation, id, outcome).await)
}

/// A retirement body, for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct RetireBody {
    /// Why (demolished, never deliverable), 1–500 characters.
    reason: String,
}

/// Retire a base address: the matcher no longer resolves to it; a
/// subscription that would have matched it goes to the review queue.
#[utoipa::path(
    post,
    path = "/api/v1/addresses/{id}/retire",
    tag = "curation",
    params(("id" = String, Path, description = "Base address id (UUID)")),
    request_body = RetireBody,
    responses(
        (status = 200, description = "Retired (or already so)", body = CuratedAddress),
        (status = 400, description = "Not a UUID, or not a JSON object", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown id", body = crate::error::ErrorBody),
        (status = 409, description = "The address was merged"),
        (status = 422, description = "`reason` is missing or invalid", body = crate::error::ErrorBody),
        (status = 503, description = "The event store is unavailable; retry", body = crate::error::ErrorBody),
    )
)]
pub async fn retire_address(
    State(state): State<SharedState>,
    Extension(principal): Extension<Principal>,
    crate::error::IdPath(raw): crate::error::IdPath,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (id, mut o) = target_and_body(&raw, &headers, body).await?;
    let reason = o.required_text("reason", REASON_MAX);
    o.finish()?;
    let curation = curation(&state)?;
    let outcome = curation.retire(id, &actor(&principal, reason)).await;
    Ok(answer_command(curation, id, outcome).await)
}
