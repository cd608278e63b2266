//! Validating a bearer token: its signature against the shared secret
//! (HS256) or the provider's JWKS (RS256, ES256, EdDSA), then `exp`
//! (always), `nbf` (when present), and the issuer and audience (when
//! configured), each with at most [`MAX_CLOCK_SKEW`] seconds of skew.

use crate::claims::ClaimPath;
use crate::error::{AuthError, SetupError};
use crate::jwks::{Jwks, JWKS_ALGORITHMS, MIN_REFRESH};
use crate::role::Principal;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::time::Duration;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const MAX_CLOCK_SKEW: u64 = 60;
/// The shortest shared secret accepted, in bytes (HS256's key size).
pub const MIN_SECRET_LEN: usize = 32;

/// How tokens are validated: the `MASTHEAD_AUTH_*` settings.
#[derive(Clone)]
pub struct AuthSettings {
    /// Where the provider publishes its signing keys.
    pub jwks_url: Option<String>,
    /// A shared secret for HS256 tokens (its bytes as given).
    pub hs256_secret: Option<String>,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required member of `aud`, when set.
    pub audience: Option<String>,
    /// The claim holding the roles: a name or a dotted path.
    pub roles_claim: String,
    /// The least time between JWKS refetches caused by unknown kids.
    pub jwks_min_refresh: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwks_url: None,
            hs256_secret: None,
            issuer: None,
            audience: None,
            roles_claim: "roles".to_owned(),
            jwks_min_refresh: MIN_REFRESH,
        }
    }
}

// Hand-written so that the secret never reaches a log.
impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwks_url", &self.jwks_url)
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<redacted>"))
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("roles_claim", &self.roles_claim)
            .finish()
    }
}

/// Validates tokens; one per process, shared by every request.
pub struct Authenticator {
    hs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    issuer: Option<String>,
    audience: Option<String>,
    roles: ClaimPath,
}

impl Authenticator {
    pub fn new(settings: &AuthSettings) -> Result<Self, SetupError> {
        let roles = ClaimPath::parse(&settings.roles_claim)?;
        let hs256 = match &settings.hs256_secret {
            Some(secret) if secret.len() < MIN_SECRET_LEN => return Err(SetupError::WeakSecret(secret.len())),
            // HMAC keys of any length are valid; this cannot fail.
            Some(secret) => DecodingKey::from_secret(secret.as_bytes()).ok(),
            None => None,
        };
        let jwks = match &settings.jwks_url {
            Some(url) => {
                let parsed = reqwest::Url::parse(url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| SetupError::JwksUrl(url.clone()))?;
                let client = reqwest::Client::builder().build().map_err(SetupError::HttpClient)?;
                Some(Jwks::new(parsed, client, settings.jwks_min_refresh))
            }
            None => None,
        };
        if hs256.is_none() && jwks.is_none() {
            return Err(SetupError::NoKeys);
        }
        let nonempty = |s: &Option<String>| s.as_ref().filter(|s| !s.trim().is_empty()).cloned();
        Ok(Self { hs256, jwks, issuer: nonempty(&settings.issuer), audience: nonempty(&settings.audience), roles })
    }

    /// Where the keys come from, for the start-up log line.
    pub fn describe(&self) -> &'static str {
        match (&self.jwks, &self.hs256) {
            (Some(_), Some(_)) => "the JWKS and the shared HS256 secret",
            (Some(_), None) => "the JWKS",
            _ => "the shared HS256 secret",
        }
    }

    /// The roles claim tokens are read with.
    pub fn roles_claim(&self) -> &ClaimPath {
        &self.roles
    }

    /// Who `token` says the caller is, if it is valid.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(AuthError::Malformed)?;
        let alg = header.alg;
        let jwks_key;
        let key = match (alg, &self.hs256, &self.jwks) {
            (Algorithm::HS256, Some(secret), _) => secret,
            (alg, _, Some(jwks)) if JWKS_ALGORITHMS.contains(&alg) => {
                jwks_key = jwks.key(header.kid.as_deref(), alg).await?;
                &*jwks_key
            }
            (alg, _, _) => return Err(AuthError::UnsupportedAlgorithm(alg)),
        };
        let data = jsonwebtoken::decode::<Value>(token, key, &self.validation(alg)).map_err(refused)?;
        let claims = data.claims;
        Ok(Principal {
            subject: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
            roles: self.roles.roles(&claims),
            expires_at: claims.get("exp").and_then(Value::as_u64).unwrap_or(0),
        })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.leeway = MAX_CLOCK_SKEW;
        v.validate_exp = true;
        v.validate_nbf = true;
        let mut required = vec!["exp"];
        // jsonwebtoken checks iss and aud only when the token has them;
        // a configured one must also be present.
        if let Some(issuer) = &self.issuer {
            v.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &self.audience {
            Some(audience) => {
                v.set_audience(&[audience]);
                required.push("aud");
            }
            // Without a configured audience any `aud` is fine.
            None => v.validate_aud = false,
        }
        v.set_required_spec_claims(&required);
        v
    }
}

/// A validation failure as the caller should see it.
fn refused(e: jsonwebtoken::errors::Error) -> AuthError {
    match e.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => AuthError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) | ErrorKind::InvalidSubject => {
            AuthError::InvalidClaims(e)
        }
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            AuthError::Malformed(e)
        }
        _ => AuthError::BadSignature(e),
    }
}
