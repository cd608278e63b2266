//! Test harness for Masthead: real servers, started per test.
//!
//! `NatsServer` runs a real `nats-server -js` on a free port with its own
//! store directory, and can be stopped (gracefully or with SIGKILL) and
//! started again on the same port and directory, as nats.rs's own harness
//! does. Tests never depend on a server already running on 4222.

pub mod nats;
pub mod wait;

pub use nats::NatsServer;
pub use wait::wait_until;
