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

/// Implements cqrs-es's `Aggregate` for a type whose decisions are a pure
/// `decide(&self, command) -> Result<Vec<Event>, Error>`, so every
/// aggregate hands its events to the sink the same way.
macro_rules! aggregate_from_decide {
    ($ty:ty, $name:literal, $command:ty, $event:ty, $error:ty, $apply:expr) => {
        impl cqrs_es::Aggregate for $ty {
            const TYPE: &'static str = $name;
            type Command = $command;
            type Event = $event;
            type Error = $error;
            type Services = ();

            async fn handle(
                &mut self,
                command: Self::Command,
                _services: &Self::Services,
                sink: &cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), Self::Error> {
                for event in self.decide(command)? {
                    sink.write(event, self).await;
                }
                Ok(())
            }

            fn apply(&mut self, event: Self::Event) {
                let apply: fn(&mut $ty, $event) = $apply;
                apply(self, event);
            }
        }
    };
}

pub mod address;
pub mod base_address;
pub mod country;
pub mod envelope;
pub mod personal_data;
pub mod review;
pub mod schema;
pub mod signing;
pub mod subscription;

pub use address::*;
pub use country::{Country, CountryError};
