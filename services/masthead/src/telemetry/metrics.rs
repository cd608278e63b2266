//! Prometheus metrics, served at `GET /metrics` by every role. Names follow
//! the OpenTelemetry semantic conventions mapped to Prometheus (durations in
//! seconds, `_total` counters).

use prometheus::{
    exponential_buckets, linear_buckets, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use std::sync::LazyLock;
use std::time::Duration;

pub struct Metrics {
    pub registry: Registry,
    pub http_duration: HistogramVec,
    pub events_appended: IntCounterVec,
    pub consumer_processed: IntCounterVec,
    pub consumer_failed: IntCounterVec,
    pub match_duration: HistogramVec,
    pub match_score: HistogramVec,
    pub match_outcomes: IntCounterVec,
    pub mail_sent: IntCounterVec,
    pub mail_failed: IntCounterVec,
    pub consumer_pending: IntGaugeVec,
    pub consumer_ack_pending: IntGaugeVec,
    pub dead_letters: IntGaugeVec,
    pub data_key_pool_misses: IntCounter,
}

fn build() -> Result<Metrics, prometheus::Error> {
    let registry = Registry::new_custom(Some("masthead".into()), None)?;
    let http_duration = HistogramVec::new(
        HistogramOpts::new("http_server_request_duration_seconds", "HTTP request duration")
            .buckets(exponential_buckets(0.0005, 2.0, 14)?),
        &["http_route", "http_request_method", "http_response_status_code"],
    )?;
    let events_appended = IntCounterVec::new(Opts::new("events_appended_total", "events appended"), &["event_type"])?;
    let consumer_processed =
        IntCounterVec::new(Opts::new("consumer_events_processed_total", "events handled"), &["consumer"])?;
    let consumer_failed = IntCounterVec::new(
        Opts::new("consumer_events_failed_total", "events retried or dead-lettered"),
        &["consumer"],
    )?;
    let match_duration = HistogramVec::new(
        HistogramOpts::new("match_duration_seconds", "time to match one address")
            .buckets(exponential_buckets(0.00005, 2.0, 14)?),
        &["outcome"],
    )?;
    let match_score = HistogramVec::new(
        HistogramOpts::new("match_score", "score of accepted matches").buckets(linear_buckets(10.0, 10.0, 10)?),
        &[],
    )?;
    let match_outcomes = IntCounterVec::new(Opts::new("match_outcomes_total", "match outcomes"), &["outcome"])?;
    let mail_sent = IntCounterVec::new(Opts::new("mail_sent_total", "confirmation mails sent"), &[])?;
    let mail_failed = IntCounterVec::new(Opts::new("mail_failed_total", "confirmation mail failures"), &["reason"])?;
    let consumer_pending = IntGaugeVec::new(
        Opts::new("consumer_pending_messages", "messages waiting per durable consumer"),
        &["consumer"],
    )?;
    let consumer_ack_pending = IntGaugeVec::new(
        Opts::new("consumer_ack_pending_messages", "delivered, not yet acked, per consumer"),
        &["consumer"],
    )?;
    let dead_letters = IntGaugeVec::new(Opts::new("dead_letters_total", "dead-letter records"), &["consumer"])?;
    let data_key_pool_misses = IntCounter::new(
        "data_key_pool_misses_total",
        "seals that found the data-key pool empty and wrote a key page on the request path (or failed to)",
    )?;
    for c in [
        Box::new(http_duration.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(events_appended.clone()),
        Box::new(consumer_processed.clone()),
        Box::new(consumer_failed.clone()),
        Box::new(match_duration.clone()),
        Box::new(match_score.clone()),
        Box::new(match_outcomes.clone()),
        Box::new(mail_sent.clone()),
        Box::new(mail_failed.clone()),
        Box::new(consumer_pending.clone()),
        Box::new(consumer_ack_pending.clone()),
        Box::new(dead_letters.clone()),
        Box::new(data_key_pool_misses.clone()),
    ] {
        registry.register(c)?;
    }
    Ok(Metrics {
        registry,
        http_duration,
        events_appended,
        consumer_processed,
        consumer_failed,
        match_duration,
        match_score,
        match_outcomes,
        mail_sent,
        mail_failed,
        consumer_pending,
        consumer_ack_pending,
        dead_letters,
        data_key_pool_misses,
    })
}

pub static METRICS: LazyLock<Option<Metrics>> = LazyLock::new(|| build().ok());

pub fn record_match(outcome: &str, score: Option<f64>, elapsed: Duration) {
    if let Some(m) = METRICS.as_ref() {
        m.match_duration.with_label_values(&[outcome]).observe(elapsed.as_secs_f64());
        m.match_outcomes.with_label_values(&[outcome]).inc();
        if let Some(s) = score {
            m.match_score.with_label_values(&[] as &[&str]).observe(s);
        }
    }
}

pub fn record_processed(consumer: &str, ok: u64, failed: u64) {
    if let Some(m) = METRICS.as_ref() {
        m.consumer_processed.with_label_values(&[consumer]).inc_by(ok);
        m.consumer_failed.with_label_values(&[consumer]).inc_by(failed);
    }
}

pub fn record_appended(event_type: &str) {
    if let Some(m) = METRICS.as_ref() {
        m.events_appended.with_label_values(&[event_type]).inc();
    }
}

pub fn record_mail(sent: bool, reason: &str) {
    if let Some(m) = METRICS.as_ref() {
        if sent {
            m.mail_sent.with_label_values(&[] as &[&str]).inc();
        } else {
            m.mail_failed.with_label_values(&[reason]).inc();
        }
    }
}

pub fn record_http(route: &str, method: &str, status: u16, elapsed: Duration) {
    if let Some(m) = METRICS.as_ref() {
        m.http_duration.with_label_values(&[route, method, &status.to_string()]).observe(elapsed.as_secs_f64());
    }
}

/// Brings `data_key_pool_misses_total` up to the pool's own count, which
/// only grows. Called at scrape time, so the request path pays nothing. A
/// process has one pool; were there several, this would show the largest
/// count, not their sum.
pub fn sync_key_pool_misses(total: u64) {
    // Two scrapes at once (an HA Prometheus pair) must not both add the
    // same difference: a counter cannot be corrected downwards.
    static SYNC: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SYNC.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(m) = METRICS.as_ref() {
        let shown = m.data_key_pool_misses.get();
        if total > shown {
            m.data_key_pool_misses.inc_by(total - shown);
        }
    }
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let Some(m) = METRICS.as_ref() else { return String::new() };
    let mut buf = Vec::new();
    let _ = TextEncoder::new().encode(&m.registry.gather(), &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown() -> Option<u64> {
        render().lines().find_map(|l| l.strip_prefix("masthead_data_key_pool_misses_total ")?.trim().parse().ok())
    }

    #[test]
    fn pool_misses_follow_the_pool_and_never_go_back() {
        sync_key_pool_misses(3);
        assert_eq!(shown(), Some(3));
        // A scrape that sees an older count (another pool in this process,
        // a restart of the pool) must not make a counter go down.
        sync_key_pool_misses(2);
        assert_eq!(shown(), Some(3));
        sync_key_pool_misses(7);
        assert_eq!(shown(), Some(7));
    }
}
