//! Deny by default: every route has a door, and the door is declared where
//! the route is registered.
//!
//! Routes are added through [`DoorRouter`], whose only ways in are
//! [`DoorRouter::role`] (a token with that role, or one that includes
//! it), [`DoorRouter::public`] (anyone, and only for routes on
//! [`PUBLIC`], the one explicit list; anything else panics while the
//! router is built, so every test that starts the API catches it) and
//! [`DoorRouter::operations`] (`/metrics`). The declarations become one
//! [`DoorTable`], which [`enforce`] consults for every request that
//! matched a route. A route that reached the router some other way has no
//! entry and is refused to everyone.
//!
//! Refusals are JSON: `401` with `WWW-Authenticate: Bearer` without a
//! (valid) token, `403` with one that lacks the role. A browser asking
//! for a page (`Accept: text/html`) is sent to the sign-in page instead.

use super::session::{self, Authenticated, Refusal};
use super::Access;
use crate::error::ApiError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use masthead_auth::Role;
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};

/// Every route anyone may call, and nothing else. Adding a line here is
/// the one way to open a route to the public.
pub const PUBLIC: &[(&str, &str)] = &[
    // The subscriber's side: the form, the intake, and their own
    // subscription by its unguessable id.
    ("GET", "/"),
    ("POST", "/subscribe"),
    ("GET", "/status/{id}"),
    ("POST", "/api/v1/subscriptions"),
    ("GET", "/api/v1/subscriptions/{id}"),
    // Double opt-in: the link in the subscriber's mail and its button; the
    // link's signature is the credential.
    ("GET", "/confirm/{id}"),
    ("POST", "/confirm/{id}"),
    // Probes.
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    // The API's documentation, and the scripts and styles pages load.
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/docs"),
    ("GET", "/api/docs/"),
    ("GET", "/api/docs/{*rest}"),
    ("GET", "/assets/{file}"),
    // Signing in and out (CSRF-checked, see `sign_in`).
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("POST", "/sign-out"),
    ("GET", "/sign-in/oidc"),
    ("GET", "/sign-in/callback"),
];

/// Served without a token, but only where operators expose them: on the
/// operations listener (`MASTHEAD_OPS_ADDR`), or on the one listener when
/// there is no other. They carry no personal data.
pub const OPERATIONS: &[(&str, &str)] = &[("GET", "/metrics")];

/// The name of the bearer security scheme in the OpenAPI document.
pub const BEARER_SCHEME: &str = "bearer";

/// Whether `method path` is on [`PUBLIC`].
pub fn is_public(method: &str, path: &str) -> bool {
    PUBLIC.iter().any(|(m, p)| *m == method && *p == path)
}

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// Anyone (routes on [`PUBLIC`] only).
    Public,
    /// Anyone who can reach the operations listener ([`OPERATIONS`]).
    Operations,
    /// A token with this role, or with one that includes it.
    Role(Role),
}

/// What [`DoorTable::lookup`] found for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No token needed; also a method the route lacks (axum answers 405).
    Open,
    Role(Role),
    /// A route nobody declared a door for: refused to everyone.
    Undeclared,
}

/// Each route's door, by its path pattern and method.
#[derive(Debug, Clone, Default)]
pub struct DoorTable {
    doors: HashMap<String, Vec<(Method, Door)>>,
}

impl DoorTable {
    /// Records a door. Panics for a public door not on [`PUBLIC`] (or an
    /// operations door not on [`OPERATIONS`]): a programming error that
    /// must not reach a running server.
    fn declare(&mut self, method: Method, path: &str, door: Door) {
        let listed = match door {
            Door::Public => is_public(method.as_str(), path),
            Door::Operations => OPERATIONS.iter().any(|(m, p)| *m == method.as_str() && *p == path),
            Door::Role(_) => true,
        };
        assert!(
            listed,
            "{method} {path} is declared {door:?} but is not on that list in access::doors: give it a role"
        );
        self.doors.entry(path.to_owned()).or_default().push((method, door));
    }

    /// Declares routes outside the OpenAPI document (the docs, assets) as
    /// public; each must be on [`PUBLIC`].
    pub fn with_public(mut self, routes: &[(&str, &str)]) -> Self {
        for (method, path) in routes {
            let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
            self.declare(method, path, Door::Public);
        }
        self
    }

    pub fn lookup(&self, method: &Method, path: &str) -> Lookup {
        let Some(doors) = self.doors.get(path) else { return Lookup::Undeclared };
        // HEAD is answered by the GET route.
        let method = if method == Method::HEAD { &Method::GET } else { method };
        match doors.iter().find(|(m, _)| m == method).map(|(_, d)| d) {
            Some(Door::Role(role)) => Lookup::Role(*role),
            Some(Door::Public | Door::Operations) | None => Lookup::Open,
        }
    }

    /// Every declared door, sorted by path and method.
    pub fn entries(&self) -> Vec<(Method, String, Door)> {
        let mut all: Vec<_> =
            self.doors.iter().flat_map(|(p, ds)| ds.iter().map(|(m, d)| (m.clone(), p.clone(), *d))).collect();
        all.sort_by(|a, b| (&a.1, a.0.as_str()).cmp(&(&b.1, b.0.as_str())));
        all
    }
}

/// An [`OpenApiRouter`] whose routes can only be added with their door.
pub struct DoorRouter<S> {
    routes: OpenApiRouter<S>,
    table: DoorTable,
}

impl<S: Clone + Send + Sync + 'static> Default for DoorRouter<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> DoorRouter<S> {
    pub fn new() -> Self {
        Self { routes: OpenApiRouter::new(), table: DoorTable::default() }
    }

    /// Routes anyone may call; each must be on [`PUBLIC`].
    pub fn public(self, routes: UtoipaMethodRouter<S>) -> Self {
        self.add(Door::Public, routes)
    }

    /// Routes for tokens with `role` (or a role that includes it).
    pub fn role(self, role: Role, routes: UtoipaMethodRouter<S>) -> Self {
        self.add(Door::Role(role), routes)
    }

    /// Operations routes ([`OPERATIONS`]).
    pub fn operations(self, routes: UtoipaMethodRouter<S>) -> Self {
        self.add(Door::Operations, routes)
    }

    pub fn merge(mut self, other: DoorRouter<S>) -> Self {
        for (path, doors) in other.table.doors {
            self.table.doors.entry(path).or_default().extend(doors);
        }
        Self { routes: self.routes.merge(other.routes), table: self.table }
    }

    /// The routes (with their OpenAPI paths) and the table of their doors.
    pub fn into_parts(self) -> (OpenApiRouter<S>, DoorTable) {
        (self.routes, self.table)
    }

    fn add(mut self, door: Door, (schemas, mut paths, method_router): UtoipaMethodRouter<S>) -> Self {
        for (path, item) in paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                self.table.declare(method, path, door);
                describe(operation, door);
            }
        }
        Self { routes: self.routes.routes((schemas, paths, method_router)), table: self.table }
    }
}

/// The operations of one path, with their methods.
fn operations(item: &mut PathItem) -> Vec<(Method, &mut Operation)> {
    [
        (Method::GET, &mut item.get),
        (Method::POST, &mut item.post),
        (Method::PUT, &mut item.put),
        (Method::PATCH, &mut item.patch),
        (Method::DELETE, &mut item.delete),
        (Method::HEAD, &mut item.head),
        (Method::OPTIONS, &mut item.options),
        (Method::TRACE, &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
    .collect()
}

/// States the door in the OpenAPI document: the security requirement, a
/// sentence, and the 401 and 403 answers.
fn describe(operation: &mut Operation, door: Door) {
    let note = match door {
        Door::Public => return,
        Door::Operations => {
            "Served without a token on the operations listener (`MASTHEAD_OPS_ADDR`), or on this one when none is configured.".to_owned()
        }
        Door::Role(role) => {
            operation.security = Some(vec![SecurityRequirement::new(BEARER_SCHEME, Vec::<String>::new())]);
            let answers = &mut operation.responses.responses;
            answers.entry("401".into()).or_insert_with(|| error_answer("No token, or an invalid or expired one; `WWW-Authenticate: Bearer`"));
            answers.entry("403".into()).or_insert_with(|| error_answer("The token lacks the role"));
            format!("**Door:** a bearer token (or a sign-in session) with the `{role}` role, or one that includes it.")
        }
    };
    operation.description = Some(match operation.description.take() {
        Some(text) => format!("{text}\n\n{note}"),
        None => note,
    });
}

fn error_answer(description: &str) -> RefOr<utoipa::openapi::Response> {
    let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
    RefOr::T(ResponseBuilder::new().description(description).content("application/json", body).build())
}

/// What [`enforce`] needs: the table and how to check tokens.
pub struct Gate {
    pub table: DoorTable,
    pub access: Arc<Access>,
}

/// The middleware: lets a request through its route's door, or refuses it.
/// On the way through, the caller's [`masthead_auth::Principal`] is left
/// in the request's extensions.
pub async fn enforce(State(gate): State<Arc<Gate>>, mut request: Request, next: Next) -> Response {
    let required = match request.extensions().get::<MatchedPath>() {
        // Matched no route: the JSON 404.
        None => return next.run(request).await,
        Some(route) => match gate.table.lookup(request.method(), route.as_str()) {
            Lookup::Open => return next.run(request).await,
            Lookup::Role(role) => Some(role),
            Lookup::Undeclared => {
                tracing::error!(route = route.as_str(), "refusing a route that was added without a door");
                None
            }
        },
    };
    let wants_page = wants_page(&request);
    let Authenticated { principal, by_cookie } = match session::authenticate(&gate.access, request.headers()).await {
        Ok(who) => who,
        Err(refusal) => return refuse(refusal, wants_page, &request),
    };
    if by_cookie && !is_safe(request.method()) && !session::csrf_header_ok(&gate.access, request.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "a request authenticated by the session cookie must come from this site and carry the X-CSRF-Token header",
        )
        .into_response();
    }
    match required {
        Some(role) if principal.may(role) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Some(role) => forbidden(&format!("this needs the {role} role, or one that includes it")),
        None => forbidden("this route has no door; nobody may use it"),
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A browser navigating to a page, which should see the sign-in page
/// rather than a JSON 401.
fn wants_page(request: &Request) -> bool {
    let html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    html && matches!(*request.method(), Method::GET | Method::HEAD)
}

fn refuse(refusal: Refusal, wants_page: bool, request: &Request) -> Response {
    if wants_page && !matches!(refusal, Refusal::Unavailable(_)) {
        let back = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
        let query = serde_urlencoded::to_string([("next", back)]).unwrap_or_default();
        return Redirect::to(&format!("/sign-in?{query}")).into_response();
    }
    let (error, challenge) = match refusal {
        Refusal::Anonymous => (
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this endpoint needs a bearer token with a role (see /sign-in, or `masthead token issue`)",
            ),
            r#"Bearer realm="masthead""#.to_owned(),
        ),
        Refusal::Invalid(e) => {
            let message = e.to_string();
            let challenge = format!(r#"Bearer realm="masthead", error="invalid_token", error_description="{message}""#);
            (ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", message), challenge)
        }
        Refusal::Unavailable(e) => {
            tracing::warn!(error = %e, "cannot check a token: the identity provider's keys are unavailable");
            let mut error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "identity_provider_unavailable",
                "the identity provider's signing keys cannot be fetched; retry shortly",
            );
            error.retry_after = Some(5);
            return error.into_response();
        }
    };
    let mut response = error.into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

fn forbidden(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="masthead", error="insufficient_scope""#),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::session::{CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE};
    use axum::body::Body;
    use axum::routing::{get, post};
    use masthead_auth::local::{TokenIssuer, TokenRequest};
    use masthead_auth::{AuthSettings, Authenticator};
    use std::time::Duration;
    use tower::ServiceExt;

    const SECRET: &str = "unit-test-secret-of-at-least-32-bytes";

    /// A router with a declared POST route for viewers and a route that was
    /// added without a door, behind [`enforce`].
    fn app() -> axum::Router {
        let settings = AuthSettings { hs256_secret: Some(SECRET.into()), ..AuthSettings::default() };
        let access = Arc::new(Access::new(Arc::new(Authenticator::new(&settings).expect("authenticator"))));
        let mut table = DoorTable::default();
        table.declare(Method::POST, "/change", Door::Role(Role::Viewer));
        let gate = Arc::new(Gate { table, access });
        axum::Router::new()
            .route("/change", post(|| async { "changed" }))
            .route("/sneaked-in", get(|| async { "secret" }))
            .layer(axum::middleware::from_fn_with_state(gate, enforce))
    }

    fn token() -> String {
        let issuer = TokenIssuer::new(SECRET, None, None, "roles").expect("issuer");
        let request = TokenRequest { subject: "t", roles: &[Role::Admin], ttl: Duration::from_secs(600) };
        issuer.issue(&request).expect("token")
    }

    async fn status(request: axum::http::Request<Body>) -> StatusCode {
        app().oneshot(request).await.expect("infallible").status()
    }

    #[tokio::test]
    async fn a_route_added_without_a_door_is_refused_even_with_the_highest_role() {
        let request = |auth: Option<String>| {
            let builder = axum::http::Request::get("/sneaked-in");
            let builder = match auth {
                Some(token) => builder.header(header::AUTHORIZATION, format!("Bearer {token}")),
                None => builder,
            };
            builder.body(Body::empty()).expect("request")
        };
        assert_eq!(status(request(None)).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(request(Some(token()))).await, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn a_state_change_by_cookie_needs_this_sites_origin_and_the_csrf_token() {
        let csrf = "c".repeat(64);
        let cookies = format!("{SESSION_COOKIE}={}; {CSRF_COOKIE}={csrf}", token());
        let request = |origin: &str, presented: Option<&str>| {
            let builder = axum::http::Request::post("/change")
                .header(header::HOST, "masthead.test")
                .header(header::ORIGIN, origin)
                .header(header::COOKIE, &cookies);
            let builder = match presented {
                Some(t) => builder.header(CSRF_HEADER, t),
                None => builder,
            };
            builder.body(Body::empty()).expect("request")
        };
        assert_eq!(status(request("http://masthead.test", Some(&csrf))).await, StatusCode::OK);
        assert_eq!(status(request("http://masthead.test", None)).await, StatusCode::FORBIDDEN);
        assert_eq!(status(request("http://masthead.test", Some(&"d".repeat(64)))).await, StatusCode::FORBIDDEN);
        assert_eq!(status(request("https://evil.example", Some(&csrf))).await, StatusCode::FORBIDDEN);
        // A bearer token is no ambient credential: no CSRF token needed.
        let bearer = axum::http::Request::post("/change")
            .header(header::AUTHORIZATION, format!("Bearer {}", token()))
            .body(Body::empty())
            .expect("request");
        assert_eq!(status(bearer).await, StatusCode::OK);
    }

    #[test]
    #[should_panic(expected = "is not on that list")]
    fn a_public_route_must_be_on_the_list() {
        DoorTable::default().with_public(&[("GET", "/api/v1/everything")]);
    }

    #[test]
    fn lookups_follow_the_declarations() {
        let mut table = DoorTable::default().with_public(&[("POST", "/api/v1/subscriptions")]);
        table.declare(Method::GET, "/api/v1/subscriptions", Door::Role(Role::Viewer));
        assert_eq!(table.lookup(&Method::POST, "/api/v1/subscriptions"), Lookup::Open);
        assert_eq!(table.lookup(&Method::GET, "/api/v1/subscriptions"), Lookup::Role(Role::Viewer));
        assert_eq!(table.lookup(&Method::HEAD, "/api/v1/subscriptions"), Lookup::Role(Role::Viewer));
        assert_eq!(table.lookup(&Method::DELETE, "/api/v1/subscriptions"), Lookup::Open, "axum's 405");
        assert_eq!(table.lookup(&Method::GET, "/secret"), Lookup::Undeclared);
    }
}
