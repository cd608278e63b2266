//! Masthead's domain: what is written to the event stream and the rules
//! that decide it. No IO happens here.
//!
//! This crate owns the events of each aggregate with their versioned JSON
//! payloads and upcasters, the envelope that travels beside each payload,
//! the aggregates (on cqrs-es's `Aggregate`, tested given/when/then) with
//! their commands and refusals, and the value types that cannot hold an
//! invalid value: `Country`, `SubscriberName`, `SubscriberEmail`, the sealed
//! personal data, and the keyed signatures of opt-in links and recipients
//! (`signing`). Where the events are stored and how consumers read them
//! is `masthead-jetstream`'s business.

pub mod address;
pub mod base_address;
pub mod country;
pub mod envelope;
pub mod personal_data;
pub mod schema;
pub mod signing;
pub mod subscription;

pub use address::*;
pub use country::{Country, CountryError};
