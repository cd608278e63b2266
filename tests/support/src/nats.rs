//! A real nats-server with JetStream for one test.

use anyhow::{bail, Context, Result};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    binary: PathBuf,
}

/// Finds nats-server: `MASTHEAD_NATS_SERVER`, the project-local copy that
/// `infra/scripts/ensure-nats.sh` installs, or PATH.
pub fn nats_server_binary() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("MASTHEAD_NATS_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let local = root.join("infra/.tools/nats-server/usr/sbin/nats-server");
    if local.exists() {
        return Ok(local);
    }
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("nats-server");
            if candidate.exists() {
                return Ok(candidate);
            }
        }
    }
    bail!("nats-server not found: run infra/scripts/ensure-nats.sh or set MASTHEAD_NATS_SERVER")
}

/// A nats-server release line the project supports: production runs 2.14,
/// and 2.10 is the oldest line the code must still work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatsLine {
    /// The production line, pinned to 2.14.6 by `infra/scripts/ensure-nats.sh`.
    V2_14,
    /// The oldest supported line, 2.10.27 (`infra/scripts/ensure-nats.sh 2.10`).
    V2_10,
}

impl NatsLine {
    /// `(major, minor)` of the line.
    pub fn major_minor(self) -> (u32, u32) {
        match self {
            NatsLine::V2_14 => (2, 14),
            NatsLine::V2_10 => (2, 10),
        }
    }
}

/// `(major, minor, patch)` of a nats-server binary, from `--version`
/// ("nats-server: v2.14.6").
pub fn nats_server_version(binary: &Path) -> Result<(u32, u32, u32)> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.trim().rsplit('v').next().unwrap_or_default();
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(b)), Some(Ok(c))) => Ok((a, b, c)),
        _ => bail!("{} --version printed {text:?}, not a nats-server version", binary.display()),
    }
}

/// Finds a nats-server of `line`, checking each candidate's `--version`:
/// for 2.14, `MASTHEAD_NATS_SERVER`, then `infra/.tools/nats-server-2.14.6`;
/// for 2.10, `MASTHEAD_NATS_SERVER_2_10`, `MASTHEAD_NATS_SERVER`, then the
/// Debian copy under `infra/.tools/nats-server`; for both, last, PATH. A
/// candidate of another line is passed over, so `MASTHEAD_NATS_SERVER`
/// pointing at 2.14 does not hide an installed 2.10.
pub fn nats_server_binary_for(line: NatsLine) -> Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates: Vec<PathBuf> = Vec::new();
    let env = |name: &str| std::env::var_os(name).map(PathBuf::from);
    match line {
        NatsLine::V2_14 => {
            candidates.extend(env("MASTHEAD_NATS_SERVER"));
            candidates.push(root.join("infra/.tools/nats-server-2.14.6/nats-server"));
        }
        NatsLine::V2_10 => {
            candidates.extend(env("MASTHEAD_NATS_SERVER_2_10"));
            candidates.extend(env("MASTHEAD_NATS_SERVER"));
            candidates.push(root.join("infra/.tools/nats-server/usr/sbin/nats-server"));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("nats-server")));
    }
    let want = line.major_minor();
    let mut seen = Vec::new();
    for c in candidates {
        if !c.exists() {
            continue;
        }
        match nats_server_version(&c) {
            Ok((a, b, _)) if (a, b) == want => return Ok(c),
            Ok((a, b, p)) => seen.push(format!("{} is {a}.{b}.{p}", c.display())),
            Err(e) => seen.push(e.to_string()),
        }
    }
    let arg = if line == NatsLine::V2_10 { " 2.10" } else { "" };
    bail!(
        "no nats-server {}.{} found ({}): run infra/scripts/ensure-nats.sh{arg}",
        want.0,
        want.1,
        if seen.is_empty() { "no candidate exists".to_string() } else { seen.join("; ") }
    )
}

/// A port nobody listens on, never handed out twice by this process: tests
/// run in parallel, and the OS may offer a just-released port again.
pub fn free_port() -> Result<u16> {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let l = TcpListener::bind("127.0.0.1:0")?;
        let port = l.local_addr()?.port();
        let mut used = HANDED_OUT.lock().map_err(|_| anyhow::anyhow!("port registry poisoned"))?;
        if !used.contains(&port) {
            used.push(port);
            return Ok(port);
        }
    }
}

impl NatsServer {
    /// Starts a fresh server and waits until it accepts connections.
    pub fn start() -> Result<Self> {
        let mut server =
            Self { child: None, port: free_port()?, store: tempfile::tempdir()?, binary: nats_server_binary()? };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        let child = Command::new(&self.binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                bail!("nats-server did not listen on {} within 10 s", self.port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// SIGKILL: what a crash looks like. Data already synced survives.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait: a clean stop.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port and store directory.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    /// Starts a stopped server again.
    pub fn start_again(&mut self) -> Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        self.spawn()
    }

    /// Connects, retrying briefly: the port accepts TCP a moment before the
    /// server finishes starting JetStream.
    pub async fn client(&self) -> Result<async_nats::Client> {
        connect_retrying(&self.url()).await
    }
}

/// Connects to `urls` (one URL, or a cluster's comma-separated list, which
/// the client then fails over between by itself), retrying for up to 10 s
/// while a server starts.
pub async fn connect_retrying(urls: &str) -> Result<async_nats::Client> {
    let addrs = masthead_jetstream::connect::server_addrs(urls)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match async_nats::connect(addrs.clone()).await {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(e).with_context(|| format!("connecting to {urls}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}
