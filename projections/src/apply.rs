//! Applying a batch of events: the store-independent half.
//!
//! A store hands in a [`DocSource`] that loads documents (from a redb write
//! transaction, or from a MongoDB prefetch); [`Batch`] folds every event into
//! an in-memory working set, so a document touched by several events of the
//! batch is read and written once, and collects the stats delta. The store
//! then writes the dirty documents, their index changes, the stats and the
//! checkpoint together.

use crate::error::StoreError;
use crate::fold::{
    score_bucket, AddressDoc, AddressKeys, Effect, Registration, ReviewDoc, ReviewEffect, ReviewKeys, SubscriptionDoc,
    SubscriptionKeys,
};
use crate::view::{ApplyReport, OutcomeKind, Rejected, Stats};
use chrono::{DateTime, NaiveDate, Utc};
use masthead_domain::base_address::{AddressSource, BaseAddressEvent};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_domain::subscription::SubscriptionEvent;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Where the batch reads documents it has not seen yet.
pub(crate) trait DocSource {
    fn load_subscription(&mut self, id: Uuid) -> Result<Option<SubscriptionDoc>, StoreError>;
    /// The address's counters, and its registration if the store keeps
    /// them together (a store that keeps them apart loads the registration
    /// in [`load_registration`](Self::load_registration), only for curation).
    fn load_address(&mut self, id: Uuid) -> Result<Option<AddressDoc>, StoreError>;
    fn load_registration(&mut self, _id: Uuid) -> Result<Option<Registration>, StoreError> {
        Ok(None)
    }
    fn load_review(&mut self, _id: Uuid) -> Result<Option<ReviewDoc>, StoreError> {
        Ok(None)
    }
}

pub(crate) struct SubSlot {
    pub doc: SubscriptionDoc,
    /// Index keys as stored before this batch, to remove stale entries.
    pub stored_keys: Option<SubscriptionKeys>,
    pub dirty: bool,
}

pub(crate) struct AddrSlot {
    pub doc: AddressDoc,
    /// Whether the stored document was registered (indexed) before this batch.
    pub was_registered: bool,
    pub dirty: bool,
    /// Loaded whole (registration too) for a curation event; `stored_keys`
    /// are then the index keys as stored before this batch.
    pub full: bool,
    pub stored_keys: Option<AddressKeys>,
}

pub(crate) struct ReviewSlot {
    pub doc: ReviewDoc,
    pub stored_keys: Option<ReviewKeys>,
    pub dirty: bool,
}

/// The stats as stored: what the API shows, plus the sum behind the mean
/// time to decision.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredStats {
    #[serde(flatten)]
    pub stats: Stats,
    #[serde(default)]
    pub seconds_to_decision_total: f64,
}

/// Changes to the stats, added to the stored stats in the same write.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct StatsDelta {
    pub registrations: BTreeMap<NaiveDate, u64>,
    pub matched: u64,
    pub new: u64,
    pub histogram: [u64; 10],
    pub mail_sent: u64,
    pub mail_failed: u64,
    pub mail_withheld: u64,
    pub addresses_corrected: u64,
    pub addresses_merged: u64,
    pub addresses_retired: u64,
    pub reviews_opened: u64,
    pub reviews_decided: u64,
    pub seconds_to_decision: f64,
    /// Highest sequence in the batch and when that event occurred.
    pub last: Option<(u64, DateTime<Utc>)>,
}

impl StatsDelta {
    pub fn merge_into(&self, stored: &mut StoredStats) {
        stored.seconds_to_decision_total += self.seconds_to_decision;
        let total = stored.seconds_to_decision_total;
        let stats = &mut stored.stats;
        stats.addresses_corrected += self.addresses_corrected;
        stats.addresses_merged += self.addresses_merged;
        stats.addresses_retired += self.addresses_retired;
        stats.reviews_opened += self.reviews_opened;
        stats.reviews_decided += self.reviews_decided;
        stats.reviews_open = stats.reviews_opened.saturating_sub(stats.reviews_decided);
        stats.mean_seconds_to_decision = (stats.reviews_decided > 0).then(|| total / stats.reviews_decided as f64);
        for (day, n) in &self.registrations {
            *stats.registrations_per_day.entry(*day).or_default() += n;
        }
        stats.matched += self.matched;
        stats.new += self.new;
        if stats.score_histogram.len() != 10 {
            stats.score_histogram.resize(10, 0);
        }
        for (i, n) in self.histogram.iter().enumerate() {
            stats.score_histogram[i] += n;
        }
        stats.mail_sent += self.mail_sent;
        stats.mail_failed += self.mail_failed;
        stats.mail_withheld += self.mail_withheld;
        if let Some((seq, at)) = self.last {
            if seq > stats.last_applied_seq {
                stats.last_applied_seq = seq;
                stats.last_applied_at = Some(at);
            }
        }
    }
}

/// A batch's documents by id. Fx rather than std's SipHash: every event
/// looks its documents up here, and SipHash over the ids was ~3 % of a
/// live import's samples. The ids are our own, not an attacker's keys, so
/// flooding is no concern.
pub(crate) type IdMap<V> = HashMap<Uuid, V, rustc_hash::FxBuildHasher>;

pub(crate) struct Batch {
    pub subs: IdMap<SubSlot>,
    pub addrs: IdMap<AddrSlot>,
    pub reviews: IdMap<ReviewSlot>,
    pub stats: StatsDelta,
    pub report: ApplyReport,
}

/// The subscription an event belongs to: the payload's id for the request,
/// the envelope's aggregate id for the rest.
pub(crate) fn subscription_id(r: &Recorded<AnyEvent>, e: &SubscriptionEvent) -> Option<Uuid> {
    match e {
        SubscriptionEvent::SubscriptionRequested(e) => Some(e.subscription_id),
        _ => r.envelope.aggregate_id.parse().ok(),
    }
}

impl Batch {
    pub fn new(checkpoint: u64) -> Self {
        Self {
            subs: IdMap::default(),
            addrs: IdMap::default(),
            reviews: IdMap::default(),
            stats: StatsDelta::default(),
            report: ApplyReport { checkpoint, ..ApplyReport::default() },
        }
    }

    /// The ids of the addresses and reviews this batch changed (and a
    /// store writes).
    pub(crate) fn written_address_and_review_ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        let addrs = self.addrs.iter().filter(|(_, s)| s.dirty).map(|(id, _)| *id);
        let reviews = self.reviews.iter().filter(|(_, s)| s.dirty).map(|(id, _)| *id);
        addrs.chain(reviews)
    }

    /// How many addresses this batch registers (new to the store).
    pub(crate) fn new_addresses(&self) -> usize {
        self.addrs.values().filter(|s| s.dirty && !s.was_registered && s.doc.live.registered).count()
    }

    pub fn apply_all(&mut self, src: &mut impl DocSource, events: &[Recorded<AnyEvent>]) -> Result<(), StoreError> {
        // A subscription has about three events and touches one address,
        // and a registration is one address: sized once, the maps are not
        // rehashed while the batch grows (an import's batch of 60 000
        // registrations spent a tenth of its time moving address slots).
        let registrations = events
            .iter()
            .filter(|r| matches!(r.event, AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRegistered(_))))
            .count();
        let others = (events.len() - registrations) / 3;
        self.subs.reserve(others);
        self.addrs.reserve(registrations + others);
        for r in events {
            self.apply(src, r)?;
        }
        Ok(())
    }

    fn sub(&mut self, src: &mut impl DocSource, id: Uuid, create: bool) -> Result<Option<&mut SubSlot>, StoreError> {
        use std::collections::hash_map::Entry;
        match self.subs.entry(id) {
            Entry::Occupied(e) => Ok(Some(e.into_mut())),
            Entry::Vacant(e) => {
                let slot = match src.load_subscription(id)? {
                    Some(doc) => SubSlot { stored_keys: doc.keys(), doc, dirty: false },
                    None if create => SubSlot { doc: SubscriptionDoc::new(id), stored_keys: None, dirty: false },
                    None => return Ok(None),
                };
                Ok(Some(e.insert(slot)))
            }
        }
    }

    fn addr(&mut self, src: &mut impl DocSource, id: Uuid) -> Result<&mut AddrSlot, StoreError> {
        use std::collections::hash_map::Entry;
        match self.addrs.entry(id) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let (doc, was_registered) = match src.load_address(id)? {
                    Some(doc) => {
                        let registered = doc.live.registered;
                        (doc, registered)
                    }
                    None => (AddressDoc::new(id), false),
                };
                Ok(e.insert(AddrSlot { doc, was_registered, dirty: false, full: false, stored_keys: None }))
            }
        }
    }

    /// The address with its registration, for a curation event.
    fn addr_full(&mut self, src: &mut impl DocSource, id: Uuid) -> Result<&mut AddrSlot, StoreError> {
        self.addr(src, id)?;
        let Some(slot) = self.addrs.get_mut(&id) else {
            return Err(StoreError::Worker(format!("address {id} vanished from the batch")));
        };
        if !slot.full {
            if slot.doc.registration.is_none() && slot.was_registered {
                slot.doc.registration = src.load_registration(id)?;
            }
            slot.stored_keys = slot.doc.keys();
            slot.full = true;
        }
        Ok(slot)
    }

    fn review(&mut self, src: &mut impl DocSource, id: Uuid) -> Result<&mut ReviewSlot, StoreError> {
        use std::collections::hash_map::Entry;
        match self.reviews.entry(id) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let doc = src.load_review(id)?;
                let stored_keys = doc.as_ref().and_then(ReviewDoc::keys);
                let doc = doc.unwrap_or_else(|| ReviewDoc::new(id));
                Ok(e.insert(ReviewSlot { doc, stored_keys, dirty: false }))
            }
        }
    }

    pub fn apply(&mut self, src: &mut impl DocSource, r: &Recorded<AnyEvent>) -> Result<(), StoreError> {
        let seq = r.stream_sequence;
        if seq > self.report.checkpoint {
            self.report.checkpoint = seq;
        }
        if self.stats.last.is_none_or(|(s, _)| s < seq) {
            self.stats.last = Some((seq, r.envelope.occurred_at));
        }
        match &r.event {
            AnyEvent::Subscription(e) => {
                let Some(id) = subscription_id(r, e) else {
                    self.report.rejected.push(Rejected {
                        stream_sequence: seq,
                        reason: format!("aggregate id {:?} is not a UUID", r.envelope.aggregate_id),
                    });
                    return Ok(());
                };
                let Some(slot) = self.sub(src, id, true)? else { return Ok(()) };
                let Some(effects) = slot.doc.apply(seq, r.envelope.occurred_at, e) else {
                    self.report.duplicates += 1;
                    return Ok(());
                };
                slot.dirty = true;
                self.report.applied += 1;
                for effect in effects {
                    self.carry_out(src, id, seq, effect)?;
                }
            }
            AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRegistered(e)) => {
                let slot = self.addr(src, e.base_address_id)?;
                if !slot.doc.register(seq, e) {
                    self.report.duplicates += 1;
                    return Ok(());
                }
                slot.dirty = true;
                self.report.applied += 1;
                // A new address's subscription may have been resolved before
                // this registration was applied: give it the ref now.
                if let (AddressSource::Subscription { subscription_id }, Some(reference)) = (&e.source, &e.reference) {
                    if let Some(sub) = self.sub(src, *subscription_id, false)? {
                        if sub.doc.backfill_ref(e.base_address_id, Some(reference)) {
                            sub.dirty = true;
                        }
                    }
                }
            }
            AnyEvent::BaseAddress(e) => self.apply_curation(src, r, e)?,
            AnyEvent::Review(e) => {
                let slot = self.review(src, e.review_id())?;
                match slot.doc.apply(e) {
                    None => self.report.duplicates += 1,
                    Some(effect) => {
                        slot.dirty = true;
                        self.report.applied += 1;
                        match effect {
                            ReviewEffect::Opened => self.stats.reviews_opened += 1,
                            ReviewEffect::Decided { seconds } => {
                                self.stats.reviews_decided += 1;
                                self.stats.seconds_to_decision += seconds;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Corrections, merges, retirements and aliases: rare events that load
    /// the whole address (registration too), since they change its lines,
    /// status or aliases and so its index entries.
    fn apply_curation(
        &mut self,
        src: &mut impl DocSource,
        r: &Recorded<AnyEvent>,
        e: &BaseAddressEvent,
    ) -> Result<(), StoreError> {
        let (seq, at) = (r.stream_sequence, r.envelope.occurred_at);
        let fresh = match e {
            // Handled in `apply`, on the hot path.
            BaseAddressEvent::BaseAddressRegistered(_) => return Ok(()),
            // An alias reserves an id for another address (see the
            // matching crate's "Stable keys"); it is no address to list,
            // but the survivor lists it among its aliases.
            BaseAddressEvent::BaseAddressAliased(a) => {
                let survivor = self.addr_full(src, a.alias_of)?;
                let fresh = survivor.doc.aliased(seq, a);
                survivor.dirty |= fresh;
                fresh
            }
            BaseAddressEvent::BaseAddressMerged(m) => {
                let merged = self.addr_full(src, m.base_address_id)?;
                let street = merged.doc.street();
                let inherited = merged.doc.aliases();
                let fresh = merged.doc.curate(seq, at, e);
                merged.dirty |= fresh;
                let survivor = self.addr_full(src, m.into)?;
                survivor.dirty |= survivor.doc.merged_from(seq, m, street, inherited);
                self.stats.addresses_merged += u64::from(fresh);
                fresh
            }
            BaseAddressEvent::BaseAddressCorrected(_) | BaseAddressEvent::BaseAddressRetired(_) => {
                let slot = self.addr_full(src, e.base_address_id())?;
                let fresh = slot.doc.curate(seq, at, e);
                slot.dirty |= fresh;
                if matches!(e, BaseAddressEvent::BaseAddressCorrected(_)) {
                    self.stats.addresses_corrected += u64::from(fresh);
                } else {
                    self.stats.addresses_retired += u64::from(fresh);
                }
                fresh
            }
        };
        if fresh {
            self.report.applied += 1;
        } else {
            self.report.duplicates += 1;
        }
        Ok(())
    }

    fn carry_out(
        &mut self,
        src: &mut impl DocSource,
        sub_id: Uuid,
        seq: u64,
        effect: Effect,
    ) -> Result<(), StoreError> {
        match effect {
            Effect::Registered { day } => *self.stats.registrations.entry(day).or_default() += 1,
            Effect::MailSent => self.stats.mail_sent += 1,
            Effect::MailFailed => self.stats.mail_failed += 1,
            Effect::MailWithheld => self.stats.mail_withheld += 1,
            Effect::Resolved { base_address_id, kind, score } => {
                match kind {
                    OutcomeKind::Matched => {
                        self.stats.matched += 1;
                        if let Some(s) = score {
                            self.stats.histogram[score_bucket(s)] += 1;
                        }
                    }
                    OutcomeKind::New => self.stats.new += 1,
                }
                let addr = self.addr(src, base_address_id)?;
                addr.doc.live.subscription_count += 1;
                addr.doc.touch(seq);
                addr.dirty = true;
                let reference = addr.doc.live.reference.clone();
                if let Some(sub) = self.subs.get_mut(&sub_id) {
                    if sub.doc.backfill_ref(base_address_id, reference.as_deref()) {
                        sub.dirty = true;
                    }
                }
            }
            Effect::Moved { from, to, seq } => {
                // A correction "moves" a subscription to the same address:
                // only its (possibly corrected) ref is of interest.
                if from != to {
                    let old = self.addr(src, from)?;
                    old.doc.live.moved_out += 1;
                    old.doc.touch(seq);
                    old.dirty = true;
                }
                let new = self.addr(src, to)?;
                if from != to {
                    new.doc.live.subscription_count += 1;
                    new.doc.touch(seq);
                    new.dirty = true;
                }
                let reference = new.doc.live.reference.clone();
                if let Some(sub) = self.subs.get_mut(&sub_id) {
                    if sub.doc.backfill_move_ref(seq, reference.as_deref()) {
                        sub.dirty = true;
                    }
                }
            }
            Effect::Spelling { base_address_id, street, seq } => {
                let addr = self.addr(src, base_address_id)?;
                addr.doc.add_spelling(&street, seq);
                addr.dirty = true;
            }
        }
        Ok(())
    }
}
