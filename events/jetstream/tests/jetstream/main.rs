//! The JetStream infrastructure against a real nats-server: the event
//! store, the command bus, the consumer runtime, the key vault, leases
//! and idempotency records. Trace propagation has a binary of its own
//! (`tests/trace_propagation.rs`): it installs a tracing subscriber, and
//! tracing caches each call site's interest process-wide, so tests running
//! beside it in one process can leave its spans unrecorded.

mod common;

mod coordination;
mod feed;
mod key_vault;
mod recipients;
mod replay;
mod store;
