//! The embedded store: one redb file per projection generation.
//!
//! Layout (all multi-byte integers big-endian so byte order is key order):
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `meta` | `checkpoint`, `stats`, `format` | u64 / stats JSON / format version |
//! | `subscriptions` | id (u128) | document, binary (see `codec`; JSON in older files) |
//! | `addresses` | id (u128) | registration JSON (written once) |
//! | `address_live` | id (u128) | count, spellings, last_seq, binary like documents (rewritten per match) |
//! | `sub_by_created` | `desc(created) ‖ id` | – |
//! | `sub_by_status` | `status ‖ desc(created) ‖ id` | `country` |
//! | `sub_by_country` | `country ‖ 0 ‖ desc(created) ‖ id` | – |
//! | `addr_by_postal_code`, `addr_by_city`, `addr_by_country`, `addr_by_ref`, `addr_by_token`, `addr_by_status` | `value ‖ 0 ‖ id` | – |
//! | `address_history` | (id u128, seq u64) | curation history entry, JSON |
//! | `reviews` | id (u128) | review document, JSON |
//! | `review_by_created` | `asc(created) ‖ id` | – |
//! | `review_by_status` | `status ‖ asc(created) ‖ id` | – |
//!
//! `addr_by_status` holds merged and retired addresses only (active ones,
//! nearly all, are found by walking the others).
//!
//! `desc(t)` is the bitwise complement of the order-preserving encoding of
//! the creation time in µs, so an ascending scan yields the newest first.
//! Only the status index changes after a subscription appears; it carries
//! the country, so `status` + `country` is answered without documents. Documents,
//! indexes, stats and the checkpoint of a batch commit in one transaction.

use crate::apply::{DocSource, StoredStats};
use crate::error::StoreError;
use crate::fold::{AddressDoc, AddressLive, Registration, ReviewDoc, SubscriptionDoc};
use crate::query::{AddressFilter, PageRequest, ReviewFilter, SubscriptionFilter};
use crate::store::{codec, ProjectionStore};
use crate::view::{
    AddressHistoryEntry, AddressView, ApplyReport, Page, ReviewView, Stats, SubscriptionSummary, SubscriptionView,
};
use async_trait::async_trait;
use masthead_domain::envelope::{AnyEvent, Recorded};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SUBS: TableDefinition<u128, &[u8]> = TableDefinition::new("subscriptions");
const ADDRS: TableDefinition<u128, &[u8]> = TableDefinition::new("addresses");
const ADDR_LIVE: TableDefinition<u128, &[u8]> = TableDefinition::new("address_live");
const SUB_BY_CREATED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sub_by_created");
const SUB_BY_STATUS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sub_by_status");
const SUB_BY_COUNTRY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sub_by_country");
const ADDR_BY_POSTAL: TableDefinition<&[u8], ()> = TableDefinition::new("addr_by_postal_code");
const ADDR_BY_CITY: TableDefinition<&[u8], ()> = TableDefinition::new("addr_by_city");
const ADDR_BY_COUNTRY: TableDefinition<&[u8], ()> = TableDefinition::new("addr_by_country");
const ADDR_BY_REF: TableDefinition<&[u8], ()> = TableDefinition::new("addr_by_ref");
const ADDR_BY_TOKEN: TableDefinition<&[u8], ()> = TableDefinition::new("addr_by_token");
const ADDR_BY_STATUS: TableDefinition<&[u8], ()> = TableDefinition::new("addr_by_status");
/// Curation history entries, JSON, by (address, stream sequence).
const ADDR_HISTORY: TableDefinition<(u128, u64), &[u8]> = TableDefinition::new("address_history");
const REVIEWS: TableDefinition<u128, &[u8]> = TableDefinition::new("reviews");
const REVIEW_BY_CREATED: TableDefinition<&[u8], ()> = TableDefinition::new("review_by_created");
const REVIEW_BY_STATUS: TableDefinition<&[u8], ()> = TableDefinition::new("review_by_status");

const CHECKPOINT: &str = "checkpoint";
const STATS: &str = "stats";
const FORMAT: &str = "format";
/// Bumped when the layout changes; an older file must be rebuilt.
const FORMAT_VERSION: u64 = 1;

/// The projections in one redb file.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    path: PathBuf,
    /// See [`RedbStore::set_durable`].
    durable: Arc<AtomicBool>,
    /// Commits and events since the last durable commit.
    since_durable: Arc<(AtomicU64, AtomicU64)>,
    /// Between `begin_rebuild` and `finish_rebuild`: address index entries
    /// are written at the end, from the rows, in key order.
    rebuilding: Arc<AtomicBool>,
    /// See [`Written`]; `None` until the first batch loads it.
    written: Arc<Mutex<Option<Written>>>,
    /// How long the address indexes have lagged the rows (see `apply`).
    index_lag: Arc<Mutex<apply::IndexLag>>,
}

/// The ids of every address and review the store holds: any other id is
/// not stored, so a batch need not look it up. Loaded with the first batch
/// (a scan of the tables' keys), extended after each commit. An import's
/// registrations are all new, and looking each up in the growing address
/// table was a tenth of a rebuild's apply time and up to a third of a live
/// batch's. About 32 bytes per address (32 MB at a million);
/// subscriptions, usually many more, are looked up as before (their events
/// come close together, so a batch mostly finds them in itself).
type Written = HashSet<u128, rustc_hash::FxBuildHasher>;

/// The set behind a lock a panicking writer poisoned can miss ids it
/// wrote: then it is dropped, and loaded afresh by the next batch.
fn written_set(lock: &Mutex<Option<Written>>) -> std::sync::MutexGuard<'_, Option<Written>> {
    lock.lock().unwrap_or_else(|poisoned| {
        let mut set = poisoned.into_inner();
        *set = None;
        set
    })
}

/// Every address and review id in the store (see [`Written`]). Rows of
/// files from before registrations moved into `address_live` may have
/// their registration alone in `addresses`: both tables are read.
fn stored_ids(txn: &redb::WriteTransaction) -> Result<Written, StoreError> {
    use redb::ReadableTableMetadata;
    let mut ids = Written::default();
    for def in [ADDR_LIVE, ADDRS, REVIEWS] {
        let table = txn.open_table(def)?;
        ids.reserve(table.len()? as usize);
        for entry in table.iter()? {
            ids.insert(entry?.0.value());
        }
    }
    Ok(ids)
}

/// In non-durable mode a commit is made durable anyway after this many
/// commits or this many events since the last durable one: redb can only
/// reuse pages freed before the last durable commit, so without these the
/// file (and the cache misses) would grow with the whole rebuild. Counting
/// events too keeps that bound when a rebuild uses large batches: at
/// 120 000 rather than 500 000 a 1M-event rebuild peaked at ~760 MB instead
/// of ~880 MB, at the same rate.
const DURABLE_EVERY: u64 = 64;
const DURABLE_EVERY_EVENTS: u64 = 120_000;

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).finish()
    }
}

/// The file of generation `n` under `dir`: `<dir>/gen-<n>.redb`.
pub fn generation_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("gen-{n}.redb"))
}

/// The generations present under `dir`, oldest first.
pub fn generations(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Unavailable(format!("{}: {e}", dir.display()))),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|n| n.strip_prefix("gen-")).and_then(|n| n.strip_suffix(".redb")) else {
            continue;
        };
        if let Ok(n) = n.parse::<u64>() {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    // Serialising our own documents cannot fail short of a bug; report it as
    // such rather than panic inside a write transaction.
    serde_json::to_vec(v).map_err(|e| StoreError::Worker(format!("serialise: {e}")))
}

fn sub_from(bytes: &[u8]) -> Result<SubscriptionDoc, StoreError> {
    codec::decode_subscription(bytes)
}

fn registration_from(bytes: &[u8]) -> Result<Registration, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt("address registration", e))
}

/// An address row: its counters, and its registration if the row holds it
/// (files written before registrations moved into the row keep them in
/// `addresses`).
fn live_from(bytes: &[u8]) -> Result<(AddressLive, Option<Registration>), StoreError> {
    codec::decode_live(bytes)
}

/// An address from its two rows; `None` if neither exists.
fn load_address_doc(
    addrs: &impl ReadableTable<u128, &'static [u8]>,
    live: &impl ReadableTable<u128, &'static [u8]>,
    id: Uuid,
) -> Result<Option<AddressDoc>, StoreError> {
    let (counters, inline) = match live.get(id.as_u128())?.map(|v| live_from(v.value())).transpose()? {
        Some((counters, inline)) => (Some(counters), inline),
        None => (None, None),
    };
    let registration = match inline {
        Some(r) => Some(r),
        None => addrs.get(id.as_u128())?.map(|v| registration_from(v.value())).transpose()?,
    };
    if registration.is_none() && counters.is_none() {
        return Ok(None);
    }
    Ok(Some(AddressDoc { id, registration, live: counters.unwrap_or_default(), history: Vec::new() }))
}

/// The document of a registered address from its row as a table scan
/// reads it (`key`, `row`), with the registration from the older table when
/// the row does not carry it; `None` while the address is not registered.
fn registered_doc(
    addrs: &impl ReadableTable<u128, &'static [u8]>,
    key: u128,
    row: &[u8],
) -> Result<Option<AddressDoc>, StoreError> {
    let (counters, inline) = live_from(row)?;
    if !counters.registered {
        return Ok(None);
    }
    let registration = match inline {
        Some(r) => Some(r),
        None => addrs.get(key)?.map(|r| registration_from(r.value())).transpose()?,
    };
    Ok(Some(AddressDoc { id: Uuid::from_u128(key), registration, live: counters, history: Vec::new() }))
}

/// Gives a subscription its base address's `ref` and status as the address
/// row holds them now. A correction of the `ref` alone moves no
/// subscription (the lines it is delivered to are the same), so the copy in
/// the subscription's document may be older. Until the address's
/// registration is applied the subscription keeps the `ref` its match
/// carried.
fn show_current_ref(
    live: &impl ReadableTable<u128, &'static [u8]>,
    summary: &mut SubscriptionSummary,
) -> Result<(), StoreError> {
    let Some(id) = summary.base_address_id else { return Ok(()) };
    if let Some(row) = live.get(id.as_u128())? {
        let (registered, reference, status) = codec::decode_live_head(row.value())?;
        if registered {
            summary.base_address_status = Some(status);
            summary.base_address_ref = reference;
        }
    }
    Ok(())
}

fn desc_ts(us: i64) -> [u8; 8] {
    (!((us as u64) ^ (1 << 63))).to_be_bytes()
}

fn undesc_ts(b: [u8; 8]) -> i64 {
    ((!u64::from_be_bytes(b)) ^ (1 << 63)) as i64
}

/// `value ‖ 0 ‖ id`. Values are normalised text without NUL.
fn value_id_key(value: &str, id: Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 17);
    push_value_id_key(&mut k, value, id);
    k
}

/// Appends [`value_id_key`] to `buf` (the index pass keeps many in one
/// buffer).
fn push_value_id_key(buf: &mut Vec<u8>, value: &str, id: Uuid) {
    buf.extend_from_slice(value.as_bytes());
    buf.push(0);
    buf.extend_from_slice(id.as_bytes());
}

/// Splits `value ‖ 0 ‖ id`.
fn split_value_id(key: &[u8]) -> Option<(&[u8], Uuid)> {
    let n = key.len().checked_sub(17)?;
    (key[n] == 0).then(|| (&key[..n], Uuid::from_slice(&key[n + 1..]).ok())).and_then(|(v, id)| Some((v, id?)))
}

/// Where a batch reads the documents it has not seen yet: the tables of
/// its own write transaction.
struct TxnSource<'a, 'txn> {
    subs: &'a Table<'txn, u128, &'static [u8]>,
    live: &'a Table<'txn, u128, &'static [u8]>,
    addrs: &'a Table<'txn, u128, &'static [u8]>,
    reviews: &'a Table<'txn, u128, &'static [u8]>,
    /// Every address and review id the store holds (see [`Written`]).
    stored_ids: &'a Written,
}

impl TxnSource<'_, '_> {
    /// False when the id is certainly not stored.
    fn may_hold(&self, id: Uuid) -> bool {
        self.stored_ids.contains(&id.as_u128())
    }
}

impl DocSource for TxnSource<'_, '_> {
    fn load_subscription(&mut self, id: Uuid) -> Result<Option<SubscriptionDoc>, StoreError> {
        self.subs.get(id.as_u128())?.map(|v| sub_from(v.value())).transpose()
    }

    fn load_address(&mut self, id: Uuid) -> Result<Option<AddressDoc>, StoreError> {
        if !self.may_hold(id) {
            return Ok(None);
        }
        // The row: counters, and the registration in files since it moved
        // there (a batch of older files loads that only for curation).
        let row = self.live.get(id.as_u128())?.map(|v| live_from(v.value())).transpose()?;
        Ok(row.map(|(live, registration)| AddressDoc { id, registration, live, history: Vec::new() }))
    }

    fn load_registration(&mut self, id: Uuid) -> Result<Option<Registration>, StoreError> {
        if !self.may_hold(id) {
            return Ok(None);
        }
        self.addrs.get(id.as_u128())?.map(|v| registration_from(v.value())).transpose()
    }

    fn load_review(&mut self, id: Uuid) -> Result<Option<ReviewDoc>, StoreError> {
        if !self.may_hold(id) {
            return Ok(None);
        }
        self.reviews.get(id.as_u128())?.map(|v| review_from(v.value())).transpose()
    }
}

fn review_from(bytes: &[u8]) -> Result<ReviewDoc, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt("review document", e))
}

type AddrIndex = TableDefinition<'static, &'static [u8], ()>;

/// The address indexes, in the order `write::addr_index_entries` refers to them.
const ADDR_INDEXES: [TableDefinition<&[u8], ()>; 6] =
    [ADDR_BY_POSTAL, ADDR_BY_CITY, ADDR_BY_COUNTRY, ADDR_BY_REF, ADDR_BY_TOKEN, ADDR_BY_STATUS];

impl RedbStore {
    /// Opens (creating if needed) the store at `path`. Fails with
    /// [`StoreError::Locked`] if another process has it open.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
        }
        let db = Database::builder()
            // Index pages of a million addresses stay hot for paging.
            .set_cache_size(512 * 1024 * 1024)
            .create(path)?;
        let txn = db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let format = meta.get(FORMAT)?.map(|v| v.value().to_vec());
            match format {
                None => {
                    meta.insert(FORMAT, FORMAT_VERSION.to_be_bytes().as_slice())?;
                }
                Some(v) if v.as_slice() == FORMAT_VERSION.to_be_bytes() => {}
                Some(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "{} has another projection format; rebuild into a new generation",
                        path.display()
                    )))
                }
            }
            // Create every table up front so readers never meet a missing one.
            txn.open_table(SUBS)?;
            txn.open_table(ADDRS)?;
            txn.open_table(ADDR_LIVE)?;
            txn.open_table(ADDR_HISTORY)?;
            txn.open_table(REVIEWS)?;
            for t in [REVIEW_BY_CREATED, REVIEW_BY_STATUS] {
                txn.open_table(t)?;
            }
            for t in [SUB_BY_CREATED, SUB_BY_STATUS, SUB_BY_COUNTRY] {
                txn.open_table(t)?;
            }
            for t in ADDR_INDEXES {
                txn.open_table(t)?;
            }
        }
        txn.commit()?;
        let store = Self {
            db: Arc::new(db),
            path: path.to_owned(),
            durable: Arc::new(AtomicBool::new(true)),
            since_durable: Arc::new((AtomicU64::new(0), AtomicU64::new(0))),
            rebuilding: Arc::new(AtomicBool::new(false)),
            written: Arc::new(Mutex::new(None)),
            index_lag: Arc::new(Mutex::new(apply::IndexLag::default())),
        };
        // A projector stopped while its address indexes lagged the rows.
        store.catch_up_or_warn();
        Ok(store)
    }

    /// Creates the next generation under `dir` (one past the highest present)
    /// and opens it, empty, for a rebuild.
    pub fn create_generation(dir: &Path) -> Result<(u64, Self), StoreError> {
        let next = generations(dir)?.last().map_or(1, |(n, _)| n + 1);
        let path = generation_path(dir, next);
        Ok((next, Self::open(&path)?))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// With `false`, batches commit without fsync: a crash loses the latest
    /// batches *together with their checkpoint*, so the store stays
    /// consistent and the feed simply resumes earlier. Meant for rebuilds
    /// into a fresh generation; call [`flush`](Self::flush) at the end. The
    /// default is durable, because a live consumer acks after each batch.
    pub fn set_durable(&self, durable: bool) {
        self.durable.store(durable, Ordering::Relaxed);
    }

    /// [`ProjectionStore::begin_rebuild`]: commits without fsync (see
    /// [`set_durable`](Self::set_durable)), and the address indexes are
    /// written once at the end rather than with every batch.
    pub fn begin_rebuild_blocking(&self) {
        self.set_durable(false);
        self.rebuilding.store(true, Ordering::Relaxed);
    }

    /// [`ProjectionStore::finish_rebuild`]: writes the address indexes
    /// (which a rebuild defers) and makes everything durable.
    pub fn finish_rebuild_blocking(&self) -> Result<(), StoreError> {
        self.set_durable(true);
        self.rebuilding.store(false, Ordering::Relaxed);
        self.catch_up_indexes()?;
        self.flush()
    }

    /// Makes every commit so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    /// Bytes each table holds: (table, stored, fragmented), for operators
    /// sizing disks and for the benchmarks.
    pub fn table_sizes(&self) -> Result<Vec<(String, u64, u64)>, StoreError> {
        use redb::{ReadableTableMetadata, TableHandle};
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        let mut add =
            |name: &str, st: redb::TableStats| out.push((name.to_owned(), st.stored_bytes(), st.fragmented_bytes()));
        add(META.name(), txn.open_table(META)?.stats()?);
        for def in [SUBS, ADDRS, ADDR_LIVE, REVIEWS] {
            add(def.name(), txn.open_table(def)?.stats()?);
        }
        add(ADDR_HISTORY.name(), txn.open_table(ADDR_HISTORY)?.stats()?);
        for def in [REVIEW_BY_CREATED, REVIEW_BY_STATUS] {
            add(def.name(), txn.open_table(def)?.stats()?);
        }
        for def in [SUB_BY_CREATED, SUB_BY_STATUS, SUB_BY_COUNTRY] {
            add(def.name(), txn.open_table(def)?.stats()?);
        }
        for def in ADDR_INDEXES {
            add(def.name(), txn.open_table(def)?.stats()?);
        }
        Ok(out)
    }

    pub fn checkpoint_blocking(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        read_u64(&txn.open_table(META)?, CHECKPOINT)
    }

    pub fn stats_blocking(&self) -> Result<Stats, StoreError> {
        let txn = self.db.begin_read()?;
        read_stats(&txn.open_table(META)?)
    }

    pub fn subscription_blocking(&self, id: Uuid) -> Result<Option<SubscriptionView>, StoreError> {
        let txn = self.db.begin_read()?;
        let subs = txn.open_table(SUBS)?;
        let doc = subs.get(id.as_u128())?.map(|v| sub_from(v.value())).transpose()?;
        let mut view = doc.and_then(|d| d.view());
        if let Some(v) = &mut view {
            show_current_ref(&txn.open_table(ADDR_LIVE)?, &mut v.summary)?;
        }
        Ok(view)
    }

    pub fn address_blocking(&self, id: Uuid) -> Result<Option<AddressView>, StoreError> {
        let txn = self.db.begin_read()?;
        let doc = load_address_doc(&txn.open_table(ADDRS)?, &txn.open_table(ADDR_LIVE)?, id)?;
        Ok(doc.and_then(|d| d.view()))
    }
}

fn read_u64(meta: &impl ReadableTable<&'static str, &'static [u8]>, key: &str) -> Result<u64, StoreError> {
    match meta.get(key)? {
        None => Ok(0),
        Some(v) => {
            let b: [u8; 8] = v.value().try_into().map_err(|_| corrupt(key, "not 8 bytes"))?;
            Ok(u64::from_be_bytes(b))
        }
    }
}

fn read_stored_stats(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<StoredStats, StoreError> {
    match meta.get(STATS)? {
        None => {
            Ok(StoredStats { stats: Stats { score_histogram: vec![0; 10], ..Stats::default() }, ..Default::default() })
        }
        Some(v) => serde_json::from_slice(v.value()).map_err(|e| corrupt("stats", e)),
    }
}

fn read_stats(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Stats, StoreError> {
    read_stored_stats(meta).map(|s| s.stats)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await?
}

#[async_trait]
impl ProjectionStore for RedbStore {
    async fn apply_batch(&self, events: &[Recorded<AnyEvent>]) -> Result<ApplyReport, StoreError> {
        let store = self.clone();
        let events = events.to_vec();
        blocking(move || store.apply_batch_blocking(&events)).await
    }

    async fn apply_batch_owned(&self, events: Vec<Recorded<AnyEvent>>) -> Result<ApplyReport, StoreError> {
        let store = self.clone();
        blocking(move || store.apply_batch_blocking(&events)).await
    }

    async fn apply_backlog_batch(
        &self,
        events: Vec<Recorded<AnyEvent>>,
        waiting: u64,
    ) -> Result<ApplyReport, StoreError> {
        let store = self.clone();
        blocking(move || store.apply_backlog_batch_blocking(&events, waiting)).await
    }

    async fn begin_rebuild(&self) -> Result<(), StoreError> {
        self.begin_rebuild_blocking();
        Ok(())
    }

    async fn finish_rebuild(&self) -> Result<(), StoreError> {
        let store = self.clone();
        blocking(move || store.finish_rebuild_blocking()).await
    }

    async fn checkpoint(&self) -> Result<u64, StoreError> {
        let store = self.clone();
        blocking(move || store.checkpoint_blocking()).await
    }

    async fn subscription(&self, id: Uuid) -> Result<Option<SubscriptionView>, StoreError> {
        let store = self.clone();
        blocking(move || store.subscription_blocking(id)).await
    }

    async fn subscriptions(
        &self,
        filter: &SubscriptionFilter,
        page: PageRequest,
    ) -> Result<Page<SubscriptionSummary>, StoreError> {
        let store = self.clone();
        let filter = filter.clone();
        blocking(move || store.subscriptions_blocking(&filter, &page)).await
    }

    async fn address(&self, id: Uuid) -> Result<Option<AddressView>, StoreError> {
        let store = self.clone();
        blocking(move || store.address_blocking(id)).await
    }

    /// Runs on the calling task, not on the blocking pool: a page examines
    /// at most `MAX_SCAN` index entries (p50 60–400 µs at 1M addresses),
    /// and handing each request to a pool thread and back cost the HTTP
    /// path a fifth of its throughput in thread switches.
    async fn addresses(&self, filter: &AddressFilter, page: PageRequest) -> Result<Page<AddressView>, StoreError> {
        self.addresses_blocking(filter, &page)
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        let store = self.clone();
        blocking(move || store.stats_blocking()).await
    }

    async fn address_history(&self, id: Uuid) -> Result<Option<Vec<AddressHistoryEntry>>, StoreError> {
        let store = self.clone();
        blocking(move || store.address_history_blocking(id)).await
    }

    async fn reviews(&self, filter: &ReviewFilter, page: PageRequest) -> Result<Page<ReviewView>, StoreError> {
        let store = self.clone();
        let filter = filter.clone();
        blocking(move || store.reviews_blocking(&filter, &page)).await
    }

    async fn review(&self, id: Uuid) -> Result<Option<ReviewView>, StoreError> {
        let store = self.clone();
        blocking(move || store.review_blocking(id)).await
    }
}

mod apply;
pub use apply::{DEFER_FROM_BACKLOG_SHARE, DEFER_FROM_NEW_ADDRESSES, KEEP_DEFERRING_FROM_WAITING, MAX_INDEX_LAG};
mod curation;
mod index_pass;
mod lists;
#[cfg(test)]
mod tests;
mod write;
