//! Address matching for Masthead. This crate owns the decision "is this
//! subscription address an existing base address, or a new one?": it
//! normalises free-text addresses into a canonical form whose key
//! identifies exact duplicates, keeps a candidate index over the base
//! addresses so a match never scans the list, and scores candidates field
//! by field with hard vetoes (house number, street type, country,
//! locality) so different addresses are never merged. It also carries the
//! replaced system's rule and an evaluation harness to measure both.

pub mod baseline;
pub mod config;
pub mod index;
pub mod normalize;
pub mod score;
pub mod search;

pub use baseline::BaselineIndex;
pub use config::{ConfigError, MatchConfig};
pub use index::{Decision, MatchIndex};
pub use normalize::{normalize, AddressInput, Canonical};
pub use score::{compare, Agreement, Candidate, Explanation, Veto};
pub use search::rank_streets;
