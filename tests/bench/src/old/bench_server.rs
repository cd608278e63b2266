//! A nats-server for bench commands: the one in `MASTHEAD_NATS_URL`, or a
//! throw-away local one with a temporary store.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalNats {
    child: Child,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl LocalNats {
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

/// The Go garbage-collector target a local nats-server runs with, unless
/// `GOGC` is already set. nats-server keeps an index entry per subject, and
/// Masthead has a subject per subscription, so its live heap grows with the
/// register. With Go's default (100) each collection starts once the heap
/// has doubled, and its mark phase (10–25 ms at a 100 MB heap on 2 cores)
/// stalls publishes: in `bench intake` nearly every window of requests over
/// 10 ms began within 30 ms of a collection (`GODEBUG=gctrace=1`). At 400
/// collections are a quarter as frequent, for a higher peak heap; deployments
/// cap that with `GOMEMLIMIT` (README, "Running nats-server").
pub const NATS_GOGC: &str = "400";

/// `GOGC` for a nats-server this process starts: the caller's, if set.
pub fn nats_gogc() -> String {
    std::env::var("GOGC").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| NATS_GOGC.to_owned())
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

/// Finds nats-server: `MASTHEAD_NATS_SERVER`, the project-local copy from
/// `infra/scripts/ensure-nats.sh`, or PATH.
pub fn find_nats_server() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("MASTHEAD_NATS_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        let candidate = d.join("infra/.tools/nats-server/usr/sbin/nats-server");
        if candidate.exists() {
            return Ok(candidate);
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    if let Ok(path) = std::env::var("PATH") {
        for d in std::env::split_paths(&path) {
            if d.join("nats-server").exists() {
                return Ok(d.join("nats-server"));
            }
        }
    }
    bail!("nats-server not found. Run infra/scripts/ensure-nats.sh (installs 2.10 into infra/.tools), put nats-server >= 2.10 on PATH, or set MASTHEAD_NATS_SERVER or MASTHEAD_NATS_URL")
}

/// Starts nats-server with JetStream on `port` (0: a free one) storing under
/// `store_dir` (None: a temporary directory).
pub fn start_local(port: u16, store_dir: Option<&Path>) -> Result<LocalNats> {
    let binary = find_nats_server()?;
    let port = if port == 0 { std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port() } else { port };
    let (dir, temp) = match store_dir {
        Some(d) => (d.to_path_buf(), None),
        None => {
            let t = tempfile::tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let child = Command::new(&binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(&dir)
        .env("GOGC", nats_gogc())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nats-server did not start listening on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(LocalNats { child, url: format!("nats://127.0.0.1:{port}"), _dir: temp })
}

/// Deletes a bench's stream and buckets: they are throw-away, and matter
/// when the server is a shared one from `MASTHEAD_NATS_URL`.
pub async fn delete_everything(nats: &crate::connect::Nats) {
    let _ = nats.js.delete_stream(&nats.topology.stream).await;
    for bucket in nats.topology.bucket_configs() {
        let _ = nats.js.delete_key_value(&bucket.bucket).await;
    }
}
