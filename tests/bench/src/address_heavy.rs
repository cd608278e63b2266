//! `masthead-bench address-heavy`: projection speed on a stream that is
//! mostly base-address registrations (an import), as issue 17 measures it.
//!
//! One synthetic stream (`--addresses` registrations, then `--subscriptions`
//! subscription flows) is published once; then each round measures, one
//! after the other against the same nats-server:
//!
//! * **raw replay**: read and decode the whole stream, nothing applied
//!   (the baseline; the same readers a rebuild uses);
//! * **rebuild**: `projector::rebuild` into a fresh redb generation;
//! * **live**: the live projector (`projector::consume`, what `masthead up`
//!   runs) with a fresh durable consumer and a fresh store, timed until the
//!   store's checkpoint reaches the end of the stream. That far behind it
//!   catches up by reading the stream (`projector::catch_up`), then moves
//!   its consumer past what it applied.
//!
//! With `--import-lag`, the live projector also runs while the stream is
//! first published (an import as it happens), and the run reports how long
//! after the last event was published the projection was current (issue
//! 17: "current within 30 s of a 1M import").
//!
//! Rounds interleave the three so that a burst of load from other builds
//! on the shared machine hits all of them alike; the summary gives each
//! one's median and its ratio to the raw replay's median.

use crate::cpu_meter::{us_per, CpuMeter};
use crate::nats::{delete_everything, Server};
use crate::report::stream_name;
use anyhow::{Context, Result};
use masthead::config::Config;
use masthead::system::{connect_and_setup, Nats};
use masthead_jetstream::connect::connect;
use masthead_jetstream::replay::{self, ReplayOptions, Until, CHUNK};
use masthead_jetstream::topology::ConsumerRole;
use masthead_projections::projector::generations::{ProjectionReads, StoreLocation};
use masthead_projections::projector::rebuild::{rebuild, RebuildOptions, REBUILD_BATCH};
use masthead_projections::projector::{consume, ProjectorHandler};
use masthead_projections::{ProjectionStore, RedbStore};
use masthead_testdata::events::{generate, SynthConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct Options {
    /// Base-address registrations (the import) at the start of the stream.
    #[arg(long, default_value_t = 500_000)]
    addresses: usize,
    /// Subscriptions after the import (3–4 events each).
    #[arg(long, default_value_t = 20_000)]
    subscriptions: usize,
    /// Rounds of raw replay, rebuild and live projection.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// NATS connections reading the stream for the raw replay and the rebuild.
    #[arg(long)]
    readers: Option<usize>,
    /// Also run the live projector while the stream is being published (an
    /// import as it happens) and report how long after the last event was
    /// published the projection was current.
    #[arg(long)]
    import_lag: bool,
    /// Measure only this one (beside the raw replay for a rebuild), to
    /// profile it.
    #[arg(long, value_enum)]
    only: Option<Only>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Only {
    Rebuild,
    Live,
}

/// One measurement: events per second, and client CPU µs per event.
#[derive(Clone, Copy)]
struct Rate {
    per_second: f64,
    cpu_us: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub async fn run(shared: Option<String>, options: Options) -> Result<()> {
    let server = Server::shared_or_local(shared)?;
    let data = tempfile::tempdir()?;
    let stream = stream_name("BENCHAH");
    let config = Config::for_nats(&server.url, data.path(), &stream);
    let nats = connect_and_setup(&config, None).await?;
    let readers = options.readers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4));
    println!(
        "bench address-heavy: stream {stream}, {readers} readers, nats {}, load average {}",
        server.describe(),
        crate::report::load_average()
    );
    let result = measure(&config, &nats, &options, readers, data.path()).await;
    delete_everything(&nats).await;
    result
}

async fn measure(config: &Config, nats: &Nats, options: &Options, readers: usize, dir: &std::path::Path) -> Result<()> {
    let cfg =
        SynthConfig { addresses: options.addresses, subscriptions: options.subscriptions, concurrency: 64, seed: 7 };
    let events = generate(&cfg);
    let during = match options.import_lag {
        true => Some(LiveProjector::start(nats, &dir.join("during-import.redb")).await?),
        false => None,
    };
    let elapsed = crate::publish::publish_events(&nats.js, &nats.topology, &events).await?;
    let published_at = Instant::now();
    println!(
        "published {} events ({} registrations first) in {elapsed:.2?} ({:.0}/s)",
        events.len(),
        options.addresses,
        events.len() as f64 / elapsed.as_secs_f64()
    );
    let count = events.len() as u64;
    drop(events);
    if let Some(live) = during {
        let last = nats.js.get_stream(&nats.topology.stream).await?.info().await?.state.last_sequence;
        live.wait_until_current(last).await?;
        let lag = published_at.elapsed();
        live.stop().await?;
        println!(
            "import lag: the live projector, running while the {count} events were published, was current {:.2} s after the last one ({:.2} s after the first)",
            lag.as_secs_f64(),
            (elapsed + lag).as_secs_f64()
        );
        let _ = std::fs::remove_file(dir.join("during-import.redb"));
    }
    let mut contexts = vec![nats.js.clone()];
    for _ in 1..readers.max(1) {
        let client = connect(&config.nats_settings(None)).await.context("opening another reader connection")?;
        contexts.push(async_nats::jetstream::new(client));
    }
    let last = nats.js.get_stream(&nats.topology.stream).await?.info().await?.state.last_sequence;
    let until = Until { sequence: Some(last), time: None };
    let (mut raws, mut rebuilds, mut lives) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=options.rounds.max(1) {
        if options.only == Some(Only::Live) {
            let live = live_projection(nats, &dir.join(format!("live-{round}.redb")), last).await?;
            println!("round {round}: live {:>7.0}/s ({:.1} µs)", live.per_second, live.cpu_us);
            let _ = std::fs::remove_file(dir.join(format!("live-{round}.redb")));
            continue;
        }
        let opts = ReplayOptions { from: 1, until, batch_size: REBUILD_BATCH, readers: &contexts, chunk: CHUNK };
        let meter = CpuMeter::start(None, None);
        let raw = replay::read_only(&nats.topology, opts, |_, _| {}).await?;
        let cpu = us_per(meter.stop().process, raw.events).unwrap_or(f64::NAN);
        let raw = Rate { per_second: raw.per_second(), cpu_us: cpu };

        let location = StoreLocation { data_dir: dir.join(format!("rebuild-{round}")), mongodb: None };
        let meter = CpuMeter::start(None, None);
        let rb_options =
            RebuildOptions { generation: Some(format!("r{round}")), until, readers: &contexts, compare_raw: false };
        // Timed whole, up to the durable end (index writes included).
        let started = Instant::now();
        let report = rebuild(&location, &nats.topology, rb_options, |_, _, _| {}).await?;
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = us_per(meter.stop().process, report.built.events).unwrap_or(f64::NAN);
        let built = Rate { per_second: report.built.events as f64 / elapsed, cpu_us: cpu };
        if options.only == Some(Only::Rebuild) {
            println!(
                "round {round}: raw {:>7.0}/s | rebuild {:>7.0}/s ({:.1} µs, {:.0} %)",
                raw.per_second,
                built.per_second,
                built.cpu_us,
                100.0 * built.per_second / raw.per_second
            );
            let _ = std::fs::remove_dir_all(dir.join(format!("rebuild-{round}")));
            continue;
        }

        let live = live_projection(nats, &dir.join(format!("live-{round}.redb")), last).await?;
        println!(
            "round {round}: raw {:>7.0}/s ({:.1} µs) | rebuild {:>7.0}/s ({:.1} µs, {:.0} %) | live {:>7.0}/s ({:.1} µs, {:.0} %) | load {}",
            raw.per_second,
            raw.cpu_us,
            built.per_second,
            built.cpu_us,
            100.0 * built.per_second / raw.per_second,
            live.per_second,
            live.cpu_us,
            100.0 * live.per_second / raw.per_second,
            crate::report::load_average()
        );
        raws.push(raw);
        rebuilds.push(built);
        lives.push(live);
        let _ = std::fs::remove_dir_all(dir.join(format!("rebuild-{round}")));
        let _ = std::fs::remove_file(dir.join(format!("live-{round}.redb")));
    }
    let m = |v: &[Rate]| median(v.iter().map(|r| r.per_second).collect());
    let cpu = |v: &[Rate]| median(v.iter().map(|r| r.cpu_us).collect());
    let (raw, built, live) = (m(&raws), m(&rebuilds), m(&lives));
    println!();
    println!("medians over {} rounds, {last} events:", raws.len());
    println!("  raw replay   {raw:>8.0} events/s   client CPU {:.1} µs/event", cpu(&raws));
    println!(
        "  rebuild      {built:>8.0} events/s   client CPU {:.1} µs/event   {:.0} % of raw",
        cpu(&rebuilds),
        100.0 * built / raw
    );
    println!(
        "  live         {live:>8.0} events/s   client CPU {:.1} µs/event   {:.0} % of raw",
        cpu(&lives),
        100.0 * live / raw
    );
    println!("goal (issue 17): rebuild and live each >= 50 % of raw");
    Ok(())
}

/// The live projector with a fresh consumer (from sequence 1) and a fresh
/// store, as `masthead up` runs it.
struct LiveProjector {
    store: Arc<dyn ProjectionStore>,
    consumer: tokio::task::JoinHandle<Result<(), masthead_jetstream::consumer::ConsumerError>>,
    shutdown: CancellationToken,
}

impl LiveProjector {
    async fn start(nats: &Nats, path: &std::path::Path) -> Result<Self> {
        // A fresh durable consumer, so it delivers the stream from the start.
        let stream = nats.js.get_stream(&nats.topology.stream).await?;
        let _ = stream.delete_consumer(ConsumerRole::Projector.durable_name()).await;
        stream.create_consumer(nats.topology.consumer_config(ConsumerRole::Projector)).await?;
        let path = path.to_owned();
        let store: Arc<dyn ProjectionStore> =
            Arc::new(tokio::task::spawn_blocking(move || RedbStore::open(&path)).await??);
        let reads = Arc::new(ProjectionReads::new(store.clone(), "live"));
        let handler = Arc::new(ProjectorHandler::new(reads, Duration::from_secs(1)));
        let shutdown = CancellationToken::new();
        let consumer = tokio::spawn(consume(nats.js.clone(), nats.topology.clone(), handler, shutdown.clone()));
        Ok(Self { store, consumer, shutdown })
    }

    /// Returns once the store's checkpoint reaches `last`.
    async fn wait_until_current(&self, last: u64) -> Result<()> {
        // Polled: the store's checkpoint is the only signal that it caught up.
        let mut checkpoint = self.store.checkpoint().await?;
        while checkpoint < last {
            anyhow::ensure!(!self.consumer.is_finished(), "the projector stopped at {checkpoint} of {last}");
            tokio::time::sleep(Duration::from_millis(20)).await;
            checkpoint = self.store.checkpoint().await?;
        }
        Ok(())
    }

    async fn stop(self) -> Result<()> {
        self.shutdown.cancel();
        self.consumer.await??;
        Ok(())
    }
}

/// The live projector from sequence 1 into a fresh store at `path`, timed
/// until the store's checkpoint reaches `last`.
async fn live_projection(nats: &Nats, path: &std::path::Path, last: u64) -> Result<Rate> {
    let meter = CpuMeter::start(None, None);
    let started = Instant::now();
    let live = LiveProjector::start(nats, path).await?;
    live.wait_until_current(last).await?;
    let elapsed = started.elapsed();
    let cpu = us_per(meter.stop().process, last).unwrap_or(f64::NAN);
    live.stop().await?;
    Ok(Rate { per_second: last as f64 / elapsed.as_secs_f64(), cpu_us: cpu })
}
