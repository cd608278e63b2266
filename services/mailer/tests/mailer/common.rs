#![allow(dead_code)]

// The SMTP server and MIME reader are shared with the end-to-end suites.
#[allow(unused_imports)]
pub use masthead_test_support::{mime, smtp};

use chrono::{TimeZone, Utc};
use masthead_domain::personal_data::{PersonalData, SealedPersonalData};
use masthead_domain::subscription::*;
use masthead_domain::*;
use masthead_mailer::{Confirmation, Sender};
use uuid::Uuid;

pub fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).single().expect("valid time")
}

pub fn sender() -> Sender {
    Sender {
        from: "Masthead <no-reply@masthead.invalid>".parse().expect("mailbox"),
        contact: "address-team@masthead.invalid".to_owned(),
    }
}

pub fn person(name: &str, email: &str) -> PersonalData {
    PersonalData { name: name.to_owned(), email: email.to_owned() }
}

pub fn address(street: &str, postal_code: &str, city: &str, country: &str) -> AddressLines {
    AddressLines {
        street: street.to_owned(),
        postal_code: Some(postal_code.to_owned()),
        city: Some(city.to_owned()),
        country: Some(Country::parse(country).expect("known country")),
    }
}

pub fn utrecht() -> AddressLines {
    address("Kerkstraat 12", "3511 LX", "Utrecht", "NL")
}

pub fn confirmation(id: u128, delivery_address: AddressLines) -> Confirmation {
    Confirmation { subscription_id: Uuid::from_u128(id), delivery_address, subscriber: sealed(id) }
}

/// Never opened in these tests: the consumer opens it, and hands plaintext in.
pub fn sealed(id: u128) -> SealedPersonalData {
    SealedPersonalData {
        alg: "xchacha20poly1305".into(),
        key_id: Uuid::from_u128(id).to_string(),
        nonce: "n".into(),
        ciphertext: "c".into(),
    }
}

pub fn requested(id: u128) -> SubscriptionEvent {
    SubscriptionEvent::SubscriptionRequested(SubscriptionRequested {
        subscription_id: Uuid::from_u128(id),
        subscriber: sealed(id),
        address: PostalAddress {
            street: "Kerkstr. 12".into(),
            postal_code: "3511LX".into(),
            city: "Utrecht".into(),
            country: Country::parse("NL").expect("NL"),
        },
        country_as_typed: "Nederland".into(),
        channel: Channel::Form,
        requested_at: at(),
    })
}

fn canonical() -> CanonicalAddress {
    CanonicalAddress {
        key: "nl|3511lx|utrecht|kerkstraat|12".into(),
        street: "kerkstraat".into(),
        house_number: "12".into(),
        postal_code: "3511LX".into(),
        city: "utrecht".into(),
        country: "NL".into(),
        house_name: String::new(),
        version: 1,
    }
}

pub fn matched(delivery_address: AddressLines) -> SubscriptionEvent {
    SubscriptionEvent::AddressMatched(AddressMatched {
        base_address_id: Uuid::from_u128(42),
        base_address_ref: None,
        delivery_address,
        entered: canonical(),
        score: 97.0,
        explanation: MatchExplanation {
            street_similarity: 95.0,
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
    })
}

pub fn assigned(delivery_address: AddressLines) -> SubscriptionEvent {
    SubscriptionEvent::AddressAssigned(AddressAssigned {
        base_address_id: Uuid::from_u128(43),
        delivery_address,
        entered: canonical(),
        best_rejected_score: Some(61.0),
        assigned_at: at(),
        review: None,
    })
}

pub fn sent(message_id: &str) -> SubscriptionEvent {
    SubscriptionEvent::ConfirmationSent(ConfirmationSent { message_id: message_id.to_owned(), sent_at: at() })
}

pub fn failed(permanent: bool) -> SubscriptionEvent {
    SubscriptionEvent::ConfirmationFailed(ConfirmationFailed {
        reason: "permanent error (550)".into(),
        attempts: 1,
        permanent,
        failed_at: at(),
    })
}

pub fn erased() -> SubscriptionEvent {
    SubscriptionEvent::PersonalDataErased(masthead_domain::subscription::PersonalDataErased {
        key_id: "dkp-1.0".into(),
        reason: None,
        erased_at: at(),
    })
}

/// Plays the consumer runtime: delivers the trigger again and again, as
/// JetStream would after each nak, until the decision is to skip or an
/// outcome ends the message. Returns every outcome in order, and appends
/// the events an outcome asks for to `history`.
pub async fn drive_like_the_consumer(
    mailer: &masthead_mailer::Mailer,
    history: &mut Vec<SubscriptionEvent>,
    who: &PersonalData,
) -> Vec<masthead_mailer::SendOutcome> {
    use masthead_mailer::{decide, MailDecision, SendOutcome};
    let mut outcomes = Vec::new();
    for delivered in 1..=mailer.retry_policy().max_attempts {
        let MailDecision::Send(c) = decide(history) else { break };
        let outcome = mailer.deliver(&c, who, mailer.retry_policy().attempt(delivered)).await;
        if let Some(event) = outcome.to_event() {
            history.push(event);
        }
        let again = match &outcome {
            SendOutcome::RetryLater { delay, .. } => Some(*delay),
            _ => None,
        };
        outcomes.push(outcome);
        match again {
            Some(delay) => tokio::time::sleep(delay).await,
            None => break,
        }
    }
    outcomes
}
