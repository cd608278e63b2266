//! `GET /dashboard`: a live operations page over `/api/v1/stats`.
//!
//! One static page (`templates/dashboard.html`) and a small hand-written
//! script (`assets/dashboard.js`) that polls the stats endpoint every two
//! seconds and draws inline SVG: no CDN, no chart library, so it works on
//! an offline machine and ships inside the binary. The script writes only
//! numbers and fixed labels into the page (through `textContent` and
//! attributes, never markup), and the page is served with a CSP that
//! allows nothing but its own files and the stats endpoint.
//!
//! For tests and curious operators every chart's `<svg>` carries
//! `data-bars` (bars with a value above zero) and `data-total`, each bar a
//! `data-value`, and `<body data-updates>` counts successful refreshes.
//!
//! The page needs the `viewer` role (see `access`); a browser signed in
//! with a session cookie also gets a sign-out button carrying its CSRF
//! token.

use crate::access::session::{self, SESSION_COOKIE};
use crate::SharedState;
use askama::Template;
use axum::extract::{Extension, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use masthead_auth::Principal;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    /// Who is signed in (the token's subject).
    who: Option<String>,
    /// The CSRF token for the sign-out form, for a cookie session.
    csrf: Option<String>,
}

/// Operations dashboard (HTML): registrations per day, matched vs new, the
/// score distribution and consumer lag, refreshed every 2 s.
#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "pages",
    responses((status = 200, description = "HTML page drawing `/api/v1/stats`", content_type = "text/html"))
)]
pub async fn dashboard(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Extension(principal): Extension<Principal>,
) -> Response {
    let signed_in_by_cookie =
        session::bearer(&headers).is_none() && session::cookie(&headers, SESSION_COOKIE).is_some();
    // A session started at the identity provider may not have visited the
    // sign-in page, which sets the CSRF cookie: set it here then.
    let (csrf, set_cookie) = match signed_in_by_cookie {
        true => {
            let (token, set_cookie) = session::csrf_token(&state.access, &headers);
            (Some(token), set_cookie)
        }
        false => (None, None),
    };
    let mut response = super::render(&DashboardPage { who: principal.subject, csrf }).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    if let Some(cookie) = set_cookie {
        h.append(header::SET_COOKIE, cookie);
    }
    response
}
