//! The correction mail: when the address team corrects or merges a base
//! address, each subscriber delivered there is told the new delivery
//! address once per change (`DeliveryAddressChanged`), in the confirmation
//! mail's languages. Exactly once across redeliveries and crashes: the
//! decision reads the subscription's history, which records `CorrectionSent`
//! per change, and the Message-ID is fixed per change, so a send repeated
//! before its record landed is the same mail to the receiving side.

use crate::consumer::MailerHandler;
use crate::message::MailKind;
use crate::retry::Attempt;
use crate::SendOutcome;
use masthead_domain::envelope::CommandMeta;
use masthead_domain::personal_data::SealedPersonalData;
use masthead_domain::subscription::{CorrectionSent, SubscriptionCommand, SubscriptionEvent};
use masthead_domain::AddressLines;
use masthead_jetstream::consumer::{Delivery, Outcome};
use masthead_jetstream::key_vault::VaultError;
use uuid::Uuid;

/// What to do about the change caused by `cause_seq`.
#[derive(Debug, Clone, PartialEq)]
pub enum CorrectionDecision {
    Send {
        subscription_id: Uuid,
        delivery_address: AddressLines,
        subscriber: SealedPersonalData,
    },
    /// Sent already, the lines did not change, the subscriber was erased,
    /// or the history has no such change: nothing to send, ack.
    Skip(&'static str),
}

/// Decides from a subscription's full history.
pub fn decide_correction(history: &[SubscriptionEvent], cause_seq: u64) -> CorrectionDecision {
    let mut request = None;
    let mut change = None;
    for event in history {
        match event {
            SubscriptionEvent::SubscriptionRequested(e) => request = Some((e.subscription_id, &e.subscriber)),
            SubscriptionEvent::PersonalDataErased(_) => return CorrectionDecision::Skip("erased"),
            SubscriptionEvent::CorrectionSent(e) if e.cause_seq == cause_seq => {
                return CorrectionDecision::Skip("sent already")
            }
            SubscriptionEvent::DeliveryAddressChanged(e) if e.cause_seq == cause_seq => change = Some(e),
            _ => {}
        }
    }
    let (Some((subscription_id, subscriber)), Some(change)) = (request, change) else {
        return CorrectionDecision::Skip("no such change");
    };
    if !change.lines_changed() {
        return CorrectionDecision::Skip("the delivery lines did not change");
    }
    CorrectionDecision::Send {
        subscription_id,
        delivery_address: change.delivery_address.clone(),
        subscriber: subscriber.clone(),
    }
}

impl MailerHandler {
    /// Sends the correction mail for the change caused by `cause_seq`.
    pub(crate) async fn handle_correction(&self, d: &Delivery, cause_seq: u64) -> Outcome {
        let recorded = &d.event;
        let id = recorded.envelope.aggregate_id.clone();
        let (last_sequence, known) = match self.history(&id).await {
            Ok(h) => h,
            Err(retry) => return retry,
        };
        let (subscription_id, address, sealed) = match decide_correction(&known, cause_seq) {
            CorrectionDecision::Send { subscription_id, delivery_address, subscriber } => {
                (subscription_id, delivery_address, subscriber)
            }
            CorrectionDecision::Skip(_) => return Outcome::Done,
        };
        let attempt = Attempt { number: u32::try_from(d.delivered).unwrap_or(u32::MAX), is_last: d.is_last_attempt() };
        let kind = MailKind::Correction { cause_seq };
        let outcome = match self.vault.open_sealed(&sealed).await {
            Ok(who) => self.mailer.deliver_kind(subscription_id, &address, &who, attempt, kind).await,
            // Erased between the history read and now: nobody to write to.
            Err(VaultError::Erased(_)) => return Outcome::Done,
            Err(e) => return self.retry(format!("opening personal data: {e}")),
        };
        match outcome {
            SendOutcome::Sent { message_id, sent_at } => {
                let command =
                    SubscriptionCommand::RecordCorrectionSent(CorrectionSent { cause_seq, message_id, sent_at });
                let meta = CommandMeta::caused_by(&recorded.envelope, "correction-sent");
                if let Err(e) = self.record(&id, &known, last_sequence, command, &meta).await {
                    return self.retry(format!("recording the correction mail: {e}"));
                }
                metrics::counter!("masthead_mail_sent_total").increment(1);
                Outcome::Done
            }
            SendOutcome::RetryLater { delay, reason } => Outcome::Retry { delay, reason },
            // No event: a failed correction mail changes nothing about the
            // subscription; the dead letter lets an operator resend it.
            SendOutcome::Failed { reason, .. } => {
                metrics::counter!("masthead_mail_failed_total", "reason" => "correction").increment(1);
                Outcome::DeadLetter { reason }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use masthead_domain::subscription::{DeliveryAddressChanged, DeliveryChangeCause, PersonalDataErased};

    fn lines(street: &str) -> AddressLines {
        AddressLines { street: street.into(), postal_code: None, city: None, country: None }
    }
    fn requested() -> SubscriptionEvent {
        let json = serde_json::json!({
            "subscription_id": "6f1c2a52-4c1e-4a53-9d0b-6f0f7e0f1a01",
            "subscriber": {"alg": "xchacha20poly1305", "key_id": "k", "nonce": "n", "ciphertext": "c"},
            "address": {"street": "Kerkstraat 12", "postal_code": "1011 AB", "city": "Amsterdam", "country": "NL"},
            "country_as_typed": "NL",
            "channel": "api",
            "requested_at": "2026-12-01T10:00:00Z"
        });
        SubscriptionEvent::SubscriptionRequested(serde_json::from_value(json).expect("requested"))
    }
    fn changed(cause_seq: u64, before: &str, after: &str) -> SubscriptionEvent {
        SubscriptionEvent::DeliveryAddressChanged(DeliveryAddressChanged {
            from_base_address_id: Uuid::from_u128(1),
            base_address_id: Uuid::from_u128(2),
            before: lines(before),
            delivery_address: lines(after),
            cause: DeliveryChangeCause::Merged,
            cause_seq,
            changed_at: Utc::now(),
        })
    }

    #[test]
    fn a_change_of_lines_is_mailed_once() {
        let mut history = vec![requested(), changed(7, "Kerkstraat 12", "Kerkstraat 12a")];
        match decide_correction(&history, 7) {
            CorrectionDecision::Send { delivery_address, .. } => assert_eq!(delivery_address, lines("Kerkstraat 12a")),
            other => panic!("{other:?}"),
        }
        history.push(SubscriptionEvent::CorrectionSent(CorrectionSent {
            cause_seq: 7,
            message_id: "<m>".into(),
            sent_at: Utc::now(),
        }));
        assert_eq!(decide_correction(&history, 7), CorrectionDecision::Skip("sent already"));
        // A second change is a mail of its own.
        history.push(changed(9, "Kerkstraat 12a", "Kerkstraat 14"));
        assert!(matches!(decide_correction(&history, 9), CorrectionDecision::Send { .. }));
    }

    #[test]
    fn nothing_is_mailed_for_unchanged_lines_erased_subscribers_or_unknown_changes() {
        let same = vec![requested(), changed(7, "Kerkstraat 12", "Kerkstraat 12")];
        assert!(matches!(decide_correction(&same, 7), CorrectionDecision::Skip(_)));
        let erased = vec![
            requested(),
            changed(7, "Kerkstraat 12", "Kerkstraat 14"),
            SubscriptionEvent::PersonalDataErased(PersonalDataErased {
                key_id: "k".into(),
                reason: None,
                erased_at: Utc::now(),
            }),
        ];
        assert_eq!(decide_correction(&erased, 7), CorrectionDecision::Skip("erased"));
        assert_eq!(decide_correction(&[requested()], 7), CorrectionDecision::Skip("no such change"));
    }
}
