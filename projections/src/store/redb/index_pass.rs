//! The address index pass: every address index written afresh from the
//! address rows, in key order. A rebuild defers the indexes to it, and so
//! does a live projector far behind (see `apply.rs`): inserting an import's
//! random ids one batch at a time copied a page per entry in each of the six
//! indexes, where sorted entries share their pages.
//!
//! Nothing else writes meanwhile (the end of a rebuild, or of a live
//! backlog, where the next batch waits for it), so the pass uses every core:
//! `threads` scan a slice of the id range each and sort what they found,
//! then two threads write the indexes side by side, each its own tables,
//! merging the slices' sorted runs as they go.

use super::write::for_each_addr_index_value;
use super::{push_value_id_key, registered_doc, AddrIndex, ADDRS, ADDR_INDEXES, ADDR_LIVE};
use crate::error::StoreError;
use std::ops::{Bound, RangeInclusive};
use uuid::Uuid;

/// One index's keys (`value ‖ 0 ‖ id`) from one slice of the id range, all
/// in one buffer. A `Vec` per key cost an allocation each, and a cache miss
/// per comparison while sorting; here most comparisons are settled by the
/// keys' first eight bytes, kept beside each key's place in the buffer.
#[derive(Default)]
struct KeyRun {
    bytes: Vec<u8>,
    /// (the key's first 8 bytes, big-endian; start; end) per key.
    keys: Vec<(u64, usize, usize)>,
}

impl KeyRun {
    fn push(&mut self, value: &str, id: Uuid) {
        let start = self.bytes.len();
        push_value_id_key(&mut self.bytes, value, id);
        // At least 17 bytes (the separator and the id), so 8 are there.
        let mut head = [0; 8];
        head.copy_from_slice(&self.bytes[start..start + 8]);
        self.keys.push((u64::from_be_bytes(head), start, self.bytes.len()));
    }

    /// The `i`-th key as (first 8 bytes, whole key): ordered as the key is.
    fn key(&self, i: usize) -> (u64, &[u8]) {
        let (head, start, end) = self.keys[i];
        (head, &self.bytes[start..end])
    }

    fn sort(&mut self) {
        let bytes = &self.bytes;
        self.keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| bytes[a.1..a.2].cmp(&bytes[b.1..b.2])));
    }
}

/// One [`KeyRun`] per address index, in [`ADDR_INDEXES`] order.
type Runs = [KeyRun; ADDR_INDEXES.len()];

/// The sorted index keys of every registered address, one [`Runs`] per
/// slice of the id range, in id order.
pub(super) struct Collected(Vec<Runs>);

/// Scans the address rows as `rows` (a read transaction) holds them on
/// `threads` threads, each a slice of the id range.
pub(super) fn collect_all(rows: &redb::ReadTransaction, threads: usize) -> Result<Collected, StoreError> {
    let threads = threads.clamp(1, 8) as u128;
    let slice = u128::MAX / threads;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (from, to) = (i * slice, if i + 1 == threads { u128::MAX } else { (i + 1) * slice - 1 });
                s.spawn(move || collect(rows, from..=to))
            })
            .collect();
        let parts = handles.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        parts.collect::<Result<Vec<Runs>, _>>().map(Collected)
    })
}

/// Writes every address index afresh, in `txn`, from what
/// [`collect_all`] found.
pub(super) fn write_indexes(txn: &redb::WriteTransaction, collected: Collected) -> Result<(), StoreError> {
    let parts = collected.0;
    for def in ADDR_INDEXES {
        txn.delete_table(def)?;
    }
    // Per index, the sorted run of every slice; then two groups of about
    // equal entries, largest index first.
    let mut tables: Vec<(AddrIndex, Vec<&KeyRun>, usize)> = ADDR_INDEXES
        .into_iter()
        .enumerate()
        .map(|(i, def)| {
            let runs: Vec<&KeyRun> = parts.iter().map(|p| &p[i]).collect();
            let entries = runs.iter().map(|r| r.keys.len()).sum();
            (def, runs, entries)
        })
        .collect();
    tables.sort_by_key(|(_, _, entries)| std::cmp::Reverse(*entries));
    let (mut one, mut two, mut sizes) = (Vec::new(), Vec::new(), [0, 0]);
    for table in tables {
        let side = usize::from(sizes[1] < sizes[0]);
        sizes[side] += table.2;
        if side == 0 {
            one.push(table)
        } else {
            two.push(table)
        }
    }
    let write = |group: Vec<(AddrIndex, Vec<&KeyRun>, usize)>| -> Result<(), StoreError> {
        for (def, runs, _) in group {
            write_merged(&mut txn.open_table(def)?, &runs)?;
        }
        Ok(())
    };
    side_by_side(|| write(two), || write(one))
}

/// The index keys of the registered addresses with ids in `ids`, sorted.
fn collect(rows: &redb::ReadTransaction, ids: RangeInclusive<u128>) -> Result<Runs, StoreError> {
    let mut runs: Runs = Default::default();
    let live = rows.open_table(ADDR_LIVE)?;
    let addrs = rows.open_table(ADDRS)?;
    for row in live.range(ids)? {
        let (k, v) = row?;
        let Some(doc) = registered_doc(&addrs, k.value(), v.value())? else { continue };
        if let Some(keys) = doc.keys() {
            for_each_addr_index_value(&keys, |i, value| runs[i].push(value, doc.id));
        }
    }
    for run in &mut runs {
        run.sort();
    }
    Ok(runs)
}

/// Writes the merged `runs` into an empty `table` through one cursor at its
/// end: redb packs such an ascending run into full leaves and updates the
/// parents once per ~1 MiB, instead of descending the tree for each entry.
fn write_merged(table: &mut redb::Table<&'static [u8], ()>, runs: &[&KeyRun]) -> Result<(), StoreError> {
    let mut end = table.upper_bound_mut(Bound::<&[u8]>::Unbounded)?;
    let mut next = vec![0; runs.len()];
    let mut last: Option<&[u8]> = None;
    loop {
        // The smallest head among the runs (one per thread: a handful).
        let mut least: Option<(usize, (u64, &[u8]))> = None;
        for (r, run) in runs.iter().enumerate() {
            if next[r] < run.keys.len() {
                let key = run.key(next[r]);
                if least.is_none_or(|(_, l)| key < l) {
                    least = Some((r, key));
                }
            }
        }
        let Some((r, (_, key))) = least else { break };
        next[r] += 1;
        // The cursor takes strictly ascending keys only. The slices hold
        // different ids and an address's words are distinct, so a repeat
        // cannot come up; were it to, it is the same entry.
        if last != Some(key) {
            end.insert_before(key, ())?;
            last = Some(key);
        }
    }
    end.close()?;
    Ok(())
}

/// Runs `a` on a scoped thread and `b` on this one; the first error wins.
/// One redb write transaction may write different tables from different
/// threads: it serialises page allocation only, the B-tree work of each
/// table runs in parallel.
fn side_by_side(
    a: impl FnOnce() -> Result<(), StoreError> + Send,
    b: impl FnOnce() -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    std::thread::scope(|s| {
        let other = s.spawn(a);
        let here = b();
        let other = other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        other.and(here)
    })
}
