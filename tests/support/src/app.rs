//! Masthead in the test's own process, started by the same
//! [`masthead::system::start`] as `main` starts it, against a real
//! nats-server of its own: the black-box fixture of the `api` and `browser`
//! test binaries. Tests talk to it over HTTP; they write hand-made histories
//! into its stream and read its stream directly, never its internals.

use crate::history::{self, Seeded};
use crate::stream::publish_recorded;
use crate::{wait_until, NatsServer};
use async_nats::jetstream;
use masthead::config::Config;
use masthead::system::{self, Roles, Running};
use masthead_auth::Role;
use masthead_domain::base_address::BaseAddressRegistered;
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_domain::subscription::SubscriptionEvent;
use masthead_jetstream::dead_letter::{DeadLetter, DeadLetters};
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The intake alone: the HTTP API and pages, without read models (the
/// embedded store belongs to a projector) and without consumers.
pub const API: Roles = Roles { api: true, matcher: false, projector: false, mailer: false, local_nats: false };

/// The API with the projector beside it, sharing its read models. No
/// matcher and no mailer, so a hand-made history stays exactly as written.
pub const API_AND_PROJECTOR: Roles =
    Roles { api: true, matcher: false, projector: true, mailer: false, local_nats: false };

/// How long the app may take to apply or index what a test published.
const CATCH_UP: Duration = Duration::from_secs(20);

/// The shared secret test apps validate tokens with.
pub const TEST_SECRET: &str = "test-secret-of-at-least-32-bytes-for-hs256";

pub struct TestApp {
    /// `http://127.0.0.1:<port>`, the port the app bound (`Running::http_addr`).
    pub address: String,
    /// A client that does not follow redirects and sends an `admin` token,
    /// so tests about something else pass every door.
    pub http: reqwest::Client,
    /// A client that does not follow redirects and sends no token.
    pub anonymous: reqwest::Client,
    /// The operations listener, when `MASTHEAD_OPS_ADDR` was set.
    pub ops_address: Option<String>,
    pub nats: NatsServer,
    pub config: Config,
    /// The test's own connection to the app's stream and buckets.
    pub js: jetstream::Context,
    pub topology: Topology,
    pub store: EventStore,
    shutdown: CancellationToken,
    _running: Running,
    _dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts `roles` in this process on a fresh nats-server and data
/// directory, HTTP on 127.0.0.1 port 0, everything else as the binary's
/// defaults. Installs the metrics recorder first, as `main` does.
pub async fn spawn_app(roles: Roles) -> TestApp {
    spawn_app_with(roles, |_| {}).await
}

/// [`spawn_app`] with settings changed by `configure` first.
pub async fn spawn_app_with(roles: Roles, configure: impl FnOnce(&mut Config)) -> TestApp {
    masthead_telemetry::metrics::handle();
    undecided::install();
    let nats = NatsServer::start().expect("nats-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::for_nats(&nats.url(), dir.path(), "MASTHEAD");
    config.http_addr = "127.0.0.1:0".parse().expect("address");
    config.auth_hs256_secret = Some(TEST_SECRET.to_owned());
    // Tests send many subscriptions from one address: no rate limit unless
    // a test asks for one (in `configure`).
    config.intake_rate_per_minute = 0;
    configure(&mut config);
    let shutdown = CancellationToken::new();
    let running = system::start(&config, roles, shutdown.clone()).await.expect("masthead starts");
    let address = format!("http://{}", running.http_addr);
    let ops_address = running.ops_addr.map(|a| format!("http://{a}"));
    let own = system::connect_and_setup(&config, None).await.expect("the test's NATS connection");
    let store = EventStore::new(own.js.clone(), own.topology.clone());
    let anonymous = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let http = client_with_token(&token(&config, &[Role::Admin]));
    TestApp {
        address,
        http,
        anonymous,
        ops_address,
        nats,
        config,
        js: own.js,
        topology: own.topology,
        store,
        shutdown,
        _running: running,
        _dir: dir,
    }
}

/// A token for `roles`, signed as `masthead token issue` signs, valid
/// for an hour.
pub fn token(config: &Config, roles: &[Role]) -> String {
    masthead::access::issue_token(config, roles, "test", Duration::from_secs(3600)).expect("token")
}

/// A client that does not follow redirects and sends `token`.
pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client")
}

/// One durable consumer's entry in a stats body.
pub fn consumer<'a>(stats: &'a Value, name: &str) -> &'a Value {
    find_consumer(stats, name).unwrap_or_else(|| panic!("no consumer {name} in {stats}"))
}

fn find_consumer<'a>(stats: &'a Value, name: &str) -> Option<&'a Value> {
    stats["consumers"].as_array()?.iter().find(|c| c["consumer"] == name)
}

impl TestApp {
    /// A token of this app for `roles`.
    pub fn token(&self, roles: &[Role]) -> String {
        token(&self.config, roles)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{}", self.address, path)).send().await.expect("request")
    }

    /// GET, asserting the status, returning the JSON body.
    pub async fn get_json(&self, path: &str, status: u16) -> Value {
        let response = self.get(path).await;
        let got = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(got, status, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path} answered non-JSON ({e}): {text}"))
    }

    /// GET that must fail with 400 naming `param`.
    pub async fn assert_bad_parameter(&self, path: &str, param: &str) {
        let body = self.get_json(path, 400).await;
        assert_eq!(body["error"]["code"], "invalid_parameter", "GET {path}: {body}");
        assert_eq!(body["errors"][0]["field"], param, "GET {path}: {body}");
    }

    pub async fn post_subscription(&self, body: &Value) -> reqwest::Response {
        self.http.post(format!("{}/api/v1/subscriptions", self.address)).json(body).send().await.expect("request")
    }

    /// Events in the stream for one subscription.
    pub async fn event_count(&self, id: &str) -> usize {
        self.store.load::<SubscriptionEvent>(id).await.expect("load").events.len()
    }

    /// Publishes hand-made events into the app's stream exactly as they are
    /// and waits until its projection applied them (an app with the
    /// projector). Returns the sequences the stream gave them.
    pub async fn publish(&self, events: &[Recorded<AnyEvent>]) -> Vec<u64> {
        let sequences = publish_recorded(&self.js, &self.topology, events).await.expect("publish");
        if let Some(last) = sequences.last() {
            self.wait_projected(*last).await;
        }
        sequences
    }

    /// Registers base addresses in the stream; waits until the projection
    /// and the API's match index have both taken them in.
    pub async fn add_addresses(&self, addresses: &[BaseAddressRegistered]) -> Vec<u64> {
        let events: Vec<_> = addresses.iter().map(history::address_event).collect();
        let sequences = self.publish(&events).await;
        if let Some(last) = sequences.last() {
            self.wait_indexed(*last).await;
        }
        sequences
    }

    /// Opens a review item through the event store, as the matcher or
    /// `masthead addresses dedupe` would.
    pub async fn open_review(&self, opened: masthead_domain::review::ReviewOpened) {
        use masthead_domain::review::{Review, ReviewCommand};
        let bus: masthead_jetstream::command_bus::CommandBus<Review> =
            masthead_jetstream::command_bus::CommandBus::new(self.store.clone(), ());
        let id = opened.review_id.to_string();
        bus.execute(&id, ReviewCommand::Open(opened), &Default::default()).await.expect("review opened");
    }

    /// Publishes the hand-made subscriptions of [`history::subscriptions`].
    pub async fn seed_subscriptions(&self, n: usize) -> Vec<Seeded> {
        let (events, seeded) = history::subscriptions(n);
        self.publish(&events).await;
        seeded
    }

    /// Waits until the projection has applied everything in the stream.
    pub async fn project_all(&self) {
        let last = self.store.last_sequence().await.expect("last sequence");
        self.wait_projected(last).await;
    }

    /// Waits until `GET /api/v1/stats` says the projection applied
    /// `sequence` and the projector has nothing pending or unacknowledged;
    /// then asserts it dead-lettered nothing (the store rejected no event).
    pub async fn wait_projected(&self, sequence: u64) {
        let what = format!("the projection to apply sequence {sequence}");
        let stats = wait_until(&what, CATCH_UP, || async {
            let stats: Value = self.get("/api/v1/stats").await.json().await.ok()?;
            let projector = find_consumer(&stats, "projector")?;
            let applied = stats["last_applied_seq"].as_u64()? >= sequence;
            (applied && projector["pending"] == 0 && projector["ack_pending"] == 0).then_some(stats)
        })
        .await;
        let stats = match stats {
            Ok(stats) => stats,
            Err(e) => panic!("{e}; last stats: {}", self.get_json("/api/v1/stats", 200).await),
        };
        assert_eq!(consumer(&stats, "projector")["dead_letters"], 0, "the projector rejected events: {stats}");
    }

    /// Waits until the API's match index has read the stream up to `sequence`.
    pub async fn wait_indexed(&self, sequence: u64) {
        let what = format!("the match index to reach sequence {sequence}");
        wait_until(&what, CATCH_UP, || async {
            let preview: Value = self.get("/api/v1/match?street=Kerkstraat%201").await.json().await.ok()?;
            (preview["index_position"].as_u64()? >= sequence).then_some(())
        })
        .await
        .expect("indexed");
    }

    /// Records a dead letter for `consumer`, as a consumer that gave up on
    /// stream sequence `sequence` would.
    pub async fn record_dead_letter(&self, consumer: &str, sequence: u64, error: &str) {
        let letters = DeadLetters::open(&self.js, &self.topology.dead_letters_bucket()).await.expect("dead letters");
        letters
            .record(&DeadLetter {
                consumer: consumer.into(),
                stream_sequence: sequence,
                subject: self.topology.subject("subscription", "x"),
                event_type: Some("SubscriptionRequested".into()),
                error: error.into(),
                deliveries: 8,
                dead_lettered_at: chrono::Utc::now(),
                replay_requested: false,
                replays: 0,
            })
            .await
            .expect("record");
    }

    /// Walks a list endpoint page by page, returning every item.
    pub async fn walk(&self, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let url = match &cursor {
                None => format!("{path}{sep}limit={limit}"),
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            };
            let page = self.get_json(&url, 200).await;
            let got = page["items"].as_array().expect("items");
            assert!(got.len() <= limit, "page larger than limit: {}", got.len());
            items.extend(got.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
        panic!("cursor walk of {path} did not end");
    }
}

/// The process's default `tracing` subscriber in a test binary where some
/// tests install their own per thread (`set_default`) and the rest run apps
/// without one.
///
/// `tracing` caches, per callsite, whether anyone is interested in it. While
/// at most one per-thread subscriber is alive, a callsite first reached on a
/// thread without one is judged by that thread's default alone; with no
/// default that is "never", cached for every thread, and a telemetry test's
/// subscriber then misses the spans of its own app. This default records
/// nothing and answers "ask each time", so the cache never says "never".
mod undecided {
    use tracing::span::{Attributes, Id, Record};
    use tracing::subscriber::Interest;
    use tracing::{Event, Metadata, Subscriber};

    struct Undecided;

    impl Subscriber for Undecided {
        fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
            Interest::sometimes()
        }
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            false
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    pub fn install() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // Fails only if the binary set a default of its own; keep that.
            let _ = tracing::subscriber::set_global_default(Undecided);
        });
    }
}
