//! Starting Masthead's roles in this process. `masthead up` starts all of
//! them (and, without `MASTHEAD_NATS_URL`, a local nats-server); `masthead
//! api`, `matcher`, `projector` and `mailer` start one each. Tests start
//! the system through the same [`start`].

use crate::config::Config;
use crate::local_nats::{self, LocalNats};
use anyhow::{Context, Result};
use async_nats::jetstream;
use masthead_http::startup::Gate;
use masthead_http::subscriptions::intake::Intake;
use masthead_http::{AppState, OpsState};
use masthead_jetstream::connect::connect;
use masthead_jetstream::idempotency::IdempotencyRecords;
use masthead_jetstream::key_vault::KeyVault;
use masthead_jetstream::lag::{run_lag_poller, LAG_POLL};
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::{setup_patiently, SetupBackoff, Topology};
use masthead_mailer::consumer as mailer;
use masthead_matching::matcher::{self, address_book::AddressBook, load_address_book, MatcherOptions};
use masthead_projections::projector::{self, generations};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Which roles a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roles {
    /// The HTTP API and pages. Without it the process serves only health,
    /// readiness and metrics.
    pub api: bool,
    pub matcher: bool,
    pub projector: bool,
    pub mailer: bool,
    /// Start a local nats-server when `MASTHEAD_NATS_URL` is unset (`up`).
    pub local_nats: bool,
}

impl Roles {
    /// Everything, as `masthead up` runs it.
    pub const ALL: Roles = Roles { api: true, matcher: true, projector: true, mailer: true, local_nats: true };

    /// The role's name for a single role, `up` for several: names the
    /// process's main NATS connection.
    fn name(&self) -> &'static str {
        match (self.api, self.matcher, self.projector, self.mailer) {
            (true, false, false, false) => "api",
            (false, true, false, false) => "matcher",
            (false, false, true, false) => "projector",
            (false, false, false, true) => "mailer",
            _ => "up",
        }
    }
}

/// A running system: where it listens, and its roles' tasks.
pub struct Running {
    pub http_addr: SocketAddr,
    /// The operations listener (`MASTHEAD_OPS_ADDR`), when configured.
    pub ops_addr: Option<SocketAddr>,
    /// The local token secret, when the API uses one.
    pub local_secret: Option<crate::access::LocalSecretFile>,
    pub nats_url: String,
    tasks: Vec<JoinHandle<Result<()>>>,
    local_nats: Option<LocalNats>,
}

impl Running {
    /// Waits for every role to finish after shutdown was requested; then
    /// stops the local nats-server, if this process started one.
    pub async fn wait(self) -> Result<()> {
        for t in self.tasks {
            t.await.context("role panicked")??;
        }
        drop(self.local_nats);
        Ok(())
    }
}

/// One NATS connection, with the stream and buckets set up.
pub struct Nats {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub topology: Topology,
}

/// Connects to `urls` (or the configured ones) and makes sure the stream,
/// buckets and consumers exist, waiting while a forming cluster cannot
/// place them yet (see [`setup_and_wait`]). For the one-shot commands and
/// tests; roles start through [`start`].
pub async fn connect_and_setup(config: &Config, urls: Option<&str>) -> Result<Nats> {
    let settings = config.nats_settings(urls);
    let client = connect(&settings).await?;
    let js = jetstream::new(client.clone());
    let topology = config.topology();
    // Nothing cancels a one-shot command's wait but the signal that ends
    // the process (or the Helm hook's deadline).
    setup_and_wait(&js, &topology, &CancellationToken::new(), |_| {}).await?;
    Ok(Nats { client, js, topology })
}

/// Creates or updates the stream, buckets and consumers, retrying with
/// backoff while the cluster cannot place them yet ("no suitable peers for
/// placement" while its peers register, no meta leader, timeouts), and
/// logging why. `waiting` hears the reason each time (for `/readyz`); a
/// permanent error (an incompatible existing stream, R3 on a single server)
/// ends the wait at once.
pub async fn setup_and_wait(
    js: &jetstream::Context,
    topology: &Topology,
    shutdown: &CancellationToken,
    waiting: impl Fn(String),
) -> Result<()> {
    let started = std::time::Instant::now();
    let mut attempts = 0u32;
    let result = setup_patiently(js, topology, SetupBackoff::default(), shutdown, |e, pause| {
        attempts += 1;
        tracing::warn!(
            error = %e,
            attempt = attempts,
            retry_in_ms = pause.as_millis() as u64,
            replicas = topology.replicas,
            "the NATS cluster cannot take the stream and buckets yet; waiting"
        );
        waiting(format!("the NATS cluster to place stream {} ({} replicas): {e}", topology.stream, topology.replicas));
    })
    .await;
    if attempts > 0 && result.is_ok() {
        tracing::info!(waited_ms = started.elapsed().as_millis() as u64, attempts, "stream and buckets in place");
    }
    result.context("creating the JetStream stream, buckets and consumers")
}

/// Each role gets its own connection, as separate processes would: one
/// slow consumer's flow control does not stall another's. Its name says
/// which role it serves (`masthead-matcher-<pid>` in the servers' `/connz`).
async fn role_connection(config: &Config, url: &str, role: &str) -> Result<jetstream::Context> {
    let mut settings = config.nats_settings(Some(url));
    settings.name = format!("masthead-{role}");
    Ok(jetstream::new(connect(&settings).await?))
}

/// Starts `roles`; returns once they are all running and the HTTP server
/// serves them. It listens first: while this process connects and waits
/// for the cluster to place the stream, `/healthz` answers (a liveness
/// probe does not restart it for waiting) and `/readyz` says what it waits
/// for. Shutdown during that wait ends it cleanly, with no role started.
pub async fn start(config: &Config, roles: Roles, shutdown: CancellationToken) -> Result<Running> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
    let local = match (roles.local_nats, &config.nats_url) {
        (true, None) => {
            let dir = config.data_dir.join("nats");
            let nats = local_nats::start(config.nats_server.as_deref(), &dir)
                .context("starting a local nats-server (set MASTHEAD_NATS_URL to use another)")?;
            tracing::info!(url = %nats.url, store = %dir.display(), "local nats-server started");
            Some(nats)
        }
        _ => None,
    };
    let url = local.as_ref().map(|l| l.url.clone()).unwrap_or_else(|| config.nats_settings(None).urls);
    let listener = bind_http(config).await?;
    let http_addr = listener.local_addr()?;
    // Refused at once, before anything starts: a bad identity setting.
    let metrics_here = config.ops_addr.is_none();
    let (access, local_secret) = match roles.api {
        true => {
            let (access, local) = crate::access::api_access(config, metrics_here)?;
            (Some(access), local)
        }
        false => (None, None),
    };
    let gate = Gate::new(format!("a connection to NATS at {url}"));
    // Its own token, so that a failed start stops the servers it started.
    let serving = shutdown.child_token();
    let server = tokio::spawn(serve(listener, gate.router(), config.server_settings(), serving.clone()));
    // `/metrics` and the probes on the operations listener, when there is
    // one: alive at once, ready with the rest.
    let (ops_addr, ops_gate, ops_server) = match config.ops_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding MASTHEAD_OPS_ADDR {addr}"))?;
            let bound = listener.local_addr()?;
            let ops_gate = Gate::new(format!("a connection to NATS at {url}"));
            let ops_server =
                tokio::spawn(serve(listener, ops_gate.router(), config.server_settings(), serving.clone()));
            (Some(bound), Some(ops_gate), Some(ops_server))
        }
        None => (None, None, None),
    };
    let gates = Gates { api: &gate, ops: ops_gate.as_ref(), metrics_here };
    let started = bring_up(config, roles, &url, gates, access, &shutdown).await;
    let mut tasks = match started {
        Ok(tasks) => tasks,
        Err(e) => {
            serving.cancel();
            return Err(e);
        }
    };
    tasks.insert(0, server);
    tasks.extend(ops_server);
    Ok(Running { http_addr, ops_addr, local_secret, nats_url: url, tasks, local_nats: local })
}

/// The start-up gates of the public listener and of the operations one.
struct Gates<'a> {
    api: &'a Gate,
    ops: Option<&'a Gate>,
    /// `/metrics` on the public listener (no operations listener).
    metrics_here: bool,
}

/// Connects, sets up, and starts the roles behind the gates, then opens
/// them. Returns the roles' tasks; none when shutdown came first.
async fn bring_up(
    config: &Config,
    roles: Roles,
    url: &str,
    gates: Gates<'_>,
    access: Option<masthead_http::access::Access>,
    shutdown: &CancellationToken,
) -> Result<Vec<JoinHandle<Result<()>>>> {
    let gate = gates.api;
    let mut settings = config.nats_settings(Some(url));
    settings.name = format!("masthead-{}", roles.name());
    let client = connect(&settings).await?;
    let js = jetstream::new(client.clone());
    let topology = config.topology();
    if let Err(e) = setup_and_wait(&js, &topology, shutdown, |why| gate.waiting_for(why)).await {
        if shutdown.is_cancelled() {
            tracing::info!("shut down while waiting for the NATS cluster");
            return Ok(Vec::new());
        }
        return Err(e);
    }
    let nats = Nats { client, js, topology };
    let mut tasks = Vec::new();
    gate.waiting_for("the read models and the address index to load");
    let reads = open_reads(config, &nats, roles, shutdown).await?;
    let book = match roles.api || roles.matcher {
        true => Some(load_address_book(&nats.js, &nats.topology, config.match_config()?, shutdown).await?),
        false => None,
    };
    let ops_state =
        || OpsState { client: nats.client.clone(), store: EventStore::new(nats.js.clone(), nats.topology.clone()) };
    let router = match access {
        Some(access) => {
            let state = api_state(&nats, reads.clone(), book.clone(), access, config.limit_settings()).await?;
            masthead_http::router(state)
        }
        None => masthead_http::ops_router(ops_state(), gates.metrics_here),
    };
    if roles.api || roles.projector {
        // Keeps the consumer-lag gauges current on /metrics.
        let (js, topology, s) = (nats.js.clone(), nats.topology.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            run_lag_poller(js, topology, LAG_POLL, s).await;
            Ok(())
        }));
    }
    if let (true, Some(book)) = (roles.matcher, book) {
        tasks.push(spawn_matcher(config, url, book, shutdown.clone()).await?);
        tasks.push(spawn_relocator(config, url, shutdown.clone()).await?);
    }
    if let (true, Some(reads)) = (roles.projector, reads) {
        let (js, topology, location) =
            (role_connection(config, url, "projector").await?, nats.topology.clone(), config.store_location());
        let s = shutdown.clone();
        tasks.push(tokio::spawn(async move { Ok(projector::run(location, js, topology, reads, s).await?) }));
    }
    if let (true, Some(path)) = (roles.projector, &config.audit_key) {
        tasks.push(spawn_anchorer(config, path, url, &nats.topology, shutdown.clone()).await?);
    }
    if roles.mailer {
        tasks.push(spawn_mailer(config, url, &nats.topology, shutdown.clone()).await?);
    }
    if let Some(ops) = gates.ops {
        ops.open(masthead_http::ops_router(ops_state(), true));
    }
    gate.open(router);
    Ok(tasks)
}

/// The read models this process serves or writes. The projector writes the
/// active generation; an API beside it reads the same handle (redb allows
/// one process per file). A standalone API reads from MongoDB, or from an
/// embedded generation an auditor pinned; with the live embedded store it
/// has none (it answers single subscriptions from the event store and the
/// lists with 503).
async fn open_reads(
    config: &Config,
    nats: &Nats,
    roles: Roles,
    shutdown: &CancellationToken,
) -> Result<Option<Arc<generations::ProjectionReads>>> {
    let pinned = config.projection_generation.as_deref();
    let readable = roles.projector || config.mongodb_uri.is_some() || pinned.is_some();
    if !(roles.api || roles.projector) || !readable {
        if roles.api {
            tracing::info!("embedded projection store: read models are served by `masthead up`, or use MongoDB");
        }
        return Ok(None);
    }
    let location = config.store_location();
    let reads = generations::open_reads(&location, &nats.js, &nats.topology, pinned).await?;
    // The projector follows generation switches itself; a reader without
    // one follows them here, unless pinned to a past view.
    if !roles.projector && pinned.is_none() {
        let (js, topology, r, s) = (nats.js.clone(), nats.topology.clone(), reads.clone(), shutdown.clone());
        tokio::spawn(generations::follow_generations(location, js, topology, r, None, s));
    }
    Ok(Some(reads))
}

/// Everything the API needs, on `nats`.
async fn api_state(
    nats: &Nats,
    reads: Option<Arc<generations::ProjectionReads>>,
    book: Option<Arc<AddressBook>>,
    access: masthead_http::access::Access,
    limits: masthead_http::limits::LimitSettings,
) -> Result<AppState> {
    let store = EventStore::new(nats.js.clone(), nats.topology.clone());
    let vault = KeyVault::open(&nats.js, &nats.topology.keys_bucket()).await.context("opening the key vault")?;
    let records = IdempotencyRecords::open(&nats.js, &nats.topology.idempotency_bucket())
        .await
        .context("opening idempotency records")?;
    let intake = Intake::new(store.clone(), vault.clone(), records, nats.client.clone());
    let signing_key = masthead_jetstream::recipients::signing_key(&nats.js, &nats.topology.secrets_bucket())
        .await
        .context("reading the signing secret")?;
    let (client, topology, access) = (nats.client.clone(), nats.topology.clone(), Arc::new(access));
    let curation = book.clone().map(|b| masthead_curation::Curation::new(store.clone(), b));
    Ok(AppState { intake, store, vault, client, topology, reads, book, curation, access, limits, signing_key })
}

async fn spawn_matcher(
    config: &Config,
    url: &str,
    book: Arc<AddressBook>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<Result<()>>> {
    let (js, topology) = (role_connection(config, url, "matcher").await?, config.topology());
    Ok(tokio::spawn(async move { Ok(matcher::run(&js, &topology, book, MatcherOptions::default(), shutdown).await?) }))
}

/// The relocator beside the matcher: both keep the base addresses and
/// the subscriptions delivered there together.
async fn spawn_relocator(config: &Config, url: &str, shutdown: CancellationToken) -> Result<JoinHandle<Result<()>>> {
    let (js, topology) = (role_connection(config, url, "relocator").await?, config.topology());
    let relocator = masthead_curation::relocate::Relocator::new(EventStore::new(js.clone(), topology.clone()));
    Ok(tokio::spawn(async move {
        relocator.run(&js, &topology, shutdown).await;
        Ok(())
    }))
}

/// The audit anchorer beside the projector: both follow the whole stream.
/// It runs on a thread of its own at a lower CPU priority, with its own
/// connection (see `masthead_audit::anchorer::spawn_anchorer`).
async fn spawn_anchorer(
    config: &Config,
    key: &std::path::Path,
    url: &str,
    topology: &Topology,
    shutdown: CancellationToken,
) -> Result<JoinHandle<Result<()>>> {
    let key = std::sync::Arc::new(masthead_audit::key::AuditKey::load(key).context("the audit key")?);
    tracing::info!(key_id = key.id(), "signing audit anchors");
    let policy = masthead_audit::live::AnchorPolicy {
        every: config.audit_anchor_every,
        interval: Duration::from_millis(config.audit_anchor_interval_ms),
    };
    use masthead_audit::anchorer::NICENESS;
    let (config, url) = (config.clone(), url.to_owned());
    let connect = move || async move {
        role_connection(&config, &url, "anchorer").await.map_err(|e| masthead_audit::AuditError::Nats(format!("{e:#}")))
    };
    // Should this task be dropped without a shutdown (its runtime going
    // away), the thread stops with it.
    let stop = shutdown.child_token();
    let stop_with_task = stop.clone().drop_guard();
    let thread = masthead_audit::anchorer::spawn_anchorer(connect, topology.clone(), key, policy, NICENESS, stop)
        .context("starting the audit anchorer's thread")?;
    Ok(tokio::spawn(async move {
        let _stop_with_task = stop_with_task;
        thread.ended().await.context("the audit anchorer")
    }))
}

async fn spawn_mailer(
    config: &Config,
    url: &str,
    topology: &Topology,
    shutdown: CancellationToken,
) -> Result<JoinHandle<Result<()>>> {
    let settings = config.mailer_config(mailer::max_attempts(topology))?;
    let sender = masthead_mailer::Mailer::from_config(settings).context("mail transport")?;
    let opt_in = match (config.double_opt_in, &config.public_url) {
        (false, _) => None,
        (true, Some(url)) => Some(url.clone()),
        // The link in the mail must lead somewhere the subscriber reaches.
        (true, None) => {
            anyhow::bail!("MASTHEAD_DOUBLE_OPT_IN needs MASTHEAD_PUBLIC_URL: the base of the link in the mail")
        }
    };
    let (js, topology) = (role_connection(config, url, "mailer").await?, topology.clone());
    let per_recipient = config.mail_per_recipient_per_day;
    Ok(tokio::spawn(async move {
        Ok(mailer::run(&js, &topology, sender, Duration::from_secs(1), per_recipient, opt_in, shutdown).await?)
    }))
}

async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    settings: masthead_http::server::ServerSettings,
    shutdown: CancellationToken,
) -> Result<()> {
    masthead_http::server::serve(listener, router, settings, async move { shutdown.cancelled().await })
        .await
        .context("HTTP server failed")
}

/// Binds `MASTHEAD_HTTP_ADDR` and, when `MASTHEAD_HTTP_ADDR_FILE` is set,
/// writes the bound address there. With port 0 that is the only way to
/// learn the port; picking a free port beforehand races every other process
/// on the machine (outgoing connections take ports from the same range).
async fn bind_http(config: &Config) -> Result<tokio::net::TcpListener> {
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

/// Cancels the token on Ctrl-C or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = tokio::signal::ctrl_c() => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}
