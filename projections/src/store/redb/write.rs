//! Writing a batch's documents and index entries, table by table in key
//! order (consecutive inserts then land in pages already copied).

use super::{codec, curation, desc_ts, value_id_key, ADDR_INDEXES, SUB_BY_COUNTRY, SUB_BY_CREATED, SUB_BY_STATUS};
use crate::apply::Batch;
use crate::error::StoreError;
use crate::fold::{AddressKeys, SubscriptionKeys};
use redb::Table;
use uuid::Uuid;

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

/// Calls `f` with (position in [`ADDR_INDEXES`], value) for each index
/// entry of an address (the key is `value ‖ 0 ‖ id`).
pub(super) fn for_each_addr_index_value(k: &AddressKeys, mut f: impl FnMut(usize, &str)) {
    for (i, value) in [&k.postal_code, &k.city, &k.country, &k.reference].into_iter().enumerate() {
        if let Some(v) = value {
            f(i, v);
        }
    }
    for t in &k.tokens {
        f(4, t);
    }
    if let Some(s) = &k.status {
        f(5, s);
    }
}

/// The index entries of an address as (position in [`ADDR_INDEXES`], key).
pub(super) fn addr_index_entries(k: &AddressKeys, id: Uuid) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::with_capacity(5 + k.tokens.len());
    for_each_addr_index_value(k, |i, v| out.push((i, value_id_key(v, id))));
    out
}

/// Writes the batch's changed subscriptions and their index entries.
/// Writes go in key order, table by table: consecutive inserts then land in
/// the leaf the previous one already copied, instead of hopping across the
/// tree (the batch's maps iterate randomly).
pub(super) fn write_subscriptions(
    txn: &redb::WriteTransaction,
    subs: &mut Table<'_, u128, &'static [u8]>,
    batch: &Batch,
    buf: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let mut dirty: Vec<_> = batch.subs.iter().filter(|(_, s)| s.dirty).collect();
    dirty.sort_unstable_by_key(|(id, _)| id.as_u128());
    let mut index = SubIndexChanges::default();
    for (id, slot) in dirty {
        codec::encode_subscription(buf, &slot.doc);
        subs.insert(id.as_u128(), buf.as_slice())?;
        index.add(*id, slot.stored_keys.as_ref(), slot.doc.keys().as_ref());
    }
    index.write(txn)
}

/// Writes the batch's changed addresses: their row (counters, and the
/// registration when known) always; index entries when they first appear
/// or a curation event changed them; and new curation history entries.
///
/// One row per address, not a registration row beside a counters row: an
/// import inserts each address at a random place of every table it
/// writes, so each table costs a copied page per insert, and the
/// registration as JSON (~380 bytes; ~110 in the row) filled pages fast.
///
/// With `index_now` false (a rebuild, or a live backlog; see `apply`), the
/// address indexes are left alone: the index pass (`index_pass`) writes
/// them from the rows once the batches that deferred them are done.
pub(super) fn write_addresses(
    txn: &redb::WriteTransaction,
    live: &mut Table<'_, u128, &'static [u8]>,
    batch: &Batch,
    buf: &mut Vec<u8>,
    index_now: bool,
) -> Result<(), StoreError> {
    let mut dirty: Vec<_> = batch.addrs.iter().filter(|(_, s)| s.dirty).collect();
    dirty.sort_unstable_by_key(|(id, _)| id.as_u128());
    for (id, slot) in &dirty {
        codec::encode_live(buf, &slot.doc.live, slot.doc.registration.as_ref());
        live.insert(id.as_u128(), buf.as_slice())?;
    }
    let mut index = AddrIndexChanges::default();
    for (id, slot) in dirty.iter().filter(|_| index_now) {
        if slot.was_registered {
            // Only curation changes the keys of a stored address.
            if slot.full {
                index.change(**id, slot.stored_keys.as_ref(), slot.doc.keys().as_ref());
            }
            continue;
        }
        if let Some(keys) = slot.doc.keys() {
            index.change(**id, None, Some(&keys));
        }
    }
    index.write(txn)?;
    curation::write_history(txn, &dirty, buf)
}

/// Index entries to remove and insert, per address index.
#[derive(Default)]
struct AddrIndexChanges {
    insert: [Vec<Vec<u8>>; ADDR_INDEXES.len()],
    remove: [Vec<Vec<u8>>; ADDR_INDEXES.len()],
}

impl AddrIndexChanges {
    fn change(&mut self, id: Uuid, old: Option<&AddressKeys>, new: Option<&AddressKeys>) {
        if old == new {
            return;
        }
        let old = old.map(|k| addr_index_entries(k, id)).unwrap_or_default();
        let new = new.map(|k| addr_index_entries(k, id)).unwrap_or_default();
        for e in old.iter().filter(|e| !new.contains(e)) {
            self.remove[e.0].push(e.1.clone());
        }
        for e in new.iter().filter(|e| !old.contains(e)) {
            self.insert[e.0].push(e.1.clone());
        }
    }

    /// Each table once, in key order; removals first.
    fn write(self, txn: &redb::WriteTransaction) -> Result<(), StoreError> {
        for ((def, mut insert), mut remove) in ADDR_INDEXES.into_iter().zip(self.insert).zip(self.remove) {
            if insert.is_empty() && remove.is_empty() {
                continue;
            }
            let mut table = txn.open_table(def)?;
            remove.sort_unstable();
            for key in &remove {
                table.remove(key.as_slice())?;
            }
            insert.sort_unstable();
            for key in &insert {
                table.insert(key.as_slice(), ())?;
            }
        }
        Ok(())
    }
}
