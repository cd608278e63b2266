//! Projection generations: which store readers use right now.
//!
//! A rebuild writes a fresh generation beside the live one; readers keep the
//! old one until the new one has caught up, then switch in one atomic swap.
//! The active generation's name lives in the JetStream KV control bucket, so
//! every process (API replicas, projectors) learns about a switch.

use arc_swap::ArcSwap;
use masthead_projections::{ProjectionStore, StoreConfig};
use std::path::Path;
use std::sync::Arc;

pub const ACTIVE_KEY: &str = "projections.active";
pub const DEFAULT_GENERATION: &str = "g0";

/// The store readers use, swappable at run time.
pub struct ProjectionReads {
    current: ArcSwap<Arc<dyn ProjectionStore>>,
    generation: ArcSwap<String>,
}

impl ProjectionReads {
    pub fn new(store: Arc<dyn ProjectionStore>, generation: &str) -> Self {
        Self { current: ArcSwap::from_pointee(store), generation: ArcSwap::from_pointee(generation.to_owned()) }
    }

    /// The store to read from now. Cheap; take it once per request.
    pub fn get(&self) -> Arc<dyn ProjectionStore> {
        self.current.load_full().as_ref().clone()
    }

    pub fn generation(&self) -> String {
        self.generation.load_full().as_ref().clone()
    }

    pub fn swap(&self, store: Arc<dyn ProjectionStore>, generation: &str) {
        self.current.store(Arc::new(store));
        self.generation.store(Arc::new(generation.to_owned()));
    }
}

/// Where generation `name` lives for this configuration.
pub fn store_config(data_dir: &Path, mongodb_uri: Option<&str>, database: &str, name: &str) -> StoreConfig {
    match mongodb_uri {
        Some(uri) => {
            StoreConfig::Mongo { uri: uri.to_owned(), database: database.to_owned(), suffix: format!("_{name}") }
        }
        None => StoreConfig::Embedded { path: data_dir.join("projections").join(format!("{name}.redb")) },
    }
}

/// Generation names are file and collection suffixes: keep them plain.
pub fn valid_generation_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 40 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}
