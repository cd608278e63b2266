//! The envelope: who, what and when of each stored event, beside its payload.
//!
//! The event store keeps the envelope apart from the payload (in NATS
//! headers, see `masthead-jetstream`), so that consumers can route,
//! deduplicate and trace an event without parsing its payload, and a payload
//! that cannot be parsed can still be dead-lettered with its identity intact.
//! This module holds the envelope as data and the decoding of a payload once
//! its envelope is known; how it is written to a transport is not its concern.

use crate::base_address::{self, BaseAddressEvent};
use crate::review::{self, ReviewEvent};
use crate::schema::{decode, EventSchema, SchemaError, Upcaster};
use crate::subscription::{self, SubscriptionEvent};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The names the envelope's fields are stored under (NATS headers), part
/// of the stored format like the payloads themselves. `Nats-*` ones are the
/// server's own.
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
}

/// Who caused a command and how to trace it. Passed with every command and
/// copied into the envelope of each event it produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandMeta {
    /// Ties together every event of one business flow (one subscription).
    pub correlation_id: Option<String>,
    /// The event id (or request id) that caused this command.
    pub causation_id: Option<String>,
    /// W3C trace context of the caller, if any. The event store prefers the
    /// context of the span it appends in, when there is one.
    pub traceparent: Option<String>,
    pub tracestate: Option<String>,
    /// Makes the append idempotent: becomes the store's deduplication id.
    pub idempotency_key: Option<String>,
}

impl CommandMeta {
    /// Metadata for a command caused by a recorded event: same correlation,
    /// caused by that event, idempotent per (cause, purpose). The producer's
    /// trace context is handed on, so the chain is not lost where no span of
    /// the consumer's own is traced.
    pub fn caused_by(envelope: &Envelope, purpose: &str) -> Self {
        Self {
            correlation_id: Some(envelope.correlation_id.clone()),
            causation_id: Some(envelope.event_id.to_string()),
            traceparent: envelope.traceparent.clone(),
            tracestate: None,
            idempotency_key: Some(format!("{purpose}:{}", envelope.event_id)),
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

/// An event as stored: envelope, stream position and the decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded<E> {
    pub envelope: Envelope,
    /// The stream sequence. Global, strictly increasing.
    pub stream_sequence: u64,
    pub event: E,
}

/// An event of any aggregate, for consumers that read the whole stream.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyEvent {
    Subscription(SubscriptionEvent),
    BaseAddress(BaseAddressEvent),
    Review(ReviewEvent),
}

impl AnyEvent {
    /// The stored JSON payload of whichever event this is.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::Subscription(e) => e.payload_bytes(),
            Self::BaseAddress(e) => e.payload_bytes(),
            Self::Review(e) => e.payload_bytes(),
        }
    }
}

/// Decodes the payload of a stored event of any aggregate type, upcasting
/// old versions, once its envelope has been read.
pub fn decode_any(envelope: Envelope, payload: &[u8], stream_sequence: u64) -> Result<Recorded<AnyEvent>, SchemaError> {
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
        ReviewEvent::AGGREGATE_TYPE => {
            AnyEvent::Review(decode(review::UPCASTERS, &envelope.event_type, envelope.schema_version, payload)?)
        }
        _ => return Err(SchemaError::Header(header::AGGREGATE_TYPE)),
    };
    Ok(Recorded { envelope, stream_sequence, event })
}

/// Decodes the payload of a stored event of one known aggregate type.
pub fn decode_as<E: HasUpcasters>(
    envelope: Envelope,
    payload: &[u8],
    stream_sequence: u64,
) -> Result<Recorded<E>, SchemaError> {
    if envelope.aggregate_type != E::AGGREGATE_TYPE {
        return Err(SchemaError::Header(header::AGGREGATE_TYPE));
    }
    let event = decode(E::upcasters(), &envelope.event_type, envelope.schema_version, payload)?;
    Ok(Recorded { envelope, stream_sequence, event })
}

/// Upcasters for an event enum, so generic code can find them.
pub trait HasUpcasters: EventSchema {
    fn upcasters() -> &'static [Upcaster];
}

impl HasUpcasters for SubscriptionEvent {
    fn upcasters() -> &'static [Upcaster] {
        subscription::event::UPCASTERS
    }
}

impl HasUpcasters for BaseAddressEvent {
    fn upcasters() -> &'static [Upcaster] {
        base_address::UPCASTERS
    }
}

impl HasUpcasters for ReviewEvent {
    fn upcasters() -> &'static [Upcaster] {
        review::UPCASTERS
    }
}
