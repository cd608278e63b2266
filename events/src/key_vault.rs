//! Per-subscription data keys in a JetStream KV bucket.
//!
//! Erasing a subscriber = purging their key. The bucket keeps one revision
//! per key and `purge` removes that too, so no copy of the key survives in
//! the bucket's own stream.

use crate::personal_data::{DataKey, PersonalData, PersonalDataError, SealedPersonalData};
use async_nats::jetstream::{self, kv};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::time::Duration;

/// Why the vault could not answer.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The KV bucket is unreachable. Retry later; for intake, answer 503.
    #[error("key vault unavailable: {0}")]
    Unavailable(String),
    /// The key was erased (or never existed): the personal data is gone for
    /// good. Show it as erased; do not retry.
    #[error("data key {0} is erased")]
    Erased(String),
    /// The key or the sealed data is damaged. Alert an operator.
    #[error(transparent)]
    Corrupt(#[from] PersonalDataError),
}

#[derive(Clone)]
pub struct KeyVault {
    kv: kv::Store,
    timeout: Duration,
}

impl KeyVault {
    pub async fn open(js: &jetstream::Context, bucket: &str) -> Result<Self, VaultError> {
        let kv = js.get_key_value(bucket).await.map_err(|e| VaultError::Unavailable(e.to_string()))?;
        Ok(Self { kv, timeout: crate::store::DEFAULT_REQUEST_TIMEOUT })
    }

    async fn bounded<T, E: std::fmt::Display>(
        &self,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, VaultError> {
        tokio::time::timeout(self.timeout, f)
            .await
            .map_err(|_| VaultError::Unavailable("timed out".into()))?
            .map_err(|e| VaultError::Unavailable(e.to_string()))
    }

    /// Returns the key for `key_id`, creating it if it does not exist. Two
    /// racing creators end up with the same key: the loser reads the winner's.
    ///
    /// Creating first (not reading first) costs one round trip for the common
    /// case, a new subscription, and the same two as before otherwise.
    pub async fn key_for(&self, key_id: &str) -> Result<DataKey, VaultError> {
        let key = DataKey::generate();
        let encoded = B64.encode(key.as_bytes());
        match tokio::time::timeout(self.timeout, self.kv.create(key_id, encoded.into())).await {
            Err(_) => Err(VaultError::Unavailable("timed out".into())),
            Ok(Ok(_)) => Ok(key),
            Ok(Err(e)) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                self.get(key_id).await?.ok_or_else(|| VaultError::Erased(key_id.to_owned()))
            }
            Ok(Err(e)) => Err(VaultError::Unavailable(e.to_string())),
        }
    }

    pub async fn get(&self, key_id: &str) -> Result<Option<DataKey>, VaultError> {
        let value = self.bounded(self.kv.get(key_id)).await?;
        match value {
            None => Ok(None),
            Some(bytes) => {
                let raw = B64.decode(&bytes).map_err(|_| PersonalDataError::MalformedKey)?;
                Ok(Some(DataKey::from_bytes(&raw)?))
            }
        }
    }

    pub async fn seal(&self, key_id: &str, data: &PersonalData) -> Result<SealedPersonalData, VaultError> {
        let key = self.key_for(key_id).await?;
        Ok(SealedPersonalData::seal(data, key_id, &key)?)
    }

    pub async fn open_sealed(&self, sealed: &SealedPersonalData) -> Result<PersonalData, VaultError> {
        let key = self.get(&sealed.key_id).await?.ok_or_else(|| VaultError::Erased(sealed.key_id.clone()))?;
        Ok(sealed.open(&key)?)
    }

    /// Destroys the key, making every sealed record under it unreadable.
    pub async fn erase(&self, key_id: &str) -> Result<(), VaultError> {
        self.bounded(self.kv.purge(key_id)).await
    }
}
