//! Given/when/then for every review command and every refusal.

use super::*;
use crate::address::{FieldAgreement, MatchExplanation, ReviewCandidate, ReviewReason};
use chrono::{DateTime, Duration, Utc};
use cqrs_es::test::TestFramework;

type ReviewTest = TestFramework<Review>;

fn at() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}
fn address() -> Uuid {
    Uuid::from_u128(10)
}
fn candidate_id(n: u128) -> Uuid {
    Uuid::from_u128(100 + n)
}
fn candidate(n: u128) -> ReviewCandidate {
    ReviewCandidate {
        base_address_id: candidate_id(n),
        probability: 0.7,
        explanation: MatchExplanation {
            street_similarity: 92.0,
            street: FieldAgreement::Similar,
            house_number: FieldAgreement::Exact,
            postal_code: FieldAgreement::Exact,
            city: FieldAgreement::Exact,
            country: FieldAgreement::Exact,
            probability: Some(0.7),
            weights: None,
        },
        veto: None,
    }
}
fn subscription() -> Uuid {
    Uuid::from_u128(7)
}
fn opened(candidates: Vec<ReviewCandidate>) -> ReviewOpened {
    ReviewOpened {
        review_id: id_for_subscription(subscription()),
        kind: ReviewKind::GreyZone,
        reason: Some(ReviewReason::UncertainMatch),
        address_id: address(),
        subscription_id: Some(subscription()),
        candidates,
        opened_at: at(),
    }
}
fn opened_event() -> ReviewEvent {
    ReviewEvent::ReviewOpened(opened(vec![candidate(1), candidate(2)]))
}
fn decide(decision: RequestedDecision) -> ReviewCommand {
    ReviewCommand::Decide(DecideReview { decision, actor: "ann".into(), reason: None, at: at() + Duration::minutes(5) })
}
fn decided(decision: ReviewDecision) -> ReviewEvent {
    ReviewEvent::ReviewDecided(ReviewDecided {
        review_id: id_for_subscription(subscription()),
        decision,
        actor: "ann".into(),
        reason: None,
        opened_at: at(),
        decided_at: at() + Duration::minutes(5),
    })
}
fn distinct() -> ReviewDecision {
    ReviewDecision::Distinct { pairs: vec![pair(address(), candidate_id(1)), pair(address(), candidate_id(2))] }
}

#[test]
fn pair_ids_do_not_depend_on_order() {
    assert_eq!(id_for_pair(address(), candidate_id(1)), id_for_pair(candidate_id(1), address()));
    assert_ne!(id_for_pair(address(), candidate_id(1)), id_for_pair(address(), candidate_id(2)));
    assert_ne!(id_for_subscription(address()), id_for_pair(address(), address()));
}

#[test]
fn an_item_opens_once() {
    ReviewTest::with(())
        .given_no_previous_events()
        .when(ReviewCommand::Open(opened(vec![candidate(1), candidate(2)])))
        .then_expect_events(vec![opened_event()]);
    ReviewTest::with(())
        .given(vec![opened_event()])
        .when(ReviewCommand::Open(opened(vec![candidate(1), candidate(2)])))
        .then_expect_events(vec![]);
}

#[test]
fn a_decided_pair_is_not_queued_again() {
    ReviewTest::with(())
        .given(vec![opened_event(), decided(distinct())])
        .when(ReviewCommand::Open(opened(vec![candidate(1), candidate(2)])))
        .then_expect_events(vec![]);
}

#[test]
fn merging_into_a_candidate_merges_the_address() {
    ReviewTest::with(())
        .given(vec![opened_event()])
        .when(decide(RequestedDecision::Merge { into: candidate_id(2) }))
        .then_expect_events(vec![decided(ReviewDecision::Merge { merged: address(), into: candidate_id(2) })]);
}

#[test]
fn merging_into_the_address_merges_the_best_candidate() {
    ReviewTest::with(())
        .given(vec![opened_event()])
        .when(decide(RequestedDecision::Merge { into: address() }))
        .then_expect_events(vec![decided(ReviewDecision::Merge { merged: candidate_id(1), into: address() })]);
}

#[test]
fn distinct_names_every_pair_of_the_item() {
    ReviewTest::with(())
        .given(vec![opened_event()])
        .when(decide(RequestedDecision::Distinct))
        .then_expect_events(vec![decided(distinct())]);
}

#[test]
fn the_same_decision_again_changes_nothing() {
    ReviewTest::with(())
        .given(vec![opened_event(), decided(distinct())])
        .when(decide(RequestedDecision::Distinct))
        .then_expect_events(vec![]);
}

#[test]
fn another_decision_after_one_conflicts() {
    ReviewTest::with(())
        .given(vec![opened_event(), decided(distinct())])
        .when(decide(RequestedDecision::Merge { into: candidate_id(1) }))
        .then_expect_error(ReviewError::AlreadyDecided(distinct()));
}

#[test]
fn deciding_an_unknown_item_is_refused() {
    ReviewTest::with(())
        .given_no_previous_events()
        .when(decide(RequestedDecision::Distinct))
        .then_expect_error(ReviewError::NotOpened);
}

#[test]
fn merging_into_an_address_outside_the_item_is_refused() {
    ReviewTest::with(())
        .given(vec![opened_event()])
        .when(decide(RequestedDecision::Merge { into: Uuid::from_u128(999) }))
        .then_expect_error(ReviewError::NotInItem(Uuid::from_u128(999)));
}

#[test]
fn merging_an_item_without_candidates_is_refused() {
    ReviewTest::with(())
        .given(vec![ReviewEvent::ReviewOpened(opened(vec![]))])
        .when(decide(RequestedDecision::Merge { into: address() }))
        .then_expect_error(ReviewError::NoCandidate);
}

#[test]
fn review_events_round_trip_through_their_stored_payloads() {
    use crate::schema::{decode, EventSchema};
    let merge = decided(ReviewDecision::Merge { merged: address(), into: candidate_id(1) });
    for event in [opened_event(), decided(distinct()), merge] {
        let bytes = event.payload_bytes().expect("serialises");
        let back: ReviewEvent = decode(UPCASTERS, event.event_type(), event.schema_version(), &bytes).expect("decodes");
        assert_eq!(back, event);
    }
    let json: serde_json::Value =
        serde_json::from_slice(&decided(distinct()).payload_bytes().expect("json")).expect("parses");
    assert_eq!(json["decision"], "distinct");
}
