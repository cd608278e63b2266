//! A lease in a JetStream KV bucket, for roles that must have one active
//! process (the matcher: two deciding at once could register one address
//! twice in two spellings).
//!
//! The bucket's `max_age` is the lease TTL: a holder renews well within it;
//! a crashed holder's entry expires and another process's `create` succeeds.
//! Renewal is a compare-and-set on the revision, so a holder that lost the
//! lease finds out instead of overwriting the new holder.

use async_nats::jetstream::kv;
use std::time::{Duration, Instant};

pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// Renew three times per TTL so that one missed renewal does not lose it.
pub const RENEW_EVERY: Duration = Duration::from_millis(3_000);
/// How long one renewal may take before it counts as unanswered.
pub const RENEW_TIMEOUT: Duration = Duration::from_millis(1_500);

/// Why the lease could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The KV bucket did not answer. Stop acting as the holder and retry.
    #[error("lease bucket unavailable: {0}")]
    Unavailable(String),
    /// Someone else holds the lease now. Stop acting as the holder.
    #[error("lease lost")]
    Lost,
}

pub struct Lease {
    kv: kv::Store,
    name: String,
    holder: String,
    revision: u64,
    renewed_at: Instant,
}

impl Lease {
    /// Tries once to take the lease. `Ok(None)` when another process holds it.
    pub async fn try_acquire(kv: &kv::Store, name: &str, holder: &str) -> Result<Option<Lease>, LeaseError> {
        match kv.create(name, holder.to_owned().into()).await {
            Ok(revision) => Ok(Some(Lease {
                kv: kv.clone(),
                name: name.to_owned(),
                holder: holder.to_owned(),
                revision,
                renewed_at: Instant::now(),
            })),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(LeaseError::Unavailable(e.to_string())),
        }
    }

    /// Waits until the lease is ours, polling at `poll`.
    pub async fn acquire(kv: &kv::Store, name: &str, holder: &str, poll: Duration) -> Result<Lease, LeaseError> {
        loop {
            match Self::try_acquire(kv, name, holder).await {
                Ok(Some(lease)) => return Ok(lease),
                Ok(None) | Err(LeaseError::Unavailable(_)) => tokio::time::sleep(poll).await,
                Err(LeaseError::Lost) => tokio::time::sleep(poll).await,
            }
        }
    }

    /// Extends the lease by writing it again (compare-and-set on the
    /// revision). Gives up after [`RENEW_TIMEOUT`], so a bucket in the middle
    /// of a leader election does not hold the caller past the lease's
    /// freshness.
    pub async fn renew(&mut self) -> Result<(), LeaseError> {
        let update = self.kv.update(&self.name, self.holder.clone().into(), self.revision);
        match tokio::time::timeout(RENEW_TIMEOUT, update).await {
            Err(_) => Err(LeaseError::Unavailable("renewal not acknowledged in time".into())),
            Ok(Ok(revision)) => {
                self.revision = revision;
                self.renewed_at = Instant::now();
                Ok(())
            }
            Ok(Err(e)) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => self.adopt_own_write().await,
            Ok(Err(e)) => Err(LeaseError::Unavailable(e.to_string())),
        }
    }

    /// After a revision mismatch: when the entry still names this holder, an
    /// earlier renewal landed after its answer was given up on (a timeout
    /// during a failover), and the lease is still ours at that revision; the
    /// caller retries. Anyone else's name means the lease is lost.
    async fn adopt_own_write(&mut self) -> Result<(), LeaseError> {
        match tokio::time::timeout(RENEW_TIMEOUT, self.kv.entry(&self.name)).await {
            Ok(Ok(Some(entry)))
                if entry.operation == kv::Operation::Put && entry.value.as_ref() == self.holder.as_bytes() =>
            {
                self.revision = entry.revision;
                Err(LeaseError::Unavailable("a late renewal landed; retrying at its revision".into()))
            }
            Ok(Ok(_)) => Err(LeaseError::Lost),
            Ok(Err(e)) => Err(LeaseError::Unavailable(e.to_string())),
            Err(_) => Err(LeaseError::Unavailable("lease entry not read in time".into())),
        }
    }

    /// True while the last successful renewal is recent enough that nobody
    /// else can have taken over. Checked before each decision.
    pub fn is_fresh(&self) -> bool {
        self.renewed_at.elapsed() < LEASE_TTL - RENEW_EVERY
    }

    /// Gives the lease up so a standby takes over at once.
    pub async fn release(self) {
        let _ = self.kv.delete_expect_revision(&self.name, Some(self.revision)).await;
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }
}
