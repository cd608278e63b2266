//! Address matching for Masthead. This crate owns the decision "is this
//! subscription address an existing base address, or a new one?".
//!
//! The engine has no IO: it normalises free-text addresses into a
//! canonical form whose key identifies exact duplicates, keeps a candidate
//! index over the base addresses so a match never scans the list, and
//! scores candidates field by field: Fellegi–Sunter weights per field and
//! agreement level give a calibrated match probability, and hard vetoes
//! (house number, street type, sibling street, country, locality) keep
//! different addresses apart whatever the weights say. Between "certainly
//! the same" and "certainly new" a decision also asks for review. The
//! replaced system's rule is kept as a baseline for benchmarks.
//!
//! The [`matcher`] is the durable consumer that drives the engine: its
//! address book (the index built from the stream and kept current), the
//! in-memory planning of a batch of decisions, and the lease that keeps one
//! matcher deciding at a time.

pub mod baseline;
pub mod config;
pub mod index;
pub mod matcher;
pub mod normalize;
pub mod score;
pub mod search;

pub use baseline::BaselineIndex;
pub use config::{ConfigError, MatchConfig};
pub use index::{Decision, DuplicatePair, MatchIndex, ReviewReason, ScanReport, Verdict};
pub use normalize::{normalize, AddressInput, Canonical, NORMALIZER_VERSION};
pub use score::{compare, Agreement, Candidate, Explanation, Veto};
pub use search::rank_streets;
