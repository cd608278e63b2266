//! Masthead's infrastructure on NATS JetStream.
//!
//! This crate owns everything that talks to JetStream on behalf of the
//! domain (`masthead-domain`): the topology (stream, consumers, buckets) and
//! its set-up, the event store that appends with optimistic concurrency and
//! reads histories back, the command bus that runs cqrs-es aggregates on it,
//! the consumer runtime every durable consumer shares (batching, acks,
//! retries, dead letters and poison events, handled once), replay of the
//! stream, reading a filtered part of it to its end (`feed`), the key vault
//! and its pool, idempotency records, leases, consumer lag, and the W3C
//! trace context carried in message headers. It records its own metrics
//! through the `metrics` facade.

pub mod command_bus;
pub mod connect;
pub mod consumer;
pub mod dead_letter;
pub mod feed;
pub mod headers;
pub mod idempotency;
pub mod key_vault;
pub mod lag;
pub mod lease;
pub mod recipients;
pub mod replay;
pub mod store;
pub mod topology;
pub mod trace;
