//! The review document: an item of the team's queue, opened by the
//! matcher's grey zone or a dedupe scan, decided by the team.

use crate::view::{ReviewCandidateView, ReviewState, ReviewView};
use chrono::{DateTime, Utc};
use masthead_domain::review::{ReviewDecision, ReviewEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Opened {
    pub kind: String,
    pub reason: Option<String>,
    pub address_id: Uuid,
    pub subscription_id: Option<Uuid>,
    pub candidates: Vec<ReviewCandidateView>,
    pub opened_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Decided {
    pub decision: String,
    pub merged: Option<Uuid>,
    pub into: Option<Uuid>,
    pub actor: String,
    pub opened_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
}

/// The stored review item. A decision replayed before its opening is kept,
/// hidden until the opening arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReviewDoc {
    pub id: Uuid,
    pub opened: Option<Opened>,
    pub decided: Option<Decided>,
}

/// What the review list indexes hold for a visible item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReviewKeys {
    pub created_us: i64,
    pub status: ReviewState,
}

/// A review event's consequence for the stats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ReviewEffect {
    Opened,
    /// Decided, this many seconds after it was opened.
    Decided {
        seconds: f64,
    },
}

impl ReviewDoc {
    pub fn new(id: Uuid) -> Self {
        Self { id, opened: None, decided: None }
    }

    /// Applies `event`; `None` if it was applied before (an item is opened
    /// once and decided once, so each part is set once).
    pub fn apply(&mut self, event: &ReviewEvent) -> Option<ReviewEffect> {
        match event {
            ReviewEvent::ReviewOpened(e) => {
                if self.opened.is_some() {
                    return None;
                }
                let candidates = e
                    .candidates
                    .iter()
                    .map(|c| ReviewCandidateView {
                        id: c.base_address_id,
                        score: 100.0 * c.probability,
                        probability: c.probability,
                        explanation: serde_json::to_value(&c.explanation).unwrap_or_default(),
                        veto: c.veto.clone(),
                    })
                    .collect();
                self.opened = Some(Opened {
                    kind: e.kind.as_str().to_owned(),
                    reason: e.reason.and_then(|r| serde_json::to_value(r).ok()?.as_str().map(str::to_owned)),
                    address_id: e.address_id,
                    subscription_id: e.subscription_id,
                    candidates,
                    opened_at: e.opened_at,
                });
                Some(ReviewEffect::Opened)
            }
            ReviewEvent::ReviewDecided(e) => {
                if self.decided.is_some() {
                    return None;
                }
                let (decision, merged, into) = match &e.decision {
                    ReviewDecision::Merge { merged, into } => ("merge", Some(*merged), Some(*into)),
                    ReviewDecision::Distinct { .. } => ("distinct", None, None),
                };
                self.decided = Some(Decided {
                    decision: decision.to_owned(),
                    merged,
                    into,
                    actor: e.actor.clone(),
                    opened_at: e.opened_at,
                    decided_at: e.decided_at,
                });
                let seconds = (e.decided_at - e.opened_at).num_milliseconds() as f64 / 1000.0;
                Some(ReviewEffect::Decided { seconds })
            }
        }
    }

    pub fn status(&self) -> ReviewState {
        if self.decided.is_some() {
            ReviewState::Decided
        } else {
            ReviewState::Open
        }
    }

    pub fn keys(&self) -> Option<ReviewKeys> {
        let o = self.opened.as_ref()?;
        Some(ReviewKeys { created_us: o.opened_at.timestamp_micros(), status: self.status() })
    }

    pub fn view(&self) -> Option<ReviewView> {
        let o = self.opened.clone()?;
        let d = self.decided.as_ref();
        Some(ReviewView {
            id: self.id,
            kind: o.kind,
            reason: o.reason,
            address_id: o.address_id,
            subscription_id: o.subscription_id,
            candidates: o.candidates,
            created_at: o.opened_at,
            status: self.status(),
            decision: d.map(|d| d.decision.clone()),
            merged: d.and_then(|d| d.merged),
            into: d.and_then(|d| d.into),
            decided_by: d.map(|d| d.actor.clone()),
            decided_at: d.map(|d| d.decided_at),
        })
    }
}
