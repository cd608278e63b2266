use masthead::config::Config;
use opentelemetry_sdk::trace::SpanData;

pub fn test_config(nats_url: &str, data_dir: &std::path::Path) -> Config {
    Config::for_nats(nats_url, data_dir, "TELEMETRY")
}

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
