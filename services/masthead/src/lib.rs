//! The `masthead` processes: configuration, the HTTP API and web form, the
//! intake service, and the roles (matcher, projector, mailer) wired onto the
//! shared consumer runtime. The binary only parses arguments and calls in.

pub mod api;
pub mod bench;
pub mod config;
pub mod connect;
pub mod import;
pub mod intake;
pub mod mailer;
pub mod matcher;
pub mod operate;
pub mod projector;
pub mod roles;
pub mod telemetry;
pub mod up;
