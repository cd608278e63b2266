//! The consumer's decisions, without any server.

use crate::common::*;
use masthead_mailer::*;
use std::time::Duration;
use uuid::Uuid;

#[test]
fn a_matched_subscription_is_confirmed_with_the_curated_address() {
    let curated = address("Kerkstraat 12", "3511 LX", "Utrecht", "NL");
    let MailDecision::Send(c) = decide(&[requested(1), matched(curated.clone())]) else { panic!("expected a send") };
    assert_eq!(
        c,
        Confirmation { subscription_id: Uuid::from_u128(1), delivery_address: curated, subscriber: sealed(1) }
    );
}

#[test]
fn a_newly_assigned_address_is_confirmed_too() {
    let new = address("Dorpsweg 1", "1234 AB", "Ergens", "NL");
    let MailDecision::Send(c) = decide(&[requested(1), assigned(new.clone())]) else { panic!("expected a send") };
    assert_eq!(c.delivery_address, new);
}

#[test]
fn a_redelivery_after_success_sends_nothing() {
    let history = [requested(1), matched(utrecht()), sent("<m@x>")];
    assert_eq!(decide(&history), MailDecision::Skip(SkipReason::AlreadyConfirmed { message_id: "<m@x>".into() }));
}

#[test]
fn a_redelivery_after_giving_up_sends_nothing() {
    assert_eq!(
        decide(&[requested(1), matched(utrecht()), failed(true)]),
        MailDecision::Skip(SkipReason::AlreadyFailed)
    );
    assert_eq!(
        decide(&[requested(1), matched(utrecht()), failed(false)]),
        MailDecision::Skip(SkipReason::AlreadyFailed)
    );
    // An operator's resend succeeded after the failure: confirmed.
    assert!(matches!(
        decide(&[requested(1), matched(utrecht()), failed(false), sent("<m@x>")]),
        MailDecision::Skip(SkipReason::AlreadyConfirmed { .. })
    ));
}

#[test]
fn an_erased_subscriber_is_never_mailed_again() {
    for history in [
        vec![requested(1), matched(utrecht()), erased()],
        vec![requested(1), erased(), matched(utrecht())],
        vec![requested(1), matched(utrecht()), failed(false), erased()],
        vec![requested(1), matched(utrecht()), sent("<m@x>"), erased()],
    ] {
        assert_eq!(decide(&history), MailDecision::Skip(SkipReason::Erased), "{history:?}");
    }
}

#[test]
fn nothing_is_sent_before_an_address_is_resolved() {
    assert_eq!(decide(&[requested(1)]), MailDecision::Skip(SkipReason::NotResolved));
    assert_eq!(decide(&[]), MailDecision::Skip(SkipReason::NotRegistered));
}

fn policy() -> RetryPolicy {
    RetryPolicy { max_attempts: 3, ..RetryPolicy::fast() }
}

#[test]
fn success_records_the_message_id() {
    let o = SendOutcome::classify(Ok(()), "<m@x>", policy().attempt(2), &policy(), at());
    assert_eq!(o, SendOutcome::Sent { message_id: "<m@x>".into(), sent_at: at() });
    assert_eq!(o.to_event(), Some(sent("<m@x>")));
}

#[test]
fn a_transient_failure_is_retried_with_back_off_until_the_last_attempt() {
    let err = || Err(SendError::transient("transient error (451)"));
    let o = SendOutcome::classify(err(), "<m@x>", policy().attempt(2), &policy(), at());
    let SendOutcome::RetryLater { delay, reason } = &o else { panic!("expected a retry, got {o:?}") };
    assert!(*delay >= Duration::from_millis(8) && *delay <= Duration::from_millis(10), "{delay:?}");
    assert_eq!(reason, "transient error (451)");
    assert_eq!(o.to_event(), None);

    let o = SendOutcome::classify(err(), "<m@x>", policy().attempt(3), &policy(), at());
    assert_eq!(
        o,
        SendOutcome::Failed { reason: "transient error (451)".into(), attempts: 3, permanent: false, failed_at: at() }
    );
    let Some(masthead_domain::subscription::SubscriptionEvent::ConfirmationFailed(e)) = o.to_event() else {
        panic!("expected ConfirmationFailed")
    };
    assert_eq!((e.attempts, e.permanent), (3, false));
}

#[test]
fn a_permanent_failure_is_final_at_once() {
    let o = SendOutcome::classify(
        Err(SendError::permanent("permanent error (550)")),
        "<m@x>",
        policy().attempt(1),
        &policy(),
        at(),
    );
    assert_eq!(
        o,
        SendOutcome::Failed { reason: "permanent error (550)".into(), attempts: 1, permanent: true, failed_at: at() }
    );
}
