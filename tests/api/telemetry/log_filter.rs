//! The log filter and the JSON span fields, on captured output.

use masthead_telemetry::log_layer_to;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().expect("lock").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }
}

fn capture(directives: &str, emit: impl FnOnce()) -> Vec<serde_json::Value> {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::registry().with(log_layer_to(true, move || writer.clone(), directives));
    tracing::subscriber::with_default(subscriber, emit);
    out.lines()
}

#[test]
fn a_warning_names_its_trace_and_subscription_even_when_only_warnings_are_logged() {
    let lines = capture("warn", || {
        let span = tracing::info_span!(
            target: "masthead::telemetry::http",
            "http",
            otel.name = "POST /api/v1/subscriptions",
            url.path = "/api/v1/subscriptions",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            correlation_id = tracing::field::Empty,
        );
        let _in_span = span.enter();
        span.record("correlation_id", "7d1c2c8e-0000-4000-8000-000000000001");
        tracing::info!(target: "masthead::intake", "not logged at warn");
        tracing::warn!(target: "masthead::intake", "event store slow");
    });
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let spans = &lines[0]["spans"];
    assert_eq!(
        spans,
        &serde_json::json!([{
            "name": "http",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "correlation_id": "7d1c2c8e-0000-4000-8000-000000000001"
        }]),
        "only the ids are repeated from spans"
    );
}

#[test]
fn span_ids_recorded_later_or_again_keep_the_line_valid_json_with_the_last_value() {
    let lines = capture("info", || {
        let span = tracing::info_span!(
            target: "masthead::consumer",
            "process",
            trace_id = tracing::field::Empty,
            correlation_id = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        let _in_span = span.enter();
        span.record("http.response.status_code", 202);
        span.record("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
        span.record("correlation_id", "first");
        span.record("correlation_id", "a \"quoted\" \\ id");
        tracing::info!(target: "masthead::consumer", "handled");
    });
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(
        lines[0]["spans"],
        serde_json::json!([{
            "name": "process",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "correlation_id": "a \"quoted\" \\ id"
        }])
    );
}

#[test]
fn lettre_never_logs_below_warn_whatever_rust_log_says() {
    let lines = capture("debug,lettre=trace,lettre::transport=trace", || {
        tracing::debug!(target: "lettre::transport::smtp::client", "Wrote: RCPT TO:<someone@example.org>");
        tracing::info!(target: "lettre", "connected");
        tracing::warn!(target: "lettre::transport::smtp", "connection dropped");
        tracing::debug!(target: "lettre_like_crate", "another crate");
        tracing::debug!(target: "masthead::mailer", "ours at debug");
    });
    let messages: Vec<_> = lines.iter().map(|l| l["message"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(messages, ["connection dropped", "another crate", "ours at debug"]);
}
