//! Generated test data, for Masthead's tests and benchmarks only; no
//! production crate depends on it.
//!
//! - [`events`]: realistic synthetic event streams (an import of base
//!   addresses, then interleaved subscriptions with their matches and mails)
//!   and builders for single recorded events.
//! - [`addresses`]: a seeded world of base addresses in several countries
//!   with labelled re-typed queries and hard negatives, and the metrics that
//!   score a matcher on them. This generator was written beside the engine,
//!   so it tells what it was built to tell; the blind sets under
//!   `tests/eval/` are the ones that judge the engine.

pub mod addresses;
pub mod events;
