//! Commands on the subscription aggregate.

use super::event::{
    AddressAssigned, AddressMatched, Channel, ConfirmationFailed, ConfirmationSent, ConfirmationWithheld,
    CorrectionSent, DeliveryAddressChanged, OptInConfirmed, OptInRequested,
};
use crate::address::PostalAddress;
use crate::personal_data::SealedPersonalData;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Register a new subscription. Personal data arrives already sealed, so the
/// aggregate (and its tests) never handle keys.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterSubscription {
    pub subscription_id: Uuid,
    pub subscriber: SealedPersonalData,
    pub address: PostalAddress,
    pub country_as_typed: String,
    pub channel: Channel,
    pub requested_at: DateTime<Utc>,
}

/// Forget the subscriber's personal data (GDPR erasure): records
/// `PersonalDataErased` naming the data key to destroy. Destroying the key
/// itself is the key vault's job, after the event is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ErasePersonalData {
    pub reason: Option<ErasureReason>,
    pub erased_at: DateTime<Utc>,
}

/// Why personal data was erased, as an operator states it: 1–200
/// characters after trimming, no control characters. It is stored in the
/// event for good, so it must name a ticket or a request, not the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureReason(String);

impl ErasureReason {
    pub const MAX_CHARS: usize = 200;

    /// The trimmed reason, or what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let v = raw.trim();
        let n = v.chars().count();
        if n == 0 {
            Err("the reason is empty; leave it out or say why".into())
        } else if n > Self::MAX_CHARS {
            Err(format!("the reason must be at most {} characters (got {n})", Self::MAX_CHARS))
        } else if v.chars().any(char::is_control) {
            Err("the reason must not contain control characters".into())
        } else {
            Ok(Self(v.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionCommand {
    Register(RegisterSubscription),
    RecordMatch(AddressMatched),
    AssignNewAddress(AddressAssigned),
    RecordConfirmationSent(ConfirmationSent),
    RecordConfirmationFailed(ConfirmationFailed),
    ErasePersonalData(ErasePersonalData),
    /// Double opt-in: the mail with the signed link went out.
    RecordOptInRequested(OptInRequested),
    /// Double opt-in: the subscriber followed the signed link.
    ConfirmOptIn(OptInConfirmed),
    /// The recipient's daily limit was reached: no mail.
    RecordConfirmationWithheld(ConfirmationWithheld),
    /// The base address it is delivered to was corrected or merged.
    ChangeDelivery(DeliveryAddressChanged),
    /// The mail showing a changed delivery address went out.
    RecordCorrectionSent(CorrectionSent),
}
