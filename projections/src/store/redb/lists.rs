//! The embedded store's lists: subscriptions newest first through one of
//! three indexes, and base addresses by id or through an exact-value or
//! word index, each page bounded by a scan budget (`MAX_SCAN`).

use super::{
    corrupt, desc_ts, load_address_doc, registered_doc, show_current_ref, split_value_id, sub_from, undesc_ts,
    value_id_key, AddrIndex, RedbStore, ADDRS, ADDR_BY_CITY, ADDR_BY_COUNTRY, ADDR_BY_POSTAL, ADDR_BY_REF,
    ADDR_BY_STATUS, ADDR_BY_TOKEN, ADDR_LIVE, SUBS, SUB_BY_COUNTRY, SUB_BY_CREATED, SUB_BY_STATUS,
};
use crate::cursor::{AddressCursor, SubscriptionCursor};
use crate::error::StoreError;
use crate::fold::{AddressDoc, AddressKeys};
use crate::query::{
    normalize_city, normalize_country, normalize_postal_code, tokens_match, AddressFilter, PageRequest,
    SubscriptionFilter, MAX_SCAN,
};
use crate::view::{AddressState, AddressView, Page, SubscriptionSummary};
use redb::{ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;
use uuid::Uuid;

/// The first key after every key that starts with `prefix`, if any.
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
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

fn as_ref_bound(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(s) => Bound::Included(s.as_slice()),
        Bound::Excluded(s) => Bound::Excluded(s.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The part of a subscription index a page reads.
struct SubscriptionRange {
    def: TableDefinition<'static, &'static [u8], &'static [u8]>,
    prefix: Vec<u8>,
    start: Bound<Vec<u8>>,
    end: Option<Vec<u8>>,
}

impl SubscriptionRange {
    /// Picks the index whose prefix does most of the filtering (the rest is
    /// checked on the index value) and the key range the filter and the
    /// cursor leave of it.
    fn of(filter: &SubscriptionFilter, country: &Option<String>, cursor: Option<&SubscriptionCursor>) -> Self {
        let (def, prefix): (TableDefinition<&[u8], &[u8]>, Vec<u8>) = match (filter.status, country) {
            (Some(s), _) => (SUB_BY_STATUS, vec![s.code()]),
            (None, Some(c)) => (SUB_BY_COUNTRY, {
                let mut p = c.as_bytes().to_vec();
                p.push(0);
                p
            }),
            (None, None) => (SUB_BY_CREATED, Vec::new()),
        };
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
        if let Some(c) = cursor {
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
        SubscriptionRange { def, prefix, start, end }
    }
}

/// The ids of one page of subscriptions, and whether more follow.
struct SubscriptionIds {
    ids: Vec<Uuid>,
    last_pos: Option<SubscriptionCursor>,
    more: bool,
}

fn subscription_ids(
    txn: &ReadTransaction,
    range: &SubscriptionRange,
    country: &Option<String>,
    by_status: bool,
    limit: usize,
) -> Result<SubscriptionIds, StoreError> {
    let table = txn.open_table(range.def)?;
    let mut found = SubscriptionIds { ids: Vec::with_capacity(limit), last_pos: None, more: false };
    let mut scanned = 0usize;
    scan(&table, as_ref_bound(&range.start), range.end.as_deref(), |key, value| {
        let tail = key
            .get(range.prefix.len()..)
            .filter(|t| t.len() == 24)
            .ok_or_else(|| corrupt("subscription index key", "bad length"))?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&tail[..8]);
        let id = Uuid::from_slice(&tail[8..]).map_err(|e| corrupt("subscription index key", e))?;
        if scanned == MAX_SCAN {
            // Budget spent: a short page whose cursor resumes here.
            found.more = true;
            return Ok(false);
        }
        scanned += 1;
        // What each index keeps in its value: see the module table.
        // Only the status index filters further: on its country value.
        let country_ok = match (country, by_status) {
            (Some(want), true) => want.as_bytes() == value,
            _ => true,
        };
        if country_ok {
            if found.ids.len() == limit {
                // A match past the page: there is a next page.
                found.more = true;
                return Ok(false);
            }
            found.ids.push(id);
        }
        found.last_pos = Some(SubscriptionCursor { created_us: undesc_ts(ts), id });
        Ok(true)
    })?;
    Ok(found)
}

impl RedbStore {
    pub fn subscriptions_blocking(
        &self,
        filter: &SubscriptionFilter,
        page: &PageRequest,
    ) -> Result<Page<SubscriptionSummary>, StoreError> {
        let limit = page.effective_limit();
        let cursor = page.cursor.as_deref().map(SubscriptionCursor::decode).transpose()?;
        let country = filter.country_code();
        let txn = self.db.begin_read()?;
        let range = SubscriptionRange::of(filter, &country, cursor.as_ref());
        let found = subscription_ids(&txn, &range, &country, filter.status.is_some(), limit)?;
        let subs = txn.open_table(SUBS)?;
        let live = txn.open_table(ADDR_LIVE)?;
        let mut items = Vec::with_capacity(found.ids.len());
        for id in found.ids {
            let Some(bytes) = subs.get(id.as_u128())? else {
                return Err(corrupt("subscription index", format!("entry for missing {id}")));
            };
            if let Some(mut s) = sub_from(bytes.value())?.summary() {
                show_current_ref(&live, &mut s)?;
                items.push(s);
            }
        }
        let next_cursor = if found.more { found.last_pos.map(|c| c.encode()) } else { None };
        Ok(Page { items, next_cursor })
    }

    pub fn addresses_blocking(
        &self,
        filter: &AddressFilter,
        page: &PageRequest,
    ) -> Result<Page<AddressView>, StoreError> {
        let cursor = page.cursor.as_deref().map(AddressCursor::decode).transpose()?;
        let want = Want {
            postal_code: filter.postal_code.as_deref().map(normalize_postal_code),
            city: filter.city.as_deref().map(normalize_city),
            country: filter.country.as_deref().map(normalize_country),
            reference: filter.reference.clone(),
            q: filter.q_tokens()?,
            status: filter.status,
        };
        let txn = self.db.begin_read()?;
        let mut page = AddressPage::new(want, page.effective_limit());
        // The most selective filter drives: `ref` and postal code, then a
        // search (the word index), then city and country (which may match a
        // large share of all addresses); no filter walks by id.
        // Merged and retired addresses are few and indexed; active ones are
        // nearly all and are not.
        let status = page.want.status.filter(|s| *s != AddressState::Active).map(|s| s.as_str().to_owned());
        let selective =
            [(ADDR_BY_REF, &page.want.reference), (ADDR_BY_POSTAL, &page.want.postal_code), (ADDR_BY_STATUS, &status)];
        let broad = [(ADDR_BY_CITY, &page.want.city), (ADDR_BY_COUNTRY, &page.want.country)];
        let pick =
            |c: &[(AddrIndex, &Option<String>)]| c.iter().find_map(|(def, v)| v.as_ref().map(|v| (*def, v.clone())));
        let exact = pick(&selective).or_else(|| if page.want.q.is_some() { None } else { pick(&broad) });
        match (exact, page.want.q.clone()) {
            (Some((def, value)), _) => page.by_value(&txn, def, &value, cursor.as_ref())?,
            (None, Some(q)) => page.by_word(&txn, &q, cursor.as_ref())?,
            (None, None) => page.by_id(&txn, cursor.as_ref())?,
        }
        let next_cursor = if page.more { page.last_pos.map(|c| c.encode()) } else { None };
        Ok(Page { items: page.items, next_cursor })
    }
}

/// One page of base addresses being collected.
struct AddressPage {
    want: Want,
    limit: usize,
    items: Vec<AddressView>,
    scanned: usize,
    last_pos: Option<AddressCursor>,
    more: bool,
}

impl AddressPage {
    fn new(want: Want, limit: usize) -> Self {
        Self { want, limit, items: Vec::with_capacity(limit), scanned: 0, last_pos: None, more: false }
    }

    /// Takes `doc` if it passes the filter; false when the page is full or
    /// the scan budget is spent (the cursor then resumes at the last one).
    fn consider(&mut self, doc: AddressDoc, pos: AddressCursor) -> Result<bool, StoreError> {
        if self.scanned == MAX_SCAN {
            self.more = true;
            return Ok(false);
        }
        self.scanned += 1;
        // Without filters there is nothing to compare, and normalising
        // every field of every listed address was a fifth of the work.
        let listed = self.want.is_everything()
            || doc.keys().is_some_and(|keys| {
                let driver_ok = match (&self.want.q, pos.key.is_empty()) {
                    // Under the word index an address appears once per word;
                    // list it under its first word matching the driver only.
                    (Some(q), false) => {
                        let driver = driver_token(q);
                        keys.tokens.iter().filter(|t| t.starts_with(driver)).min().is_some_and(|t| *t == pos.key)
                    }
                    _ => true,
                };
                driver_ok && self.want.matches(&keys)
            });
        // Only registered addresses are visible (`into_view`).
        if listed && doc.registration.is_some() {
            if self.items.len() == self.limit {
                self.more = true;
                return Ok(false);
            }
            self.items.extend(doc.into_view());
        }
        self.last_pos = Some(pos);
        Ok(true)
    }

    /// Through an exact-value index (`ref`, postal code, city, country).
    fn by_value(
        &mut self,
        txn: &ReadTransaction,
        def: AddrIndex,
        value: &str,
        cursor: Option<&AddressCursor>,
    ) -> Result<(), StoreError> {
        let (addrs, live) = (txn.open_table(ADDRS)?, txn.open_table(ADDR_LIVE)?);
        let table = txn.open_table(def)?;
        let first = value_id_key(value, Uuid::nil());
        let prefix = &first[..value.len() + 1];
        let after = cursor.map(|c| value_id_key(value, c.id));
        let start = match &after {
            Some(a) => Bound::Excluded(a.as_slice()),
            None => Bound::Included(prefix),
        };
        let end = prefix_end(prefix);
        scan(&table, start, end.as_deref(), |key, ()| {
            let (_, id) = split_value_id(key).ok_or_else(|| corrupt("address index key", "bad shape"))?;
            let doc = load_addr(&addrs, &live, id)?;
            self.consider(doc, AddressCursor { id, key: String::new() })
        })
    }

    /// Through the word index, driven by the longest search word.
    fn by_word(
        &mut self,
        txn: &ReadTransaction,
        q: &[String],
        cursor: Option<&AddressCursor>,
    ) -> Result<(), StoreError> {
        let (addrs, live) = (txn.open_table(ADDRS)?, txn.open_table(ADDR_LIVE)?);
        let table = txn.open_table(ADDR_BY_TOKEN)?;
        let driver = driver_token(q).as_bytes().to_vec();
        let after = cursor.map(|c| value_id_key(&c.key, c.id));
        let start = match &after {
            Some(a) if a.as_slice() >= driver.as_slice() => Bound::Excluded(a.as_slice()),
            _ => Bound::Included(driver.as_slice()),
        };
        let end = prefix_end(&driver);
        scan(&table, start, end.as_deref(), |key, ()| {
            let (token, id) = split_value_id(key).ok_or_else(|| corrupt("address index key", "bad shape"))?;
            let token = String::from_utf8_lossy(token).into_owned();
            let doc = load_addr(&addrs, &live, id)?;
            self.consider(doc, AddressCursor { id, key: token })
        })
    }

    /// Every address, by id.
    fn by_id(&mut self, txn: &ReadTransaction, cursor: Option<&AddressCursor>) -> Result<(), StoreError> {
        let (addrs, live) = (txn.open_table(ADDRS)?, txn.open_table(ADDR_LIVE)?);
        let start = match cursor {
            Some(c) => Bound::Excluded(c.id.as_u128()),
            None => Bound::Unbounded,
        };
        // Every address has a row (older files keep the registration apart).
        for entry in live.range::<u128>((start, Bound::Unbounded))? {
            let (k, v) = entry?;
            let Some(doc) = registered_doc(&addrs, k.value(), v.value())? else { continue };
            let id = doc.id;
            if !self.consider(doc, AddressCursor { id, key: String::new() })? {
                break;
            }
        }
        Ok(())
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
    status: Option<AddressState>,
}

impl Want {
    fn is_everything(&self) -> bool {
        let Want { postal_code, city, country, reference, q, status } = self;
        postal_code.is_none()
            && city.is_none()
            && country.is_none()
            && reference.is_none()
            && q.is_none()
            && status.is_none()
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
            && self.status.is_none_or(|s| k.status.as_deref() == (s != AddressState::Active).then(|| s.as_str()))
    }
}

fn load_addr(
    addrs: &impl ReadableTable<u128, &'static [u8]>,
    live: &impl ReadableTable<u128, &'static [u8]>,
    id: Uuid,
) -> Result<AddressDoc, StoreError> {
    load_address_doc(addrs, live, id)?.ok_or_else(|| corrupt("address index", format!("entry for missing {id}")))
}
