//! Who may call the API, from the configuration: the token validator
//! (`MASTHEAD_AUTH_*`), sign-in through an OpenID Connect provider, CORS
//! and the public URL, and the tokens `masthead token issue` signs.
//!
//! With neither a JWKS URL nor a shared secret configured, the process
//! uses the zero-setup default: an HS256 secret in the data directory,
//! created on the first start (mode 0600). `masthead token issue` signs
//! with the same secret, so on one machine the two agree without setup.

use crate::config::Config;
use anyhow::{bail, Context, Result};
use masthead_auth::local::{ensure_secret, TokenIssuer, TokenRequest};
use masthead_auth::{AuthSettings, Authenticator, Role};
use masthead_http::access::oidc::{Oidc, OidcSettings};
use masthead_http::access::{origin_of, parse_origins, Access};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The local secret file, when this process uses one.
pub struct LocalSecretFile {
    pub path: PathBuf,
    /// Created by this start (the first).
    pub created: bool,
}

/// The shared HS256 secret: the configured one, or (with no JWKS URL
/// either) the data directory's, created if need be.
fn hs256_secret(config: &Config) -> Result<(Option<String>, Option<LocalSecretFile>)> {
    if let Some(secret) = &config.auth_hs256_secret {
        return Ok((Some(secret.clone()), None));
    }
    if config.auth_jwks_url.is_some() {
        return Ok((None, None));
    }
    let local =
        ensure_secret(&config.data_dir).context("the local token secret (or set MASTHEAD_AUTH_HS256_SECRET)")?;
    let file = LocalSecretFile { path: local.path, created: local.created };
    Ok((Some(local.secret), Some(file)))
}

/// The API's access settings; `metrics_here` when no operations listener
/// serves `/metrics`.
pub fn api_access(config: &Config, metrics_here: bool) -> Result<(Access, Option<LocalSecretFile>)> {
    let (hs256_secret, local) = hs256_secret(config)?;
    let settings = AuthSettings {
        jwks_url: config.auth_jwks_url.clone(),
        hs256_secret,
        issuer: config.auth_issuer.clone(),
        audience: config.auth_audience.clone(),
        roles_claim: config.auth_roles_claim.clone(),
        ..AuthSettings::default()
    };
    let authenticator = Authenticator::new(&settings)
        .context("token validation (MASTHEAD_AUTH_JWKS_URL, MASTHEAD_AUTH_HS256_SECRET, MASTHEAD_AUTH_ROLES_CLAIM)")?;
    tracing::info!(keys = authenticator.describe(), "bearer tokens are checked against {}", authenticator.describe());
    let mut access = Access::new(Arc::new(authenticator));
    access.metrics_here = metrics_here;
    if let Some(list) = &config.cors_allowed_origins {
        access.cors_origins =
            parse_origins(list).map_err(anyhow::Error::msg).context("MASTHEAD_CORS_ALLOWED_ORIGINS")?;
    }
    if let Some(url) = &config.public_url {
        access.public_origin = Some(origin_of(url).map_err(anyhow::Error::msg).context("MASTHEAD_PUBLIC_URL")?);
    }
    access.oidc = oidc(config)?;
    Ok((access, local))
}

/// Sign-in through the OpenID Connect provider, when a client id is set.
fn oidc(config: &Config) -> Result<Option<Oidc>> {
    let Some(client_id) = &config.auth_oidc_client_id else { return Ok(None) };
    let (Some(issuer), Some(public_url)) = (&config.auth_issuer, &config.public_url) else {
        bail!("MASTHEAD_AUTH_OIDC_CLIENT_ID needs MASTHEAD_AUTH_ISSUER (the provider) and MASTHEAD_PUBLIC_URL (where it sends the browser back)");
    };
    let settings = OidcSettings {
        issuer: issuer.clone(),
        client_id: client_id.clone(),
        client_secret: config.auth_oidc_client_secret.clone(),
        public_url: public_url.clone(),
        scopes: config.auth_oidc_scopes.split_whitespace().map(str::to_owned).collect(),
    };
    Ok(Some(Oidc::new(settings).context("MASTHEAD_AUTH_OIDC_* settings")?))
}

/// `masthead token issue`: a token signed with the configured (or local)
/// secret, with the configured issuer, audience and roles claim.
pub fn issue_token(config: &Config, roles: &[Role], subject: &str, ttl: Duration) -> Result<String> {
    let (Some(secret), _) = hs256_secret(config)? else {
        bail!("tokens come from the identity provider here (MASTHEAD_AUTH_JWKS_URL is set); `token issue` needs MASTHEAD_AUTH_HS256_SECRET");
    };
    let issuer = TokenIssuer::new(
        &secret,
        config.auth_issuer.as_deref(),
        config.auth_audience.as_deref(),
        &config.auth_roles_claim,
    )
    .context("MASTHEAD_AUTH_HS256_SECRET or MASTHEAD_AUTH_ROLES_CLAIM")?;
    Ok(issuer.issue(&TokenRequest { subject, roles, ttl })?)
}
