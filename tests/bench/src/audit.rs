//! `masthead-bench audit`: the auditors' kit on a synthetic stream of about
//! `--events` events. Beside the raw replay of the same stream through the
//! same readers (same run): anchoring, `audit export`, offline `audit
//! verify` of that file and `audit verify --live`. Then the append
//! overhead of the anchorer: the same events published into two fresh
//! streams, one with the anchorer following it and one without,
//! alternating, with the ratio.

use crate::nats::{delete_everything, Server};
use crate::report::stream_name;
use anyhow::{Context, Result};
use masthead::config::Config;
use masthead::system::{connect_and_setup, Nats};
use masthead_audit::export::{export, verify_export, ExportOptions};
use masthead_audit::key::{AuditKey, PublicKeys};
use masthead_audit::live::{read_anchors, run_anchorer, verify_live, AnchorPolicy};
use masthead_jetstream::connect::connect;
use masthead_jetstream::replay::{self, ReplayOptions, Until, CHUNK};
use masthead_testdata::events::{generate, SynthConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(clap::Args)]
pub struct Options {
    /// About this many synthetic events.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// NATS connections reading the stream (default: one per core, at most 4).
    #[arg(long)]
    readers: Option<usize>,
    /// Events per anchor.
    #[arg(long, default_value_t = 1000)]
    every: u64,
    /// Events per append-overhead round (0: skip that part).
    #[arg(long, default_value_t = 200_000)]
    append_events: usize,
    /// Append-overhead rounds of each kind, alternating.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
}

fn line(label: &str, events: u64, secs: f64, raw: f64) -> String {
    let rate = events as f64 / secs.max(1e-9);
    format!(
        "{label:<22} {events} events in {secs:>6.2} s = {rate:>8.0} events/s   ({:.0} % of raw replay)",
        100.0 * rate / raw
    )
}

fn anchorer(nats: &Nats, key: &Arc<AuditKey>, every: u64) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let stop = CancellationToken::new();
    let policy = AnchorPolicy { every, interval: Duration::from_secs(5) };
    let task = tokio::spawn(run_anchorer(nats.js.clone(), nats.topology.clone(), key.clone(), policy, stop.clone()));
    (stop, task)
}

pub async fn run(shared: Option<String>, options: Options) -> Result<()> {
    let server = Server::shared_or_local(shared)?;
    let data = tempfile::tempdir()?;
    let config = Config::for_nats(&server.url, data.path(), &stream_name("BENCHAUD"));
    let nats = connect_and_setup(&config, None).await?;
    let readers = options.readers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()).min(4));
    let mut contexts = vec![nats.js.clone()];
    for _ in 1..readers.max(1) {
        contexts.push(async_nats::jetstream::new(connect(&config.nats_settings(None)).await?));
    }
    println!(
        "bench audit: {readers} readers, nats {}, load average {}",
        server.describe(),
        crate::report::load_average()
    );
    let result = measure(&nats, &contexts, &options, data.path()).await;
    delete_everything(&nats).await;
    result?;
    if options.append_events > 0 {
        append_overhead(&config, &options).await?;
    }
    Ok(())
}

async fn measure(
    nats: &Nats,
    contexts: &[async_nats::jetstream::Context],
    options: &Options,
    dir: &std::path::Path,
) -> Result<()> {
    let events = generate(&SynthConfig::for_events(options.events));
    let elapsed = crate::publish::publish_events(&nats.js, &nats.topology, &events).await?;
    println!("published {} events in {elapsed:.2?}", events.len());
    drop(events);
    let last = nats.js.get_stream(&nats.topology.stream).await?.info().await?.state.last_sequence;

    let until = Until { sequence: Some(last), time: None };
    let replay_options = ReplayOptions { from: 1, until, batch_size: 10_000, readers: contexts, chunk: CHUNK };
    let raw = replay::read_only(&nats.topology, replay_options, |_, _| {}).await?;
    let raw_rate = raw.per_second();
    println!("{}", line("raw replay:", raw.events, raw.elapsed.as_secs_f64(), raw_rate));

    let key = Arc::new(AuditKey::generate());
    let keys = PublicKeys::new([key.public()]);
    let t = Instant::now();
    let (stop, task) = anchorer(nats, &key, options.every);
    loop {
        let anchored = read_anchors(&nats.js, &nats.topology).await?.last().map_or(0, |(_, a)| a.last_seq);
        if anchored >= last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    task.await?;
    println!("{}", line("anchoring:", last, t.elapsed().as_secs_f64(), raw_rate));

    let file = dir.join("export.jsonl");
    let out = std::fs::File::create(&file)?;
    let report = export(&nats.js, &nats.topology, ExportOptions { until, readers: contexts }, out, |_, _| {}).await?;
    let size = std::fs::metadata(&file)?.len();
    let r = &report.replay;
    println!(
        "{}   {:.0} MB, {} anchors",
        line("audit export:", r.events, r.elapsed.as_secs_f64(), raw_rate),
        size as f64 / 1e6,
        report.anchors
    );

    let t = Instant::now();
    let reader = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&file)?);
    let verified = tokio::task::block_in_place(|| verify_export(reader, &keys, |_| {}))?;
    anyhow::ensure!(verified.ok, "the export does not verify: {verified}");
    println!("{}", line("audit verify FILE:", verified.events, t.elapsed().as_secs_f64(), raw_rate));

    let t = Instant::now();
    let live = verify_live(&nats.js, &nats.topology, &keys, contexts, |_, _| {}).await?;
    anyhow::ensure!(live.ok, "the stream does not verify: {live}");
    println!("{}", line("audit verify --live:", live.events, t.elapsed().as_secs_f64(), raw_rate));
    Ok(())
}

/// Publishes the same events into fresh streams, with and without an
/// anchorer following, alternating; prints each rate and the ratio.
async fn append_overhead(config: &Config, options: &Options) -> Result<()> {
    let events = generate(&SynthConfig::for_events(options.append_events));
    let key = Arc::new(AuditKey::generate());
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..options.rounds.max(1) * 2 {
        let anchoring = round % 2 == 1;
        let mut c = config.clone();
        c.stream = stream_name(&format!("BENCHAPP{round}"));
        let nats = connect_and_setup(&c, None).await.context("a fresh stream")?;
        let running = anchoring.then(|| anchorer(&nats, &key, options.every));
        let elapsed = crate::publish::publish_events(&nats.js, &nats.topology, &events).await;
        if let Some((stop, task)) = running {
            stop.cancel();
            let _ = task.await;
        }
        delete_everything(&nats).await;
        let rate = events.len() as f64 / elapsed?.as_secs_f64();
        println!("append {:<16} {:>8.0} events/s", if anchoring { "with anchorer:" } else { "without:" }, rate);
        if anchoring {
            with.push(rate)
        } else {
            without.push(rate)
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!("append with anchorer / without: {:.1} % (goal: ≥ 95 %)", 100.0 * mean(&with) / mean(&without).max(1e-9));
    Ok(())
}
