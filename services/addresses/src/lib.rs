//! The base-address list's curation: what the address team does to the
//! list of curated delivery addresses, as events.
//!
//! This crate owns the bulk [`import`] of address lists (CSV or JSONL,
//! idempotent, line-numbered errors, pipelined appends). Whether a single
//! address matches an existing one is the matching engine's question
//! (`masthead-matching`); this crate asks it.

pub mod import;
