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

use crate::SharedState;
use askama::Template;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;
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
    let session = super::StaffSession::new(&state, &headers, principal);
    let page = DashboardPage { who: session.who.clone(), csrf: session.csrf.clone() };
    session.page(&page)
}
