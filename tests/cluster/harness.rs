//! What the cluster tests share: the application on a 3-node cluster, a
//! steady intake load that records every answer, and the checks that
//! nothing was lost or duplicated.

use crate::common::*;
use masthead_test_support::cluster::NatsCluster;
use masthead_test_support::fixtures::messages_per_subject;
use masthead_test_support::{wait_until, System, TestSmtp};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The stream the application uses (`System`'s), and its buckets' names.
pub const STREAM: &str = "E2E";

/// How long the consumers get to finish after the load.
const DRAIN: Duration = Duration::from_secs(120);

/// A 3-node 2.14 cluster with the application on it: `masthead up` (API,
/// matcher, projector and mailer in one process) with every node's URL and
/// `MASTHEAD_STREAM_REPLICAS=3`, mailing to an SMTP server in this process.
pub struct ClusterApp {
    pub cluster: NatsCluster,
    pub system: System,
    pub smtp: TestSmtp,
    pub http: reqwest::Client,
}

impl ClusterApp {
    /// The cluster and the system, with no role running yet.
    pub async fn new() -> Self {
        let cluster = NatsCluster::start(3).await.expect("3-node cluster");
        Self::on(cluster)
    }

    /// The system on a cluster the caller started (maybe still forming).
    pub fn on(cluster: NatsCluster) -> Self {
        let smtp = TestSmtp::start();
        let mut system = System::on_cluster(MASTHEAD, Some(smtp.url()), &cluster.urls_csv()).expect("system");
        system.extra_env.push(("MASTHEAD_STREAM_REPLICAS".into(), "3".into()));
        // The staff lists the checks read need a token: one secret for
        // every process of the test, and an admin token signed with it.
        system.extra_env.push(("MASTHEAD_AUTH_HS256_SECRET".into(), "cluster-test-secret-of-at-least-32-bytes".into()));
        let token = system.token("admin").expect("an admin token");
        let mut headers = reqwest::header::HeaderMap::new();
        let bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("a header value");
        headers.insert(reqwest::header::AUTHORIZATION, bearer);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .default_headers(headers)
            .build()
            .expect("client");
        Self { cluster, system, smtp, http }
    }

    /// Starts `masthead up` and waits until it serves.
    pub async fn start_up(&mut self) {
        self.system.start("up", &["up"]).expect("up");
        self.system.wait_http().await.expect("http");
        self.wait_ready().await;
    }

    /// Waits until `/readyz` says ready.
    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.system.base_url());
        wait_until("masthead ready", Duration::from_secs(60), || async {
            self.http.get(&url).send().await.ok().filter(|r| r.status() == 200).map(|_| ())
        })
        .await
        .expect("ready");
    }

    /// The name `masthead up`'s main (API) connection has in `/connz`.
    pub fn api_connection(&self) -> String {
        format!("masthead-up-{}", self.system.pid("up").expect("up runs"))
    }

    /// The node holding the API's connection.
    pub async fn api_node(&self) -> usize {
        let name = self.api_connection();
        let cluster = &self.cluster;
        wait_until("the API's connection in /connz", Duration::from_secs(30), || async {
            cluster.node_with_connection(&name).await
        })
        .await
        .expect("API connected")
    }

    /// Moves the leadership of `stream` off `node` (to the next node).
    pub async fn lead_elsewhere(&self, stream: &str, node: usize) {
        let client = self.cluster.client().await.expect("client");
        if self.cluster.stream_leader(stream).await == Some(node) {
            self.cluster.move_leader(&client, stream, (node + 1) % 3).await.expect("leader moved");
        }
    }

    /// Restarts a killed or stopped node and waits until the cluster is
    /// healthy and every replica of the event stream caught up.
    pub async fn heal(&mut self, node: usize) {
        self.cluster.restart(node).await.expect("restart node");
        self.cluster.wait_healthy().await.expect("healthy again");
        let cluster = &self.cluster;
        wait_until("every replica of the stream current", Duration::from_secs(60), || async {
            cluster.stream_current(STREAM).await.then_some(())
        })
        .await
        .expect("stream current");
    }
}

/// One answer of the intake.
#[derive(Debug, Clone)]
pub struct Answer {
    pub sent: Instant,
    pub took: Duration,
    /// 0 when no HTTP answer came (connection refused, timeout).
    pub status: u16,
    pub retry_after: bool,
}

/// Subscriptions posted by a few workers at a steady pace, each retried
/// (with its Idempotency-Key, as a well-behaved client does) until it is
/// accepted. Subscription `i` is one of four spellings of address `i / 4`.
pub struct Load {
    answers: Arc<Mutex<Vec<Answer>>>,
    accepted: Arc<Mutex<Vec<(usize, Uuid)>>>,
    next: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// What a load saw, once it ended.
pub struct LoadReport {
    pub answers: Vec<Answer>,
    /// (subscription index, id) of every accepted subscription.
    pub accepted: Vec<(usize, Uuid)>,
}

/// The body of subscription `i`.
pub fn nth_body(i: usize) -> Value {
    const SPELLINGS: [&str; 4] = ["Kerkstraat {n}", "Kerk straat {n}", "kerkstraat{n}", "KERKSTRAAT  {n}"];
    let street = SPELLINGS[i % 4].replace("{n}", &(i / 4 + 1).to_string());
    body(&format!("Reader {i}"), &street, "3511 LX", "Utrecht", "NL")
}

impl Load {
    /// Starts `workers` workers that together post up to `max` subscriptions,
    /// each worker one request at a time with `pace` between requests.
    pub fn start(app: &ClusterApp, workers: usize, pace: Duration, max: usize) -> Self {
        let load = Self {
            answers: Arc::default(),
            accepted: Arc::default(),
            next: Arc::default(),
            stop: Arc::default(),
            tasks: Vec::new(),
        };
        let tasks = (0..workers)
            .map(|_| {
                let (http, base) = (app.http.clone(), app.system.base_url());
                let (answers, accepted) = (load.answers.clone(), load.accepted.clone());
                let (next, stop) = (load.next.clone(), load.stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= max {
                            return;
                        }
                        let id = post_until_accepted(&http, &base, i, pace, &answers).await;
                        accepted.lock().unwrap().push((i, id));
                        tokio::time::sleep(pace).await;
                    }
                })
            })
            .collect();
        Self { tasks, ..load }
    }

    pub fn accepted(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }

    pub async fn wait_accepted(&self, n: usize) {
        wait_until(&format!("{n} accepted subscriptions"), Duration::from_secs(120), || async {
            (self.accepted() >= n).then_some(())
        })
        .await
        .expect("accepted");
    }

    /// Stops starting new subscriptions, lets the ones in hand finish.
    pub async fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            t.await.expect("load worker");
        }
        let answers = self.answers.lock().unwrap().clone();
        let mut accepted = self.accepted.lock().unwrap().clone();
        accepted.sort();
        LoadReport { answers, accepted }
    }
}

async fn post_until_accepted(
    http: &reqwest::Client,
    base: &str,
    i: usize,
    pace: Duration,
    answers: &Mutex<Vec<Answer>>,
) -> Uuid {
    let url = format!("{base}/api/v1/subscriptions");
    loop {
        let sent = Instant::now();
        let response = http.post(&url).header("Idempotency-Key", format!("load-{i}")).json(&nth_body(i)).send().await;
        let (status, retry_after, id) = match response {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                let body: Value = r.json().await.unwrap_or_default();
                (status, retry_after, body["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
            }
            Err(_) => (0, false, None),
        };
        answers.lock().unwrap().push(Answer { sent, took: sent.elapsed(), status, retry_after });
        match (status, id) {
            (202, Some(id)) => return id,
            // Anything else is recorded for the test to judge; a client
            // retries after the pause.
            _ => tokio::time::sleep(pace).await,
        }
    }
}

/// How long intake was unavailable around a fault.
#[derive(Debug)]
pub struct Window {
    /// The longest time between two consecutive 202 answers, from the last
    /// 202 before the fault on: the unavailability as a client sees it.
    pub longest_gap: Duration,
    /// When the first 202 after the fault was answered, from the fault.
    pub first_accept_after: Duration,
    pub refused: usize,
    pub slowest_refusal: Duration,
}

impl LoadReport {
    /// Every answer was 202 or 503, and every 503 came within 2 s with
    /// `Retry-After`.
    pub fn assert_only_accepts_and_quick_refusals(&self) {
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for a in &self.answers {
            *statuses.entry(a.status).or_default() += 1;
        }
        assert!(statuses.keys().all(|s| *s == 202 || *s == 503), "only 202 or 503: {statuses:?}");
        for a in self.answers.iter().filter(|a| a.status == 503) {
            assert!(a.retry_after, "a 503 without Retry-After: {a:?}");
            assert!(a.took < Duration::from_secs(2), "a 503 after {:?}", a.took);
        }
    }

    /// Every answer was 202: no 5xx at all.
    pub fn assert_all_accepted(&self) {
        let refused: Vec<&Answer> = self.answers.iter().filter(|a| a.status != 202).collect();
        assert!(refused.is_empty(), "{} of {} answers were not 202: {refused:?}", refused.len(), self.answers.len());
    }

    /// The unavailability around a fault at `fault`.
    pub fn window(&self, fault: Instant) -> Window {
        let mut accepts: Vec<Instant> =
            self.answers.iter().filter(|a| a.status == 202).map(|a| a.sent + a.took).collect();
        accepts.sort();
        let from = accepts.iter().rposition(|t| *t <= fault).unwrap_or(0);
        let longest_gap = accepts[from..].windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
        let first_accept_after =
            accepts.iter().find(|t| **t > fault).map(|t| *t - fault).expect("a 202 after the fault");
        let refusals: Vec<&Answer> = self.answers.iter().filter(|a| a.status != 202).collect();
        let slowest_refusal = refusals.iter().map(|a| a.took).max().unwrap_or_default();
        Window { longest_gap, first_accept_after, refused: refusals.len(), slowest_refusal }
    }

    /// After the consumers drained: each accepted subscription is in the
    /// stream once with exactly one match outcome and one `ConfirmationSent`,
    /// spellings of one address share one base address, each address is
    /// registered once, each subscription got exactly one mail, and the
    /// projection lists each subscription once, confirmed.
    pub async fn assert_nothing_lost_or_doubled(&self, app: &ClusterApp) {
        let inspector = Inspector::connect(&app.system).await;
        inspector.wait_drained(&["matcher", "projector", "mailer"], DRAIN).await;
        let n = self.accepted.len();
        let subjects =
            messages_per_subject(&inspector.js, &inspector.topology, "subscription").await.expect("subjects");
        assert_eq!(subjects.len(), n, "exactly the accepted subscriptions are in the stream");
        let mut base_by_address: HashMap<usize, Uuid> = HashMap::new();
        for (i, id) in &self.accepted {
            let h = inspector.history(*id).await;
            assert!(!h.is_empty(), "{id} was accepted but is not in the stream");
            assert_eq!((outcome_count(&h), sent_count(&h)), (1, 1), "{id}: one outcome and one mail recorded");
            let base = resolved_base(&h).expect("resolved");
            assert_eq!(*base_by_address.entry(i / 4).or_insert(base), base, "{id}: the spellings share a base");
        }
        let bases = inspector.base_addresses().await;
        assert_eq!(bases.len(), base_by_address.len(), "one base address per distinct address");
        assert!(bases.values().all(|m| *m == 1), "each base address registered once");
        let mails = app.smtp.wait_for(n, Duration::from_secs(30));
        let distinct: HashSet<String> = mails.iter().map(|m| message_id(&m.data)).collect();
        assert_eq!((mails.len(), distinct.len()), (n, n), "exactly one mail per subscription");
        self.assert_projected(app).await;
    }

    async fn assert_projected(&self, app: &ClusterApp) {
        let base = app.system.base_url();
        let mut seen: HashMap<Uuid, String> = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => format!("{base}/api/v1/subscriptions?limit=100"),
                Some(c) => format!("{base}/api/v1/subscriptions?limit=100&cursor={c}"),
            };
            let page = get_json(&app.http, &url).await.expect("a page of the projection");
            for item in page["items"].as_array().expect("items") {
                let id = Uuid::parse_str(item["id"].as_str().expect("id")).expect("uuid");
                let status = item["status"].as_str().unwrap_or_default().to_owned();
                assert!(seen.insert(id, status).is_none(), "{id} projected twice");
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        let want: HashSet<Uuid> = self.accepted.iter().map(|(_, id)| *id).collect();
        assert_eq!(seen.keys().copied().collect::<HashSet<_>>(), want, "the projection lists exactly the accepted");
        assert!(seen.values().all(|s| s == "confirmed"), "every projected subscription confirmed");
    }
}

/// The holder the matcher lease names now (`<pid>-<uuid>`), read from the
/// leases bucket, with the time it was last written.
pub async fn lease_holder(js: &async_nats::jetstream::Context) -> Option<(u32, chrono::DateTime<chrono::Utc>)> {
    let kv = js.get_key_value(format!("{STREAM}_leases")).await.ok()?;
    let entry = kv.entry("matcher").await.ok()??;
    if entry.operation != async_nats::jetstream::kv::Operation::Put {
        return None;
    }
    let holder = std::str::from_utf8(&entry.value).ok()?;
    let pid = holder.split('-').next()?.parse().ok()?;
    let written = chrono::DateTime::from_timestamp(entry.created.unix_timestamp(), entry.created.nanosecond())?;
    Some((pid, written))
}
