//! The matcher's view of the base addresses: the candidate index plus the
//! curated lines to deliver to, built from the base-address events
//! (registrations, corrections, merges, retirements) and the review
//! decisions that pairs are distinct, and kept current as new ones arrive.

use super::convert::current_canonical;
use crate::index::Resolution;
use crate::{MatchConfig, MatchIndex};
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use masthead_domain::base_address::{
    self, AddressSource, BaseAddressCorrected, BaseAddressEvent, BaseAddressRegistered,
};
use masthead_domain::envelope::{header, AnyEvent};
use masthead_domain::review::{ReviewDecided, ReviewDecision, ReviewEvent};
use masthead_domain::subscription::text::is_invisible;
use masthead_domain::AddressLines;
use masthead_jetstream::feed;
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
    /// Ids reserved for a spelling of another address (a correction's new
    /// spelling, a key the normaliser changed): alias id → that address.
    aliases: RwLock<HashMap<Uuid, Uuid>>,
    /// Stream sequence of the last address or review event applied from
    /// the stream in order (catch-up and follow). Registrations the matcher adds
    /// itself do not move it: everything up to it is in the index.
    position: AtomicU64,
    /// Woken whenever `position` moves.
    advanced: tokio::sync::Notify,
    /// Asks the follower to start its feed again: a decision waited in
    /// vain, and a feed that went quiet across a server restart without
    /// an error must not hold every decision back.
    refollow: tokio::sync::Notify,
}

/// Why a decision could not wait for a complete index.
#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    /// The stream could not say where its last address event is. NATS is
    /// away: retry the batch.
    #[error("finding the last address event: {0}")]
    Stream(String),
    /// The index did not reach the address events before the batch in
    /// time (an import far ahead of the index). Retry the batch; nothing
    /// was decided.
    #[error("the address index is still {behind} address events short of sequence {wanted}")]
    Behind { wanted: u64, behind: u64 },
}

/// A `ref` as uniqueness sees it: without case and without the invisible
/// characters that make two refs look identical (format characters,
/// variation selectors, joiners: the intake's own list). Spaces count:
/// `R 7` is not `R7`.
pub fn fold_ref(reference: &str) -> String {
    reference.chars().filter(|c| c.is_whitespace() || !is_invisible(*c)).flat_map(char::to_lowercase).collect()
}

/// Whether `reference` folds to `folded` (see [`fold_ref`]); an ASCII ref
/// (nearly all) is compared without building its folded copy, so a scan of
/// a million addresses allocates nothing for them.
fn same_ref(reference: &str, folded: &str) -> bool {
    match reference.is_ascii() {
        true => reference.eq_ignore_ascii_case(folded),
        false => fold_ref(reference) == folded,
    }
}

impl AddressBook {
    pub fn new(config: MatchConfig) -> Self {
        Self {
            index: RwLock::new(MatchIndex::new(config)),
            info: RwLock::new(HashMap::new()),
            aliases: RwLock::new(HashMap::new()),
            position: AtomicU64::new(0),
            advanced: tokio::sync::Notify::new(),
            refollow: tokio::sync::Notify::new(),
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

    /// The address whose spelling reserved `id`, if it is an alias id.
    pub fn alias_of(&self, id: Uuid) -> Option<Uuid> {
        self.aliases.read().ok().and_then(|m| m.get(&id).copied())
    }

    /// The address a probe whose key derives `id` was registered as, or
    /// reserved for: `id` itself, or the address the alias `id` stands for.
    pub fn owner_of(&self, id: Uuid) -> Uuid {
        self.alias_of(id).unwrap_or(id)
    }

    /// The base address other than `except` that holds the `ref`
    /// `reference`, if any: active or retired, not merged away. A retired
    /// address keeps its subscriptions (they do not move), and they show
    /// its `ref`; a merged one's moved to the survivor. Refs compare
    /// folded ([`fold_ref`]), so look-alikes count as the same.
    ///
    /// Scans every address: only curation commands ask, one at a time, and
    /// at a million addresses the scan takes milliseconds, less than keeping
    /// a second map current through every registration, correction and
    /// merge.
    pub fn holder_of_ref(&self, reference: &str, except: Option<Uuid>) -> Option<Uuid> {
        let wanted = fold_ref(reference);
        // The ids first, then their status: one lock at a time, and the
        // index (which the follower writes) only for the few holders.
        let holders: Vec<Uuid> = {
            let info = self.info.read().ok()?;
            info.iter()
                .filter(|(id, i)| Some(**id) != except && i.reference.as_deref().is_some_and(|r| same_ref(r, &wanted)))
                .map(|(id, _)| *id)
                .collect()
        };
        let index = self.index.read().ok()?;
        holders
            .into_iter()
            .find(|id| matches!(index.resolve(*id), Resolution::Active(at) | Resolution::Retired(at) if at == *id))
    }

    /// The id a new base address with `key` takes: the key's own, unless
    /// that id belongs to an address that can take no deliveries now
    /// (retired, or merged into a retired one), directly or as a spelling
    /// reserved for it; then the next successor id that does not. An id of
    /// an active address is returned as it is: appending the registration
    /// then finds it registered.
    pub fn id_for_new(&self, key: &str) -> Uuid {
        let mut id = base_address::id_for_key(key);
        for _ in 0..base_address::MAX_CHAIN {
            let owner = self.owner_of(id);
            let retired = self
                .with_index(|index| index.knows(owner) && matches!(index.resolve(owner), Resolution::Retired(_)))
                .unwrap_or(false);
            if !retired {
                break;
            }
            id = base_address::successor_id(id);
        }
        id
    }

    /// Waits until every address event stored before stream sequence
    /// `before` is in the index: the fence in front of each decision, so
    /// that a subscription is never decided against an index an import is
    /// still filling.
    ///
    /// Asks the stream for its last address event (one request). When the
    /// index has it, nothing is missing. Otherwise the follower applies
    /// address events in stream order, so the index is complete below
    /// `before` once it reaches that last event or passes `before`.
    pub async fn complete_before(
        &self,
        stream: &jetstream::stream::Stream,
        topology: &Topology,
        before: u64,
        patience: Duration,
    ) -> Result<(), FenceError> {
        let last = match stream.get_last_raw_message_by_subject(&topology.aggregate_filter("address")).await {
            Ok(m) => m.sequence,
            Err(e) if e.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound => 0,
            Err(e) => return Err(FenceError::Stream(e.to_string())),
        };
        let done = |pos: u64| pos >= last || pos >= before;
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let advanced = self.advanced.notified();
            tokio::pin!(advanced);
            advanced.as_mut().enable();
            let pos = self.position();
            if done(pos) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, advanced).await.is_err() {
                let pos = self.position();
                if done(pos) {
                    return Ok(());
                }
                self.refollow.notify_one();
                return Err(FenceError::Behind { wanted: before, behind: last.min(before).saturating_sub(pos) });
            }
        }
    }

    /// Adds one registered address; adding the same id again changes
    /// nothing, even after a correction moved it to another key (a
    /// registration of the old key, redelivered, must not move it back).
    ///
    /// Uses the canonical form stored in the event when the current
    /// normaliser wrote it: normalising a million addresses again at every
    /// start would take tens of seconds.
    pub fn add(&self, e: &BaseAddressRegistered) {
        if self.info.read().is_ok_and(|m| m.contains_key(&e.base_address_id)) {
            return;
        }
        let canonical = current_canonical(&e.canonical, &e.address);
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
    }

    /// Moves a corrected address to its new key and delivery lines.
    fn correct(&self, e: &BaseAddressCorrected) {
        let canonical = current_canonical(&e.canonical, &e.address);
        if let Ok(mut index) = self.index.write() {
            index.insert(e.base_address_id, canonical);
        }
        if let Ok(mut info) = self.info.write() {
            if let Some(i) = info.get_mut(&e.base_address_id) {
                i.lines = e.address.clone();
                i.reference = e.reference.clone();
            }
        }
    }

    /// Applies one base-address event to the index.
    pub fn apply(&self, event: &BaseAddressEvent) {
        match event {
            BaseAddressEvent::BaseAddressRegistered(e) => self.add(e),
            BaseAddressEvent::BaseAddressCorrected(e) => self.correct(e),
            BaseAddressEvent::BaseAddressMerged(e) => {
                if let Ok(mut index) = self.index.write() {
                    index.merge(e.base_address_id, e.into);
                }
            }
            BaseAddressEvent::BaseAddressRetired(e) => {
                if let Ok(mut index) = self.index.write() {
                    index.retire(e.base_address_id);
                }
            }
            // An alias id is never in the index: its address is, under
            // its own id. Kept apart, so that a probe spelled like it is
            // known to be that address.
            BaseAddressEvent::BaseAddressAliased(e) => {
                if let Ok(mut aliases) = self.aliases.write() {
                    aliases.insert(e.base_address_id, e.alias_of);
                }
            }
        }
    }

    /// Records that every address event up to `sequence` is applied.
    fn advance(&self, sequence: u64) {
        self.position.fetch_max(sequence, Ordering::SeqCst);
        self.advanced.notify_waiters();
    }

    /// The feed: address events and review events, in stream order. Review
    /// decisions ride on the same ordered feed so that `position` keeps its
    /// meaning (every event of the feed up to it is applied, hence every
    /// address event up to it), and the fence still asks for the last
    /// *address* event only.
    fn ordered_config(topology: &Topology, from: u64) -> consumer::pull::OrderedConfig {
        consumer::pull::OrderedConfig {
            filter_subjects: vec![topology.aggregate_filter("address"), topology.aggregate_filter("review")],
            deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from.max(1) },
            ..Default::default()
        }
    }

    /// Reads every address event after the current position until none is
    /// pending. After it returns, the book holds every address that was in
    /// the stream when it was called.
    pub async fn catch_up(&self, js: &jetstream::Context, topology: &Topology) -> Result<usize, String> {
        let filters = vec![topology.aggregate_filter("address"), topology.aggregate_filter("review")];
        let read = feed::read_to_end(js, topology, filters, self.position() + 1, |m| {
            self.apply_message(m.headers, m.payload, m.stream_sequence);
            Ok::<_, std::convert::Infallible>(())
        })
        .await
        .map_err(|e| format!("address catch-up: {e}"))?;
        Ok(usize::try_from(read).unwrap_or(usize::MAX))
    }

    /// Pairs the team decided are different addresses: never offered as a
    /// pair again (dedupe, grey-zone review items).
    pub fn apply_review(&self, event: &ReviewEvent) {
        if let ReviewEvent::ReviewDecided(ReviewDecided { decision: ReviewDecision::Distinct { pairs }, .. }) = event {
            if let Ok(mut index) = self.index.write() {
                for [a, b] in pairs {
                    index.mark_distinct(*a, *b);
                }
            }
        }
    }

    fn apply_message(&self, headers: Option<&async_nats::HeaderMap>, payload: &[u8], seq: u64) {
        // Opened review items (one per grey-zone decision) say nothing the
        // book needs: not decoding them keeps a catch-up cheap.
        let event_type = headers.and_then(|h| h.get(header::EVENT_TYPE)).map(|v| v.as_str());
        if event_type == Some(ReviewEvent::OPENED) {
            self.advance(seq);
            return;
        }
        match decode_message(headers, payload, seq) {
            Ok(r) => match &r.event {
                AnyEvent::BaseAddress(e) => self.apply(e),
                AnyEvent::Review(e) => self.apply_review(e),
                AnyEvent::Subscription(_) => {}
            },
            // An undecodable address event cannot be matched against; the
            // projector dead-letters it for an operator.
            Err(e) => tracing::warn!(seq, error = %e, "skipping undecodable address event"),
        }
        self.advance(seq);
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
                        _ = self.refollow.notified() => return Err("a decision waited for the feed".into()),
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

#[cfg(test)]
mod tests {
    use super::{fold_ref, same_ref};

    #[test]
    fn refs_compare_without_case_or_invisible_characters() {
        let folded = fold_ref("R-7");
        for same in
            ["R-7", "r-7", "R-7\u{200B}", "\u{FEFF}r-\u{00AD}7", "R-7\u{200E}", "R-\u{FE0F}7\u{2061}", "R\u{034F}-7"]
        {
            assert!(same_ref(same, &folded), "{same:?}");
            assert_eq!(fold_ref(same), folded, "{same:?}");
        }
        for other in ["R-71", "R 7", "R-7 ", "Ř-7"] {
            assert!(!same_ref(other, &folded), "{other:?}");
        }
        assert!(same_ref("ÅB-1", &fold_ref("åb-1")));
    }
}
