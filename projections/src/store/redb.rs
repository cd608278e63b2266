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
//! | `addr_by_postal_code`, `addr_by_city`, `addr_by_country`, `addr_by_ref`, `addr_by_token` | `value ‖ 0 ‖ id` | – |
//!
//! `desc(t)` is the bitwise complement of the order-preserving encoding of
//! the creation time in µs, so an ascending scan yields the newest first.
//! Only the status index changes after a subscription appears; it carries
//! the country, so `status` + `country` is answered without documents. Documents,
//! indexes, stats and the checkpoint of a batch commit in one transaction.

use crate::apply::{Batch, DocSource};
use crate::cursor::{AddressCursor, SubscriptionCursor};
use crate::error::StoreError;
use crate::fold::{AddressDoc, AddressKeys, AddressLive, Registration, SubscriptionDoc, SubscriptionKeys};
use crate::query::{
    normalize_city, normalize_country, normalize_postal_code, tokens_match, AddressFilter, PageRequest,
    SubscriptionFilter, MAX_SCAN,
};
use crate::store::{codec, ProjectionStore};
use crate::view::{AddressView, ApplyReport, Page, Stats, SubscriptionSummary, SubscriptionView};
use async_trait::async_trait;
use masthead_domain::envelope::{AnyEvent, Recorded};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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

/// Serialises into `buf` (cleared first), so a batch reuses one buffer.
fn encode_json<T: serde::Serialize>(buf: &mut Vec<u8>, v: &T) -> Result<(), StoreError> {
    buf.clear();
    serde_json::to_writer(&mut *buf, v).map_err(|e| StoreError::Worker(format!("serialise: {e}")))
}

fn sub_from(bytes: &[u8]) -> Result<SubscriptionDoc, StoreError> {
    codec::decode_subscription(bytes)
}

fn registration_from(bytes: &[u8]) -> Result<Registration, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt("address registration", e))
}

fn live_from(bytes: &[u8]) -> Result<AddressLive, StoreError> {
    codec::decode_live(bytes)
}

/// An address from its two rows; `None` if neither exists.
fn load_address_doc(
    addrs: &impl ReadableTable<u128, &'static [u8]>,
    live: &impl ReadableTable<u128, &'static [u8]>,
    id: Uuid,
) -> Result<Option<AddressDoc>, StoreError> {
    let registration = addrs.get(id.as_u128())?.map(|v| registration_from(v.value())).transpose()?;
    let counters = live.get(id.as_u128())?.map(|v| live_from(v.value())).transpose()?;
    if registration.is_none() && counters.is_none() {
        return Ok(None);
    }
    Ok(Some(AddressDoc { id, registration, live: counters.unwrap_or_default() }))
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
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Splits `value ‖ 0 ‖ id`.
fn split_value_id(key: &[u8]) -> Option<(&[u8], Uuid)> {
    let n = key.len().checked_sub(17)?;
    (key[n] == 0).then(|| (&key[..n], Uuid::from_slice(&key[n + 1..]).ok())).and_then(|(v, id)| Some((v, id?)))
}

/// The smallest key greater than every key starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Scans `[start, end)` (start optionally exclusive), handing each key and
/// value to `visit` until it returns false.
fn scan<V: redb::Value + 'static>(
    table: &impl ReadableTable<&'static [u8], V>,
    start: Bound<&[u8]>,
    end: Option<&[u8]>,
    mut visit: impl FnMut(&[u8], V::SelfType<'_>) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    let end = match end {
        Some(e) => Bound::Excluded(e),
        None => Bound::Unbounded,
    };
    for entry in table.range::<&[u8]>((start, end))? {
        let (k, v) = entry?;
        if !visit(k.value(), v.value())? {
            break;
        }
    }
    Ok(())
}

struct TxnSource<'a, 'txn> {
    subs: &'a Table<'txn, u128, &'static [u8]>,
    live: &'a Table<'txn, u128, &'static [u8]>,
}

impl DocSource for TxnSource<'_, '_> {
    fn load_subscription(&mut self, id: Uuid) -> Result<Option<SubscriptionDoc>, StoreError> {
        self.subs.get(id.as_u128())?.map(|v| sub_from(v.value())).transpose()
    }

    fn load_address(&mut self, id: Uuid) -> Result<Option<AddressDoc>, StoreError> {
        // Counters only: a batch never needs the registration of an address
        // registered before (see `AddressLive`), and every touched address
        // has a counters row.
        let live = self.live.get(id.as_u128())?.map(|v| live_from(v.value())).transpose()?;
        Ok(live.map(|live| AddressDoc { id, registration: None, live }))
    }
}

fn sub_index_keys(k: &SubscriptionKeys, id: Uuid) -> [Vec<u8>; 3] {
    let ts = desc_ts(k.created_us);
    let mut created = Vec::with_capacity(24);
    created.extend_from_slice(&ts);
    created.extend_from_slice(id.as_bytes());
    let mut status = vec![k.status.code()];
    status.extend_from_slice(&created);
    let mut country = Vec::with_capacity(k.country.len() + 25);
    country.extend_from_slice(k.country.as_bytes());
    country.push(0);
    country.extend_from_slice(&created);
    [created, status, country]
}

/// Entries (with values) to insert and keys to remove in one index.
type KeyedChanges = (Vec<(Vec<u8>, Vec<u8>)>, Vec<Vec<u8>>);

/// A batch's changes to the three subscription indexes, collected so each
/// table is written once, in key order.
#[derive(Default)]
struct SubIndexChanges {
    /// (key, value) to insert and key to remove, per index.
    created: (Vec<Vec<u8>>, Vec<Vec<u8>>),
    status: KeyedChanges,
    country: (Vec<Vec<u8>>, Vec<Vec<u8>>),
}

impl SubIndexChanges {
    /// Records what moving a subscription from `old` keys to `new` changes.
    fn add(&mut self, id: Uuid, old: Option<&SubscriptionKeys>, new: Option<&SubscriptionKeys>) {
        if old == new {
            return;
        }
        let old = old.map(|k| sub_index_keys(k, id));
        let new_keys = new.map(|k| (k, sub_index_keys(k, id)));
        if let Some([c, s, n]) = &old {
            self.status.1.push(s.clone());
            // Creation time and country never change once visible.
            if new_keys.as_ref().is_none_or(|(_, [c2, _, n2])| c2 != c || n2 != n) {
                self.created.1.push(c.clone());
                self.country.1.push(n.clone());
            }
        }
        if let Some((k, [c, s, n])) = new_keys {
            self.status.0.push((s, k.country.as_bytes().to_vec()));
            if old.as_ref().is_none_or(|[c0, _, n0]| *c0 != c || *n0 != n) {
                self.created.0.push(c);
                self.country.0.push(n);
            }
        }
    }

    /// Removals first: a key removed and re-inserted in one batch (a status
    /// that went and came back) must end up present.
    fn write(mut self, txn: &redb::WriteTransaction) -> Result<(), StoreError> {
        for (def, (mut insert, mut remove)) in [(SUB_BY_CREATED, self.created), (SUB_BY_COUNTRY, self.country)] {
            if insert.is_empty() && remove.is_empty() {
                continue;
            }
            let mut table = txn.open_table(def)?;
            remove.sort_unstable();
            for k in &remove {
                table.remove(k.as_slice())?;
            }
            insert.sort_unstable();
            for k in &insert {
                table.insert(k.as_slice(), [].as_slice())?;
            }
        }
        if !self.status.0.is_empty() || !self.status.1.is_empty() {
            let mut table = txn.open_table(SUB_BY_STATUS)?;
            self.status.1.sort_unstable();
            for k in &self.status.1 {
                table.remove(k.as_slice())?;
            }
            self.status.0.sort_unstable();
            for (k, v) in &self.status.0 {
                table.insert(k.as_slice(), v.as_slice())?;
            }
        }
        Ok(())
    }
}

type AddrIndex = TableDefinition<'static, &'static [u8], ()>;

/// The address indexes, in the order [`addr_index_entries`] refers to them.
const ADDR_INDEXES: [TableDefinition<&[u8], ()>; 5] =
    [ADDR_BY_POSTAL, ADDR_BY_CITY, ADDR_BY_COUNTRY, ADDR_BY_REF, ADDR_BY_TOKEN];

/// The index entries of an address as (position in [`ADDR_INDEXES`], key).
fn addr_index_entries(k: &AddressKeys, id: Uuid) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::with_capacity(4 + k.tokens.len());
    for (i, value) in [&k.postal_code, &k.city, &k.country, &k.reference].into_iter().enumerate() {
        if let Some(v) = value {
            out.push((i, value_id_key(v, id)));
        }
    }
    for t in &k.tokens {
        out.push((4, value_id_key(t, id)));
    }
    out
}

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
            for t in [SUB_BY_CREATED, SUB_BY_STATUS, SUB_BY_COUNTRY] {
                txn.open_table(t)?;
            }
            for t in ADDR_INDEXES {
                txn.open_table(t)?;
            }
        }
        txn.commit()?;
        Ok(Self {
            db: Arc::new(db),
            path: path.to_owned(),
            durable: Arc::new(AtomicBool::new(true)),
            since_durable: Arc::new((AtomicU64::new(0), AtomicU64::new(0))),
        })
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

    /// Makes every commit so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    /// The blocking form of [`ProjectionStore::apply_batch`], for rebuild
    /// loops that already run on a blocking thread.
    pub fn apply_batch_blocking(&self, events: &[Recorded<AnyEvent>]) -> Result<ApplyReport, StoreError> {
        let mut txn = self.db.begin_write()?;
        // One writer at a time (redb serialises write transactions), so
        // these counters need no stronger ordering.
        let (commits, applied) = &*self.since_durable;
        let commits_since = commits.fetch_add(1, Ordering::Relaxed) + 1;
        let events_since = applied.fetch_add(events.len() as u64, Ordering::Relaxed) + events.len() as u64;
        if self.durable.load(Ordering::Relaxed)
            || commits_since >= DURABLE_EVERY
            || events_since >= DURABLE_EVERY_EVENTS
        {
            commits.store(0, Ordering::Relaxed);
            applied.store(0, Ordering::Relaxed);
        } else {
            txn.set_durability(Durability::None)?;
        }
        let report;
        {
            let mut meta = txn.open_table(META)?;
            let checkpoint = read_u64(&meta, CHECKPOINT)?;
            let mut subs = txn.open_table(SUBS)?;
            let mut addrs = txn.open_table(ADDRS)?;
            let mut live = txn.open_table(ADDR_LIVE)?;
            let mut batch = Batch::new(checkpoint);
            batch.apply_all(&mut TxnSource { subs: &subs, live: &live }, events)?;

            // Writes go in key order, table by table: consecutive inserts
            // then land in the leaf the previous one already copied, instead
            // of hopping across the tree (the batch's maps iterate randomly).
            let mut buf = Vec::with_capacity(1024);
            let mut dirty: Vec<_> = batch.subs.iter().filter(|(_, s)| s.dirty).collect();
            dirty.sort_unstable_by_key(|(id, _)| id.as_u128());
            let mut index = SubIndexChanges::default();
            for (id, slot) in dirty {
                codec::encode_subscription(&mut buf, &slot.doc);
                subs.insert(id.as_u128(), buf.as_slice())?;
                index.add(*id, slot.stored_keys.as_ref(), slot.doc.keys().as_ref());
            }
            index.write(&txn)?;

            let mut dirty: Vec<_> = batch.addrs.iter().filter(|(_, s)| s.dirty).collect();
            dirty.sort_unstable_by_key(|(id, _)| id.as_u128());
            let mut new_entries: [Vec<Vec<u8>>; ADDR_INDEXES.len()] = Default::default();
            for (id, slot) in &dirty {
                codec::encode_live(&mut buf, &slot.doc.live);
                live.insert(id.as_u128(), buf.as_slice())?;
            }
            for (id, slot) in &dirty {
                // Registration never changes, so it and its index entries
                // are written once, when it first appears.
                if slot.was_registered {
                    continue;
                }
                let (Some(registration), Some(keys)) = (&slot.doc.registration, slot.doc.keys()) else {
                    continue;
                };
                encode_json(&mut buf, registration)?;
                addrs.insert(id.as_u128(), buf.as_slice())?;
                for (i, key) in addr_index_entries(&keys, **id) {
                    new_entries[i].push(key);
                }
            }
            for (def, mut keys) in ADDR_INDEXES.into_iter().zip(new_entries) {
                if keys.is_empty() {
                    continue;
                }
                keys.sort_unstable();
                let mut table = txn.open_table(def)?;
                for key in &keys {
                    table.insert(key.as_slice(), ())?;
                }
            }

            let mut stats = read_stats(&meta)?;
            batch.stats.merge_into(&mut stats);
            // The stats mirror the checkpoint so the two can never disagree.
            stats.last_applied_seq = batch.report.checkpoint;
            meta.insert(STATS, to_json(&stats)?.as_slice())?;
            meta.insert(CHECKPOINT, batch.report.checkpoint.to_be_bytes().as_slice())?;
            report = batch.report;
        }
        txn.commit()?;
        Ok(report)
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
        for def in [SUBS, ADDRS, ADDR_LIVE] {
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
        Ok(doc.and_then(|d| d.view()))
    }

    pub fn address_blocking(&self, id: Uuid) -> Result<Option<AddressView>, StoreError> {
        let txn = self.db.begin_read()?;
        let doc = load_address_doc(&txn.open_table(ADDRS)?, &txn.open_table(ADDR_LIVE)?, id)?;
        Ok(doc.and_then(|d| d.view()))
    }

    pub fn subscriptions_blocking(
        &self,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionSummary>, StoreError> {
        let limit = page.effective_limit();
        let cursor = page.cursor.as_deref().map(SubscriptionCursor::decode).transpose()?;
        let country = filter.country_code();
        let txn = self.db.begin_read()?;

        // Pick the index whose prefix does most of the filtering; the rest is
        // checked on the index value.
        let (def, prefix): (TableDefinition<&[u8], &[u8]>, Vec<u8>) = match (filter.status, &country) {
            (Some(s), _) => (SUB_BY_STATUS, vec![s.code()]),
            (None, Some(c)) => (SUB_BY_COUNTRY, {
                let mut p = c.as_bytes().to_vec();
                p.push(0);
                p
            }),
            (None, None) => (SUB_BY_CREATED, Vec::new()),
        };
        let by_status = filter.status.is_some();
        let table = txn.open_table(def)?;
        let with_prefix = |tail: &[u8]| {
            let mut k = prefix.clone();
            k.extend_from_slice(tail);
            k
        };
        // Newest first: `created_before` (exclusive) bounds the start,
        // `created_after` (inclusive) the end.
        let mut start = match filter.created_before {
            Some(b) => Bound::Included(with_prefix(&desc_ts(b.timestamp_micros().saturating_sub(1)))),
            None => Bound::Included(prefix.clone()),
        };
        if let Some(c) = &cursor {
            let mut after = desc_ts(c.created_us).to_vec();
            after.extend_from_slice(c.id.as_bytes());
            let after = with_prefix(&after);
            let later = match &start {
                Bound::Included(s) => after >= *s,
                _ => true,
            };
            if later {
                start = Bound::Excluded(after);
            }
        }
        let end = match filter.created_after {
            Some(a) if a.timestamp_micros() > i64::MIN => Some(with_prefix(&desc_ts(a.timestamp_micros() - 1))),
            _ => prefix_end(&prefix),
        };

        let mut ids = Vec::with_capacity(limit);
        let mut scanned = 0usize;
        let mut last_pos: Option<SubscriptionCursor> = None;
        let mut more = false;
        let start_ref = match &start {
            Bound::Included(s) => Bound::Included(s.as_slice()),
            Bound::Excluded(s) => Bound::Excluded(s.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        };
        scan(&table, start_ref, end.as_deref(), |key, value| {
            let tail = key
                .get(prefix.len()..)
                .filter(|t| t.len() == 24)
                .ok_or_else(|| corrupt("subscription index key", "bad length"))?;
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&tail[..8]);
            let id = Uuid::from_slice(&tail[8..]).map_err(|e| corrupt("subscription index key", e))?;
            if scanned == MAX_SCAN {
                // Budget spent: a short page whose cursor resumes here.
                more = true;
                return Ok(false);
            }
            scanned += 1;
            // What each index keeps in its value: see the module table.
            // Only the status index filters further: on its country value.
            let country_ok = match (&country, by_status) {
                (Some(want), true) => want.as_bytes() == value,
                _ => true,
            };
            if country_ok {
                if ids.len() == limit {
                    // A match past the page: there is a next page.
                    more = true;
                    return Ok(false);
                }
                ids.push(id);
            }
            last_pos = Some(SubscriptionCursor { created_us: undesc_ts(ts), id });
            Ok(true)
        })?;

        let subs = txn.open_table(SUBS)?;
        let mut items = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(bytes) = subs.get(id.as_u128())? else {
                return Err(corrupt("subscription index", format!("entry for missing {id}")));
            };
            if let Some(s) = sub_from(bytes.value())?.summary() {
                items.push(s);
            }
        }
        let next_cursor = if more { last_pos.map(|c| c.encode()) } else { None };
        Ok(Page { items, next_cursor })
    }

    pub fn addresses_blocking(
        &self,
        filter: &AddressFilter,
        page: &PageRequest,
    ) -> Result<Page<AddressView>, StoreError> {
        let limit = page.effective_limit();
        let cursor = page.cursor.as_deref().map(AddressCursor::decode).transpose()?;
        let q = filter.q_tokens()?;
        let want = Want {
            postal_code: filter.postal_code.as_deref().map(normalize_postal_code),
            city: filter.city.as_deref().map(normalize_city),
            country: filter.country.as_deref().map(normalize_country),
            reference: filter.reference.clone(),
            q,
        };
        let txn = self.db.begin_read()?;
        let addrs = txn.open_table(ADDRS)?;
        let live = txn.open_table(ADDR_LIVE)?;

        let mut items = Vec::with_capacity(limit);
        let mut scanned = 0usize;
        let mut last_pos: Option<AddressCursor> = None;
        let mut more = false;
        // The most selective filter drives: `ref` and postal code, then a
        // search (the word index), then city and country (which may match a
        // large share of all addresses); no filter walks by id.
        let selective = [(ADDR_BY_REF, &want.reference), (ADDR_BY_POSTAL, &want.postal_code)];
        let broad = [(ADDR_BY_CITY, &want.city), (ADDR_BY_COUNTRY, &want.country)];
        let pick =
            |c: &[(AddrIndex, &Option<String>)]| c.iter().find_map(|(def, v)| v.as_ref().map(|v| (*def, v.clone())));
        let exact = pick(&selective).or_else(|| if want.q.is_some() { None } else { pick(&broad) });

        let mut consider = |doc: AddressDoc,
                            pos: AddressCursor,
                            items: &mut Vec<AddressView>|
         -> Result<bool, StoreError> {
            if scanned == MAX_SCAN {
                more = true;
                return Ok(false);
            }
            scanned += 1;
            // Without filters there is nothing to compare, and normalising
            // every field of every listed address was a fifth of the work.
            let listed = want.is_everything()
                || doc.keys().is_some_and(|keys| {
                    let driver_ok = match (&want.q, pos.key.is_empty()) {
                        // Under the word index an address appears once per word;
                        // list it under its first word matching the driver only.
                        (Some(q), false) => {
                            let driver = driver_token(q);
                            keys.tokens.iter().filter(|t| t.starts_with(driver)).min().is_some_and(|t| *t == pos.key)
                        }
                        _ => true,
                    };
                    driver_ok && want.matches(&keys)
                });
            // Only registered addresses are visible (`into_view`).
            if listed && doc.registration.is_some() {
                if items.len() == limit {
                    more = true;
                    return Ok(false);
                }
                items.extend(doc.into_view());
            }
            last_pos = Some(pos);
            Ok(true)
        };

        match (exact, &want.q) {
            (Some((def, value)), _) => {
                let table = txn.open_table(def)?;
                let first = value_id_key(&value, Uuid::nil());
                let prefix = &first[..value.len() + 1];
                let after = cursor.as_ref().map(|c| value_id_key(&value, c.id));
                let start = match &after {
                    Some(a) => Bound::Excluded(a.as_slice()),
                    None => Bound::Included(prefix),
                };
                let end = prefix_end(prefix);
                scan(&table, start, end.as_deref(), |key, ()| {
                    let (_, id) = split_value_id(key).ok_or_else(|| corrupt("address index key", "bad shape"))?;
                    let doc = load_addr(&addrs, &live, id)?;
                    consider(doc, AddressCursor { id, key: String::new() }, &mut items)
                })?;
            }
            (None, Some(q)) => {
                let table = txn.open_table(ADDR_BY_TOKEN)?;
                let driver = driver_token(q).as_bytes().to_vec();
                let after = cursor.as_ref().map(|c| value_id_key(&c.key, c.id));
                let start = match &after {
                    Some(a) if a.as_slice() >= driver.as_slice() => Bound::Excluded(a.as_slice()),
                    _ => Bound::Included(driver.as_slice()),
                };
                let end = prefix_end(&driver);
                scan(&table, start, end.as_deref(), |key, ()| {
                    let (token, id) = split_value_id(key).ok_or_else(|| corrupt("address index key", "bad shape"))?;
                    let token = String::from_utf8_lossy(token).into_owned();
                    let doc = load_addr(&addrs, &live, id)?;
                    consider(doc, AddressCursor { id, key: token }, &mut items)
                })?;
            }
            (None, None) => {
                let start = match &cursor {
                    Some(c) => Bound::Excluded(c.id.as_u128()),
                    None => Bound::Unbounded,
                };
                for entry in addrs.range::<u128>((start, Bound::Unbounded))? {
                    let (k, v) = entry?;
                    let id = Uuid::from_u128(k.value());
                    let counters = live.get(k.value())?.map(|c| live_from(c.value())).transpose()?;
                    let doc = AddressDoc {
                        id,
                        registration: Some(registration_from(v.value())?),
                        live: counters.unwrap_or_default(),
                    };
                    if !consider(doc, AddressCursor { id, key: String::new() }, &mut items)? {
                        break;
                    }
                }
            }
        }
        let next_cursor = if more { last_pos.map(|c| c.encode()) } else { None };
        Ok(Page { items, next_cursor })
    }
}

/// The search word that drives the word index: the longest, as the most
/// selective (ties: the first).
fn driver_token(q: &[String]) -> &str {
    q.iter().fold("", |best, t| if t.len() > best.len() { t.as_str() } else { best })
}

struct Want {
    postal_code: Option<String>,
    city: Option<String>,
    country: Option<String>,
    reference: Option<String>,
    q: Option<Vec<String>>,
}

impl Want {
    fn is_everything(&self) -> bool {
        let Want { postal_code, city, country, reference, q } = self;
        postal_code.is_none() && city.is_none() && country.is_none() && reference.is_none() && q.is_none()
    }

    fn matches(&self, k: &AddressKeys) -> bool {
        fn eq(want: &Option<String>, have: &Option<String>) -> bool {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        }
        eq(&self.postal_code, &k.postal_code)
            && eq(&self.city, &k.city)
            && eq(&self.country, &k.country)
            && eq(&self.reference, &k.reference)
            && self.q.as_ref().is_none_or(|q| tokens_match(&k.tokens, q))
    }
}

fn load_addr(
    addrs: &impl ReadableTable<u128, &'static [u8]>,
    live: &impl ReadableTable<u128, &'static [u8]>,
    id: Uuid,
) -> Result<AddressDoc, StoreError> {
    load_address_doc(addrs, live, id)?.ok_or_else(|| corrupt("address index", format!("entry for missing {id}")))
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

fn read_stats(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<Stats, StoreError> {
    match meta.get(STATS)? {
        None => Ok(Stats { score_histogram: vec![0; 10], ..Stats::default() }),
        Some(v) => serde_json::from_slice(v.value()).map_err(|e| corrupt("stats", e)),
    }
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

    async fn begin_rebuild(&self) -> Result<(), StoreError> {
        self.set_durable(false);
        Ok(())
    }

    async fn finish_rebuild(&self) -> Result<(), StoreError> {
        self.set_durable(true);
        let store = self.clone();
        blocking(move || store.flush()).await
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descending_time_keys_sort_newest_first() {
        let times = [i64::MIN, -1, 0, 1, 1_700_000_000_000_000, i64::MAX];
        for w in times.windows(2) {
            assert!(desc_ts(w[0]) > desc_ts(w[1]), "{w:?}");
        }
        for t in times {
            assert_eq!(undesc_ts(desc_ts(t)), t);
        }
    }

    #[test]
    fn index_keys_split_back_and_prefixes_end() {
        let id = Uuid::from_u128(42);
        assert_eq!(split_value_id(&value_id_key("3511LX", id)), Some((b"3511LX".as_slice(), id)));
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[0x61, 0xFF]), Some(vec![0x62]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }

    /// Numbers equal up to rounding: documents read back from JSON may have
    /// a score one ULP off (serde_json without `float_roundtrip`).
    fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                _ => x == y,
            },
            (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
            }
            _ => a == b,
        }
    }

    #[test]
    fn a_file_with_json_documents_keeps_working() {
        use masthead_testdata::events::{generate, SynthConfig};
        let events = generate(&SynthConfig::for_events(6_000));
        let (first, rest) = events.split_at(events.len() / 2);
        let dir = tempfile::tempdir().unwrap();

        // An older file: documents and counters stored as JSON.
        let old = RedbStore::open(&dir.path().join("old.redb")).unwrap();
        old.apply_batch_blocking(first).unwrap();
        let txn = old.db.begin_write().unwrap();
        {
            let mut subs = txn.open_table(SUBS).unwrap();
            let docs: Vec<(u128, SubscriptionDoc)> = subs
                .iter()
                .unwrap()
                .map(|e| e.unwrap())
                .map(|(k, v)| (k.value(), sub_from(v.value()).unwrap()))
                .collect();
            assert!(!docs.is_empty());
            for (k, doc) in docs {
                subs.insert(k, serde_json::to_vec(&doc).unwrap().as_slice()).unwrap();
            }
            let mut live = txn.open_table(ADDR_LIVE).unwrap();
            let rows: Vec<(u128, AddressLive)> = live
                .iter()
                .unwrap()
                .map(|e| e.unwrap())
                .map(|(k, v)| (k.value(), live_from(v.value()).unwrap()))
                .collect();
            for (k, row) in rows {
                live.insert(k, serde_json::to_vec(&row).unwrap().as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
        // Applied on top: some documents are rewritten (binary), others stay JSON.
        for chunk in rest.chunks(500) {
            old.apply_batch_blocking(chunk).unwrap();
        }
        let txn = old.db.begin_read().unwrap();
        let firsts: Vec<u8> = txn.open_table(SUBS).unwrap().iter().unwrap().map(|e| e.unwrap().1.value()[0]).collect();
        assert!(firsts.contains(&b'{') && firsts.iter().any(|b| *b != b'{'), "both encodings present");

        let fresh = RedbStore::open(&dir.path().join("fresh.redb")).unwrap();
        for chunk in events.chunks(700) {
            fresh.apply_batch_blocking(chunk).unwrap();
        }
        fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
            serde_json::to_value(v).unwrap()
        }
        assert!(same(&json(&old.stats_blocking().unwrap()), &json(&fresh.stats_blocking().unwrap())));
        for r in &events {
            let (sub, addr) = match &r.event {
                AnyEvent::Subscription(e) => (crate::apply::subscription_id(r, e), None),
                AnyEvent::BaseAddress(masthead_domain::base_address::BaseAddressEvent::BaseAddressRegistered(e)) => {
                    (None, Some(e.base_address_id))
                }
            };
            if let Some(id) = sub {
                let (a, b) = (old.subscription_blocking(id).unwrap(), fresh.subscription_blocking(id).unwrap());
                assert!(same(&json(&a), &json(&b)), "subscription {id}: {a:?} vs {b:?}");
            }
            if let Some(id) = addr {
                let (a, b) = (old.address_blocking(id).unwrap(), fresh.address_blocking(id).unwrap());
                assert!(same(&json(&a), &json(&b)), "address {id}: {a:?} vs {b:?}");
            }
        }
    }

    #[tokio::test]
    async fn a_rebuild_is_durable_once_finished() {
        use masthead_testdata::events::{generate, SynthConfig};
        let events = generate(&SynthConfig::for_events(3_000));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gen-1.redb");
        let store = RedbStore::open(&path).unwrap();
        store.begin_rebuild().await.unwrap();
        for chunk in events.chunks(100) {
            store.apply_batch_owned(chunk.to_vec()).await.unwrap();
        }
        store.finish_rebuild().await.unwrap();
        let last = events.last().unwrap().stream_sequence;
        assert_eq!(store.checkpoint().await.unwrap(), last);
        // What a crash keeps: the file as of its last durable commit. Leak
        // the database so nothing is written on the way out, then read the
        // file as another process would.
        let copy = dir.path().join("copy.redb");
        std::fs::copy(&path, &copy).unwrap();
        std::mem::forget(store);
        let reopened = RedbStore::open(&copy).unwrap();
        assert_eq!(reopened.checkpoint_blocking().unwrap(), last);
        assert_eq!(reopened.stats_blocking().unwrap().last_applied_seq, last);
    }

    #[test]
    fn generations_are_numbered_and_found() {
        let dir = tempfile::tempdir().unwrap();
        assert!(generations(dir.path()).unwrap().is_empty());
        let (n1, _s1) = RedbStore::create_generation(dir.path()).unwrap();
        let (n2, s2) = RedbStore::create_generation(dir.path()).unwrap();
        assert_eq!((n1, n2), (1, 2));
        assert_eq!(s2.path(), generation_path(dir.path(), 2));
        assert_eq!(generations(dir.path()).unwrap().into_iter().map(|(n, _)| n).collect::<Vec<_>>(), vec![1, 2]);
    }
}
