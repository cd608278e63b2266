//! `masthead-bench intake`: subscriptions accepted per second over HTTP,
//! beside the machine's HTTP ceiling (a bare axum handler under the same load
//! generator) and raw JetStream publish-with-ack on the same server.

use crate::cpu_meter::{us_per, CpuMeter, Spent};
use crate::load::{self, print_row, LoadReport};
use crate::nats::{delete_everything, Server};
use crate::report::stream_name;
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use masthead::config::Config;
use masthead::system::{self, connect_and_setup, Roles};
use serde_json::json;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Options {
    pub connections: usize,
    pub duration: Duration,
}

/// CPU per request of a measured phase: the server under test (its
/// runtime's threads), the nats-server when the bench started it, and the
/// rest of this process, named `client` (the load generator, or the raw
/// publisher).
fn per_request(spent: Spent, requests: u64, client: &str) -> String {
    let us = |d| us_per(d, requests).map_or("?".into(), |us| format!("{us:.0} µs"));
    let nats = match spent.nats {
        Some(_) => us(spent.nats),
        None => "not measured (shared server)".into(),
    };
    format!("CPU per request: server {}, nats-server {nats}, {client} {}", us(spent.threads), us(spent.other_threads()))
}

/// The name of the bench server's runtime threads, so their CPU time can be
/// told apart from the load generator's.
const SERVER_THREADS: &str = "bench-server";

/// How many different request bodies the intake measurement cycles through.
/// Without an Idempotency-Key each request is a new subscription whatever
/// its body; the variety only keeps the stored events from being identical.
pub(crate) const DISTINCT_BODIES: u64 = 4096;

/// The i-th request body: a valid subscription.
pub(crate) fn subscription_body(i: u64) -> bytes::Bytes {
    let body = json!({
        "name": format!("Bench Subscriber {i}"),
        "email": format!("bench{i}@example.org"),
        "street": format!("Kerkstraat {}", i % 500 + 1),
        "postal_code": "3511 LX",
        "city": "Utrecht",
        "country": "NL"
    });
    bytes::Bytes::from(body.to_string())
}

/// What a server's thread awaits after shutdown was requested.
type Stopped = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// A bench server running on its own thread and runtime.
pub(crate) struct BenchServer {
    pub(crate) addr: String,
    stop: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

impl BenchServer {
    /// Stops the server and waits until its runtime's threads are gone:
    /// the next phase's CPU readings must not see them exit midway.
    pub(crate) async fn shut_down(self) {
        self.stop.cancel();
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

/// Runs an HTTP server on its own runtime threads, as a separate server
/// process would, so the load generator does not share its scheduler.
/// `start` runs on that runtime: whatever it starts (the NATS connection
/// and its tasks, the key pool's refills) runs there too, as in `masthead
/// api`, instead of queueing behind the load generator's tasks. It returns
/// the address it listens on and what to await once told to stop.
async fn spawn_server<F, Fut>(start: F) -> Result<BenchServer>
where
    F: FnOnce(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(SocketAddr, Stopped)>>,
{
    let stop = CancellationToken::new();
    let token = stop.clone();
    let (ready_tx, ready) = tokio::sync::oneshot::channel::<Result<SocketAddr>>();
    let thread = std::thread::Builder::new().name(SERVER_THREADS.into()).spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVER_THREADS)
            .enable_all()
            .build();
        let rt = match rt {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(e.into()));
                return;
            }
        };
        rt.block_on(async move {
            match start(token.clone()).await {
                Ok((addr, stopped)) => {
                    let _ = ready_tx.send(Ok(addr));
                    token.cancelled().await;
                    if let Err(e) = stopped.await {
                        eprintln!("warning: the bench server stopped with an error: {e:#}");
                    }
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        });
    })?;
    let addr = ready.await.context("the bench server thread stopped")??;
    Ok(BenchServer { addr: format!("http://{addr}"), stop, thread })
}

/// The ceiling: a handler that does nothing, served by axum alone.
async fn bare_server() -> Result<BenchServer> {
    spawn_server(|stop| async move {
        let router =
            axum::Router::new().route("/bare", axum::routing::post(|| async { axum::http::StatusCode::ACCEPTED }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let served = tokio::spawn(async move {
            axum::serve(listener, router).with_graceful_shutdown(async move { stop.cancelled().await }).await
        });
        let stopped: Stopped = Box::pin(async move { Ok(served.await??) });
        Ok((addr, stopped))
    })
    .await
}

/// The API role, started as `masthead api` starts it.
pub(crate) async fn api_server(config: Config) -> Result<BenchServer> {
    spawn_server(move |stop| async move {
        let running = system::start(&config, Roles { api: true, ..Default::default() }, stop).await?;
        let addr = running.http_addr;
        let stopped: Stopped = Box::pin(running.wait());
        Ok((addr, stopped))
    })
    .await
}

async fn raw_publish(
    js: &async_nats::jetstream::Context,
    subject_prefix: &str,
    concurrency: usize,
    duration: Duration,
) -> LoadReport {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let js = js.clone();
        let prefix = subject_prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable!());
            let (mut ok, mut errors) = (0u64, 0u64);
            let payload = bytes::Bytes::from(vec![b'x'; 400]);
            while Instant::now() < deadline {
                let t = Instant::now();
                let subject = format!("{prefix}.bench.{}", uuid::Uuid::new_v4());
                match js.publish(subject, payload.clone()).await {
                    Ok(ack) => match ack.await {
                        Ok(_) => {
                            ok += 1;
                            let _ = hist.record(t.elapsed().as_micros() as u64);
                        }
                        Err(_) => errors += 1,
                    },
                    Err(_) => errors += 1,
                }
            }
            (hist, ok, errors)
        }));
    }
    load::collect(tasks, started).await
}

pub async fn run(shared: Option<String>, options: Options) -> Result<()> {
    let server = Server::shared_or_local(shared)?;
    let data = tempfile::tempdir()?;
    let mut config = Config::for_nats(&server.url, data.path(), &stream_name("BENCH"));
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.http_addr_file = None;
    // One load generator, one client address: the limit would measure itself.
    config.intake_rate_per_minute = 0;
    let nats = connect_and_setup(&config, None).await?;
    println!(
        "bench intake: {} connections, {:?} per measurement, nats {}",
        options.connections,
        options.duration,
        server.describe()
    );
    let result = measure(&config, &nats, &server, &options).await;
    delete_everything(&nats).await;
    result
}

async fn measure(config: &Config, nats: &system::Nats, server: &Server, options: &Options) -> Result<()> {
    let nats_pid = server.pid();
    // 1. The ceiling: a bare handler under the same load generator.
    let bare = bare_server().await?;
    let url_bare = format!("{}/bare", bare.addr);
    let meter = CpuMeter::start(nats_pid, Some(SERVER_THREADS));
    let bare_report = load::run(
        options.connections,
        options.duration,
        202,
        Arc::new(move |c: &reqwest::Client, _| c.post(&url_bare).header("content-type", "application/json").body("{}")),
    )
    .await;
    let bare_cpu = per_request(meter.stop(), bare_report.ok, "load generator");
    bare.shut_down().await;

    // 2. Intake: validate, seal, append, 202 after the ack.
    let api = api_server(config.clone()).await?;
    let url_intake = format!("{}/api/v1/subscriptions", api.addr);
    // Bodies are built before the clock starts, as wrk and oha send theirs:
    // the load generator shares the machine, and CPU it spends formatting
    // JSON is CPU the server under test does not get.
    let bodies: Arc<Vec<bytes::Bytes>> = Arc::new((0..DISTINCT_BODIES).map(subscription_body).collect());
    let misses_before = crate::telemetry::pool_misses();
    let meter = CpuMeter::start(nats_pid, Some(SERVER_THREADS));
    let intake_report = load::run(
        options.connections,
        options.duration,
        202,
        Arc::new(move |c: &reqwest::Client, i| {
            let body = bodies[i as usize % bodies.len()].clone();
            c.post(&url_intake).header("content-type", "application/json").body(body)
        }),
    )
    .await;
    let intake_cpu = per_request(meter.stop(), intake_report.ok, "load generator");
    // Each of these paid an extra round trip: the pool did not keep up.
    let misses = crate::telemetry::pool_misses().saturating_sub(misses_before);
    api.shut_down().await;

    // 3. Raw JetStream publish-with-ack, same concurrency, same server.
    let meter = CpuMeter::start(nats_pid, Some(SERVER_THREADS));
    let raw = raw_publish(&nats.js, &nats.topology.prefix, options.connections, options.duration).await;
    let raw_cpu = per_request(meter.stop(), raw.ok, "publisher");

    println!();
    print_row("bare axum handler (ceiling)", &bare_report);
    println!("    {bare_cpu}");
    print_row("intake POST /api/v1/subscriptions", &intake_report);
    println!("    {intake_cpu}");
    print_row("raw JetStream publish + ack", &raw);
    println!("    {raw_cpu}");
    println!("data keys written on the request path (pool empty): {misses} of {} requests", intake_report.requests);
    if let Some(peak) = server.peak_rss_bytes() {
        println!("nats-server peak resident memory: {:.0} MiB", peak as f64 / (1024.0 * 1024.0));
    }
    println!();
    println!(
        "intake / bare handler = {:.1} %   (goal >= 20 %)",
        100.0 * intake_report.per_second() / bare_report.per_second().max(1e-9)
    );
    println!(
        "intake / raw publish  = {:.1} %   intake p99 {:.2} ms (goal <= 10 ms)",
        100.0 * intake_report.per_second() / raw.per_second().max(1e-9),
        intake_report.p99.as_secs_f64() * 1e3
    );
    Ok(())
}

/// `masthead-bench limiter`: intake throughput with the per-client rate
/// limiter on (a limit far above the offered load, so every request pays
/// for the bucket check and none is refused) against the same intake with
/// it off, in alternating rounds of the same run, after a warm-up round.
pub async fn run_limiter(shared: Option<String>, options: Options, rounds: usize) -> Result<()> {
    let server = Server::shared_or_local(shared)?;
    let data = tempfile::tempdir()?;
    let mut config = Config::for_nats(&server.url, data.path(), &stream_name("BENCHLIM"));
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.http_addr_file = None;
    let nats = connect_and_setup(&config, None).await?;
    println!(
        "bench limiter: {} connections, {:?} per measurement, {rounds} rounds of off/on, nats {}",
        options.connections,
        options.duration,
        server.describe()
    );
    let bodies: Arc<Vec<bytes::Bytes>> = Arc::new((0..DISTINCT_BODIES).map(subscription_body).collect());
    let (mut off, mut on) = ((0u64, Duration::ZERO), (0u64, Duration::ZERO));
    // Round 0 warms the stream, the server and the caches up; not counted.
    for round in 0..=rounds {
        // Alternating order, so neither side always runs on a warmer stream.
        let order = if round % 2 == 0 { [0u32, u32::MAX] } else { [u32::MAX, 0] };
        for limit in order {
            config.intake_rate_per_minute = limit;
            let api = api_server(config.clone()).await?;
            let url = format!("{}/api/v1/subscriptions", api.addr);
            let bodies = bodies.clone();
            let report = load::run(
                options.connections,
                options.duration,
                202,
                Arc::new(move |c: &reqwest::Client, i| {
                    let body = bodies[i as usize % bodies.len()].clone();
                    c.post(&url).header("content-type", "application/json").body(body)
                }),
            )
            .await;
            api.shut_down().await;
            let label = if limit == 0 { "limiter off" } else { "limiter on (limit u32::MAX/min)" };
            print_row(&format!("round {round} {label}"), &report);
            if round == 0 {
                continue;
            }
            let total = if limit == 0 { &mut off } else { &mut on };
            total.0 += report.ok;
            total.1 += report.elapsed;
            if report.errors > 0 {
                println!("    {} requests not answered 202", report.errors);
            }
        }
    }
    delete_everything(&nats).await;
    let rate = |(ok, elapsed): (u64, Duration)| ok as f64 / elapsed.as_secs_f64().max(1e-9);
    println!();
    println!("limiter off: {:.0} req/s   limiter on: {:.0} req/s", rate(off), rate(on));
    println!("on / off = {:.1} %   (goal >= 95 %)", 100.0 * rate(on) / rate(off).max(1e-9));
    Ok(())
}
