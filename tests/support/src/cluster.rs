//! A JetStream cluster of real nats-servers on 127.0.0.1 for one test.
//!
//! Modelled on nats.rs's own harness (`nats-server/src/lib.rs`,
//! `run_cluster`), with three differences: every port is a free one picked
//! here (client, cluster route and `-m` monitoring port per node), nodes
//! start one after the other (see `start_with`), and readiness is a
//! condition, never a sleep. `start` returns once every node answers
//! `/healthz`, has routes to all the others, and `/jsz` shows a meta leader
//! whose peers are all `current`; before that, creating an R3 stream fails
//! with 10005 "no suitable peers for placement".
//!
//! Right after a stream or KV bucket is created, a publish through a node
//! other than its leader can still get "no responders" (async-nats:
//! `PublishErrorKind::StreamNotFound`) until the leader's interest has
//! crossed the routes; tests retry on that.
//!
//! Leaders are read from the monitoring endpoints, not from a client, so
//! they can be asked while no leader serves: a node counts as a leader only
//! by its own `/jsz`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use masthead_test_support::cluster::NatsCluster;
//! let mut cluster = NatsCluster::start(3).await?;
//! let client = cluster.client().await?; // all URLs: fails over by itself
//! // ... create an R3 stream "ORDERS" ...
//! let leader = cluster.stream_leader("ORDERS").await.expect("a leader");
//! cluster.kill9(leader);
//! // ... publishes fail until another node leads ...
//! cluster.restart(leader).await?;
//! cluster.wait_healthy().await?;
//! # Ok(()) }
//! ```
//!
//! Each node logs to a file in the cluster's temp dir; when a test panics
//! (or `MASTHEAD_KEEP_NATS_LOGS` is set) the dir is kept and its path printed.

use crate::nats::{connect_retrying, free_port, nats_server_binary_for, nats_server_version, NatsLine};
use crate::wait_until;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long `start`, `restart` and `wait_healthy` wait before failing.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct NatsCluster {
    binary: PathBuf,
    version: (u32, u32, u32),
    cluster_name: String,
    nodes: Vec<Node>,
    dir: Option<tempfile::TempDir>,
}

struct Node {
    name: String,
    client_port: u16,
    route_port: u16,
    monitor_port: u16,
    store: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// One replica of a stream as the stream leader sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaState {
    /// Node index, or `None` for a peer name this cluster does not know.
    pub node: Option<usize>,
    pub name: String,
    /// Caught up and seen recently by the leader.
    pub current: bool,
    /// Raft entries behind the leader.
    pub lag: u64,
}

impl NatsCluster {
    /// Starts an `n`-node cluster of the production line (2.14, see
    /// [`nats_server_binary_for`]) and waits until it is healthy.
    pub async fn start(n: usize) -> Result<Self> {
        Self::start_with(nats_server_binary_for(NatsLine::V2_14)?, n).await
    }

    /// Starts an `n`-node cluster of `line`.
    pub async fn start_line(line: NatsLine, n: usize) -> Result<Self> {
        Self::start_with(nats_server_binary_for(line)?, n).await
    }

    /// Starts an `n`-node cluster of the given nats-server binary.
    pub async fn start_with(binary: impl Into<PathBuf>, n: usize) -> Result<Self> {
        let mut cluster = Self::start_partial_with(binary.into(), n, n).await?;
        cluster.wait_healthy().await?;
        Ok(cluster)
    }

    /// A cluster of `n` nodes of the production line of which only the first
    /// `up` run: one still forming, as on a first install where the
    /// application starts together with NATS. Returns once those nodes
    /// listen; start the others with [`NatsCluster::start_node`]. Until all
    /// peers have registered, an R3 stream cannot be placed (10005).
    pub async fn start_partial(n: usize, up: usize) -> Result<Self> {
        Self::start_partial_with(nats_server_binary_for(NatsLine::V2_14)?, n, up).await
    }

    async fn start_partial_with(binary: PathBuf, n: usize, up: usize) -> Result<Self> {
        if n == 0 || up > n {
            bail!("a cluster needs at least one node, and at most all of them up (n = {n}, up = {up})");
        }
        static CLUSTERS: AtomicUsize = AtomicUsize::new(0);
        let version = nats_server_version(&binary)?;
        let dir = tempfile::Builder::new().prefix("masthead-nats-cluster-").tempdir()?;
        let cluster_name = format!("masthead-{}-{}", std::process::id(), CLUSTERS.fetch_add(1, Ordering::Relaxed));
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("n{i}");
            let store = dir.path().join(format!("{name}-store"));
            std::fs::create_dir_all(&store)?;
            nodes.push(Node {
                log: dir.path().join(format!("{name}.log")),
                name,
                client_port: free_port()?,
                route_port: free_port()?,
                monitor_port: free_port()?,
                store,
                child: None,
            });
        }
        let mut cluster = Self { binary, version, cluster_name, nodes, dir: Some(dir) };
        // In order, each node routed to the ones already listening (the others
        // find it through route gossip). With routes to all peers from the
        // start, a route dialled before its peer listened was retried a second
        // later and torn down again as a duplicate, after the cluster already
        // looked healthy; in that churn a stream or KV create sometimes got no
        // answer within the 10 s request timeout (3 of ~60 runs, none in 100+
        // since). nats-server refuses clustered JetStream without configured
        // routes, so the first node gets a route to itself, which it ignores.
        // `restart` routes a node to all its peers, which are listening then.
        for i in 0..up {
            cluster.start_node(i).await?;
        }
        Ok(cluster)
    }

    /// Starts node `i` for the first time, routed to the nodes before it
    /// (see `start_with` for why), and waits until it accepts clients.
    pub async fn start_node(&mut self, i: usize) -> Result<()> {
        if self.nodes[i].child.is_some() {
            bail!("{} runs already", self.nodes[i].name);
        }
        self.spawn(i, if i == 0 { 0..1 } else { 0..i })?;
        self.wait_listening(i).await
    }

    /// Spawns node `i` with `--routes` to the nodes in `peers`.
    fn spawn(&mut self, i: usize, peers: std::ops::Range<usize>) -> Result<()> {
        let routes =
            peers.map(|j| format!("nats://127.0.0.1:{}", self.nodes[j].route_port)).collect::<Vec<_>>().join(",");
        let node = &self.nodes[i];
        let mut cmd = Command::new(&self.binary);
        cmd.args(["-js", "-a", "127.0.0.1", "-p", &node.client_port.to_string()])
            .args(["-m", &node.monitor_port.to_string()])
            .args(["-n", &node.name]);
        // One node runs standalone (non-clustered JetStream), as production
        // never does but a single-server test may want.
        if self.nodes.len() > 1 {
            cmd.args(["--cluster_name", &self.cluster_name])
                .args(["--cluster", &format!("nats://127.0.0.1:{}", node.route_port)]);
            if !routes.is_empty() {
                cmd.args(["--routes", &routes]);
            }
        }
        cmd.arg("-sd")
            .arg(&node.store)
            .arg("-l")
            .arg(&node.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().with_context(|| format!("starting {}", self.binary.display()))?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// Waits until node `i` accepts clients and, in a cluster, routes.
    async fn wait_listening(&mut self, i: usize) -> Result<()> {
        let port = self.nodes[i].client_port;
        let route_port = (self.nodes.len() > 1).then_some(self.nodes[i].route_port);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let listens = |p: u16| async move { tokio::net::TcpStream::connect(("127.0.0.1", p)).await.is_ok() };
            let routes_ok = match route_port {
                Some(p) => listens(p).await,
                None => true,
            };
            if routes_ok && listens(port).await {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.nodes[i].child.as_mut().map(|c| c.try_wait()) {
                self.nodes[i].child = None;
                bail!("{} exited with {status} at start; log: {}", self.nodes[i].name, self.log_tail(i));
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{} did not listen on {port} within 15 s; log: {}", self.nodes[i].name, self.log_tail(i));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The binary every node runs, and its version.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    pub fn version(&self) -> (u32, u32, u32) {
        self.version
    }

    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// Server name of node `i` (`-n`): "n0", "n1", ...
    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    /// Node index of a server name.
    pub fn index_of(&self, server_name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == server_name)
    }

    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].client_port)
    }

    pub fn urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.url(i)).collect()
    }

    /// All client URLs, comma-separated (the form a `--nats-url` flag takes).
    pub fn urls_csv(&self) -> String {
        self.urls().join(",")
    }

    pub fn client_port(&self, i: usize) -> u16 {
        self.nodes[i].client_port
    }

    pub fn monitor_port(&self, i: usize) -> u16 {
        self.nodes[i].monitor_port
    }

    pub fn store_dir(&self, i: usize) -> &Path {
        &self.nodes[i].store
    }

    pub fn log_file(&self, i: usize) -> &Path {
        &self.nodes[i].log
    }

    /// Whether node `i`'s process runs (it may still be starting).
    pub fn is_running(&mut self, i: usize) -> bool {
        match self.nodes[i].child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.nodes[i].child = None;
                false
            }
            None => false,
        }
    }

    fn running(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes.iter().enumerate().filter(|(_, n)| n.child.is_some()).map(|(i, _)| i)
    }

    /// SIGKILL node `i`: a crash. What was fsynced survives in its store.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM node `i` and wait until it has exited (SIGKILL after 30 s):
    /// a clean shutdown, which hands off its leaderships first.
    pub async fn stop(&mut self, i: usize) {
        let Some(mut c) = self.nodes[i].child.take() else { return };
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Starts node `i` again on the same ports and store directory (stopping
    /// it first with SIGTERM if it runs) and waits until it accepts clients.
    /// It then still has to catch up: see [`NatsCluster::wait_healthy`].
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        self.stop(i).await;
        self.spawn(i, 0..self.nodes.len())?; // every node, itself included (ignored)
        self.wait_listening(i).await
    }

    /// Waits until every node runs, answers `/healthz` with 200 (which on
    /// 2.10+ includes "JetStream meta and all its assets current") and has a
    /// route to every other node, all of them name the same meta leader, and
    /// that leader sees every other peer `current`. Fails at once when a node
    /// is not running.
    pub async fn wait_healthy(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            if !self.is_running(i) {
                bail!("{} is not running; log: {}", self.nodes[i].name, self.log_tail(i));
            }
        }
        let this = &*self;
        let waited =
            wait_until("a healthy cluster: /healthz ok and the meta group current", READY_TIMEOUT, || async move {
                this.healthy_now().await.then_some(())
            })
            .await;
        if let Err(e) = waited {
            let tails: Vec<String> =
                (0..self.nodes.len()).map(|i| format!("--- {}:\n{}", self.nodes[i].name, self.log_tail(i))).collect();
            bail!("{e}\n{}", tails.join("\n"));
        }
        Ok(())
    }

    async fn healthy_now(&self) -> bool {
        for i in 0..self.nodes.len() {
            if !matches!(http_get(self.nodes[i].monitor_port, "/healthz").await, Some((200, _))) {
                return false;
            }
            if !self.routed_to_all(i).await {
                return false;
            }
        }
        self.meta_current().await
    }

    /// Whether node `i`'s `/routez` shows a route to every other node.
    pub async fn routed_to_all(&self, i: usize) -> bool {
        if self.nodes.len() == 1 {
            return true;
        }
        let Some((200, body)) = http_get(self.nodes[i].monitor_port, "/routez").await else { return false };
        let Ok(routez) = serde_json::from_str::<Value>(&body) else { return false };
        let routes = routez["routes"].as_array().cloned().unwrap_or_default();
        self.nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .all(|(_, peer)| routes.iter().any(|r| r["remote_name"].as_str() == Some(peer.name.as_str())))
    }

    /// Whether there is a meta leader that every node agrees on and that sees
    /// all other nodes `current`. Always true for a single, standalone node.
    pub async fn meta_current(&self) -> bool {
        if self.nodes.len() == 1 {
            return self.jsz(0, "").await.is_some();
        }
        let mut leader = None;
        let mut leader_view = None;
        for i in 0..self.nodes.len() {
            let Some(jsz) = self.jsz(i, "").await else { return false };
            let Some(name) = jsz["meta_cluster"]["leader"].as_str() else { return false };
            if *leader.get_or_insert_with(|| name.to_string()) != name {
                return false;
            }
            if name == self.nodes[i].name {
                leader_view = Some(jsz);
            }
        }
        let Some(view) = leader_view else { return false };
        let replicas = view["meta_cluster"]["replicas"].as_array().cloned().unwrap_or_default();
        self.nodes.iter().filter(|n| Some(n.name.as_str()) != leader.as_deref()).all(|n| {
            replicas.iter().any(|r| r["name"].as_str() == Some(n.name.as_str()) && r["current"].as_bool() == Some(true))
        })
    }

    /// The node that leads the JetStream meta group, by its own account
    /// (`None` for a single, standalone node: it has no meta group).
    pub async fn meta_leader(&self) -> Option<usize> {
        for i in self.running() {
            if let Some(jsz) = self.jsz(i, "").await {
                if jsz["meta_cluster"]["leader"].as_str() == Some(self.nodes[i].name.as_str()) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Node `i`'s `/jsz` (with `query`, e.g. "streams=true"), parsed.
    pub async fn jsz(&self, i: usize, query: &str) -> Option<Value> {
        self.nodes[i].child.as_ref()?;
        let path = if query.is_empty() { "/jsz".to_string() } else { format!("/jsz?{query}") };
        match http_get(self.nodes[i].monitor_port, &path).await {
            Some((200, body)) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    /// Node `i`'s `stream_detail` entry for `stream` (any account), if the
    /// node hosts a replica of it.
    pub async fn stream_detail(&self, i: usize, stream: &str) -> Option<Value> {
        let jsz = self.jsz(i, "streams=true").await?;
        jsz["account_details"].as_array()?.iter().find_map(|acc| {
            acc["stream_detail"].as_array()?.iter().find(|s| s["name"].as_str() == Some(stream)).cloned()
        })
    }

    /// The node that leads `stream`: the running node whose own `/jsz` names
    /// itself as the stream's leader. `None` while there is none (during an
    /// election) or when no running node hosts the stream. A follower's
    /// possibly stale idea of the leader is not trusted. A single,
    /// standalone node leads every stream it has.
    pub async fn stream_leader(&self, stream: &str) -> Option<usize> {
        for i in self.running() {
            if let Some(d) = self.stream_detail(i, stream).await {
                let leader = d["cluster"]["leader"].as_str();
                if leader == Some(self.nodes[i].name.as_str()) || (leader.is_none() && self.nodes.len() == 1) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// The node that leads KV bucket `bucket` (its stream is `KV_<bucket>`).
    pub async fn kv_leader(&self, bucket: &str) -> Option<usize> {
        self.stream_leader(&format!("KV_{bucket}")).await
    }

    /// Makes node `to` the leader of `stream` (a KV bucket's stream is
    /// `KV_<bucket>`): asks the current leader to step down in favour of it
    /// (`placement.preferred`, honoured since 2.11; 2.10 picks any peer, so
    /// this asks again until `to` wins), each time waiting for the election
    /// to end with every replica current. `client` is any connection.
    pub async fn move_leader(&self, client: &async_nats::Client, stream: &str, to: usize) -> Result<()> {
        let subject = format!("$JS.API.STREAM.LEADER.STEPDOWN.{stream}");
        let body = serde_json::json!({"placement": {"preferred": self.nodes[to].name}}).to_string();
        for _ in 0..20 {
            let this = self;
            let leader = wait_until(&format!("{stream} led, every replica current"), READY_TIMEOUT, || async move {
                let leader = this.stream_leader(stream).await?;
                this.stream_current(stream).await.then_some(leader)
            })
            .await?;
            if leader == to {
                return Ok(());
            }
            // An error answer (e.g. "leader stepdown not allowed" mid-election)
            // or none: the next round looks again.
            let _ = tokio::time::timeout(Duration::from_secs(5), client.request(subject.clone(), body.clone().into()))
                .await;
            let this = self;
            wait_until(&format!("{stream}'s leader to step down"), READY_TIMEOUT, || async move {
                (this.stream_leader(stream).await != Some(leader)).then_some(())
            })
            .await?;
        }
        bail!("{stream}'s leadership did not move to {} in 20 step-downs", self.nodes[to].name)
    }

    /// The names of the client connections node `i` holds (`/connz`), as
    /// the clients named themselves.
    pub async fn connection_names(&self, i: usize) -> Option<Vec<String>> {
        self.nodes[i].child.as_ref()?;
        let (status, body) = http_get(self.nodes[i].monitor_port, "/connz?limit=1024").await?;
        let connz: Value = serde_json::from_str(&body).ok().filter(|_| status == 200)?;
        let conns = connz["connections"].as_array()?;
        Some(conns.iter().filter_map(|c| c["name"].as_str().map(str::to_owned)).collect())
    }

    /// The running node holding a client connection named `name` (exactly,
    /// e.g. "masthead-api-1234"), if any.
    pub async fn node_with_connection(&self, name: &str) -> Option<usize> {
        for i in self.running() {
            if self.connection_names(i).await.is_some_and(|names| names.iter().any(|n| n == name)) {
                return Some(i);
            }
        }
        None
    }

    /// The other replicas of `stream` as its leader sees them; `None` when
    /// the stream has no leader now.
    pub async fn stream_replicas(&self, stream: &str) -> Option<Vec<ReplicaState>> {
        let leader = self.stream_leader(stream).await?;
        let d = self.stream_detail(leader, stream).await?;
        let replicas = d["cluster"]["replicas"].as_array().cloned().unwrap_or_default();
        Some(
            replicas
                .iter()
                .map(|r| {
                    let name = r["name"].as_str().unwrap_or_default().to_string();
                    ReplicaState {
                        node: self.index_of(&name),
                        current: r["current"].as_bool().unwrap_or(false),
                        lag: r["lag"].as_u64().unwrap_or(0),
                        name,
                    }
                })
                .collect(),
        )
    }

    /// Whether `stream` has a leader and every other replica is current.
    pub async fn stream_current(&self, stream: &str) -> bool {
        matches!(self.stream_replicas(stream).await, Some(r) if r.iter().all(|r| r.current))
    }

    /// Node `i`'s local `(messages, last_seq)` of `stream`.
    pub async fn stream_state_on(&self, i: usize, stream: &str) -> Option<(u64, u64)> {
        let d = self.stream_detail(i, stream).await?;
        Some((d["state"]["messages"].as_u64()?, d["state"]["last_seq"].as_u64()?))
    }

    /// The node a client is connected to now (from the INFO it got last,
    /// which async-nats replaces on every reconnect); `None` while it is
    /// disconnected.
    pub fn connected_node(&self, client: &async_nats::Client) -> Option<usize> {
        if client.connection_state() != async_nats::connection::State::Connected {
            return None;
        }
        let info = client.try_server_info()?;
        self.nodes.iter().position(|n| n.client_port == info.port).or_else(|| self.index_of(&info.server_name))
    }

    /// A client given every node's URL: when its server dies it reconnects
    /// to another one by itself.
    pub async fn client(&self) -> Result<async_nats::Client> {
        connect_retrying(&self.urls_csv()).await
    }

    /// A client of node `i` only.
    pub async fn client_to(&self, i: usize) -> Result<async_nats::Client> {
        connect_retrying(&self.url(i)).await
    }
}

/// A dependency-free HTTP/1.0 GET on 127.0.0.1: `(status, body)`, or `None`
/// when the server does not answer within 2 s.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8(buf).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(2), exchange).await.ok().flatten()
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill9(i);
        }
        if std::thread::panicking() || std::env::var_os("MASTHEAD_KEEP_NATS_LOGS").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("test failed: nats cluster logs and stores kept in {}", dir.keep().display());
            }
        }
    }
}
