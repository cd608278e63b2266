//! Query-string parsing shared by the read API, and the read-store
//! plumbing every read handler needs ([`projection_store`], [`store_error`]).
//!
//! axum's `Query<T>` answers a malformed query with a plain-text 400 that
//! does not say which parameter was wrong. [`Query`] instead checks the raw
//! pairs against the parameters `T` declares (the same declaration the
//! OpenAPI document lists), and every value helper reports a bad value as
//! our JSON 400 naming the parameter. Rules common to every read endpoint:
//!
//! * unknown parameters are refused (a typo such as `stauts=failed` would
//!   otherwise silently list everything);
//! * a parameter given twice is refused (which one would win is a guess);
//! * an empty value is the same as leaving the parameter out, so a UI can
//!   send its form fields as they are.

use super::error::ApiError;
use super::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use masthead_domain::country::Country;
use masthead_projections::query::{DEFAULT_LIMIT, MAX_LIMIT};
use masthead_projections::{PageRequest, ProjectionStore, StoreError};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::sync::Arc;
use utoipa::openapi::path::ParameterIn;
use utoipa::IntoParams;

/// Cursors are short base64url records; anything much longer is not one of
/// ours and is refused before it reaches the store.
const MAX_CURSOR_LEN: usize = 512;

/// The query string of one request, as the parameters `T` declares.
/// `T`'s fields are `Option<String>`: values are checked by the helpers
/// below, which name the parameter in their errors.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + IntoParams> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// The parameter names `T` declares for the query string.
pub fn declared<T: IntoParams>() -> Vec<String> {
    T::into_params(|| Some(ParameterIn::Query)).into_iter().map(|p| p.name).collect()
}

/// Decodes `a=1&b=2` (percent-encoding and `+` as space, as in forms) into
/// `T`, refusing unknown and repeated parameters and dropping empty values.
pub fn parse<T: DeserializeOwned + IntoParams>(query: &str) -> Result<T, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|e| ApiError::bad_parameter("query", format!("not a valid query string: {e}")))?;
    let known = declared::<T>();
    let mut seen = HashSet::with_capacity(pairs.len());
    let mut unknown = Vec::new();
    let mut values = serde_json::Map::with_capacity(pairs.len());
    for (name, value) in pairs {
        if !seen.insert(name.clone()) {
            return Err(ApiError::bad_parameter(&name, "given more than once"));
        }
        if !known.contains(&name) {
            unknown.push(name);
            continue;
        }
        let value = value.trim();
        if !value.is_empty() {
            values.insert(name, serde_json::Value::String(value.to_owned()));
        }
    }
    // Sorted so that the error names the same parameter every time.
    unknown.sort();
    if let Some(name) = unknown.first() {
        let message = match known.is_empty() {
            true => "unknown parameter; this takes none".to_owned(),
            false => format!("unknown parameter; known: {}", known.join(", ")),
        };
        return Err(ApiError::bad_parameter(name, message));
    }
    serde_json::from_value(serde_json::Value::Object(values))
        .map_err(|e| ApiError::bad_parameter("query", format!("cannot be read: {e}")))
}

/// A value of at most `max` characters.
pub fn bounded<'a>(name: &str, value: &'a Option<String>, max: usize) -> Result<Option<&'a str>, ApiError> {
    match value.as_deref() {
        Some(v) if v.chars().count() > max => {
            Err(ApiError::bad_parameter(name, format!("must be at most {max} characters")))
        }
        other => Ok(other),
    }
}

/// A page size in `1..=max`, `default` when absent. Sizes above `max` are
/// refused rather than clamped: a client asking for 500 and silently
/// getting 100 would take the short page for the end of the list.
pub fn limit(value: &Option<String>, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(raw) = value.as_deref() else { return Ok(default) };
    match raw.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        Ok(_) => Err(ApiError::bad_parameter("limit", format!("must be between 1 and {max}"))),
        Err(_) => Err(ApiError::bad_parameter("limit", format!("must be a whole number between 1 and {max}"))),
    }
}

/// `limit` and `cursor` of a list endpoint.
pub fn page(limit_value: &Option<String>, cursor: &Option<String>) -> Result<PageRequest, ApiError> {
    let limit = limit(limit_value, DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = match cursor.as_deref() {
        Some(c) if c.len() > MAX_CURSOR_LEN || !c.bytes().all(is_base64url) => {
            return Err(ApiError::bad_parameter("cursor", "not a cursor from this list; start from the first page"))
        }
        other => other.map(str::to_owned),
    };
    Ok(PageRequest { limit, cursor })
}

/// A country in any spelling `Country::parse` knows, as its ISO code.
pub fn country(name: &str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    value
        .as_deref()
        .map(|raw| {
            Country::parse(raw)
                .map(|c| c.code().to_owned())
                .map_err(|_| ApiError::bad_parameter(name, "unknown country; use an ISO code or a country name"))
        })
        .transpose()
}

/// An RFC 3339 timestamp (`2025-01-06T08:00:00Z`) or a plain date
/// (`2025-01-06`, meaning midnight UTC).
pub fn datetime(name: &str, value: &Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value.as_deref().map(|raw| parse_datetime(raw).ok_or_else(|| bad_datetime(name))).transpose()
}

/// The read store for this request, or 503 in a process without
/// projections. Taken once per request so that a generation switch never
/// splits one request across two stores.
pub fn projection_store(state: &AppState) -> Result<Arc<dyn ProjectionStore>, ApiError> {
    state.reads.as_ref().map(|r| r.get()).ok_or_else(|| {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "projections_unavailable",
            "this process serves no read models; ask an API instance that runs with projections",
        );
        e.retry_after = Some(5);
        e
    })
}

/// How a read-store failure reaches the client.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::InvalidCursor => {
            ApiError::bad_parameter("cursor", "not a cursor from this list; start from the first page")
        }
        StoreError::InvalidFilter(msg) => ApiError::bad_request("invalid_filter", msg),
        StoreError::Unavailable(detail) => {
            tracing::warn!(error = %detail, "projection store unavailable");
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "projections_unavailable",
                "the read models are unavailable; retry shortly",
            );
            e.retry_after = Some(1);
            e
        }
        other => {
            tracing::error!(error = %other, "projection store failed");
            ApiError::internal()
        }
    }
}

fn bad_datetime(name: &str) -> ApiError {
    ApiError::bad_parameter(name, "must be an RFC 3339 timestamp such as 2025-01-06T08:00:00Z, or a date (YYYY-MM-DD)")
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn parse_datetime(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    // An unencoded `+01:00` offset arrives as ` 01:00` (`+` means space in a
    // query string). Accept that common client mistake rather than refuse it.
    if let Some((head, offset)) = raw.rsplit_once(' ') {
        if offset.len() == 5 && offset.as_bytes().get(2) == Some(&b':') {
            if let Ok(t) = DateTime::parse_from_rfc3339(&format!("{head}+{offset}")) {
                return Some(t.with_timezone(&Utc));
            }
        }
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc())
}

/// The parameters of an endpoint that takes none: with [`Query`], any
/// parameter is refused, as a list refuses one it does not know.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoParams {}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, IntoParams)]
    #[into_params(parameter_in = Query)]
    #[allow(dead_code)]
    struct Sample {
        limit: Option<String>,
        status: Option<String>,
        cursor: Option<String>,
        country: Option<String>,
        c2: Option<String>,
    }

    fn field(e: &ApiError) -> &str {
        e.errors.first().map(|f| f.field.as_str()).unwrap_or("")
    }

    fn sample(query: &str) -> Sample {
        parse::<Sample>(query).expect("parses")
    }

    #[test]
    fn parameters_are_named_in_errors() {
        let q = sample("limit=0&status=x");
        assert_eq!(field(&limit(&q.limit, 20, 100).unwrap_err()), "limit");
        assert_eq!(field(&parse::<Sample>("stauts=x&limit=1").unwrap_err()), "stauts");
        assert_eq!(field(&parse::<Sample>("zz=1&aa=2").unwrap_err()), "aa", "the first unknown, sorted");
        assert_eq!(field(&parse::<Sample>("limit=1&limit=2").unwrap_err()), "limit");
        assert_eq!(field(&limit(&sample("limit=101").limit, 20, 100).unwrap_err()), "limit");
        assert_eq!(limit(&sample("limit=100").limit, 20, 100).unwrap(), 100);
        assert_eq!(limit(&sample("limit=").limit, 20, 100).unwrap(), 20);
        let q = sample("cursor=a%20b");
        assert_eq!(field(&page(&q.limit, &q.cursor).unwrap_err()), "cursor");
    }

    #[test]
    fn the_declared_parameters_are_the_known_ones() {
        assert_eq!(declared::<Sample>(), vec!["limit", "status", "cursor", "country", "c2"]);
    }

    #[test]
    fn dates_accept_rfc3339_plain_dates_and_a_decoded_plus() {
        let want = Utc.with_ymd_and_hms(2025, 1, 6, 7, 0, 0).unwrap();
        assert_eq!(parse_datetime("2025-01-06T08:00:00+01:00"), Some(want));
        assert_eq!(parse_datetime("2025-01-06T08:00:00 01:00"), Some(want));
        assert_eq!(parse_datetime("2025-01-06T07:00:00Z"), Some(want));
        assert_eq!(parse_datetime("2025-01-06"), Some(Utc.with_ymd_and_hms(2025, 1, 6, 0, 0, 0).unwrap()));
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("2025-13-01"), None);
    }

    #[test]
    fn countries_in_any_spelling() {
        let q = sample("country=Nederland&c2=nowhere");
        assert_eq!(country("country", &q.country).unwrap().as_deref(), Some("NL"));
        assert_eq!(field(&country("c2", &q.c2).unwrap_err()), "c2");
    }
}
