//! Prometheus metrics. The libraries record through the `metrics` facade;
//! this module installs the process's recorder and renders what it holds
//! for `GET /metrics`. Names follow the OpenTelemetry semantic conventions
//! mapped to Prometheus (durations in seconds, `_total` counters).

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Every metric the libraries record, with its help text, so that a scrape
/// describes it even before its first sample.
const DESCRIBED: &[(&str, &str)] = &[
    ("masthead_http_server_request_duration_seconds", "HTTP request duration"),
    ("masthead_events_appended_total", "events appended"),
    ("masthead_consumer_events_processed_total", "events handled"),
    ("masthead_consumer_events_failed_total", "events retried or dead-lettered"),
    ("masthead_match_duration_seconds", "time to decide and record one batch of matches"),
    ("masthead_match_score", "score of accepted matches"),
    ("masthead_match_outcomes_total", "match outcomes"),
    ("masthead_mail_sent_total", "confirmation mails sent"),
    ("masthead_mail_failed_total", "confirmation mail failures"),
    ("masthead_consumer_pending_messages", "messages waiting per durable consumer"),
    ("masthead_consumer_ack_pending_messages", "delivered, not yet acked, per consumer"),
    ("masthead_dead_letters_total", "dead-letter records"),
    (
        "masthead_data_key_pool_misses_total",
        "seals that found the data-key pool empty and wrote a key page on the request path (or failed to)",
    ),
];

/// Histogram buckets: exponential from `start`, `count` of them.
fn exponential(start: f64, count: usize) -> Vec<f64> {
    (0..count).map(|i| start * 2f64.powi(i as i32)).collect()
}

fn build() -> Result<PrometheusHandle, BuildError> {
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("masthead_http_server_request_duration_seconds".into()),
            &exponential(0.0005, 14),
        )?
        .set_buckets_for_metric(Matcher::Full("masthead_match_duration_seconds".into()), &exponential(0.00005, 14))?
        .set_buckets_for_metric(
            Matcher::Full("masthead_match_score".into()),
            &(1..=10).map(|i| f64::from(i) * 10.0).collect::<Vec<_>>(),
        )?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(BuildError::FailedToSetGlobalRecorder)?;
    for (name, help) in DESCRIBED {
        metrics::describe_counter!(*name, *help);
    }
    Ok(handle)
}

/// The process's Prometheus recorder, installed on first use. Every role
/// (and every test in one process) shares it; `None` if another recorder
/// was installed first, in which case `/metrics` serves nothing.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match build() {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::error!(error = %e, "metrics recorder not installed; /metrics stays empty");
                None
            }
        })
        .as_ref()
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    #[test]
    fn counters_from_the_facade_are_rendered_with_their_names() {
        handle().expect("installed");
        metrics::counter!("masthead_data_key_pool_misses_total").increment(3);
        metrics::histogram!("masthead_match_score").record(87.0);
        let text = render();
        assert!(value(&text, "masthead_data_key_pool_misses_total").is_some_and(|v| v >= 3.0), "{text}");
        assert!(text.contains("masthead_match_score_bucket{le=\"90\"}"), "histograms have buckets: {text}");
        assert!(text.contains("# HELP masthead_data_key_pool_misses_total"), "{text}");
    }
}
