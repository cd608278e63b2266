//! Masthead's read models, built from the event stream.
//!
//! This crate owns what the read API shows: the `addresses`, `subscriptions`
//! and `stats` projections, the fold that turns events into their documents
//! (shared by every store, and usable on a single history for
//! read-your-writes), and two stores behind one [`ProjectionStore`] contract —
//! an embedded redb file per projection generation (the default) and
//! MongoDB. Its [`projector`] is the durable consumer that feeds
//! [`ProjectionStore::apply_batch`] (a batch and its checkpoint atomically;
//! events applied before are ignored), the generations readers switch
//! between, and rebuilds. Reading the stream is `masthead-jetstream`'s.

mod apply;
mod cursor;
pub mod error;
pub mod fold;
pub mod projector;
pub mod query;
pub mod store;
pub mod verify;
pub mod view;

pub use error::StoreError;
pub use fold::{correction_changes, subscription_view_from_history};
pub use query::{AddressFilter, PageRequest, ReviewFilter, SubscriptionFilter};
pub use store::mongo::MongoStore;
pub use store::redb::RedbStore;
pub use store::{open, ProjectionStore, StoreConfig};
pub use view::*;
