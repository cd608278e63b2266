//! The runtime every durable consumer shares: pull in batches, hand them to a
//! handler, then ack, nak with a delay, or dead-letter each message.
//!
//! A handler sees whole batches because the projector writes a batch in one
//! transaction and the mailer sends a batch concurrently; the matcher simply
//! walks its batch in order. Shutdown waits for the batch in hand, so a
//! message is either fully handled and acked, or not acked and redelivered.
//!
//! Poison is handled here, once for every consumer: a message that cannot
//! be decoded never reaches a handler; it is dead-lettered with its identity
//! (subject, sequence) and the reason. The runtime also counts what each
//! consumer processed and failed (`masthead_consumer_events_*_total`).

use crate::dead_letter::{DeadLetter, DeadLetters};
use crate::headers::decode_message;
use crate::topology::{ConsumerRole, Topology};
use crate::trace;
use async_nats::jetstream::{self, consumer::pull, AckKind};
use chrono::Utc;
use futures::StreamExt;
use masthead_domain::envelope::{header, AnyEvent, Recorded};
use masthead_domain::schema::SchemaError;
use opentelemetry::trace::{SpanContext, TraceContextExt};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// One delivered message, decoded.
#[derive(Debug)]
pub struct Delivery {
    pub stream_sequence: u64,
    pub subject: String,
    /// 1 on first delivery.
    pub delivered: u64,
    pub max_deliver: u64,
    /// Messages still waiting for this consumer after this one.
    pub pending: u64,
    pub event: Recorded<AnyEvent>,
    /// True when an operator asked to replay this dead letter.
    pub replay: bool,
}

impl Delivery {
    /// After this attempt JetStream will not deliver the message again.
    pub fn is_last_attempt(&self) -> bool {
        self.replay || self.delivered >= self.max_deliver
    }

    /// Exponential backoff for this delivery: `base` after the first
    /// failure, doubling per delivery, never above `cap`, so a failing
    /// message cannot cause a retry storm.
    pub fn backoff(&self, base: Duration, cap: Duration) -> Duration {
        let doublings = self.delivered.saturating_sub(1).min(16) as u32;
        base.saturating_mul(1u32 << doublings).min(cap)
    }
}

/// What to do with a handled message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Handled (or deliberately ignored): ack it.
    Done,
    /// Failed for a reason that may pass: redeliver after `delay`. On the
    /// last attempt this becomes a dead letter.
    Retry { delay: Duration, reason: String },
    /// Will never succeed as it is: dead-letter it now.
    DeadLetter { reason: String },
}

#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Returns one outcome per delivery, in order. Undecodable messages
    /// never get here: the runtime dead-letters them.
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome>;

    /// The same, given the batch: a handler that keeps the events (the
    /// projector hands them to its store) takes them instead of copying
    /// each. The runtime calls this one; by default it lends the batch to
    /// [`Handler::handle_batch`].
    async fn handle_owned(&self, batch: Vec<Delivery>) -> Vec<Outcome> {
        self.handle_batch(&batch).await
    }
}

/// Why a consumer stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// The dead-letter bucket is missing: setup has not run. Run `masthead setup`.
    #[error("dead-letter records unavailable: {0}")]
    DeadLetters(String),
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub batch_size: usize,
    /// Pause before re-subscribing after the message stream failed.
    pub reconnect_delay: Duration,
    /// While the consumer is behind (messages are pending after the last one
    /// received), wait up to this long for a batch to fill to `batch_size`
    /// before handing it over. `None`: hand over whatever has arrived. For
    /// a handler whose cost is mostly per batch (a durable commit), a
    /// backlog then goes in large batches; a consumer that keeps up is
    /// never delayed, since nothing is pending then.
    pub linger: Option<Duration>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { batch_size: 256, reconnect_delay: Duration::from_millis(500), linger: None }
    }
}

/// Whether messages are pending on the consumer after the last of `chunk`.
fn behind(chunk: &[Result<jetstream::Message, impl std::fmt::Display>]) -> bool {
    match chunk.last() {
        Some(Ok(m)) => m.info().is_ok_and(|i| i.pending > 0),
        _ => false,
    }
}

/// A batch pulled and decoded, waiting for the handler.
struct Pulled {
    messages: Vec<jetstream::Message>,
    batch: Vec<Received>,
    /// The message stream failed after these: stop once they are settled.
    failure: Option<String>,
}

/// Aborts the task when dropped, so a puller never outlives its consumer
/// (it would hold messages of a subscription nobody settles).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

type Chunks = futures::stream::ReadyChunks<pull::Stream>;

/// Pulls batches (lingering while behind, see [`RuntimeConfig::linger`]),
/// decodes them and hands them over in order until the stream fails or the
/// receiver is gone.
async fn pull_batches(
    mut chunks: Chunks,
    config: RuntimeConfig,
    tx: tokio::sync::mpsc::Sender<Result<Pulled, String>>,
) {
    loop {
        let Some(mut chunk) = chunks.next().await else {
            let _ = tx.send(Err("message stream ended".into())).await;
            return;
        };
        if let Some(linger) = config.linger {
            let deadline = tokio::time::Instant::now() + linger;
            while chunk.len() < config.batch_size && behind(&chunk) {
                match tokio::time::timeout_at(deadline, chunks.next()).await {
                    Ok(Some(more)) => chunk.extend(more),
                    // Ended or out of time: hand over what is here.
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let mut messages = Vec::with_capacity(chunk.len());
        let mut failure = None;
        for m in chunk {
            match m {
                Ok(m) => messages.push(m),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        let mut batch = Vec::with_capacity(messages.len());
        for m in &messages {
            let info = match m.info() {
                Ok(info) => info,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string())).await;
                    return;
                }
            };
            batch.push(Received::new(
                m.headers.as_ref(),
                &m.payload,
                m.subject.to_string(),
                info.stream_sequence,
                u64::try_from(info.delivered).unwrap_or(1),
                info.pending,
            ));
        }
        let stop = failure.is_some();
        if tx.send(Ok(Pulled { messages, batch, failure })).await.is_err() || stop {
            return;
        }
    }
}

pub struct ConsumerRuntime {
    js: jetstream::Context,
    topology: Topology,
    role: ConsumerRole,
    config: RuntimeConfig,
}

/// The producer's span context, from the `traceparent`/`tracestate` headers
/// the event store wrote (read from the headers rather than the envelope so
/// that an undecodable message is still traced).
fn producer_context(headers: Option<&async_nats::HeaderMap>) -> Option<SpanContext> {
    let headers = headers?;
    let traceparent = headers.get(header::TRACEPARENT)?;
    trace::remote_span_context(traceparent.as_str(), headers.get(header::TRACESTATE).map(|v| v.as_str()))
}

/// The `process {consumer}` span a batch is handled and settled in,
/// following the OpenTelemetry messaging conventions.
///
/// One message (the usual case below saturation): the span links to the
/// producer's `publish` span *and* has it as parent, so one trace shows the
/// whole path from the HTTP request to the last consumer. The conventions
/// prefer a link alone (a message may be processed long after, or many
/// times), but with one message per process span the parent costs nothing
/// and gives the single end-to-end trace operators ask for; the link stays
/// so tools that follow links still work.
///
/// Several messages: handlers see whole batches (the projector writes one
/// transaction), so there is no per-message span to be "in" while the
/// handler runs. The span is then a new trace with one link per message,
/// the conventions' batch-processing shape; each message's trace continues
/// through that link. Follow-up appends are children of this span either
/// way: the event store parents a publish on the current span.
fn process_span(consumer: &'static str, batch: &[Received], replay: bool) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "process",
        otel.name = %format!("process {consumer}"),
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = "nats",
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.consumer.group.name = consumer,
        messaging.destination.name = Empty,
        messaging.message.id = Empty,
        messaging.batch.message_count = Empty,
        masthead.stream.sequence = Empty,
        masthead.delivery.attempt = Empty,
        masthead.event.type = Empty,
        masthead.replay = replay,
        masthead.outcome = Empty,
        correlation_id = Empty,
        trace_id = Empty,
    );
    match batch {
        [one] => {
            span.record("messaging.destination.name", one.subject.as_str());
            span.record("masthead.stream.sequence", one.stream_sequence);
            span.record("masthead.delivery.attempt", one.delivered);
            if let Ok(r) = &one.decoded {
                span.record("messaging.message.id", tracing::field::display(r.envelope.event_id));
                span.record("masthead.event.type", r.envelope.event_type.as_str());
                span.record("correlation_id", r.envelope.correlation_id.as_str());
            }
            if let Some(producer) = &one.producer {
                let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(producer.clone()));
                span.add_link(producer.clone());
            }
        }
        _ => {
            span.record("messaging.batch.message_count", batch.len());
            // A batch from one flow (a subscription's events close
            // together) still names it in its log lines.
            let mut correlations =
                batch.iter().filter_map(|r| r.decoded.as_ref().ok()).map(|r| &r.envelope.correlation_id);
            if let Some(first) = correlations.next() {
                if correlations.all(|c| c == first) {
                    span.record("correlation_id", first.as_str());
                }
            }
            for producer in batch.iter().filter_map(|r| r.producer.as_ref()) {
                span.add_link(producer.clone());
            }
        }
    }
    // Log lines inside carry the trace id through this span's fields.
    if let Some(id) = trace::trace_id(&span) {
        span.record("trace_id", id.as_str());
    }
    span
}

/// Records how a batch ended on its span and in the consumer's counters.
fn record_outcomes(consumer: &'static str, span: &tracing::Span, outcomes: &[Outcome]) {
    let failed = outcomes.iter().filter(|o| **o != Outcome::Done).count();
    let outcome = match outcomes {
        [Outcome::Done] => "done",
        [Outcome::Retry { .. }] => "retry",
        [Outcome::DeadLetter { .. }] => "dead_letter",
        _ if failed == 0 => "done",
        _ => "partial",
    };
    span.record("masthead.outcome", outcome);
    if failed > 0 {
        span.record("otel.status_code", "ERROR");
    }
    let ok = (outcomes.len() - failed) as u64;
    metrics::counter!("masthead_consumer_events_processed_total", "consumer" => consumer).increment(ok);
    metrics::counter!("masthead_consumer_events_failed_total", "consumer" => consumer).increment(failed as u64);
}

/// A message as received, before the handler: decoded, or poison.
struct Received {
    stream_sequence: u64,
    subject: String,
    delivered: u64,
    pending: u64,
    /// The producer's span context (read from the headers, so an
    /// undecodable message is traced too).
    producer: Option<SpanContext>,
    /// The event until the handler takes it (the type stays beside it).
    decoded: Result<Recorded<AnyEvent>, SchemaError>,
    /// For the dead letter, once the handler has the event.
    event_type: Option<String>,
}

impl Received {
    fn new(
        headers: Option<&async_nats::HeaderMap>,
        payload: &[u8],
        subject: String,
        stream_sequence: u64,
        delivered: u64,
        pending: u64,
    ) -> Self {
        Self {
            stream_sequence,
            subject,
            delivered,
            pending,
            producer: producer_context(headers),
            decoded: decode_message(headers, payload, stream_sequence),
            event_type: None,
        }
    }

    fn is_last_attempt(&self, max_deliver: u64, replay: bool) -> bool {
        replay || self.delivered >= max_deliver
    }
}

/// Hands the decodable messages of a batch to `handler` and answers every
/// poison message with a dead letter; returns one outcome per message, in
/// order, and the span the batch was handled in (settle inside it too).
async fn process(
    consumer: &'static str,
    handler: &dyn Handler,
    batch: Vec<Received>,
    max_deliver: u64,
    replay: bool,
) -> (Vec<Outcome>, Vec<Received>, tracing::Span) {
    let span = process_span(consumer, &batch, replay);
    let mut outcomes = vec![Outcome::Done; batch.len()];
    let mut deliveries = Vec::with_capacity(batch.len());
    let mut handled = Vec::with_capacity(batch.len());
    let mut kept = Vec::with_capacity(batch.len());
    for (i, mut r) in batch.into_iter().enumerate() {
        match std::mem::replace(&mut r.decoded, Err(SchemaError::Header(header::EVENT_TYPE))) {
            Ok(event) => {
                r.event_type = Some(event.envelope.event_type.clone());
                handled.push(i);
                deliveries.push(Delivery {
                    stream_sequence: r.stream_sequence,
                    subject: r.subject.clone(),
                    delivered: r.delivered,
                    max_deliver,
                    pending: r.pending,
                    event,
                    replay,
                });
            }
            Err(e) => {
                outcomes[i] = Outcome::DeadLetter { reason: format!("undecodable event: {e}") };
                r.decoded = Err(e);
            }
        }
        kept.push(r);
    }
    if !deliveries.is_empty() {
        let answers = handler.handle_owned(deliveries).instrument(span.clone()).await;
        for (i, outcome) in handled.iter().zip(answers) {
            outcomes[*i] = outcome;
        }
    }
    record_outcomes(consumer, &span, &outcomes);
    (outcomes, kept, span)
}

impl ConsumerRuntime {
    pub fn new(js: jetstream::Context, topology: Topology, role: ConsumerRole, config: RuntimeConfig) -> Self {
        Self { js, topology, role, config }
    }

    /// Consumes until `shutdown` is cancelled. Survives server restarts by
    /// re-subscribing; never returns an error for a transient outage.
    pub async fn run(&self, handler: Arc<dyn Handler>, shutdown: CancellationToken) -> Result<(), ConsumerError> {
        let dead_letters = loop {
            match DeadLetters::open(&self.js, &self.topology.dead_letters_bucket()).await {
                Ok(d) => break d,
                Err(e) => {
                    tracing::warn!(consumer = self.role.durable_name(), error = %e, "dead-letter bucket not reachable yet");
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(self.config.reconnect_delay) => {}
                    }
                }
            }
        };
        let replays = tokio::spawn(replay_loop(
            self.js.clone(),
            self.topology.clone(),
            self.role,
            dead_letters.clone(),
            handler.clone(),
            shutdown.clone(),
        ));
        let max_deliver = u64::try_from(self.topology.consumer_config(self.role).max_deliver).unwrap_or(1);
        while !shutdown.is_cancelled() {
            if let Err(e) = self.consume(&handler, &dead_letters, max_deliver, &shutdown).await {
                tracing::warn!(consumer = self.role.durable_name(), error = %e, "consumer interrupted; re-subscribing");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(self.config.reconnect_delay) => {}
                }
            }
        }
        let _ = replays.await;
        // Acks are fire-and-forget publishes: push them out before exiting.
        let _ = self.js.client().flush().await;
        Ok(())
    }

    async fn consume(
        &self,
        handler: &Arc<dyn Handler>,
        dead_letters: &DeadLetters,
        max_deliver: u64,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let stream = self.js.get_stream_no_info(&self.topology.stream).await.map_err(|e| e.to_string())?;
        let consumer: jetstream::consumer::Consumer<pull::Config> =
            stream.get_consumer(self.role.durable_name()).await.map_err(|e| e.to_string())?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.config.batch_size)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        let chunks = messages.ready_chunks(self.config.batch_size);
        // The next batch is pulled and decoded (headers, JSON: a third of
        // a projector's work per event) while the handler applies this one,
        // beside it rather than before it; one decoded batch waits at most.
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let _puller = AbortOnDrop(tokio::spawn(pull_batches(chunks, self.config.clone(), tx)));
        // A batch's acks go out while the next batch is handled: settling
        // 60 000 messages took ~40 ms, in which nothing else moved. One
        // batch settles at a time, in order, and all before this returns.
        let mut settling: Option<tokio::task::JoinHandle<()>> = None;
        let consumer = self.role.durable_name();
        let stopped = loop {
            let pulled = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                p = rx.recv() => p,
            };
            let Pulled { messages, batch, failure } = match pulled {
                Some(Ok(pulled)) => pulled,
                Some(Err(e)) => break Err(e),
                None => break Err("message puller stopped".to_owned()),
            };
            if !batch.is_empty() {
                let (outcomes, batch, span) = process(consumer, handler.as_ref(), batch, max_deliver, false).await;
                if let Some(previous) = settling.take() {
                    settled(consumer, previous).await;
                }
                // Settled inside the span too: retry and dead-letter log
                // lines then carry the trace id. In order, after the
                // handler finished (for the projector: after its commit).
                let dead_letters = dead_letters.clone();
                let settle_all = async move {
                    for ((m, r), outcome) in messages.iter().zip(&batch).zip(outcomes) {
                        settle(consumer, m, r, max_deliver, outcome, &dead_letters).await;
                    }
                };
                settling = Some(tokio::spawn(settle_all.instrument(span)));
            }
            if let Some(e) = failure {
                break Err(e);
            }
        };
        if let Some(last) = settling {
            settled(consumer, last).await;
        }
        stopped
    }
}

/// Waits for a batch's settling; a panic there is logged (its messages,
/// unacked, are redelivered after the ack wait).
async fn settled(consumer: &'static str, settling: tokio::task::JoinHandle<()>) {
    if let Err(e) = settling.await {
        tracing::error!(consumer, error = %e, "settling a batch failed; its messages will be redelivered");
    }
}

async fn settle(
    consumer: &'static str,
    m: &jetstream::Message,
    r: &Received,
    max_deliver: u64,
    outcome: Outcome,
    dead_letters: &DeadLetters,
) {
    let reason = match outcome {
        Outcome::Done => {
            if let Err(e) = m.ack().await {
                tracing::warn!(consumer, seq = r.stream_sequence, error = %e, "ack failed; message will be redelivered");
            }
            return;
        }
        Outcome::Retry { delay, reason } if !r.is_last_attempt(max_deliver, false) => {
            tracing::info!(consumer, seq = r.stream_sequence, attempt = r.delivered, delay_ms = delay.as_millis() as u64, %reason, "retrying later");
            let _ = m.ack_with(AckKind::Nak(Some(delay))).await;
            return;
        }
        Outcome::Retry { reason, .. } | Outcome::DeadLetter { reason } => reason,
    };
    let letter = DeadLetter {
        consumer: consumer.to_owned(),
        stream_sequence: r.stream_sequence,
        subject: r.subject.clone(),
        event_type: r.event_type.clone(),
        error: reason,
        deliveries: r.delivered,
        dead_lettered_at: Utc::now(),
        replay_requested: false,
        replays: 0,
    };
    match dead_letters.record(&letter).await {
        Ok(()) => {
            tracing::warn!(consumer, seq = r.stream_sequence, error = %letter.error, "dead-lettered");
            let _ = m.ack_with(AckKind::Term).await;
        }
        // Without a record the message must not disappear: leave it
        // unacked so JetStream redelivers it after the ack wait.
        Err(e) => tracing::error!(consumer, seq = r.stream_sequence, error = %e, "cannot record dead letter"),
    }
}

async fn replay_loop(
    js: jetstream::Context,
    topology: Topology,
    role: ConsumerRole,
    dead_letters: DeadLetters,
    handler: Arc<dyn Handler>,
    shutdown: CancellationToken,
) {
    let consumer = role.durable_name();
    while !shutdown.is_cancelled() {
        let mut watch = match dead_letters.watch_replays(consumer).await {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!(consumer, error = %e, "replay watch unavailable");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        loop {
            let entry = tokio::select! {
                _ = shutdown.cancelled() => return,
                e = watch.next() => e,
            };
            let Some(Ok(entry)) = entry else { break };
            if entry.operation != async_nats::jetstream::kv::Operation::Put {
                continue;
            }
            let Ok(mut letter) = serde_json::from_slice::<DeadLetter>(&entry.value) else { continue };
            if !letter.replay_requested {
                continue;
            }
            let store = crate::store::EventStore::new(js.clone(), topology.clone());
            let received = match store.get_raw(letter.stream_sequence).await {
                Ok((headers, payload)) => {
                    Received::new(Some(&headers), &payload, letter.subject.clone(), letter.stream_sequence, 1, 0)
                }
                Err(e) => {
                    tracing::warn!(consumer, seq = letter.stream_sequence, error = %e, "cannot read dead letter for replay");
                    continue;
                }
            };
            let (outcomes, _, span) = process(consumer, handler.as_ref(), vec![received], 1, true).await;
            let settle = async {
                match outcomes.into_iter().next() {
                    Some(Outcome::Done) => {
                        tracing::info!(consumer, seq = letter.stream_sequence, "dead letter replayed");
                        let _ = dead_letters.resolve(consumer, letter.stream_sequence).await;
                    }
                    Some(Outcome::Retry { reason, .. } | Outcome::DeadLetter { reason }) => {
                        letter.replay_requested = false;
                        letter.replays += 1;
                        letter.error = reason;
                        let _ = dead_letters.record(&letter).await;
                    }
                    None => {}
                }
            };
            settle.instrument(span).await;
        }
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    use masthead_domain::envelope::Envelope;
    use masthead_domain::subscription::{ConfirmationSent, SubscriptionEvent};

    fn delivery(delivered: u64) -> Delivery {
        let sent = ConfirmationSent { message_id: "m".into(), sent_at: Utc::now() };
        let envelope = Envelope {
            event_id: uuid::Uuid::nil(),
            event_type: SubscriptionEvent::CONFIRMATION_SENT.into(),
            schema_version: 1,
            aggregate_type: "subscription".into(),
            aggregate_id: "s".into(),
            aggregate_version: 3,
            occurred_at: Utc::now(),
            correlation_id: "s".into(),
            causation_id: None,
            traceparent: None,
        };
        Delivery {
            stream_sequence: 1,
            subject: "s".into(),
            delivered,
            max_deliver: 5,
            pending: 0,
            event: Recorded {
                envelope,
                stream_sequence: 1,
                event: AnyEvent::Subscription(SubscriptionEvent::ConfirmationSent(sent)),
            },
            replay: false,
        }
    }

    #[test]
    fn backoff_doubles_per_delivery_up_to_the_cap() {
        let (base, cap) = (Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<_> = (1..=6).map(|n| delivery(n).backoff(base, cap).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(delivery(u64::MAX).backoff(base, cap), cap, "no overflow on absurd counts");
    }

    #[test]
    fn the_last_delivery_and_replays_are_last_attempts() {
        assert!(!delivery(4).is_last_attempt());
        assert!(delivery(5).is_last_attempt());
        assert!(Delivery { replay: true, ..delivery(1) }.is_last_attempt());
    }
}
