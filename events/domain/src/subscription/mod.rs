//! The subscription aggregate: its request rules, commands, events and state.

pub mod aggregate;
pub mod command;
pub mod email;
pub mod event;
pub mod request;
pub mod text;

pub use aggregate::{Status, Subscription, SubscriptionError};
pub use command::{ErasePersonalData, ErasureReason, RegisterSubscription, SubscriptionCommand};
pub use event::*;
pub use request::{FieldError, SubscriberEmail, SubscriberName, SubscriptionForm, ValidSubscription};

/// A new subscription's id: a UUIDv7, so ids grow with time. Every store
/// keys subscriptions by id (redb's B-tree, MongoDB's `_id` index); ids in
/// time order make a new subscription land beside the previous ones instead
/// of on a random page, which keeps writes and rebuilds local. Its 74 random
/// bits still make ids impossible to guess.
pub fn new_subscription_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
