//! The subscriber-facing pages: the form at `/`, its submission at
//! `/subscribe`, and a status page that follows one subscription.
//!
//! Server-side rendered, so the form works without JavaScript; the status
//! page adds a small script (`assets/status.js`) that polls the JSON API.

use super::render;
use crate::error::IdPath;
use crate::subscriptions::create::{intake_error, read_limited, traceparent};
use crate::subscriptions::intake::IntakeError;
use crate::SharedState;
use askama::Template;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use masthead_domain::subscription::{Channel, FieldError, SubscriptionForm};
use uuid::Uuid;

/// The form's fields: name, label, input type and autocomplete token.
const FIELDS: [(&str, &str, &str, &str); 6] = [
    ("name", "Full name", "text", "name"),
    ("email", "Email address", "email", "email"),
    ("street", "Street and house number", "text", "street-address"),
    ("postal_code", "Postal code", "text", "postal-code"),
    ("city", "City", "text", "address-level2"),
    ("country", "Country", "text", "country-name"),
];

/// One input of the form as rendered.
struct Field<'a> {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: &'a str,
    error: Option<&'a str>,
}

/// One line of the error summary.
struct Problem<'a> {
    field: &'static str,
    label: &'static str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage<'a> {
    /// This form's one-time token (see [`submit_form`]).
    form_token: &'a str,
    notice: Option<&'a str>,
    errors: Vec<Problem<'a>>,
    fields: Vec<Field<'a>>,
}

#[derive(Template)]
#[template(path = "received.html")]
struct ReceivedPage {
    id: Uuid,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    id: Uuid,
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage<'a> {
    message: &'a str,
}

fn value_of<'a>(form: &'a SubscriptionForm, field: &str) -> &'a str {
    match field {
        "name" => &form.name,
        "email" => &form.email,
        "street" => &form.street,
        "postal_code" => &form.postal_code,
        "city" => &form.city,
        _ => &form.country,
    }
}

/// The form with what was typed, each field's error, and an optional notice.
/// A form shown again keeps its token, so that its corrected submission is
/// still the same one subscription; otherwise it gets a fresh one.
fn form(
    status: StatusCode,
    form: &SubscriptionForm,
    errors: &[FieldError],
    notice: Option<&str>,
    token: Option<&str>,
) -> Response {
    let label = |field: &'static str| FIELDS.iter().find(|f| f.0 == field).map_or(field, |f| f.1);
    let fresh;
    let form_token = match token {
        Some(t) => t,
        None => {
            fresh = Uuid::new_v4().to_string();
            &fresh
        }
    };
    let page = FormPage {
        form_token,
        notice,
        errors: errors.iter().map(|e| Problem { field: e.field, label: label(e.field), message: &e.message }).collect(),
        fields: FIELDS
            .iter()
            .map(|&(name, label, kind, autocomplete)| Field {
                name,
                label,
                kind,
                autocomplete,
                value: value_of(form, name),
                error: errors.iter().find(|e| e.field == name).map(|e| e.message.as_str()),
            })
            .collect(),
    };
    (status, render(&page)).into_response()
}

/// The subscription form (HTML).
#[utoipa::path(get, path = "/", tag = "pages", responses((status = 200, description = "HTML form", content_type = "text/html")))]
pub async fn form_page() -> Response {
    form(StatusCode::OK, &SubscriptionForm::default(), &[], None, None)
}

/// The form's one-time token field: a UUID the form page made. Anything
/// else is ignored (the submission then counts as a form without a token).
#[derive(serde::Deserialize)]
struct TokenField {
    form_token: Option<String>,
}

fn form_token(bytes: &[u8]) -> Option<String> {
    let field: TokenField = serde_urlencoded::from_bytes(bytes).ok()?;
    field.form_token.and_then(|t| Uuid::parse_str(t.trim()).ok()).map(|u| u.to_string())
}

/// Submits the HTML form (`application/x-www-form-urlencoded`, the same
/// fields as the JSON intake, plus the `form_token` the form page put in).
///
/// The token works as the JSON intake's `Idempotency-Key` (in a namespace
/// of its own): a double click, a reload of the thank-you page or a resent
/// request gives the one subscription the first submission made, and its
/// page again.
#[utoipa::path(
    post,
    path = "/subscribe",
    tag = "pages",
    request_body(content = crate::subscriptions::create::SubscriptionRequestBody, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Thank-you page with the subscription id", content_type = "text/html"),
        (status = 400, description = "Unreadable form", content_type = "text/html"),
        (status = 422, description = "The form again, with the invalid fields marked", content_type = "text/html"),
        (status = 503, description = "Event store unavailable; nothing stored", content_type = "text/html"),
    )
)]
pub async fn submit_form(State(state): State<SharedState>, headers: HeaderMap, body: Body) -> Response {
    let bytes = match read_limited(&headers, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let Ok(typed) = serde_urlencoded::from_bytes::<SubscriptionForm>(&bytes) else {
        let notice = Some("The form could not be read. Please try again.");
        return form(StatusCode::BAD_REQUEST, &SubscriptionForm::default(), &[], notice, None);
    };
    let token = form_token(&bytes);
    let key = token.as_ref().map(|t| format!("form-{t}"));
    match state.intake.submit(&typed, Channel::Form, key.as_deref(), traceparent(&headers)).await {
        Ok(accepted) => render(&ReceivedPage { id: accepted.id }),
        Err(IntakeError::Invalid(errors)) => {
            form(StatusCode::UNPROCESSABLE_ENTITY, &typed, &errors, None, token.as_deref())
        }
        Err(IntakeError::KeyReused) => {
            let notice = "This form was already sent with other details. Please check them and submit again.";
            form(StatusCode::UNPROCESSABLE_ENTITY, &typed, &[], Some(notice), None)
        }
        Err(IntakeError::Unavailable) => {
            let notice =
                "We could not save your subscription just now. Nothing was stored; please submit again in a moment.";
            let mut r = form(StatusCode::SERVICE_UNAVAILABLE, &typed, &[], Some(notice), token.as_deref());
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(1u32));
            r
        }
        Err(other) => intake_error(other).into_response(),
    }
}

/// A page following one subscription's status (HTML, polls the JSON API).
#[utoipa::path(
    get,
    path = "/status/{id}",
    tag = "pages",
    params(("id" = String, Path, description = "Subscription id (UUID)")),
    responses(
        (status = 200, description = "Status page", content_type = "text/html"),
        (status = 400, description = "The path could not be decoded", body = crate::error::ErrorBody),
        (status = 404, description = "Not a subscription id, or no such subscription", content_type = "text/html"),
        (status = 503, description = "Event store unavailable", body = crate::error::ErrorBody),
    )
)]
pub async fn status_page(State(state): State<SharedState>, IdPath(raw): IdPath) -> Response {
    let not_found = |message| (StatusCode::NOT_FOUND, render(&NotFoundPage { message })).into_response();
    let Ok(id) = Uuid::parse_str(&raw) else { return not_found("That is not a subscription id.") };
    // One direct get: the page must not promise a subscription that was
    // never registered (nor confirm guesses by answering 200 to any UUID).
    match state.store.last_sequence_of("subscription", &id.to_string()).await {
        Ok(0) => not_found("There is no subscription with that id."),
        Ok(_) => render(&StatusPage { id }),
        Err(_) => crate::error::ApiError::unavailable().into_response(),
    }
}
