//! Where the read models live: the store contract and how to pick one.

mod codec;
pub mod mongo;
pub mod redb;

use crate::error::StoreError;
use crate::query::{AddressFilter, PageRequest, ReviewFilter, SubscriptionFilter};
use crate::view::{
    AddressHistoryEntry, AddressView, ApplyReport, Page, ReviewView, Stats, SubscriptionSummary, SubscriptionView,
};
use async_trait::async_trait;
use masthead_domain::envelope::{AnyEvent, Recorded};
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

/// A store of the three read models plus their checkpoint.
///
/// One writer (the consumer runtime) calls [`apply_batch`](Self::apply_batch);
/// any number of readers query concurrently.
#[async_trait]
pub trait ProjectionStore: Send + Sync {
    /// Applies events in order, together with the checkpoint: after an error
    /// nothing of the batch is visible (see the MongoDB store for its
    /// weaker mode on servers without transactions). Events applied before are
    /// skipped, so redelivered or replayed batches are harmless.
    async fn apply_batch(&self, events: &[Recorded<AnyEvent>]) -> Result<ApplyReport, StoreError>;
    /// The highest stream sequence applied; 0 for an empty store.
    async fn checkpoint(&self) -> Result<u64, StoreError>;
    async fn subscription(&self, id: Uuid) -> Result<Option<SubscriptionView>, StoreError>;
    /// Newest first (by `created_at`, then id).
    async fn subscriptions(
        &self,
        filter: &SubscriptionFilter,
        page: PageRequest,
    ) -> Result<Page<SubscriptionSummary>, StoreError>;
    async fn address(&self, id: Uuid) -> Result<Option<AddressView>, StoreError>;
    /// By id for exact filters and no filter; for a `q` search alone, the
    /// embedded store orders by matching street word, then id.
    async fn addresses(&self, filter: &AddressFilter, page: PageRequest) -> Result<Page<AddressView>, StoreError>;
    async fn stats(&self) -> Result<Stats, StoreError>;
    /// Every event of the address in stream order (its registration, then
    /// its corrections, merge or retirement), plus on a survivor the merges
    /// into it. `None` for an address that is not registered.
    async fn address_history(&self, id: Uuid) -> Result<Option<Vec<AddressHistoryEntry>>, StoreError>;
    /// Review items, oldest first (by `created_at`, then id).
    async fn reviews(&self, filter: &ReviewFilter, page: PageRequest) -> Result<Page<ReviewView>, StoreError>;
    async fn review(&self, id: Uuid) -> Result<Option<ReviewView>, StoreError>;

    /// [`apply_batch`](Self::apply_batch) for a caller that no longer needs
    /// the events: a store that applies on another thread can take them
    /// instead of copying the batch (for a rebuild's large batches, a deep
    /// copy of every event).
    async fn apply_batch_owned(&self, events: Vec<Recorded<AnyEvent>>) -> Result<ApplyReport, StoreError> {
        self.apply_batch(&events).await
    }

    /// [`apply_batch_owned`](Self::apply_batch_owned) for a batch a live
    /// consumer received with `waiting` more events behind it (a backlog,
    /// as during and after an import). The store may defer work that each
    /// later batch of the backlog would redo: the embedded store then lets
    /// its address indexes lag the documents (for at most
    /// [`MAX_INDEX_LAG`](crate::store::redb::MAX_INDEX_LAG)) and rewrites
    /// them in one sorted pass. Lists filtered through an index may miss
    /// addresses registered or changed meanwhile, as the whole projection
    /// does while it is behind; documents, the unfiltered lists and the stats are as current
    /// as the checkpoint. The default applies the batch as any other.
    async fn apply_backlog_batch(
        &self,
        events: Vec<Recorded<AnyEvent>>,
        waiting: u64,
    ) -> Result<ApplyReport, StoreError> {
        let _ = waiting;
        self.apply_batch_owned(events).await
    }

    /// Announces a replay of the stream into this store while nothing reads
    /// it (a fresh generation). The store may then give up per-batch
    /// durability for speed: each batch still commits atomically with its
    /// checkpoint, but a crash may lose the latest batches, *together with
    /// that checkpoint*, so the store stays consistent and a replay resumes
    /// from the checkpoint it finds. The default changes nothing.
    async fn begin_rebuild(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Ends [`begin_rebuild`](Self::begin_rebuild): everything applied so far
    /// is durable when this returns, and later batches are durable again.
    async fn finish_rebuild(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Which store to use, chosen at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A redb file (one per projection generation).
    Embedded { path: PathBuf },
    /// A MongoDB database; `suffix` is appended to every collection name so
    /// that generations can live side by side in one database.
    Mongo { uri: String, database: String, suffix: String },
}

/// Opens the configured store.
pub async fn open(config: &StoreConfig) -> Result<Arc<dyn ProjectionStore>, StoreError> {
    match config {
        StoreConfig::Embedded { path } => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || redb::RedbStore::open(&path)).await??;
            Ok(Arc::new(store))
        }
        StoreConfig::Mongo { uri, database, suffix } => {
            Ok(Arc::new(mongo::MongoStore::connect(uri, database, suffix).await?))
        }
    }
}
