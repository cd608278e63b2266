//! Names and settings of everything Masthead keeps in JetStream: the event
//! stream, the durable consumers and the KV buckets. One `Topology` per
//! `MASTHEAD_STREAM`, so environments and tests can share a server without
//! seeing each other's subjects or buckets.

use async_nats::jetstream::{self, consumer::pull, kv, stream};
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
            ConsumerRole::Projector => (5, Duration::from_secs(30), 20_000),
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
    /// or choose another `MASTHEAD_STREAM`.
    #[error("cannot create or update stream {stream}: {source}")]
    Stream { stream: String, source: async_nats::error::Error<jetstream::context::CreateStreamErrorKind> },
    /// A KV bucket could not be created or updated. Same handling as `Stream`.
    #[error("cannot create or update bucket {bucket}: {source}")]
    Bucket { bucket: String, source: async_nats::error::Error<jetstream::context::CreateKeyValueErrorKind> },
    /// A durable consumer could not be created or updated. An existing
    /// consumer may have a setting the server cannot change in place; delete
    /// it (its position is lost) or rename the stream.
    #[error("cannot create or update consumer {consumer}: {message}")]
    Consumer { consumer: String, message: String },
}

/// Creates or updates the stream, buckets and consumers. Safe to run at
/// every start and from several processes at once.
pub async fn setup(js: &jetstream::Context, topology: &Topology) -> Result<(), SetupError> {
    js.create_or_update_stream(topology.stream_config())
        .await
        .map_err(|source| SetupError::Stream { stream: topology.stream.clone(), source })?;
    for config in topology.bucket_configs() {
        let bucket = config.bucket.clone();
        js.create_or_update_key_value(config).await.map_err(|source| SetupError::Bucket { bucket, source })?;
    }
    for role in ConsumerRole::ALL {
        js.create_consumer_on_stream(topology.consumer_config(role), topology.stream.as_str())
            .await
            .map_err(|e| SetupError::Consumer { consumer: role.durable_name().to_owned(), message: e.to_string() })?;
    }
    Ok(())
}
