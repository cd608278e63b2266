//! Logging: JSON lines for machines, pretty text on a terminal. Log fields
//! carry ids, never personal data.

use std::io::IsTerminal;
use tracing_subscriber::{fmt, EnvFilter};

pub fn init_logging(format: Option<&str>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,async_nats=warn"));
    let json = match format {
        Some("json") => true,
        Some(_) => false,
        None => !std::io::stderr().is_terminal(),
    };
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}

pub mod metrics;
