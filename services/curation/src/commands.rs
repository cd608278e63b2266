//! The address team's commands: register, correct, merge, retire, and the
//! review decisions that end in a merge or in "distinct".
//!
//! Each is one event on the base address's (or review item's) own subject,
//! decided by the domain aggregate. What the aggregate cannot see — whether
//! the matching engine resolves new lines to another address, the status
//! of a merge's survivor — is looked up here first and handed to it.

use crate::error::CurationError;
use chrono::Utc;
use masthead_domain::base_address::{
    self, AddressPatch, AddressSource, AliasReason, BaseAddress, BaseAddressAliased, BaseAddressCommand,
    BaseAddressError, BaseAddressEvent, BaseAddressRegistered, CorrectAddress, MergeAddress, RetireAddress,
};
use masthead_domain::envelope::{CommandMeta, Recorded};
use masthead_domain::review::{
    self, DecideReview, RequestedDecision, Review, ReviewCommand, ReviewDecision, ReviewEvent,
};
use masthead_domain::AddressLines;
use masthead_jetstream::command_bus::CommandBus;
use masthead_jetstream::lease::{Lease, LEASE_TTL, RENEW_EVERY};
use masthead_jetstream::store::EventStore;
use masthead_matching::matcher::address_book::AddressBook;
use masthead_matching::matcher::convert::{canonical_address, canonical_of};
use masthead_matching::{Canonical, Decision};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Who asked, and why: both go into the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The subject of the caller's token (or `dedupe`, `cli:<user>`).
    pub subject: String,
    pub reason: Option<String>,
}

/// A base address the team enters by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAddress {
    pub reference: Option<String>,
    pub lines: AddressLines,
}

/// The address team's commands over the event store, with the matching
/// engine's index to keep hand-made near-duplicates out.
#[derive(Clone)]
pub struct Curation {
    store: EventStore,
    addresses: Arc<CommandBus<BaseAddress>>,
    reviews: Arc<CommandBus<Review>>,
    book: Arc<AddressBook>,
}

/// How long a command waits for the index to hold every stored address
/// before it answers "unavailable, retry" (an import far ahead of it).
pub const FENCE_PATIENCE: Duration = Duration::from_secs(5);

/// The same wait again under the lease, for what was appended since: short,
/// because other commands wait for the lease meanwhile (an index that
/// cannot keep up for this long answers "unavailable, retry").
const FENCE_UNDER_LEASE: Duration = Duration::from_secs(2);

/// The lease (in the leases bucket) that lets one command at a time change
/// an address's lines or status, across every process. Each command checks
/// one aggregate's history for conflicts, but a merge also depends on its
/// survivor's status: two merges at once, each address into the other, both
/// saw an active survivor and left no address active.
const CURATION_LOCK: &str = "curation";

/// How long a command waits for another one to finish before it answers
/// "unavailable, retry". Commands take milliseconds; this is for a burst.
const LOCK_PATIENCE: Duration = Duration::from_secs(3);

/// How often a waiting command tries the lease again.
const LOCK_POLL: Duration = Duration::from_millis(20);

impl Curation {
    pub fn new(store: EventStore, book: Arc<AddressBook>) -> Self {
        Self {
            addresses: Arc::new(CommandBus::new(store.clone(), ())),
            reviews: Arc::new(CommandBus::new(store.clone(), ())),
            store,
            book,
        }
    }

    /// Waits until the index holds every address stored so far, so that a
    /// hand-made address is checked against the whole list (an import may
    /// be filling it), as the matcher's decisions are.
    async fn fence(&self, patience: Duration) -> Result<(), CurationError> {
        let topology = self.store.topology();
        let stream = self
            .store
            .jetstream()
            .get_stream(&topology.stream)
            .await
            .map_err(|e| CurationError::Unavailable(e.to_string()))?;
        self.book
            .complete_before(&stream, topology, u64::MAX, patience)
            .await
            .map_err(|e| CurationError::Unavailable(e.to_string()))
    }

    /// Runs `work` while holding [`CURATION_LOCK`]. The work is cut off
    /// (unavailable, retry) before the lease could expire, so nobody else
    /// can act on a state it has read.
    async fn exclusively<T>(&self, work: impl Future<Output = Result<T, CurationError>>) -> Result<T, CurationError> {
        let unavailable = |e: &dyn std::fmt::Display| CurationError::Unavailable(e.to_string());
        let topology = self.store.topology();
        let kv = self.store.jetstream().get_key_value(topology.leases_bucket()).await.map_err(|e| unavailable(&e))?;
        let holder = Uuid::new_v4().to_string();
        let lease = tokio::time::timeout(LOCK_PATIENCE, Lease::acquire(&kv, CURATION_LOCK, &holder, LOCK_POLL))
            .await
            .map_err(|_| CurationError::Busy)?
            .map_err(|e| unavailable(&e))?;
        // Released when this future ends, or when it is dropped halfway (a
        // client that hung up): the next command must not wait out the TTL.
        let held = HeldLease(Some(lease));
        let done = tokio::time::timeout(LEASE_TTL - RENEW_EVERY, work).await;
        held.release().await;
        done.map_err(|_| unavailable(&"the command took longer than its lease"))?
    }

    /// The matching engine's view of the base list this curation checks against.
    pub fn book(&self) -> &Arc<AddressBook> {
        &self.book
    }

    pub(crate) fn reviews(&self) -> &CommandBus<Review> {
        &self.reviews
    }

    /// Registers a new base address. If the engine resolves it to one that
    /// exists (exactly or as a near-duplicate), nothing is appended:
    /// [`CurationError::Existing`] names it.
    pub async fn register(&self, new: NewAddress, actor: &Actor) -> Result<BaseAddressRegistered, CurationError> {
        // The fence before the lease: it waits for an import's addresses to
        // be indexed, seconds while one runs, and holding the lease for that
        // would turn other curators away.
        self.fence(FENCE_PATIENCE).await?;
        // Alone: two near-duplicate spellings registered at once would
        // each pass the engine's check before the other is in the index.
        self.exclusively(self.register_alone(new, actor)).await
    }

    async fn register_alone(&self, new: NewAddress, actor: &Actor) -> Result<BaseAddressRegistered, CurationError> {
        // Again under the lease, for what another process appended between
        // the first fence and the lease (its `ref` above all: an exact key
        // is caught by the append, a `ref` only here). Caught up, this is
        // one request.
        self.fence(FENCE_UNDER_LEASE).await?;
        let probe = canonical_of(&new.lines);
        if let Some(existing) = self.resolves_to(&probe, None) {
            return Err(CurationError::Existing { id: existing });
        }
        self.ref_is_free(new.reference.as_deref(), None)?;
        // As the matcher does: a retired address's key passes to a successor id.
        let id = self.book.id_for_new(&probe.key());
        let registered = BaseAddressRegistered {
            base_address_id: id,
            reference: new.reference,
            address: new.lines,
            canonical: canonical_address(&probe),
            source: AddressSource::Curator { actor: actor.subject.clone(), reason: actor.reason.clone() },
            flags: Vec::new(),
            registered_at: Utc::now(),
        };
        let meta = CommandMeta::default();
        let stored = self
            .addresses
            .execute_new(&id.to_string(), BaseAddressCommand::Register(registered.clone()), &meta)
            .await
            .map_err(CurationError::from_address)?;
        if stored.is_empty() {
            // The key was registered between the index lookup and the append.
            return Err(CurationError::Existing { id });
        }
        self.book.add(&registered);
        Ok(registered)
    }

    /// The base address the engine resolves `probe` to, other than `except`.
    fn resolves_to(&self, probe: &Canonical, except: Option<Uuid>) -> Option<Uuid> {
        let decision = self.book.with_index(|i| (!i.is_empty()).then(|| i.decide(probe))).flatten()?;
        match decision {
            Decision::Match(c) if Some(c.id) != except => Some(c.id),
            _ => None,
        }
    }

    /// Corrects the lines (or the reference) of an active base address.
    /// Lines that resolve to another base address are refused with
    /// [`CurationError::Existing`]: that is a merge. A new key's id is
    /// reserved for this address first, so the corrected spelling cannot be
    /// registered again as a new address.
    pub async fn correct(
        &self,
        id: Uuid,
        patch: AddressPatch,
        actor: &Actor,
    ) -> Result<Option<Recorded<BaseAddressEvent>>, CurationError> {
        // Before the lease, as for a registration: new lines are checked
        // against every address stored so far.
        self.fence(FENCE_PATIENCE).await?;
        self.exclusively(self.correct_alone(id, patch, actor)).await
    }

    async fn correct_alone(
        &self,
        id: Uuid,
        patch: AddressPatch,
        actor: &Actor,
    ) -> Result<Option<Recorded<BaseAddressEvent>>, CurationError> {
        // Again under the lease: see `register_alone`.
        self.fence(FENCE_UNDER_LEASE).await?;
        let (loaded, _) = self.addresses.aggregates().load(&id.to_string()).await.map_err(CurationError::read)?;
        let current = match (&loaded.aggregate.current, &loaded.aggregate.aliased) {
            (Some(c), _) => c.clone(),
            (None, Some(alias)) => {
                return Err(CurationError::Address(BaseAddressError::Aliased { alias_of: alias.alias_of }))
            }
            (None, None) => return Err(CurationError::Address(BaseAddressError::NotRegistered)),
        };
        let lines = patch.apply(&current.address);
        let reference = patch.apply_reference(current.reference.as_ref());
        let probe = canonical_of(&lines);
        let key = probe.key();
        let command = BaseAddressCommand::Correct(CorrectAddress {
            address: lines,
            reference,
            canonical: canonical_address(&probe),
            actor: actor.subject.clone(),
            reason: actor.reason.clone(),
            at: Utc::now(),
        });
        // Asked first, so that a correction the address refuses (merged,
        // retired, nothing to change) reserves nothing: the reservation is
        // an event of its own, and the spelling would stay taken.
        let changes = loaded.aggregate.decide(command.clone()).map_err(CurationError::Address)?;
        if let BaseAddressCommand::Correct(c) = &command {
            if c.reference != current.reference {
                self.ref_is_free(c.reference.as_deref(), Some(id))?;
            }
        }
        if !changes.is_empty() && key != current.canonical.key {
            if let Some(existing) = self.resolves_to(&probe, Some(id)) {
                return Err(CurationError::Existing { id: existing });
            }
            self.reserve(id, &key).await?;
        }
        let stored = self.execute(id, command).await?;
        // In the book before the lease is given back, so the next command
        // checks against this correction's key and `ref` even if the
        // book's feed has not delivered it yet (applying it twice is a
        // no-op).
        if let Some(r) = &stored {
            self.book.apply(&r.event);
        }
        Ok(stored)
    }

    /// Refuses a `ref` another base address (not `except`) holds: active or
    /// retired (see `AddressBook::holder_of_ref`).
    fn ref_is_free(&self, reference: Option<&str>, except: Option<Uuid>) -> Result<(), CurationError> {
        match reference.and_then(|r| self.book.holder_of_ref(r, except)) {
            Some(id) => Err(CurationError::RefTaken { id }),
            None => Ok(()),
        }
    }

    /// One command on the address `id`; the event it stored, if any.
    async fn execute(
        &self,
        id: Uuid,
        command: BaseAddressCommand,
    ) -> Result<Option<Recorded<BaseAddressEvent>>, CurationError> {
        let stored = self
            .addresses
            .execute(&id.to_string(), command, &CommandMeta::default())
            .await
            .map_err(CurationError::from_address)?;
        Ok(stored.into_iter().next())
    }

    /// Reserves the id `key` derives for `owner`. Already reserved for it
    /// (a retried request, a correction back and forth) is fine.
    async fn reserve(&self, owner: Uuid, key: &str) -> Result<(), CurationError> {
        let alias_id = base_address::id_for_key(key);
        if alias_id == owner {
            return Ok(());
        }
        let alias = BaseAddressAliased {
            base_address_id: alias_id,
            alias_of: owner,
            key: key.to_owned(),
            reason: AliasReason::Corrected,
            aliased_at: Utc::now(),
        };
        match self
            .addresses
            .execute(&alias_id.to_string(), BaseAddressCommand::Alias(alias), &CommandMeta::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(masthead_jetstream::command_bus::CommandError::Rejected(
                BaseAddressError::Registered(other) | BaseAddressError::Aliased { alias_of: other },
            )) => Err(CurationError::Existing { id: other }),
            Err(e) => Err(CurationError::from_address(e)),
        }
    }

    /// Merges `id` into `into`, which must be active.
    pub async fn merge(
        &self,
        id: Uuid,
        into: Uuid,
        actor: &Actor,
    ) -> Result<Option<Recorded<BaseAddressEvent>>, CurationError> {
        self.exclusively(self.merge_alone(id, into, actor)).await
    }

    async fn merge_alone(
        &self,
        id: Uuid,
        into: Uuid,
        actor: &Actor,
    ) -> Result<Option<Recorded<BaseAddressEvent>>, CurationError> {
        let survivor = if into == id {
            // The aggregate refuses it; no need to read anything.
            base_address::AddressStatus::Active
        } else {
            let (loaded, _) = self.addresses.aggregates().load(&into.to_string()).await.map_err(CurationError::read)?;
            loaded.aggregate.status
        };
        let command = BaseAddressCommand::Merge(MergeAddress {
            into,
            survivor,
            actor: actor.subject.clone(),
            reason: actor.reason.clone(),
            at: Utc::now(),
        });
        self.execute(id, command).await
    }

    /// Retires an active base address; `actor.reason` is required.
    pub async fn retire(&self, id: Uuid, actor: &Actor) -> Result<Option<Recorded<BaseAddressEvent>>, CurationError> {
        let command = BaseAddressCommand::Retire(RetireAddress {
            actor: actor.subject.clone(),
            reason: actor.reason.clone().unwrap_or_default(),
            at: Utc::now(),
        });
        // Alone too: a merge into this address must not pass its check
        // while the address is being retired.
        self.exclusively(self.execute(id, command)).await
    }

    /// Decides a review item. A merge is carried out before the decision is
    /// recorded, so a recorded merge decision always has its merge; a
    /// failure in between is repaired by deciding again (both steps are
    /// no-ops the second time).
    pub async fn decide(
        &self,
        review_id: Uuid,
        decision: RequestedDecision,
        actor: &Actor,
    ) -> Result<ReviewDecision, CurationError> {
        let (loaded, _) = self.reviews.aggregates().load(&review_id.to_string()).await.map_err(CurationError::read)?;
        let command =
            DecideReview { decision, actor: actor.subject.clone(), reason: actor.reason.clone(), at: Utc::now() };
        // A dry run on the loaded item: which address merges into which,
        // and whether the item accepts the decision at all.
        let planned = match loaded.aggregate.decide(ReviewCommand::Decide(command.clone())) {
            Ok(events) => events.into_iter().find_map(|e| match e {
                ReviewEvent::ReviewDecided(d) => Some(d.decision),
                ReviewEvent::ReviewOpened(_) => None,
            }),
            Err(e) => return Err(CurationError::Review(e)),
        };
        let Some(decision) = planned.or_else(|| loaded.aggregate.decided.as_ref().map(|d| d.decision.clone())) else {
            return Err(CurationError::Review(review::ReviewError::NotOpened));
        };
        match &decision {
            ReviewDecision::Merge { merged, into } => {
                self.merge(*merged, *into, actor).await?;
            }
            // Merged by hand since the item was queued: calling them
            // distinct now would record (and export, as a calibration
            // label) the opposite of what the list says.
            ReviewDecision::Distinct { pairs } if loaded.aggregate.decided.is_none() => {
                // Every pair holds the item's address: each history is
                // walked once, not once per pair.
                let mut survivors = std::collections::HashMap::new();
                for id in pairs.iter().flatten() {
                    if !survivors.contains_key(id) {
                        survivors.insert(*id, self.survivor_of(*id).await?);
                    }
                }
                for [a, b] in pairs {
                    if survivors[a] == survivors[b] {
                        return Err(CurationError::AlreadyOne { survivor: survivors[a] });
                    }
                }
            }
            ReviewDecision::Distinct { .. } => {}
        }
        self.reviews
            .execute(&review_id.to_string(), ReviewCommand::Decide(command), &CommandMeta::default())
            .await
            .map_err(CurationError::from_review)?;
        Ok(decision)
    }
}

impl Curation {
    /// Where `id` ends after following its merges, as the histories have it.
    async fn survivor_of(&self, id: Uuid) -> Result<Uuid, CurationError> {
        let mut at = id;
        for _ in 0..base_address::MAX_CHAIN {
            let (loaded, _) = self.addresses.aggregates().load(&at.to_string()).await.map_err(CurationError::read)?;
            match loaded.aggregate.status {
                base_address::AddressStatus::Merged { into } => at = into,
                _ => return Ok(at),
            }
        }
        Ok(at)
    }
}

/// The curation lease while a command holds it.
struct HeldLease(Option<Lease>);

impl HeldLease {
    async fn release(mut self) {
        if let Some(lease) = self.0.take() {
            lease.release().await;
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        // Dropped without `release`: the command was cancelled. Give the
        // lease back from a task of its own (no await in a drop).
        if let (Some(lease), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(lease.release());
        }
    }
}

/// A base address as its own history has it now.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressSnapshot {
    pub id: Uuid,
    pub status: base_address::AddressStatus,
    pub reference: Option<String>,
    pub lines: AddressLines,
}

impl Curation {
    /// The base address `id` as its history has it now; `None` if there is
    /// none (an alias id answers as the address it stands for).
    pub async fn snapshot(&self, id: Uuid) -> Result<Option<AddressSnapshot>, CurationError> {
        let (loaded, _) = self.addresses.aggregates().load(&id.to_string()).await.map_err(CurationError::read)?;
        let a = loaded.aggregate;
        if let Some(alias) = a.aliased {
            return Box::pin(self.snapshot(alias.alias_of)).await;
        }
        Ok(a.current.map(|c| AddressSnapshot { id, status: a.status, reference: c.reference, lines: c.address }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use masthead_test_support::stream::server_with_stream;
    use masthead_test_support::wait_until;

    /// A command cancelled while it holds the lease (its client hung up)
    /// gives the lease back at once; before, the next commands waited out
    /// the bucket's TTL and were refused meanwhile.
    #[tokio::test]
    async fn a_lease_dropped_halfway_is_given_back_at_once() {
        let (_server, js, topology) = server_with_stream("LEASETEST").await.expect("nats-server with the stream");
        let kv = js.get_key_value(topology.leases_bucket()).await.expect("leases");
        let lease = Lease::try_acquire(&kv, CURATION_LOCK, "first").await.expect("bucket").expect("free");
        assert!(Lease::try_acquire(&kv, CURATION_LOCK, "second").await.expect("bucket").is_none(), "held");
        drop(HeldLease(Some(lease)));
        // Well within the TTL (10 s), which is when it would free itself.
        let taken = wait_until("the lease free again", Duration::from_secs(3), || async {
            Lease::try_acquire(&kv, CURATION_LOCK, "second").await.ok().flatten()
        })
        .await
        .expect("given back");
        assert_eq!(taken.holder(), "second");
    }
}
