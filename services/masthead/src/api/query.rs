//! Query-string parsing shared by the read API, and the read-store
//! plumbing every read handler needs ([`projection_store`], [`store_error`]).
//!
//! axum's `Query<T>` answers a malformed query with a plain-text 400 that
//! does not say which parameter was wrong. [`Params`] instead collects the
//! raw pairs and every accessor reports a bad value as our JSON 400 naming
//! the parameter. Rules common to every read endpoint:
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
use masthead_events::country::Country;
use masthead_projections::query::{DEFAULT_LIMIT, MAX_LIMIT};
use masthead_projections::{PageRequest, ProjectionStore, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// Cursors are short base64url records; anything much longer is not one of
/// ours and is refused before it reaches the store.
const MAX_CURSOR_LEN: usize = 512;

/// The decoded query string of one request.
#[derive(Debug, Default)]
pub struct Params {
    values: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Params::parse(parts.uri.query().unwrap_or(""))
    }
}

impl Params {
    /// Decodes `a=1&b=2`; percent-encoding and `+` as space as in forms.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::bad_parameter("query", format!("not a valid query string: {e}")))?;
        let mut values = HashMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if values.insert(name.clone(), value).is_some() {
                return Err(ApiError::bad_parameter(&name, "given more than once"));
            }
        }
        Ok(Self { values })
    }

    /// Refuses any parameter not in `known`.
    pub fn allow_only(&self, known: &[&str]) -> Result<(), ApiError> {
        // Sorted so that the error names the same parameter every time.
        let mut unknown: Vec<&String> = self.values.keys().filter(|k| !known.contains(&k.as_str())).collect();
        unknown.sort();
        match unknown.first() {
            Some(name) => Err(ApiError::bad_parameter(name, format!("unknown parameter; known: {}", known.join(", ")))),
            None => Ok(()),
        }
    }

    /// The trimmed value, or `None` when absent or empty.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// Like [`text`](Self::text) but required.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.text(name).ok_or_else(|| ApiError::bad_parameter(name, "is required"))
    }

    /// A value of at most `max` characters.
    pub fn bounded_text(&self, name: &str, max: usize) -> Result<Option<&str>, ApiError> {
        match self.text(name) {
            Some(v) if v.chars().count() > max => {
                Err(ApiError::bad_parameter(name, format!("must be at most {max} characters")))
            }
            other => Ok(other),
        }
    }

    /// A page size in `1..=max`, `default` when absent. Sizes above `max`
    /// are refused rather than clamped: a client asking for 500 and silently
    /// getting 100 would take the short page for the end of the list.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        let Some(raw) = self.text("limit") else { return Ok(default) };
        match raw.parse::<usize>() {
            Ok(0) => Err(ApiError::bad_parameter("limit", format!("must be between 1 and {max}"))),
            Ok(n) if n > max => Err(ApiError::bad_parameter("limit", format!("must be between 1 and {max}"))),
            Ok(n) => Ok(n),
            Err(_) => Err(ApiError::bad_parameter("limit", format!("must be a whole number between 1 and {max}"))),
        }
    }

    /// `limit` and `cursor` of a list endpoint.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit(DEFAULT_LIMIT, MAX_LIMIT)?;
        let cursor = match self.text("cursor") {
            Some(c) if c.len() > MAX_CURSOR_LEN || !c.bytes().all(is_base64url) => {
                return Err(ApiError::bad_parameter("cursor", "not a cursor from this list; start from the first page"))
            }
            other => other.map(str::to_owned),
        };
        Ok(PageRequest { limit, cursor })
    }

    /// A country in any spelling `Country::parse` knows, as its ISO code.
    pub fn country(&self, name: &str) -> Result<Option<String>, ApiError> {
        self.text(name)
            .map(|raw| {
                Country::parse(raw)
                    .map(|c| c.code().to_owned())
                    .map_err(|_| ApiError::bad_parameter(name, "unknown country; use an ISO code or a country name"))
            })
            .transpose()
    }

    /// An RFC 3339 timestamp (`2025-01-06T08:00:00Z`) or a plain date
    /// (`2025-01-06`, meaning midnight UTC).
    pub fn datetime(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.text(name).map(|raw| parse_datetime(raw).ok_or_else(|| bad_datetime(name))).transpose()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn field(e: &ApiError) -> &str {
        e.errors.first().map(|f| f.field.as_str()).unwrap_or("")
    }

    #[test]
    fn parameters_are_named_in_errors() {
        let p = Params::parse("limit=0&status=x").unwrap();
        assert_eq!(field(&p.limit(20, 100).unwrap_err()), "limit");
        assert_eq!(field(&p.allow_only(&["limit"]).unwrap_err()), "status");
        assert_eq!(field(&Params::parse("a=1&a=2").unwrap_err()), "a");
        assert_eq!(field(&Params::parse("limit=101").unwrap().limit(20, 100).unwrap_err()), "limit");
        assert_eq!(Params::parse("limit=100").unwrap().limit(20, 100).unwrap(), 100);
        assert_eq!(Params::parse("limit=").unwrap().limit(20, 100).unwrap(), 20);
        assert_eq!(field(&Params::parse("cursor=a%20b").unwrap().page().unwrap_err()), "cursor");
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
        let p = Params::parse("country=Nederland&c2=nowhere").unwrap();
        assert_eq!(p.country("country").unwrap().as_deref(), Some("NL"));
        assert_eq!(field(&p.country("c2").unwrap_err()), "c2");
    }
}
