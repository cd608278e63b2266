//! Rebuilding the read models: replaying the whole stream into a fresh
//! generation, then (without a stopping point) making it the active one.

use super::generations::{activate, valid_generation_name, GenerationError, StoreLocation};
use async_nats::jetstream;
use masthead_jetstream::replay::{self, ReplayOptions, ReplayReport, Until};
use masthead_jetstream::topology::Topology;

/// Events per batch while rebuilding. A batch is one write transaction:
/// larger ones touch each document and index page once for many events (a
/// subscription's events fall into the same batch, popular addresses are
/// rewritten once) and commit less often. At 1 000 a rebuild ran at ~45k
/// events/s, at 20 000 about twice that, at 60 000 another ~7 % faster (at
/// 120 000 no faster again). Readers hand over smaller pieces (see
/// `masthead_jetstream::replay`), so what is in flight is about three
/// batches: ~300 MB.
pub const REBUILD_BATCH: usize = 60_000;

pub struct RebuildOptions<'a> {
    /// Name of the new generation; `None`: `r<timestamp>`.
    pub generation: Option<String>,
    pub until: Until,
    /// One JetStream context per connection to read the stream over.
    pub readers: &'a [jetstream::Context],
    /// Also read the stream once without applying it, to report the raw
    /// replay rate beside the rebuild's (a second full read: opt-in).
    pub compare_raw: bool,
}

/// Which pass a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// The raw read of `compare_raw`.
    Read,
    Rebuild,
}

pub struct RebuildReport {
    pub generation: String,
    /// The raw replay of the same stream, with `compare_raw`.
    pub raw: Option<ReplayReport>,
    pub built: ReplayReport,
    /// True when the new generation became the active one.
    pub activated: bool,
}

/// Replays the whole stream into a fresh generation. Without a stopping
/// point it then makes that generation active (the running projector
/// catches it up to the live end and readers switch). With one, it leaves a
/// past view for auditors to query. `progress` gets (pass, events read,
/// events to read).
pub async fn rebuild(
    location: &StoreLocation,
    topology: &Topology,
    options: RebuildOptions<'_>,
    mut progress: impl FnMut(Pass, u64, u64),
) -> Result<RebuildReport, GenerationError> {
    let name = options.generation.unwrap_or_else(|| format!("r{}", chrono::Utc::now().format("%Y%m%d%H%M%S")));
    if !valid_generation_name(&name) {
        return Err(GenerationError::InvalidName(name));
    }
    let store = location.open(&name).await?;
    if store.checkpoint().await? != 0 {
        return Err(GenerationError::NotEmpty(name));
    }
    let Some(first_reader) = options.readers.first() else {
        return Err(GenerationError::Replay(replay::ReplayError::Stream("no connection to read over".into())));
    };
    let replay_options = ReplayOptions {
        from: 1,
        until: options.until,
        batch_size: REBUILD_BATCH,
        readers: options.readers,
        chunk: replay::CHUNK,
    };
    let raw = if options.compare_raw {
        Some(replay::read_only(topology, replay_options, |n, total| progress(Pass::Read, n, total)).await?)
    } else {
        None
    };
    // Nothing reads the new generation yet and a failed rebuild is redone
    // under a new name, so the store may skip per-batch fsyncs; everything
    // is made durable before the generation is switched to.
    store.begin_rebuild().await?;
    let apply = |batch| {
        let store = store.clone();
        async move { store.apply_batch_owned(batch).await.map(|report| report.applied) }
    };
    let built =
        replay::replay(topology, replay_options, Some(apply), |n, total| progress(Pass::Rebuild, n, total)).await;
    // Flushed on failure too, so what was applied stays, with its checkpoint.
    let flushed = store.finish_rebuild().await;
    let built = built?;
    flushed?;
    drop(store);
    let activated = options.until.sequence.is_none() && options.until.time.is_none();
    if activated {
        activate(first_reader, topology, &name).await?;
    }
    Ok(RebuildReport { generation: name, raw, built, activated })
}
