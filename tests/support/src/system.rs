//! The real `masthead` binary's roles as child processes, against a real
//! nats-server (or a cluster, [`System::on_cluster`]) and (optionally) the
//! in-process SMTP server.

use crate::nats::NatsServer;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

pub struct System {
    /// The nats-server this system started; `None` on a cluster the test
    /// owns (`on_cluster`).
    nats: Option<NatsServer>,
    /// What `MASTHEAD_NATS_URL` says: the server's URL, or the cluster's
    /// comma-separated list.
    nats_url: String,
    pub data_dir: tempfile::TempDir,
    pub stream: String,
    /// The port the last api-serving role (`up`, `api`) bound, learnt by
    /// `wait_http` from its `MASTHEAD_HTTP_ADDR_FILE`. Every role listens on
    /// port 0: a port picked beforehand could be taken by then.
    http_port: AtomicU16,
    http_addr_file: Option<PathBuf>,
    pub smtp_url: Option<String>,
    pub extra_env: Vec<(String, String)>,
    children: HashMap<String, Child>,
    binary: PathBuf,
}

impl System {
    /// A nats-server and a data directory; no role runs yet. `binary` is
    /// the `masthead` executable under test (`env!("CARGO_BIN_EXE_masthead")`).
    pub fn new(binary: impl Into<PathBuf>, smtp_url: Option<String>) -> Result<Self> {
        let nats = NatsServer::start()?;
        let url = nats.url();
        Self::with_nats(binary.into(), smtp_url, Some(nats), url)
    }

    /// A data directory for roles that connect to `nats_urls` (a cluster's
    /// comma-separated list, which the test's `NatsCluster` owns); no role
    /// runs yet. Set `MASTHEAD_STREAM_REPLICAS` through `extra_env`.
    pub fn on_cluster(binary: impl Into<PathBuf>, smtp_url: Option<String>, nats_urls: &str) -> Result<Self> {
        Self::with_nats(binary.into(), smtp_url, None, nats_urls.to_owned())
    }

    fn with_nats(
        binary: PathBuf,
        smtp_url: Option<String>,
        nats: Option<NatsServer>,
        nats_url: String,
    ) -> Result<Self> {
        Ok(Self {
            nats,
            nats_url,
            data_dir: tempfile::tempdir()?,
            stream: "E2E".to_owned(),
            http_port: AtomicU16::new(0),
            http_addr_file: None,
            smtp_url,
            extra_env: vec![
                ("MASTHEAD_MAIL_RETRY_BASE_MS".into(), "100".into()),
                ("MASTHEAD_MAIL_RETRY_CAP_MS".into(), "800".into()),
            ],
            children: HashMap::new(),
            binary,
        })
    }

    /// The nats-server this system started. Panics on a cluster's system.
    pub fn nats(&mut self) -> &mut NatsServer {
        self.nats.as_mut().expect("this System runs on a cluster the test owns; use the NatsCluster")
    }

    /// `MASTHEAD_NATS_URL` of every role: one URL or a comma-separated list.
    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    /// A test's own connection to the system's NATS (every URL of a
    /// cluster, so it fails over by itself), retried briefly while the
    /// server starts.
    pub async fn client(&self) -> Result<async_nats::Client> {
        crate::nats::connect_retrying(&self.nats_url).await
    }

    /// The api-serving role's URL. Panics before `wait_http` found it.
    pub fn base_url(&self) -> String {
        let port = self.http_port.load(Ordering::SeqCst);
        assert_ne!(port, 0, "no api-serving role is known to listen yet: call wait_http after starting one");
        format!("http://127.0.0.1:{port}")
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    fn command(&self, args: &[&str], http_addr_file: Option<&Path>) -> Command {
        let mut c = Command::new(&self.binary);
        c.args(args)
            .env("MASTHEAD_NATS_URL", &self.nats_url)
            .env("MASTHEAD_STREAM", &self.stream)
            .env("MASTHEAD_DATA_DIR", self.data_dir.path())
            .env("MASTHEAD_HTTP_ADDR", "127.0.0.1:0")
            .env("MASTHEAD_LOG_FORMAT", "json")
            // Tests submit many subscriptions from one address; a test that
            // wants the rate limit sets it in `extra_env`.
            .env("MASTHEAD_INTAKE_RATE_PER_MINUTE", "0")
            .env("RUST_LOG", std::env::var("MASTHEAD_TEST_LOG").unwrap_or_else(|_| "warn".into()));
        match &self.smtp_url {
            Some(u) => c.env("MASTHEAD_SMTP_URL", u),
            None => c.env_remove("MASTHEAD_SMTP_URL"),
        };
        match http_addr_file {
            Some(f) => c.env("MASTHEAD_HTTP_ADDR_FILE", f),
            None => c.env_remove("MASTHEAD_HTTP_ADDR_FILE"),
        };
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    /// Starts a long-running role (`up`, `api`, `matcher`, …) under `name`.
    /// An api-serving role becomes the one `base_url` names, once
    /// `wait_http` has learnt its port.
    pub fn start(&mut self, name: &str, args: &[&str]) -> Result<()> {
        let addr_file = if matches!(args.first(), Some(&"up") | Some(&"api")) {
            let file = self.data_dir.path().join(format!("{name}.http-addr"));
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).context("removing a stale HTTP address file"),
            }
            self.http_port.store(0, Ordering::SeqCst);
            self.http_addr_file = Some(file.clone());
            Some(file)
        } else {
            None
        };
        let log = std::fs::File::create(self.data_dir.path().join(format!("{name}.log")))?;
        let out = std::fs::File::create(self.data_dir.path().join(format!("{name}.out")))?;
        let child = self
            .command(args, addr_file.as_deref())
            .stdout(out)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting masthead {}", args.join(" ")))?;
        self.children.insert(name.to_owned(), child);
        Ok(())
    }

    /// The process id of a running role, e.g. to find it in the matcher's
    /// lease (whose holder names its process).
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children.get(name).map(Child::id)
    }

    /// Whether the role `name` is still running (it may have exited).
    pub fn is_running(&mut self, name: &str) -> bool {
        matches!(self.children.get_mut(name).map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Waits until the role `name` (a one-shot command such as `setup`)
    /// has exited; its status, or `None` if it still runs after `timeout`.
    pub async fn wait_exit(&mut self, name: &str, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.children.get_mut(name).map(|c| c.try_wait()) {
                self.children.remove(name);
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }

    /// SIGKILL: a crash in the middle of whatever it was doing.
    pub fn kill9(&mut self, name: &str) {
        if let Some(mut c) = self.children.remove(name) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        let mut c = self.children.remove(name)?;
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        for _ in 0..400 {
            if let Ok(Some(status)) = c.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// Runs a one-shot command (`addresses import …`, `dlq list`) to completion.
    pub fn run(&self, args: &[&str]) -> Result<std::process::Output> {
        self.command(args, None).output().with_context(|| format!("running masthead {}", args.join(" ")))
    }

    /// A token from the real CLI (`masthead token issue --role ROLE`),
    /// signed with the data directory's local secret as `up` and `api` use
    /// it.
    pub fn token(&self, role: &str) -> Result<String> {
        let out = self.run(&["token", "issue", "--role", role, "--ttl", "1h"])?;
        anyhow::ensure!(out.status.success(), "token issue failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(String::from_utf8(out.stdout).context("a UTF-8 token")?.trim().to_owned())
    }

    /// Imports a CSV of base addresses (`ref,street,postal_code,city,country`)
    /// through the real CLI; fails with its stderr if the import does.
    pub fn import_csv(&self, csv: &str) -> Result<()> {
        let path = self.data_dir.path().join("base.csv");
        std::fs::write(&path, csv).context("writing the CSV")?;
        let out = self.run(&["addresses", "import", path.to_str().context("a UTF-8 path")?])?;
        anyhow::ensure!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// What a role printed (stdout).
    pub fn output(&self, name: &str) -> String {
        std::fs::read_to_string(self.data_dir.path().join(format!("{name}.out"))).unwrap_or_default()
    }

    /// The log a role wrote (stderr).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.data_dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Waits until the last api-serving role has written its address and
    /// is ready there (`/readyz` 200): it listens before it has connected
    /// to NATS and set up the stream, and answers 503 until then.
    pub async fn wait_http(&self) -> Result<()> {
        self.wait_for("readyz").await
    }

    /// Waits until the last api-serving role listens and is alive
    /// (`/healthz` 200), ready or not.
    pub async fn wait_listening(&self) -> Result<()> {
        self.wait_for("healthz").await
    }

    async fn wait_for(&self, probe: &str) -> Result<()> {
        let file = self.http_addr_file.clone().context("no api-serving role was started")?;
        let port = crate::wait_until(&format!("masthead HTTP /{probe}"), Duration::from_secs(60), || {
            let file = file.clone();
            async move {
                let addr: std::net::SocketAddr = std::fs::read_to_string(&file).ok()?.trim().parse().ok()?;
                reqwest_lite(&format!("http://127.0.0.1:{}/{probe}", addr.port())).await.then_some(addr.port())
            }
        })
        .await?;
        self.http_port.store(port, Ordering::SeqCst);
        Ok(())
    }
}

/// A dependency-free GET for readiness checks.
async fn reqwest_lite(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else { return false };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(mut s) = tokio::net::TcpStream::connect(host).await else { return false };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if s.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf).await, Ok(n) if n >= 12 && &buf[9..12] == b"200")
}

impl Drop for System {
    fn drop(&mut self) {
        for (_, mut c) in self.children.drain() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            // Keep the role logs of a failed test for whoever debugs it.
            let kept =
                std::mem::replace(&mut self.data_dir, tempfile::tempdir().unwrap_or_else(|_| std::process::abort()));
            eprintln!("test failed: role logs kept in {}", kept.keep().display());
        }
    }
}
