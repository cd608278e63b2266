//! Per-subscription data keys in a JetStream KV bucket.
//!
//! Every subscription's personal data is sealed under a key of its own.
//! Keys are stored [`KEYS_PER_PAGE`] to a bucket entry, a *key page*: each
//! entry is a JetStream message the server stores and acknowledges, and one
//! entry per subscription cost the server as much work per intake as the
//! event itself. The sealed record names its key as `<page>.<slot>`.
//!
//! Erasing a subscriber removes their key from its page. The page is
//! rewritten without it, compare-and-set on the entry's revision so that two
//! erasures cannot undo each other, and the bucket keeps one revision per
//! entry: the server drops the previous revision, the only other copy of
//! the key, just as a purge would. A page whose keys are all erased is
//! purged. Keys stored one per entry (`dk-<uuid>`, by earlier versions) are
//! still read, and erased by purging their entry.

use async_nats::jetstream::{self, kv};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use masthead_domain::personal_data::{DataKey, PersonalData, PersonalDataError, SealedPersonalData};
use serde::{Deserialize, Serialize};
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

/// Keys per bucket entry. A page is written once, so the pool gets this
/// many keys per acknowledged write; erasing one key rewrites ~1.5 KB.
pub const KEYS_PER_PAGE: usize = 32;

/// Prefix of key-page entries, so their ids are told apart from the older
/// one-key entries (`dk-`) and never mistaken for a subscription id.
const PAGE_PREFIX: &str = "dkp-";

/// An erasure re-reads and rewrites its page when another erasure of the
/// same page got in first; this many times at most.
const MAX_ERASE_ATTEMPTS: usize = 16;

/// A key page as stored: base64 keys by slot, `null` where erased.
#[derive(Serialize, Deserialize)]
struct KeyPage {
    /// Format version, for a reader to refuse what it does not know.
    v: u32,
    keys: Vec<Option<String>>,
}

impl KeyPage {
    const VERSION: u32 = 1;

    fn decode(bytes: &[u8]) -> Result<Self, PersonalDataError> {
        let page: Self = serde_json::from_slice(bytes).map_err(|_| PersonalDataError::MalformedKey)?;
        if page.v != Self::VERSION {
            return Err(PersonalDataError::Unsupported(format!("key page version {}", page.v)));
        }
        Ok(page)
    }

    fn encode(&self) -> bytes::Bytes {
        // A struct of strings always serialises.
        serde_json::to_vec(self).unwrap_or_default().into()
    }
}

/// Where a key id points: a slot of a key page, or a one-key entry.
#[derive(Debug, PartialEq, Eq)]
enum KeyRef<'a> {
    Slot { page: &'a str, slot: usize },
    Single(&'a str),
}

impl KeyRef<'_> {
    /// The bucket entry that holds the key.
    fn entry(&self) -> &str {
        match self {
            KeyRef::Slot { page, .. } => page,
            KeyRef::Single(entry) => entry,
        }
    }
}

fn key_ref(key_id: &str) -> KeyRef<'_> {
    match key_id.rsplit_once('.') {
        Some((page, slot)) if page.starts_with(PAGE_PREFIX) => match slot.parse::<usize>() {
            Ok(slot) if slot < KEYS_PER_PAGE => KeyRef::Slot { page, slot },
            _ => KeyRef::Single(key_id),
        },
        _ => KeyRef::Single(key_id),
    }
}

fn decode_key(encoded: &[u8]) -> Result<DataKey, VaultError> {
    let raw = B64.decode(encoded).map_err(|_| PersonalDataError::MalformedKey)?;
    Ok(DataKey::from_bytes(&raw)?)
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

    /// Writes a page of fresh random keys and returns them with their ids,
    /// once the page is durable.
    pub async fn write_page(&self) -> Result<Vec<(String, DataKey)>, VaultError> {
        let page_id = format!("{PAGE_PREFIX}{}", uuid::Uuid::new_v4().simple());
        let keys: Vec<DataKey> = (0..KEYS_PER_PAGE).map(|_| DataKey::generate()).collect();
        let page = KeyPage { v: KeyPage::VERSION, keys: keys.iter().map(|k| Some(B64.encode(k.as_bytes()))).collect() };
        // A plain put: the id is 122 random bits, so "must not exist yet"
        // would cost the server a check per page that can never fail.
        self.bounded(self.kv.put(&page_id, page.encode())).await?;
        Ok(keys.into_iter().enumerate().map(|(slot, key)| (format!("{page_id}.{slot}"), key)).collect())
    }

    /// The key `key_id` names; `None` when it was erased or never written.
    pub async fn get(&self, key_id: &str) -> Result<Option<DataKey>, VaultError> {
        let at = key_ref(key_id);
        let Some(bytes) = self.bounded(self.kv.get(at.entry())).await? else { return Ok(None) };
        match at {
            KeyRef::Single(_) => Ok(Some(decode_key(&bytes)?)),
            KeyRef::Slot { slot, .. } => match KeyPage::decode(&bytes)?.keys.get(slot) {
                Some(Some(encoded)) => Ok(Some(decode_key(encoded.as_bytes())?)),
                _ => Ok(None),
            },
        }
    }

    pub async fn open_sealed(&self, sealed: &SealedPersonalData) -> Result<PersonalData, VaultError> {
        let key = self.get(&sealed.key_id).await?.ok_or_else(|| VaultError::Erased(sealed.key_id.clone()))?;
        Ok(sealed.open(&key)?)
    }

    /// Destroys the key, making every sealed record under it unreadable.
    /// Erasing a key that is already gone succeeds.
    pub async fn erase(&self, key_id: &str) -> Result<(), VaultError> {
        let (page_id, slot) = match key_ref(key_id) {
            KeyRef::Single(entry) => return self.bounded(self.kv.purge(entry)).await,
            KeyRef::Slot { page, slot } => (page, slot),
        };
        for _ in 0..MAX_ERASE_ATTEMPTS {
            let Some(entry) = self.bounded(self.kv.entry(page_id)).await? else { return Ok(()) };
            if entry.operation != kv::Operation::Put {
                return Ok(());
            }
            let mut page = KeyPage::decode(&entry.value)?;
            match page.keys.get_mut(slot) {
                Some(key @ Some(_)) => *key = None,
                _ => return Ok(()),
            }
            // Both writes name the revision read: if another erasure of this
            // page landed meanwhile, read again and redo it on top.
            let write = async {
                if page.keys.iter().all(Option::is_none) {
                    self.kv.purge_expect_revision(page_id, Some(entry.revision)).await
                } else {
                    self.kv.update(page_id, page.encode(), entry.revision).await.map(|_| ())
                }
            };
            match tokio::time::timeout(self.timeout, write).await {
                Err(_) => return Err(VaultError::Unavailable("timed out".into())),
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => continue,
                Ok(Err(e)) => return Err(VaultError::Unavailable(e.to_string())),
            }
        }
        Err(VaultError::Unavailable(format!("key page {page_id} kept changing during the erasure")))
    }
}

/// Data keys written to the vault ahead of use.
///
/// Sealing used to create the subscription's key on the request path: two
/// acknowledged JetStream writes per intake (the key, then the event). The
/// pool writes key pages in the background, so a request takes a key that
/// has already landed and makes one write, its event. The invariant is
/// unchanged: a key is durable before any event sealed under it is written.
///
/// A key taken for an append that then fails, or left in the pool at
/// shutdown, seals nothing; it stays in its page as a few unreferenced
/// bytes. Keys are random, never derived from the subscription: the sealed
/// record names its key (`key_id`), and erasing a subscriber means erasing
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
    /// Seals that found the pool empty and wrote a page inline.
    misses: std::sync::atomic::AtomicU64,
}

/// How many keys the pool keeps ready by default: enough for a burst of
/// several hundred requests between refills, few enough that a restart
/// leaves little behind.
pub const DEFAULT_POOL_SIZE: usize = 256;

/// Page writes the refiller keeps in flight, at most. It writes continuously
/// while the pool is below its target instead of in bursts awaited one at a
/// time, which at ~14k intakes/s fell behind and sent ~3 % of requests to
/// write their key inline, an extra round trip each. Bounded so a refill
/// cannot flood the connection ahead of the requests' own appends.
const MAX_PAGES_IN_FLIGHT: usize = 4;

impl KeyPool {
    /// Starts the background refiller on the current Tokio runtime. The pool
    /// keeps at least `target` keys ready, in whole pages.
    pub fn start(vault: KeyVault, target: usize) -> Self {
        let pool = Self::idle(vault, target);
        pool.inner.shared.low.notify_one();
        pool
    }

    /// Like [`KeyPool::start`], but writes nothing until a key is first
    /// taken (that seal writes its page inline). For processes that may
    /// never register anyone, such as the consumer roles: a pool filled at
    /// start-up would leave its pages unused in the vault on every restart.
    pub fn idle(vault: KeyVault, target: usize) -> Self {
        let shared = Arc::new(PoolShared {
            vault,
            ready: Mutex::new(VecDeque::with_capacity(target + KEYS_PER_PAGE)),
            low: Notify::new(),
            target: target.max(1),
            misses: std::sync::atomic::AtomicU64::new(0),
        });
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(refill(shared.clone(), stop.clone()));
        Self { inner: Arc::new(PoolHandle { shared, _stop: stop.drop_guard() }) }
    }

    /// How many durable keys are waiting to be used.
    pub fn ready(&self) -> usize {
        self.inner.shared.lock_ready().len()
    }

    /// How many seals so far found this pool empty and wrote a page inline
    /// (also counted in `masthead_data_key_pool_misses_total`).
    pub fn misses(&self) -> u64 {
        self.inner.shared.misses.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Seals `data` under a fresh key that is already durable in the vault.
    /// When the pool has run dry (a burst, or the vault was unreachable), a
    /// page is written inline and the rest of it goes to the pool.
    pub async fn seal(&self, data: &PersonalData) -> Result<SealedPersonalData, VaultError> {
        let (key_id, key) = match self.take() {
            Some(ready) => ready,
            None => {
                let shared = &self.inner.shared;
                // Under a steady load this stays near zero, or the pool is
                // too small for it: each miss is an extra round trip.
                shared.misses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics::counter!("masthead_data_key_pool_misses_total").increment(1);
                // Boxed so the rare miss does not enlarge every seal's future.
                let mut page = Box::pin(shared.vault.write_page()).await?.into_iter();
                let first = page.next().ok_or_else(|| VaultError::Unavailable("an empty key page".into()))?;
                shared.lock_ready().extend(page);
                first
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
                let coming = shared.lock_ready().len() + writes.len() * KEYS_PER_PAGE;
                let room = MAX_PAGES_IN_FLIGHT.saturating_sub(writes.len());
                let missing = shared.target.saturating_sub(coming).div_ceil(KEYS_PER_PAGE).min(room);
                for _ in 0..missing {
                    writes.push(shared.vault.write_page());
                }
            }
            let written = tokio::select! {
                _ = stop.cancelled() => return,
                written = writes.next() => written,
            };
            match written {
                None => break,
                Some(Ok(page)) => shared.lock_ready().extend(page),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_name_a_page_slot_or_a_single_entry() {
        assert_eq!(key_ref("dkp-0a1b.0"), KeyRef::Slot { page: "dkp-0a1b", slot: 0 });
        assert_eq!(key_ref("dkp-0a1b.31"), KeyRef::Slot { page: "dkp-0a1b", slot: 31 });
        // Older one-key entries, and anything that is not a valid slot.
        assert_eq!(key_ref("dk-0a1b"), KeyRef::Single("dk-0a1b"));
        assert_eq!(key_ref("dkp-0a1b.32"), KeyRef::Single("dkp-0a1b.32"));
        assert_eq!(key_ref("dkp-0a1b.x"), KeyRef::Single("dkp-0a1b.x"));
        assert_eq!(key_ref("other.3"), KeyRef::Single("other.3"));
    }

    #[test]
    fn a_page_of_another_version_is_refused_not_misread() {
        let page = br#"{"v":2,"keys":[]}"#;
        assert!(matches!(KeyPage::decode(page), Err(PersonalDataError::Unsupported(_))));
        assert!(matches!(KeyPage::decode(b"not json"), Err(PersonalDataError::MalformedKey)));
    }
}
