//! The real `masthead` binary's roles as child processes, against a real
//! nats-server and (optionally) the in-process SMTP server.

use crate::nats::NatsServer;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

pub struct System {
    pub nats: NatsServer,
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
        Ok(Self {
            nats: NatsServer::start()?,
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
            binary: binary.into(),
        })
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
            .env("MASTHEAD_NATS_URL", self.nats.url())
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
        let child = self
            .command(args, addr_file.as_deref())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting masthead {}", args.join(" ")))?;
        self.children.insert(name.to_owned(), child);
        Ok(())
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

    /// Imports a CSV of base addresses (`ref,street,postal_code,city,country`)
    /// through the real CLI; fails with its stderr if the import does.
    pub fn import_csv(&self, csv: &str) -> Result<()> {
        let path = self.data_dir.path().join("base.csv");
        std::fs::write(&path, csv).context("writing the CSV")?;
        let out = self.run(&["addresses", "import", path.to_str().context("a UTF-8 path")?])?;
        anyhow::ensure!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// The log a role wrote (stderr).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.data_dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Waits until the last api-serving role has written its address and
    /// answers /healthz there.
    pub async fn wait_http(&self) -> Result<()> {
        let file = self.http_addr_file.clone().context("no api-serving role was started")?;
        let port = crate::wait_until("masthead HTTP", Duration::from_secs(60), || {
            let file = file.clone();
            async move {
                let addr: std::net::SocketAddr = std::fs::read_to_string(&file).ok()?.trim().parse().ok()?;
                reqwest_lite(&format!("http://127.0.0.1:{}/healthz", addr.port())).await.then_some(addr.port())
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
