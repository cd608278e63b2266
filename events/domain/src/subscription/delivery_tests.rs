//! Given/when/then tests of delivery changes and their correction mails.

use super::tests::{at, base, matched, requested};
use super::*;
use crate::address::AddressLines;
use crate::country::Country;
use cqrs_es::test::TestFramework;

type SubscriptionTest = TestFramework<Subscription>;

fn survivor() -> Uuid {
    Uuid::from_u128(43)
}
fn lines(street: &str) -> AddressLines {
    AddressLines {
        street: street.into(),
        postal_code: Some("10001".into()),
        city: Some("New York".into()),
        country: Some(Country::parse("US").expect("US")),
    }
}
fn change(to: Uuid, street: &str, cause: DeliveryChangeCause, cause_seq: u64) -> DeliveryAddressChanged {
    DeliveryAddressChanged {
        from_base_address_id: base(),
        base_address_id: to,
        before: lines("East River Street 14"),
        delivery_address: lines(street),
        cause,
        cause_seq,
        changed_at: at(),
    }
}
fn resolved() -> Vec<SubscriptionEvent> {
    vec![requested(), SubscriptionEvent::AddressMatched(matched(base()))]
}
fn merged() -> DeliveryAddressChanged {
    change(survivor(), "East River St 14", DeliveryChangeCause::Merged, 77)
}
fn correction_sent(cause_seq: u64) -> CorrectionSent {
    CorrectionSent { cause_seq, message_id: "<c@masthead>".into(), sent_at: at() }
}

#[test]
fn a_merge_moves_a_resolved_subscription_to_the_survivor() {
    SubscriptionTest::with(())
        .given(resolved())
        .when(SubscriptionCommand::ChangeDelivery(merged()))
        .then_expect_events(vec![SubscriptionEvent::DeliveryAddressChanged(merged())]);
}

#[test]
fn the_same_cause_twice_is_a_no_op() {
    let mut history = resolved();
    history.push(SubscriptionEvent::DeliveryAddressChanged(merged()));
    SubscriptionTest::with(())
        .given(history)
        .when(SubscriptionCommand::ChangeDelivery(merged()))
        .then_expect_events(vec![]);
}

#[test]
fn a_correction_that_changes_no_line_is_a_no_op() {
    let same = change(base(), "East River Street 14", DeliveryChangeCause::Corrected, 78);
    SubscriptionTest::with(())
        .given(resolved())
        .when(SubscriptionCommand::ChangeDelivery(same))
        .then_expect_events(vec![]);
}

#[test]
fn a_change_from_another_address_is_refused() {
    let mut history = resolved();
    history.push(SubscriptionEvent::DeliveryAddressChanged(merged()));
    // Still names the first address, which it has left.
    let stale = change(survivor(), "East River St 14", DeliveryChangeCause::Merged, 90);
    SubscriptionTest::with(())
        .given(history)
        .when(SubscriptionCommand::ChangeDelivery(stale))
        .then_expect_error(SubscriptionError::NotDeliveredThere(survivor()));
}

#[test]
fn a_change_before_resolution_or_registration_is_refused() {
    SubscriptionTest::with(())
        .given(vec![requested()])
        .when(SubscriptionCommand::ChangeDelivery(merged()))
        .then_expect_error(SubscriptionError::NotResolved);
    SubscriptionTest::with(())
        .given_no_previous_events()
        .when(SubscriptionCommand::ChangeDelivery(merged()))
        .then_expect_error(SubscriptionError::NotRegistered);
}

#[test]
fn one_correction_mail_is_recorded_per_change() {
    let mut history = resolved();
    history.push(SubscriptionEvent::DeliveryAddressChanged(merged()));
    SubscriptionTest::with(())
        .given(history.clone())
        .when(SubscriptionCommand::RecordCorrectionSent(correction_sent(77)))
        .then_expect_events(vec![SubscriptionEvent::CorrectionSent(correction_sent(77))]);
    history.push(SubscriptionEvent::CorrectionSent(correction_sent(77)));
    SubscriptionTest::with(())
        .given(history)
        .when(SubscriptionCommand::RecordCorrectionSent(correction_sent(77)))
        .then_expect_events(vec![]);
}

#[test]
fn a_correction_mail_for_an_unknown_change_is_refused() {
    SubscriptionTest::with(())
        .given(resolved())
        .when(SubscriptionCommand::RecordCorrectionSent(correction_sent(5)))
        .then_expect_error(SubscriptionError::UnknownChange(5));
}
