//! The nats-server a bench measures against: the shared one named by
//! `--nats-url` / `MASTHEAD_NATS_URL`, or a throw-away local one with a
//! temporary store, started here (rather than with the test-support
//! `NatsServer`) because the benches set its `GOGC`, read its CPU time by
//! pid and report its peak memory.

use anyhow::{bail, Context, Result};
use masthead::system::Nats;
use masthead_test_support::nats::{free_port, nats_server_binary};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Go garbage-collector target a local nats-server runs with, unless
/// `GOGC` is already set. nats-server keeps an index entry per subject, and
/// Masthead has a subject per subscription, so its live heap grows with the
/// register. With Go's default (100) each collection starts once the heap
/// has doubled, and its mark phase (10–25 ms at a 100 MB heap on 2 cores)
/// stalls publishes: in `intake` nearly every window of requests over 10 ms
/// began within 30 ms of a collection (`GODEBUG=gctrace=1`). At 400
/// collections are a quarter as frequent, for a higher peak heap; deployments
/// cap that with `GOMEMLIMIT` (README, "Running nats-server").
pub const NATS_GOGC: &str = "400";

/// `GOGC` for a nats-server this process starts: the caller's, if set.
pub fn nats_gogc() -> String {
    std::env::var("GOGC").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| NATS_GOGC.to_owned())
}

pub struct LocalNats {
    child: Child,
    pub url: String,
    _store: tempfile::TempDir,
}

impl LocalNats {
    /// Starts nats-server with JetStream on a free port, storing in a
    /// temporary directory, and waits until it listens.
    pub fn start() -> Result<Self> {
        let binary = nats_server_binary()?;
        let port = free_port()?;
        let store = tempfile::tempdir()?;
        let child = Command::new(&binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store.path())
            .env("GOGC", nats_gogc())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let server = LocalNats { child, url: format!("nats://127.0.0.1:{port}"), _store: store };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("nats-server did not start listening on port {port}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory so far (`VmHWM`), where /proc
    /// tells it: the price of [`NATS_GOGC`].
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?.trim();
        kb.parse::<u64>().ok().map(|kb| kb * 1024)
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server of one bench run.
pub struct Server {
    pub url: String,
    /// Set when this process started the server.
    pub local: Option<LocalNats>,
}

impl Server {
    /// The shared server at `shared`, or a local one started now.
    pub fn shared_or_local(shared: Option<String>) -> Result<Self> {
        match shared {
            Some(url) => Ok(Server { url, local: None }),
            None => {
                let local = LocalNats::start()?;
                Ok(Server { url: local.url.clone(), local: Some(local) })
            }
        }
    }

    /// The local server's pid, for CPU readings; a shared one is not measured.
    pub fn pid(&self) -> Option<u32> {
        self.local.as_ref().map(LocalNats::pid)
    }

    /// " (started here, GOGC=…)" for a local server.
    pub fn describe(&self) -> String {
        match &self.local {
            Some(_) => format!("{} (started here, GOGC={})", self.url, nats_gogc()),
            None => self.url.clone(),
        }
    }

    pub fn peak_rss_bytes(&self) -> Option<u64> {
        self.local.as_ref().and_then(LocalNats::peak_rss_bytes)
    }
}

/// Deletes a bench's stream and buckets: they are throw-away, and matter
/// when the server is a shared one.
pub async fn delete_everything(nats: &Nats) {
    let _ = nats.js.delete_stream(&nats.topology.stream).await;
    let _ = nats.js.delete_stream(nats.topology.anchors_stream()).await;
    for bucket in nats.topology.bucket_configs() {
        let _ = nats.js.delete_key_value(&bucket.bucket).await;
    }
}
