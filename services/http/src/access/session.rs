//! Where a request's token comes from, and the cookies of a browser
//! session.
//!
//! A token arrives either in `Authorization: Bearer …` (API clients, and
//! an authenticating proxy such as oauth2-proxy that forwards the user's
//! token) or in the session cookie the sign-in page sets. The header wins
//! when both are present.
//!
//! The session cookie holds the token itself, `HttpOnly` (no script reads
//! it), `SameSite=Strict` (no other site's page sends it), `Secure` when
//! the public reaches us over HTTPS, and lives no longer than the token.
//! Because a browser sends cookies on its own, state-changing requests a
//! cookie authenticates must also prove they come from our own pages: the
//! `Origin` header must be this site's, and the request must carry the
//! CSRF token (header `X-CSRF-Token`, or the form field `csrf_token`)
//! equal to the `masthead_csrf` cookie, which only our pages can read
//! (they render it server-side).

use super::Access;
use axum::http::{header, HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};
use masthead_auth::{AuthError, Principal};
use rand::RngCore;
use subtle::ConstantTimeEq;

pub const SESSION_COOKIE: &str = "masthead_session";
pub const CSRF_COOKIE: &str = "masthead_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";

/// A caller whose token was valid.
pub struct Authenticated {
    pub principal: Principal,
    /// The token came from the session cookie (so CSRF rules apply).
    pub by_cookie: bool,
}

/// Why a request was not authenticated.
pub enum Refusal {
    /// No token at all.
    Anonymous,
    /// A token that is not valid (the caller's problem).
    Invalid(AuthError),
    /// A token that could not be checked (the provider's problem).
    Unavailable(AuthError),
}

/// The token in `Authorization: Bearer …`, if the header is a bearer one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name && !c.value().is_empty())
        .map(|c| c.value().to_owned())
}

/// Who the request's token says the caller is.
pub async fn authenticate(access: &Access, headers: &HeaderMap) -> Result<Authenticated, Refusal> {
    let (token, by_cookie) = match (bearer(headers), cookie(headers, SESSION_COOKIE)) {
        (Some(token), _) => (token.to_owned(), false),
        (None, Some(token)) => (token, true),
        (None, None) => return Err(Refusal::Anonymous),
    };
    match access.authenticator.authenticate(&token).await {
        Ok(principal) => Ok(Authenticated { principal, by_cookie }),
        Err(e) if e.is_callers() => Err(Refusal::Invalid(e)),
        Err(e) => Err(Refusal::Unavailable(e)),
    }
}

/// The origins this site is reached at: the configured public one, and
/// the one the request itself names (`Host`, with `X-Forwarded-Proto`).
fn own_origins(access: &Access, headers: &HeaderMap) -> Vec<String> {
    let mut origins: Vec<String> = access.public_origin.iter().cloned().collect();
    if let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
        let scheme = if forwarded_https(headers) { "https" } else { "http" };
        origins.push(format!("{scheme}://{}", host.to_ascii_lowercase()));
    }
    origins
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Whether the request comes from one of this site's own pages: its
/// `Origin` (or, lacking one, its `Referer`) is this site.
pub fn same_origin(access: &Access, headers: &HeaderMap) -> bool {
    let origin = match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) => origin.to_ascii_lowercase(),
        None => match headers.get(header::REFERER).and_then(|v| v.to_str().ok()).and_then(|r| super::origin_of(r).ok())
        {
            Some(origin) => origin,
            None => return false,
        },
    };
    own_origins(access, headers).contains(&origin)
}

/// Whether `presented` equals the CSRF cookie (in constant time).
pub fn csrf_matches(headers: &HeaderMap, presented: Option<&str>) -> bool {
    match (cookie(headers, CSRF_COOKIE), presented) {
        (Some(expected), Some(presented)) if expected.len() >= 32 => {
            bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    }
}

/// The CSRF rule for requests that are not forms: same origin, and the
/// token in the `X-CSRF-Token` header.
pub fn csrf_header_ok(access: &Access, headers: &HeaderMap) -> bool {
    let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    same_origin(access, headers) && csrf_matches(headers, presented)
}

/// Whether cookies must be `Secure`: the public reaches us over HTTPS.
pub fn secure(access: &Access, headers: &HeaderMap) -> bool {
    access.public_origin.as_deref().is_some_and(|o| o.starts_with("https://")) || forwarded_https(headers)
}

fn set_cookie(cookie: Cookie<'_>) -> HeaderValue {
    // Names and values are ours (a JWT, hex), always valid header text.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn base<'a>(name: &'a str, value: String, secure: bool) -> cookie::CookieBuilder<'a> {
    Cookie::build((name, value)).http_only(true).secure(secure).same_site(SameSite::Strict).path("/")
}

/// `Set-Cookie` for a session holding `token` for `seconds`.
pub fn session_cookie(token: &str, seconds: u64, secure: bool) -> HeaderValue {
    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
    set_cookie(base(SESSION_COOKIE, token.to_owned(), secure).max_age(cookie::time::Duration::seconds(seconds)).build())
}

/// `Set-Cookie` that ends the session.
pub fn end_session_cookie(secure: bool) -> HeaderValue {
    set_cookie(base(SESSION_COOKIE, String::new(), secure).max_age(cookie::time::Duration::ZERO).build())
}

/// The request's CSRF token, or a new one with the `Set-Cookie` that
/// stores it (for the browser's session).
pub fn csrf_token(access: &Access, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(existing) = cookie(headers, CSRF_COOKIE).filter(|c| c.len() >= 32) {
        return (existing, None);
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let cookie = set_cookie(base(CSRF_COOKIE, token.clone(), secure(access, headers)).build());
    (token, Some(cookie))
}

#[cfg(test)]
mod tests {
    use super::*;
    use masthead_auth::{AuthSettings, Authenticator};
    use std::sync::Arc;

    fn access(public: Option<&str>) -> Access {
        let settings = AuthSettings { hs256_secret: Some("x".repeat(32)), ..AuthSettings::default() };
        let mut access = Access::new(Arc::new(Authenticator::new(&settings).expect("auth")));
        access.public_origin = public.map(str::to_owned);
        access
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn bearer_tokens_and_cookies_are_found() {
        let h = headers(&[("authorization", "bearer abc.def.ghi"), ("cookie", "a=1; masthead_session=tok")]);
        assert_eq!(bearer(&h), Some("abc.def.ghi"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(bearer(&headers(&[("authorization", "Basic dXNlcg==")])), None);
        assert_eq!(bearer(&headers(&[("authorization", "Bearer ")])), None);
    }

    #[test]
    fn only_this_sites_origin_passes() {
        let a = access(None);
        assert!(same_origin(&a, &headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")])));
        assert!(!same_origin(&a, &headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")])));
        assert!(!same_origin(&a, &headers(&[("host", "127.0.0.1:8080")])), "no Origin, no Referer");
        let r = headers(&[("host", "127.0.0.1:8080"), ("referer", "http://127.0.0.1:8080/sign-in?next=/")]);
        assert!(same_origin(&a, &r));
        // Behind a proxy: the public origin, and the forwarded scheme.
        let proxied = access(Some("https://masthead.example"));
        let h = headers(&[("host", "10.0.0.7:8080"), ("origin", "https://masthead.example")]);
        assert!(same_origin(&proxied, &h));
        assert!(secure(&proxied, &h));
        let h = headers(&[("host", "m.example"), ("x-forwarded-proto", "https"), ("origin", "https://m.example")]);
        assert!(same_origin(&a, &h) && secure(&a, &h));
    }

    #[test]
    fn the_csrf_token_must_equal_the_cookie() {
        let a = access(None);
        let (token, set) = csrf_token(&a, &HeaderMap::new());
        let set = set.expect("a new cookie").to_str().expect("text").to_owned();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
        let cookie_header = format!("{CSRF_COOKIE}={token}");
        let h = headers(&[("cookie", &cookie_header)]);
        assert!(csrf_matches(&h, Some(&token)));
        assert!(!csrf_matches(&h, Some("0000")));
        assert!(!csrf_matches(&h, None));
        assert!(!csrf_matches(&HeaderMap::new(), Some(&token)), "no cookie, no match");
        assert_eq!(csrf_token(&a, &h), (token, None), "an existing token is kept");
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_over_https() {
        let c = session_cookie("t.o.k", 3600, true).to_str().expect("text").to_owned();
        for part in ["masthead_session=t.o.k", "HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=3600"] {
            assert!(c.contains(part), "{part} in {c}");
        }
        assert!(!session_cookie("t", 1, false).to_str().expect("text").contains("Secure"));
        assert!(end_session_cookie(false).to_str().expect("text").contains("Max-Age=0"));
    }
}
