//! The matcher's view of the base addresses: the candidate index plus the
//! curated lines to deliver to, built from the `BaseAddressRegistered`
//! events and kept current as new ones arrive.

use super::convert::canonical_of;
use crate::{Canonical, MatchConfig, MatchIndex};
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use masthead_domain::base_address::{AddressSource, BaseAddressEvent, BaseAddressRegistered};
use masthead_domain::envelope::AnyEvent;
use masthead_domain::AddressLines;
use masthead_jetstream::headers::decode_message;
use masthead_jetstream::topology::Topology;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;
use uuid::Uuid;

/// What the matcher needs to know about a base address besides its
/// canonical form.
#[derive(Debug, Clone)]
pub struct BaseInfo {
    pub reference: Option<String>,
    pub lines: AddressLines,
    /// Set when the address was created for this subscription.
    pub created_for: Option<Uuid>,
}

pub struct AddressBook {
    index: RwLock<MatchIndex>,
    info: RwLock<HashMap<Uuid, BaseInfo>>,
    /// Stream sequence of the last address event applied.
    position: AtomicU64,
}

impl AddressBook {
    pub fn new(config: MatchConfig) -> Self {
        Self {
            index: RwLock::new(MatchIndex::new(config)),
            info: RwLock::new(HashMap::new()),
            position: AtomicU64::new(0),
        }
    }

    pub fn len(&self) -> usize {
        self.index.read().map(|i| i.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn position(&self) -> u64 {
        self.position.load(Ordering::SeqCst)
    }

    pub fn with_index<T>(&self, f: impl FnOnce(&MatchIndex) -> T) -> Option<T> {
        self.index.read().ok().map(|i| f(&i))
    }

    pub fn info(&self, id: &Uuid) -> Option<BaseInfo> {
        self.info.read().ok().and_then(|m| m.get(id).cloned())
    }

    /// Adds one registered address; adding the same id again changes nothing.
    ///
    /// Uses the canonical form stored in the event: normalising a million
    /// addresses again at every start would take tens of seconds, and the
    /// stored form is the one the address's id was derived from.
    pub fn add(&self, e: &BaseAddressRegistered, sequence: u64) {
        let canonical = if e.canonical.key.is_empty() {
            canonical_of(&e.address)
        } else {
            Canonical {
                street: e.canonical.street.clone(),
                house_number: e.canonical.house_number.clone(),
                postal_code: e.canonical.postal_code.clone(),
                city: e.canonical.city.clone(),
                country: e.canonical.country.clone(),
            }
        };
        if let Ok(mut index) = self.index.write() {
            index.insert(e.base_address_id, canonical);
        }
        if let Ok(mut info) = self.info.write() {
            let created_for = match e.source {
                AddressSource::Subscription { subscription_id } => Some(subscription_id),
                _ => None,
            };
            info.insert(
                e.base_address_id,
                BaseInfo { reference: e.reference.clone(), lines: e.address.clone(), created_for },
            );
        }
        self.position.fetch_max(sequence, Ordering::SeqCst);
    }

    fn ordered_config(topology: &Topology, from: u64) -> consumer::pull::OrderedConfig {
        consumer::pull::OrderedConfig {
            filter_subject: topology.aggregate_filter("address"),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from.max(1) },
            ..Default::default()
        }
    }

    /// Reads every address event after the current position until none is
    /// pending. After it returns, the book holds every address that was in
    /// the stream when it was called.
    pub async fn catch_up(&self, js: &jetstream::Context, topology: &Topology) -> Result<usize, String> {
        let stream = js.get_stream(&topology.stream).await.map_err(|e| e.to_string())?;
        let mut consumer = stream
            .create_consumer(Self::ordered_config(topology, self.position() + 1))
            .await
            .map_err(|e| e.to_string())?;
        let pending = consumer.info().await.map_err(|e| e.to_string())?.num_pending;
        if pending == 0 {
            return Ok(0);
        }
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        let mut added = 0;
        while let Some(m) = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .map_err(|_| "address catch-up stalled".to_owned())?
        {
            let m = m.map_err(|e| e.to_string())?;
            let info = m.info().map_err(|e| e.to_string())?;
            let (seq, left) = (info.stream_sequence, info.pending);
            self.apply_message(m.headers.as_ref(), &m.payload, seq);
            added += 1;
            if left == 0 {
                break;
            }
        }
        Ok(added)
    }

    fn apply_message(&self, headers: Option<&async_nats::HeaderMap>, payload: &[u8], seq: u64) {
        match decode_message(headers, payload, seq) {
            Ok(r) => {
                if let AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRegistered(e)) = r.event {
                    self.add(&e, seq);
                }
            }
            // An undecodable address event cannot be matched against; the
            // projector dead-letters it for an operator.
            Err(e) => tracing::warn!(seq, error = %e, "skipping undecodable address event"),
        }
    }

    /// Follows new address events (imports, other matchers) until shutdown.
    pub async fn follow(
        &self,
        js: &jetstream::Context,
        topology: &Topology,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        while !shutdown.is_cancelled() {
            let result: Result<(), String> = async {
                let stream = js.get_stream(&topology.stream).await.map_err(|e| e.to_string())?;
                let consumer = stream
                    .create_consumer(Self::ordered_config(topology, self.position() + 1))
                    .await
                    .map_err(|e| e.to_string())?;
                let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
                loop {
                    let next = tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        n = messages.next() => n,
                    };
                    let Some(m) = next else { return Err("address feed ended".into()) };
                    let m = m.map_err(|e| e.to_string())?;
                    let seq = m.info().map_err(|e| e.to_string())?.stream_sequence;
                    self.apply_message(m.headers.as_ref(), &m.payload, seq);
                }
            }
            .await;
            if let Err(e) = result {
                tracing::debug!(error = %e, "address feed interrupted; resuming");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}
