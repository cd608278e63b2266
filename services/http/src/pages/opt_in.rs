//! Double opt-in: the page the signed link in the first mail opens
//! (`GET /confirm/{id}?token=…`), and its button (`POST /confirm/{id}`),
//! which confirms the subscription.
//!
//! Opening the link only shows the button: mail scanners and link
//! previews open links too, and must not confirm a subscription for the
//! subscriber. The token is checked on both; it names the subscription
//! and its expiry, signed with the deployment's secret.

use super::render;
use crate::error::{ApiError, IdPath};
use crate::SharedState;
use askama::Template;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use masthead_domain::envelope::CommandMeta;
use masthead_domain::signing::TokenError;
use masthead_domain::subscription::{OptInConfirmed, Subscription, SubscriptionCommand, SubscriptionError};
use masthead_jetstream::command_bus::{CommandBus, CommandError};
use uuid::Uuid;

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    id: Uuid,
    heading: &'a str,
    message: &'a str,
    /// Set while the button is to be shown.
    token: Option<&'a str>,
}

#[derive(serde::Deserialize)]
struct TokenField {
    token: Option<String>,
}

fn page(status: StatusCode, id: Uuid, heading: &str, message: &str, token: Option<&str>) -> Response {
    (status, render(&ConfirmPage { id, heading, message, token })).into_response()
}

/// The id and a token that verifies for it, or the page saying why not.
fn checked(state: &SharedState, raw_id: &str, token: Option<String>) -> Result<(Uuid, String), Box<Response>> {
    let Ok(id) = Uuid::parse_str(raw_id) else {
        return Err(Box::new(ApiError::bad_parameter("id", "must be a UUID").into_response()));
    };
    let token = token.unwrap_or_default();
    let refused = |message| Err(Box::new(page(StatusCode::BAD_REQUEST, id, "This link does not work", message, None)));
    match state.signing_key.verify_opt_in(id, &token, chrono::Utc::now().timestamp()) {
        Ok(()) => Ok((id, token)),
        Err(TokenError::Expired) => refused("The link has expired. Please subscribe again."),
        Err(TokenError::Malformed | TokenError::Forged) => {
            refused("The link is incomplete or was changed. Please use the link from the email as it is.")
        }
    }
}

/// The page the opt-in mail links to: a button that confirms.
#[utoipa::path(
    get,
    path = "/confirm/{id}",
    tag = "pages",
    params(
        ("id" = String, Path, description = "Subscription id (UUID)"),
        ("token" = String, Query, description = "The signed token from the opt-in mail: `<expiry>.<signature>`"),
    ),
    responses(
        (status = 200, description = "A page with the button that confirms", content_type = "text/html"),
        (status = 400, description = "Not a UUID, or a missing, changed or expired token", content_type = "text/html"),
    )
)]
pub async fn confirm_page(
    State(state): State<SharedState>,
    IdPath(raw): IdPath,
    RawQuery(query): RawQuery,
) -> Response {
    let token =
        serde_urlencoded::from_str::<TokenField>(query.as_deref().unwrap_or_default()).ok().and_then(|t| t.token);
    match checked(&state, &raw, token) {
        Ok((id, token)) => page(
            StatusCode::OK,
            id,
            "Confirm your subscription",
            "Please confirm that you asked for this subscription.",
            Some(&token),
        ),
        Err(refused) => *refused,
    }
}

/// Confirms the subscription (the page's button; form-encoded `token`).
#[utoipa::path(
    post,
    path = "/confirm/{id}",
    tag = "pages",
    params(("id" = String, Path, description = "Subscription id (UUID)")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`token=<the token from the link>`"),
    responses(
        (status = 200, description = "Confirmed (also when it already was)", content_type = "text/html"),
        (status = 400, description = "Not a UUID, or a missing, changed or expired token", content_type = "text/html"),
        (status = 404, description = "No such subscription", content_type = "text/html"),
        (status = 409, description = "The subscription is not waiting for a confirmation", content_type = "text/html"),
        (status = 503, description = "Event store unavailable; nothing stored", body = crate::error::ErrorBody),
    )
)]
pub async fn confirm(
    State(state): State<SharedState>,
    IdPath(raw): IdPath,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match crate::subscriptions::create::read_limited(&headers, body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let token = serde_urlencoded::from_bytes::<TokenField>(&bytes).ok().and_then(|t| t.token);
    let (id, _) = match checked(&state, &raw, token) {
        Ok(checked) => checked,
        Err(refused) => return *refused,
    };
    let command = SubscriptionCommand::ConfirmOptIn(OptInConfirmed { confirmed_at: chrono::Utc::now() });
    let meta = CommandMeta {
        correlation_id: Some(id.to_string()),
        causation_id: None,
        traceparent: None,
        tracestate: None,
        idempotency_key: None,
    };
    let bus = CommandBus::<Subscription>::new(state.store.clone(), ());
    match bus.execute(&id.to_string(), command, &meta).await {
        Ok(_) => page(StatusCode::OK, id, "Subscription confirmed", "Thank you: your subscription is confirmed.", None),
        Err(CommandError::Rejected(SubscriptionError::NotRegistered)) => {
            page(StatusCode::NOT_FOUND, id, "Not found", "There is no subscription with that id.", None)
        }
        Err(CommandError::Rejected(_)) => page(
            StatusCode::CONFLICT,
            id,
            "Nothing to confirm",
            "This subscription is not waiting for a confirmation.",
            None,
        ),
        Err(CommandError::Unavailable(_) | CommandError::Conflict(_)) => ApiError::unavailable().into_response(),
        Err(other) => {
            tracing::error!(error = %other, "confirming an opt-in failed");
            ApiError::internal().into_response()
        }
    }
}
