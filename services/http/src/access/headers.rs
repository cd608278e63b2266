//! The security headers every response carries, and CORS.
//!
//! Pages load scripts and styles only as files from this site (no inline
//! script anywhere, so none is allowed), may not be framed, and send a
//! referrer only to this site: the status page's URL holds a subscription
//! id, which must not leak to whatever a subscriber clicks next. Swagger UI sets inline
//! styles from its script, so under `/api/docs` styles may be inline;
//! scripts never are.
//!
//! CORS is off unless `MASTHEAD_CORS_ALLOWED_ORIGINS` lists origins; then
//! those origins' scripts may call the API with a bearer token. Cookies are
//! never allowed cross-origin (no `Access-Control-Allow-Credentials`).

use super::Access;
use crate::openapi::DOCS_PATH;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The policy of every page: only this site's files, no framing, no
/// plugins, forms post only here.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Swagger UI's policy: the same, except for the inline styles its
/// script sets.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response that lacks them.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let docs = request.uri().path().starts_with(DOCS_PATH);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = if docs { DOCS_CSP } else { PAGE_CSP };
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Not `no-referrer`: under it browsers send `Origin: null` on our
        // own form posts, which the CSRF origin check must then refuse.
        (header::REFERRER_POLICY, "same-origin"),
        // For browsers that predate frame-ancestors.
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// The CORS layer for the configured origins, `None` when CORS is off.
pub fn cors(access: &Access) -> Option<CorsLayer> {
    if access.cors_origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(access.cors_origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("idempotency-key")])
            .expose_headers([header::LOCATION, header::RETRY_AFTER, header::WWW_AUTHENTICATE])
            .max_age(Duration::from_secs(600)),
    )
}
