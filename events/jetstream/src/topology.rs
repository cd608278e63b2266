//! Names and settings of everything Masthead keeps in JetStream: the event
//! stream, the durable consumers and the KV buckets. One `Topology` per
//! `MASTHEAD_STREAM`, so environments and tests can share a server without
//! seeing each other's subjects or buckets.

use async_nats::jetstream::{self, consumer::pull, kv, stream, stream::ConsumerErrorKind};
use std::time::Duration;

/// The durable consumers and what they read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumerRole {
    Matcher,
    Projector,
    Mailer,
}

impl ConsumerRole {
    pub const ALL: [ConsumerRole; 3] = [ConsumerRole::Matcher, ConsumerRole::Projector, ConsumerRole::Mailer];

    pub fn durable_name(self) -> &'static str {
        match self {
            ConsumerRole::Matcher => "matcher",
            ConsumerRole::Projector => "projector",
            ConsumerRole::Mailer => "mailer",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.durable_name() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub stream: String,
    /// First subject token: the lowercased stream name.
    pub prefix: String,
    pub replicas: usize,
}

impl Topology {
    pub fn new(stream: &str) -> Self {
        Self { stream: stream.to_owned(), prefix: stream.to_ascii_lowercase(), replicas: 1 }
    }

    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// `masthead.subscription.<id>`: one subject per aggregate instance, so
    /// `Nats-Expected-Last-Subject-Sequence` guards exactly one history.
    pub fn subject(&self, aggregate_type: &str, aggregate_id: &str) -> String {
        format!("{}.{}.{}", self.prefix, aggregate_type, aggregate_id)
    }

    /// Every subject of one aggregate type.
    pub fn aggregate_filter(&self, aggregate_type: &str) -> String {
        format!("{}.{}.*", self.prefix, aggregate_type)
    }

    pub fn all_subjects(&self) -> String {
        format!("{}.>", self.prefix)
    }

    pub fn keys_bucket(&self) -> String {
        format!("{}_keys", self.stream)
    }
    pub fn idempotency_bucket(&self) -> String {
        format!("{}_idempotency", self.stream)
    }
    pub fn leases_bucket(&self) -> String {
        format!("{}_leases", self.stream)
    }
    pub fn dead_letters_bucket(&self) -> String {
        format!("{}_deadletters", self.stream)
    }
    pub fn control_bucket(&self) -> String {
        format!("{}_control", self.stream)
    }
    /// The deployment's signing secret (see `masthead_domain::signing`).
    pub fn secrets_bucket(&self) -> String {
        format!("{}_secrets", self.stream)
    }
    /// Confirmation mails per recipient and day (see `recipients`).
    pub fn recipients_bucket(&self) -> String {
        format!("{}_recipients", self.stream)
    }

    /// The stream of signed audit anchors (`masthead-audit`), apart from
    /// the events so that its subjects never mix with theirs.
    pub fn anchors_stream(&self) -> String {
        format!("{}_ANCHORS", self.stream)
    }

    /// The one subject anchors are appended to, in order.
    pub fn anchors_subject(&self) -> String {
        format!("{}_anchors", self.prefix)
    }

    pub fn anchors_stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.anchors_stream(),
            subjects: vec![self.anchors_subject()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            num_replicas: self.replicas,
            // Anchors are evidence like the events they sign. (Someone with
            // the NATS credentials can still delete the whole stream; the
            // README's audit section says what that does and does not hide.)
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            // An anchor names up to 10 000 events, 32 bytes each in base64.
            max_message_size: 1 << 20,
            discard: stream::DiscardPolicy::New,
            description: Some("Masthead audit anchors: signed hash-chain checkpoints of the events".to_owned()),
            ..Default::default()
        }
    }

    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: vec![self.all_subjects()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            num_replicas: self.replicas,
            // The history is the audit trail: nothing is deleted from it.
            // Erasure works by deleting keys, not messages.
            deny_delete: true,
            deny_purge: true,
            allow_direct: true,
            duplicate_window: Duration::from_secs(120),
            discard: stream::DiscardPolicy::New,
            description: Some("Masthead events".to_owned()),
            ..Default::default()
        }
    }

    pub fn filter_subject(&self, role: ConsumerRole) -> String {
        match role {
            ConsumerRole::Matcher | ConsumerRole::Mailer => self.aggregate_filter("subscription"),
            ConsumerRole::Projector => self.all_subjects(),
        }
    }

    /// Delivery limits per consumer. Retries are paced by the runtime with
    /// `nak(delay)`, not by server backoff: a server backoff list also sets
    /// the ack wait of the first delivery, which would redeliver a slow SMTP
    /// send while it is still in flight.
    pub fn consumer_config(&self, role: ConsumerRole) -> pull::Config {
        let (max_deliver, ack_wait, max_ack_pending) = match role {
            ConsumerRole::Matcher => (10, Duration::from_secs(30), 1_000),
            // Two of the projector's largest batches (60 000), so the
            // next one arrives and is decoded while one is applied.
            ConsumerRole::Projector => (5, Duration::from_secs(30), 120_000),
            ConsumerRole::Mailer => (8, Duration::from_secs(60), 1_000),
        };
        pull::Config {
            durable_name: Some(role.durable_name().to_owned()),
            description: Some(format!("masthead {}", role.durable_name())),
            filter_subject: self.filter_subject(role),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            max_deliver,
            ack_wait,
            max_ack_pending,
            ..Default::default()
        }
    }

    pub fn bucket_configs(&self) -> Vec<kv::Config> {
        vec![
            kv::Config {
                bucket: self.keys_bucket(),
                description: "per-subscription data keys; deleting one erases that subscriber's personal data"
                    .to_owned(),
                history: 1,
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            },
            kv::Config {
                bucket: self.idempotency_bucket(),
                description: "Idempotency-Key records of the intake API".to_owned(),
                history: 1,
                // The promise is at least 24 hours; keep three days.
                max_age: Duration::from_secs(72 * 3600),
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            },
            kv::Config {
                bucket: self.leases_bucket(),
                description: "leases of single-active roles (the matcher)".to_owned(),
                history: 1,
                max_age: crate::lease::LEASE_TTL,
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            },
            kv::Config {
                bucket: self.dead_letters_bucket(),
                description: "events a consumer gave up on, to list and replay".to_owned(),
                history: 5,
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            },
            kv::Config {
                bucket: self.secrets_bucket(),
                description: "the signing secret shared by every process of the deployment".to_owned(),
                history: 1,
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            },
            kv::Config {
                bucket: self.recipients_bucket(),
                description: "confirmation mails per recipient (keyed hash) and day".to_owned(),
                history: 1,
                // A day's counters are read on that day only.
                max_age: Duration::from_secs(48 * 3600),
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            },
            kv::Config {
                bucket: self.control_bucket(),
                description: "operational switches, e.g. the active projection generation".to_owned(),
                history: 5,
                storage: stream::StorageType::File,
                num_replicas: self.replicas,
                ..Default::default()
            },
        ]
    }
}

/// Why setting up JetStream failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The stream could not be created or updated, e.g. JetStream is not
    /// enabled or an incompatible stream of that name exists. Fix the server
    /// or choose another `MASTHEAD_STREAM`; when [`SetupError::is_transient`]
    /// says so (a cluster still forming), [`setup_patiently`] waits instead.
    #[error("cannot create or update stream {stream}: {source}")]
    Stream { stream: String, source: async_nats::error::Error<jetstream::context::CreateStreamErrorKind> },
    /// A KV bucket could not be created or updated. Same handling as `Stream`.
    #[error("cannot create or update bucket {bucket}: {source}")]
    Bucket { bucket: String, source: async_nats::error::Error<jetstream::context::CreateKeyValueErrorKind> },
    /// A durable consumer could not be created or updated. An existing
    /// consumer may have a setting the server cannot change in place; delete
    /// it (its position is lost) or rename the stream.
    #[error("cannot create or update consumer {consumer}: {source}")]
    Consumer { consumer: String, source: jetstream::stream::ConsumerError },
    /// Shutdown was requested while [`setup_patiently`] waited for the
    /// cluster. Nothing is wrong; exit.
    #[error("interrupted while waiting for the NATS cluster to place the stream and buckets")]
    Interrupted,
}

/// JetStream error codes that pass by themselves while a cluster forms or
/// elects: 10005 "no suitable peers for placement" (peers have not all
/// registered with the meta leader yet), 10008 "JetStream system
/// temporarily unavailable" (no meta leader), 10009 "JetStream cluster can
/// not handle request" (a request reached a server that just lost its
/// leadership) and 10023 "insufficient resources" (a peer's reserved storage
/// is not yet known to the meta leader). Any other server error (an
/// incompatible existing stream, replicas on a single server) needs a fix.
const TRANSIENT_CODES: [u64; 4] = [10005, 10008, 10009, 10023];

fn transient_server_error(e: &jetstream::Error) -> bool {
    TRANSIENT_CODES.contains(&e.error_code().0)
}

fn transient_stream_error(kind: &jetstream::context::CreateStreamErrorKind) -> bool {
    use jetstream::context::CreateStreamErrorKind as K;
    match kind {
        // No answer, or no JetStream responder yet on the server we reach.
        K::TimedOut | K::JetStreamUnavailable | K::Response => true,
        K::JetStream(e) => transient_server_error(e),
        K::EmptyStreamName | K::InvalidStreamName | K::DomainAndExternalSet | K::NotFound | K::ResponseParse => false,
    }
}

impl SetupError {
    /// Which step failed ("stream MASTHEAD", "bucket MASTHEAD_keys").
    pub fn step(&self) -> String {
        match self {
            SetupError::Stream { stream, .. } => format!("stream {stream}"),
            SetupError::Bucket { bucket, .. } => format!("bucket {bucket}"),
            SetupError::Consumer { consumer, .. } => format!("consumer {consumer}"),
            SetupError::Interrupted => "interrupted".to_owned(),
        }
    }

    /// Whether the same set-up may succeed later without anyone changing
    /// anything: the server did not answer, JetStream is still starting, or
    /// the cluster cannot place the replicas yet (see `TRANSIENT_CODES`).
    pub fn is_transient(&self) -> bool {
        use jetstream::context::{AccountErrorKind, CreateKeyValueErrorKind};
        match self {
            SetupError::Stream { source, .. } => transient_stream_error(&source.kind()),
            SetupError::Bucket { source, .. } => match source.kind() {
                CreateKeyValueErrorKind::TimedOut => true,
                // Creating a bucket asks for the account first, then creates
                // its stream: the cause is one of those two errors.
                CreateKeyValueErrorKind::JetStream => {
                    let cause = std::error::Error::source(source);
                    if let Some(e) = cause.and_then(|c| c.downcast_ref::<jetstream::context::CreateStreamError>()) {
                        transient_stream_error(&e.kind())
                    } else if let Some(e) = cause.and_then(|c| c.downcast_ref::<jetstream::context::AccountError>()) {
                        match e.kind() {
                            AccountErrorKind::TimedOut | AccountErrorKind::JetStreamUnavailable => true,
                            AccountErrorKind::JetStream(e) => transient_server_error(&e),
                            AccountErrorKind::Other => false,
                        }
                    } else {
                        false
                    }
                }
                _ => false,
            },
            SetupError::Consumer { source, .. } => match source.kind() {
                ConsumerErrorKind::TimedOut | ConsumerErrorKind::Request => true,
                ConsumerErrorKind::JetStream(e) => transient_server_error(&e),
                _ => false,
            },
            SetupError::Interrupted => false,
        }
    }
}

/// Creates or updates the stream, buckets and consumers. Safe to run at
/// every start and from several processes at once.
pub async fn setup(js: &jetstream::Context, topology: &Topology) -> Result<(), SetupError> {
    js.create_or_update_stream(topology.stream_config())
        .await
        .map_err(|source| SetupError::Stream { stream: topology.stream.clone(), source })?;
    js.create_or_update_stream(topology.anchors_stream_config())
        .await
        .map_err(|source| SetupError::Stream { stream: topology.anchors_stream(), source })?;
    for config in topology.bucket_configs() {
        let bucket = config.bucket.clone();
        js.create_or_update_key_value(config).await.map_err(|source| SetupError::Bucket { bucket, source })?;
    }
    for role in ConsumerRole::ALL {
        setup_consumer(js, topology, role).await?;
    }
    Ok(())
}

/// Creates or updates one consumer. Where a consumer starts cannot change
/// once it exists, and the projector moves its own past a backlog it
/// caught up on by reading the stream
/// (`masthead_projections::projector::catch_up`): an existing consumer
/// keeps its start, the rest is brought up to date. A projector moving it
/// between the read and the write makes the write fail: read again.
async fn setup_consumer(js: &jetstream::Context, topology: &Topology, role: ConsumerRole) -> Result<(), SetupError> {
    let consumer = role.durable_name();
    let error = |source| SetupError::Consumer { consumer: consumer.to_owned(), source };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut config = topology.consumer_config(role);
        match js.get_consumer_from_stream::<pull::Config, _, _>(consumer, topology.stream.as_str()).await {
            Ok(existing) => config.deliver_policy = existing.cached_info().config.deliver_policy,
            Err(e) if is_consumer_not_found(&e) => {}
            Err(source) => return Err(error(source)),
        }
        match js.create_consumer_on_stream(config, topology.stream.as_str()).await {
            Ok(_) => return Ok(()),
            Err(_) if attempts < 3 => continue,
            Err(source) => return Err(error(source)),
        }
    }
}

/// Whether `e` says the consumer does not exist.
pub fn is_consumer_not_found(e: &stream::ConsumerError) -> bool {
    matches!(e.kind(), ConsumerErrorKind::JetStream(j) if j.error_code() == jetstream::ErrorCode::CONSUMER_NOT_FOUND)
}

/// The pauses between set-up attempts: the first short, since a forming
/// cluster often needs only a moment, then doubling up to a cap so that
/// many processes starting together do not hammer the meta leader.
#[derive(Debug, Clone, Copy)]
pub struct SetupBackoff {
    pub first: Duration,
    pub cap: Duration,
}

impl Default for SetupBackoff {
    fn default() -> Self {
        Self { first: Duration::from_millis(250), cap: Duration::from_secs(5) }
    }
}

/// [`setup`], retried with [`SetupBackoff`] for as long as it fails for a
/// transient reason ([`SetupError::is_transient`]): on a first install the
/// application and the NATS cluster start together, and an R3 stream cannot
/// be placed until three peers have registered. `waiting` hears each
/// failure and the pause before the next attempt (to log it and to tell a
/// readiness probe why the process is not ready). A permanent error is
/// returned at once; `shutdown` ends the wait with
/// [`SetupError::Interrupted`].
pub async fn setup_patiently(
    js: &jetstream::Context,
    topology: &Topology,
    backoff: SetupBackoff,
    shutdown: &tokio_util::sync::CancellationToken,
    mut waiting: impl FnMut(&SetupError, Duration),
) -> Result<(), SetupError> {
    // On a cluster that has just gained its last peer, a request creating
    // an R3 stream or bucket often gets no answer for many seconds (measured:
    // none within 10 s), although the asset is created: the next attempt
    // finds it and goes on to the next step. So a short request timeout
    // (the connection's) and short pauses after progress are what make the
    // wait short; a longer timeout only made it longer.
    let (mut pause, mut last_failed) = (backoff.first, String::new());
    loop {
        match setup(js, topology).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() => {
                // Progress (a later step fails now): the cluster is coming
                // up, so the pauses start short again.
                let failed = e.step();
                if failed != last_failed {
                    pause = backoff.first;
                    last_failed = failed;
                }
                waiting(&e, pause);
                tokio::select! {
                    _ = shutdown.cancelled() => return Err(SetupError::Interrupted),
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(backoff.cap);
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consumer may have `max_ack_pending` messages delivered and not yet
    /// read: more than a subscription buffers would be dropped by async-nats
    /// as a slow consumer (and redelivered only after the ack wait).
    #[test]
    fn no_consumer_may_have_more_unacked_than_a_subscription_buffers() {
        let topology = Topology::new("MASTHEAD");
        for role in ConsumerRole::ALL {
            let pending = topology.consumer_config(role).max_ack_pending;
            assert!(pending > 0, "{role:?} must bound its unacked messages");
            assert!(
                (pending as usize) < crate::connect::SUBSCRIPTION_CAPACITY,
                "{role:?}: max_ack_pending {pending} reaches the subscription capacity"
            );
        }
    }
}
