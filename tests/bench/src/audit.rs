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
use masthead_audit::anchorer::{anchored_to, spawn_anchorer, NICENESS};
use masthead_audit::export::{export, verify_export, ExportOptions};
use masthead_audit::key::{AuditKey, PublicKeys};
use masthead_audit::live::{verify_live, AnchorPolicy};
use masthead_jetstream::connect::connect;
use masthead_jetstream::replay::{self, ReplayOptions, Until, CHUNK};
use masthead_jetstream::topology::Topology;
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
    /// The anchorer thread's niceness (the default is what `masthead`
    /// runs it at; 0 for normal priority).
    #[arg(long, default_value_t = NICENESS)]
    niceness: i32,
    /// Rounds of each kind, alternating: raw replay / export, append and
    /// intake without / with the anchorer.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds of HTTP intake per intake round (0: skip that part).
    #[arg(long, default_value_t = 8)]
    intake_seconds: u64,
    /// Concurrent HTTP connections in the intake rounds.
    #[arg(long, default_value_t = 64)]
    intake_connections: usize,
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

/// An anchorer as a deployment runs it: its own NATS connection, on its
/// own thread (named `anchorer`, so that its CPU can be told apart).
struct Anchorer {
    stop: CancellationToken,
    thread: masthead_audit::anchorer::AnchorerThread,
}

fn anchorer(config: &Config, topology: &Topology, key: &Arc<AuditKey>, options: &Options) -> Result<Anchorer> {
    let stop = CancellationToken::new();
    let policy = AnchorPolicy { every: options.every, interval: Duration::from_secs(5) };
    let settings = config.nats_settings(None);
    let connect = move || async move {
        let client = connect(&settings).await.map_err(|e| masthead_audit::AuditError::Nats(e.to_string()))?;
        Ok(async_nats::jetstream::new(client))
    };
    let thread = spawn_anchorer(connect, topology.clone(), key.clone(), policy, options.niceness, stop.clone())?;
    Ok(Anchorer { stop, thread })
}

impl Anchorer {
    fn stop(self) -> Result<()> {
        self.stop.cancel();
        Ok(self.thread.join()?)
    }
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
    let result = measure(&config, &nats, &contexts, &options, data.path()).await;
    delete_everything(&nats).await;
    result?;
    if options.append_events > 0 {
        append_overhead(&config, &options, server.pid()).await?;
    }
    if options.intake_seconds > 0 {
        intake_overhead(&config, &options).await?;
    }
    Ok(())
}

/// HTTP intake (`POST /api/v1/subscriptions` through `masthead api`) into
/// fresh streams, with and without an anchorer following, alternating;
/// prints each rate and the ratio of the medians.
async fn intake_overhead(config: &Config, options: &Options) -> Result<()> {
    use crate::intake::{api_server, subscription_body, DISTINCT_BODIES};
    let key = Arc::new(AuditKey::generate());
    let bodies: Arc<Vec<bytes::Bytes>> = Arc::new((0..DISTINCT_BODIES).map(subscription_body).collect());
    let duration = Duration::from_secs(options.intake_seconds);
    println!(
        "intake rounds: {} connections for {duration:?} each, the anchorer's thread at niceness {}",
        options.intake_connections, options.niceness
    );
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..options.rounds.max(1) * 2 {
        let anchoring = round % 2 == 1;
        let mut c = config.clone();
        c.stream = stream_name(&format!("BENCHINT{round}"));
        c.http_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        c.http_addr_file = None;
        c.intake_rate_per_minute = 0;
        let nats = connect_and_setup(&c, None).await.context("a fresh stream")?;
        let running = match anchoring {
            true => Some(anchorer(&c, &nats.topology, &key, options)?),
            false => None,
        };
        let api = api_server(c.clone()).await?;
        let url = format!("{}/api/v1/subscriptions", api.addr);
        let bodies = bodies.clone();
        let report = crate::load::run(
            options.intake_connections,
            duration,
            202,
            Arc::new(move |client: &reqwest::Client, i| {
                let body = bodies[i as usize % bodies.len()].clone();
                client.post(&url).header("content-type", "application/json").body(body)
            }),
        )
        .await;
        api.shut_down().await;
        if let Some(running) = running {
            running.stop()?;
        }
        delete_everything(&nats).await;
        let rate = report.ok as f64 / report.elapsed.as_secs_f64().max(1e-9);
        let label = if anchoring { "with anchorer:" } else { "without:" };
        println!("intake {label:<16} {rate:>8.0} req/s   ({} not 202)", report.errors);
        if anchoring {
            with.push(rate)
        } else {
            without.push(rate)
        }
    }
    println!(
        "intake with anchorer / without (medians of {}): {:.1} % (goal: ≥ 95 %)",
        with.len(),
        100.0 * median(&with) / median(&without).max(1e-9)
    );
    Ok(())
}

async fn measure(
    config: &Config,
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
    let running = anchorer(config, &nats.topology, &key, options)?;
    // The last partial anchor waits for the interval: left out.
    let full = last / options.every.max(1) * options.every.max(1);
    while anchored_to(&nats.js, &nats.topology).await? < full {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop()?;
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
        let report =
            export(&nats.js, &nats.topology, ExportOptions { until, readers: contexts }, out, |_, _| {}).await?;
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
    println!("{}", line("anchoring:", full, anchoring, raw_rate));

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

/// One append round: its rate, and the CPU (this process and nats-server;
/// the anchorer's thread alone) per event until the anchorer, if any, had
/// read every event.
struct Round {
    rate: f64,
    cpu_us: Option<f64>,
    anchorer_us: Option<f64>,
}

/// Publishes the same events into fresh streams, with and without an
/// anchorer following, alternating; prints each rate and the ratio.
async fn append_overhead(config: &Config, options: &Options, nats_pid: Option<u32>) -> Result<()> {
    let events = generate(&SynthConfig::for_events(options.append_events));
    let key = Arc::new(AuditKey::generate());
    println!("append rounds: {} events each, the anchorer's thread at niceness {}", events.len(), options.niceness);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..options.rounds.max(1) * 2 {
        let anchoring = round % 2 == 1;
        let mut c = config.clone();
        c.stream = stream_name(&format!("BENCHAPP{round}"));
        let nats = connect_and_setup(&c, None).await.context("a fresh stream")?;
        let r = append_round(&c, &nats, &events, anchoring.then_some((&key, options)), nats_pid).await;
        delete_everything(&nats).await;
        let r = r?;
        let mut cpu = r.cpu_us.map_or_else(String::new, |us| format!("   CPU {us:.1} µs/event (bench + nats-server)"));
        if let Some(us) = r.anchorer_us {
            cpu += &format!(", of which the anchorer's thread {us:.1}");
        }
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
    config: &Config,
    nats: &Nats,
    events: &[masthead_domain::envelope::Recorded<masthead_domain::envelope::AnyEvent>],
    anchoring: Option<(&Arc<AuditKey>, &Options)>,
    nats_pid: Option<u32>,
) -> Result<Round> {
    let meter = crate::cpu_meter::CpuMeter::start(nats_pid, Some("anchorer"));
    let running = match anchoring {
        Some((key, options)) => Some((options.every, anchorer(config, &nats.topology, key, options)?)),
        None => None,
    };
    let elapsed = crate::publish::publish_events(&nats.js, &nats.topology, events).await;
    let mut spent = None;
    if let Some((every, running)) = running {
        let full = events.len() as u64 / every * every;
        let caught_up = Instant::now();
        while elapsed.is_ok() && anchored_to(&nats.js, &nats.topology).await? < full {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!("  the anchorer had read every event {:.0} ms after the last append", caught_up.elapsed().as_millis());
        // Its thread's CPU is counted before the thread ends.
        spent = Some(meter.stop());
        running.stop()?;
    }
    let spent = spent.unwrap_or_else(|| meter.stop());
    let cpu = spent.process.zip(spent.nats).map(|(p, n)| p + n);
    let n = events.len() as u64;
    Ok(Round {
        rate: n as f64 / elapsed?.as_secs_f64(),
        cpu_us: crate::cpu_meter::us_per(cpu, n),
        anchorer_us: crate::cpu_meter::us_per(spent.threads.filter(|_| anchoring.is_some()), n),
    })
}
