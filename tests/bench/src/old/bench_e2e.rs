//! `masthead bench e2e`: the whole system in this process — intake, matcher,
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

use super::server::start_local;
use super::write_base_csv;
use crate::api::stats::{poll_lag, LAG_TIMEOUT};
use crate::config::Config;
use crate::connect::{connect, Nats};
use anyhow::{bail, Context, Result};
use async_nats::jetstream::consumer;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use hdrhistogram::Histogram;
use masthead_events::envelope::header;
use masthead_events::subscription::SubscriptionEvent;
use masthead_matching::eval::{build_engine, generate, BaseAddress, GeneratorConfig, OwnedAddress};
use masthead_matching::normalize;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

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

// ---------------------------------------------------------------- workload

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A base address typed exactly as the base list has it.
    Exact,
    /// A base address re-typed with 1–3 real-world variations.
    Variant,
    /// An address not in the base list (often next to one).
    New,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Exact => "exact",
            Kind::Variant => "variant",
            Kind::New => "new",
        }
    }
}

struct Planned {
    kind: Kind,
    address: OwnedAddress,
}

/// The intake refuses empty or over-long fields; the generator renders a
/// few addresses with postal code and city folded into the street line
/// (as legacy lists have them), which a web form would not let through.
fn submittable(a: &OwnedAddress) -> bool {
    let len = |s: &str, max: usize| (1..=max).contains(&s.trim().chars().count());
    len(&a.street, 120) && len(&a.postal_code, 15) && len(&a.city, 120) && len(&a.country, 120)
}

/// The base list and `count` subscription addresses: 3 in 10 exact repeats
/// of base addresses, 4 in 10 variant spellings, 3 in 10 new addresses.
fn workload(base: usize, count: usize, seed: u64) -> (Vec<BaseAddress>, Vec<Planned>) {
    // Generous: some queries are dropped as not submittable.
    let queries = count * 7 / 10 + count / 5 + 16;
    let data = generate(&GeneratorConfig { base_size: base, queries, negative_share: 3.0 / 7.0, seed });
    let exact: Vec<&OwnedAddress> = data.base.iter().map(|b| &b.address).filter(|a| submittable(a)).collect();
    let mut variants = data.queries.iter().filter(|q| submittable(&q.address));
    let mut plan = Vec::with_capacity(count);
    for i in 0..count {
        let from_queries = if i % 10 < 3 || exact.is_empty() {
            None
        } else {
            variants.next().map(|q| Planned {
                kind: if q.expected.is_some() { Kind::Variant } else { Kind::New },
                address: q.address.clone(),
            })
        };
        let planned = match from_queries {
            Some(p) => p,
            // A fixed stride over the base list: deterministic, spread out.
            None if !exact.is_empty() => {
                Planned { kind: Kind::Exact, address: exact[(i * 7919 + 13) % exact.len()].clone() }
            }
            None => break,
        };
        plan.push(planned);
    }
    (data.base, plan)
}

// ---------------------------------------------------------------- probes

/// The matcher's CPU part alone: the same index over the same base list,
/// deciding the steady phase's addresses with no I/O and nothing else
/// running. Returns the build time and per-decision times.
fn decide_cpu(config: &Config, base: &[BaseAddress], plan: &[Planned]) -> Result<(Duration, Duration, Histogram<u64>)> {
    let started = Instant::now();
    let index = build_engine(crate::matcher::match_config(config)?, base);
    let build = started.elapsed();
    let mut h = histogram();
    let started = Instant::now();
    for p in plan {
        let probe = normalize(&p.address.as_input());
        let t = Instant::now();
        std::hint::black_box(index.decide(&probe));
        record(&mut h, t.elapsed());
    }
    let mean = started.elapsed() / u32::try_from(plan.len().max(1)).unwrap_or(u32::MAX);
    Ok((build, mean, h))
}

struct StoreProbe {
    import: crate::import::ImportReport,
    /// Pipelined publish-with-ack of as many bare messages as the import
    /// had rows, same window: what the import could reach at best here.
    raw_per_s: f64,
    publish: Histogram<u64>,
    direct_get: Histogram<u64>,
    /// `EventStore::load` of an imported address: what the matcher's and
    /// the mailer's loads cost (one get per event plus a not-found get).
    load: Histogram<u64>,
}

/// Publishes `count` bare 600-byte messages (about an import event's size)
/// with `window` acks outstanding; returns messages per second.
async fn raw_publish(js: &async_nats::jetstream::Context, prefix: &str, count: u64, window: usize) -> Result<f64> {
    use futures::stream::FuturesUnordered;
    let payload = bytes::Bytes::from(vec![b'x'; 600]);
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    for i in 0..count {
        let ack = js.publish(format!("{prefix}.raw.{i}"), payload.clone()).await?;
        pending.push(std::future::IntoFuture::into_future(ack));
        while pending.len() >= window {
            if let Some(r) = pending.next().await {
                r?;
            }
        }
    }
    while let Some(r) = pending.next().await {
        r?;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// JetStream on its own, before the system starts: the same import into a
/// stream nobody consumes, then one-at-a-time round trips of the two kinds
/// a matcher decision is made of (publish-with-ack, direct get by subject).
async fn probe_store(config: &Config, url: &str, csv: &std::path::Path) -> Result<StoreProbe> {
    let mut config = config.clone();
    config.stream = format!("{}PROBE", config.stream);
    let nats = connect(&config, url).await?;
    let result = async {
        let store = masthead_events::store::EventStore::new(nats.js.clone(), nats.topology.clone());
        let options = crate::import::ImportOptions { progress: false, ..Default::default() };
        let import = crate::import::import(&store, csv, &options).await.context("probe import")?;
        let raw_per_s = raw_publish(&nats.js, &nats.topology.prefix, import.rows, options.in_flight).await?;
        let (mut publish, mut direct_get) = (histogram(), histogram());
        let payload = bytes::Bytes::from(vec![b'x'; 400]);
        let prefix = &nats.topology.prefix;
        for i in 0..1000 {
            let t = Instant::now();
            nats.js.publish(format!("{prefix}.probe.{i}"), payload.clone()).await?.await?;
            record(&mut publish, t.elapsed());
        }
        let stream = nats.js.get_stream_no_info(&nats.topology.stream).await?;
        for i in 0..1000 {
            let t = Instant::now();
            stream.direct_get_next_for_subject(format!("{prefix}.probe.{i}"), None).await?;
            record(&mut direct_get, t.elapsed());
        }
        let mut load = histogram();
        for seq in 1..=import.imported.min(1000) {
            let message = stream.direct_get(seq).await?;
            let Some(id) = message.headers.get(header::AGGREGATE_ID).map(|v| v.as_str().to_owned()) else { continue };
            let t = Instant::now();
            store.load::<masthead_events::base_address::BaseAddressEvent>(&id).await?;
            record(&mut load, t.elapsed());
        }
        Ok(StoreProbe { import, raw_per_s, publish, direct_get, load })
    }
    .await;
    super::server::delete_everything(&nats).await;
    result
}

// ---------------------------------------------------------------- SMTP sink

/// SMTP connections the mailer keeps open to the local sink. A relay on the
/// same host takes this many; the default (8) is sized for remote relays
/// that throttle concurrent sessions.
const BENCH_SMTP_POOL: u32 = 32;

/// Accepts every mail and notes, per recipient, when it arrived.
#[derive(Default)]
struct SinkState {
    mails: AtomicU64,
    arrived: Mutex<HashMap<String, Instant>>,
}

#[derive(Clone)]
struct Sink {
    state: Arc<SinkState>,
    to: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl mailin_embedded::Handler for Sink {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> mailin_embedded::Response {
        self.to.clear();
        mailin_embedded::response::OK
    }

    fn rcpt(&mut self, to: &str) -> mailin_embedded::Response {
        self.to.push(to.trim_matches(|c| c == '<' || c == '>').to_ascii_lowercase());
        mailin_embedded::response::OK
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let now = Instant::now();
        self.state.mails.fetch_add(1, Ordering::Relaxed);
        let mut arrived = lock(&self.state.arrived);
        for to in self.to.drain(..) {
            arrived.entry(to).or_insert(now);
        }
        mailin_embedded::response::OK
    }
}

/// Starts the sink on its own threads. mailin's `serve()` never returns:
/// the threads end with the process, which the bench command is.
fn start_sink(sessions: u32) -> Result<(String, Arc<SinkState>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("smtp://{}", listener.local_addr()?);
    let state = Arc::new(SinkState::default());
    let mut server = mailin_embedded::Server::new(Sink { state: state.clone(), to: Vec::new() });
    server.with_name("sink.bench.invalid").with_num_threads(sessions).with_tcp_listener(listener);
    server.with_ssl(mailin_embedded::SslConfig::None).map_err(|e| anyhow::anyhow!("SMTP sink: {e}"))?;
    std::thread::Builder::new().name("smtp-sink".into()).spawn(move || {
        let _ = server.serve();
    })?;
    Ok((url, state))
}

// ---------------------------------------------------------------- system

struct System {
    http_addr: SocketAddr,
    shutdown: CancellationToken,
    thread: std::thread::JoinHandle<Result<()>>,
}

/// Runs `up::start` on its own runtime threads, as a separate server process
/// would, so that the load generator and the observer do not share its
/// scheduler (they still share the 2 cores, as a co-located client would).
async fn start_system(config: Config) -> Result<System> {
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<Result<SocketAddr>>();
    let s = shutdown.clone();
    let thread = std::thread::Builder::new().name("masthead-up".into()).spawn(move || -> Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        rt.block_on(async move {
            let mailer = crate::mailer::mailer_config(&config)
                .and_then(|c| masthead_mailer::Mailer::from_config(c).context("mail transport"));
            let started = match mailer {
                Ok(mailer) => crate::up::start(&config, mailer, s.clone()).await,
                Err(e) => Err(e),
            };
            match started {
                Ok(running) => {
                    let _ = tx.send(Ok(running.http_addr));
                    s.cancelled().await;
                    running.wait().await
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    Ok(())
                }
            }
        })
    })?;
    let http_addr = rx.await.context("the system thread ended before it started")??;
    Ok(System { http_addr, shutdown, thread })
}

impl System {
    /// Stops every role; bounded, so a stuck role cannot hang the bench.
    async fn stop(self) {
        self.shutdown.cancel();
        let joined = tokio::task::spawn_blocking(move || self.thread.join());
        match tokio::time::timeout(Duration::from_secs(20), joined).await {
            Ok(Ok(Ok(Ok(())))) => {}
            Ok(Ok(Ok(Err(e)))) => eprintln!("warning: the system stopped with an error: {e:#}"),
            Ok(_) => eprintln!("warning: the system thread panicked"),
            Err(_) => eprintln!("warning: the system did not stop within 20 s"),
        }
    }
}

// ---------------------------------------------------------------- observer

/// What the stream says about one subscription.
#[derive(Default, Clone)]
struct Timeline {
    requested: Option<DateTime<Utc>>,
    decided: Option<DateTime<Utc>>,
    /// `AddressMatched` or `AddressAssigned` (a new base address).
    matched: bool,
    sent: Option<DateTime<Utc>>,
    /// When the `ConfirmationSent` reached this process.
    sent_seen: Option<Instant>,
    sent_seen_wall: Option<DateTime<Utc>>,
    failed: bool,
}

type Timelines = Arc<Mutex<HashMap<String, Timeline>>>;

/// Follows `<prefix>.subscription.*` from now on with an ordered consumer,
/// reading only headers: type, aggregate id, occurred_at.
async fn start_observer(nats: &Nats, timelines: Timelines, stop: CancellationToken) -> Result<()> {
    let stream = nats.js.get_stream(&nats.topology.stream).await.context("observer: stream")?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: nats.topology.aggregate_filter("subscription"),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .context("observer: ordered consumer")?;
    let mut messages = consumer.messages().await.context("observer: messages")?;
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return,
                n = messages.next() => n,
            };
            let Some(Ok(m)) = next else {
                // An ordered consumer recreates itself on gaps; an error that
                // ends it leaves the remaining subscriptions "incomplete" in
                // the report, which is visible rather than silent.
                eprintln!("warning: the observer's message feed ended");
                return;
            };
            let (seen, seen_wall) = (Instant::now(), Utc::now());
            let Some(h) = m.headers.as_ref() else { continue };
            let (Some(ty), Some(id)) = (h.get(header::EVENT_TYPE), h.get(header::AGGREGATE_ID)) else { continue };
            let at = h
                .get(header::OCCURRED_AT)
                .and_then(|v| DateTime::parse_from_rfc3339(v.as_str()).ok())
                .map(|t| t.with_timezone(&Utc));
            let mut all = lock(&timelines);
            let t = all.entry(id.as_str().to_owned()).or_default();
            match ty.as_str() {
                SubscriptionEvent::REQUESTED => t.requested = at,
                SubscriptionEvent::MATCHED | SubscriptionEvent::ASSIGNED => {
                    t.decided = at;
                    t.matched = ty.as_str() == SubscriptionEvent::MATCHED;
                }
                SubscriptionEvent::CONFIRMATION_SENT => {
                    t.sent = at;
                    t.sent_seen = Some(seen);
                    t.sent_seen_wall = Some(seen_wall);
                }
                SubscriptionEvent::CONFIRMATION_FAILED => t.failed = true,
                _ => {}
            }
        }
    });
    Ok(())
}

// ---------------------------------------------------------------- lag

#[derive(Default, Clone, Copy)]
struct LagMax {
    pending: u64,
    ack_pending: u64,
    /// Lookups that failed or timed out (unknown, not zero).
    unknown: u64,
}

/// Samples every durable consumer's lag every 500 ms until `stop`.
fn sample_lag(nats: &Nats, stop: CancellationToken) -> tokio::task::JoinHandle<(u64, BTreeMap<String, LagMax>)> {
    let (js, topology) = (nats.js.clone(), nats.topology.clone());
    tokio::spawn(async move {
        let mut max: BTreeMap<String, LagMax> = BTreeMap::new();
        let mut samples = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return (samples, max),
                _ = tick.tick() => {}
            }
            samples += 1;
            for lag in poll_lag(&js, &topology, LAG_TIMEOUT).await {
                let m = max.entry(lag.consumer).or_default();
                match (lag.pending, lag.ack_pending) {
                    (Some(p), Some(a)) => {
                        m.pending = m.pending.max(p);
                        m.ack_pending = m.ack_pending.max(a);
                    }
                    _ => m.unknown += 1,
                }
            }
        }
    })
}

// ---------------------------------------------------------------- load

struct Submitted {
    index: usize,
    status: u16,
    id: Option<String>,
    at: Instant,
    at_wall: DateTime<Utc>,
    answered: Instant,
    /// How late the request left against its schedule.
    slip: Duration,
}

fn email(phase: usize, index: usize) -> String {
    format!("e2e{phase}.{index}@example.org")
}

/// Offers `plan[range]` open-loop at `rate` per second.
async fn offer(
    client: &reqwest::Client,
    url: &str,
    plan: &Arc<Vec<Planned>>,
    range: std::ops::Range<usize>,
    phase: usize,
    rate: f64,
    max_in_flight: usize,
) -> (Instant, Vec<Submitted>) {
    let limit = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let t0 = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(range.len());
    for (k, index) in range.enumerate() {
        let due = t0 + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        // Only the in-flight bound can hold a request back; the report
        // shows that as slip.
        let Ok(permit) = limit.clone().acquire_owned().await else { break };
        let (client, url, plan) = (client.clone(), url.to_owned(), plan.clone());
        tasks.push(tokio::spawn(async move {
            let a = &plan[index].address;
            let body = serde_json::json!({
                "name": format!("E2E Subscriber {index}"),
                "email": email(phase, index),
                "street": a.street,
                "postal_code": a.postal_code,
                "city": a.city,
                "country": a.country,
            });
            let (at, at_wall) = (Instant::now(), Utc::now());
            let slip = at.saturating_duration_since(due);
            let (status, id) = match client.post(&url).json(&body).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let id = match r.json::<serde_json::Value>().await {
                        Ok(v) if status == 202 => v.get("id").and_then(|i| i.as_str()).map(str::to_owned),
                        _ => None,
                    };
                    (status, id)
                }
                Err(_) => (0, None),
            };
            drop(permit);
            Submitted { index, status, id, at, at_wall, answered: Instant::now(), slip }
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(s) = t.await {
            out.push(s);
        }
    }
    (t0, out)
}

// ---------------------------------------------------------------- report

fn histogram() -> Histogram<u64> {
    // Microseconds up to 10 minutes.
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn spread(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "        (none)".to_owned();
    }
    format!(
        "p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms  (n={})",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
        h.len()
    )
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let _ = h.record((d.as_micros() as u64).max(1));
}

fn record_wall(h: &mut Histogram<u64>, from: DateTime<Utc>, to: DateTime<Utc>) {
    // Clamped at 0: stages on the same clock, but timestamps are taken
    // just before or after the I/O they describe.
    let us = (to - from).num_microseconds().unwrap_or(0).max(0) as u64;
    let _ = h.record(us.max(1));
}

/// `match_duration_seconds` of the in-process matcher: (count, sum) per
/// outcome, read directly from the registry.
fn matcher_service() -> BTreeMap<&'static str, (u64, f64)> {
    let mut out = BTreeMap::new();
    if let Some(m) = crate::telemetry::metrics::METRICS.as_ref() {
        for outcome in ["matched", "new"] {
            let h = m.match_duration.with_label_values(&[outcome]);
            out.insert(outcome, (h.get_sample_count(), h.get_sample_sum()));
        }
    }
    out
}

struct Phase {
    label: &'static str,
    rate: f64,
    offered: usize,
    accepted: usize,
    refused: BTreeMap<u16, usize>,
    /// From the first due time to the last answer.
    submit_span: Duration,
    max_slip: Duration,
    late: usize,
    completed: usize,
    failed: usize,
    /// From the first due time to the last confirmation seen.
    complete_span: Duration,
    http: Histogram<u64>,
    to_sent: Histogram<u64>,
    to_smtp: Histogram<u64>,
    intake: Histogram<u64>,
    to_decision: HashMap<bool, Histogram<u64>>,
    mail: Histogram<u64>,
    observe: Histogram<u64>,
    kinds: BTreeMap<(Kind, bool), usize>,
    lag: BTreeMap<String, LagMax>,
    lag_samples: u64,
    service: BTreeMap<&'static str, (u64, f64)>,
    decision_span: Option<(usize, Duration)>,
}

impl Phase {
    fn accepted_per_s(&self) -> f64 {
        self.accepted as f64 / self.submit_span.as_secs_f64().max(1e-9)
    }
    fn completed_per_s(&self) -> f64 {
        self.completed as f64 / self.complete_span.as_secs_f64().max(1e-9)
    }

    fn print(&self) {
        println!();
        println!("── {} (offered {:.0}/s, {} subscriptions)", self.label, self.rate, self.offered);
        let refused: Vec<String> = self
            .refused
            .iter()
            .map(|(s, n)| if *s == 0 { format!("{n}× no answer") } else { format!("{n}× {s}") })
            .collect();
        println!(
            "  accepted    {:>6}  {:>8.1}/s   refused {}   max slip {:.1} ms ({} requests > 10 ms late)",
            self.accepted,
            self.accepted_per_s(),
            if refused.is_empty() { "0".to_owned() } else { refused.join(", ") },
            self.max_slip.as_secs_f64() * 1e3,
            self.late
        );
        println!(
            "  confirmed   {:>6}  {:>8.1}/s   failed {}   incomplete {}",
            self.completed,
            self.completed_per_s(),
            self.failed,
            self.accepted.saturating_sub(self.completed + self.failed)
        );
        println!("  HTTP 202                      {}", spread(&self.http));
        println!("  submit → mail at SMTP server  {}", spread(&self.to_smtp));
        println!("  submit → ConfirmationSent     {}", spread(&self.to_sent));
        println!("  stages (event occurred_at):");
        println!("    submit → Requested          {}", spread(&self.intake));
        if let Some(h) = self.to_decision.get(&true) {
            println!("    Requested → Matched         {}", spread(h));
        }
        if let Some(h) = self.to_decision.get(&false) {
            println!("    Requested → Assigned (new)  {}", spread(h));
        }
        println!("    decided → ConfirmationSent  {}", spread(&self.mail));
        println!("    Sent → seen by observer     {}", spread(&self.observe));
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|((k, matched), n)| format!("{} → {} {n}", k.label(), if *matched { "matched" } else { "new" }))
            .collect();
        println!("  decisions   {}", kinds.join(", "));
        let service: Vec<String> = self
            .service
            .iter()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(o, (n, sum))| format!("{o} {:.2} ms mean (n={n})", sum * 1e3 / *n as f64))
            .collect();
        if !service.is_empty() {
            println!("  matcher service time per decision (match_duration_seconds): {}", service.join(", "));
        }
        if let Some((n, span)) = self.decision_span {
            println!(
                "  matcher decisions/s over the phase: {:.0} ({n} decisions in {:.2} s)",
                n as f64 / span.as_secs_f64().max(1e-9),
                span.as_secs_f64()
            );
        }
        let lag: Vec<String> = self
            .lag
            .iter()
            .map(|(c, l)| {
                let unknown = if l.unknown > 0 { format!(", {} unknown", l.unknown) } else { String::new() };
                format!("{c} {} (+{} unacked{unknown})", l.pending, l.ack_pending)
            })
            .collect();
        println!("  max lag     {}   ({} samples, 500 ms apart)", lag.join("   "), self.lag_samples);
    }
}

struct Env<'a> {
    nats: &'a Nats,
    client: reqwest::Client,
    url: String,
    plan: Arc<Vec<Planned>>,
    timelines: Timelines,
    sink: Arc<SinkState>,
    max_in_flight: usize,
    drain: Duration,
}

async fn run_phase(
    env: &Env<'_>,
    label: &'static str,
    phase: usize,
    range: std::ops::Range<usize>,
    rate: f64,
) -> Phase {
    let service_before = matcher_service();
    let stop_lag = CancellationToken::new();
    let lag_task = sample_lag(env.nats, stop_lag.clone());
    let offered = range.len();
    let (t0, submitted) = offer(&env.client, &env.url, &env.plan, range, phase, rate, env.max_in_flight).await;
    let last_answer = submitted.iter().map(|s| s.answered).max().unwrap_or(t0);

    let mut refused = BTreeMap::new();
    let mut accepted = Vec::new();
    let mut http = histogram();
    let (mut max_slip, mut late) = (Duration::ZERO, 0);
    for s in submitted {
        max_slip = max_slip.max(s.slip);
        late += usize::from(s.slip > Duration::from_millis(10));
        match s.id.clone() {
            Some(id) if s.status == 202 => {
                record(&mut http, s.answered - s.at);
                accepted.push((id, s));
            }
            _ => *refused.entry(s.status).or_insert(0) += 1,
        }
    }

    // Wait for every accepted subscription's confirmation (or failure).
    let deadline = Instant::now() + env.drain;
    loop {
        let done = {
            let all = lock(&env.timelines);
            accepted.iter().filter(|(id, _)| all.get(id).is_some_and(|t| t.sent_seen.is_some() || t.failed)).count()
        };
        if done == accepted.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_lag.cancel();
    let (lag_samples, lag) = lag_task.await.unwrap_or_default();
    let service_after = matcher_service();
    let service = service_after
        .iter()
        .map(|(o, (n, sum))| {
            let (n0, sum0) = service_before.get(o).copied().unwrap_or_default();
            (*o, (n.saturating_sub(n0), sum - sum0))
        })
        .collect();

    let mut p = Phase {
        label,
        rate,
        offered,
        accepted: accepted.len(),
        refused,
        submit_span: last_answer.saturating_duration_since(t0),
        max_slip,
        late,
        completed: 0,
        failed: 0,
        complete_span: Duration::ZERO,
        http,
        to_sent: histogram(),
        to_smtp: histogram(),
        intake: histogram(),
        to_decision: HashMap::new(),
        mail: histogram(),
        observe: histogram(),
        kinds: BTreeMap::new(),
        lag,
        lag_samples,
        service,
        decision_span: None,
    };
    let all = lock(&env.timelines);
    let arrived = lock(&env.sink.arrived);
    let mut last_seen = t0;
    let mut decided: Vec<DateTime<Utc>> = Vec::new();
    for (id, s) in &accepted {
        let Some(t) = all.get(id) else { continue };
        if let Some(at) = arrived.get(&email(phase, s.index)) {
            record(&mut p.to_smtp, at.saturating_duration_since(s.at));
        }
        if let Some(r) = t.requested {
            record_wall(&mut p.intake, s.at_wall, r);
            if let Some(d) = t.decided {
                record_wall(p.to_decision.entry(t.matched).or_insert_with(histogram), r, d);
            }
        }
        if let Some(d) = t.decided {
            decided.push(d);
            *p.kinds.entry((env.plan[s.index].kind, t.matched)).or_insert(0) += 1;
            if let Some(sent) = t.sent {
                record_wall(&mut p.mail, d, sent);
            }
        }
        if let (Some(sent), Some(seen)) = (t.sent, t.sent_seen_wall) {
            record_wall(&mut p.observe, sent, seen);
        }
        if let Some(seen) = t.sent_seen {
            p.completed += 1;
            last_seen = last_seen.max(seen);
            record(&mut p.to_sent, seen.saturating_duration_since(s.at));
        } else if t.failed {
            p.failed += 1;
        }
    }
    p.complete_span = last_seen.saturating_duration_since(t0);
    decided.sort();
    if let (Some(first), Some(last)) = (decided.first(), decided.last()) {
        let span = (*last - *first).to_std().unwrap_or_default();
        if span > Duration::ZERO {
            p.decision_span = Some((decided.len(), span));
        }
    }
    p
}

// ---------------------------------------------------------------- run

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

pub async fn run(config: &Config, options: Options) -> Result<()> {
    anyhow::ensure!(options.base > 0, "--base must be at least 1");
    anyhow::ensure!(options.subscriptions > 0, "--subscriptions must be at least 1");
    anyhow::ensure!(options.rate > 0.0, "--rate must be positive");
    let local = match &config.nats_url {
        Some(_) => None,
        None => Some(start_local(0, None)?),
    };
    let url = local.as_ref().map(|l| l.url.clone()).unwrap_or_else(|| config.nats_url_or_default());
    let data = tempfile::tempdir().context("temporary data directory")?;
    // Enough sessions for the mailer's pool and a reconnect or two.
    let (smtp_url, sink) = start_sink(2 * BENCH_SMTP_POOL)?;
    let smtp_url = format!("{smtp_url}?pool={BENCH_SMTP_POOL}");

    let mut config = config.clone();
    config.nats_url = Some(url.clone());
    config.stream = format!("E2E{}", std::process::id());
    config.data_dir = data.path().to_path_buf();
    config.http_addr = SocketAddr::from(([127, 0, 0, 1], 0));
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
        "bench e2e: base {} addresses, {} subscriptions at {:.0}/s{}, nats {url}, smtp sink {smtp_url}, stream {}",
        base.len(),
        options.subscriptions,
        options.rate,
        if phases == 2 { format!(" then at {:.0}/s (ceiling)", options.ceiling_rate) } else { String::new() },
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

    let nats = connect(&config, &url).await?;
    let result = async {
        let started = Instant::now();
        let system = start_system(config.clone()).await?;
        println!("  system up in {:.2} s at http://{}", started.elapsed().as_secs_f64(), system.http_addr);
        let outcome = measure(&options, &nats, &system, &csv_path, plan, &sink).await;
        system.stop().await;
        outcome
    }
    .await;
    super::server::delete_everything(&nats).await;
    drop(local);
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
    let store = masthead_events::store::EventStore::new(nats.js.clone(), nats.topology.clone());
    let import_options = crate::import::ImportOptions { progress: false, ..Default::default() };
    let report = crate::import::import(&store, csv_path, &import_options).await.context("import")?;
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
