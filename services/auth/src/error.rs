//! What can go wrong: refusing a token ([`AuthError`]), configuring the
//! validator ([`SetupError`]) and issuing a local token ([`IssueError`]).

use std::path::PathBuf;

/// Why a request's token was not accepted. Every variant but
/// [`AuthError::KeysUnavailable`] is the caller's problem: answer `401`
/// with `WWW-Authenticate: Bearer` and let them get a new token. The
/// messages name what is wrong, never the token or its claims' values.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The request carries no token: `401`, and a browser goes to sign-in.
    #[error("no bearer token")]
    Missing,
    /// Not a JWT (wrong shape, bad base64 or JSON): `401`.
    #[error("the token is not a well-formed JWT")]
    Malformed(#[source] jsonwebtoken::errors::Error),
    /// An algorithm this configuration does not accept (HS256 without a
    /// shared secret, an asymmetric one without a JWKS, or any other than
    /// HS256, RS256, ES256 and EdDSA): `401`.
    #[error("tokens signed with {0:?} are not accepted here")]
    UnsupportedAlgorithm(jsonwebtoken::Algorithm),
    /// No key of the JWKS has the token's `kid`, even after refetching it:
    /// `401` (a token from another provider, or a key since removed).
    #[error("no signing key {} in the key set", .0.as_deref().unwrap_or("(token names no kid)"))]
    UnknownKey(Option<String>),
    /// The signature does not verify with the key: `401`.
    #[error("the token's signature does not verify")]
    BadSignature(#[source] jsonwebtoken::errors::Error),
    /// `exp` is more than the allowed clock skew in the past: `401`; get a
    /// new token.
    #[error("the token has expired")]
    Expired,
    /// `nbf` is more than the allowed clock skew in the future: `401`.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// `iss` is absent or not `MASTHEAD_AUTH_ISSUER`: `401`.
    #[error("the token's issuer is not the configured one")]
    WrongIssuer,
    /// `aud` is absent or does not contain `MASTHEAD_AUTH_AUDIENCE`: `401`.
    #[error("the token's audience is not the configured one")]
    WrongAudience,
    /// A required claim is missing or malformed (`exp` always): `401`.
    #[error("the token's claims are invalid")]
    InvalidClaims(#[source] jsonwebtoken::errors::Error),
    /// The JWKS could not be fetched and no key is cached: the token may
    /// well be valid. Answer `503` with `Retry-After`; it passes once the
    /// identity provider answers again.
    #[error("the identity provider's key set is unavailable")]
    KeysUnavailable(#[source] JwksError),
}

impl AuthError {
    /// Whether the caller can fix it with another token (`401`), as
    /// opposed to a provider outage (`503`).
    pub fn is_callers(&self) -> bool {
        !matches!(self, AuthError::KeysUnavailable(_))
    }
}

/// Why the key set could not be fetched or read.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The request failed or timed out, or the provider answered an error
    /// status. Retried on a later request; cached keys stay in use.
    #[error("fetching the JWKS failed")]
    Fetch(#[source] reqwest::Error),
    /// The document is not a JWKS. Retried on a later request.
    #[error("the JWKS document cannot be read")]
    Document(#[source] reqwest::Error),
}

/// A setting the validator cannot work with; refuse to start, naming it.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Neither a JWKS URL nor a shared secret: nothing could validate a
    /// token. The binary falls back to a local secret before this happens.
    #[error("no way to validate tokens: set MASTHEAD_AUTH_JWKS_URL or MASTHEAD_AUTH_HS256_SECRET")]
    NoKeys,
    /// The shared secret is shorter than 32 bytes, short enough to guess.
    #[error("MASTHEAD_AUTH_HS256_SECRET is {0} bytes long; use at least 32 random bytes")]
    WeakSecret(usize),
    /// `MASTHEAD_AUTH_JWKS_URL` is not an http(s) URL.
    #[error("MASTHEAD_AUTH_JWKS_URL {0:?} is not an http:// or https:// URL")]
    JwksUrl(String),
    /// `MASTHEAD_AUTH_ROLES_CLAIM` is empty or has an empty path segment.
    #[error("MASTHEAD_AUTH_ROLES_CLAIM {0:?} is not a claim name or dotted path such as realm_access.roles")]
    RolesClaim(String),
    /// The HTTP client for the JWKS could not be built (TLS set-up).
    #[error("building the HTTP client for the JWKS")]
    HttpClient(#[source] reqwest::Error),
    /// The local secret file cannot be read, created or written.
    #[error("the local token secret {}", path.display())]
    SecretFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The local secret file may be read by others: refuse to use a secret
    /// that may have leaked; the operator fixes the mode.
    #[error("the local token secret {} has mode {mode:o}; others may read it (chmod 600 it, or delete it to make a new one)", path.display())]
    SecretFileMode { path: PathBuf, mode: u32 },
}

/// Why a local token could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// No role was asked for: a token without one opens no door.
    #[error("give at least one --role")]
    NoRole,
    /// A lifetime of zero, or beyond what the clock can represent.
    #[error("the token lifetime must be between 1 second and 366 days")]
    Lifetime,
    /// Signing failed (only a broken key can cause it).
    #[error("signing the token failed")]
    Sign(#[source] jsonwebtoken::errors::Error),
}
