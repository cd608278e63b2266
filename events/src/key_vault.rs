//! Per-subscription data keys in a JetStream KV bucket.
//!
//! Erasing a subscriber = purging their key. The bucket keeps one revision
//! per key and `purge` removes that too, so no copy of the key survives in
//! the bucket's own stream.

use crate::personal_data::{DataKey, PersonalData, PersonalDataError, SealedPersonalData};
use async_nats::jetstream::{self, kv};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

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

    pub async fn open_sealed(&self, sealed: &SealedPersonalData) -> Result<PersonalData, VaultError> {
        let key = self.get(&sealed.key_id).await?.ok_or_else(|| VaultError::Erased(sealed.key_id.clone()))?;
        Ok(sealed.open(&key)?)
    }

    /// Destroys the key, making every sealed record under it unreadable.
    pub async fn erase(&self, key_id: &str) -> Result<(), VaultError> {
        self.bounded(self.kv.purge(key_id)).await
    }
}

/// Data keys written to the vault ahead of use.
///
/// Sealing used to create the subscription's key on the request path: two
/// acknowledged JetStream writes per intake (the key, then the event), the
/// first costing as much server and client work as the second. The pool
/// writes keys, pipelined, in the background, so a request takes one
/// that has already landed and makes one write. The invariant is unchanged:
/// a key is durable before any event sealed under it is written.
///
/// A key taken for an append that then fails, or left in the pool at
/// shutdown, seals nothing; it stays in the bucket as a few unreferenced
/// bytes. Keys are random, never derived from the subscription: the sealed
/// record names its key (`key_id`), and erasing a subscriber means purging
/// the key its events name.
#[derive(Clone)]
pub struct KeyPool {
    inner: Arc<PoolHandle>,
}

struct PoolHandle {
    shared: Arc<PoolShared>,
    // Stops the refiller when the last `KeyPool` clone is dropped.
    _stop: tokio_util::sync::DropGuard,
}

struct PoolShared {
    vault: KeyVault,
    ready: Mutex<VecDeque<(String, DataKey)>>,
    low: Notify,
    target: usize,
    /// Seals that found the pool empty and wrote their key inline.
    misses: std::sync::atomic::AtomicU64,
}

/// How many keys the pool keeps ready by default: enough for a burst of
/// several hundred requests between refills, few enough that a restart
/// leaves little behind.
pub const DEFAULT_POOL_SIZE: usize = 256;

/// Key writes the refiller keeps in flight, at most. It writes continuously
/// while the pool is below its target instead of in bursts awaited one at a
/// time: at ~14k intakes/s bursts of 32 per round trip fell behind, and ~3 %
/// of requests wrote their key inline, an extra round trip each that made
/// up intake's p99. Bounded so a refill cannot flood the connection ahead of
/// the requests' own appends.
const MAX_IN_FLIGHT: usize = 64;

fn new_key_id() -> String {
    // Prefixed so a key id is never mistaken for a subscription id.
    format!("dk-{}", uuid::Uuid::new_v4().simple())
}

impl KeyPool {
    /// Starts the background refiller on the current Tokio runtime.
    pub fn start(vault: KeyVault, target: usize) -> Self {
        let shared = Arc::new(PoolShared {
            vault,
            ready: Mutex::new(VecDeque::with_capacity(target)),
            low: Notify::new(),
            target: target.max(1),
            misses: std::sync::atomic::AtomicU64::new(0),
        });
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(refill(shared.clone(), stop.clone()));
        shared.low.notify_one();
        Self { inner: Arc::new(PoolHandle { shared, _stop: stop.drop_guard() }) }
    }

    /// How many durable keys are waiting to be used.
    pub fn ready(&self) -> usize {
        self.inner.shared.lock_ready().len()
    }

    /// How many seals so far found the pool empty and wrote their key
    /// inline, one extra round trip each: under a steady load this stays
    /// near zero, or the pool is too small for it.
    pub fn misses(&self) -> u64 {
        self.inner.shared.misses.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Seals `data` under a fresh key that is already durable in the vault.
    /// When the pool has run dry (a burst, or the vault was unreachable), a
    /// key is written inline, as without a pool.
    pub async fn seal(&self, data: &PersonalData) -> Result<SealedPersonalData, VaultError> {
        let (key_id, key) = match self.take() {
            Some(ready) => ready,
            None => {
                self.inner.shared.misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.inner.shared.create_key().await?
            }
        };
        Ok(SealedPersonalData::seal(data, &key_id, &key)?)
    }

    fn take(&self) -> Option<(String, DataKey)> {
        let shared = &self.inner.shared;
        let mut ready = shared.lock_ready();
        let taken = ready.pop_front();
        drop(ready);
        // Cheap when the refiller is already writing: it keeps one permit.
        shared.low.notify_one();
        taken
    }
}

impl PoolShared {
    /// Writes a new random key to the vault; returns it once stored.
    async fn create_key(&self) -> Result<(String, DataKey), VaultError> {
        let key_id = new_key_id();
        let key = self.vault.key_for(&key_id).await?;
        Ok((key_id, key))
    }

    fn lock_ready(&self) -> std::sync::MutexGuard<'_, VecDeque<(String, DataKey)>> {
        // The queue holds plain data; a panic elsewhere cannot leave it
        // half-updated, so a poisoned lock is still usable.
        self.ready.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn refill(shared: Arc<PoolShared>, stop: tokio_util::sync::CancellationToken) {
    use futures::stream::{FuturesUnordered, StreamExt};
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = shared.low.notified() => {}
        }
        let mut writes = FuturesUnordered::new();
        let mut failed = false;
        loop {
            // After a failure no new writes start; the ones out are awaited.
            if !failed {
                let ready = shared.lock_ready().len();
                let room = MAX_IN_FLIGHT.saturating_sub(writes.len());
                let missing = shared.target.saturating_sub(ready + writes.len()).min(room);
                for _ in 0..missing {
                    writes.push(shared.create_key());
                }
            }
            let written = tokio::select! {
                _ = stop.cancelled() => return,
                written = writes.next() => written,
            };
            match written {
                None => break,
                Some(Ok(key)) => shared.lock_ready().push_back(key),
                Some(Err(_)) => failed = true,
            }
        }
        if failed {
            tracing::warn!("key vault unreachable; data keys will be written on the request path until it is back");
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            // Try again even if no request takes a key meanwhile.
            shared.low.notify_one();
        } else {
            backoff = Duration::from_millis(100);
        }
    }
}
