//! Applying batches to the embedded store: one write transaction per batch,
//! with its checkpoint, and the address indexes either written with the
//! batch or, behind a backlog, deferred and rewritten in one sorted pass.
//!
//! Why defer: an import registers addresses with random ids, and each index
//! entry lands on a random page of its index. Once an index has more pages
//! than a batch has entries, a batch copies about one page per entry, so
//! every commit rewrites most of every index: a live projector applying an
//! import spent half its time there. Rewriting the indexes from the rows
//! once, in key order, costs about what one such batch does.

use super::{
    curation, index_pass, read_stored_stats, read_u64, to_json, write, written_set, RedbStore, TxnSource, ADDRS,
    ADDR_LIVE, CHECKPOINT, META, REVIEWS, STATS, SUBS,
};
use crate::apply::Batch;
use crate::error::StoreError;
use crate::view::ApplyReport;
use masthead_domain::envelope::{AnyEvent, Recorded};
use redb::{Durability, ReadableDatabase, ReadableTable};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Present in `meta` while the address indexes lag behind the rows. Written
/// in the batch that starts deferring them, removed in the transaction that
/// rewrites them, so a crash in between leaves the mark and
/// [`RedbStore::open`] catches the indexes up.
pub(super) const INDEXES_BEHIND: &str = "address_indexes_behind";

/// A backlog batch starts deferring the address indexes when it registers
/// at least this many addresses (an import's batches register tens of
/// thousands). A backlog of subscriptions, most matching known addresses,
/// adds few entries: written with the batch, they cost less than a rewrite
/// of every index.
pub const DEFER_FROM_NEW_ADDRESSES: usize = 10_000;

/// A backlog defers the indexes only when at least one in this many stored
/// addresses' worth of events waits behind the batch: the catch-up rewrites
/// every index entry, so deferring for a short backlog into a large list
/// would cost more than it saves. A projector that just caught up and
/// finds a few batches waiting again writes them with their indexes.
pub const DEFER_FROM_BACKLOG_SHARE: u64 = 2;

/// Deferred indexes are caught up once fewer than this many events wait
/// behind a batch, not only at none: a backlog's batches have tens of
/// thousands behind them, and the count the consumer reports can stay
/// above zero after the last batch the projector sees (a trailing message
/// it cannot decode is dead-lettered, not handed over), which would leave
/// the lists behind until the next event.
pub const KEEP_DEFERRING_FROM_WAITING: u64 = 1_000;

/// While a backlog lasts, the indexes stay deferred for at least this many
/// times the last rewrite took, so rewrites take at most about a tenth of
/// the time even where one takes longer than [`MAX_INDEX_LAG`] allows.
const REWRITE_SHARE: u32 = 10;

/// How long the address indexes have lagged, and what catching up took.
#[derive(Debug, Default)]
pub(super) struct IndexLag {
    /// When they began to lag the rows.
    pub since: Option<Instant>,
    /// How long the last rewrite took.
    pub last_rewrite: Duration,
}

/// How long the indexes stay deferred while a backlog lasts (or
/// [`REWRITE_SHARE`] times the last rewrite, if longer); then the next
/// batch rewrites them even if more events wait. Lists filtered through an
/// index (postal code, town, country, ref, status, search) may miss what
/// was registered or changed since, for that long plus one rewrite (~1 s
/// per 500 000 addresses on two cores); an address read by id, and the
/// unfiltered list, are always as current as the checkpoint.
pub const MAX_INDEX_LAG: Duration = Duration::from_secs(15);

impl RedbStore {
    /// The blocking form of [`ProjectionStore::apply_batch`](crate::store::ProjectionStore::apply_batch),
    /// for rebuild loops that already run on a blocking thread.
    pub fn apply_batch_blocking(&self, events: &[Recorded<AnyEvent>]) -> Result<ApplyReport, StoreError> {
        self.apply_blocking(events, 0)
    }

    /// The blocking form of [`ProjectionStore::apply_backlog_batch`](crate::store::ProjectionStore::apply_backlog_batch).
    pub fn apply_backlog_batch_blocking(
        &self,
        events: &[Recorded<AnyEvent>],
        waiting: u64,
    ) -> Result<ApplyReport, StoreError> {
        self.apply_blocking(events, waiting)
    }

    /// `waiting`: events behind this batch (0: no backlog).
    fn apply_blocking(&self, events: &[Recorded<AnyEvent>], waiting: u64) -> Result<ApplyReport, StoreError> {
        let txn = self.begin_batch(events.len() as u64)?;
        // Held for the batch: one writer at a time anyway (redb's).
        let mut written = written_set(&self.written);
        let stored_ids = match &mut *written {
            Some(ids) => ids,
            none => none.insert(super::stored_ids(&txn)?),
        };
        let rebuilding = self.rebuilding.load(Ordering::Relaxed);
        let report;
        let batch_ids: Vec<u128>;
        let (behind, defer);
        {
            let mut meta = txn.open_table(META)?;
            let checkpoint = read_u64(&meta, CHECKPOINT)?;
            let mut subs = txn.open_table(SUBS)?;
            let mut live = txn.open_table(ADDR_LIVE)?;
            let addrs = txn.open_table(ADDRS)?;
            let mut reviews = txn.open_table(REVIEWS)?;
            let mut batch = Batch::new(checkpoint);
            let mut source = TxnSource { subs: &subs, live: &live, addrs: &addrs, reviews: &reviews, stored_ids };
            batch.apply_all(&mut source, events)?;
            let mut buf = Vec::with_capacity(1024);
            write::write_subscriptions(&txn, &mut subs, &batch, &mut buf)?;
            behind = meta.get(INDEXES_BEHIND)?.is_some();
            let stored = stored_ids.len() as u64;
            defer =
                rebuilding || (waiting > 0 && self.may_defer_indexes(behind, batch.new_addresses(), waiting, stored));
            write::write_addresses(&txn, &mut live, &batch, &mut buf, !behind && !defer)?;
            if defer && !behind {
                meta.insert(INDEXES_BEHIND, [].as_slice())?;
            }
            curation::write_reviews(&txn, &mut reviews, &batch)?;
            let mut stats = read_stored_stats(&meta)?;
            batch.stats.merge_into(&mut stats);
            // The stats mirror the checkpoint so the two can never disagree.
            stats.stats.last_applied_seq = batch.report.checkpoint;
            meta.insert(STATS, to_json(&stats)?.as_slice())?;
            meta.insert(CHECKPOINT, batch.report.checkpoint.to_be_bytes().as_slice())?;
            batch_ids = batch.written_address_and_review_ids().map(|id| id.as_u128()).collect();
            report = batch.report;
        }
        txn.commit()?;
        stored_ids.extend(batch_ids);
        drop(written);
        if behind && !defer {
            self.catch_up_or_warn();
        }
        Ok(report)
    }

    /// Whether a backlog batch with `new_addresses` registrations and
    /// `waiting` events behind it defers the address indexes, in a store of
    /// about `stored` addresses (`behind`: they are deferred already).
    pub(super) fn may_defer_indexes(&self, behind: bool, new_addresses: usize, waiting: u64, stored: u64) -> bool {
        let mut lag = self.index_lag.lock().unwrap_or_else(|p| p.into_inner());
        if behind {
            // A rewrite should take a small share of a long backlog: on a
            // list of millions it takes seconds, so the bound grows with it.
            let bound = MAX_INDEX_LAG.max(lag.last_rewrite * REWRITE_SHARE);
            // Deferred since then (or, after a restart, since now).
            let within = lag.since.get_or_insert_with(Instant::now).elapsed() < bound;
            return within && waiting >= KEEP_DEFERRING_FROM_WAITING;
        }
        let start = new_addresses >= DEFER_FROM_NEW_ADDRESSES && waiting >= stored / DEFER_FROM_BACKLOG_SHARE;
        if start {
            lag.since = Some(Instant::now());
        }
        start
    }

    /// [`catch_up_indexes`](Self::catch_up_indexes), which may fail after
    /// the batch it follows has committed: that batch is applied, so a
    /// failure is logged and the mark stays, and the next batch (or the next
    /// open) tries again. Meanwhile filtered lists lag as while deferred.
    pub(super) fn catch_up_or_warn(&self) {
        if let Err(error) = self.catch_up_indexes() {
            tracing::warn!(%error, path = %self.path.display(), "address indexes still behind; retrying with the next batch");
        }
    }

    /// Rewrites every address index from the rows, in key order, if they
    /// are behind (deferred by a backlog or a rebuild), and clears the mark.
    pub(super) fn catch_up_indexes(&self) -> Result<(), StoreError> {
        // The write transaction first: while it is open nothing else
        // commits, so the snapshot read after it holds exactly the rows it
        // writes on (a dead-letter replay may apply beside the live loop).
        let mut txn = self.db.begin_write()?;
        let rows = self.db.begin_read()?;
        if rows.open_table(META)?.get(INDEXES_BEHIND)?.is_none() {
            return Ok(());
        }
        let started = Instant::now();
        txn.set_durability(Durability::Immediate)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        index_pass::write_indexes(&txn, index_pass::collect_all(&rows, threads)?)?;
        txn.open_table(META)?.remove(INDEXES_BEHIND)?;
        txn.commit()?;
        let mut lag = self.index_lag.lock().unwrap_or_else(|p| p.into_inner());
        lag.since = None;
        lag.last_rewrite = started.elapsed();
        Ok(())
    }

    /// A write transaction for a batch of `events`: durable when the store
    /// is, and otherwise every `DURABLE_EVERY` commits or
    /// `DURABLE_EVERY_EVENTS` events.
    fn begin_batch(&self, events: u64) -> Result<redb::WriteTransaction, StoreError> {
        let mut txn = self.db.begin_write()?;
        // One writer at a time (redb serialises write transactions), so
        // these counters need no stronger ordering.
        let (commits, applied) = &*self.since_durable;
        let commits_since = commits.fetch_add(1, Ordering::Relaxed) + 1;
        let events_since = applied.fetch_add(events, Ordering::Relaxed) + events;
        if self.durable.load(Ordering::Relaxed)
            || commits_since >= super::DURABLE_EVERY
            || events_since >= super::DURABLE_EVERY_EVENTS
        {
            commits.store(0, Ordering::Relaxed);
            applied.store(0, Ordering::Relaxed);
        } else {
            txn.set_durability(Durability::None)?;
        }
        Ok(txn)
    }
}
