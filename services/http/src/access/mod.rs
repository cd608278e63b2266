//! Who may call what: every route's door, the sessions of the browser
//! pages, and the headers every response carries.
//!
//! - [`doors`]: deny by default. A route is registered through
//!   [`doors::DoorRouter`], which takes the role it requires, or is
//!   public, and then only if it is on the one explicit [`doors::PUBLIC`]
//!   list. One middleware enforces the resulting table; a route that is
//!   somehow in the router without a door is refused to everyone.
//! - [`session`]: where a request's token comes from (an
//!   `Authorization: Bearer` header, from a client or an authenticating
//!   proxy, or the session cookie the sign-in page sets) and the CSRF
//!   check for state-changing requests a cookie authenticates.
//! - [`sign_in`]: the sign-in and sign-out pages; [`oidc`]: the optional
//!   redirect to an OpenID Connect provider (authorization code + PKCE).
//! - [`headers`]: the Content-Security-Policy and the other security
//!   headers of every response, and CORS (off unless origins are listed).
//!
//! Tokens themselves (signatures, claims, roles) are `masthead-auth`'s.

pub mod doors;
pub mod headers;
pub mod oidc;
pub mod session;
pub mod sign_in;

use axum::http::HeaderValue;
use masthead_auth::Authenticator;
use std::sync::Arc;

/// The access settings of one API process.
pub struct Access {
    pub authenticator: Arc<Authenticator>,
    /// Origins whose browser scripts may call the API (CORS); empty: none.
    pub cors_origins: Vec<HeaderValue>,
    /// `scheme://host[:port]` the public reaches this service at, when a
    /// proxy stands in front (`MASTHEAD_PUBLIC_URL`). Origin checks accept
    /// it, an `https` one makes cookies `Secure`, and OIDC redirects back
    /// to it.
    pub public_origin: Option<String>,
    /// Whether this listener serves `/metrics` (no separate operations
    /// listener is configured).
    pub metrics_here: bool,
    /// Sign-in through an OpenID Connect provider, when configured.
    pub oidc: Option<oidc::Oidc>,
}

impl Access {
    /// Access with tokens checked by `authenticator` and nothing else
    /// configured: no CORS, no proxy, `/metrics` on this listener.
    pub fn new(authenticator: Arc<Authenticator>) -> Self {
        Self { authenticator, cors_origins: Vec::new(), public_origin: None, metrics_here: true, oidc: None }
    }
}

/// Checks `MASTHEAD_CORS_ALLOWED_ORIGINS`-style entries: each an origin
/// (`https://host[:port]`), no path, no wildcard.
pub fn parse_origins(list: &str) -> Result<Vec<HeaderValue>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|origin| {
            let (scheme, rest) = origin.split_once("://").ok_or_else(|| format!("{origin:?} has no scheme"))?;
            let valid_host = !rest.is_empty() && !rest.contains(['/', '*', '?', '#', ' ']);
            if !matches!(scheme, "http" | "https") || !valid_host {
                return Err(format!(
                    "{origin:?} is not an origin such as https://app.example.org (no path, no wildcard)"
                ));
            }
            HeaderValue::from_str(origin).map_err(|_| format!("{origin:?} is not a valid header value"))
        })
        .collect()
}

/// The origin (`scheme://host[:port]`) of a `MASTHEAD_PUBLIC_URL`.
pub fn origin_of(url: &str) -> Result<String, String> {
    let invalid = || format!("{url:?} is not an http(s) URL such as https://masthead.example.org");
    let (scheme, rest) = url.trim().split_once("://").ok_or_else(invalid)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if !matches!(scheme, "http" | "https") || host.is_empty() || host.contains('@') {
        return Err(invalid());
    }
    Ok(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked() {
        let ok = parse_origins(" https://a.example , http://localhost:3000,").expect("valid");
        assert_eq!(ok, vec!["https://a.example", "http://localhost:3000"]);
        for bad in ["*", "https://*.example", "https://a.example/path", "a.example", "ftp://a.example"] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
        assert!(parse_origins("").expect("empty").is_empty());
    }

    #[test]
    fn the_public_origin_drops_the_path() {
        assert_eq!(origin_of("https://Masthead.example/app/").as_deref(), Ok("https://masthead.example"));
        assert_eq!(origin_of("http://127.0.0.1:8080").as_deref(), Ok("http://127.0.0.1:8080"));
        assert!(origin_of("masthead.example").is_err());
        assert!(origin_of("https://user@evil.example").is_err());
    }
}
