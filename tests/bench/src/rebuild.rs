//! `masthead-bench rebuild`: a projection rebuild from a real stream into a
//! fresh redb generation (`masthead_projections::projector::rebuild`, what
//! `masthead projections rebuild` runs), beside the raw replay of the same
//! stream in the same run (read and decode only, through the same readers),
//! each with its CPU per event. Then the store alone: the same events
//! applied straight to a fresh generation, no NATS, as the projections
//! crate's store benchmark measured it.
//!
//! Without `--stream` a synthetic stream of about `--events` events is
//! published into a new stream first (see `publish`).

use crate::cpu_meter::{us_per, CpuMeter, Spent};
use crate::nats::{delete_everything, Server};
use crate::report::stream_name;
use anyhow::{Context, Result};
use masthead::config::Config;
use masthead::system::{connect_and_setup, Nats};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_jetstream::connect::connect;
use masthead_jetstream::replay::{self, ReplayOptions, ReplayReport, Until, CHUNK};
use masthead_projections::projector::generations::StoreLocation;
use masthead_projections::projector::rebuild::{rebuild, RebuildOptions, REBUILD_BATCH};
use masthead_projections::RedbStore;
use masthead_testdata::events::{generate, SynthConfig};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Options {
    /// About this many synthetic events, published into a new stream first.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Rebuild from this existing stream instead (nothing is published or
    /// deleted; the store-only pass is skipped).
    #[arg(long)]
    stream: Option<String>,
    /// NATS connections reading the stream (default: one per core, at most 4, as `masthead projections rebuild`).
    #[arg(long)]
    readers: Option<usize>,
    /// Events per batch of the store-only pass (the rebuild's own batch is
    /// REBUILD_BATCH; the live projector applies 1 000 durably).
    #[arg(long, default_value_t = REBUILD_BATCH)]
    batch: usize,
    /// Store-only pass: fsync every batch, as the live projector does.
    #[arg(long)]
    durable: bool,
    /// Skip the store-only pass.
    #[arg(long)]
    no_store_only: bool,
}

/// "client 12.3 µs, nats-server 3.4 µs per event"
fn per_event(cpu: Spent, events: u64) -> String {
    let us = |d| us_per(d, events).map_or("?".into(), |us| format!("{us:.1} µs"));
    let nats = match cpu.nats {
        Some(_) => us(cpu.nats),
        None => "not measured (shared server)".into(),
    };
    format!("CPU per event: client {}, nats-server {nats}", us(cpu.process))
}

fn rate(label: &str, r: &ReplayReport) -> String {
    format!("{label:<12} {} events in {:.2} s = {:>7.0} events/s", r.events, r.elapsed.as_secs_f64(), r.per_second())
}

fn is_address(r: &Recorded<AnyEvent>) -> bool {
    matches!(r.event, AnyEvent::BaseAddress(_))
}

pub async fn run(shared: Option<String>, options: Options) -> Result<()> {
    let server = Server::shared_or_local(shared)?;
    let data = tempfile::tempdir()?;
    let given = options.stream.is_some();
    let stream = options.stream.clone().unwrap_or_else(|| stream_name("BENCHRB"));
    let config = Config::for_nats(&server.url, data.path(), &stream);
    let nats = connect_and_setup(&config, None).await?;
    let readers = options.readers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4));
    println!(
        "bench rebuild: stream {stream}, {readers} readers, nats {}, load average {}",
        server.describe(),
        crate::report::load_average()
    );
    let result = async {
        if !given {
            publish_and_apply(&nats, &options, data.path()).await?;
        }
        replay_and_rebuild(&config, &nats, &server, readers, data.path()).await
    }
    .await;
    if !given {
        delete_everything(&nats).await;
    }
    result
}

/// Publishes the synthetic stream, then (unless asked not to) applies the
/// same events to a fresh generation directly: the store's share alone.
async fn publish_and_apply(nats: &Nats, options: &Options, dir: &std::path::Path) -> Result<()> {
    let last = nats.js.get_stream(&nats.topology.stream).await?.info().await?.state.last_sequence;
    anyhow::ensure!(last == 0, "stream {} already holds {last} events", nats.topology.stream);
    let t = Instant::now();
    let events = generate(&SynthConfig::for_events(options.events));
    let addresses = events.iter().filter(|r| is_address(r)).count();
    println!(
        "generated {} events ({} address registrations, {} subscription events) in {:.2?}",
        events.len(),
        addresses,
        events.len() - addresses,
        t.elapsed()
    );
    let elapsed = crate::publish::publish_events(&nats.js, &nats.topology, &events).await?;
    println!("published them in {elapsed:.2?} ({:.0} events/s)", events.len() as f64 / elapsed.as_secs_f64());
    if !options.no_store_only {
        let (events, batch, durable) = (events, options.batch.max(1), options.durable);
        let dir = dir.join("store-only");
        tokio::task::spawn_blocking(move || apply_directly(&events, addresses, batch, durable, &dir)).await??;
    }
    Ok(())
}

/// The raw replay, then the rebuild, of the whole stream.
async fn replay_and_rebuild(
    config: &Config,
    nats: &Nats,
    server: &Server,
    readers: usize,
    dir: &std::path::Path,
) -> Result<()> {
    let mut contexts = vec![nats.js.clone()];
    for _ in 1..readers.max(1) {
        let client = connect(&config.nats_settings(None)).await.context("opening another reader connection")?;
        contexts.push(async_nats::jetstream::new(client));
    }
    let last = nats.js.get_stream(&nats.topology.stream).await?.info().await?.state.last_sequence;
    anyhow::ensure!(last > 0, "stream {} is empty", nats.topology.stream);
    // A stopping point: the rebuild leaves a past view and switches nothing
    // (which matters on a shared server).
    let until = Until { sequence: Some(last), time: None };
    let replay_options = ReplayOptions { from: 1, until, batch_size: REBUILD_BATCH, readers: &contexts, chunk: CHUNK };

    let meter = CpuMeter::start(server.pid(), None);
    let raw = replay::read_only(&nats.topology, replay_options, |_, _| {}).await?;
    let raw_cpu = meter.stop();

    let location = StoreLocation { data_dir: dir.to_path_buf(), mongodb: None };
    let options = RebuildOptions { generation: Some("bench".into()), until, readers: &contexts, compare_raw: false };
    let meter = CpuMeter::start(server.pid(), None);
    let report = rebuild(&location, &nats.topology, options, |_, _, _| {}).await?;
    let built_cpu = meter.stop();
    let built = &report.built;
    let file = location.config_for(&report.generation);
    let size = match &file {
        masthead_projections::StoreConfig::Embedded { path } => std::fs::metadata(path).map(|m| m.len()).ok(),
        _ => None,
    };

    println!();
    println!("{}   {}", rate("raw replay:", &raw), per_event(raw_cpu, raw.events));
    println!(
        "{}   {}   ({:.1} % of raw)",
        rate("rebuild:", built),
        per_event(built_cpu, built.events),
        100.0 * built.per_second() / raw.per_second().max(1e-9)
    );
    println!(
        "  generation {} at sequence {}, {} undecodable skipped, file {:.0} MiB; load average {}",
        report.generation,
        built.last_sequence,
        built.undecodable,
        size.unwrap_or(0) as f64 / (1024.0 * 1024.0),
        crate::report::load_average()
    );
    if let Some(peak) = server.peak_rss_bytes() {
        println!("  nats-server peak resident memory: {:.0} MiB", peak as f64 / (1024.0 * 1024.0));
    }
    println!("rebuild goal: >= 100000 events/s");
    Ok(())
}

/// Applies `events` to a fresh redb generation in batches of `batch`, as a
/// replay from sequence 1 would, with no NATS in the way.
fn apply_directly(
    events: &[Recorded<AnyEvent>],
    addresses: usize,
    batch: usize,
    durable: bool,
    dir: &std::path::Path,
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let (generation, store) = RedbStore::create_generation(dir)?;
    store.set_durable(durable);
    // The import (every registration before the first subscription event)
    // and the rest are batched apart, so each phase is timed exactly.
    let split = events.iter().position(|r| !is_address(r)).unwrap_or(events.len());
    let meter = CpuMeter::start(None, None);
    let t = Instant::now();
    let mut applied = 0;
    for chunk in events[..split].chunks(batch) {
        applied += store.apply_batch_blocking(chunk)?.applied;
    }
    let import = t.elapsed();
    for chunk in events[split..].chunks(batch) {
        applied += store.apply_batch_blocking(chunk)?.applied;
    }
    store.flush()?;
    let elapsed = t.elapsed();
    let cpu = meter.stop();
    println!();
    let rest = elapsed.saturating_sub(import);
    println!(
        "store only: import phase {split} registrations in {import:.2?} ({:.0}/s); subscription phase {} events ({} of them registrations of new addresses) in {rest:.2?} ({:.0}/s)",
        split as f64 / import.as_secs_f64().max(1e-9),
        events.len() - split,
        addresses - split,
        (events.len() - split) as f64 / rest.as_secs_f64().max(1e-9)
    );
    let mode = if durable {
        "fsync per batch"
    } else {
        "rebuild mode: durable commit every 64 batches or 120k events, and at the end"
    };
    let size = std::fs::metadata(store.path())?.len();
    println!(
        "store only: applied {applied} events into gen-{generation} in {elapsed:.2?} (batch {batch}, {mode}): {:.0} events/s, CPU {:.1} µs per event; file {:.0} MiB",
        events.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        us_per(cpu.process, events.len() as u64).unwrap_or(f64::NAN),
        size as f64 / (1024.0 * 1024.0)
    );
    for (table, stored, fragmented) in store.table_sizes()? {
        println!(
            "  {table:<22} {:>8.1} MiB stored, {:>8.1} MiB fragmented",
            stored as f64 / 1048576.0,
            fragmented as f64 / 1048576.0
        );
    }
    let stats = store.stats_blocking()?;
    println!(
        "  stats: {} matched, {} new, {} mail sent, {} failed, checkpoint {}",
        stats.matched, stats.new, stats.mail_sent, stats.mail_failed, stats.last_applied_seq
    );
    Ok(())
}
