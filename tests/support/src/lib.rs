//! Test harness for Masthead: real servers, started per test.
//!
//! `NatsServer` runs a real `nats-server -js` on a free port with its own
//! store directory, and can be stopped (gracefully or with SIGKILL) and
//! started again on the same port and directory, as nats.rs's own harness
//! does. `TestSmtp` is a real SMTP server in the test process that can be
//! told to fail. `System` runs the real `masthead` binary's roles as child
//! processes; with the `app` feature, `app::spawn_app` starts it inside the
//! test's own process instead. Tests never depend on a server already running on 4222.

#[cfg(feature = "app")]
pub mod app;
pub mod cluster;
pub mod cpu;
pub mod fixtures;
#[cfg(feature = "app")]
pub mod history;
pub mod mime;
pub mod nats;
pub mod smtp;
pub mod stream;
pub mod system;
pub mod wait;

pub use nats::NatsServer;
pub use smtp::TestSmtp;
pub use system::System;
pub use wait::wait_until;
