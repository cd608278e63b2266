//! The read API (lists, search, stats, match previews, OpenAPI, docs) of an
//! app running the API and the projector, fed hand-made histories through
//! its stream.

mod addresses;
mod docs;
mod erasure;
mod match_preview;
mod privacy;
mod stats;
mod subscriptions;
mod unavailable;
