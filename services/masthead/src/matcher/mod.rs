//! `masthead matcher`: resolves each new subscription's address to a base
//! address, or registers it as a new one.
//!
//! One matcher decides at a time. Any number may run; they compete for a
//! lease in JetStream KV and the others wait hot, their address books kept
//! current. Two deciding at once could register the same new address twice
//! in two spellings; exact duplicates are impossible anyway (ids derive from
//! the canonical key), but near-duplicates need one decider.

pub mod address_book;
pub mod handler;

use crate::config::Config;
use crate::connect::Nats;
use address_book::AddressBook;
use anyhow::{Context, Result};
use handler::MatcherHandler;
use masthead_events::command_bus::CommandBus;
use masthead_events::consumer::{ConsumerRuntime, RuntimeConfig};
use masthead_events::lease::{Lease, RENEW_EVERY};
use masthead_events::store::EventStore;
use masthead_events::topology::ConsumerRole;
use masthead_matching::MatchConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub fn match_config(config: &Config) -> Result<MatchConfig> {
    let mut m = MatchConfig::default();
    if let Some(t) = config.match_threshold {
        anyhow::ensure!((0.0..=100.0).contains(&t), "MASTHEAD_MATCH_THRESHOLD must be between 0 and 100, got {t}");
        m.match_threshold = t;
    }
    Ok(m)
}

/// Builds the address book from the stream and keeps it current.
pub async fn load_address_book(
    nats: &Nats,
    config: MatchConfig,
    shutdown: &CancellationToken,
) -> Result<Arc<AddressBook>> {
    let book = Arc::new(AddressBook::new(config));
    let started = Instant::now();
    book.catch_up(&nats.js, &nats.topology).await.map_err(anyhow::Error::msg).context("loading base addresses")?;
    tracing::info!(addresses = book.len(), elapsed_ms = started.elapsed().as_millis() as u64, "address index built");
    let (b, js, topology, s) = (book.clone(), nats.js.clone(), nats.topology.clone(), shutdown.clone());
    tokio::spawn(async move { b.follow(&js, &topology, s).await });
    Ok(book)
}

pub struct MatcherOptions {
    pub retry_delay: Duration,
    pub lease_poll: Duration,
}

impl Default for MatcherOptions {
    fn default() -> Self {
        Self { retry_delay: Duration::from_secs(2), lease_poll: Duration::from_secs(1) }
    }
}

pub async fn run(nats: &Nats, config: &Config, options: MatcherOptions, shutdown: CancellationToken) -> Result<()> {
    let book = load_address_book(nats, match_config(config)?, &shutdown).await?;
    run_with_book(nats, book, options, shutdown).await
}

/// Runs the matcher on an address book that is already loaded and followed
/// (in `up`, the API's match preview shares it).
pub async fn run_with_book(
    nats: &Nats,
    book: Arc<AddressBook>,
    options: MatcherOptions,
    shutdown: CancellationToken,
) -> Result<()> {
    let store = EventStore::new(nats.js.clone(), nats.topology.clone());
    let leading = Arc::new(AtomicBool::new(false));
    let handler = Arc::new(MatcherHandler {
        book: book.clone(),
        subscriptions: CommandBus::new(store.clone(), ()),
        addresses: CommandBus::new(store, ()),
        leading: leading.clone(),
        retry_delay: options.retry_delay,
    });
    let leases = nats.js.get_key_value(nats.topology.leases_bucket()).await.context("opening the lease bucket")?;
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
    while !shutdown.is_cancelled() {
        let lease = tokio::select! {
            _ = shutdown.cancelled() => break,
            l = Lease::acquire(&leases, "matcher", &holder, options.lease_poll) => l,
        };
        let mut lease = match lease {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the matcher lease");
                continue;
            }
        };
        // Everything registered before we took over must be in the index
        // before the first decision.
        if let Err(e) = book.catch_up(&nats.js, &nats.topology).await {
            tracing::warn!(error = %e, "address catch-up failed; giving the lease back");
            lease.release().await;
            tokio::time::sleep(options.lease_poll).await;
            continue;
        }
        tracing::info!(addresses = book.len(), "this matcher is active");
        leading.store(true, Ordering::SeqCst);
        let term = shutdown.child_token();
        let renewer = {
            let (term, leading) = (term.clone(), leading.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = term.cancelled() => break,
                        _ = tokio::time::sleep(RENEW_EVERY) => {}
                    }
                    if let Err(e) = lease.renew().await {
                        tracing::warn!(error = %e, "matcher lease lost; standing down");
                        leading.store(false, Ordering::SeqCst);
                        term.cancel();
                        return;
                    }
                }
                leading.store(false, Ordering::SeqCst);
                lease.release().await;
            })
        };
        let runtime = ConsumerRuntime::new(
            nats.js.clone(),
            nats.topology.clone(),
            ConsumerRole::Matcher,
            RuntimeConfig::default(),
        );
        let result = runtime.run(handler.clone(), term.clone()).await;
        term.cancel();
        let _ = renewer.await;
        result.context("matcher consumer")?;
    }
    Ok(())
}
