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

use askama::Template;
use axum::http::header;
use axum::response::{IntoResponse, Response};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage;

/// Operations dashboard (HTML): registrations per day, matched vs new, the
/// score distribution and consumer lag, refreshed every 2 s.
#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "pages",
    responses((status = 200, description = "HTML page drawing `/api/v1/stats`", content_type = "text/html"))
)]
pub async fn dashboard() -> Response {
    let mut response = super::render(&DashboardPage);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:",
        ),
    );
    headers.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
    response.into_response()
}
