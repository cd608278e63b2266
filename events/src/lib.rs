//! Masthead's event schema and its event store on NATS JetStream.
//!
//! This crate owns everything that is written to the stream: the events of
//! each aggregate with their versioned JSON payloads and upcasters, the
//! envelope that travels in NATS headers, the aggregates that decide which
//! events a command produces, the sealing of personal data under per-
//! subscription keys, and the JetStream-backed store that appends with
//! optimistic concurrency and idempotency and reads histories back.

pub mod address;
pub mod base_address;
pub mod country;
pub mod personal_data;
pub mod schema;
pub mod subscription;

pub use address::*;
pub use country::{Country, CountryError};
pub mod command_bus;
pub mod consumer;
pub mod dead_letter;
pub mod envelope;
pub mod idempotency;
pub mod key_vault;
pub mod lease;
pub mod store;
pub mod topology;
