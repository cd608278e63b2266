//! `POST /api/v1/subscriptions`: the JSON intake.

use super::intake::IntakeError;
use crate::error::ApiError;
use crate::SharedState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use masthead_domain::subscription::{Channel, FieldError, SubscriptionForm};
use serde::Serialize;

pub const MAX_BODY: usize = 16 * 1024;

#[derive(Serialize, utoipa::ToSchema)]
pub struct AcceptedBody {
    pub id: uuid::Uuid,
    /// Always `pending` on acceptance.
    pub status: &'static str,
}

/// The request body, as a schema for the OpenAPI document.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SubscriptionRequestBody {
    /// 1–120 characters.
    name: String,
    /// A valid address, at most 254 characters.
    email: String,
    /// Street and house number as typed, 1–120 characters.
    street: String,
    /// 1–15 characters.
    postal_code: String,
    /// 1–120 characters.
    city: String,
    /// ISO code, English or local name, or a common alias (`NL`, `Holland`, `BRD`, `U.S.A.`).
    country: String,
}

pub fn intake_error(e: IntakeError) -> ApiError {
    match e {
        IntakeError::Invalid(errors) => ApiError::validation(errors),
        IntakeError::KeyReused => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body",
        ),
        IntakeError::BadKey => ApiError::bad_parameter("Idempotency-Key", "must be 1-255 visible ASCII characters"),
        IntakeError::Unavailable => ApiError::unavailable(),
        IntakeError::Internal(detail) => {
            tracing::error!(error = %detail, "intake failed");
            ApiError::internal()
        }
    }
}

/// Reads a body of at most `MAX_BODY` bytes; larger ones are refused with 413
/// before being read in full. A body that stops short of its declared
/// length (the client went away) is 400, one that stops arriving for the
/// server's body timeout 408: neither is too large.
pub async fn read_limited(headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body must be at most {MAX_BODY} bytes"),
        )
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return too_large();
            }
            if err.is::<tower_http::timeout::TimeoutError>() {
                return ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    "the request body did not arrive in time; nothing was stored",
                );
            }
            source = err.source();
        }
        ApiError::bad_request("incomplete_body", "the request body ended before it was complete; nothing was stored")
    })
}

/// The `Idempotency-Key` header: absent, or exactly one visible ASCII value.
/// A repeated header is refused rather than one of them picked silently.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(ApiError::bad_parameter("Idempotency-Key", "must be sent once"));
    }
    first.to_str().map(Some).map_err(|_| ApiError::bad_parameter("Idempotency-Key", "must be visible ASCII"))
}

/// One field of the JSON body as sent: a string, absent or null, or a value
/// of another type, which is reported on that field.
#[derive(Default)]
enum FieldValue {
    Text(String),
    #[default]
    Missing,
    WrongType,
}

impl<'de> serde::Deserialize<'de> for FieldValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct Field;
        impl<'de> Visitor<'de> for Field {
            type Value = FieldValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<FieldValue, E> {
                Ok(FieldValue::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<FieldValue, E> {
                Ok(FieldValue::Text(v))
            }
            fn visit_unit<E>(self) -> Result<FieldValue, E> {
                Ok(FieldValue::Missing)
            }
            fn visit_none<E>(self) -> Result<FieldValue, E> {
                Ok(FieldValue::Missing)
            }
            fn visit_bool<E>(self, _: bool) -> Result<FieldValue, E> {
                Ok(FieldValue::WrongType)
            }
            fn visit_i64<E>(self, _: i64) -> Result<FieldValue, E> {
                Ok(FieldValue::WrongType)
            }
            fn visit_u64<E>(self, _: u64) -> Result<FieldValue, E> {
                Ok(FieldValue::WrongType)
            }
            fn visit_f64<E>(self, _: f64) -> Result<FieldValue, E> {
                Ok(FieldValue::WrongType)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FieldValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FieldValue::WrongType)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(FieldValue::WrongType)
            }
        }
        deserializer.deserialize_any(Field)
    }
}

/// The body's fields, read straight from the JSON (no intermediate tree).
/// Other members are ignored.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct JsonForm {
    name: FieldValue,
    email: FieldValue,
    street: FieldValue,
    postal_code: FieldValue,
    city: FieldValue,
    country: FieldValue,
}

/// Parses the JSON body field by field, so that a wrong type is reported on
/// the field that has it rather than as an opaque parse error.
fn parse_form(bytes: &[u8]) -> Result<SubscriptionForm, ApiError> {
    // Checked first: serde would also read a struct from an array.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => ApiError::bad_request("malformed_json", "the body must be a JSON object"),
            Err(e) => ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")),
        });
    }
    let raw: JsonForm = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}")))?;
    let mut type_errors = Vec::new();
    let mut field = |name: &'static str, value: FieldValue| match value {
        FieldValue::Text(s) => s,
        FieldValue::Missing => String::new(),
        FieldValue::WrongType => {
            type_errors.push(FieldError { field: name, message: "must be a string".into() });
            String::new()
        }
    };
    let form = SubscriptionForm {
        name: field("name", raw.name),
        email: field("email", raw.email),
        street: field("street", raw.street),
        postal_code: field("postal_code", raw.postal_code),
        city: field("city", raw.city),
        country: field("country", raw.country),
    };
    if type_errors.is_empty() {
        Ok(form)
    } else {
        // Report type errors together with every other rule that fails.
        let mut errors = type_errors;
        if let Err(rest) = form.validate() {
            let rest: Vec<_> = rest.into_iter().filter(|e| !errors.iter().any(|t| t.field == e.field)).collect();
            errors.extend(rest);
        }
        Err(ApiError::validation(errors))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).is_some_and(|m| {
        let m = m.trim().to_ascii_lowercase();
        m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
    })
}

pub fn traceparent(headers: &HeaderMap) -> Option<String> {
    headers.get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Register a subscription.
#[utoipa::path(
    post,
    path = "/api/v1/subscriptions",
    tag = "intake",
    request_body(content = SubscriptionRequestBody, content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key + same body within 72 h gives the same id and one event")),
    responses(
        (status = 202, description = "Durably accepted", body = AcceptedBody, headers(("Location" = String))),
        (status = 400, description = "Malformed JSON, wrong content type, a body cut short, or a bad or repeated Idempotency-Key", body = crate::error::ErrorBody),
        (status = 408, description = "The body did not arrive within the server's body timeout", body = crate::error::ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = crate::error::ErrorBody),
        (status = 429, description = "Too many subscriptions from this client; retry after `Retry-After` seconds", body = crate::error::ErrorBody, headers(("Retry-After" = u32))),
        (status = 422, description = "Invalid fields, or key reused with another body", body = crate::error::ErrorBody),
        (status = 503, description = "Event store unavailable, or the server is shedding load; retry", body = crate::error::ErrorBody, headers(("Retry-After" = u32))),
    )
)]
pub async fn create_subscription(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_limited(&headers, body).await?;
    if !is_json(&headers) {
        return Err(ApiError::bad_request("unsupported_content_type", "send the body as application/json"));
    }
    let form = parse_form(&bytes)?;
    let key = idempotency_key(&headers)?;
    let accepted = state.intake.submit(&form, Channel::Api, key, traceparent(&headers)).await.map_err(intake_error)?;
    let location = format!("/api/v1/subscriptions/{}", accepted.id);
    let mut response =
        (StatusCode::ACCEPTED, Json(AcceptedBody { id: accepted.id, status: "pending" })).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"{"name":"Ada","email":"ada@example.org","street":"Kerkstraat 12",
        "postal_code":"3511 LX","city":"Utrecht","country":"NL"}"#;

    #[test]
    fn a_valid_body_is_read_with_escapes_and_unknown_members_ignored() {
        let body =
            VALID.replace(r#""Ada""#, r#""Ada \"Countess\" L\u00f6velace""#).replace('{', r#" {"extra":[1,{"a":2}],"#);
        let form = parse_form(body.as_bytes()).expect("valid");
        assert_eq!(form.name, "Ada \"Countess\" Lövelace");
        assert_eq!(form.country, "NL");
    }

    #[test]
    fn values_that_are_not_strings_are_named_with_the_missing_ones() {
        let body = r#"{"name":{"first":"Ada"},"email":["a@b.org"],"street":12,"postal_code":true,"city":null}"#;
        let e = parse_form(body.as_bytes()).expect_err("invalid");
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        let message = |field: &str| e.errors.iter().find(|f| f.field == field).map(|f| f.message.as_str());
        for field in ["name", "email", "street", "postal_code"] {
            assert_eq!(message(field), Some("must be a string"), "{field}");
        }
        // null and absent fields break the "required" rules instead.
        assert!(message("city").is_some_and(|m| m != "must be a string"));
        assert!(message("country").is_some_and(|m| m != "must be a string"));
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_400() {
        for body in ["[1,2]", "null", "\"text\"", "{\"name\": ", "", "{\"name\":\"a\"} trailing"] {
            let e = parse_form(body.as_bytes()).expect_err(body);
            assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed_json"), "{body}");
        }
    }
}
