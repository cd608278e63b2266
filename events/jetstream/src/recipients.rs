//! The per-recipient mail allowance: at most `per_day` confirmation mails
//! to one mailbox per (UTC) day, shared by every mailer process.
//!
//! A day's record is a KV entry keyed by the day and a keyed hash of the
//! mailbox (`SigningKey::recipient_hash`), never the address itself, and
//! holds the ids of the subscriptions that were given a mail. Asking again
//! for a subscription already on the list is a yes: a redelivered trigger
//! after a crash between counting and recording does not spend a second
//! mail of the allowance. Updates are compare-and-set on the entry's
//! revision, so concurrent mailers never both take the last slot.
//!
//! The signing secret is kept in the secrets bucket, created by the first
//! process that needs it.

use async_nats::jetstream::{self, kv};
use masthead_domain::signing::SigningKey;
use std::time::Duration;
use uuid::Uuid;

/// The secret's key in the secrets bucket.
const SIGNING_KEY: &str = "signing-key";

/// Compare-and-set attempts before giving up (only many mailers racing for
/// one mailbox's record could use them up).
const ATTEMPTS: usize = 16;

/// Why the allowance could not be consulted.
#[derive(Debug, thiserror::Error)]
pub enum RecipientsError {
    /// A bucket did not answer or was missing. Retry later (nak); run
    /// `masthead setup` if the bucket is missing.
    #[error("recipient records unavailable: {0}")]
    Unavailable(String),
    /// The stored secret has the wrong length: someone wrote it by hand.
    /// Restore it, or delete it to have a new one made (outstanding signed
    /// links then stop working).
    #[error("the stored signing secret is damaged: {0}")]
    BadSecret(#[source] masthead_domain::signing::KeyLengthError),
}

fn unavailable(e: impl std::fmt::Display) -> RecipientsError {
    RecipientsError::Unavailable(e.to_string())
}

/// The deployment's signing secret, made on first use.
pub async fn signing_key(js: &jetstream::Context, bucket: &str) -> Result<SigningKey, RecipientsError> {
    let kv = js.get_key_value(bucket).await.map_err(unavailable)?;
    for _ in 0..ATTEMPTS {
        if let Some(bytes) = kv.get(SIGNING_KEY).await.map_err(unavailable)? {
            return SigningKey::from_bytes(&bytes).map_err(RecipientsError::BadSecret);
        }
        let fresh = SigningKey::generate();
        match kv.create(SIGNING_KEY, fresh.as_bytes().to_vec().into()).await {
            Ok(_) => return Ok(fresh),
            // Another process made it first: read theirs.
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => continue,
            Err(e) => return Err(unavailable(e)),
        }
    }
    Err(unavailable("the signing secret could not be read or created"))
}

/// The allowance (see the module documentation).
#[derive(Clone)]
pub struct RecipientAllowance {
    kv: kv::Store,
    key: SigningKey,
    per_day: u32,
}

impl std::fmt::Debug for RecipientAllowance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientAllowance").field("per_day", &self.per_day).finish_non_exhaustive()
    }
}

impl RecipientAllowance {
    pub async fn open(
        js: &jetstream::Context,
        topology: &crate::topology::Topology,
        per_day: u32,
    ) -> Result<Self, RecipientsError> {
        let key = signing_key(js, &topology.secrets_bucket()).await?;
        let kv = js.get_key_value(topology.recipients_bucket()).await.map_err(unavailable)?;
        Ok(Self { kv, key, per_day })
    }

    pub fn per_day(&self) -> u32 {
        self.per_day
    }

    /// Whether `subscription` may have its mail sent to `mailbox` (a
    /// `SubscriberEmail::mailbox_key`) on `day`; a yes takes one of the
    /// day's mails.
    pub async fn admit(
        &self,
        mailbox: &str,
        subscription: Uuid,
        day: chrono::NaiveDate,
    ) -> Result<bool, RecipientsError> {
        let key = format!("{}.{}", day.format("%Y%m%d"), self.key.recipient_hash(mailbox));
        for _ in 0..ATTEMPTS {
            let entry = tokio::time::timeout(Duration::from_secs(5), self.kv.entry(&key))
                .await
                .map_err(|_| unavailable("timed out"))?
                .map_err(unavailable)?;
            let (mut ids, revision) = match entry {
                Some(e) if e.operation == kv::Operation::Put => {
                    (serde_json::from_slice::<Vec<Uuid>>(&e.value).unwrap_or_default(), Some(e.revision))
                }
                Some(e) => (Vec::new(), Some(e.revision)),
                None => (Vec::new(), None),
            };
            if ids.contains(&subscription) {
                return Ok(true);
            }
            if ids.len() >= self.per_day as usize {
                return Ok(false);
            }
            ids.push(subscription);
            let body: bytes::Bytes = serde_json::to_vec(&ids).unwrap_or_default().into();
            let written = match revision {
                Some(r) => self.kv.update(&key, body, r).await.map(|_| ()).map_err(|e| e.to_string()),
                None => self.kv.create(&key, body).await.map(|_| ()).map_err(|e| e.to_string()),
            };
            if written.is_ok() {
                return Ok(true);
            }
            // Someone else wrote the record meanwhile: read it again.
        }
        Err(unavailable("the recipient record kept changing"))
    }
}
