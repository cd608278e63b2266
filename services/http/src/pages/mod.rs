//! The HTML pages: the subscriber's form and status page (`subscriber`)
//! and the operations dashboard (`dashboard`). Pages are rendered from the
//! askama templates in `templates/`, which escape every value; their
//! scripts and styles are files in `assets/`, served here.

pub mod dashboard;
pub mod opt_in;
pub mod subscriber;

use crate::SharedState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn routes() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(subscriber::form_page))
        .routes(routes!(subscriber::submit_form))
        .routes(routes!(subscriber::status_page))
        .routes(routes!(dashboard::dashboard))
        .routes(routes!(opt_in::confirm_page, opt_in::confirm))
}

/// The pages' scripts and styles, compiled into the binary.
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", "text/css; charset=utf-8", include_str!("../../assets/style.css")),
    ("status.js", "text/javascript; charset=utf-8", include_str!("../../assets/status.js")),
    ("dashboard.css", "text/css; charset=utf-8", include_str!("../../assets/dashboard.css")),
    ("dashboard.js", "text/javascript; charset=utf-8", include_str!("../../assets/dashboard.js")),
];

/// `/assets/<file>`: the files pages load. Not part of the API document.
pub fn assets<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new();
    for (name, content_type, body) in ASSETS {
        let serve = move || async move {
            ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "no-cache")], *body)
        };
        router = router.route(&format!("/assets/{name}"), get(serve));
    }
    router
}

/// Renders a template, or answers 500 (logged) if rendering fails, which
/// only a bug in a template can cause.
pub(crate) fn render(template: &impl askama::Template) -> axum::response::Response {
    match template.render() {
        Ok(html) => axum::response::Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            crate::error::ApiError::internal().into_response()
        }
    }
}
