//! The sign-in page: a browser trades a token for a session cookie, so the
//! dashboard and the curation pages work with the same tokens as the API.
//!
//! `GET /sign-in` shows a form for pasting a token (and, when an OpenID
//! Connect provider is configured, a link to sign in there instead).
//! `POST /sign-in` checks the token like any bearer token and sets the
//! session cookie; `POST /sign-out` clears it. Both posts must come from
//! this site's own page with its CSRF token, so another site can neither
//! sign a visitor in as someone else nor out.

use super::doors::DoorRouter;
use super::session::{self, CSRF_FIELD};
use super::Access;
use crate::pages::render;
use crate::query::Query;
use crate::subscriptions::create::read_limited;
use crate::SharedState;
use askama::Template;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use masthead_auth::Principal;
use serde::Deserialize;
use std::time::{SystemTime, UNIX_EPOCH};
use utoipa::IntoParams;
use utoipa_axum::routes;

/// Where a signed-in browser goes when the sign-in page was not given a
/// page to return to.
pub const DEFAULT_NEXT: &str = "/dashboard";

pub fn routes() -> DoorRouter<SharedState> {
    DoorRouter::new()
        .public(routes!(sign_in_page))
        .public(routes!(sign_in))
        .public(routes!(sign_out))
        .merge(super::oidc::routes())
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    next: &'a str,
    problem: Option<&'a str>,
    oidc_href: Option<String>,
}

/// The query of the sign-in page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignInQuery {
    /// The page to return to afterwards: a path on this site
    next: Option<String>,
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignInForm {
    /// A bearer token (JWT)
    token: String,
    /// The CSRF token the page was rendered with
    csrf_token: String,
    /// The page to return to
    next: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignOutForm {
    csrf_token: String,
}

/// `next` if it is a path on this site, else the dashboard: the sign-in
/// page must not become a redirector to other sites (`//evil.example`,
/// `/\evil.example` and absolute URLs all leave it).
pub fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") && !n.contains(['\r', '\n']) => {
            n
        }
        _ => DEFAULT_NEXT,
    }
}

/// The sign-in page with `problem`, setting the CSRF cookie if the
/// browser has none yet.
pub(super) fn page(
    access: &Access,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    problem: Option<&str>,
) -> Response {
    let (csrf, set_cookie) = session::csrf_token(access, headers);
    let oidc_href = access
        .oidc
        .as_ref()
        .map(|_| format!("/sign-in/oidc?{}", serde_urlencoded::to_string([("next", next)]).unwrap_or_default()));
    let mut response = (status, render(&SignInPage { csrf: &csrf, next, problem, oidc_href })).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = set_cookie {
        h.append(header::SET_COOKIE, cookie);
    }
    response
}

/// The sign-in page (HTML).
#[utoipa::path(
    get,
    path = "/sign-in",
    tag = "pages",
    params(SignInQuery),
    responses((status = 200, description = "A form for a bearer token, and a link to the OpenID Connect provider when one is configured", content_type = "text/html"))
)]
pub async fn sign_in_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<SignInQuery>,
) -> Response {
    page(&state.access, &headers, StatusCode::OK, local_path(query.next.as_deref()), None)
}

/// Seconds since the epoch.
pub(super) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Seconds from now until the principal's token expires.
fn remaining(principal: &Principal) -> u64 {
    principal.expires_at.saturating_sub(now())
}

/// The answer to a signed-in browser: the session cookie, and off to `next`.
pub fn start_session(access: &Access, headers: &HeaderMap, token: &str, principal: &Principal, next: &str) -> Response {
    let cookie = session::session_cookie(token, remaining(principal), session::secure(access, headers));
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// Signs in with a token (form post from the sign-in page).
#[utoipa::path(
    post,
    path = "/sign-in",
    tag = "pages",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: the session cookie is set, and the browser goes to `next`"),
        (status = 401, description = "The token is not valid; the page again, saying why", content_type = "text/html"),
        (status = 403, description = "Not from this site's sign-in page, or a token without any of Masthead's roles", content_type = "text/html"),
    )
)]
pub async fn sign_in(State(state): State<SharedState>, headers: HeaderMap, body: Body) -> Response {
    let access = &state.access;
    let form = match read_limited(&headers, body).await {
        Ok(bytes) => serde_urlencoded::from_bytes::<SignInForm>(&bytes).ok(),
        Err(e) => return e.into_response(),
    };
    let Some(form) = form else {
        return page(access, &headers, StatusCode::BAD_REQUEST, DEFAULT_NEXT, Some("The form could not be read."));
    };
    let next = local_path(form.next.as_deref());
    if !session::same_origin(access, &headers) || !session::csrf_matches(&headers, Some(&form.csrf_token)) {
        let problem = "This sign-in form expired or came from another site. Please try again.";
        return page(access, &headers, StatusCode::FORBIDDEN, next, Some(problem));
    }
    let token = form.token.trim();
    match access.authenticator.authenticate(token).await {
        Ok(principal) if principal.roles.is_empty() => {
            let problem = "That token is valid but carries none of Masthead's roles (viewer, curator, auditor, admin).";
            page(access, &headers, StatusCode::FORBIDDEN, next, Some(problem))
        }
        Ok(principal) => start_session(access, &headers, token, &principal, next),
        Err(e) if !e.is_callers() => {
            let problem = "The identity provider cannot be reached just now. Please try again shortly.";
            page(access, &headers, StatusCode::SERVICE_UNAVAILABLE, next, Some(problem))
        }
        Err(e) => {
            let problem = format!("That token was not accepted: {e}.");
            page(access, &headers, StatusCode::UNAUTHORIZED, next, Some(&problem))
        }
    }
}

/// Signs out: clears the session cookie (form post from a page).
#[utoipa::path(
    post,
    path = "/sign-out",
    tag = "pages",
    request_body(content = SignOutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed out; the browser goes to the sign-in page"),
        (status = 403, description = "Not from one of this site's pages", body = crate::error::ErrorBody),
    )
)]
pub async fn sign_out(State(state): State<SharedState>, headers: HeaderMap, body: Body) -> Response {
    let access = &state.access;
    let presented = match read_limited(&headers, body).await {
        Ok(bytes) => serde_urlencoded::from_bytes::<SignOutForm>(&bytes).ok().map(|f| f.csrf_token),
        Err(e) => return e.into_response(),
    };
    if !session::same_origin(access, &headers) || !session::csrf_matches(&headers, presented.as_deref()) {
        let message = format!("sign-out must come from this site's pages, with their {CSRF_FIELD}");
        return crate::error::ApiError::new(StatusCode::FORBIDDEN, "csrf_failed", message).into_response();
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/sign-in")]).into_response();
    response.headers_mut().append(header::SET_COOKIE, session::end_session_cookie(session::secure(access, &headers)));
    response
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/dashboard?x=1")), "/dashboard?x=1");
        for away in ["//evil.example", "/\\evil.example", "https://evil.example", "dashboard", "/a\r\nSet-Cookie: x"] {
            assert_eq!(local_path(Some(away)), "/dashboard", "{away}");
        }
        assert_eq!(local_path(None), "/dashboard");
    }
}
