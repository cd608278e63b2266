//! Telemetry: traces across the HTTP → JetStream → consumer path, the OTLP
//! export, metrics from the middleware, and logs free of personal data.
//!
//! Tests that install a subscriber do it per thread (`set_default`) on a
//! current-thread runtime, so tests running side by side in this binary
//! never see each other's spans.

#[path = "telemetry/helpers.rs"]
mod helpers;

#[path = "telemetry/config.rs"]
mod config;
#[path = "telemetry/http.rs"]
mod http;
#[path = "telemetry/log_filter.rs"]
mod log_filter;
#[path = "telemetry/logs.rs"]
mod logs;
#[path = "telemetry/otlp.rs"]
mod otlp;
