//! `masthead projector`: applies the event stream to the read models, and
//! `masthead projections rebuild`: replays it into a fresh generation.
//!
//! The three read models (addresses, subscriptions, stats) form one
//! projection with one checkpoint: stats and address spellings are derived
//! from subscription documents inside the same transaction, so they can
//! never disagree with each other.

pub mod generation;
pub mod replay;

use crate::config::Config;
use crate::connect::Nats;
use anyhow::{Context, Result};
use futures::StreamExt;
use generation::{store_config, ProjectionReads, ACTIVE_KEY, DEFAULT_GENERATION};
use masthead_events::consumer::{ConsumerRuntime, Delivery, Handler, Outcome, RuntimeConfig};
use masthead_events::topology::ConsumerRole;
use masthead_projections::{ProjectionStore, StoreError};
use replay::{replay, ReplayOptions, Until};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Longest pause between two attempts at one event.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

pub struct ProjectorHandler {
    pub reads: Arc<ProjectionReads>,
    /// Held for reading while a batch is applied; a generation switch takes
    /// it for writing, so no batch lands in the old store after the switch.
    pub gate: tokio::sync::RwLock<()>,
    pub retry_delay: Duration,
}

#[async_trait::async_trait]
impl Handler for ProjectorHandler {
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        let _gate = self.gate.read().await;
        let store = self.reads.get();
        let mut outcomes = vec![Outcome::Done; batch.len()];
        let mut events = Vec::with_capacity(batch.len());
        for (i, d) in batch.iter().enumerate() {
            match &d.event {
                Ok(r) => events.push(r.clone()),
                Err(e) => outcomes[i] = Outcome::DeadLetter { reason: format!("undecodable event: {e}") },
            }
        }
        if events.is_empty() {
            return outcomes;
        }
        match store.apply_batch_owned(events).await {
            Ok(report) => {
                for rejected in &report.rejected {
                    if let Some(i) = batch.iter().position(|d| d.stream_sequence == rejected.stream_sequence) {
                        outcomes[i] = Outcome::Retry {
                            delay: batch[i].backoff(self.retry_delay, MAX_RETRY_DELAY),
                            reason: rejected.reason.clone(),
                        };
                    }
                }
                let failed = outcomes.iter().filter(|o| **o != Outcome::Done).count() as u64;
                crate::telemetry::metrics::record_processed("projector", batch.len() as u64 - failed, failed);
            }
            Err(e) => {
                tracing::warn!(error = %e, "projection batch failed; retrying");
                crate::telemetry::metrics::record_processed("projector", 0, batch.len() as u64);
                for (o, d) in outcomes.iter_mut().zip(batch) {
                    if d.event.is_ok() {
                        *o = Outcome::Retry {
                            delay: d.backoff(self.retry_delay, MAX_RETRY_DELAY),
                            reason: e.to_string(),
                        };
                    }
                }
            }
        }
        outcomes
    }
}

/// Opens a generation, waiting while another process (a rebuild that is
/// finishing) still holds an embedded file.
pub async fn open_generation(config: &Config, name: &str) -> Result<Arc<dyn ProjectionStore>> {
    open_generation_waiting(config, name, 50).await
}

/// `attempts` × 200 ms of patience for a locked embedded file.
pub async fn open_generation_waiting(
    config: &Config,
    name: &str,
    max_attempts: u32,
) -> Result<Arc<dyn ProjectionStore>> {
    let store_config = store_config(&config.data_dir, config.mongodb_uri.as_deref(), &config.mongodb_database, name);
    if let masthead_projections::StoreConfig::Embedded { path } = &store_config {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let mut attempts = 0;
    loop {
        match masthead_projections::open(&store_config).await {
            Ok(s) => return Ok(s),
            Err(StoreError::Locked(_)) if attempts < max_attempts => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("opening projection generation {name}")),
        }
    }
}

/// The active generation's name from the control bucket (created on first use).
pub async fn active_generation(nats: &Nats) -> Result<String> {
    if let Ok(pinned) = std::env::var("MASTHEAD_PROJECTION_GENERATION") {
        return Ok(pinned);
    }
    let kv = nats.js.get_key_value(nats.topology.control_bucket()).await.context("opening the control bucket")?;
    match kv.get(ACTIVE_KEY).await.context("reading the active projection generation")? {
        Some(v) => Ok(String::from_utf8_lossy(&v).into_owned()),
        None => {
            let _ = kv.create(ACTIVE_KEY, DEFAULT_GENERATION.into()).await;
            Ok(DEFAULT_GENERATION.to_owned())
        }
    }
}

/// Opens the active generation for reading (and, in the projector, writing).
pub async fn open_reads(config: &Config, nats: &Nats) -> Result<Arc<ProjectionReads>> {
    let name = active_generation(nats).await?;
    let store = open_generation(config, &name).await?;
    Ok(Arc::new(ProjectionReads::new(store, &name)))
}

/// Switches `reads` to each new active generation. With a `handler`, first
/// pauses live application, catches the new generation up to the end of the
/// stream, then swaps, so no event is lost between the two.
pub async fn follow_generations(
    config: Config,
    nats_js: async_nats::jetstream::Context,
    topology: masthead_events::topology::Topology,
    reads: Arc<ProjectionReads>,
    handler: Option<Arc<ProjectorHandler>>,
    shutdown: CancellationToken,
) {
    if std::env::var("MASTHEAD_PROJECTION_GENERATION").is_ok() {
        return; // pinned: an auditor's past view never switches
    }
    while !shutdown.is_cancelled() {
        let watched = async {
            let kv = nats_js.get_key_value(topology.control_bucket()).await.map_err(|e| e.to_string())?;
            kv.watch(ACTIVE_KEY).await.map_err(|e| e.to_string())
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
            if name == reads.generation() || !generation::valid_generation_name(&name) {
                continue;
            }
            tracing::info!(generation = %name, "switching to a new projection generation");
            let store = match open_generation(&config, &name).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot open the new generation; staying on the old one");
                    continue;
                }
            };
            let _pause = match &handler {
                Some(h) => Some(h.gate.write().await),
                None => None,
            };
            if handler.is_some() {
                let from = store.checkpoint().await.unwrap_or(0) + 1;
                let options = ReplayOptions {
                    from,
                    until: Until::default(),
                    batch_size: 1000,
                    readers: std::slice::from_ref(&nats_js),
                    chunk: replay::CHUNK,
                };
                if let Err(e) = replay(&topology, options, Some(&store), |_, _| {}).await {
                    tracing::error!(error = %e, "catching up the new generation failed; staying on the old one");
                    continue;
                }
            }
            reads.swap(store, &name);
            tracing::info!(generation = %name, "projection generation switched");
        }
    }
}

pub async fn run(config: &Config, nats: &Nats, reads: Arc<ProjectionReads>, shutdown: CancellationToken) -> Result<()> {
    let handler = Arc::new(ProjectorHandler {
        reads: reads.clone(),
        gate: tokio::sync::RwLock::new(()),
        retry_delay: Duration::from_secs(1),
    });
    tokio::spawn(follow_generations(
        config.clone(),
        nats.js.clone(),
        nats.topology.clone(),
        reads,
        Some(handler.clone()),
        shutdown.clone(),
    ));
    let runtime = ConsumerRuntime::new(
        nats.js.clone(),
        nats.topology.clone(),
        ConsumerRole::Projector,
        RuntimeConfig { batch_size: 1000, ..Default::default() },
    );
    runtime.run(handler, shutdown).await.context("projector consumer")
}

/// Events per batch while rebuilding. A batch is one write transaction:
/// larger ones touch each document and index page once for many events (a
/// subscription's events fall into the same batch, popular addresses are
/// rewritten once) and commit less often. At 1 000 a rebuild ran at ~45k
/// events/s, at 20 000 about twice that, at 60 000 another ~7 % faster (at
/// 120 000 no faster again). Readers hand over smaller pieces (see
/// `replay`), so what is in flight is about three batches: ~300 MB.
const REBUILD_BATCH: usize = 60_000;

pub struct RebuildOptions {
    pub generation: Option<String>,
    pub until: Until,
    pub progress: bool,
    /// Connections reading the stream at once; see `replay`.
    pub readers: usize,
}

/// Replays the whole stream into a fresh generation. Without a stopping
/// point it then makes that generation active (the running projector catches
/// it up to the live end and readers switch). With one, it leaves a past view
/// for auditors to query.
pub async fn rebuild(config: &Config, nats: &Nats, options: RebuildOptions) -> Result<()> {
    let name = options.generation.unwrap_or_else(|| format!("r{}", chrono::Utc::now().format("%Y%m%d%H%M%S")));
    anyhow::ensure!(generation::valid_generation_name(&name), "generation names use letters, digits, - and _ only");
    let store = open_generation(config, &name).await?;
    anyhow::ensure!(
        store.checkpoint().await? == 0,
        "generation {name} already has data; choose a new --generation name"
    );

    let bar = |label: &'static str| {
        let bar = if options.progress { indicatif::ProgressBar::new(0) } else { indicatif::ProgressBar::hidden() };
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{label:>8} {{bar:40}} {{pos}}/{{len}} events  {{per_sec}}"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    };
    let mut readers = vec![nats.js.clone()];
    for _ in 1..options.readers {
        readers.push(async_nats::jetstream::new(crate::connect::reader_connection(config).await?));
    }
    let replay_options = ReplayOptions {
        from: 1,
        until: options.until,
        batch_size: REBUILD_BATCH,
        readers: &readers,
        chunk: replay::CHUNK,
    };
    // The raw replay rate of the same stream, as the baseline of the rebuild
    // rate: the same readers, chunks and decoding, without a store.
    let raw_bar = bar("read");
    let raw = replay(&nats.topology, replay_options, None, |n, total| {
        raw_bar.set_length(total);
        raw_bar.set_position(n);
    })
    .await?;
    raw_bar.finish_and_clear();
    let apply_bar = bar("rebuild");
    // Nothing reads the new generation yet and a failed rebuild is redone
    // under a new name, so the store may skip per-batch fsyncs; everything
    // is made durable before the generation is switched to.
    store.begin_rebuild().await?;
    let built = replay(&nats.topology, replay_options, Some(&store), |n, total| {
        apply_bar.set_length(total);
        apply_bar.set_position(n);
    })
    .await;
    // Flushed on failure too, so what was applied stays, with its checkpoint.
    let flushed = store.finish_rebuild().await;
    let built = built?;
    flushed?;
    apply_bar.finish_and_clear();
    let cpu = |r: &replay::ReplayReport| {
        r.cpu_micros_per_event().map_or(String::new(), |us| format!(", {us:.1} µs CPU per event"))
    };
    println!(
        "raw replay: {} events in {:.2} s = {:.0} events/s ({} readers{})",
        raw.events,
        raw.elapsed.as_secs_f64(),
        raw.per_second(),
        readers.len(),
        cpu(&raw)
    );
    println!(
        "rebuild:    {} events in {:.2} s = {:.0} events/s ({:.0} % of raw{}), {} undecodable skipped, generation {name} at sequence {}",
        built.events,
        built.elapsed.as_secs_f64(),
        built.per_second(),
        100.0 * built.per_second() / raw.per_second().max(1e-9),
        cpu(&built),
        built.undecodable,
        built.last_sequence
    );
    drop(store);
    if options.until.sequence.is_none() && options.until.time.is_none() {
        let kv = nats.js.get_key_value(nats.topology.control_bucket()).await.context("opening the control bucket")?;
        kv.put(ACTIVE_KEY, name.clone().into()).await.context("switching the active generation")?;
        println!("generation {name} is now active; running projectors catch it up and readers switch to it");
    } else {
        println!(
            "past view built; query it with: MASTHEAD_PROJECTION_GENERATION={name} masthead api --http-addr 127.0.0.1:8081"
        );
    }
    Ok(())
}
