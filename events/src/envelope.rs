//! The envelope: what travels in NATS headers beside each event's payload.
//!
//! Keeping the envelope in headers means consumers can route, deduplicate
//! and trace an event without parsing its payload, and a payload that cannot
//! be parsed can still be dead-lettered with its identity intact.

use crate::base_address::{self, BaseAddressEvent};
use crate::schema::{decode, EventSchema, SchemaError};
use crate::subscription::{self, SubscriptionEvent};
use async_nats::HeaderMap;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Header names. `Nats-*` ones are the server's own.
pub mod header {
    pub const EVENT_TYPE: &str = "Masthead-Event-Type";
    pub const SCHEMA_VERSION: &str = "Masthead-Schema-Version";
    pub const AGGREGATE_TYPE: &str = "Masthead-Aggregate-Type";
    pub const AGGREGATE_ID: &str = "Masthead-Aggregate-Id";
    pub const AGGREGATE_VERSION: &str = "Masthead-Aggregate-Version";
    pub const EVENT_ID: &str = "Masthead-Event-Id";
    pub const OCCURRED_AT: &str = "Masthead-Occurred-At";
    pub const CORRELATION_ID: &str = "Masthead-Correlation-Id";
    pub const CAUSATION_ID: &str = "Masthead-Causation-Id";
    pub const TRACEPARENT: &str = "traceparent";
    pub const TRACESTATE: &str = "tracestate";
    pub const MSG_ID: &str = "Nats-Msg-Id";
    pub const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";

    /// One of the names above as a header name that borrows the static
    /// text: inserting by `&str` copies the name into a new allocation for
    /// every message.
    pub fn name(name: &'static str) -> async_nats::HeaderName {
        async_nats::HeaderName::from_static(name)
    }
}

/// Who caused a command and how to trace it. Passed with every command and
/// copied into the envelope of each event it produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandMeta {
    /// Ties together every event of one business flow (one subscription).
    pub correlation_id: Option<String>,
    /// The event id (or request id) that caused this command.
    pub causation_id: Option<String>,
    /// W3C trace context of the caller, if any.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// Makes the append idempotent: becomes the `Nats-Msg-Id`.
    pub idempotency_key: Option<String>,
}

impl CommandMeta {
    /// Metadata for a command caused by a recorded event: same correlation,
    /// caused by that event, idempotent per (cause, purpose).
    ///
    /// The trace context is the *current* span's (the consumer's `process`
    /// span when called from a handler), so the follow-up publish is a child
    /// of the processing that decided it rather than a sibling of it. Without
    /// an OpenTelemetry layer there is no current context, and the producer's
    /// context is passed on unchanged so the chain is not lost.
    pub fn caused_by(envelope: &Envelope, purpose: &str) -> Self {
        let (traceparent, tracestate) = match trace::current() {
            Some(current) => (Some(current.traceparent), current.tracestate),
            None => (envelope.traceparent.clone(), None),
        };
        Self {
            correlation_id: Some(envelope.correlation_id.clone()),
            causation_id: Some(envelope.event_id.to_string()),
            traceparent,
            tracestate,
            idempotency_key: Some(format!("{purpose}:{}", envelope.event_id)),
        }
    }
}

/// W3C trace context (`traceparent`/`tracestate`) to and from the
/// OpenTelemetry context of `tracing` spans. The event store injects it into
/// NATS headers on publish; the consumer runtime extracts it on delivery.
pub mod trace {
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// 1-based position of the event in its aggregate's history.
    pub aggregate_version: u64,
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: String,
    pub causation_id: Option<String>,
    pub traceparent: Option<String>,
}

/// The envelope headers of one message, found in one pass over the map.
/// Ten lookups by name would hash and compare every name again, a tenth of
/// a replay's time.
#[derive(Default)]
struct EnvelopeHeaders<'a> {
    event_id: Option<&'a str>,
    event_type: Option<&'a str>,
    schema_version: Option<&'a str>,
    aggregate_type: Option<&'a str>,
    aggregate_id: Option<&'a str>,
    aggregate_version: Option<&'a str>,
    occurred_at: Option<&'a str>,
    correlation_id: Option<&'a str>,
    causation_id: Option<&'a str>,
    traceparent: Option<&'a str>,
}

impl<'a> EnvelopeHeaders<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        let mut h = Self::default();
        for (name, values) in headers.iter() {
            let slot = match AsRef::<str>::as_ref(name) {
                header::EVENT_ID => &mut h.event_id,
                header::EVENT_TYPE => &mut h.event_type,
                header::SCHEMA_VERSION => &mut h.schema_version,
                header::AGGREGATE_TYPE => &mut h.aggregate_type,
                header::AGGREGATE_ID => &mut h.aggregate_id,
                header::AGGREGATE_VERSION => &mut h.aggregate_version,
                header::OCCURRED_AT => &mut h.occurred_at,
                header::CORRELATION_ID => &mut h.correlation_id,
                header::CAUSATION_ID => &mut h.causation_id,
                header::TRACEPARENT => &mut h.traceparent,
                _ => continue,
            };
            // As `HeaderMap::get`: the first value of a repeated header.
            *slot = values.first().map(|v| v.as_str());
        }
        h
    }
}

fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, SchemaError> {
    value.ok_or(SchemaError::Header(name))
}

fn number<T: std::str::FromStr>(value: Option<&str>, name: &'static str) -> Result<T, SchemaError> {
    required(value, name)?.parse().map_err(|_| SchemaError::Header(name))
}

impl Envelope {
    pub fn to_headers(&self, headers: &mut HeaderMap) {
        use header::name;
        headers.insert(name(header::EVENT_TYPE), self.event_type.clone());
        headers.insert(name(header::SCHEMA_VERSION), self.schema_version.to_string());
        headers.insert(name(header::AGGREGATE_TYPE), self.aggregate_type.clone());
        headers.insert(name(header::AGGREGATE_ID), self.aggregate_id.clone());
        headers.insert(name(header::AGGREGATE_VERSION), self.aggregate_version.to_string());
        headers.insert(name(header::EVENT_ID), self.event_id.to_string());
        headers.insert(name(header::OCCURRED_AT), self.occurred_at.to_rfc3339());
        headers.insert(name(header::CORRELATION_ID), self.correlation_id.clone());
        if let Some(c) = &self.causation_id {
            headers.insert(name(header::CAUSATION_ID), c.clone());
        }
        if let Some(t) = &self.traceparent {
            headers.insert(name(header::TRACEPARENT), t.clone());
        }
    }

    pub fn from_headers(headers: &HeaderMap) -> Result<Self, SchemaError> {
        let h = EnvelopeHeaders::of(headers);
        Ok(Self {
            event_id: number(h.event_id, header::EVENT_ID)?,
            event_type: required(h.event_type, header::EVENT_TYPE)?.to_owned(),
            schema_version: number(h.schema_version, header::SCHEMA_VERSION)?,
            aggregate_type: required(h.aggregate_type, header::AGGREGATE_TYPE)?.to_owned(),
            aggregate_id: required(h.aggregate_id, header::AGGREGATE_ID)?.to_owned(),
            aggregate_version: number(h.aggregate_version, header::AGGREGATE_VERSION)?,
            occurred_at: DateTime::parse_from_rfc3339(required(h.occurred_at, header::OCCURRED_AT)?)
                .map_err(|_| SchemaError::Header(header::OCCURRED_AT))?
                .with_timezone(&Utc),
            correlation_id: required(h.correlation_id, header::CORRELATION_ID)?.to_owned(),
            causation_id: h.causation_id.map(str::to_owned),
            traceparent: h.traceparent.map(str::to_owned),
        })
    }
}

/// An event as stored: envelope, stream position and the decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<E> {
    pub envelope: Envelope,
    /// The JetStream stream sequence. Global, strictly increasing.
    pub stream_sequence: u64,
    pub event: E,
}

/// An event of any aggregate, for consumers that read the whole stream.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyEvent {
    Subscription(SubscriptionEvent),
    BaseAddress(BaseAddressEvent),
}

/// Decodes a stored message of any aggregate type, upcasting old versions.
pub fn decode_any(
    headers: &HeaderMap,
    payload: &[u8],
    stream_sequence: u64,
) -> Result<Recorded<AnyEvent>, SchemaError> {
    let envelope = Envelope::from_headers(headers)?;
    let event = match envelope.aggregate_type.as_str() {
        SubscriptionEvent::AGGREGATE_TYPE => AnyEvent::Subscription(decode(
            subscription::event::UPCASTERS,
            &envelope.event_type,
            envelope.schema_version,
            payload,
        )?),
        BaseAddressEvent::AGGREGATE_TYPE => AnyEvent::BaseAddress(decode(
            base_address::UPCASTERS,
            &envelope.event_type,
            envelope.schema_version,
            payload,
        )?),
        _ => return Err(SchemaError::Header(header::AGGREGATE_TYPE)),
    };
    Ok(Recorded { envelope, stream_sequence, event })
}

/// Decodes a stored message of one known aggregate type.
pub fn decode_as<E: EventSchema>(
    upcasters: &[crate::schema::Upcaster],
    headers: &HeaderMap,
    payload: &[u8],
    stream_sequence: u64,
) -> Result<Recorded<E>, SchemaError> {
    let envelope = Envelope::from_headers(headers)?;
    if envelope.aggregate_type != E::AGGREGATE_TYPE {
        return Err(SchemaError::Header(header::AGGREGATE_TYPE));
    }
    let event = decode(upcasters, &envelope.event_type, envelope.schema_version, payload)?;
    Ok(Recorded { envelope, stream_sequence, event })
}

/// Upcasters for an event enum, so generic code can find them.
pub trait HasUpcasters: EventSchema {
    fn upcasters() -> &'static [crate::schema::Upcaster];
}

impl HasUpcasters for SubscriptionEvent {
    fn upcasters() -> &'static [crate::schema::Upcaster] {
        subscription::event::UPCASTERS
    }
}

impl HasUpcasters for BaseAddressEvent {
    fn upcasters() -> &'static [crate::schema::Upcaster] {
        base_address::UPCASTERS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            event_id: Uuid::from_u128(7),
            event_type: "AddressMatched".into(),
            schema_version: 1,
            aggregate_type: "subscription".into(),
            aggregate_id: "s-1".into(),
            aggregate_version: 2,
            occurred_at: DateTime::parse_from_rfc3339("2024-03-01T10:00:00.5Z").expect("time").with_timezone(&Utc),
            correlation_id: "c-1".into(),
            causation_id: Some("e-0".into()),
            traceparent: None,
        }
    }

    #[test]
    fn headers_round_trip_and_a_missing_one_is_named() {
        let e = envelope();
        let mut headers = HeaderMap::new();
        e.to_headers(&mut headers);
        headers.insert("Unrelated", "x");
        assert_eq!(Envelope::from_headers(&headers).expect("decodes"), e);

        let mut headers = HeaderMap::new();
        Envelope { causation_id: None, traceparent: Some("00-tp".into()), ..e.clone() }.to_headers(&mut headers);
        let back = Envelope::from_headers(&headers).expect("decodes");
        assert_eq!((back.causation_id, back.traceparent.as_deref()), (None, Some("00-tp")));

        for missing in [header::EVENT_ID, header::AGGREGATE_VERSION, header::OCCURRED_AT, header::CORRELATION_ID] {
            let mut headers = HeaderMap::new();
            e.to_headers(&mut headers);
            let mut without = HeaderMap::new();
            for (name, values) in headers.iter() {
                if AsRef::<str>::as_ref(name) != missing {
                    for v in values {
                        without.append(name.clone(), v.clone());
                    }
                }
            }
            assert!(matches!(Envelope::from_headers(&without), Err(SchemaError::Header(h)) if h == missing));
        }
        let mut headers = HeaderMap::new();
        e.to_headers(&mut headers);
        headers.insert(header::SCHEMA_VERSION, "one");
        assert!(matches!(Envelope::from_headers(&headers), Err(SchemaError::Header(header::SCHEMA_VERSION))));
    }
}
