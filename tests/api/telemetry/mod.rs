//! Telemetry: traces across the HTTP → JetStream → consumer path, the OTLP
//! export, metrics from the middleware, the log filter and its span fields.
//! (The real binary's logs over a whole flow are a `system` test.)
//!
//! Tests that install a subscriber do it per thread (`set_default`) on a
//! current-thread runtime, so the app they start runs on that thread and
//! tests running side by side in this binary never see each other's spans.

mod config;
mod http;
mod log_filter;
mod otlp;

use opentelemetry_sdk::trace::SpanData;

/// A span attribute as text.
pub fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

/// The one span matching `pred`; fails listing every span otherwise.
pub fn the<'a>(spans: &'a [SpanData], what: &str, pred: impl Fn(&SpanData) -> bool) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| pred(s)).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {what} span, found {}: {:#?}",
        found.len(),
        spans.iter().map(|s| (&s.name, attr(s, "masthead.event.type"))).collect::<Vec<_>>()
    );
    found[0]
}
