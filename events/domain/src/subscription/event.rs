//! Events of the subscription aggregate, with their versioned payloads.
//!
//! | event | version | payload |
//! | --- | --- | --- |
//! | `SubscriptionRequested` | 2 | [`SubscriptionRequested`]; v1 had the address lines flat at the top level |
//! | `AddressMatched` | 1 | [`AddressMatched`] |
//! | `AddressAssigned` | 1 | [`AddressAssigned`] |
//! | `ConfirmationSent` | 1 | [`ConfirmationSent`] |
//! | `ConfirmationFailed` | 1 | [`ConfirmationFailed`] |
//! | `PersonalDataErased` | 1 | [`PersonalDataErased`] |
//! | `OptInRequested` | 1 | [`OptInRequested`] (double opt-in: the mail asking to confirm went out) |
//! | `OptInConfirmed` | 1 | [`OptInConfirmed`] (the subscriber followed the signed link) |
//! | `ConfirmationWithheld` | 1 | [`ConfirmationWithheld`] (no mail: the recipient's daily limit was reached) |

use crate::address::{AddressLines, CanonicalAddress, MatchExplanation, PostalAddress, ReviewRequest};
use crate::personal_data::SealedPersonalData;
use crate::schema::{EventSchema, PayloadSource, SchemaError, Upcaster};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Where a subscription came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Api,
    Form,
}

/// A subscriber asked for a subscription. Name and email are sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionRequested {
    pub subscription_id: Uuid,
    pub subscriber: SealedPersonalData,
    /// The address as typed (trimmed); the country is its ISO code.
    pub address: PostalAddress,
    /// The country exactly as typed, before it became an ISO code.
    pub country_as_typed: String,
    pub channel: Channel,
    pub requested_at: DateTime<Utc>,
}

/// The entered address resolved to an existing base address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressMatched {
    pub base_address_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_address_ref: Option<String>,
    /// The curated lines the magazine will be delivered to.
    pub delivery_address: AddressLines,
    /// The canonical form of what the subscriber entered.
    pub entered: CanonicalAddress,
    /// 0–100.
    pub score: f64,
    pub explanation: MatchExplanation,
    pub matched_at: DateTime<Utc>,
    /// Set when the match is in the grey zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewRequest>,
}

/// Nothing matched well enough: the entered address became a new base
/// address, and the subscription is delivered there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressAssigned {
    pub base_address_id: Uuid,
    pub delivery_address: AddressLines,
    pub entered: CanonicalAddress,
    /// The best candidate's score, if any candidate was considered; kept so
    /// that thresholds can be re-calibrated from history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_rejected_score: Option<f64>,
    pub assigned_at: DateTime<Utc>,
    /// Set when the new address came close to an existing one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewRequest>,
}

/// The confirmation mail was accepted by the mail server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationSent {
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
}

/// The confirmation mail could not be delivered: a permanent refusal, or
/// retries ran out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationFailed {
    pub reason: String,
    pub attempts: u32,
    pub permanent: bool,
    pub failed_at: DateTime<Utc>,
}

/// The subscriber asked to be forgotten: the data key that sealed their
/// name and email was destroyed. Carries no personal data itself; the
/// sealed record in `SubscriptionRequested` stays as it was written (the
/// stream is append-only and its bytes are hash-chained), unreadable for
/// good. Every other field stays replayable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalDataErased {
    /// The vault key that was destroyed (an id, not the key).
    pub key_id: String,
    /// Why, as the operator gave it (a ticket number, "subscriber request");
    /// checked by [`ErasureReason::parse`](super::ErasureReason::parse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub erased_at: DateTime<Utc>,
}

/// Double opt-in: the mail asking the subscriber to confirm with a signed
/// link was accepted by the mail server. The subscription is confirmed
/// only by [`OptInConfirmed`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptInRequested {
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// The subscriber followed the signed link of the opt-in mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptInConfirmed {
    pub confirmed_at: DateTime<Utc>,
}

/// Why no confirmation mail was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithheldReason {
    /// The recipient already got the day's allowance of confirmation mails
    /// (`MASTHEAD_MAIL_PER_RECIPIENT_PER_DAY`).
    RecipientLimit,
}

impl WithheldReason {
    /// As serialised: `recipient_limit`.
    pub fn as_str(self) -> &'static str {
        match self {
            WithheldReason::RecipientLimit => "recipient_limit",
        }
    }
}

/// The subscription stays registered, but no mail was sent for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationWithheld {
    pub reason: WithheldReason,
    /// The limit in force when the mail was withheld.
    pub limit: u32,
    pub withheld_at: DateTime<Utc>,
}

/// Why a resolved subscription's delivery address changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryChangeCause {
    /// The address team corrected the lines of the base address.
    Corrected,
    /// The base address was merged into another one, which now delivers.
    Merged,
}

/// The address team's change of a base address reached this subscription:
/// it is now delivered to `base_address_id` at `delivery_address`. One
/// event per subscription per cause, so the correction mail and the read
/// models follow from this subscription's own history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAddressChanged {
    /// The base address it was delivered to.
    pub from_base_address_id: Uuid,
    /// The base address it is delivered to now (the same one for a correction).
    pub base_address_id: Uuid,
    pub before: AddressLines,
    pub delivery_address: AddressLines,
    pub cause: DeliveryChangeCause,
    /// Stream sequence of the base-address event that caused the change:
    /// a change is recorded once per cause, however often it is requested.
    pub cause_seq: u64,
    pub changed_at: DateTime<Utc>,
}

impl DeliveryAddressChanged {
    /// Whether the lines the magazine goes to changed (a merge into an
    /// address with the very same lines, or a corrected `ref`, changes none).
    pub fn lines_changed(&self) -> bool {
        self.before != self.delivery_address
    }
}

/// The mail showing the corrected delivery address went out for the change
/// caused by `cause_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrectionSent {
    pub cause_seq: u64,
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SubscriptionEvent {
    SubscriptionRequested(SubscriptionRequested),
    AddressMatched(AddressMatched),
    AddressAssigned(AddressAssigned),
    ConfirmationSent(ConfirmationSent),
    ConfirmationFailed(ConfirmationFailed),
    PersonalDataErased(PersonalDataErased),
    OptInRequested(OptInRequested),
    OptInConfirmed(OptInConfirmed),
    ConfirmationWithheld(ConfirmationWithheld),
    DeliveryAddressChanged(DeliveryAddressChanged),
    CorrectionSent(CorrectionSent),
}

impl SubscriptionEvent {
    pub const REQUESTED: &'static str = "SubscriptionRequested";
    pub const MATCHED: &'static str = "AddressMatched";
    pub const ASSIGNED: &'static str = "AddressAssigned";
    pub const CONFIRMATION_SENT: &'static str = "ConfirmationSent";
    pub const CONFIRMATION_FAILED: &'static str = "ConfirmationFailed";
    pub const PERSONAL_DATA_ERASED: &'static str = "PersonalDataErased";
    pub const OPT_IN_REQUESTED: &'static str = "OptInRequested";
    pub const OPT_IN_CONFIRMED: &'static str = "OptInConfirmed";
    pub const CONFIRMATION_WITHHELD: &'static str = "ConfirmationWithheld";
    pub const DELIVERY_CHANGED: &'static str = "DeliveryAddressChanged";
    pub const CORRECTION_SENT: &'static str = "CorrectionSent";
}

impl SubscriptionEvent {
    fn from_source(event_type: &str, payload: impl PayloadSource) -> Result<Self, SchemaError> {
        Ok(match event_type {
            Self::REQUESTED => Self::SubscriptionRequested(payload.parse(event_type)?),
            Self::MATCHED => Self::AddressMatched(payload.parse(event_type)?),
            Self::ASSIGNED => Self::AddressAssigned(payload.parse(event_type)?),
            Self::CONFIRMATION_SENT => Self::ConfirmationSent(payload.parse(event_type)?),
            Self::CONFIRMATION_FAILED => Self::ConfirmationFailed(payload.parse(event_type)?),
            Self::PERSONAL_DATA_ERASED => Self::PersonalDataErased(payload.parse(event_type)?),
            Self::OPT_IN_REQUESTED => Self::OptInRequested(payload.parse(event_type)?),
            Self::OPT_IN_CONFIRMED => Self::OptInConfirmed(payload.parse(event_type)?),
            Self::CONFIRMATION_WITHHELD => Self::ConfirmationWithheld(payload.parse(event_type)?),
            Self::DELIVERY_CHANGED => Self::DeliveryAddressChanged(payload.parse(event_type)?),
            Self::CORRECTION_SENT => Self::CorrectionSent(payload.parse(event_type)?),
            other => return Err(SchemaError::UnknownType(other.to_owned())),
        })
    }
}

impl EventSchema for SubscriptionEvent {
    const AGGREGATE_TYPE: &'static str = "subscription";

    fn event_type(&self) -> &'static str {
        match self {
            Self::SubscriptionRequested(_) => Self::REQUESTED,
            Self::AddressMatched(_) => Self::MATCHED,
            Self::AddressAssigned(_) => Self::ASSIGNED,
            Self::ConfirmationSent(_) => Self::CONFIRMATION_SENT,
            Self::ConfirmationFailed(_) => Self::CONFIRMATION_FAILED,
            Self::PersonalDataErased(_) => Self::PERSONAL_DATA_ERASED,
            Self::OptInRequested(_) => Self::OPT_IN_REQUESTED,
            Self::OptInConfirmed(_) => Self::OPT_IN_CONFIRMED,
            Self::ConfirmationWithheld(_) => Self::CONFIRMATION_WITHHELD,
            Self::DeliveryAddressChanged(_) => Self::DELIVERY_CHANGED,
            Self::CorrectionSent(_) => Self::CORRECTION_SENT,
        }
    }

    fn schema_version(&self) -> u32 {
        Self::current_version(self.event_type()).unwrap_or(1)
    }

    fn current_version(event_type: &str) -> Option<u32> {
        match event_type {
            Self::REQUESTED => Some(2),
            Self::MATCHED
            | Self::ASSIGNED
            | Self::CONFIRMATION_SENT
            | Self::CONFIRMATION_FAILED
            | Self::PERSONAL_DATA_ERASED
            | Self::OPT_IN_REQUESTED
            | Self::OPT_IN_CONFIRMED
            | Self::CONFIRMATION_WITHHELD
            | Self::DELIVERY_CHANGED
            | Self::CORRECTION_SENT => Some(1),
            _ => None,
        }
    }

    fn payload_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::SubscriptionRequested(e) => serde_json::to_vec(e),
            Self::AddressMatched(e) => serde_json::to_vec(e),
            Self::AddressAssigned(e) => serde_json::to_vec(e),
            Self::ConfirmationSent(e) => serde_json::to_vec(e),
            Self::ConfirmationFailed(e) => serde_json::to_vec(e),
            Self::PersonalDataErased(e) => serde_json::to_vec(e),
            Self::OptInRequested(e) => serde_json::to_vec(e),
            Self::OptInConfirmed(e) => serde_json::to_vec(e),
            Self::ConfirmationWithheld(e) => serde_json::to_vec(e),
            Self::DeliveryAddressChanged(e) => serde_json::to_vec(e),
            Self::CorrectionSent(e) => serde_json::to_vec(e),
        }
    }

    fn from_payload(event_type: &str, v: Value) -> Result<Self, SchemaError> {
        Self::from_source(event_type, v)
    }

    fn from_payload_json(event_type: &str, json: &[u8]) -> Result<Self, SchemaError> {
        Self::from_source(event_type, json)
    }
}

/// `SubscriptionRequested` v1 kept the address lines at the top level and had
/// no channel: nest them, keep the typed country, and call the channel `api`
/// (the only one v1 had).
fn requested_v1_to_v2(mut v: Value) -> Value {
    if let Value::Object(ref mut m) = v {
        let mut address = serde_json::Map::new();
        for field in ["street", "postal_code", "city", "country"] {
            if let Some(x) = m.remove(field) {
                address.insert(field.to_owned(), x);
            }
        }
        let typed = address.get("country").cloned().unwrap_or(Value::Null);
        m.insert("address".to_owned(), Value::Object(address));
        m.entry("country_as_typed").or_insert(typed);
        m.entry("channel").or_insert(Value::String("api".to_owned()));
    }
    v
}

/// Upcasters for subscription events, oldest first.
pub const UPCASTERS: &[Upcaster] =
    &[Upcaster { event_type: SubscriptionEvent::REQUESTED, from_version: 1, upcast: requested_v1_to_v2 }];

impl cqrs_es::DomainEvent for SubscriptionEvent {
    fn event_type(&self) -> String {
        EventSchema::event_type(self).to_owned()
    }
    fn event_version(&self) -> String {
        EventSchema::schema_version(self).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::decode;

    #[test]
    fn a_v1_requested_event_reads_as_v2() {
        let v1 = serde_json::json!({
            "subscription_id": "6f1c2a52-4c1e-4a53-9d0b-6f0f7e0f1a01",
            "subscriber": {"alg": "xchacha20poly1305", "key_id": "k", "nonce": "n", "ciphertext": "c"},
            "street": "Kerkstraat 12",
            "postal_code": "3511 LX",
            "city": "Utrecht",
            "country": "Nederland",
            "requested_at": "2024-03-01T10:00:00Z"
        });
        let bytes = serde_json::to_vec(&v1).expect("json");
        let event: SubscriptionEvent = decode(UPCASTERS, SubscriptionEvent::REQUESTED, 1, &bytes).expect("decodes");
        let SubscriptionEvent::SubscriptionRequested(e) = event else { panic!("wrong variant") };
        assert_eq!(e.address.street, "Kerkstraat 12");
        assert_eq!(e.address.country.code(), "NL");
        assert_eq!(e.country_as_typed, "Nederland");
        assert_eq!(e.channel, Channel::Api);
    }

    #[test]
    fn a_current_payload_decodes_as_through_the_json_tree() {
        let v2 = serde_json::json!({
            "subscription_id": "6f1c2a52-4c1e-4a53-9d0b-6f0f7e0f1a01",
            "subscriber": {"alg": "xchacha20poly1305", "key_id": "k", "nonce": "n", "ciphertext": "c"},
            "address": {"street": "Kerkstraat 12", "postal_code": "3511 LX", "city": "Utrecht", "country": "NL"},
            "country_as_typed": "Nederland",
            "channel": "form",
            "requested_at": "2024-03-01T10:00:00.123456789Z"
        });
        let bytes = serde_json::to_vec(&v2).expect("json");
        let direct: SubscriptionEvent = decode(UPCASTERS, SubscriptionEvent::REQUESTED, 2, &bytes).expect("decodes");
        let via_tree = SubscriptionEvent::from_payload(SubscriptionEvent::REQUESTED, v2).expect("decodes");
        assert_eq!(direct, via_tree);
        let sent = br#"{"message_id": "m-1", "sent_at": "2024-03-01T10:00:01Z"}"#;
        let direct: SubscriptionEvent =
            decode(UPCASTERS, SubscriptionEvent::CONFIRMATION_SENT, 1, sent).expect("decodes");
        let tree = serde_json::from_slice(sent).expect("json");
        assert_eq!(
            direct,
            SubscriptionEvent::from_payload(SubscriptionEvent::CONFIRMATION_SENT, tree).expect("decodes")
        );
        // Poison stays poison on the direct path.
        let err =
            decode::<SubscriptionEvent>(UPCASTERS, SubscriptionEvent::CONFIRMATION_SENT, 1, b"{\"message_id\": 5}");
        assert!(matches!(err, Err(SchemaError::Payload { .. })));
    }

    #[test]
    fn a_version_from_the_future_is_refused() {
        let err = decode::<SubscriptionEvent>(UPCASTERS, SubscriptionEvent::MATCHED, 7, b"{}").unwrap_err();
        assert!(matches!(err, SchemaError::TooNew { version: 7, current: 1, .. }));
    }

    #[test]
    fn an_unknown_type_is_refused() {
        let err = decode::<SubscriptionEvent>(UPCASTERS, "SubscriptionTeleported", 1, b"{}").unwrap_err();
        assert!(matches!(err, SchemaError::UnknownType(_)));
    }
}
