//! Sign-in through the organisation's OpenID Connect provider, when one is
//! configured (`MASTHEAD_AUTH_OIDC_CLIENT_ID` with `MASTHEAD_AUTH_ISSUER`
//! and `MASTHEAD_PUBLIC_URL`): the authorization code flow with PKCE
//! (S256), done by the `oauth2` crate.
//!
//! 1. `GET /sign-in/oidc` finds the provider's endpoints (discovery, once),
//!    keeps a random `state` and the PKCE verifier in a short-lived
//!    `HttpOnly` cookie (`SameSite=Lax`: it must come back on the
//!    provider's redirect, a navigation from another site), and sends the
//!    browser to the provider.
//! 2. `GET /sign-in/callback` checks `state`, exchanges the code with the
//!    verifier, and keeps as the session the first of the returned access
//!    and ID tokens that the ordinary validator accepts with a role (the
//!    JWKS, issuer and audience settings apply to it as to any bearer
//!    token). The answer is a page that moves on by itself: a
//!    `SameSite=Strict` cookie set during a chain of redirects that another
//!    site started is not sent until the browser navigates from our own
//!    page.

use super::doors::DoorRouter;
use super::session;
use super::sign_in::{local_path, DEFAULT_NEXT};
use super::Access;
use crate::pages::render;
use crate::SharedState;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cookie::{Cookie, SameSite};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;
use utoipa_axum::routes;

/// The cookie carrying one sign-in attempt's state and PKCE verifier.
const FLOW_COOKIE: &str = "masthead_oidc";
/// How long a sign-in at the provider may take.
const FLOW_SECONDS: i64 = 600;
/// How long one request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
pub const CALLBACK_PATH: &str = "/sign-in/callback";

pub fn routes() -> DoorRouter<SharedState> {
    DoorRouter::new().public(routes!(start)).public(routes!(callback))
}

/// The `MASTHEAD_AUTH_OIDC_*` settings.
#[derive(Clone)]
pub struct OidcSettings {
    /// The provider's issuer URL (`MASTHEAD_AUTH_ISSUER`); discovery reads
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// Absent for a public client (PKCE alone).
    pub client_secret: Option<String>,
    /// `MASTHEAD_PUBLIC_URL` (the provider sends the browser back to its
    /// `/sign-in/callback`).
    pub public_url: String,
    pub scopes: Vec<String>,
}

/// A setting or an answer of the provider that sign-in cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// A URL setting is not a URL: refuse to start, naming it.
    #[error("{0}")]
    Setting(String),
    /// The HTTP client could not be built (TLS set-up): refuse to start.
    #[error("building the HTTP client for the OpenID Connect provider")]
    Client(#[source] reqwest::Error),
    /// Discovery failed or its document is unusable: the sign-in page says
    /// the provider is unavailable, and the next attempt tries again.
    #[error("OpenID Connect discovery at {url} failed: {reason}")]
    Discovery { url: String, reason: String },
}

/// The provider's endpoints, from its discovery document.
struct Endpoints {
    authorization: AuthUrl,
    token: TokenUrl,
}

/// The configured provider.
pub struct Oidc {
    settings: OidcSettings,
    redirect: RedirectUrl,
    http: reqwest::Client,
    endpoints: OnceCell<Endpoints>,
}

/// The ID token beside the access token in the token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdToken {
    id_token: Option<String>,
}
impl ExtraTokenFields for IdToken {}

type Client = oauth2::Client<
    BasicErrorResponse,
    StandardTokenResponse<IdToken, BasicTokenType>,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

impl Oidc {
    pub fn new(settings: OidcSettings) -> Result<Self, OidcError> {
        let callback = format!("{}{CALLBACK_PATH}", settings.public_url.trim_end_matches('/'));
        let redirect = RedirectUrl::new(callback)
            .map_err(|_| OidcError::Setting(format!("MASTHEAD_PUBLIC_URL {:?} is not a URL", settings.public_url)))?;
        // Never follow a redirect: the provider's endpoints answer directly.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(OidcError::Client)?;
        Ok(Self { settings, redirect, http, endpoints: OnceCell::new() })
    }

    /// The endpoints, discovered on first use (and retried until that works).
    async fn endpoints(&self) -> Result<&Endpoints, OidcError> {
        self.endpoints.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Endpoints, OidcError> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            authorization_endpoint: String,
            token_endpoint: String,
        }
        let issuer = self.settings.issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let failed = |reason: String| OidcError::Discovery { url: url.clone(), reason };
        let response = self.http.get(&url).send().await.and_then(reqwest::Response::error_for_status);
        let document: Discovery =
            response.map_err(|e| failed(e.to_string()))?.json().await.map_err(|e| failed(e.to_string()))?;
        // OpenID Connect Discovery 1.0, section 4.3: the document must be
        // the configured issuer's own.
        if document.issuer.trim_end_matches('/') != issuer {
            return Err(failed(format!("it names issuer {:?}", document.issuer)));
        }
        Ok(Endpoints {
            authorization: AuthUrl::new(document.authorization_endpoint).map_err(|e| failed(e.to_string()))?,
            token: TokenUrl::new(document.token_endpoint).map_err(|e| failed(e.to_string()))?,
        })
    }

    fn client(&self, endpoints: &Endpoints) -> Client {
        let client = oauth2::Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_auth_uri(endpoints.authorization.clone())
            .set_token_uri(endpoints.token.clone())
            .set_redirect_uri(self.redirect.clone());
        match &self.settings.client_secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.clone())),
            None => client,
        }
    }
}

/// Sends `request` with our reqwest client (oauth2's own would pull in a
/// second HTTP stack). Takes the client by value so the future owns all it
/// uses, as the token exchange's `Send` bound needs.
async fn send(http: reqwest::Client, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let (status, headers) = (response.status(), response.headers().clone());
    let mut answer = oauth2::HttpResponse::new(response.bytes().await?.to_vec());
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// One sign-in attempt, kept in the flow cookie.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    verifier: String,
    next: String,
}

fn flow_cookie(value: String, seconds: i64, secure: bool) -> HeaderValue {
    let cookie = Cookie::build((FLOW_COOKIE, value))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .path(CALLBACK_PATH)
        .max_age(cookie::time::Duration::seconds(seconds))
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "signed_in.html")]
struct SignedIn<'a> {
    next: &'a str,
}

/// Problems are shown on the sign-in page; its own handler renders it.
fn problem(access: &Access, headers: &HeaderMap, status: StatusCode, next: &str, text: &str) -> Response {
    super::sign_in::page(access, headers, status, next, Some(text))
}

/// Sends the browser to the OpenID Connect provider (when configured).
#[utoipa::path(
    get,
    path = "/sign-in/oidc",
    tag = "pages",
    params(("next" = Option<String>, Query, description = "The page to return to afterwards")),
    responses(
        (status = 303, description = "To the provider's authorization endpoint, with PKCE"),
        (status = 404, description = "No OpenID Connect provider is configured", body = crate::error::ErrorBody),
        (status = 503, description = "The provider cannot be reached", content_type = "text/html"),
    )
)]
pub async fn start(State(state): State<SharedState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let access = &state.access;
    let Some(oidc) = &access.oidc else {
        return crate::error::ApiError::not_found("OpenID Connect sign-in").into_response();
    };
    let query: Option<StartQuery> = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).ok();
    let next = local_path(query.as_ref().and_then(|q| q.next.as_deref())).to_owned();
    let endpoints = match oidc.endpoints().await {
        Ok(endpoints) => endpoints,
        Err(e) => {
            tracing::warn!(error = %e, "OpenID Connect sign-in is unavailable");
            let text = "The identity provider cannot be reached just now. Please try again shortly.";
            return problem(access, &headers, StatusCode::SERVICE_UNAVAILABLE, &next, text);
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let scopes = oidc.settings.scopes.iter().map(|s| Scope::new(s.clone()));
    let (url, csrf) = oidc
        .client(endpoints)
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes)
        .set_pkce_challenge(challenge)
        .url();
    let flow = Flow { state: csrf.secret().clone(), verifier: verifier.secret().clone(), next };
    let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&flow).unwrap_or_default());
    let mut response = Redirect::to(url.as_str()).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, flow_cookie(value, FLOW_SECONDS, session::secure(access, &headers)));
    response
}

/// What the provider sends back.
#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Where the provider sends the browser back: exchanges the code and
/// starts the session.
#[utoipa::path(
    get,
    path = "/sign-in/callback",
    tag = "pages",
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The state sent to the provider"),
    ),
    responses(
        (status = 200, description = "Signed in: the session cookie is set and the page moves on to where sign-in began", content_type = "text/html"),
        (status = 401, description = "The provider refused, or its tokens are not accepted here", content_type = "text/html"),
        (status = 403, description = "No sign-in was started in this browser, or its state does not match", content_type = "text/html"),
    )
)]
pub async fn callback(State(state): State<SharedState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let access = &state.access;
    let Some(oidc) = &access.oidc else {
        return crate::error::ApiError::not_found("OpenID Connect sign-in").into_response();
    };
    let flow: Option<Flow> = session::cookie(&headers, FLOW_COOKIE)
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let query: Option<CallbackQuery> = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).ok();
    let (Some(flow), Some(query)) = (flow, query) else {
        let text = "This sign-in was not started in this browser, or took too long. Please start again.";
        return problem(access, &headers, StatusCode::FORBIDDEN, DEFAULT_NEXT, text);
    };
    let state_matches = query.state.as_deref().is_some_and(|s| bool::from(s.as_bytes().ct_eq(flow.state.as_bytes())));
    let outcome = match (&query.error, &query.code, state_matches) {
        (_, _, false) => Err((StatusCode::FORBIDDEN, "The sign-in answer does not belong to this browser's sign-in.")),
        (Some(_), _, true) | (None, None, true) => {
            Err((StatusCode::UNAUTHORIZED, "The identity provider did not sign you in."))
        }
        (None, Some(code), true) => exchange(access, oidc, code, flow.verifier).await,
    };
    let secure = session::secure(access, &headers);
    let mut response = match outcome {
        Ok((token, principal)) => {
            let mut page = render(&SignedIn { next: &flow.next }).into_response();
            let seconds = principal.expires_at.saturating_sub(super::sign_in::now());
            page.headers_mut().append(header::SET_COOKIE, session::session_cookie(&token, seconds, secure));
            page
        }
        Err((status, text)) => problem(access, &headers, status, &flow.next, text),
    };
    // One attempt, one use.
    response.headers_mut().append(header::SET_COOKIE, flow_cookie(String::new(), 0, secure));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Exchanges the code; the session keeps the access token when it is a
/// token we accept with a role, else the ID token.
async fn exchange(
    access: &Access,
    oidc: &Oidc,
    code: &str,
    verifier: String,
) -> Result<(String, masthead_auth::Principal), (StatusCode, &'static str)> {
    let unavailable = (StatusCode::SERVICE_UNAVAILABLE, "The identity provider cannot be reached just now.");
    let endpoints = oidc.endpoints().await.map_err(|_| unavailable)?;
    let http = oidc.http.clone();
    let send = move |request| send(http.clone(), request);
    let tokens = oidc
        .client(endpoints)
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&send)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "the OpenID Connect code exchange failed");
            (StatusCode::UNAUTHORIZED, "The identity provider did not confirm the sign-in.")
        })?;
    let candidates = [Some(tokens.access_token().secret().clone()), tokens.extra_fields().id_token.clone()];
    for token in candidates.into_iter().flatten() {
        match access.authenticator.authenticate(&token).await {
            Ok(principal) if !principal.roles.is_empty() => return Ok((token, principal)),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "a token from the provider is not accepted"),
        }
    }
    Err((
        StatusCode::UNAUTHORIZED,
        "You signed in, but your account has none of Masthead's roles here (or the provider's tokens do not match MASTHEAD_AUTH_JWKS_URL, _ISSUER and _AUDIENCE).",
    ))
}
