//! W3C trace context (`traceparent`/`tracestate`) to and from the
//! OpenTelemetry context of `tracing` spans. The event store injects it into
//! NATS headers on publish; the consumer runtime extracts it on delivery.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A span's context as W3C headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceHeaders {
    pub traceparent: String,
    pub tracestate: Option<String>,
}

/// The W3C headers of a span, or `None` when it has no valid
/// OpenTelemetry context (no OpenTelemetry layer, or a disabled span).
pub fn of(span: &tracing::Span) -> Option<TraceHeaders> {
    let cx = span.context();
    headers(cx.span().span_context())
}

/// What `TraceContextPropagator::inject_context` writes, without the
/// map it writes into: an intake request asks up to three times, and the
/// map, its keys and the propagator were ~2 % of the API's CPU.
fn headers(sc: &SpanContext) -> Option<TraceHeaders> {
    if !sc.is_valid() {
        return None;
    }
    let traceparent =
        format!("{:02x}-{}-{}-{:02x}", 0, sc.trace_id(), sc.span_id(), sc.trace_flags() & TraceFlags::SAMPLED);
    let tracestate = Some(sc.trace_state().header()).filter(|s| !s.is_empty());
    Some(TraceHeaders { traceparent, tracestate })
}

/// The current span's W3C headers.
pub fn current() -> Option<TraceHeaders> {
    of(&tracing::Span::current())
}

/// Whether the current span has an OpenTelemetry context, so that spans
/// started now descend from it; cheaper than [`current`], which also
/// formats the headers.
pub fn current_is_traced() -> bool {
    tracing::Span::current().context().span().span_context().is_valid()
}

/// The remote context a `traceparent` describes; invalid (an empty
/// context) when the header is malformed, which callers treat as "no
/// parent" rather than an error: a broken header must not fail a request.
pub fn remote(traceparent: &str, tracestate: Option<&str>) -> opentelemetry::Context {
    let mut carrier = HashMap::with_capacity(2);
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(ts) = tracestate {
        carrier.insert("tracestate".to_owned(), ts.to_owned());
    }
    TraceContextPropagator::new().extract(&carrier)
}

/// The span context a `traceparent` describes, if it is valid.
pub fn remote_span_context(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
    let cx = remote(traceparent, tracestate);
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// The trace id of a span as 32 hex digits, for log lines.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceId, TraceState};

    /// What the SDK's propagator writes for `sc`.
    fn propagated(sc: &SpanContext) -> HashMap<String, String> {
        let cx = opentelemetry::Context::new().with_remote_span_context(sc.clone());
        let mut carrier = HashMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut carrier);
        carrier
    }

    #[test]
    fn headers_are_what_the_propagator_writes() {
        let state = TraceState::from_key_value([("vendor", "v1")]).expect("trace state");
        for (flags, state) in [
            (TraceFlags::SAMPLED, TraceState::default()),
            (TraceFlags::default(), state.clone()),
            (TraceFlags::new(0xff), state),
        ] {
            let sc = SpanContext::new(
                TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id"),
                SpanId::from_hex("00f067aa0ba902b7").expect("span id"),
                flags,
                true,
                state,
            );
            let ours = headers(&sc).expect("a valid context has headers");
            let theirs = propagated(&sc);
            assert_eq!(Some(&ours.traceparent), theirs.get("traceparent"));
            assert_eq!(ours.tracestate, theirs.get("tracestate").filter(|s| !s.is_empty()).cloned());
        }
        assert_eq!(headers(&SpanContext::empty_context()), None);
    }
}
