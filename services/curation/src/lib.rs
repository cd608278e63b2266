//! The address team's work on the base-address list.
//!
//! This crate owns the curation commands (register by hand, correct,
//! merge, retire) and the review decisions that end in a merge or in
//! "distinct" ([`commands`]), and their consequence for subscriptions:
//! the [`relocate`] process manager, which gives every subscription
//! delivered to a corrected or merged address its new delivery address as
//! an event on the subscription's own history; and the review queue as the
//! stream has it ([`queue`]), for tools without read models. Every change is an event, so
//! an address's history is complete and replayable.
//!
//! The review queue's tools live here too: [`dedupe`] scans the whole
//! base list for near-duplicate pairs and queues (or merges) them, and
//! [`export`] writes the decided pairs as labelled data for the matching
//! evaluation.

pub mod commands;
pub mod dedupe;
pub mod error;
pub mod export;
pub mod queue;
pub mod relocate;

pub use commands::{Actor, AddressSnapshot, Curation, NewAddress};
pub use error::{CurationError, ErrorClass};
