//! Black-box tests of the read API (lists, search, stats, match previews,
//! OpenAPI, docs) against a real nats-server and an embedded projection
//! store fed directly with events.

#[path = "read_api/helpers.rs"]
mod helpers;

#[path = "read_api/addresses.rs"]
mod addresses;
#[path = "read_api/docs.rs"]
mod docs;
#[path = "read_api/match_preview.rs"]
mod match_preview;
#[path = "read_api/privacy.rs"]
mod privacy;
#[path = "read_api/stats.rs"]
mod stats;
#[path = "read_api/subscriptions.rs"]
mod subscriptions;
#[path = "read_api/unavailable.rs"]
mod unavailable;
