//! Events of the review aggregate, with their versioned payloads.
//!
//! | event | version |
//! | --- | --- |
//! | `ReviewOpened` | 1 |
//! | `ReviewDecided` | 1 |

use crate::address::{ReviewCandidate, ReviewReason};
use crate::schema::{EventSchema, PayloadSource, SchemaError, Upcaster};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Where a review item came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewKind {
    /// The matcher decided a subscription's address, but not with certainty.
    GreyZone,
    /// A dedupe scan found two base addresses that may be one.
    Duplicate,
}

impl ReviewKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GreyZone => "grey_zone",
            Self::Duplicate => "duplicate",
        }
    }
}

/// A review item was queued: `address_id` compared with each candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewOpened {
    pub review_id: Uuid,
    pub kind: ReviewKind,
    /// The matcher's reason, for a grey-zone item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ReviewReason>,
    /// The base address in question: the one the subscription was delivered
    /// to, or one side of a duplicate pair.
    pub address_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<Uuid>,
    /// Best first.
    pub candidates: Vec<ReviewCandidate>,
    pub opened_at: DateTime<Utc>,
}

/// What the team decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ReviewDecision {
    /// `merged` is one address with `into`: merge it there.
    Merge { merged: Uuid, into: Uuid },
    /// The addresses are different; each pair (in [`super::pair`] order) is
    /// never to be queued again.
    Distinct { pairs: Vec<[Uuid; 2]> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewDecided {
    pub review_id: Uuid,
    #[serde(flatten)]
    pub decision: ReviewDecision,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the item was opened, so time to decision needs no lookup.
    pub opened_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ReviewEvent {
    ReviewOpened(ReviewOpened),
    ReviewDecided(ReviewDecided),
}

impl ReviewEvent {
    pub const OPENED: &'static str = "ReviewOpened";
    pub const DECIDED: &'static str = "ReviewDecided";

    pub fn review_id(&self) -> Uuid {
        match self {
            Self::ReviewOpened(e) => e.review_id,
            Self::ReviewDecided(e) => e.review_id,
        }
    }

    fn from_source(event_type: &str, payload: impl PayloadSource) -> Result<Self, SchemaError> {
        match event_type {
            Self::OPENED => payload.parse(event_type).map(Self::ReviewOpened),
            Self::DECIDED => payload.parse(event_type).map(Self::ReviewDecided),
            other => Err(SchemaError::UnknownType(other.to_owned())),
        }
    }
}

/// Upcasters for review events, oldest first.
pub const UPCASTERS: &[Upcaster] = &[];

impl EventSchema for ReviewEvent {
    const AGGREGATE_TYPE: &'static str = "review";

    fn event_type(&self) -> &'static str {
        match self {
            Self::ReviewOpened(_) => Self::OPENED,
            Self::ReviewDecided(_) => Self::DECIDED,
        }
    }
    fn schema_version(&self) -> u32 {
        1
    }
    fn current_version(event_type: &str) -> Option<u32> {
        matches!(event_type, Self::OPENED | Self::DECIDED).then_some(1)
    }
    fn payload_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Self::ReviewOpened(e) => serde_json::to_vec(e),
            Self::ReviewDecided(e) => serde_json::to_vec(e),
        }
    }
    fn from_payload(event_type: &str, v: Value) -> Result<Self, SchemaError> {
        Self::from_source(event_type, v)
    }
    fn from_payload_json(event_type: &str, json: &[u8]) -> Result<Self, SchemaError> {
        Self::from_source(event_type, json)
    }
}

impl cqrs_es::DomainEvent for ReviewEvent {
    fn event_type(&self) -> String {
        EventSchema::event_type(self).to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
