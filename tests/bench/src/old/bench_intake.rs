//! `masthead bench intake`: subscriptions accepted per second over HTTP,
//! beside the machine's HTTP ceiling (a bare axum handler under the same load
//! generator) and raw JetStream publish-with-ack on the same server.

use super::cpu_meter::{us_per, CpuMeter, Spent};
use super::load::{self, print_row, LoadReport};
use super::server::start_local;
use crate::config::Config;
use crate::connect::connect;
use crate::roles::{app_state, serve};
use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

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
const DISTINCT_BODIES: u64 = 4096;

/// The i-th request body: a valid subscription.
fn subscription_body(i: u64) -> bytes::Bytes {
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

pub struct Options {
    pub connections: usize,
    pub duration: Duration,
}

/// A bench server running on its own thread and runtime.
struct BenchServer {
    addr: String,
    stop: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

impl BenchServer {
    /// Stops the server and waits until its runtime's threads are gone:
    /// the next phase's CPU readings must not see them exit midway.
    async fn shut_down(self) {
        self.stop.cancel();
        let _ = tokio::task::spawn_blocking(move || self.thread.join()).await;
    }
}

/// Runs an HTTP server on its own runtime threads, as a separate server
/// process would, so the load generator does not share its scheduler.
/// `make` builds the router on that runtime: whatever it starts (the NATS
/// connection and its tasks, the key pool's refills) runs there too, as in
/// `masthead api`, instead of queueing behind the load generator's tasks.
async fn spawn_server<F, Fut>(make: F) -> Result<BenchServer>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<axum::Router>>,
{
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    std_listener.set_nonblocking(true)?;
    let addr = format!("http://{}", std_listener.local_addr()?);
    let token = CancellationToken::new();
    let t = token.clone();
    let (ready_tx, ready) = tokio::sync::oneshot::channel::<Result<()>>();
    let thread = std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVER_THREADS)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(e.into()));
                return;
            }
        };
        rt.block_on(async move {
            let router = match make().await {
                Ok(router) => router,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            if let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) {
                let _ = serve(listener, router, t).await;
            }
        });
    });
    ready.await.context("the bench server thread stopped")??;
    Ok(BenchServer { addr, stop: token, thread })
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

pub async fn run(config: &Config, options: Options) -> Result<()> {
    let local = match &config.nats_url {
        Some(_) => None,
        None => Some(start_local(0, None)?),
    };
    let url = local.as_ref().map(|l| l.url.clone()).unwrap_or_else(|| config.nats_url_or_default());
    let mut config = config.clone();
    config.stream = format!("BENCH{}", std::process::id());
    let nats = connect(&config, &url).await?;
    let started_here = match &local {
        Some(_) => format!(" (started here, GOGC={})", super::server::nats_gogc()),
        None => String::new(),
    };
    println!(
        "bench intake: {} connections, {:?} per measurement, nats {url}{started_here}",
        options.connections, options.duration
    );

    // 1. The ceiling: the same router stack with a handler that does nothing.
    let bare = axum::Router::new().route("/bare", axum::routing::post(|| async { axum::http::StatusCode::ACCEPTED }));
    let bare_server = spawn_server(|| async { Ok(bare) }).await?;
    let url_bare = format!("{}/bare", bare_server.addr);
    let nats_pid = local.as_ref().map(|l| l.pid());
    let meter = CpuMeter::start(nats_pid, Some(SERVER_THREADS));
    let bare_report = load::run(
        options.connections,
        options.duration,
        202,
        Arc::new(move |c: &reqwest::Client, _| c.post(&url_bare).header("content-type", "application/json").body("{}")),
    )
    .await;
    let bare_cpu = per_request(meter.stop(), bare_report.ok, "load generator");
    bare_server.shut_down().await;

    // 2. Intake: validate, seal, append, 202 after the ack.
    let server_config = config.clone();
    let intake = Arc::new(std::sync::OnceLock::new());
    let intake_slot = intake.clone();
    let intake_server = spawn_server(move || async move {
        let nats = connect(&server_config, &url).await?;
        let state = app_state(&nats).await?;
        let _ = intake_slot.set(state.intake.clone());
        Ok(crate::api::router(state))
    })
    .await?;
    let url_intake = format!("{}/api/v1/subscriptions", intake_server.addr);
    // Bodies are built before the clock starts, as wrk and oha send theirs:
    // the load generator shares the machine, and CPU it spends formatting
    // JSON is CPU the server under test does not get.
    let bodies: Arc<Vec<bytes::Bytes>> = Arc::new((0..DISTINCT_BODIES).map(subscription_body).collect());
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
    intake_server.shut_down().await;

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
    // Each of these paid an extra round trip: the pool did not keep up.
    let inline = intake.get().map_or(0, crate::intake::Intake::keys_written_inline);
    println!("data keys written on the request path (pool empty): {inline} of {} requests", intake_report.requests);
    if let Some(peak) = local.as_ref().and_then(|l| l.peak_rss_bytes()) {
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
    super::server::delete_everything(&nats).await;
    Ok(())
}
