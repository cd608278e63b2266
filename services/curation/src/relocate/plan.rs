//! What the relocator knows and decides, without IO: which subscriptions
//! are delivered where, which addresses were merged into which, and the
//! moves each event calls for.

use masthead_domain::base_address::BaseAddressEvent;
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_domain::subscription::{DeliveryChangeCause, SubscriptionEvent};
use masthead_domain::AddressLines;
use std::collections::HashMap;
use uuid::Uuid;

/// The lines of a move: known from a correction event, or to be read from
/// the two addresses' histories for a merge.
#[derive(Debug, Clone, PartialEq)]
pub enum MoveLines {
    Known {
        before: AddressLines,
        after: AddressLines,
    },
    /// Read `from`'s lines (frozen once merged) and `to`'s current ones.
    Lookup,
}

/// One subscription to move: the command the relocator sends.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedMove {
    pub subscription_id: Uuid,
    pub from: Uuid,
    pub to: Uuid,
    pub cause: DeliveryChangeCause,
    pub cause_seq: u64,
    pub lines: MoveLines,
}

/// Where every resolved subscription is delivered, as the stream says so
/// far. Applying events in stream order yields the moves; applying an
/// event twice yields nothing new.
#[derive(Debug, Default)]
pub struct Relocations {
    /// Subscriptions delivered to each base address.
    at: HashMap<Uuid, Vec<Uuid>>,
    /// Merged address → the address it was merged into.
    merged: HashMap<Uuid, Uuid>,
}

impl Relocations {
    /// Subscriptions delivered to `address` now.
    pub fn delivered_to(&self, address: Uuid) -> &[Uuid] {
        self.at.get(&address).map_or(&[], Vec::as_slice)
    }

    /// The address that delivers for `id` now, following merges.
    pub fn survivor(&self, mut id: Uuid) -> Uuid {
        for _ in 0..masthead_domain::base_address::MAX_CHAIN {
            match self.merged.get(&id) {
                Some(next) => id = *next,
                None => break,
            }
        }
        id
    }

    fn place(&mut self, subscription: Uuid, address: Uuid) {
        let list = self.at.entry(address).or_default();
        if !list.contains(&subscription) {
            list.push(subscription);
        }
    }

    fn unplace(&mut self, subscription: Uuid, address: Uuid) {
        if let Some(list) = self.at.get_mut(&address) {
            list.retain(|s| *s != subscription);
            if list.is_empty() {
                self.at.remove(&address);
            }
        }
    }

    /// Applies one stored event; returns the moves it calls for.
    pub fn apply(&mut self, recorded: &Recorded<AnyEvent>) -> Vec<PlannedMove> {
        let seq = recorded.stream_sequence;
        match &recorded.event {
            AnyEvent::Subscription(event) => match recorded.envelope.aggregate_id.parse() {
                Ok(id) => self.on_subscription(seq, id, event),
                // Not a subscription the intake could have made; the
                // projector dead-letters it.
                Err(_) => Vec::new(),
            },
            AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressMerged(e)) => {
                self.merged.insert(e.base_address_id, e.into);
                let to = self.survivor(e.into);
                let subscriptions = self.at.remove(&e.base_address_id).unwrap_or_default();
                subscriptions
                    .into_iter()
                    .map(|s| {
                        self.place(s, to);
                        PlannedMove {
                            subscription_id: s,
                            from: e.base_address_id,
                            to,
                            cause: DeliveryChangeCause::Merged,
                            cause_seq: seq,
                            lines: MoveLines::Lookup,
                        }
                    })
                    .collect()
            }
            AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressCorrected(e)) if e.before != e.address => self
                .delivered_to(e.base_address_id)
                .iter()
                .map(|s| PlannedMove {
                    subscription_id: *s,
                    from: e.base_address_id,
                    to: e.base_address_id,
                    cause: DeliveryChangeCause::Corrected,
                    cause_seq: seq,
                    lines: MoveLines::Known { before: e.before.clone(), after: e.address.clone() },
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn on_subscription(&mut self, seq: u64, id: Uuid, event: &SubscriptionEvent) -> Vec<PlannedMove> {
        let resolved_to = match event {
            SubscriptionEvent::AddressMatched(e) => e.base_address_id,
            SubscriptionEvent::AddressAssigned(e) => e.base_address_id,
            SubscriptionEvent::DeliveryAddressChanged(e) => {
                self.unplace(id, e.from_base_address_id);
                self.place(id, e.base_address_id);
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        // A matcher that decided before it saw a merge delivers to the
        // merged address: the subscription follows the merge at once.
        let to = self.survivor(resolved_to);
        self.place(id, to);
        if to == resolved_to {
            return Vec::new();
        }
        vec![PlannedMove {
            subscription_id: id,
            from: resolved_to,
            to,
            cause: DeliveryChangeCause::Merged,
            cause_seq: seq,
            lines: MoveLines::Lookup,
        }]
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
