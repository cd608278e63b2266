//! `masthead up`: the whole system in one process on embedded defaults —
//! api, matcher, projector and mailer, the embedded projection store, the
//! mail outbox, and (unless `MASTHEAD_NATS_URL` is set) a local nats-server
//! that it starts and stops itself.

use crate::api;
use crate::bench::server::{start_local, LocalNats};
use crate::config::Config;
use crate::connect::{connect, Nats};
use crate::roles::{app_state, serve};
use anyhow::{Context, Result};
use masthead_mailer::Mailer;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Handles of a running system, for tests and the bench.
pub struct Running {
    pub nats_url: String,
    pub http_addr: std::net::SocketAddr,
    pub tasks: Vec<tokio::task::JoinHandle<Result<()>>>,
    pub local_nats: Option<LocalNats>,
}

impl Running {
    /// Waits for every role to finish after shutdown was requested.
    pub async fn wait(self) -> Result<()> {
        for t in self.tasks {
            t.await.context("role panicked")??;
        }
        drop(self.local_nats);
        Ok(())
    }
}

fn local_nats(config: &Config) -> Result<Option<LocalNats>> {
    if config.nats_url.is_some() {
        return Ok(None);
    }
    let dir = config.data_dir.join("nats");
    // 4222 when free, so a second shell can reach it; otherwise any port.
    let port = if std::net::TcpListener::bind("127.0.0.1:4222").is_ok() { 4222 } else { 0 };
    let nats =
        start_local(port, Some(&dir)).context("starting a local nats-server (set MASTHEAD_NATS_URL to use another)")?;
    tracing::info!(url = %nats.url, store = %dir.display(), "local nats-server started");
    Ok(Some(nats))
}

/// Starts every role; returns once they are all running.
pub async fn start(config: &Config, mailer: Mailer, shutdown: CancellationToken) -> Result<Running> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
    let local = local_nats(config)?;
    let url = local.as_ref().map(|l| l.url.clone()).unwrap_or_else(|| config.nats_url_or_default());
    let nats = connect(config, &url).await?;
    let reads = crate::projector::open_reads(config, &nats).await?;
    let book = crate::matcher::load_address_book(&nats, crate::matcher::match_config(config)?, &shutdown).await?;

    let mut state = app_state(&nats).await?;
    state.reads = Some(reads.clone());
    state.book = Some(book.clone());
    let listener = crate::roles::bind_http(config).await?;
    let http_addr = listener.local_addr()?;

    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(serve(listener, api::router(state), shutdown.clone())));
    let matcher_nats = second_connection(config, &url).await?;
    let s = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        crate::matcher::run_with_book(&matcher_nats, book, crate::matcher::MatcherOptions::default(), s).await
    }));
    let (projector_nats, c, s) = (second_connection(config, &url).await?, config.clone(), shutdown.clone());
    tasks.push(tokio::spawn(async move { crate::projector::run(&c, &projector_nats, reads, s).await }));
    let (mailer_nats, s) = (second_connection(config, &url).await?, shutdown.clone());
    tasks.push(tokio::spawn(async move { crate::mailer::run(&mailer_nats, mailer, Duration::from_secs(1), s).await }));
    tasks.push(tokio::spawn(crate::roles::poll_lag_forever(nats, shutdown.clone())));
    Ok(Running { nats_url: url, http_addr, tasks, local_nats: local })
}

/// Each role gets its own connection, as separate processes would: one slow
/// consumer's flow control does not stall another's.
async fn second_connection(config: &Config, url: &str) -> Result<Nats> {
    connect(config, url).await
}

pub async fn run(config: &Config, shutdown: CancellationToken) -> Result<()> {
    let mailer = Mailer::from_config(crate::mailer::mailer_config(config)?).context("mail transport")?;
    let running = start(config, mailer, shutdown.clone()).await?;
    let outbox = if config.smtp_url.is_some() {
        "SMTP".to_owned()
    } else {
        config.data_dir.join("outbox").display().to_string()
    };
    println!("masthead is up");
    println!("  web form   http://{}/", running.http_addr);
    println!("  API docs   http://{}/api/docs/", running.http_addr);
    println!("  dashboard  http://{}/dashboard", running.http_addr);
    println!("  NATS       {}", running.nats_url);
    println!("  mail       {outbox}");
    println!("Ctrl-C stops everything.");
    shutdown.cancelled().await;
    running.wait().await
}
