//! Projection generations: which store readers use right now.
//!
//! A rebuild writes a fresh generation beside the live one; readers keep the
//! old one until the new one has caught up, then switch in one atomic swap.
//! The active generation's name lives in the JetStream KV control bucket, so
//! every process (API replicas, projectors) learns about a switch.

use super::ProjectorHandler;
use crate::{ProjectionStore, StoreConfig, StoreError};
use arc_swap::ArcSwap;
use async_nats::jetstream;
use futures::StreamExt;
use masthead_jetstream::replay::{self, ReplayError, ReplayOptions, Until};
use masthead_jetstream::topology::Topology;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The key in the control bucket naming the active generation.
pub const ACTIVE_KEY: &str = "projections.active";
/// The first generation's name, before any rebuild.
pub const DEFAULT_GENERATION: &str = "g0";

/// How long to wait for an embedded generation file another process (a
/// rebuild that is finishing) still holds.
const LOCK_PATIENCE: Duration = Duration::from_secs(10);

/// Why a generation could not be opened, switched or built.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    /// The KV control bucket did not answer: setup has not run, or NATS is
    /// away. Retry later, or run `masthead setup`.
    #[error("projection control bucket unavailable: {0}")]
    Control(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The generation's store could not be opened (a locked embedded file,
    /// an unreachable MongoDB). The source says which; fix it and retry.
    #[error("opening projection generation {name}: {source}")]
    Open { name: String, source: StoreError },
    /// A generation name must be usable as a file and collection suffix.
    /// Choose another.
    #[error("invalid generation name {0:?}: use letters, digits, - and _ (at most 40)")]
    InvalidName(String),
    /// A rebuild was pointed at a generation that has data. Choose a new name.
    #[error("generation {0} already has data; choose a new --generation name")]
    NotEmpty(String),
    /// Reading the stream, or applying it, failed. What was applied stays,
    /// with its checkpoint; run it again.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The store failed outside a replay (checkpoint, flush).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn control_error(e: impl std::error::Error + Send + Sync + 'static) -> GenerationError {
    GenerationError::Control(Box::new(e))
}

/// Where the generations of this deployment live: an embedded redb file per
/// generation under `data_dir`, or suffixed collections in MongoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    pub data_dir: PathBuf,
    /// `(uri, database)`; `None`: the embedded store.
    pub mongodb: Option<(String, String)>,
}

impl StoreLocation {
    /// Where generation `name` lives.
    pub fn config_for(&self, name: &str) -> StoreConfig {
        match &self.mongodb {
            Some((uri, database)) => {
                StoreConfig::Mongo { uri: uri.clone(), database: database.clone(), suffix: format!("_{name}") }
            }
            None => StoreConfig::Embedded { path: self.data_dir.join("projections").join(format!("{name}.redb")) },
        }
    }

    /// Opens generation `name`, waiting a while for an embedded file that
    /// another process still holds.
    pub async fn open(&self, name: &str) -> Result<Arc<dyn ProjectionStore>, GenerationError> {
        if !valid_generation_name(name) {
            return Err(GenerationError::InvalidName(name.to_owned()));
        }
        let config = self.config_for(name);
        let open_error = |source| GenerationError::Open { name: name.to_owned(), source };
        if let StoreConfig::Embedded { path } = &config {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| open_error(StoreError::Unavailable(e.to_string())))?;
            }
        }
        let deadline = tokio::time::Instant::now() + LOCK_PATIENCE;
        loop {
            match crate::open(&config).await {
                Ok(s) => return Ok(s),
                Err(StoreError::Locked(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(open_error(e)),
            }
        }
    }
}

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

/// Generation names are file and collection suffixes: keep them plain.
pub fn valid_generation_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 40 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The active generation's name from the control bucket (created on first
/// use), or `pinned` when an auditor pinned a past view.
pub async fn active_generation(
    js: &jetstream::Context,
    topology: &Topology,
    pinned: Option<&str>,
) -> Result<String, GenerationError> {
    if let Some(pinned) = pinned {
        return Ok(pinned.to_owned());
    }
    let kv = js.get_key_value(topology.control_bucket()).await.map_err(control_error)?;
    match kv.get(ACTIVE_KEY).await.map_err(control_error)? {
        Some(v) => Ok(String::from_utf8_lossy(&v).into_owned()),
        None => {
            // Two processes may both create it; either way it says g0.
            let _ = kv.create(ACTIVE_KEY, DEFAULT_GENERATION.into()).await;
            Ok(DEFAULT_GENERATION.to_owned())
        }
    }
}

/// Makes `name` the active generation: every follower switches to it.
pub async fn activate(js: &jetstream::Context, topology: &Topology, name: &str) -> Result<(), GenerationError> {
    let kv = js.get_key_value(topology.control_bucket()).await.map_err(control_error)?;
    kv.put(ACTIVE_KEY, name.to_owned().into()).await.map_err(control_error)?;
    Ok(())
}

/// Opens the active (or pinned) generation for reading and, in the
/// projector's process, writing.
pub async fn open_reads(
    location: &StoreLocation,
    js: &jetstream::Context,
    topology: &Topology,
    pinned: Option<&str>,
) -> Result<Arc<ProjectionReads>, GenerationError> {
    let name = active_generation(js, topology, pinned).await?;
    let store = location.open(&name).await?;
    Ok(Arc::new(ProjectionReads::new(store, &name)))
}

/// Follows the active generation and switches `reads` to each new one.
/// With a `handler` (the projector's process) it first pauses live
/// application, catches the new generation up to the end of the stream,
/// then swaps, so no event is lost between the two.
pub async fn follow_generations(
    location: StoreLocation,
    js: jetstream::Context,
    topology: Topology,
    reads: Arc<ProjectionReads>,
    handler: Option<Arc<ProjectorHandler>>,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let watched = async {
            let kv = js.get_key_value(topology.control_bucket()).await.map_err(control_error)?;
            kv.watch(ACTIVE_KEY).await.map_err(control_error)
        }
        .await;
        let mut watch = match watched {
            Ok(w) => w,
            Err(_) => {
                tokio::select! { _ = shutdown.cancelled() => return, _ = tokio::time::sleep(Duration::from_secs(1)) => continue }
            }
        };
        loop {
            let entry = tokio::select! { _ = shutdown.cancelled() => return, e = watch.next() => e };
            let Some(Ok(entry)) = entry else { break };
            let name = String::from_utf8_lossy(&entry.value).into_owned();
            if name == reads.generation() || !valid_generation_name(&name) {
                continue;
            }
            if let Err(e) = switch(&location, &js, &topology, &reads, handler.as_deref(), &name).await {
                tracing::error!(generation = %name, error = %e, "cannot switch generation; staying on the old one");
            }
        }
    }
}

/// Opens generation `name`, catches it up (when this process projects),
/// and makes `reads` use it.
async fn switch(
    location: &StoreLocation,
    js: &jetstream::Context,
    topology: &Topology,
    reads: &ProjectionReads,
    handler: Option<&ProjectorHandler>,
    name: &str,
) -> Result<(), GenerationError> {
    tracing::info!(generation = %name, "switching to a new projection generation");
    let store = location.open(name).await?;
    if let Some(handler) = handler {
        let _pause = handler.gate.write().await;
        let from = store.checkpoint().await? + 1;
        let options = ReplayOptions {
            from,
            until: Until::default(),
            batch_size: 1000,
            readers: std::slice::from_ref(js),
            chunk: replay::CHUNK,
        };
        let apply = |batch| {
            let store = store.clone();
            async move { store.apply_batch_owned(batch).await.map(|report| report.applied) }
        };
        replay::replay(topology, options, Some(apply), |_, _| {}).await?;
        reads.swap(store, name);
    } else {
        reads.swap(store, name);
    }
    tracing::info!(generation = %name, "projection generation switched");
    Ok(())
}
