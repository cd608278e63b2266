//! The runtime every durable consumer shares: pull in batches, hand them to a
//! handler, then ack, nak with a delay, or dead-letter each message.
//!
//! A handler sees whole batches because the projector writes a batch in one
//! transaction and the mailer sends a batch concurrently; the matcher simply
//! walks its batch in order. Shutdown waits for the batch in hand, so a
//! message is either fully handled and acked, or not acked and redelivered.

use crate::dead_letter::{DeadLetter, DeadLetters};
use crate::envelope::{decode_any, header, AnyEvent, Recorded};
use crate::schema::SchemaError;
use crate::topology::{ConsumerRole, Topology};
use async_nats::jetstream::{self, consumer::pull, AckKind};
use chrono::Utc;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One delivered message.
#[derive(Debug)]
pub struct Delivery {
    pub stream_sequence: u64,
    pub subject: String,
    /// 1 on first delivery.
    pub delivered: u64,
    pub max_deliver: u64,
    /// Messages still waiting for this consumer after this one.
    pub pending: u64,
    /// The decoded event, or why it could not be decoded (poison).
    pub event: Result<Recorded<AnyEvent>, SchemaError>,
    /// True when an operator asked to replay this dead letter.
    pub replay: bool,
}

impl Delivery {
    /// After this attempt JetStream will not deliver the message again.
    pub fn is_last_attempt(&self) -> bool {
        self.replay || self.delivered >= self.max_deliver
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
    /// Returns one outcome per delivery, in order.
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome>;
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
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self { batch_size: 256, reconnect_delay: Duration::from_millis(500) }
    }
}

pub struct ConsumerRuntime {
    js: jetstream::Context,
    topology: Topology,
    role: ConsumerRole,
    config: RuntimeConfig,
}

fn decode_message(
    headers: Option<&async_nats::HeaderMap>,
    payload: &[u8],
    sequence: u64,
) -> Result<Recorded<AnyEvent>, SchemaError> {
    let headers = headers.ok_or(SchemaError::Header(header::EVENT_TYPE))?;
    decode_any(headers, payload, sequence)
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
        let mut chunks = messages.ready_chunks(self.config.batch_size);
        loop {
            let chunk = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                c = chunks.next() => c,
            };
            let Some(chunk) = chunk else { return Err("message stream ended".into()) };
            let mut messages = Vec::with_capacity(chunk.len());
            let mut failure = None;
            for m in chunk {
                match m {
                    Ok(m) => messages.push(m),
                    Err(e) => failure = Some(e.to_string()),
                }
            }
            let mut deliveries = Vec::with_capacity(messages.len());
            for m in &messages {
                let info = m.info().map_err(|e| e.to_string())?;
                deliveries.push(Delivery {
                    stream_sequence: info.stream_sequence,
                    subject: m.subject.to_string(),
                    delivered: u64::try_from(info.delivered).unwrap_or(1),
                    max_deliver,
                    pending: info.pending,
                    event: decode_message(m.headers.as_ref(), &m.payload, info.stream_sequence),
                    replay: false,
                });
            }
            if !deliveries.is_empty() {
                let outcomes = handler.handle_batch(&deliveries).await;
                for ((m, d), outcome) in messages.iter().zip(&deliveries).zip(outcomes) {
                    self.settle(m, d, outcome, dead_letters).await;
                }
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
    }

    async fn settle(&self, m: &jetstream::Message, d: &Delivery, outcome: Outcome, dead_letters: &DeadLetters) {
        let consumer = self.role.durable_name();
        let reason = match outcome {
            Outcome::Done => {
                if let Err(e) = m.ack().await {
                    tracing::warn!(consumer, seq = d.stream_sequence, error = %e, "ack failed; message will be redelivered");
                }
                return;
            }
            Outcome::Retry { delay, reason } if !d.is_last_attempt() => {
                tracing::info!(consumer, seq = d.stream_sequence, attempt = d.delivered, delay_ms = delay.as_millis() as u64, %reason, "retrying later");
                let _ = m.ack_with(AckKind::Nak(Some(delay))).await;
                return;
            }
            Outcome::Retry { reason, .. } | Outcome::DeadLetter { reason } => reason,
        };
        let letter = DeadLetter {
            consumer: consumer.to_owned(),
            stream_sequence: d.stream_sequence,
            subject: d.subject.clone(),
            event_type: d.event.as_ref().ok().map(|r| r.envelope.event_type.clone()),
            error: reason,
            deliveries: d.delivered,
            dead_lettered_at: Utc::now(),
            replay_requested: false,
            replays: 0,
        };
        match dead_letters.record(&letter).await {
            Ok(()) => {
                tracing::warn!(consumer, seq = d.stream_sequence, error = %letter.error, "dead-lettered");
                let _ = m.ack_with(AckKind::Term).await;
            }
            // Without a record the message must not disappear: leave it
            // unacked so JetStream redelivers it after the ack wait.
            Err(e) => tracing::error!(consumer, seq = d.stream_sequence, error = %e, "cannot record dead letter"),
        }
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
            let event = match store.get_raw(letter.stream_sequence).await {
                Ok((headers, payload)) => decode_any(&headers, &payload, letter.stream_sequence),
                Err(e) => {
                    tracing::warn!(consumer, seq = letter.stream_sequence, error = %e, "cannot read dead letter for replay");
                    continue;
                }
            };
            let delivery = Delivery {
                stream_sequence: letter.stream_sequence,
                subject: letter.subject.clone(),
                delivered: 1,
                max_deliver: 1,
                pending: 0,
                event,
                replay: true,
            };
            let outcome = handler.handle_batch(std::slice::from_ref(&delivery)).await.into_iter().next();
            match outcome {
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
        }
    }
}
