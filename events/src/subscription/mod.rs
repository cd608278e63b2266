//! The subscription aggregate: its request rules, commands, events and state.

pub mod aggregate;
pub mod command;
pub mod event;
pub mod request;

pub use aggregate::{Status, Subscription, SubscriptionError};
pub use command::{RegisterSubscription, SubscriptionCommand};
pub use event::*;
pub use request::{FieldError, SubscriptionForm, ValidSubscription};
