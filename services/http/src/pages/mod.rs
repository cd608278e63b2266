//! The HTML pages: the subscriber's form and status page (`subscriber`),
//! the double opt-in page (`opt_in`)
//! the operations dashboard (`dashboard`) and the address team's pages
//! (`curate`). Pages are rendered from the
//! askama templates in `templates/`, which escape every value; their
//! scripts and styles are files in `assets/`, served here.

pub mod curate;
pub mod dashboard;
pub mod opt_in;
pub mod subscriber;

use crate::access::doors::DoorRouter;
use crate::SharedState;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use masthead_auth::Role;
use utoipa_axum::routes;

pub fn routes() -> DoorRouter<SharedState> {
    DoorRouter::new()
        .public(routes!(subscriber::form_page))
        .public(routes!(subscriber::submit_form))
        .public(routes!(subscriber::status_page))
        .role(Role::Viewer, routes!(dashboard::dashboard))
        // The address team's pages.
        .role(Role::Curator, routes!(curate::search_page))
        .role(Role::Curator, routes!(curate::address_page))
        .role(Role::Curator, routes!(curate::review_queue_page))
        .role(Role::Curator, routes!(curate::review_item_page))
        // The subscriber's own link from the opt-in mail: its signature is
        // the credential.
        .public(routes!(opt_in::confirm_page, opt_in::confirm))
}

/// The pages' scripts and styles, compiled into the binary.
const ASSETS: &[(&str, &str, &str)] = &[
    ("style.css", "text/css; charset=utf-8", include_str!("../../assets/style.css")),
    ("status.js", "text/javascript; charset=utf-8", include_str!("../../assets/status.js")),
    ("dashboard.css", "text/css; charset=utf-8", include_str!("../../assets/dashboard.css")),
    ("dashboard.js", "text/javascript; charset=utf-8", include_str!("../../assets/dashboard.js")),
    ("curate.css", "text/css; charset=utf-8", include_str!("../../assets/curate.css")),
    ("curate.js", "text/javascript; charset=utf-8", include_str!("../../assets/curate.js")),
];

/// The route of [`assets`], on the public list.
pub const ASSETS_ROUTE: &str = "/assets/{file}";

/// `/assets/<file>`: the files pages load. Not part of the API document.
pub fn assets<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let serve = |Path(file): Path<String>| async move {
        match ASSETS.iter().find(|(name, _, _)| *name == file) {
            Some((_, content_type, body)) => {
                ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "no-cache")], *body).into_response()
            }
            None => crate::error::ApiError::not_found("asset").into_response(),
        }
    };
    Router::new().route(ASSETS_ROUTE, get(serve))
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

/// Who is signed in on a staff page (the token's subject), and the CSRF
/// token its forms and script send when the session is a cookie.
pub(crate) struct StaffSession {
    pub who: Option<String>,
    pub csrf: Option<String>,
    /// The CSRF cookie, when this request had none yet.
    set_cookie: Option<header::HeaderValue>,
}

impl StaffSession {
    pub fn new(state: &SharedState, headers: &header::HeaderMap, principal: masthead_auth::Principal) -> Self {
        use crate::access::session;
        let by_cookie =
            session::bearer(headers).is_none() && session::cookie(headers, session::SESSION_COOKIE).is_some();
        // A session started at the identity provider may not have visited
        // the sign-in page, which sets the CSRF cookie: set it here then.
        let (csrf, set_cookie) = match by_cookie {
            true => {
                let (token, set_cookie) = session::csrf_token(&state.access, headers);
                (Some(token), set_cookie)
            }
            false => (None, None),
        };
        Self { who: principal.subject, csrf, set_cookie }
    }

    /// Renders a staff page: never served from a cache, with the CSRF
    /// cookie when it was just made.
    pub fn page(self, template: &impl askama::Template) -> axum::response::Response {
        let mut response = render(template).into_response();
        let h = response.headers_mut();
        h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-cache"));
        if let Some(cookie) = self.set_cookie {
            h.append(header::SET_COOKIE, cookie);
        }
        response
    }
}
