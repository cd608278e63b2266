use masthead::api::{self, AppState};
use masthead::config::Config;
use masthead::connect::connect;
use masthead::roles::{app_state, serve};
use masthead_test_support::NatsServer;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub address: String,
    pub nats: NatsServer,
    pub state: AppState,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn test_config(nats_url: &str, data_dir: &std::path::Path) -> Config {
    Config::for_nats(nats_url, data_dir, "APITEST")
}

pub async fn spawn_app() -> TestApp {
    let nats = NatsServer::start().expect("nats-server");
    let dir = tempfile::tempdir().expect("tempdir").keep();
    let config = test_config(&nats.url(), &dir);
    let conn = connect(&config, &nats.url()).await.expect("connect");
    let state = app_state(&conn).await.expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(listener, api::router(state.clone()), shutdown.clone()));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    TestApp { address, nats, state, http, shutdown }
}

pub fn valid_body() -> Value {
    json!({
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "street": "Kerkstraat 12",
        "postal_code": "3511 LX",
        "city": "Utrecht",
        "country": "Nederland"
    })
}

impl TestApp {
    pub async fn post_subscription(&self, body: &Value) -> reqwest::Response {
        self.http.post(format!("{}/api/v1/subscriptions", self.address)).json(body).send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{}", self.address, path)).send().await.expect("request")
    }

    /// Events in the stream for one subscription.
    pub async fn event_count(&self, id: &str) -> usize {
        self.state.store.load::<masthead_events::subscription::SubscriptionEvent>(id).await.expect("load").events.len()
    }
}
