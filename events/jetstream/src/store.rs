//! The event store on JetStream.
//!
//! Appends carry `Nats-Expected-Last-Subject-Sequence`: the stream sequence of
//! the last event the writer read for that aggregate (0 for "no events yet").
//! The server refuses the append if anything was written to the subject since,
//! which is optimistic concurrency without a lock. `Nats-Msg-Id` makes a
//! retried append a no-op within the server's dedup window; a duplicate ack is
//! answered with the event that was stored the first time.

use crate::headers::{decode_message, decode_message_as, name, write_envelope};
use crate::topology::Topology;
use crate::trace;
use async_nats::jetstream::{self, context::PublishErrorKind, stream::DirectGetErrorKind};
use async_nats::HeaderMap;
use chrono::Utc;
use masthead_domain::envelope::{header, AnyEvent, CommandMeta, Envelope, HasUpcasters, Recorded};
use masthead_domain::schema::SchemaError;
use opentelemetry::trace::TraceContextExt;
use std::time::Duration;
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

/// The `publish` span of one append, following the OpenTelemetry messaging
/// conventions. Its name uses the subject *template*: the subject itself
/// carries the aggregate id, and span names must have low cardinality. The
/// full subject is the `messaging.destination.name` attribute.
fn publish_span(
    topology: &Topology,
    aggregate_type: &str,
    subject: &str,
    event: (Uuid, &str),
    meta: &CommandMeta,
) -> tracing::Span {
    let template = topology.aggregate_filter(aggregate_type);
    let name = format!("publish {template}");
    // Strings are passed as `&str`, not `%`: Display would format each one
    // again, for every layer, on every append.
    let span = tracing::info_span!(
        "publish",
        otel.name = name.as_str(),
        otel.kind = "producer",
        otel.status_code = Empty,
        messaging.system = "nats",
        messaging.operation.type = "publish",
        messaging.operation.name = "publish",
        messaging.destination.name = subject,
        messaging.destination.template = template.as_str(),
        messaging.message.id = %event.0,
        masthead.event.type = event.1,
        masthead.stream.sequence = Empty,
        masthead.duplicate = Empty,
        error.type = Empty,
        correlation_id = meta.correlation_id.as_deref(),
    );
    // Inside a traced span (an HTTP request, a consumer's `process`) the
    // publish span descends from it by itself. Only without one does the
    // caller's context (`CommandMeta::traceparent`, e.g. the producer of the
    // event a command follows) become the parent, so the chain is not lost;
    // keeping the local parent when there is one keeps the sampler's "local
    // parent" rules in force.
    if let Some(tp) = &meta.traceparent {
        if !trace::current_is_traced() {
            let parent = trace::remote(tp, meta.tracestate.as_deref());
            if parent.span().span_context().is_valid() {
                let _ = span.set_parent(parent);
            }
        }
    }
    span
}

fn error_type(e: &AppendError) -> &'static str {
    match e {
        AppendError::Conflict { .. } => "conflict",
        AppendError::Unavailable(_) => "unavailable",
        AppendError::StreamMissing(_) => "stream_missing",
        AppendError::Encode(_) => "encode",
        AppendError::Refused(_) => "refused",
        AppendError::Read(_) => "read",
    }
}

/// How long an append or read may take before the store reports the server
/// unavailable. The intake API promises an answer within 2 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(1500);

/// What a history read that got no answer reports.
const HISTORY_TIMEOUT: &str = "timed out reading history";

/// Error codes that mean "someone wrote to this subject since you read it".
/// 10071 is the classic one; newer clustered servers answer 10164.
const CONFLICT_CODES: [u64; 2] = [10071, 10164];

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer appended to this aggregate since it was read. Reload the
    /// aggregate and decide again (bounded retries), or report a conflict.
    #[error("concurrent append to {subject}")]
    Conflict { subject: String },
    /// NATS or JetStream did not answer in time, or the connection is down.
    /// Nothing was stored, or the outcome is unknown: retry with the same
    /// idempotency key, or tell the client to retry later (HTTP 503).
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// No stream captures the subject: setup has not run. Run `masthead setup`
    /// (every role runs it at start) and retry.
    #[error("stream {0} does not exist")]
    StreamMissing(String),
    /// The event could not be encoded. A bug; do not retry.
    #[error("cannot encode event: {0}")]
    Encode(#[from] serde_json::Error),
    /// The server refused the message for another reason (size, permissions).
    /// Do not retry unchanged.
    #[error("append refused: {0}")]
    Refused(String),
    /// A duplicate ack pointed at a message that could not be read back.
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// Why reading failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// NATS or JetStream did not answer. Retry later (HTTP 503).
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// A stored event cannot be decoded. Poison: report it with its sequence;
    /// the aggregate cannot be loaded until an upcaster handles it.
    #[error("event at sequence {sequence} is unreadable: {source}")]
    Undecodable { sequence: u64, source: SchemaError },
    /// No message at that sequence.
    #[error("no event at sequence {0}")]
    NotFound(u64),
}

/// An aggregate's history and the position to append after.
#[derive(Debug, Clone)]
pub struct History<E> {
    pub events: Vec<Recorded<E>>,
    /// Stream sequence of the last event, 0 when there is none.
    pub last_sequence: u64,
}

impl<E> History<E> {
    pub fn version(&self) -> u64 {
        self.events.last().map_or(0, |e| e.envelope.aggregate_version)
    }
}

#[derive(Clone)]
pub struct EventStore {
    js: jetstream::Context,
    topology: Topology,
    timeout: Duration,
}

/// Whether a failed publish means "someone wrote to this subject since you
/// read it" (for callers that classify errors without the subject).
pub fn is_conflict(err: &async_nats::jetstream::context::PublishError) -> bool {
    if err.kind() == PublishErrorKind::WrongLastSequence {
        return true;
    }
    std::error::Error::source(err)
        .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
        .is_some_and(|e| CONFLICT_CODES.contains(&e.error_code().0))
}

impl EventStore {
    pub fn new(js: jetstream::Context, topology: Topology) -> Self {
        Self { js, topology, timeout: DEFAULT_REQUEST_TIMEOUT }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    /// `read`, or `Unavailable(on_timeout)` when the server does not answer
    /// within the store's timeout.
    async fn within<T>(
        &self,
        on_timeout: &'static str,
        read: impl std::future::Future<Output = T>,
    ) -> Result<T, ReadError> {
        tokio::time::timeout(self.timeout, read).await.map_err(|_| ReadError::Unavailable(on_timeout.into()))
    }

    async fn stream(&self) -> Result<jetstream::stream::Stream<()>, ReadError> {
        self.within("timed out", self.js.get_stream_no_info(&self.topology.stream))
            .await?
            .map_err(|e| ReadError::Unavailable(e.to_string()))
    }

    /// Reads an aggregate's whole history, upcasting old events.
    ///
    /// The first and the last event of the subject are fetched together.
    /// When their aggregate versions are adjacent (or they are the same
    /// event) that is the whole history: one round trip for the common
    /// short history (a subscription's request and its match, read by the
    /// mailer) instead of one per event plus a final "not found". Anything
    /// else is read event by event after the first, as before.
    pub async fn load<E: HasUpcasters>(&self, aggregate_id: &str) -> Result<History<E>, ReadError> {
        let subject = self.topology.subject(E::AGGREGATE_TYPE, aggregate_id);
        let stream = self.stream().await?;
        let (first, last) = tokio::join!(
            self.within(HISTORY_TIMEOUT, stream.direct_get_next_for_subject(subject.as_str(), Some(1))),
            self.within(HISTORY_TIMEOUT, stream.direct_get_last_for_subject(subject.as_str())),
        );
        let decode = |msg: &jetstream::message::StreamMessage| {
            decode_message_as::<E>(&msg.headers, &msg.payload, msg.sequence)
                .map_err(|source| ReadError::Undecodable { sequence: msg.sequence, source })
        };
        let first = match first? {
            Ok(msg) => decode(&msg)?,
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => {
                return Ok(History { events: Vec::new(), last_sequence: 0 })
            }
            Err(e) => return Err(ReadError::Unavailable(e.to_string())),
        };
        let mut events = vec![first];
        if let Ok(Ok(msg)) = &last {
            if msg.sequence == events[0].stream_sequence {
                return Ok(History { last_sequence: msg.sequence, events });
            }
            let last = decode(msg)?;
            if last.envelope.aggregate_version == events[0].envelope.aggregate_version + 1 {
                let last_sequence = last.stream_sequence;
                events.push(last);
                return Ok(History { events, last_sequence });
            }
        }
        let mut next_from = events[0].stream_sequence + 1;
        loop {
            let got = self
                .within(HISTORY_TIMEOUT, stream.direct_get_next_for_subject(subject.as_str(), Some(next_from)))
                .await?;
            match got {
                Ok(msg) => {
                    let recorded = decode(&msg)?;
                    next_from = msg.sequence + 1;
                    events.push(recorded);
                }
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => break,
                Err(e) => return Err(ReadError::Unavailable(e.to_string())),
            }
        }
        let last_sequence = events.last().map_or(0, |e| e.stream_sequence);
        Ok(History { events, last_sequence })
    }

    /// Reads one stored event of any type.
    pub async fn get(&self, sequence: u64) -> Result<Recorded<AnyEvent>, ReadError> {
        let (headers, payload) = self.get_raw(sequence).await?;
        decode_message(Some(&headers), &payload, sequence).map_err(|source| ReadError::Undecodable { sequence, source })
    }

    /// Reads one stored message without decoding it.
    pub async fn get_raw(&self, sequence: u64) -> Result<(HeaderMap, bytes::Bytes), ReadError> {
        let stream = self.stream().await?;
        let got = self.within("timed out", stream.direct_get(sequence)).await?;
        match got {
            Ok(msg) => Ok((msg.headers, msg.payload)),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Err(ReadError::NotFound(sequence)),
            Err(e) => Err(ReadError::Unavailable(e.to_string())),
        }
    }

    /// Stream sequence of an aggregate's last event, 0 when it has none.
    pub async fn last_sequence_of(&self, aggregate_type: &str, aggregate_id: &str) -> Result<u64, ReadError> {
        let subject = self.topology.subject(aggregate_type, aggregate_id);
        let stream = self.stream().await?;
        let got = self.within("timed out", stream.direct_get_last_for_subject(subject)).await?;
        match got {
            Ok(msg) => Ok(msg.sequence),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(0),
            Err(e) => Err(ReadError::Unavailable(e.to_string())),
        }
    }

    /// The stream's last sequence: how far the event store has got.
    pub async fn last_sequence(&self) -> Result<u64, ReadError> {
        let mut stream = self
            .within("timed out", self.js.get_stream(&self.topology.stream))
            .await?
            .map_err(|e| ReadError::Unavailable(e.to_string()))?;
        let info = self.within("timed out", stream.info()).await?.map_err(|e| ReadError::Unavailable(e.to_string()))?;
        Ok(info.state.last_sequence)
    }

    /// Builds the message an append publishes: subject, headers (envelope,
    /// expected sequence, dedup id) and payload. Bulk writers pipeline these.
    pub fn encode_append<E: HasUpcasters>(
        &self,
        aggregate_id: &str,
        expected_last_sequence: u64,
        aggregate_version: u64,
        event: &E,
        meta: &CommandMeta,
    ) -> Result<(String, HeaderMap, bytes::Bytes, Envelope), AppendError> {
        let subject = self.topology.subject(E::AGGREGATE_TYPE, aggregate_id);
        let (headers, payload, envelope) = self.encode_with(
            &subject,
            Uuid::now_v7(),
            aggregate_id,
            expected_last_sequence,
            aggregate_version,
            event,
            meta,
        )?;
        Ok((subject, headers, payload, envelope))
    }

    /// `encode_append` for a subject and event id the caller already has.
    #[allow(clippy::too_many_arguments)]
    fn encode_with<E: HasUpcasters>(
        &self,
        subject: &str,
        event_id: Uuid,
        aggregate_id: &str,
        expected_last_sequence: u64,
        aggregate_version: u64,
        event: &E,
        meta: &CommandMeta,
    ) -> Result<(HeaderMap, bytes::Bytes, Envelope), AppendError> {
        // The current span's context travels with the event (inside `append`
        // that is the `publish` span, so consumers link to the publish);
        // without one, whatever context the caller passed is kept as it is.
        let (traceparent, tracestate) = match trace::current() {
            Some(current) => (Some(current.traceparent), current.tracestate),
            None => (meta.traceparent.clone(), meta.tracestate.clone()),
        };
        let envelope = Envelope {
            event_id,
            event_type: event.event_type().to_owned(),
            schema_version: event.schema_version(),
            aggregate_type: E::AGGREGATE_TYPE.to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            aggregate_version,
            occurred_at: Utc::now(),
            correlation_id: meta.correlation_id.clone().unwrap_or_else(|| aggregate_id.to_owned()),
            causation_id: meta.causation_id.clone(),
            traceparent,
        };
        let payload = event.payload_bytes()?;
        let mut headers = HeaderMap::new();
        write_envelope(&envelope, &mut headers);
        if let Some(ts) = &tracestate {
            headers.insert(name(header::TRACESTATE), ts.clone());
        }
        headers.insert(name(header::EXPECTED_LAST_SUBJECT_SEQUENCE), expected_last_sequence.to_string());
        if let Some(key) = &meta.idempotency_key {
            // Scope the key to the aggregate so two aggregates can reuse a
            // caller's key without colliding in the dedup window.
            headers.insert(name(header::MSG_ID), format!("{}:{}", subject, key));
        }
        Ok((headers, payload.into(), envelope))
    }

    /// Appends one event after `expected_last_sequence` (0: the aggregate must
    /// have no events). `aggregate_version` is the new event's 1-based
    /// position in its aggregate.
    pub async fn append<E: HasUpcasters>(
        &self,
        aggregate_id: &str,
        expected_last_sequence: u64,
        aggregate_version: u64,
        event: &E,
        meta: &CommandMeta,
    ) -> Result<Recorded<E>, AppendError> {
        let subject = self.topology.subject(E::AGGREGATE_TYPE, aggregate_id);
        // The event id and type are known up front, so the span is born with
        // them instead of being updated in every layer afterwards.
        let event_id = Uuid::now_v7();
        let span = publish_span(&self.topology, E::AGGREGATE_TYPE, &subject, (event_id, event.event_type()), meta);
        // Encoded inside the span, so the envelope carries its context.
        let encoded = span.in_scope(|| {
            self.encode_with(&subject, event_id, aggregate_id, expected_last_sequence, aggregate_version, event, meta)
        });
        let result = match encoded {
            Ok((headers, payload, envelope)) => {
                self.publish_encoded(subject, headers, payload, envelope, event).instrument(span.clone()).await
            }
            Err(e) => Err(e),
        };
        match &result {
            Ok(recorded) => {
                span.record("masthead.stream.sequence", recorded.stream_sequence);
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                span.record("error.type", error_type(e));
            }
        }
        result
    }

    async fn publish_encoded<E: HasUpcasters>(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: bytes::Bytes,
        envelope: Envelope,
        event: &E,
    ) -> Result<Recorded<E>, AppendError> {
        let retry_of = headers.get(header::MSG_ID).map(|v| v.to_string());
        let expected = headers
            .get(header::EXPECTED_LAST_SUBJECT_SEQUENCE)
            .and_then(|v| v.as_str().parse::<u64>().ok())
            .unwrap_or(0);
        let ack = match self.publish(subject.clone(), headers, payload).await {
            // A retry with a stale expectation: nats-server 2.10 answers with
            // a duplicate ack, 2.11 and later check the expectation first and
            // refuse. Both mean the first attempt was stored.
            Err(AppendError::Conflict { .. }) if retry_of.is_some() => {
                let original = Box::pin(self.original_of(&subject, expected, retry_of.as_deref())).await?;
                return original.ok_or(AppendError::Conflict { subject });
            }
            other => other?,
        };
        if ack.duplicate {
            tracing::Span::current().record("masthead.duplicate", true);
            // Boxed so the rare duplicate path does not enlarge every append's future.
            let (headers, payload) = Box::pin(self.get_raw(ack.sequence)).await?;
            let original = decode_message_as::<E>(&headers, &payload, ack.sequence)
                .map_err(|source| ReadError::Undecodable { sequence: ack.sequence, source })?;
            return Ok(original);
        }
        metrics::counter!("masthead_events_appended_total", "event_type" => envelope.event_type.clone()).increment(1);
        Ok(Recorded { envelope, stream_sequence: ack.sequence, event: event.clone() })
    }

    /// The event a retry with this message id already stored: the first on
    /// the subject after the sequence both attempts expected, if it carries
    /// the same id.
    async fn original_of<E: HasUpcasters>(
        &self,
        subject: &str,
        expected: u64,
        msg_id: Option<&str>,
    ) -> Result<Option<Recorded<E>>, AppendError> {
        let stream = self.stream().await.map_err(|e| AppendError::Unavailable(e.to_string()))?;
        let next = stream.raw_message_builder().sequence(expected + 1).next_by_subject(subject.to_owned()).send();
        let msg = match self.within("timed out", next).await.map_err(|e| AppendError::Unavailable(e.to_string()))? {
            Ok(m) => m,
            Err(_) => return Ok(None),
        };
        if msg.headers.get(header::MSG_ID).map(|v| v.as_str()) != msg_id {
            return Ok(None);
        }
        let original = decode_message_as::<E>(&msg.headers, &msg.payload, msg.sequence)
            .map_err(|source| ReadError::Undecodable { sequence: msg.sequence, source })?;
        Ok(Some(original))
    }

    /// Classifies a failed publish the way `append` does.
    pub fn classify_publish_error(
        &self,
        subject: &str,
        e: &async_nats::jetstream::context::PublishError,
    ) -> AppendError {
        if is_conflict(e) {
            return AppendError::Conflict { subject: subject.to_owned() };
        }
        match e.kind() {
            PublishErrorKind::StreamNotFound => AppendError::StreamMissing(self.topology.stream.clone()),
            PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe => AppendError::Unavailable(e.to_string()),
            _ => AppendError::Refused(e.to_string()),
        }
    }

    /// Publishes raw bytes with headers; used by append and by tools that
    /// need to write exactly what they are given (imports, tests).
    pub async fn publish(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: bytes::Bytes,
    ) -> Result<jetstream::publish::PublishAck, AppendError> {
        // Boxed: async-nats' publish futures are several KB, and every
        // future that awaits this one would otherwise embed and move them.
        let sent = tokio::time::timeout(
            self.timeout,
            Box::pin(async {
                let fut = self.js.publish_with_headers(subject.clone(), headers, payload).await?;
                fut.await
            }),
        )
        .await
        .map_err(|_| AppendError::Unavailable("no acknowledgement in time".into()))?;
        match sent {
            Ok(ack) => Ok(ack),
            Err(e) => Err(self.classify_publish_error(&subject, &e)),
        }
    }
}
