//! The system under test: every role, started through
//! `masthead::system::start` as `masthead up` starts them, on a runtime of
//! its own.

use anyhow::{Context, Result};
use masthead::config::Config;
use masthead::system::{self, Roles};
use std::net::SocketAddr;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct System {
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    thread: std::thread::JoinHandle<Result<()>>,
}

/// Every role against the configured NATS server (none started here).
const ROLES: Roles = Roles { api: true, matcher: true, projector: true, mailer: true, local_nats: false };

/// Runs the system on its own runtime threads, as a separate server process
/// would, so that the load generator and the observer do not share its
/// scheduler (they still share the 2 cores, as a co-located client would).
pub async fn start_system(config: Config) -> Result<System> {
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<Result<SocketAddr>>();
    let s = shutdown.clone();
    let thread = std::thread::Builder::new().name("masthead-up".into()).spawn(move || -> Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        rt.block_on(async move {
            match system::start(&config, ROLES, s.clone()).await {
                Ok(running) => {
                    let _ = tx.send(Ok(running.http_addr));
                    s.cancelled().await;
                    running.wait().await
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    Ok(())
                }
            }
        })
    })?;
    let http_addr = rx.await.context("the system thread ended before it started")??;
    Ok(System { http_addr, shutdown, thread })
}

impl System {
    /// Stops every role; bounded, so a stuck role cannot hang the bench.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let joined = tokio::task::spawn_blocking(move || self.thread.join());
        match tokio::time::timeout(Duration::from_secs(20), joined).await {
            Ok(Ok(Ok(Ok(())))) => {}
            Ok(Ok(Ok(Err(e)))) => eprintln!("warning: the system stopped with an error: {e:#}"),
            Ok(_) => eprintln!("warning: the system thread panicked"),
            Err(_) => eprintln!("warning: the system did not stop within 20 s"),
        }
    }
}
