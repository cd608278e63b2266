//! What the confirmation consumer does with a subscription, as pure
//! functions of its history and of the send result.
//!
//! JetStream delivers at least once, so the consumer will see the same
//! trigger again after a crash or a nak. Reading the decision off the
//! subscription's *history* rather than off the triggering message is what
//! makes a redelivery after success send nothing.

use crate::error::SendError;
use crate::retry::{Attempt, RetryPolicy};
use chrono::{DateTime, Utc};
use masthead_domain::personal_data::SealedPersonalData;
use masthead_domain::subscription::{ConfirmationFailed, ConfirmationSent, SubscriptionEvent};
use masthead_domain::AddressLines;
use std::time::Duration;
use uuid::Uuid;

/// What to do for a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum MailDecision {
    /// Send nothing; ack the message.
    Skip(SkipReason),
    /// Open the personal data, then compose and send this confirmation.
    Send(Confirmation),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A confirmation went out before: this is a redelivery.
    AlreadyConfirmed { message_id: String },
    /// A confirmation was given up on before (permanent refusal or retries
    /// ran out). Resending is an operator's decision, not a redelivery's.
    AlreadyFailed,
    /// No address was matched or assigned yet, so there is nothing to
    /// confirm. The trigger is the match itself, so this means the history
    /// was read from a lagging replica or the wrong subscription; log it.
    NotResolved,
    /// The history is empty or lacks the request.
    NotRegistered,
    /// The subscriber's personal data was erased: there is no one to write
    /// to, and there never will be. Final, like a confirmation.
    Erased,
    /// A double opt-in mail went out, or the mail was withheld by the
    /// per-recipient limit: either way this subscription's one mail
    /// decision is made. Ack.
    AlreadyDecided,
}

/// Everything needed to compose the confirmation, personal data still
/// sealed: the consumer opens it only when there is something to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirmation {
    pub subscription_id: Uuid,
    pub delivery_address: AddressLines,
    pub subscriber: SealedPersonalData,
}

/// Decides from a subscription's full history, oldest event first.
pub fn decide(history: &[SubscriptionEvent]) -> MailDecision {
    let mut request = None;
    let mut delivery_address = None;
    let mut confirmed = None;
    let mut failed = false;
    let mut erased = false;
    let mut decided = false;
    for event in history {
        match event {
            SubscriptionEvent::SubscriptionRequested(e) => request = Some((e.subscription_id, &e.subscriber)),
            SubscriptionEvent::AddressMatched(e) => delivery_address = Some(&e.delivery_address),
            SubscriptionEvent::AddressAssigned(e) => delivery_address = Some(&e.delivery_address),
            // A confirmation not yet sent shows where the magazine goes now.
            SubscriptionEvent::DeliveryAddressChanged(e) => delivery_address = Some(&e.delivery_address),
            // The correction mail's outcome; the confirmation is another mail.
            SubscriptionEvent::CorrectionSent(_) => {}
            SubscriptionEvent::ConfirmationSent(e) => confirmed = Some(e.message_id.clone()),
            // The aggregate accepts a later success after a failure (an
            // operator's resend), so only the latest outcome counts.
            SubscriptionEvent::ConfirmationFailed(_) => failed = true,
            SubscriptionEvent::PersonalDataErased(_) => erased = true,
            SubscriptionEvent::OptInRequested(_)
            | SubscriptionEvent::OptInConfirmed(_)
            | SubscriptionEvent::ConfirmationWithheld(_) => decided = true,
        }
        if matches!(event, SubscriptionEvent::ConfirmationSent(_)) {
            failed = false;
        }
    }
    if erased {
        return MailDecision::Skip(SkipReason::Erased);
    }
    if let Some(message_id) = confirmed {
        return MailDecision::Skip(SkipReason::AlreadyConfirmed { message_id });
    }
    if decided {
        return MailDecision::Skip(SkipReason::AlreadyDecided);
    }
    if failed {
        return MailDecision::Skip(SkipReason::AlreadyFailed);
    }
    let Some((subscription_id, subscriber)) = request else {
        return MailDecision::Skip(SkipReason::NotRegistered);
    };
    let Some(delivery_address) = delivery_address else {
        return MailDecision::Skip(SkipReason::NotResolved);
    };
    MailDecision::Send(Confirmation {
        subscription_id,
        delivery_address: delivery_address.clone(),
        subscriber: subscriber.clone(),
    })
}

/// What came of one delivery attempt, and what the consumer does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Append `ConfirmationSent` ([`SendOutcome::to_event`]), then ack.
    Sent { message_id: String, sent_at: DateTime<Utc> },
    /// Nak with this delay; nothing is appended.
    RetryLater { delay: Duration, reason: String },
    /// Append `ConfirmationFailed` ([`SendOutcome::to_event`]), write a
    /// dead-letter record, then ack (term).
    Failed { reason: String, attempts: u32, permanent: bool, failed_at: DateTime<Utc> },
}

impl SendOutcome {
    /// The pure classification of a send result.
    pub fn classify(
        result: Result<(), SendError>,
        message_id: &str,
        attempt: Attempt,
        policy: &RetryPolicy,
        now: DateTime<Utc>,
    ) -> Self {
        match result {
            Ok(()) => SendOutcome::Sent { message_id: message_id.to_owned(), sent_at: now },
            Err(SendError::Transient { reason }) if !attempt.is_last => {
                SendOutcome::RetryLater { delay: policy.delay(attempt.number), reason }
            }
            Err(SendError::Transient { reason }) => {
                SendOutcome::Failed { reason, attempts: attempt.number, permanent: false, failed_at: now }
            }
            Err(SendError::Permanent { reason }) => {
                SendOutcome::Failed { reason, attempts: attempt.number, permanent: true, failed_at: now }
            }
        }
    }

    /// A failure that no retry can fix (e.g. the recipient address does
    /// not parse).
    pub fn permanent_failure(reason: impl Into<String>, attempt: Attempt, now: DateTime<Utc>) -> Self {
        SendOutcome::Failed { reason: reason.into(), attempts: attempt.number, permanent: true, failed_at: now }
    }

    /// The event to append, if any.
    pub fn to_event(&self) -> Option<SubscriptionEvent> {
        match self {
            SendOutcome::Sent { message_id, sent_at } => Some(SubscriptionEvent::ConfirmationSent(ConfirmationSent {
                message_id: message_id.clone(),
                sent_at: *sent_at,
            })),
            SendOutcome::RetryLater { .. } => None,
            SendOutcome::Failed { reason, attempts, permanent, failed_at } => {
                Some(SubscriptionEvent::ConfirmationFailed(ConfirmationFailed {
                    reason: reason.clone(),
                    attempts: *attempts,
                    permanent: *permanent,
                    failed_at: *failed_at,
                }))
            }
        }
    }
}
