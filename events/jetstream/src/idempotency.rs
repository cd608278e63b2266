//! `Idempotency-Key` records for the intake API.
//!
//! JetStream deduplicates only within its window (2 minutes). A client that
//! retries the next day must still get the same subscription, so the first
//! request with a key reserves it in a KV bucket (kept 72 hours) together with
//! a fingerprint of the request body. `create` on a KV key is atomic, so two
//! concurrent requests with one key cannot both reserve it.

use async_nats::jetstream::{self, kv};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Reservation {
    subscription_id: Uuid,
    fingerprint: String,
}

/// What the record says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First use of the key: go ahead with this id.
    New(Uuid),
    /// The key was used before with the same body: answer with this id
    /// (and make sure its event exists: the first attempt may have failed
    /// after reserving).
    Replay(Uuid),
    /// The key was used before with a different body: refuse (422).
    Mismatch,
}

/// Why the record could not be consulted.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The KV bucket did not answer. Answer 503; the client retries.
    #[error("idempotency records unavailable: {0}")]
    Unavailable(String),
}

#[derive(Clone)]
pub struct IdempotencyRecords {
    kv: kv::Store,
    timeout: Duration,
}

/// The KV key for a client's idempotency key: hashed, because client keys
/// may hold characters KV keys cannot, and scoped by purpose.
fn record_key(scope: &str, client_key: &str) -> String {
    let digest = Sha256::digest(format!("{scope}\u{0}{client_key}").as_bytes());
    hex::encode(digest)
}

/// A stable fingerprint of a request body (any serialisable value).
pub fn fingerprint<T: Serialize>(body: &T) -> String {
    let json = serde_json::to_vec(body).unwrap_or_default();
    hex::encode(Sha256::digest(&json))
}

impl IdempotencyRecords {
    pub async fn open(js: &jetstream::Context, bucket: &str) -> Result<Self, IdempotencyError> {
        let kv = js.get_key_value(bucket).await.map_err(|e| IdempotencyError::Unavailable(e.to_string()))?;
        Ok(Self { kv, timeout: crate::store::DEFAULT_REQUEST_TIMEOUT })
    }

    /// Reserves `client_key` for a new subscription id, or reports what it
    /// was used for before.
    pub async fn claim(&self, scope: &str, client_key: &str, fingerprint: &str) -> Result<Claim, IdempotencyError> {
        let key = record_key(scope, client_key);
        let fresh = Reservation {
            subscription_id: masthead_domain::subscription::new_subscription_id(),
            fingerprint: fingerprint.to_owned(),
        };
        let body = serde_json::to_vec(&fresh).unwrap_or_default();
        let created = tokio::time::timeout(self.timeout, self.kv.create(&key, body.into()))
            .await
            .map_err(|_| IdempotencyError::Unavailable("timed out".into()))?;
        match created {
            Ok(_) => Ok(Claim::New(fresh.subscription_id)),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                let existing = tokio::time::timeout(self.timeout, self.kv.get(&key))
                    .await
                    .map_err(|_| IdempotencyError::Unavailable("timed out".into()))?
                    .map_err(|e| IdempotencyError::Unavailable(e.to_string()))?;
                let Some(bytes) = existing else {
                    // Expired between create and get: treat as a fresh claim.
                    return Box::pin(self.claim(scope, client_key, fingerprint)).await;
                };
                match serde_json::from_slice::<Reservation>(&bytes) {
                    Ok(r) if r.fingerprint == fingerprint => Ok(Claim::Replay(r.subscription_id)),
                    _ => Ok(Claim::Mismatch),
                }
            }
            Err(e) => Err(IdempotencyError::Unavailable(e.to_string())),
        }
    }
}
