//! Starting each role: connect, build what it needs, run until shutdown.

use crate::api::{self, AppState};
use crate::config::Config;
use crate::connect::{connect, Nats};
use crate::intake::Intake;
use anyhow::{Context, Result};
use masthead_events::idempotency::IdempotencyRecords;
use masthead_events::key_vault::KeyVault;
use masthead_events::store::EventStore;
use tokio_util::sync::CancellationToken;

/// Everything the API needs, built on one NATS connection.
pub async fn app_state(nats: &Nats) -> Result<AppState> {
    state_with(nats, Intake::new).await
}

/// The state of a role that serves only health and metrics: it never
/// registers anyone, so it writes no data keys ahead.
async fn ops_state(nats: &Nats) -> Result<AppState> {
    state_with(nats, Intake::idle).await
}

async fn state_with(
    nats: &Nats,
    intake: fn(EventStore, KeyVault, IdempotencyRecords, async_nats::Client) -> Intake,
) -> Result<AppState> {
    let store = EventStore::new(nats.js.clone(), nats.topology.clone());
    let vault = KeyVault::open(&nats.js, &nats.topology.keys_bucket()).await.context("opening the key vault")?;
    let records = IdempotencyRecords::open(&nats.js, &nats.topology.idempotency_bucket())
        .await
        .context("opening idempotency records")?;
    let intake = intake(store.clone(), vault.clone(), records, nats.client.clone());
    Ok(AppState {
        intake,
        store,
        vault,
        client: nats.client.clone(),
        topology: nats.topology.clone(),
        reads: None,
        book: None,
    })
}

pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router, shutdown: CancellationToken) -> Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("HTTP server failed")
}

pub async fn run_api(config: &Config, shutdown: CancellationToken) -> Result<()> {
    let nats = connect(config, &config.nats_url_or_default()).await?;
    let mut state = app_state(&nats).await?;
    // The API reads the projections from MongoDB, or from an embedded
    // generation pinned for an auditor. The live embedded file belongs to
    // the projector's process (redb locks it, even for readers), so a
    // standalone API on the embedded store answers single subscriptions from
    // the event store and the list endpoints with 503; `masthead up` shares
    // one handle between both roles instead.
    let pinned = std::env::var("MASTHEAD_PROJECTION_GENERATION").is_ok();
    if config.mongodb_uri.is_some() || pinned {
        let reads = crate::projector::open_reads(config, &nats).await?;
        tokio::spawn(crate::projector::follow_generations(
            config.clone(),
            nats.js.clone(),
            nats.topology.clone(),
            reads.clone(),
            None,
            shutdown.clone(),
        ));
        state.reads = Some(reads);
    } else {
        tracing::info!("embedded projection store: read models are served by `masthead up`, or use MongoDB");
    }
    let book = crate::matcher::load_address_book(&nats, crate::matcher::match_config(config)?, &shutdown).await?;
    state.book = Some(book);
    tokio::spawn(poll_lag_forever(connect(config, &config.nats_url_or_default()).await?, shutdown.clone()));
    let listener = bind_http(config).await?;
    tracing::info!(addr = %listener.local_addr()?, "api listening");
    serve(listener, api::router(state), shutdown).await
}

pub async fn run_matcher(config: &Config, shutdown: CancellationToken) -> Result<()> {
    let nats = connect(config, &config.nats_url_or_default()).await?;
    let ops = ops_server(config, &nats, shutdown.clone()).await?;
    let result = crate::matcher::run(&nats, config, crate::matcher::MatcherOptions::default(), shutdown.clone()).await;
    shutdown.cancel();
    let _ = ops.await;
    result
}

pub async fn run_import(config: &Config, file: &std::path::Path, strict: bool) -> Result<()> {
    let nats = connect(config, &config.nats_url_or_default()).await?;
    let store = EventStore::new(nats.js.clone(), nats.topology.clone());
    let options = crate::import::ImportOptions { strict, ..Default::default() };
    let report = crate::import::import(&store, file, &options).await?;
    println!(
        "{} rows in {:.2} s ({:.0} rows/s): {} imported, {} already present, {} duplicate rows in the file, {} flagged for missing fields, {} skipped",
        report.rows,
        report.elapsed.as_secs_f64(),
        report.rows as f64 / report.elapsed.as_secs_f64().max(1e-9),
        report.imported,
        report.already_present,
        report.duplicates_in_file,
        report.flagged,
        report.skipped.len()
    );
    Ok(())
}

/// Binds `MASTHEAD_HTTP_ADDR` and, when `MASTHEAD_HTTP_ADDR_FILE` is set,
/// writes the bound address there. With port 0 that is the only way to
/// learn the port; picking a free port beforehand races every other process
/// on the machine (outgoing connections take ports from the same range).
pub async fn bind_http(config: &Config) -> Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding {} (set MASTHEAD_HTTP_ADDR to use another address)", config.http_addr))?;
    if let Some(path) = &config.http_addr_file {
        let bound = listener.local_addr()?;
        // Written whole and renamed into place, so a reader polling for the
        // file never sees half an address. The partial file's name is this
        // process's own, so two processes never rename each other's.
        let mut partial = path.as_os_str().to_owned();
        partial.push(format!(".{}.partial", std::process::id()));
        let partial = std::path::PathBuf::from(partial);
        std::fs::write(&partial, format!("{bound}\n"))
            .and_then(|()| std::fs::rename(&partial, path))
            .with_context(|| format!("writing the HTTP address to {}", path.display()))?;
    }
    Ok(listener)
}

/// Removes `MASTHEAD_HTTP_ADDR_FILE` left by a previous run, so that until
/// this one listens the file names no port at all.
pub fn forget_http_addr(config: &Config) -> Result<()> {
    match config.http_addr_file.as_deref().map(std::fs::remove_file) {
        None | Some(Ok(())) => Ok(()),
        Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Some(Err(e)) => Err(e).context("removing the previous run's MASTHEAD_HTTP_ADDR_FILE"),
    }
}

/// Health, readiness and metrics for roles without the full API.
pub async fn ops_server(
    config: &Config,
    nats: &Nats,
    shutdown: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>> {
    let state = ops_state(nats).await?;
    let listener = bind_http(config).await?;
    let router = api::ops_routes().with_state(api::SharedState::from(state));
    Ok(tokio::spawn(async move {
        let _ = serve(listener, router, shutdown).await;
    }))
}

pub async fn run_projector(config: &Config, shutdown: CancellationToken) -> Result<()> {
    let nats = connect(config, &config.nats_url_or_default()).await?;
    let ops = ops_server(config, &nats, shutdown.clone()).await?;
    let reads = crate::projector::open_reads(config, &nats).await?;
    tokio::spawn(poll_lag_forever(connect(config, &config.nats_url_or_default()).await?, shutdown.clone()));
    let result = crate::projector::run(config, &nats, reads, shutdown.clone()).await;
    shutdown.cancel();
    let _ = ops.await;
    result
}

pub async fn run_mailer(config: &Config, shutdown: CancellationToken) -> Result<()> {
    let nats = connect(config, &config.nats_url_or_default()).await?;
    let ops = ops_server(config, &nats, shutdown.clone()).await?;
    let mailer =
        masthead_mailer::Mailer::from_config(crate::mailer::mailer_config(config)?).context("mail transport")?;
    let result = crate::mailer::run(&nats, mailer, std::time::Duration::from_secs(1), shutdown.clone()).await;
    shutdown.cancel();
    let _ = ops.await;
    result
}

/// Keeps the consumer-lag gauges current (an interval, not per request).
pub async fn poll_lag_forever(nats: Nats, shutdown: CancellationToken) -> Result<()> {
    crate::api::stats::run_lag_poller(nats.js, nats.topology, std::time::Duration::from_secs(5), shutdown).await;
    Ok(())
}

/// Cancels the token on Ctrl-C or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    t.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}
