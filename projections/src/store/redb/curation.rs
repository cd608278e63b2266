//! The embedded store's curation side: address history entries and the
//! review queue (documents, and two indexes oldest first).

use super::lists::prefix_end;
use super::{
    corrupt, load_address_doc, review_from, to_json, RedbStore, ADDRS, ADDR_HISTORY, ADDR_LIVE, REVIEWS,
    REVIEW_BY_CREATED, REVIEW_BY_STATUS,
};
use crate::apply::{AddrSlot, Batch};
use crate::cursor::ReviewCursor;
use crate::error::StoreError;
use crate::query::{PageRequest, ReviewFilter};
use crate::view::{AddressHistoryEntry, Page, ReviewView};
use redb::{ReadableDatabase, Table};
use std::ops::Bound;
use uuid::Uuid;

/// Order-preserving encoding of a time in µs (oldest first).
fn asc_ts(us: i64) -> [u8; 8] {
    ((us as u64) ^ (1 << 63)).to_be_bytes()
}

fn unasc_ts(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// `[status ‖] asc(created) ‖ id`.
fn review_key(prefix: Option<u8>, created_us: i64, id: Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(25);
    k.extend(prefix);
    k.extend_from_slice(&asc_ts(created_us));
    k.extend_from_slice(id.as_bytes());
    k
}

/// Appends the batch's new curation history entries.
pub(super) fn write_history(
    txn: &redb::WriteTransaction,
    dirty: &[(&Uuid, &AddrSlot)],
    buf: &mut Vec<u8>,
) -> Result<(), StoreError> {
    if dirty.iter().all(|(_, s)| s.doc.history.is_empty()) {
        return Ok(());
    }
    let mut table = txn.open_table(ADDR_HISTORY)?;
    for (id, slot) in dirty {
        for h in &slot.doc.history {
            buf.clear();
            buf.extend_from_slice(&to_json(h)?);
            table.insert((id.as_u128(), h.stream_sequence), buf.as_slice())?;
        }
    }
    Ok(())
}

/// Writes the batch's changed review items and their index entries.
pub(super) fn write_reviews(
    txn: &redb::WriteTransaction,
    reviews: &mut Table<'_, u128, &'static [u8]>,
    batch: &Batch,
) -> Result<(), StoreError> {
    let dirty: Vec<_> = batch.reviews.iter().filter(|(_, s)| s.dirty).collect();
    if dirty.is_empty() {
        return Ok(());
    }
    let mut by_created = txn.open_table(REVIEW_BY_CREATED)?;
    let mut by_status = txn.open_table(REVIEW_BY_STATUS)?;
    for (id, slot) in dirty {
        reviews.insert(id.as_u128(), to_json(&slot.doc)?.as_slice())?;
        let new = slot.doc.keys();
        if new == slot.stored_keys {
            continue;
        }
        if let Some(k) = slot.stored_keys {
            by_created.remove(review_key(None, k.created_us, *id).as_slice())?;
            by_status.remove(review_key(Some(k.status.code()), k.created_us, *id).as_slice())?;
        }
        if let Some(k) = new {
            by_created.insert(review_key(None, k.created_us, *id).as_slice(), ())?;
            by_status.insert(review_key(Some(k.status.code()), k.created_us, *id).as_slice(), ())?;
        }
    }
    Ok(())
}

impl RedbStore {
    pub fn address_history_blocking(&self, id: Uuid) -> Result<Option<Vec<AddressHistoryEntry>>, StoreError> {
        let txn = self.db.begin_read()?;
        let Some(doc) = load_address_doc(&txn.open_table(ADDRS)?, &txn.open_table(ADDR_LIVE)?, id)? else {
            return Ok(None);
        };
        let table = txn.open_table(ADDR_HISTORY)?;
        let mut entries = Vec::new();
        for e in table.range((id.as_u128(), 0)..=(id.as_u128(), u64::MAX))? {
            let (_, v) = e?;
            entries.push(serde_json::from_slice(v.value()).map_err(|e| corrupt("address history", e))?);
        }
        Ok(doc.history_view(entries))
    }

    pub fn review_blocking(&self, id: Uuid) -> Result<Option<ReviewView>, StoreError> {
        let txn = self.db.begin_read()?;
        let doc = txn.open_table(REVIEWS)?.get(id.as_u128())?.map(|v| review_from(v.value())).transpose()?;
        Ok(doc.and_then(|d| d.view()))
    }

    pub fn reviews_blocking(&self, filter: &ReviewFilter, page: &PageRequest) -> Result<Page<ReviewView>, StoreError> {
        let limit = page.effective_limit();
        let cursor = page.cursor.as_deref().map(ReviewCursor::decode).transpose()?;
        let txn = self.db.begin_read()?;
        let prefix: Vec<u8> = filter.status.map(|s| vec![s.code()]).unwrap_or_default();
        let index = txn.open_table(if filter.status.is_some() { REVIEW_BY_STATUS } else { REVIEW_BY_CREATED })?;
        let start = match &cursor {
            Some(c) => Bound::Excluded(review_key(filter.status.map(|s| s.code()), c.created_us, c.id)),
            None => Bound::Included(prefix.clone()),
        };
        let end = match prefix_end(&prefix) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        let docs = txn.open_table(REVIEWS)?;
        let (mut items, mut last, mut more) = (Vec::with_capacity(limit), None, false);
        for entry in index.range::<&[u8]>((start.as_ref().map(Vec::as_slice), end.as_ref().map(Vec::as_slice)))? {
            let (k, _) = entry?;
            if items.len() == limit {
                more = true;
                break;
            }
            let tail = k.value().get(prefix.len()..).filter(|t| t.len() == 24);
            let tail = tail.ok_or_else(|| corrupt("review index key", "bad length"))?;
            let id = Uuid::from_slice(&tail[8..]).map_err(|e| corrupt("review index key", e))?;
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&tail[..8]);
            let Some(v) = docs.get(id.as_u128())? else {
                return Err(corrupt("review index", format!("entry for missing {id}")));
            };
            items.extend(review_from(v.value())?.view());
            last = Some(ReviewCursor { created_us: unasc_ts(ts), id });
        }
        let next_cursor = if more { last.map(|c| c.encode()) } else { None };
        Ok(Page { items, next_cursor })
    }
}
