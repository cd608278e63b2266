//! The identity provider's signing keys, fetched from its JWKS URL and
//! cached.
//!
//! Keys are fetched on first use and kept for [`KEYS_MAX_AGE`]. A token
//! naming a `kid` the cache lacks triggers a refetch (the provider rotated
//! its keys), but at most once per `min_refresh`: otherwise anyone could
//! make every request cost a round trip to the provider by inventing kids.
//! One refetch runs at a time; requests waiting for it then use its
//! result. When a refetch fails the cached keys stay in use.
//!
//! Only RS256 (RSA keys), ES256 (P-256 keys) and EdDSA (Ed25519 keys) are
//! taken from the set. Symmetric keys in a JWKS are ignored: a key anyone
//! can download must never verify an HMAC. Keys the token carries itself
//! (`jwk`, `jku`, `x5u` headers) are never looked at.

use crate::error::{AuthError, JwksError};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// How long fetched keys are trusted before the set is fetched again, so
/// that keys the provider removed stop working.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(600);
/// The default minimum time between refetches caused by unknown kids.
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The asymmetric algorithms a JWKS key may verify.
pub const JWKS_ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// One usable key: what it verifies, and the key itself.
#[derive(Clone)]
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: Arc<DecodingKey>,
}

#[derive(Default)]
struct Cached {
    keys: Vec<Key>,
    fetched_at: Option<Instant>,
}

/// The key set of one JWKS URL.
pub struct Jwks {
    url: reqwest::Url,
    client: reqwest::Client,
    min_refresh: Duration,
    cached: RwLock<Cached>,
    /// Held while fetching: one fetch at a time.
    fetching: Mutex<()>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl Jwks {
    pub fn new(url: reqwest::Url, client: reqwest::Client, min_refresh: Duration) -> Self {
        Self { url, client, min_refresh, cached: RwLock::default(), fetching: Mutex::new(()) }
    }

    /// The key for a token with header `kid` and `alg`. Fetches the set
    /// when it is missing or stale, or when the kid is unknown and the last
    /// fetch is older than `min_refresh`.
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<DecodingKey>, AuthError> {
        let seen = {
            let cached = self.cached.read().await;
            if let (Some(at), Some(key)) = (cached.fetched_at, find(&cached.keys, kid, alg)) {
                if at.elapsed() < KEYS_MAX_AGE {
                    return Ok(key);
                }
            }
            cached.fetched_at
        };
        let _one_at_a_time = self.fetching.lock().await;
        let cached_at = self.cached.read().await.fetched_at;
        // Another request fetched while this one waited: use its result.
        let fetched_meanwhile = cached_at != seen;
        let may_fetch = cached_at.is_none_or(|at| at.elapsed() >= self.min_refresh);
        if !fetched_meanwhile && may_fetch {
            if let Err(e) = self.refresh().await {
                if cached_at.is_none() {
                    return Err(AuthError::KeysUnavailable(e));
                }
                tracing::warn!(error = %e, url = %self.url, "JWKS refetch failed; keeping the cached keys");
            }
        }
        let cached = self.cached.read().await;
        find(&cached.keys, kid, alg).ok_or_else(|| AuthError::UnknownKey(kid.map(str::to_owned)))
    }

    async fn refresh(&self) -> Result<(), JwksError> {
        let response = self
            .client
            .get(self.url.clone())
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(JwksError::Fetch)?;
        let set: RawSet = response.json().await.map_err(JwksError::Document)?;
        let keys: Vec<Key> = set.keys.into_iter().filter_map(usable).collect();
        tracing::info!(url = %self.url, keys = keys.len(), "fetched the JWKS");
        let mut cached = self.cached.write().await;
        *cached = Cached { keys, fetched_at: Some(Instant::now()) };
        Ok(())
    }
}

/// The key for `kid` and `alg`. A token without a kid may use the one key
/// of its algorithm, when there is exactly one.
fn find(keys: &[Key], kid: Option<&str>, alg: Algorithm) -> Option<Arc<DecodingKey>> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid) && k.algorithm == alg),
        None => {
            let mut of_alg = keys.iter().filter(|k| k.algorithm == alg);
            match (of_alg.next(), of_alg.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }
    .map(|k| k.key.clone())
}

/// A JWKS entry as a key we accept, or `None` for entries that are not
/// signing keys of our algorithms (skipped, not errors: sets often hold
/// encryption keys and other algorithms too).
fn usable(raw: serde_json::Value) -> Option<Key> {
    let jwk: Jwk = serde_json::from_value(raw).ok()?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))) {
        return None;
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return None,
    };
    // A key that names its algorithm is used for that one only.
    if let Some(declared) = jwk.common.key_algorithm {
        if Algorithm::try_from(declared).ok() != Some(algorithm) {
            return None;
        }
    }
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(Key { kid: jwk.common.key_id.clone(), algorithm, key: Arc::new(key) })
}

/// The cache's view for tests: how many keys of which algorithms.
#[cfg(test)]
pub(crate) fn algorithms_of(set: serde_json::Value) -> std::collections::HashMap<Option<String>, Algorithm> {
    let raw: RawSet = serde_json::from_value(set).expect("set");
    raw.keys.into_iter().filter_map(usable).map(|k| (k.kid, k.algorithm)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    const N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    #[test]
    fn only_signing_keys_of_our_algorithms_are_taken() {
        let set = json!({"keys": [
            {"kty": "RSA", "kid": "rsa", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa-enc", "use": "enc", "n": N, "e": "AQAB"},
            {"kty": "RSA", "kid": "rsa-384", "alg": "RS384", "n": N, "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "p384", "crv": "P-384", "x": "AA", "y": "AA"},
            {"kty": "weird", "kid": "w"},
        ]});
        let found = algorithms_of(set);
        assert_eq!(found, HashMap::from([(Some("rsa".to_owned()), Algorithm::RS256)]));
    }
}
