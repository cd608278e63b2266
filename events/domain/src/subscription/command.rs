//! Commands on the subscription aggregate.

use super::event::{
    AddressAssigned, AddressMatched, Channel, ConfirmationFailed, ConfirmationSent, ConfirmationWithheld,
    OptInConfirmed, OptInRequested,
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

#[derive(Debug, Clone, PartialEq)]
pub enum SubscriptionCommand {
    Register(RegisterSubscription),
    RecordMatch(AddressMatched),
    AssignNewAddress(AddressAssigned),
    RecordConfirmationSent(ConfirmationSent),
    RecordConfirmationFailed(ConfirmationFailed),
    /// Double opt-in: the mail with the signed link went out.
    RecordOptInRequested(OptInRequested),
    /// Double opt-in: the subscriber followed the signed link.
    ConfirmOptIn(OptInConfirmed),
    /// The recipient's daily limit was reached: no mail.
    RecordConfirmationWithheld(ConfirmationWithheld),
}
