//! The subscription aggregate: the rules a subscription's history obeys.
//!
//! Commands that the consumers send may arrive twice (JetStream redelivers
//! after a crash), so repeating a command that already took effect is a
//! no-op, not an error. A command that contradicts history is an error.

use super::command::SubscriptionCommand;
use super::event::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No event yet.
    #[default]
    New,
    Pending,
    Matched,
    /// Double opt-in: the mail with the signed link went out; waiting for
    /// the subscriber to follow it.
    AwaitingOptIn,
    Confirmed,
    Failed,
    /// No mail was sent: the recipient's daily limit was reached.
    Withheld,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Pending => "pending",
            Status::Matched => "matched",
            Status::AwaitingOptIn => "awaiting_opt_in",
            Status::Confirmed => "confirmed",
            Status::Failed => "failed",
            Status::Withheld => "withheld",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: Option<Uuid>,
    pub status: Status,
    pub base_address_id: Option<Uuid>,
    pub confirmation_message_id: Option<String>,
    pub failed_attempts: u32,
    /// The vault key the personal data is sealed under.
    #[serde(default)]
    pub data_key_id: Option<String>,
    /// `PersonalDataErased` was recorded: nothing personal is readable any more.
    #[serde(default)]
    pub personal_data_erased: bool,
    /// `cause_seq` of every delivery change recorded: a change is recorded
    /// once per cause.
    #[serde(default)]
    pub delivery_changes: Vec<u64>,
    /// `cause_seq` of every change whose correction mail went out.
    #[serde(default)]
    pub corrections_sent: Vec<u64>,
}

/// Why a subscription command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// A subscription with this id exists. For intake this means the id was
    /// reused; use the idempotency record to answer instead.
    #[error("subscription already registered")]
    AlreadyRegistered,
    /// The command needs a registered subscription. The caller addressed the
    /// wrong id, or ran ahead of the stream; do not retry blindly.
    #[error("subscription not registered")]
    NotRegistered,
    /// The address was already resolved to another base address. A matcher
    /// decided differently before; keep the first decision.
    #[error("subscription already resolved to base address {0}")]
    AlreadyResolved(Uuid),
    /// Mail was requested before an address was resolved: the consumer is
    /// ahead of its input. Retry later.
    #[error("subscription has no delivery address yet")]
    NotResolved,
    /// An opt-in confirmation for a subscription that sent no opt-in mail
    /// (or whose mail was withheld or failed). Tell the subscriber there is
    /// nothing to confirm; do not retry.
    #[error("subscription is not waiting for an opt-in")]
    NotAwaitingOptIn,
    /// A delivery change names a base address the subscription is not
    /// delivered to: the caller's view is stale. Re-read the subscription;
    /// do not retry the same change.
    #[error("subscription is delivered to base address {0}, not the one the change names")]
    NotDeliveredThere(Uuid),
    /// A correction mail was reported for a change that was never recorded.
    /// A bug in the caller; do not retry.
    #[error("no delivery change for cause {0}")]
    UnknownChange(u64),
}

impl Subscription {
    fn resolve(
        &self,
        base_address_id: Uuid,
        event: SubscriptionEvent,
    ) -> Result<Vec<SubscriptionEvent>, SubscriptionError> {
        match (self.status, self.base_address_id) {
            (Status::New, _) => Err(SubscriptionError::NotRegistered),
            (Status::Pending, _) => Ok(vec![event]),
            (_, Some(existing)) if existing == base_address_id => Ok(vec![]),
            (_, Some(existing)) => Err(SubscriptionError::AlreadyResolved(existing)),
            (_, None) => Ok(vec![event]),
        }
    }

    /// The pure decision: which events a command produces on this state.
    pub fn decide(&self, command: SubscriptionCommand) -> Result<Vec<SubscriptionEvent>, SubscriptionError> {
        match command {
            SubscriptionCommand::Register(c) => {
                if self.status != Status::New {
                    return Err(SubscriptionError::AlreadyRegistered);
                }
                Ok(vec![SubscriptionEvent::SubscriptionRequested(SubscriptionRequested {
                    subscription_id: c.subscription_id,
                    subscriber: c.subscriber,
                    address: c.address,
                    country_as_typed: c.country_as_typed,
                    channel: c.channel,
                    requested_at: c.requested_at,
                })])
            }
            SubscriptionCommand::RecordMatch(e) => {
                self.resolve(e.base_address_id, SubscriptionEvent::AddressMatched(e))
            }
            SubscriptionCommand::AssignNewAddress(e) => {
                self.resolve(e.base_address_id, SubscriptionEvent::AddressAssigned(e))
            }
            SubscriptionCommand::RecordConfirmationSent(e) => self.mail_outcome(SubscriptionEvent::ConfirmationSent(e)),
            SubscriptionCommand::RecordConfirmationFailed(e) => {
                self.mail_outcome(SubscriptionEvent::ConfirmationFailed(e))
            }
            SubscriptionCommand::RecordOptInRequested(e) => self.mail_outcome(SubscriptionEvent::OptInRequested(e)),
            SubscriptionCommand::RecordConfirmationWithheld(e) => {
                self.mail_outcome(SubscriptionEvent::ConfirmationWithheld(e))
            }
            SubscriptionCommand::ErasePersonalData(c) => match (self.status, &self.data_key_id) {
                (Status::New, _) | (_, None) => Err(SubscriptionError::NotRegistered),
                // Erasing twice changes nothing: the first erasure stands.
                _ if self.personal_data_erased => Ok(vec![]),
                (_, Some(key_id)) => Ok(vec![SubscriptionEvent::PersonalDataErased(PersonalDataErased {
                    key_id: key_id.clone(),
                    reason: c.reason.map(|r| r.as_str().to_owned()),
                    erased_at: c.erased_at,
                })]),
            },
            SubscriptionCommand::ChangeDelivery(e) => self.change_delivery(e),
            SubscriptionCommand::RecordCorrectionSent(e) => match self.status {
                Status::New => Err(SubscriptionError::NotRegistered),
                _ if self.corrections_sent.contains(&e.cause_seq) => Ok(vec![]),
                _ if !self.delivery_changes.contains(&e.cause_seq) => {
                    Err(SubscriptionError::UnknownChange(e.cause_seq))
                }
                _ => Ok(vec![SubscriptionEvent::CorrectionSent(e)]),
            },
            SubscriptionCommand::ConfirmOptIn(e) => match self.status {
                Status::New => Err(SubscriptionError::NotRegistered),
                Status::AwaitingOptIn => Ok(vec![SubscriptionEvent::OptInConfirmed(e)]),
                // A second click on the link.
                Status::Confirmed => Ok(vec![]),
                _ => Err(SubscriptionError::NotAwaitingOptIn),
            },
        }
    }

    /// A base address's correction or merge reaching this subscription. The
    /// same cause twice (a redelivered address event, a relocator replaying
    /// history after a restart) is a no-op; so is a change that changes
    /// nothing (a corrected `ref`).
    fn change_delivery(&self, e: DeliveryAddressChanged) -> Result<Vec<SubscriptionEvent>, SubscriptionError> {
        match (self.status, self.base_address_id) {
            (Status::New, _) => Err(SubscriptionError::NotRegistered),
            (_, None) => Err(SubscriptionError::NotResolved),
            _ if self.delivery_changes.contains(&e.cause_seq) => Ok(vec![]),
            (_, Some(current)) if current != e.from_base_address_id => {
                Err(SubscriptionError::NotDeliveredThere(current))
            }
            _ if e.from_base_address_id == e.base_address_id && !e.lines_changed() => Ok(vec![]),
            _ => Ok(vec![SubscriptionEvent::DeliveryAddressChanged(e)]),
        }
    }

    /// What the mailer reports: sent, failed, opt-in mail sent, withheld.
    /// Exactly one mail outcome stands; a failure may be followed by a
    /// success (an operator's resend). Once a mail went out or was
    /// withheld, later reports (redeliveries, a late failure) change
    /// nothing.
    fn mail_outcome(&self, event: SubscriptionEvent) -> Result<Vec<SubscriptionEvent>, SubscriptionError> {
        match self.status {
            Status::New => Err(SubscriptionError::NotRegistered),
            Status::Pending => Err(SubscriptionError::NotResolved),
            Status::Confirmed | Status::AwaitingOptIn | Status::Withheld => Ok(vec![]),
            Status::Matched | Status::Failed => Ok(vec![event]),
        }
    }

    pub fn apply_event(&mut self, event: &SubscriptionEvent) {
        match event {
            SubscriptionEvent::SubscriptionRequested(e) => {
                self.id = Some(e.subscription_id);
                self.status = Status::Pending;
                self.data_key_id = Some(e.subscriber.key_id.clone());
            }
            SubscriptionEvent::AddressMatched(e) => {
                self.base_address_id = Some(e.base_address_id);
                self.status = Status::Matched;
            }
            SubscriptionEvent::AddressAssigned(e) => {
                self.base_address_id = Some(e.base_address_id);
                self.status = Status::Matched;
            }
            SubscriptionEvent::ConfirmationSent(e) => {
                self.confirmation_message_id = Some(e.message_id.clone());
                self.status = Status::Confirmed;
            }
            SubscriptionEvent::ConfirmationFailed(e) => {
                self.failed_attempts = self.failed_attempts.saturating_add(e.attempts);
                self.status = Status::Failed;
            }
            // The status stays what it was: erasure is about the person,
            // not about the subscription's progress.
            SubscriptionEvent::PersonalDataErased(_) => self.personal_data_erased = true,
            SubscriptionEvent::OptInRequested(e) => {
                self.confirmation_message_id = Some(e.message_id.clone());
                self.status = Status::AwaitingOptIn;
            }
            SubscriptionEvent::OptInConfirmed(_) => self.status = Status::Confirmed,
            SubscriptionEvent::ConfirmationWithheld(_) => self.status = Status::Withheld,
            // The status stays: a move is not progress of the subscription.
            SubscriptionEvent::DeliveryAddressChanged(e) => {
                self.base_address_id = Some(e.base_address_id);
                self.delivery_changes.push(e.cause_seq);
            }
            SubscriptionEvent::CorrectionSent(e) => self.corrections_sent.push(e.cause_seq),
        }
    }
}

aggregate_from_decide!(
    Subscription,
    "subscription",
    SubscriptionCommand,
    SubscriptionEvent,
    SubscriptionError,
    |s, e| s.apply_event(&e)
);

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod delivery_tests;

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::address::*;
    use crate::country::Country;
    use crate::personal_data::SealedPersonalData;
    use crate::subscription::command::RegisterSubscription;
    use chrono::{TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    type SubscriptionTest = TestFramework<Subscription>;

    pub(super) fn id() -> Uuid {
        Uuid::from_u128(0x6f1c_2a52_4c1e_4a53_9d0b_6f0f_7e0f_1a01)
    }
    pub(super) fn base() -> Uuid {
        Uuid::from_u128(42)
    }
    pub(super) fn at() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().expect("valid time")
    }
    fn address() -> PostalAddress {
        PostalAddress {
            street: "East river str. 14".into(),
            postal_code: "10001".into(),
            city: "New York".into(),
            country: Country::parse("US").expect("US"),
        }
    }
    fn sealed() -> SealedPersonalData {
        SealedPersonalData {
            alg: "xchacha20poly1305".into(),
            key_id: id().to_string(),
            nonce: "n".into(),
            ciphertext: "c".into(),
        }
    }
    fn register() -> RegisterSubscription {
        RegisterSubscription {
            subscription_id: id(),
            subscriber: sealed(),
            address: address(),
            country_as_typed: "U.S.A.".into(),
            channel: Channel::Api,
            requested_at: at(),
        }
    }
    pub(super) fn requested() -> SubscriptionEvent {
        SubscriptionEvent::SubscriptionRequested(SubscriptionRequested {
            subscription_id: id(),
            subscriber: sealed(),
            address: address(),
            country_as_typed: "U.S.A.".into(),
            channel: Channel::Api,
            requested_at: at(),
        })
    }
    fn canonical() -> CanonicalAddress {
        CanonicalAddress {
            key: "us|10001|new york|east river street|14".into(),
            street: "east river street".into(),
            house_number: "14".into(),
            postal_code: "10001".into(),
            city: "new york".into(),
            country: "US".into(),
            house_name: String::new(),
            version: 1,
        }
    }
    pub(super) fn matched(base_address_id: Uuid) -> AddressMatched {
        AddressMatched {
            base_address_id,
            base_address_ref: Some("R-1".into()),
            delivery_address: AddressLines {
                street: "East River Street 14".into(),
                postal_code: Some("10001".into()),
                city: Some("New York".into()),
                country: Some(Country::parse("US").expect("US")),
            },
            entered: canonical(),
            score: 93.5,
            explanation: MatchExplanation {
                street_similarity: 91.0,
                street: FieldAgreement::Equivalent,
                house_number: FieldAgreement::Exact,
                postal_code: FieldAgreement::Exact,
                city: FieldAgreement::Exact,
                country: FieldAgreement::Exact,
                probability: None,
                weights: None,
            },
            matched_at: at(),
            review: None,
        }
    }
    pub(super) fn sent() -> ConfirmationSent {
        ConfirmationSent { message_id: "<x@masthead>".into(), sent_at: at() }
    }

    #[test]
    fn registering_a_new_subscription_requests_it() {
        SubscriptionTest::with(())
            .given_no_previous_events()
            .when(SubscriptionCommand::Register(register()))
            .then_expect_events(vec![requested()]);
    }

    #[test]
    fn registering_twice_is_refused() {
        SubscriptionTest::with(())
            .given(vec![requested()])
            .when(SubscriptionCommand::Register(register()))
            .then_expect_error(SubscriptionError::AlreadyRegistered);
    }

    #[test]
    fn a_pending_subscription_can_be_matched() {
        SubscriptionTest::with(())
            .given(vec![requested()])
            .when(SubscriptionCommand::RecordMatch(matched(base())))
            .then_expect_events(vec![SubscriptionEvent::AddressMatched(matched(base()))]);
    }

    #[test]
    fn a_redelivered_match_to_the_same_address_is_a_no_op() {
        SubscriptionTest::with(())
            .given(vec![requested(), SubscriptionEvent::AddressMatched(matched(base()))])
            .when(SubscriptionCommand::RecordMatch(matched(base())))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_second_decision_for_another_address_is_refused() {
        SubscriptionTest::with(())
            .given(vec![requested(), SubscriptionEvent::AddressMatched(matched(base()))])
            .when(SubscriptionCommand::RecordMatch(matched(Uuid::from_u128(7))))
            .then_expect_error(SubscriptionError::AlreadyResolved(base()));
    }

    #[test]
    fn matching_an_unknown_subscription_is_refused() {
        SubscriptionTest::with(())
            .given_no_previous_events()
            .when(SubscriptionCommand::RecordMatch(matched(base())))
            .then_expect_error(SubscriptionError::NotRegistered);
    }

    #[test]
    fn mail_before_resolution_is_refused() {
        SubscriptionTest::with(())
            .given(vec![requested()])
            .when(SubscriptionCommand::RecordConfirmationSent(sent()))
            .then_expect_error(SubscriptionError::NotResolved);
    }

    #[test]
    fn exactly_one_confirmation_is_recorded() {
        SubscriptionTest::with(())
            .given(vec![
                requested(),
                SubscriptionEvent::AddressMatched(matched(base())),
                SubscriptionEvent::ConfirmationSent(sent()),
            ])
            .when(SubscriptionCommand::RecordConfirmationSent(sent()))
            .then_expect_events(vec![]);
    }

    fn erase() -> SubscriptionCommand {
        SubscriptionCommand::ErasePersonalData(crate::subscription::ErasePersonalData {
            reason: Some(crate::subscription::ErasureReason::parse(" ticket 42 ").expect("valid")),
            erased_at: at(),
        })
    }

    fn erased() -> SubscriptionEvent {
        SubscriptionEvent::PersonalDataErased(PersonalDataErased {
            key_id: id().to_string(),
            reason: Some("ticket 42".into()),
            erased_at: at(),
        })
    }

    #[test]
    fn erasure_records_the_key_to_destroy_and_no_personal_data() {
        SubscriptionTest::with(())
            .given(vec![requested(), SubscriptionEvent::AddressMatched(matched(base()))])
            .when(erase())
            .then_expect_events(vec![erased()]);
    }

    #[test]
    fn erasing_twice_is_a_no_op_and_an_unknown_subscription_is_refused() {
        SubscriptionTest::with(()).given(vec![requested(), erased()]).when(erase()).then_expect_events(vec![]);
        SubscriptionTest::with(())
            .given_no_previous_events()
            .when(erase())
            .then_expect_error(SubscriptionError::NotRegistered);
    }

    #[test]
    fn erasure_reasons_are_bounded_and_printable() {
        assert_eq!(crate::subscription::ErasureReason::parse(" x ").map(|r| r.as_str().to_owned()), Ok("x".into()));
        assert!(crate::subscription::ErasureReason::parse("  ").is_err());
        assert!(crate::subscription::ErasureReason::parse(&"r".repeat(201)).is_err());
        assert!(crate::subscription::ErasureReason::parse("a\nb").is_err());
    }

    fn opt_in_requested() -> SubscriptionEvent {
        SubscriptionEvent::OptInRequested(OptInRequested {
            message_id: "<opt-in@masthead>".into(),
            sent_at: at(),
            expires_at: at(),
        })
    }

    fn withheld() -> ConfirmationWithheld {
        ConfirmationWithheld { reason: WithheldReason::RecipientLimit, limit: 3, withheld_at: at() }
    }

    #[test]
    fn an_opt_in_is_confirmed_once_by_the_subscriber() {
        let confirmed = OptInConfirmed { confirmed_at: at() };
        let resolved = vec![requested(), SubscriptionEvent::AddressMatched(matched(base()))];
        SubscriptionTest::with(())
            .given(resolved.clone())
            .when(SubscriptionCommand::ConfirmOptIn(confirmed.clone()))
            .then_expect_error(SubscriptionError::NotAwaitingOptIn);
        let awaiting = [resolved, vec![opt_in_requested()]].concat();
        SubscriptionTest::with(())
            .given(awaiting.clone())
            .when(SubscriptionCommand::ConfirmOptIn(confirmed.clone()))
            .then_expect_events(vec![SubscriptionEvent::OptInConfirmed(confirmed.clone())]);
        // A second click changes nothing; nor does a redelivered mail outcome.
        let done = [awaiting, vec![SubscriptionEvent::OptInConfirmed(confirmed.clone())]].concat();
        SubscriptionTest::with(())
            .given(done.clone())
            .when(SubscriptionCommand::ConfirmOptIn(confirmed))
            .then_expect_events(vec![]);
        SubscriptionTest::with(())
            .given(done)
            .when(SubscriptionCommand::RecordConfirmationSent(sent()))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_withheld_mail_is_recorded_once_and_nothing_is_sent_after_it() {
        let resolved = vec![requested(), SubscriptionEvent::AddressMatched(matched(base()))];
        SubscriptionTest::with(())
            .given(resolved.clone())
            .when(SubscriptionCommand::RecordConfirmationWithheld(withheld()))
            .then_expect_events(vec![SubscriptionEvent::ConfirmationWithheld(withheld())]);
        let done = [resolved, vec![SubscriptionEvent::ConfirmationWithheld(withheld())]].concat();
        for command in [
            SubscriptionCommand::RecordConfirmationWithheld(withheld()),
            SubscriptionCommand::RecordConfirmationSent(sent()),
            SubscriptionCommand::ConfirmOptIn(OptInConfirmed { confirmed_at: at() }),
        ] {
            let expect_error = matches!(command, SubscriptionCommand::ConfirmOptIn(_));
            let then = SubscriptionTest::with(()).given(done.clone()).when(command);
            if expect_error {
                then.then_expect_error(SubscriptionError::NotAwaitingOptIn);
            } else {
                then.then_expect_events(vec![]);
            }
        }
        SubscriptionTest::with(())
            .given(vec![requested()])
            .when(SubscriptionCommand::RecordConfirmationWithheld(withheld()))
            .then_expect_error(SubscriptionError::NotResolved);
    }

    #[test]
    fn a_failed_confirmation_can_be_resent() {
        let failed =
            ConfirmationFailed { reason: "550 no such user".into(), attempts: 1, permanent: true, failed_at: at() };
        SubscriptionTest::with(())
            .given(vec![
                requested(),
                SubscriptionEvent::AddressMatched(matched(base())),
                SubscriptionEvent::ConfirmationFailed(failed),
            ])
            .when(SubscriptionCommand::RecordConfirmationSent(sent()))
            .then_expect_events(vec![SubscriptionEvent::ConfirmationSent(sent())]);
    }
}
