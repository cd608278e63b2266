//! `masthead-bench audit`: the auditors' kit on a synthetic stream of about
//! `--events` events. Beside the raw replay of the same stream through the
//! same readers (same run): anchoring, `audit export` (raw replay and
//! export alternate for `--rounds` rounds; medians), offline `audit verify`
//! of that file and `audit verify --live`. Then the append overhead of the
//! anchorer: the same events published into fresh streams, one with the
//! anchorer following it and one without, alternating, with the ratio of
//! the medians.

use crate::nats::{delete_everything, Server};
use crate::report::stream_name;
use anyhow::{Context, Result};
use masthead::config::Config;
use masthead::system::{connect_and_setup, Nats};
use masthead_audit::export::{export, verify_export, ExportOptions};
use masthead_audit::key::{AuditKey, PublicKeys};
use masthead_audit::anchorer::anchored_to;
use masthead_audit::live::{run_anchorer, verify_live, AnchorPolicy};
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
    /// Rounds of each kind, alternating: raw replay / export, and append
    /// without / with the anchorer.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

fn line(label: &str, events: u64, secs: f64, raw: f64) -> String {
    let rate = events as f64 / secs.max(1e-9);
    format!(
        "{label:<22} {events} events in {secs:>6.2} s = {rate:>8.0} events/s   ({:.0} % of raw replay)",
        100.0 * rate / raw
    )
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
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
        append_overhead(&config, &options, server.pid()).await?;
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
    let key = Arc::new(AuditKey::generate());
    let keys = PublicKeys::new([key.public()]);
    let t = Instant::now();
    let (stop, task) = anchorer(nats, &key, options.every);
    while anchored_to(&nats.js, &nats.topology).await? < last {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await?;
    let anchoring = t.elapsed().as_secs_f64();

    // Raw replay and export alternate, so that both see the same machine.
    let file = dir.join("export.jsonl");
    let (mut raws, mut exports) = (Vec::new(), Vec::new());
    let mut exported = None;
    for _ in 0..options.rounds.max(1) {
        let replay_options = ReplayOptions { from: 1, until, batch_size: 10_000, readers: contexts, chunk: CHUNK };
        let raw = replay::read_only(&nats.topology, replay_options, |_, _| {}).await?;
        raws.push(raw.per_second());
        println!("{}", line("raw replay:", raw.events, raw.elapsed.as_secs_f64(), raw.per_second()));
        let out = std::fs::File::create(&file)?;
        let report = export(&nats.js, &nats.topology, ExportOptions { until, readers: contexts }, out, |_, _| {}).await?;
        exports.push(report.replay.per_second());
        let r = &report.replay;
        println!("{}", line("audit export:", r.events, r.elapsed.as_secs_f64(), raw.per_second()));
        exported = Some(report);
    }
    let raw_rate = median(&raws);
    let report = exported.context("no export round")?;
    println!(
        "median of {}: raw replay {raw_rate:.0} events/s, audit export {:.0} events/s = {:.0} % of raw replay   {:.0} MB, {} anchors",
        raws.len(),
        median(&exports),
        100.0 * median(&exports) / raw_rate,
        std::fs::metadata(&file)?.len() as f64 / 1e6,
        report.anchors
    );
    println!("{}", line("anchoring:", last, anchoring, raw_rate));

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

/// One append round: its rate, and the CPU (this process, nats-server)
/// per event until the anchorer, if any, had read every event.
struct Round {
    rate: f64,
    cpu_us: Option<f64>,
}

/// Publishes the same events into fresh streams, with and without an
/// anchorer following, alternating; prints each rate and the ratio.
async fn append_overhead(config: &Config, options: &Options, nats_pid: Option<u32>) -> Result<()> {
    let events = generate(&SynthConfig::for_events(options.append_events));
    let key = Arc::new(AuditKey::generate());
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..options.rounds.max(1) * 2 {
        let anchoring = round % 2 == 1;
        let mut c = config.clone();
        c.stream = stream_name(&format!("BENCHAPP{round}"));
        let nats = connect_and_setup(&c, None).await.context("a fresh stream")?;
        let r = append_round(&nats, &events, anchoring.then_some((&key, options.every)), nats_pid).await;
        delete_everything(&nats).await;
        let r = r?;
        let cpu = r.cpu_us.map_or_else(String::new, |us| format!("   CPU {us:.1} µs/event (bench + nats-server)"));
        println!("append {:<16} {:>8.0} events/s{cpu}", if anchoring { "with anchorer:" } else { "without:" }, r.rate);
        if anchoring {
            with.push(r)
        } else {
            without.push(r)
        }
    }
    let rates = |v: &[Round]| median(&v.iter().map(|r| r.rate).collect::<Vec<_>>());
    let cpus = |v: &[Round]| median(&v.iter().filter_map(|r| r.cpu_us).collect::<Vec<_>>());
    println!(
        "append with anchorer / without (medians of {}): {:.1} % (goal: ≥ 95 %); CPU per event {:.1} / {:.1} µs (+{:.0} %)",
        with.len(),
        100.0 * rates(&with) / rates(&without).max(1e-9),
        cpus(&with),
        cpus(&without),
        100.0 * (cpus(&with) / cpus(&without).max(1e-9) - 1.0)
    );
    Ok(())
}

/// Publishes `events`; with `anchoring`, beside an anchorer, whose CPU is
/// counted until it has read them all (its last partial anchor waits for
/// the interval and is left out).
async fn append_round(
    nats: &Nats,
    events: &[masthead_domain::envelope::Recorded<masthead_domain::envelope::AnyEvent>],
    anchoring: Option<(&Arc<AuditKey>, u64)>,
    nats_pid: Option<u32>,
) -> Result<Round> {
    let meter = crate::cpu_meter::CpuMeter::start(nats_pid, None);
    let running = anchoring.map(|(key, every)| (every, anchorer(nats, key, every)));
    let elapsed = crate::publish::publish_events(&nats.js, &nats.topology, events).await;
    if let Some((every, (stop, task))) = running {
        let full = events.len() as u64 / every * every;
        let caught_up = Instant::now();
        while elapsed.is_ok() && anchored_to(&nats.js, &nats.topology).await? < full {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!("  the anchorer had read every event {:.0} ms after the last append", caught_up.elapsed().as_millis());
        stop.cancel();
        let _ = task.await;
    }
    let spent = meter.stop();
    let cpu = spent.process.zip(spent.nats).map(|(p, n)| p + n);
    Ok(Round {
        rate: events.len() as f64 / elapsed?.as_secs_f64(),
        cpu_us: crate::cpu_meter::us_per(cpu, events.len() as u64),
    })
}
