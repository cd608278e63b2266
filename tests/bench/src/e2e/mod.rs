//! `masthead-bench e2e`: the whole system in this process — intake, matcher,
//! projector, mailer — against a real nats-server and a real SMTP server,
//! measured from the HTTP submit to the confirmation mail.
//!
//! Phases:
//! 1. import a generated base list (`--base` rows) into the running system
//!    and wait until the projector and the address index have caught up;
//! 2. offer `--subscriptions` subscriptions open-loop at `--rate` per second
//!    (request i leaves at t0 + i/rate whatever earlier answers did), and
//!    follow the stream until each accepted one has its `ConfirmationSent`;
//! 3. the same again at `--ceiling-rate`, far above what the system can
//!    sustain, to read the end-to-end throughput ceiling off completed/s.
//!
//! Latency is taken on one clock: the submit instant, the SMTP server's
//! acceptance of the mail, and the instant the `ConfirmationSent` event
//! reached an ordered consumer of this process. The per-stage split comes
//! from the events' `occurred_at` headers (wall clock of the same machine).

mod observer;
mod phase;
mod probes;
mod sink;
mod system;
mod workload;

use crate::nats::{delete_everything, Server};
use crate::report::{ms, stream_name, write_base_csv};
use anyhow::{bail, Context, Result};
use masthead::config::Config;
use masthead::system::{connect_and_setup, Nats};
use masthead_addresses::import::{import, ImportOptions};
use masthead_jetstream::lag::{poll_lag, LAG_TIMEOUT};
use masthead_jetstream::store::EventStore;
use observer::{start_observer, Timelines};
use phase::{run_phase, Env};
use probes::{decide_cpu, probe_store};
use sink::{start_sink, SinkState, BENCH_SMTP_POOL};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use system::{start_system, System};
use tokio_util::sync::CancellationToken;
use workload::{workload, Planned};

pub struct Options {
    pub base: usize,
    pub subscriptions: usize,
    pub rate: f64,
    /// Offered rate of the ceiling phase; 0 skips it.
    pub ceiling_rate: f64,
    /// Requests awaiting their answer at once. A bound, so that an
    /// overloaded server cannot make the bench open thousands of sockets;
    /// the report says whether it was ever reached (the offered rate then
    /// fell behind the schedule).
    pub max_in_flight: usize,
    /// How long a phase may wait for the last confirmations after its last
    /// submit.
    pub drain: Duration,
    pub seed: u64,
}

/// The replaced system, per subscription: ≈ 4 s matching + ≥ 5 s mail.
const OLD_SECONDS_PER_SUBSCRIPTION: f64 = 9.0;
/// The goal on 2 cores.
const GOAL_RATE: f64 = 500.0;
const GOAL_P99: Duration = Duration::from_millis(100);
/// Subscriptions of the idle phase: one every 100 ms, so each meets an
/// empty system — the per-subscription latency to compare with the old one.
const IDLE_SUBSCRIPTIONS: usize = 50;
const IDLE_RATE: f64 = 10.0;

/// Waits until the projector has applied everything and this process's
/// address index holds `addresses` entries, or `timeout` passes.
async fn wait_caught_up(
    nats: &Nats,
    client: &reqwest::Client,
    http: SocketAddr,
    addresses: u64,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let probe =
        format!("http://{http}/api/v1/match?street=Kerkstraat%201&postal_code=3511%20LX&city=Utrecht&country=NL");
    let (mut projector_done, mut index_done) = (false, false);
    while Instant::now() < deadline {
        if !projector_done {
            projector_done = poll_lag(&nats.js, &nats.topology, LAG_TIMEOUT)
                .await
                .iter()
                .find(|l| l.consumer == "projector")
                .is_some_and(|l| l.pending == Some(0) && l.ack_pending == Some(0));
        }
        if !index_done {
            let size = match client.get(&probe).send().await {
                Ok(r) => r.json::<serde_json::Value>().await.ok().and_then(|v| v["index_size"].as_u64()),
                Err(_) => None,
            };
            index_done = size.is_some_and(|n| n >= addresses);
        }
        if projector_done && index_done {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the system did not catch up with the import within {timeout:?} (projector done: {projector_done}, address index done: {index_done})")
}

pub async fn run(shared: Option<String>, options: Options) -> Result<()> {
    anyhow::ensure!(options.base > 0, "--base must be at least 1");
    anyhow::ensure!(options.subscriptions > 0, "--subscriptions must be at least 1");
    anyhow::ensure!(options.rate > 0.0, "--rate must be positive");
    let server = Server::shared_or_local(shared)?;
    let url = server.url.clone();
    let data = tempfile::tempdir().context("temporary data directory")?;
    // Enough sessions for the mailer's pool and a reconnect or two.
    let (smtp_url, sink) = start_sink(2 * BENCH_SMTP_POOL)?;
    let smtp_url = format!("{smtp_url}?pool={BENCH_SMTP_POOL}");

    let mut config = Config::for_nats(&url, data.path(), &stream_name("E2E"));
    // One load generator, one client address: the limit would measure itself.
    config.intake_rate_per_minute = 0;
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.http_addr_file = None;
    config.smtp_url = Some(smtp_url.clone());
    config.smtp_username = None;
    config.smtp_password = None;

    let phases = if options.ceiling_rate > 0.0 { 2 } else { 1 };
    let generated = Instant::now();
    let (base, plan) = workload(options.base, IDLE_SUBSCRIPTIONS + options.subscriptions * phases, options.seed);
    anyhow::ensure!(!plan.is_empty(), "the generator produced no submittable addresses");
    let csv_path = data.path().join("base-addresses.csv");
    write_base_csv(&csv_path, &base)?;
    println!(
        "bench e2e: base {} addresses, {} subscriptions at {:.0}/s{}, nats {}, smtp sink {smtp_url}, stream {}",
        base.len(),
        options.subscriptions,
        options.rate,
        if phases == 2 { format!(" then at {:.0}/s (ceiling)", options.ceiling_rate) } else { String::new() },
        server.describe(),
        config.stream
    );
    println!("  workload generated in {:.1} s (seed {})", generated.elapsed().as_secs_f64(), options.seed);

    let (build, mean, decide) = decide_cpu(&config, &base, &plan)?;
    println!(
        "  matcher CPU (index over {} addresses built in {:.2} s, no I/O): decide mean {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        base.len(),
        build.as_secs_f64(),
        mean.as_secs_f64() * 1e6,
        decide.value_at_quantile(0.99) as f64,
        decide.max() as f64
    );
    drop(base);
    let probe = probe_store(&config, &url, &csv_path).await?;
    println!(
        "  JetStream alone (no consumers): import {} rows at {:.0} rows/s (bare pipelined publish: {:.0} msgs/s); one at a time: publish+ack p50 {:.2} ms p99 {:.2} ms, direct get p50 {:.2} ms p99 {:.2} ms, EventStore::load p50 {:.2} ms p99 {:.2} ms",
        probe.import.rows,
        probe.import.rows as f64 / probe.import.elapsed.as_secs_f64().max(1e-9),
        probe.raw_per_s,
        ms(probe.publish.value_at_quantile(0.5)),
        ms(probe.publish.value_at_quantile(0.99)),
        ms(probe.direct_get.value_at_quantile(0.5)),
        ms(probe.direct_get.value_at_quantile(0.99)),
        ms(probe.load.value_at_quantile(0.5)),
        ms(probe.load.value_at_quantile(0.99)),
    );

    let nats = connect_and_setup(&config, None).await?;
    let result = async {
        let started = Instant::now();
        let system = start_system(config.clone()).await?;
        println!("  system up in {:.2} s at http://{}", started.elapsed().as_secs_f64(), system.http_addr);
        let outcome = measure(&options, &nats, &system, &csv_path, plan, &sink).await;
        system.stop().await;
        outcome
    }
    .await;
    delete_everything(&nats).await;
    if let Some(peak) = server.peak_rss_bytes() {
        println!("  (nats-server peak resident memory: {:.0} MiB)", peak as f64 / (1024.0 * 1024.0));
    }
    drop(server);
    drop(data);
    result
}

async fn measure(
    options: &Options,
    nats: &Nats,
    system: &System,
    csv_path: &std::path::Path,
    plan: Vec<Planned>,
    sink: &Arc<SinkState>,
) -> Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.max_in_flight)
        .timeout(Duration::from_secs(10))
        .build()?;

    // Import into the running system, as an operator would.
    let store = EventStore::new(nats.js.clone(), nats.topology.clone());
    let report = import(&store, csv_path, &ImportOptions::default(), |_| {}).await.context("import")?;
    let import_rate = report.rows as f64 / report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "  import      {} rows in {:.2} s = {:.0} rows/s (goal >= 50000) into the running system   imported {}, duplicates {}, skipped {}",
        report.rows,
        report.elapsed.as_secs_f64(),
        import_rate,
        report.imported,
        report.duplicates_in_file,
        report.skipped.len()
    );
    let caught = Instant::now();
    wait_caught_up(nats, &client, system.http_addr, report.imported, Duration::from_secs(300)).await?;
    println!(
        "  catch-up    projector and address index caught up {:.2} s after the import",
        caught.elapsed().as_secs_f64()
    );

    let timelines: Timelines = Arc::default();
    let stop_observer = CancellationToken::new();
    start_observer(nats, timelines.clone(), stop_observer.clone()).await?;
    let env = Env {
        nats,
        client,
        url: format!("http://{}/api/v1/subscriptions", system.http_addr),
        plan: Arc::new(plan),
        timelines,
        sink: sink.clone(),
        max_in_flight: options.max_in_flight,
        drain: options.drain,
    };
    let len = env.plan.len();
    let idle_end = IDLE_SUBSCRIPTIONS.min(len);
    let idle = run_phase(&env, "idle", 0, 0..idle_end, IDLE_RATE).await;
    idle.print();
    let steady_end = (idle_end + options.subscriptions).min(len);
    let steady = run_phase(&env, "steady", 1, idle_end..steady_end, options.rate).await;
    steady.print();
    let ceiling = if options.ceiling_rate > 0.0 {
        let end = (steady_end + options.subscriptions).min(len);
        let p = run_phase(&env, "ceiling", 2, steady_end..end, options.ceiling_rate).await;
        p.print();
        Some(p)
    } else {
        None
    };
    stop_observer.cancel();

    println!();
    let p99 = Duration::from_micros(steady.to_sent.value_at_quantile(0.99));
    let complete = steady.completed == steady.accepted && steady.accepted == steady.offered;
    let met = options.rate >= GOAL_RATE
        && steady.accepted_per_s() >= 0.98 * options.rate
        && complete
        && !steady.to_sent.is_empty()
        && p99 <= GOAL_P99;
    println!(
        "goal: {GOAL_RATE:.0}/s sustained with p99 submit→ConfirmationSent <= {} ms: {}   ({:.0} accepted/s, {} of {} confirmed, p99 {:.1} ms{})",
        GOAL_P99.as_millis(),
        if met { "MET" } else { "NOT MET" },
        steady.accepted_per_s(),
        steady.completed,
        steady.offered,
        p99.as_secs_f64() * 1e3,
        if options.rate < GOAL_RATE { ", offered rate below the goal's" } else { "" }
    );
    if let Some(c) = &ceiling {
        println!(
            "ceiling: {:.0} confirmed/s end to end ({:.0} accepted/s at {:.0}/s offered)",
            c.completed_per_s(),
            c.accepted_per_s(),
            c.rate
        );
    }
    // Per subscription: the idle phase, where nothing queues. Throughput:
    // the best completed/s of any phase (the old system did one at a time).
    let p50 = Duration::from_micros(idle.to_sent.value_at_quantile(0.5));
    let best = ceiling.as_ref().map_or(steady.completed_per_s(), |c| c.completed_per_s().max(steady.completed_per_s()));
    println!(
        "vs replaced system (≈ {OLD_SECONDS_PER_SUBSCRIPTION:.0} s per subscription: ≈ 4 s matching + ≥ 5 s mail): idle p50 {:.1} ms = {:.0}× faster per subscription; {:.0}/s vs {:.2}/s one at a time",
        p50.as_secs_f64() * 1e3,
        OLD_SECONDS_PER_SUBSCRIPTION / p50.as_secs_f64().max(1e-9),
        best,
        1.0 / OLD_SECONDS_PER_SUBSCRIPTION
    );
    println!("  (mails accepted by the SMTP sink: {})", sink.mails.load(Ordering::Relaxed));
    Ok(())
}
