//! The MongoDB store, for deployments that already run MongoDB.
//!
//! Collections (each name plus a per-generation suffix): `addresses`,
//! `subscriptions`, `stats`, `checkpoints`. Each read-model document keeps
//! the fold's document under `doc` (so both stores share the fold) plus the
//! top-level fields its queries filter and sort on.
//!
//! Atomicity: on a replica set or sharded cluster (detected with `hello` on
//! connect) a batch — documents, stats and checkpoint — is written in one
//! multi-document transaction, like redb. On a standalone server, which has
//! no transactions, documents are written first and the stats and
//! checkpoint after; documents stay exact (each is idempotent on its own,
//! see [`crate::fold`]), but a crash between the two steps loses that one
//! batch's stats increments (the redelivered batch finds its documents
//! already applied). A rebuild repairs them; production should use a replica
//! set (a single-node one is enough).
//!
//! The store assumes one writer (the projector holds a lease).

use crate::apply::{subscription_id, Batch, DocSource, StoredStats};
use crate::cursor::{AddressCursor, ReviewCursor, SubscriptionCursor};
use crate::error::StoreError;
use crate::fold::{AddressDoc, ReviewDoc, SubscriptionDoc};
use crate::query::{
    normalize_city, normalize_country, normalize_postal_code, AddressFilter, PageRequest, ReviewFilter,
    SubscriptionFilter,
};
use crate::store::ProjectionStore;
use crate::view::{
    AddressHistoryEntry, AddressState, AddressView, ApplyReport, Page, ReviewView, Stats, SubscriptionSummary,
    SubscriptionView,
};
use async_trait::async_trait;
use futures::TryStreamExt;
use masthead_domain::base_address::{AddressSource, BaseAddressEvent};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_domain::subscription::SubscriptionEvent;
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::options::IndexOptions;
use mongodb::{Client, ClientSession, Collection, Database, IndexModel};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

const STATS_ID: &str = "stats";
const CHECKPOINT_ID: &str = "projections";

/// The read models in one MongoDB database.
#[derive(Clone, Debug)]
pub struct MongoStore {
    client: Client,
    db: Database,
    subscriptions: Collection<Document>,
    addresses: Collection<Document>,
    stats: Collection<Document>,
    checkpoints: Collection<Document>,
    reviews: Collection<Document>,
    transactions: bool,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn to_bson_doc<T: serde::Serialize>(v: &T) -> Result<Document, StoreError> {
    bson::to_document(v).map_err(|e| StoreError::Worker(format!("serialise: {e}")))
}

fn i64_of(n: u64) -> i64 {
    // Stream sequences and counters stay far below i64::MAX.
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn embedded<T: serde::de::DeserializeOwned>(d: &Document, what: &str) -> Result<T, StoreError> {
    let inner = d.get_document("doc").map_err(|e| corrupt(what, e))?;
    bson::from_document(inner.clone()).map_err(|e| corrupt(what, e))
}

fn index(keys: Document, name: &str, visible_only: bool) -> IndexModel {
    let mut options = IndexOptions::builder().name(name.to_owned()).build();
    if visible_only {
        // Partial documents (see `fold`) are never listed, so they need no
        // index entries.
        options.partial_filter_expression = Some(doc! { "visible": true });
    }
    IndexModel::builder().keys(keys).options(options).build()
}

impl MongoStore {
    /// Connects, detects transaction support and creates the collections'
    /// indexes (idempotently). `suffix` (may be empty) is appended to each
    /// collection name so generations can share a database.
    pub async fn connect(uri: &str, database: &str, suffix: &str) -> Result<Self, StoreError> {
        let client = Client::with_uri_str(uri).await?;
        let db = client.database(database);
        let hello = db.run_command(doc! { "hello": 1 }).await?;
        let transactions = hello.contains_key("setName") || hello.get_str("msg").is_ok_and(|m| m == "isdbgrid");
        let store = Self {
            subscriptions: db.collection(&format!("subscriptions{suffix}")),
            addresses: db.collection(&format!("addresses{suffix}")),
            stats: db.collection(&format!("stats{suffix}")),
            checkpoints: db.collection(&format!("checkpoints{suffix}")),
            reviews: db.collection(&format!("reviews{suffix}")),
            client,
            db,
            transactions,
        };
        store.ensure_indexes().await?;
        if !transactions {
            tracing::warn!("MongoDB has no transactions (standalone server): a crash mid-batch can lose that batch's stats increments");
        }
        Ok(store)
    }

    /// Whether batches are applied in one transaction.
    pub fn uses_transactions(&self) -> bool {
        self.transactions
    }

    async fn ensure_indexes(&self) -> Result<(), StoreError> {
        // Subscriptions list newest first; each filter has an index with the
        // sort behind its equality fields.
        self.subscriptions
            .create_indexes(vec![
                index(doc! { "created_us": -1, "_id": 1 }, "by_created", true),
                index(doc! { "status": 1, "created_us": -1, "_id": 1 }, "by_status", true),
                index(doc! { "country": 1, "created_us": -1, "_id": 1 }, "by_country", true),
                index(doc! { "status": 1, "country": 1, "created_us": -1, "_id": 1 }, "by_status_country", true),
            ])
            .await?;
        // Addresses list by id within each exact filter; `tokens` is a
        // multikey index whose prefix bounds serve `q`.
        self.addresses
            .create_indexes(vec![
                index(doc! { "postal_code": 1, "_id": 1 }, "by_postal_code", true),
                index(doc! { "city": 1, "_id": 1 }, "by_city", true),
                index(doc! { "country": 1, "_id": 1 }, "by_country", true),
                index(doc! { "ref": 1, "_id": 1 }, "by_ref", true),
                index(doc! { "tokens": 1, "_id": 1 }, "by_token", true),
                index(doc! { "status": 1, "_id": 1 }, "by_status", true),
            ])
            .await?;
        // Review items list oldest first, all or by status.
        self.reviews
            .create_indexes(vec![
                index(doc! { "created_us": 1, "_id": 1 }, "by_created", true),
                index(doc! { "status": 1, "created_us": 1, "_id": 1 }, "by_status", true),
            ])
            .await?;
        Ok(())
    }

    /// Drops this generation's collections (tests, and retiring an old
    /// generation after a switch).
    pub async fn drop_all(&self) -> Result<(), StoreError> {
        for c in [&self.subscriptions, &self.addresses, &self.stats, &self.checkpoints, &self.reviews] {
            c.drop().await?;
        }
        Ok(())
    }

    /// The database this store lives in.
    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn load_many(&self, coll: &Collection<Document>, ids: &HashSet<Uuid>) -> Result<Vec<Document>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        Ok(coll.find(doc! { "_id": { "$in": ids } }).await?.try_collect().await?)
    }

    /// Gives each subscription its base address's `ref` and status as the
    /// address record holds them now (one query for the page). A correction
    /// of the `ref` alone moves no subscription (the lines it is delivered
    /// to are the same), so the copy in the subscription's document may be
    /// older. Until the address's registration is applied a subscription
    /// keeps the `ref` its match carried.
    async fn show_current_refs(&self, items: &mut [SubscriptionSummary]) -> Result<(), StoreError> {
        let ids: Vec<String> = items.iter().filter_map(|s| s.base_address_id).map(|id| id.to_string()).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let records: Vec<Document> = self
            .addresses
            .find(doc! { "_id": { "$in": ids }, "visible": true })
            .projection(doc! { "ref": 1, "status": 1 })
            .await?
            .try_collect()
            .await?;
        let current: HashMap<String, (Option<String>, Option<AddressState>)> = records
            .iter()
            .filter_map(|r| {
                let status = r.get_str("status").ok().and_then(AddressState::parse);
                Some((r.get_str("_id").ok()?.to_owned(), (r.get_str("ref").ok().map(str::to_owned), status)))
            })
            .collect();
        for s in items {
            if let Some((reference, status)) = s.base_address_id.and_then(|id| current.get(&id.to_string())) {
                s.base_address_ref = reference.clone();
                s.base_address_status = *status;
            }
        }
        Ok(())
    }

    async fn read_stats(&self) -> Result<StoredStats, StoreError> {
        match self.stats.find_one(doc! { "_id": STATS_ID }).await? {
            None => Ok(StoredStats {
                stats: Stats { score_histogram: vec![0; 10], ..Stats::default() },
                ..Default::default()
            }),
            Some(d) => embedded(&d, "stats"),
        }
    }

    async fn read_checkpoint(&self) -> Result<u64, StoreError> {
        match self.checkpoints.find_one(doc! { "_id": CHECKPOINT_ID }).await? {
            None => Ok(0),
            Some(d) => {
                let seq = d.get_i64("seq").map_err(|e| corrupt("checkpoint", e))?;
                u64::try_from(seq).map_err(|e| corrupt("checkpoint", e))
            }
        }
    }

    /// Reads every document the batch may touch: the fold is synchronous and
    /// shared with redb, so it works on this prefetch.
    async fn prefetch(&self, events: &[Recorded<AnyEvent>]) -> Result<Prefetched, StoreError> {
        let mut sub_ids = HashSet::new();
        let mut addr_ids = HashSet::new();
        let mut review_ids = HashSet::new();
        for r in events {
            match &r.event {
                AnyEvent::Subscription(e) => {
                    if let Some(id) = subscription_id(r, e) {
                        sub_ids.insert(id);
                    }
                    match e {
                        SubscriptionEvent::AddressMatched(m) => {
                            addr_ids.insert(m.base_address_id);
                        }
                        SubscriptionEvent::AddressAssigned(a) => {
                            addr_ids.insert(a.base_address_id);
                        }
                        SubscriptionEvent::DeliveryAddressChanged(c) => {
                            addr_ids.extend([c.from_base_address_id, c.base_address_id]);
                        }
                        _ => {}
                    }
                }
                AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRegistered(e)) => {
                    addr_ids.insert(e.base_address_id);
                    if let AddressSource::Subscription { subscription_id } = e.source {
                        sub_ids.insert(subscription_id);
                    }
                }
                // An alias changes the survivor's document.
                AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressAliased(e)) => {
                    addr_ids.insert(e.alias_of);
                }
                AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressMerged(e)) => {
                    addr_ids.extend([e.base_address_id, e.into]);
                }
                AnyEvent::BaseAddress(e) => {
                    addr_ids.insert(e.base_address_id());
                }
                AnyEvent::Review(e) => {
                    review_ids.insert(e.review_id());
                }
            }
        }
        let mut subs = HashMap::new();
        for d in self.load_many(&self.subscriptions, &sub_ids).await? {
            let doc: SubscriptionDoc = embedded(&d, "subscription document")?;
            // A request completing a partial document records the spelling
            // on the address the earlier match named.
            if let Some(r) = &doc.resolution {
                addr_ids.insert(r.base_address_id);
            }
            subs.insert(doc.id, doc);
        }
        let mut addrs = HashMap::new();
        for d in self.load_many(&self.addresses, &addr_ids).await? {
            let doc: AddressDoc = embedded(&d, "address document")?;
            addrs.insert(doc.id, doc);
        }
        let mut reviews = HashMap::new();
        for d in self.load_many(&self.reviews, &review_ids).await? {
            let doc: ReviewDoc = embedded(&d, "review document")?;
            reviews.insert(doc.id, doc);
        }
        Ok(Prefetched { subs, addrs, reviews, sub_ids, addr_ids, review_ids })
    }

    async fn write(
        &self,
        batch: &Batch,
        stored: &StoredStats,
        session: Option<&mut ClientSession>,
    ) -> Result<(), StoreError> {
        let stats = &stored.stats;
        let mut writes: Vec<(&Collection<Document>, String, Document)> = Vec::new();
        for (id, slot) in batch.subs.iter().filter(|(_, s)| s.dirty) {
            writes.push((&self.subscriptions, id.to_string(), subscription_record(&slot.doc)?));
        }
        for (id, slot) in batch.addrs.iter().filter(|(_, s)| s.dirty) {
            writes.push((&self.addresses, id.to_string(), address_record(&slot.doc)?));
        }
        for (id, slot) in batch.reviews.iter().filter(|(_, s)| s.dirty) {
            writes.push((&self.reviews, id.to_string(), review_record(&slot.doc)?));
        }
        let stats_doc = doc! { "_id": STATS_ID, "doc": to_bson_doc(stored)? };
        let checkpoint_doc = doc! {
            "_id": CHECKPOINT_ID,
            "seq": i64_of(batch.report.checkpoint),
            "at": stats.last_applied_at.map(|t| t.to_rfc3339()),
        };
        match session {
            Some(s) => {
                for (coll, id, d) in writes {
                    coll.replace_one(doc! { "_id": id }, d).upsert(true).session(&mut *s).await?;
                }
                self.stats.replace_one(doc! { "_id": STATS_ID }, stats_doc).upsert(true).session(&mut *s).await?;
                self.checkpoints
                    .replace_one(doc! { "_id": CHECKPOINT_ID }, checkpoint_doc)
                    .upsert(true)
                    .session(&mut *s)
                    .await?;
            }
            None => {
                // Documents first (idempotent), then stats and checkpoint.
                let docs = writes
                    .into_iter()
                    .map(|(coll, id, d)| async move { coll.replace_one(doc! { "_id": id }, d).upsert(true).await });
                futures::future::try_join_all(docs).await?;
                self.stats.replace_one(doc! { "_id": STATS_ID }, stats_doc).upsert(true).await?;
                self.checkpoints.replace_one(doc! { "_id": CHECKPOINT_ID }, checkpoint_doc).upsert(true).await?;
            }
        }
        Ok(())
    }
}

struct Prefetched {
    subs: HashMap<Uuid, SubscriptionDoc>,
    addrs: HashMap<Uuid, AddressDoc>,
    reviews: HashMap<Uuid, ReviewDoc>,
    sub_ids: HashSet<Uuid>,
    addr_ids: HashSet<Uuid>,
    review_ids: HashSet<Uuid>,
}

impl DocSource for Prefetched {
    fn load_subscription(&mut self, id: Uuid) -> Result<Option<SubscriptionDoc>, StoreError> {
        if !self.sub_ids.contains(&id) {
            return Err(StoreError::Worker(format!("subscription {id} was not prefetched")));
        }
        Ok(self.subs.remove(&id))
    }

    fn load_address(&mut self, id: Uuid) -> Result<Option<AddressDoc>, StoreError> {
        if !self.addr_ids.contains(&id) {
            return Err(StoreError::Worker(format!("address {id} was not prefetched")));
        }
        Ok(self.addrs.remove(&id))
    }

    /// Documents are loaded whole, registration included: nothing more to load.
    fn load_registration(&mut self, _id: Uuid) -> Result<Option<crate::fold::Registration>, StoreError> {
        Ok(None)
    }

    fn load_review(&mut self, id: Uuid) -> Result<Option<ReviewDoc>, StoreError> {
        if !self.review_ids.contains(&id) {
            return Err(StoreError::Worker(format!("review {id} was not prefetched")));
        }
        Ok(self.reviews.remove(&id))
    }
}

fn review_record(d: &ReviewDoc) -> Result<Document, StoreError> {
    let mut rec = doc! { "_id": d.id.to_string(), "doc": to_bson_doc(d)? };
    match d.keys() {
        Some(k) => {
            rec.insert("visible", true);
            rec.insert("created_us", k.created_us);
            rec.insert("status", k.status.as_str());
        }
        None => {
            rec.insert("visible", false);
        }
    }
    Ok(rec)
}

/// The stored form: the fold's document plus the queried fields.
fn subscription_record(d: &SubscriptionDoc) -> Result<Document, StoreError> {
    let mut rec = doc! { "_id": d.id.to_string(), "doc": to_bson_doc(d)?, "last_seq": i64_of(d.last_seq) };
    match d.keys() {
        Some(k) => {
            rec.insert("visible", true);
            rec.insert("created_us", k.created_us);
            rec.insert("status", k.status.as_str());
            rec.insert("country", k.country);
        }
        None => {
            rec.insert("visible", false);
        }
    }
    Ok(rec)
}

fn address_record(d: &AddressDoc) -> Result<Document, StoreError> {
    let mut rec = doc! { "_id": d.id.to_string(), "doc": to_bson_doc(d)?, "last_seq": i64_of(d.live.last_seq) };
    match d.keys() {
        Some(k) => {
            rec.insert("visible", true);
            let opt = |v: Option<String>| v.map_or(Bson::Null, Bson::String);
            rec.insert("postal_code", opt(k.postal_code));
            rec.insert("city", opt(k.city));
            rec.insert("country", opt(k.country));
            rec.insert("ref", opt(k.reference));
            rec.insert("status", k.status.unwrap_or_else(|| AddressState::Active.as_str().to_owned()));
            rec.insert("tokens", k.tokens);
        }
        None => {
            rec.insert("visible", false);
        }
    }
    Ok(rec)
}

#[async_trait]
impl ProjectionStore for MongoStore {
    async fn apply_batch(&self, events: &[Recorded<AnyEvent>]) -> Result<ApplyReport, StoreError> {
        let mut source = self.prefetch(events).await?;
        let mut batch = Batch::new(self.read_checkpoint().await?);
        batch.apply_all(&mut source, events)?;
        let mut stats = self.read_stats().await?;
        batch.stats.merge_into(&mut stats);
        stats.stats.last_applied_seq = batch.report.checkpoint;
        if self.transactions {
            let mut session = self.client.start_session().await?;
            session.start_transaction().await?;
            match self.write(&batch, &stats, Some(&mut session)).await {
                Ok(()) => session.commit_transaction().await?,
                Err(e) => {
                    // Best effort: the server aborts it on timeout anyway.
                    let _ = session.abort_transaction().await;
                    return Err(e);
                }
            }
        } else {
            self.write(&batch, &stats, None).await?;
        }
        Ok(batch.report)
    }

    async fn checkpoint(&self) -> Result<u64, StoreError> {
        self.read_checkpoint().await
    }

    async fn subscription(&self, id: Uuid) -> Result<Option<SubscriptionView>, StoreError> {
        let Some(d) = self.subscriptions.find_one(doc! { "_id": id.to_string() }).await? else {
            return Ok(None);
        };
        let mut view = embedded::<SubscriptionDoc>(&d, "subscription document")?.view();
        if let Some(v) = &mut view {
            self.show_current_refs(std::slice::from_mut(&mut v.summary)).await?;
        }
        Ok(view)
    }

    async fn subscriptions(
        &self,
        filter: &SubscriptionFilter,
        page: PageRequest,
    ) -> Result<Page<SubscriptionSummary>, StoreError> {
        let limit = page.effective_limit();
        let cursor = page.cursor.as_deref().map(SubscriptionCursor::decode).transpose()?;
        let mut and = vec![doc! { "visible": true }];
        if let Some(s) = filter.status {
            and.push(doc! { "status": s.as_str() });
        }
        if let Some(c) = filter.country_code() {
            and.push(doc! { "country": c });
        }
        if let Some(t) = filter.created_after {
            and.push(doc! { "created_us": { "$gte": t.timestamp_micros() } });
        }
        if let Some(t) = filter.created_before {
            and.push(doc! { "created_us": { "$lt": t.timestamp_micros() } });
        }
        if let Some(c) = &cursor {
            and.push(doc! { "$or": [
                { "created_us": { "$lt": c.created_us } },
                { "created_us": c.created_us, "_id": { "$gt": c.id.to_string() } },
            ] });
        }
        let found: Vec<Document> = self
            .subscriptions
            .find(doc! { "$and": and })
            .sort(doc! { "created_us": -1, "_id": 1 })
            .limit(i64_of(limit as u64 + 1))
            .await?
            .try_collect()
            .await?;
        let mut items = Vec::with_capacity(limit);
        let mut last = None;
        for d in found.iter().take(limit) {
            let doc: SubscriptionDoc = embedded(d, "subscription document")?;
            if let Some(k) = doc.keys() {
                last = Some(SubscriptionCursor { created_us: k.created_us, id: doc.id });
            }
            items.extend(doc.summary());
        }
        self.show_current_refs(&mut items).await?;
        let next_cursor = if found.len() > limit { last.map(|c| c.encode()) } else { None };
        Ok(Page { items, next_cursor })
    }

    async fn address(&self, id: Uuid) -> Result<Option<AddressView>, StoreError> {
        match self.addresses.find_one(doc! { "_id": id.to_string() }).await? {
            None => Ok(None),
            Some(d) => Ok(embedded::<AddressDoc>(&d, "address document")?.view()),
        }
    }

    async fn addresses(&self, filter: &AddressFilter, page: PageRequest) -> Result<Page<AddressView>, StoreError> {
        let limit = page.effective_limit();
        let cursor = page.cursor.as_deref().map(AddressCursor::decode).transpose()?;
        let mut and = vec![doc! { "visible": true }];
        if let Some(p) = &filter.postal_code {
            and.push(doc! { "postal_code": normalize_postal_code(p) });
        }
        if let Some(c) = &filter.city {
            and.push(doc! { "city": normalize_city(c) });
        }
        if let Some(c) = &filter.country {
            and.push(doc! { "country": normalize_country(c) });
        }
        if let Some(r) = &filter.reference {
            and.push(doc! { "ref": r });
        }
        if let Some(s) = filter.status {
            and.push(doc! { "status": s.as_str() });
        }
        if let Some(q) = filter.q_tokens()? {
            // Search words are ASCII letters and digits only (see
            // `street_tokens`), so they need no regex escaping; an anchored
            // prefix regex uses the `tokens` index bounds.
            for w in q {
                and.push(doc! { "tokens": { "$regex": format!("^{w}") } });
            }
        }
        if let Some(c) = &cursor {
            and.push(doc! { "_id": { "$gt": c.id.to_string() } });
        }
        let found: Vec<Document> = self
            .addresses
            .find(doc! { "$and": and })
            .sort(doc! { "_id": 1 })
            .limit(i64_of(limit as u64 + 1))
            .await?
            .try_collect()
            .await?;
        let mut items = Vec::with_capacity(limit);
        for d in found.iter().take(limit) {
            items.extend(embedded::<AddressDoc>(d, "address document")?.view());
        }
        let next_cursor = match items.last() {
            Some(last) if found.len() > limit => Some(AddressCursor { id: last.id, key: String::new() }.encode()),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    async fn stats(&self) -> Result<Stats, StoreError> {
        Ok(self.read_stats().await?.stats)
    }

    async fn address_history(&self, id: Uuid) -> Result<Option<Vec<AddressHistoryEntry>>, StoreError> {
        match self.addresses.find_one(doc! { "_id": id.to_string() }).await? {
            None => Ok(None),
            Some(d) => {
                let doc = embedded::<AddressDoc>(&d, "address document")?;
                Ok(doc.history_view(doc.history.clone()))
            }
        }
    }

    async fn reviews(&self, filter: &ReviewFilter, page: PageRequest) -> Result<Page<ReviewView>, StoreError> {
        let limit = page.effective_limit();
        let cursor = page.cursor.as_deref().map(ReviewCursor::decode).transpose()?;
        let mut and = vec![doc! { "visible": true }];
        if let Some(s) = filter.status {
            and.push(doc! { "status": s.as_str() });
        }
        if let Some(c) = &cursor {
            and.push(doc! { "$or": [
                { "created_us": { "$gt": c.created_us } },
                { "created_us": c.created_us, "_id": { "$gt": c.id.to_string() } },
            ] });
        }
        let found: Vec<Document> = self
            .reviews
            .find(doc! { "$and": and })
            .sort(doc! { "created_us": 1, "_id": 1 })
            .limit(i64_of(limit as u64 + 1))
            .await?
            .try_collect()
            .await?;
        let mut items = Vec::with_capacity(limit);
        let mut last = None;
        for d in found.iter().take(limit) {
            let doc: ReviewDoc = embedded(d, "review document")?;
            if let Some(k) = doc.keys() {
                last = Some(ReviewCursor { created_us: k.created_us, id: doc.id });
            }
            items.extend(doc.view());
        }
        let next_cursor = if found.len() > limit { last.map(|c| c.encode()) } else { None };
        Ok(Page { items, next_cursor })
    }

    async fn review(&self, id: Uuid) -> Result<Option<ReviewView>, StoreError> {
        match self.reviews.find_one(doc! { "_id": id.to_string() }).await? {
            None => Ok(None),
            Some(d) => Ok(embedded::<ReviewDoc>(&d, "review document")?.view()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use masthead_testdata::events as synth;

    /// Round trip through BSON without a server: the stored form must read
    /// back to the same document (u64 → i64, uuids and times as strings).
    #[test]
    fn documents_survive_bson() {
        let cfg = synth::SynthConfig { addresses: 5, subscriptions: 20, concurrency: 4, seed: 3 };
        let events = synth::generate(&cfg);
        let mut subs: HashMap<Uuid, SubscriptionDoc> = HashMap::new();
        let mut addrs: HashMap<Uuid, AddressDoc> = HashMap::new();
        for r in &events {
            match &r.event {
                AnyEvent::Subscription(e) => {
                    let id = subscription_id(r, e).unwrap();
                    subs.entry(id).or_insert_with(|| SubscriptionDoc::new(id)).apply(
                        r.stream_sequence,
                        r.envelope.occurred_at,
                        e,
                    );
                }
                AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRegistered(e)) => {
                    let a = addrs.entry(e.base_address_id).or_insert_with(|| AddressDoc::new(e.base_address_id));
                    a.register(r.stream_sequence, e);
                    a.add_spelling("Kerk str 1", r.stream_sequence);
                }
                AnyEvent::BaseAddress(_) | AnyEvent::Review(_) => {}
            }
        }
        for d in subs.values() {
            let rec = subscription_record(d).unwrap();
            assert_eq!(&embedded::<SubscriptionDoc>(&rec, "s").unwrap(), d);
            assert_eq!(rec.get_bool("visible"), Ok(true));
            assert!(rec.get_i64("created_us").is_ok());
        }
        for d in addrs.values() {
            let rec = address_record(d).unwrap();
            assert_eq!(&embedded::<AddressDoc>(&rec, "a").unwrap(), d);
            assert!(!rec.get_array("tokens").unwrap().is_empty());
        }
        let partial = SubscriptionDoc::new(Uuid::from_u128(1));
        assert_eq!(subscription_record(&partial).unwrap().get_bool("visible"), Ok(false));
        let mut stats = Stats { score_histogram: vec![1; 10], mail_sent: 3, ..Stats::default() };
        stats.registrations_per_day.insert(Utc.with_ymd_and_hms(2025, 1, 2, 0, 0, 0).unwrap().date_naive(), 4);
        stats.mean_seconds_to_decision = Some(1.5);
        stats.reviews_decided = 2;
        let stored = StoredStats { stats, seconds_to_decision_total: 3.0 };
        let d = doc! { "doc": to_bson_doc(&stored).unwrap() };
        assert_eq!(embedded::<StoredStats>(&d, "stats").unwrap(), stored);
    }
}
