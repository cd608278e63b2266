//! The relocator's plan: given events in stream order, the moves they call for.

use super::*;
use chrono::Utc;
use masthead_domain::base_address::{BaseAddressCorrected, BaseAddressMerged};
use masthead_domain::envelope::Envelope;
use masthead_domain::subscription::{AddressAssigned, DeliveryAddressChanged};
use masthead_domain::CanonicalAddress;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}
fn lines(street: &str) -> AddressLines {
    AddressLines {
        street: street.into(),
        postal_code: Some("1011 AB".into()),
        city: Some("Amsterdam".into()),
        country: None,
    }
}
fn recorded(seq: u64, aggregate_id: Uuid, event: AnyEvent) -> Recorded<AnyEvent> {
    let envelope = Envelope {
        event_id: Uuid::from_u128(u128::from(seq)),
        event_type: String::new(),
        schema_version: 1,
        aggregate_type: String::new(),
        aggregate_id: aggregate_id.to_string(),
        aggregate_version: 1,
        occurred_at: Utc::now(),
        correlation_id: String::new(),
        causation_id: None,
        traceparent: None,
    };
    Recorded { envelope, stream_sequence: seq, event }
}
fn assigned(seq: u64, subscription: Uuid, address: Uuid) -> Recorded<AnyEvent> {
    let e = AddressAssigned {
        base_address_id: address,
        delivery_address: lines("Kerkstraat 12"),
        entered: CanonicalAddress {
            key: String::new(),
            street: String::new(),
            house_number: String::new(),
            postal_code: String::new(),
            city: String::new(),
            country: String::new(),
            house_name: String::new(),
            version: 2,
        },
        best_rejected_score: None,
        assigned_at: Utc::now(),
        review: None,
    };
    recorded(seq, subscription, AnyEvent::Subscription(SubscriptionEvent::AddressAssigned(e)))
}
fn merged(seq: u64, address: Uuid, into: Uuid) -> Recorded<AnyEvent> {
    let e = BaseAddressMerged {
        base_address_id: address,
        into,
        key: String::new(),
        actor: "curator".into(),
        reason: None,
        merged_at: Utc::now(),
    };
    recorded(seq, address, AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressMerged(e)))
}
fn corrected(seq: u64, address: Uuid, before: &str, after: &str) -> Recorded<AnyEvent> {
    let e = BaseAddressCorrected {
        base_address_id: address,
        before: lines(before),
        address: lines(after),
        previous_ref: None,
        reference: None,
        canonical: CanonicalAddress {
            key: String::new(),
            street: String::new(),
            house_number: String::new(),
            postal_code: String::new(),
            city: String::new(),
            country: String::new(),
            house_name: String::new(),
            version: 2,
        },
        actor: "curator".into(),
        reason: None,
        corrected_at: Utc::now(),
    };
    recorded(seq, address, AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressCorrected(e)))
}
fn targets(moves: &[PlannedMove]) -> Vec<(Uuid, Uuid, Uuid, u64)> {
    let mut t: Vec<_> = moves.iter().map(|m| (m.subscription_id, m.from, m.to, m.cause_seq)).collect();
    t.sort();
    t
}

#[test]
fn a_merge_moves_every_subscription_of_the_merged_address_to_the_survivor() {
    let mut r = Relocations::default();
    assert!(r.apply(&assigned(1, id(10), id(1))).is_empty());
    assert!(r.apply(&assigned(2, id(11), id(1))).is_empty());
    assert!(r.apply(&assigned(3, id(12), id(2))).is_empty());
    let moves = r.apply(&merged(4, id(1), id(2)));
    assert_eq!(targets(&moves), vec![(id(10), id(1), id(2), 4), (id(11), id(1), id(2), 4)]);
    assert!(moves.iter().all(|m| m.cause == DeliveryChangeCause::Merged && m.lines == MoveLines::Lookup));
    assert_eq!(r.delivered_to(id(2)).len(), 3);
    assert!(r.delivered_to(id(1)).is_empty());
}

#[test]
fn a_decision_for_an_address_merged_before_it_follows_the_merge_chain() {
    let mut r = Relocations::default();
    r.apply(&merged(1, id(1), id(2)));
    r.apply(&merged(2, id(2), id(3)));
    let moves = r.apply(&assigned(3, id(10), id(1)));
    assert_eq!(targets(&moves), vec![(id(10), id(1), id(3), 3)]);
    assert_eq!(r.delivered_to(id(3)), &[id(10)]);
}

#[test]
fn a_correction_moves_nobody_but_changes_their_lines_once_each() {
    let mut r = Relocations::default();
    r.apply(&assigned(1, id(10), id(1)));
    let moves = r.apply(&corrected(2, id(1), "Kerkstraat 12", "Kerkstraat 12a"));
    assert_eq!(targets(&moves), vec![(id(10), id(1), id(1), 2)]);
    assert_eq!(moves[0].lines, MoveLines::Known { before: lines("Kerkstraat 12"), after: lines("Kerkstraat 12a") });
    // Only the reference changed: no line changed, nobody to tell.
    assert!(r.apply(&corrected(3, id(1), "Kerkstraat 12a", "Kerkstraat 12a")).is_empty());
}

#[test]
fn a_recorded_move_is_not_planned_again_and_a_replay_plans_nothing_new() {
    let mut r = Relocations::default();
    r.apply(&assigned(1, id(10), id(1)));
    let moves = r.apply(&merged(2, id(1), id(2)));
    assert_eq!(moves.len(), 1);
    let change = DeliveryAddressChanged {
        from_base_address_id: id(1),
        base_address_id: id(2),
        before: lines("a"),
        delivery_address: lines("b"),
        cause: DeliveryChangeCause::Merged,
        cause_seq: 2,
        changed_at: Utc::now(),
    };
    let echo = recorded(3, id(10), AnyEvent::Subscription(SubscriptionEvent::DeliveryAddressChanged(change)));
    assert!(r.apply(&echo).is_empty());
    assert!(r.apply(&echo).is_empty());
    assert_eq!(r.delivered_to(id(2)), &[id(10)]);
    // A redelivered merge finds nobody left at the merged address.
    assert!(r.apply(&merged(2, id(1), id(2))).is_empty());
}

#[test]
fn addresses_that_are_not_merged_keep_their_subscriptions() {
    let mut r = Relocations::default();
    r.apply(&assigned(1, id(10), id(1)));
    r.apply(&assigned(2, id(11), id(5)));
    r.apply(&merged(3, id(1), id(2)));
    assert_eq!(r.delivered_to(id(5)), &[id(11)]);
    assert_eq!(r.survivor(id(5)), id(5));
    assert_eq!(r.survivor(id(1)), id(2));
}
