//! The matcher: the durable consumer that resolves each new subscription's
//! address to a base address, or registers it as a new one.
//!
//! One matcher decides at a time. Any number may run; they compete for a
//! lease in JetStream KV and the others wait hot, their address books kept
//! current. Two deciding at once could register the same new address twice
//! in two spellings; exact duplicates are impossible anyway (ids derive from
//! the canonical key), but near-duplicates need one decider.

pub mod address_book;
pub mod convert;
pub mod handler;
pub mod keys;

use crate::MatchConfig;
use address_book::AddressBook;
use async_nats::jetstream;
use handler::MatcherHandler;
use masthead_jetstream::command_bus::CommandBus;
use masthead_jetstream::consumer::{ConsumerError, ConsumerRuntime, RuntimeConfig};
use masthead_jetstream::lease::{Lease, LeaseError, RENEW_EVERY};
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::{ConsumerRole, Topology};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Why the matcher could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    /// The base addresses could not be read from the stream at start-up.
    /// NATS is away or the stream is missing: retry, or run `masthead setup`.
    #[error("loading the base addresses: {0}")]
    Load(String),
    /// The lease bucket is missing: setup has not run. Run `masthead setup`.
    #[error("opening the lease bucket: {0}")]
    Leases(#[source] async_nats::error::Error<jetstream::context::KeyValueErrorKind>),
    /// The consumer runtime stopped. Its source says why.
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
}

/// Builds the address book from the stream and keeps it current until
/// `shutdown`.
pub async fn load_address_book(
    js: &jetstream::Context,
    topology: &Topology,
    config: MatchConfig,
    shutdown: &CancellationToken,
) -> Result<Arc<AddressBook>, MatcherError> {
    let book = Arc::new(AddressBook::new(config));
    let started = Instant::now();
    book.catch_up(js, topology).await.map_err(MatcherError::Load)?;
    tracing::info!(addresses = book.len(), elapsed_ms = started.elapsed().as_millis() as u64, "address index built");
    let (b, js, topology, s) = (book.clone(), js.clone(), topology.clone(), shutdown.clone());
    tokio::spawn(async move { b.follow(&js, &topology, s).await });
    Ok(book)
}

pub struct MatcherOptions {
    /// Pause before a decision that could not be recorded is tried again.
    pub retry_delay: Duration,
    /// How long a batch waits for the address index to hold every address
    /// stored before it; then it is retried.
    pub fence_patience: Duration,
    /// How often a standby asks for the lease.
    pub lease_poll: Duration,
}

impl Default for MatcherOptions {
    fn default() -> Self {
        Self {
            retry_delay: Duration::from_secs(2),
            fence_patience: Duration::from_secs(5),
            lease_poll: Duration::from_secs(1),
        }
    }
}

/// Runs the matcher on an address book that is already loaded and followed
/// (`load_address_book`; in a process that also serves the API, the match
/// preview shares it), until `shutdown`.
pub async fn run(
    js: &jetstream::Context,
    topology: &Topology,
    book: Arc<AddressBook>,
    options: MatcherOptions,
    shutdown: CancellationToken,
) -> Result<(), MatcherError> {
    let store = EventStore::new(js.clone(), topology.clone());
    let leading = Arc::new(AtomicBool::new(false));
    let stream = js.get_stream(&topology.stream).await.map_err(|e| MatcherError::Load(e.to_string()))?;
    let handler = Arc::new(MatcherHandler {
        book: book.clone(),
        stream,
        topology: topology.clone(),
        fence_patience: options.fence_patience,
        subscriptions: CommandBus::new(store.clone(), ()),
        addresses: CommandBus::new(store.clone(), ()),
        reviews: CommandBus::new(store, ()),
        leading: leading.clone(),
        retry_delay: options.retry_delay,
    });
    let leases = js.get_key_value(topology.leases_bucket()).await.map_err(MatcherError::Leases)?;
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
    while !shutdown.is_cancelled() {
        let lease = tokio::select! {
            _ = shutdown.cancelled() => break,
            l = Lease::acquire(&leases, "matcher", &holder, options.lease_poll) => l,
        };
        let lease = match lease {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the matcher lease");
                continue;
            }
        };
        // Everything registered before we took over must be in the index
        // before the first decision.
        if let Err(e) = book.catch_up(js, topology).await {
            tracing::warn!(error = %e, "address catch-up failed; giving the lease back");
            lease.release().await;
            tokio::time::sleep(options.lease_poll).await;
            continue;
        }
        // Addresses registered by an older normaliser keep their ids and
        // their keys stay reserved (see `keys`).
        match keys::ensure_current_keys(js, topology).await {
            Ok(report) if !report.current => {
                tracing::info!(
                    older = report.older,
                    reserved = report.reserved,
                    "base-address keys brought up to date"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "bringing base-address keys up to date failed; giving the lease back");
                lease.release().await;
                tokio::time::sleep(options.lease_poll).await;
                continue;
            }
        }
        tracing::info!(addresses = book.len(), "this matcher is active");
        leading.store(true, Ordering::SeqCst);
        let term = shutdown.child_token();
        let renewer = tokio::spawn(keep_lease(lease, term.clone(), leading.clone()));
        let runtime =
            ConsumerRuntime::new(js.clone(), topology.clone(), ConsumerRole::Matcher, RuntimeConfig::default());
        let result = runtime.run(handler.clone(), term.clone()).await;
        term.cancel();
        let _ = renewer.await;
        result?;
    }
    Ok(())
}

/// Renews the lease until `term` ends; on a lost lease it stops decisions
/// at once (`leading`) and ends the term. Releases the lease at the end, so
/// a standby takes over without waiting for the TTL.
///
/// A renewal the bucket does not answer (its leader died and the cluster
/// elects another, which takes seconds) is retried quickly for as long as
/// the lease is still fresh: nobody can have taken it over before it
/// expires, and standing down at the first miss would stall matching for a
/// whole TTL after every NATS node failure.
async fn keep_lease(mut lease: Lease, term: CancellationToken, leading: Arc<AtomicBool>) {
    let mut pause = RENEW_EVERY;
    loop {
        tokio::select! {
            _ = term.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
        match lease.renew().await {
            Ok(()) => pause = RENEW_EVERY,
            Err(LeaseError::Unavailable(e)) if lease.is_fresh() => {
                tracing::warn!(error = %e, "matcher lease not renewed yet; retrying while it is still ours");
                pause = RENEW_RETRY;
            }
            Err(e) => {
                tracing::warn!(error = %e, "matcher lease lost; standing down");
                leading.store(false, Ordering::SeqCst);
                term.cancel();
                return;
            }
        }
    }
    leading.store(false, Ordering::SeqCst);
    lease.release().await;
}

/// The pause before retrying a renewal the bucket did not answer.
const RENEW_RETRY: Duration = Duration::from_millis(500);
