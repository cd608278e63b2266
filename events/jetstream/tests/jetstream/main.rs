//! The JetStream infrastructure against a real nats-server: the event
//! store, the command bus, the consumer runtime, the key vault, leases,
//! idempotency records and trace propagation.

mod common;

mod coordination;
mod key_vault;
mod replay;
mod store;
mod trace_propagation;
