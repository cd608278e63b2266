//! The local nats-server `masthead up` starts when no `MASTHEAD_NATS_URL`
//! is set, and stops with it.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalNats {
    child: Child,
    pub url: String,
}

/// The Go garbage-collector target the local nats-server runs with, unless
/// `GOGC` is already set. nats-server keeps an index entry per subject, and
/// Masthead has a subject per subscription, so its live heap grows with the
/// register; with Go's default (100) each collection's mark phase stalls
/// publishes more often. At 400 collections are a quarter as frequent, for
/// a higher peak heap (README, "Running nats-server").
const NATS_GOGC: &str = "400";

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

/// The nats-server to start: `configured`, else the project-local copy
/// `infra/scripts/ensure-nats.sh` installs (searched upwards from the
/// working directory), else one on PATH.
fn binary(configured: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = configured {
        return Ok(p.to_path_buf());
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        for candidate in
            ["infra/.tools/nats-server-2.14.6/nats-server", "infra/.tools/nats-server/usr/sbin/nats-server"]
        {
            if d.join(candidate).exists() {
                return Ok(d.join(candidate));
            }
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(found) = std::env::split_paths(&path).map(|d| d.join("nats-server")).find(|p| p.exists()) {
            return Ok(found);
        }
    }
    bail!("nats-server not found. Run infra/scripts/ensure-nats.sh, put nats-server >= 2.10 on PATH, or set MASTHEAD_NATS_SERVER or MASTHEAD_NATS_URL")
}

/// Starts nats-server with JetStream on 127.0.0.1:4222 when that is free
/// (so a second shell can reach it), else on a free port, storing under
/// `store_dir`.
pub fn start(configured: Option<&Path>, store_dir: &Path) -> Result<LocalNats> {
    let binary = binary(configured)?;
    let port = match std::net::TcpListener::bind("127.0.0.1:4222") {
        Ok(_) => 4222,
        Err(_) => std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port(),
    };
    std::fs::create_dir_all(store_dir).with_context(|| format!("creating {}", store_dir.display()))?;
    let gogc = std::env::var("GOGC").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| NATS_GOGC.to_owned());
    let child = Command::new(&binary)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store_dir)
        .env("GOGC", gogc)
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
    Ok(LocalNats { child, url: format!("nats://127.0.0.1:{port}") })
}
