//! Masthead's read models, built from the event stream.
//!
//! This crate owns what the read API shows: the `addresses`, `subscriptions`
//! and `stats` projections, the fold that turns events into their documents
//! (shared by every store, and usable on a single history for
//! read-your-writes), and two stores behind one [`ProjectionStore`] contract —
//! an embedded redb file per projection generation (the default) and
//! MongoDB. It does not read NATS: the consumer runtime in
//! `masthead-events` feeds [`ProjectionStore::apply_batch`], which applies a
//! batch and its checkpoint atomically and ignores events it has already
//! applied.

mod apply;
mod cursor;
pub mod error;
pub mod fold;
pub mod query;
pub mod store;
pub mod synth;
pub mod view;

pub use error::StoreError;
pub use fold::subscription_view_from_history;
pub use query::{AddressFilter, PageRequest, SubscriptionFilter};
pub use store::mongo::MongoStore;
pub use store::redb::RedbStore;
pub use store::{open, ProjectionStore, StoreConfig};
pub use view::*;
