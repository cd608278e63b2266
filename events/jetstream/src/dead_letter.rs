//! Dead-letter records: events a consumer gave up on.
//!
//! The message itself stays in the stream (it is the audit trail); the record
//! says which consumer gave up on which stream sequence and why. An operator
//! lists them and asks for a replay; the consumer process that owns them
//! watches the bucket and re-runs its handler on the event. Asking works the
//! same whether the consumer runs in this process or in another pod.

use async_nats::jetstream::{self, kv};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub consumer: String,
    pub stream_sequence: u64,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    pub error: String,
    pub deliveries: u64,
    pub dead_lettered_at: DateTime<Utc>,
    /// Set by `masthead dlq replay`; cleared by the consumer when it tried.
    #[serde(default)]
    pub replay_requested: bool,
    #[serde(default)]
    pub replays: u32,
}

impl DeadLetter {
    pub fn key(&self) -> String {
        record_key(&self.consumer, self.stream_sequence)
    }
}

fn record_key(consumer: &str, sequence: u64) -> String {
    // Zero-padded so that keys sort by sequence.
    format!("{consumer}.{sequence:020}")
}

/// Why the dead-letter bucket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// The bucket did not answer. The consumer must not ack the message it
    /// failed to record; it will be redelivered and recorded later.
    #[error("dead-letter records unavailable: {0}")]
    Unavailable(String),
    /// No record for that consumer and sequence. Check `dlq list`.
    #[error("no dead letter {0}")]
    NotFound(String),
}

fn unavailable(e: impl std::fmt::Display) -> DeadLetterError {
    DeadLetterError::Unavailable(e.to_string())
}

#[derive(Clone)]
pub struct DeadLetters {
    kv: kv::Store,
}

impl DeadLetters {
    pub async fn open(js: &jetstream::Context, bucket: &str) -> Result<Self, DeadLetterError> {
        Ok(Self { kv: js.get_key_value(bucket).await.map_err(unavailable)? })
    }

    pub async fn record(&self, letter: &DeadLetter) -> Result<(), DeadLetterError> {
        let body = serde_json::to_vec(letter).map_err(unavailable)?;
        tokio::time::timeout(Duration::from_secs(5), self.kv.put(letter.key(), body.into()))
            .await
            .map_err(|_| unavailable("timed out"))?
            .map_err(unavailable)?;
        Ok(())
    }

    pub async fn get(&self, consumer: &str, sequence: u64) -> Result<Option<DeadLetter>, DeadLetterError> {
        let value = self.kv.get(record_key(consumer, sequence)).await.map_err(unavailable)?;
        Ok(value.and_then(|b| serde_json::from_slice(&b).ok()))
    }

    /// Every record, optionally of one consumer, in sequence order.
    pub async fn list(&self, consumer: Option<&str>) -> Result<Vec<DeadLetter>, DeadLetterError> {
        let mut keys = self.kv.keys().await.map_err(unavailable)?;
        let mut out = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(unavailable)?;
            if consumer.is_some_and(|c| !key.starts_with(&format!("{c}."))) {
                continue;
            }
            if let Some(bytes) = self.kv.get(&key).await.map_err(unavailable)? {
                if let Ok(letter) = serde_json::from_slice::<DeadLetter>(&bytes) {
                    out.push(letter);
                }
            }
        }
        out.sort_by(|a, b| (a.consumer.as_str(), a.stream_sequence).cmp(&(b.consumer.as_str(), b.stream_sequence)));
        Ok(out)
    }

    pub async fn count(&self, consumer: Option<&str>) -> Result<usize, DeadLetterError> {
        Ok(self.list(consumer).await?.len())
    }

    /// Flags a record for replay; the owning consumer picks it up.
    pub async fn request_replay(&self, consumer: &str, sequence: u64) -> Result<(), DeadLetterError> {
        let mut letter = self
            .get(consumer, sequence)
            .await?
            .ok_or_else(|| DeadLetterError::NotFound(record_key(consumer, sequence)))?;
        letter.replay_requested = true;
        self.record(&letter).await
    }

    /// Removes a record after a successful replay.
    pub async fn resolve(&self, consumer: &str, sequence: u64) -> Result<(), DeadLetterError> {
        self.kv.purge(record_key(consumer, sequence)).await.map_err(unavailable)
    }

    /// Records of `consumer` that ask for a replay, now and as they come.
    pub async fn watch_replays(&self, consumer: &str) -> Result<kv::Watch, DeadLetterError> {
        self.kv.watch_with_history(format!("{consumer}.*")).await.map_err(unavailable)
    }
}
