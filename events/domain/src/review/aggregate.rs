//! The review aggregate: an item opens once and is decided once.

use super::event::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The decision a reviewer asks for. `into` names the survivor; which
/// address is merged into it follows from the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum RequestedDecision {
    Merge { into: Uuid },
    Distinct,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecideReview {
    pub decision: RequestedDecision,
    pub actor: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReviewCommand {
    Open(ReviewOpened),
    Decide(DecideReview),
}

/// Why a review command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// No review item has this id: answer 404.
    #[error("no such review item")]
    NotOpened,
    /// The item was decided otherwise before: answer 409 and show the
    /// decision that stands.
    #[error("review item was decided already")]
    AlreadyDecided(ReviewDecision),
    /// `into` is none of the item's addresses: answer 422 naming `into`.
    #[error("{0} is not an address of this review item")]
    NotInItem(Uuid),
    /// The item has no candidate to merge with: answer 422.
    #[error("review item has no candidate to merge")]
    NoCandidate,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub opened: Option<ReviewOpened>,
    pub decided: Option<ReviewDecided>,
}

impl Review {
    pub fn decide(&self, command: ReviewCommand) -> Result<Vec<ReviewEvent>, ReviewError> {
        match command {
            // An item is queued once: the same grey zone redelivered, or the
            // same pair found by a second dedupe run, changes nothing.
            ReviewCommand::Open(e) => {
                Ok(if self.opened.is_none() { vec![ReviewEvent::ReviewOpened(e)] } else { vec![] })
            }
            ReviewCommand::Decide(c) => self.decide_item(c),
        }
    }

    fn decide_item(&self, c: DecideReview) -> Result<Vec<ReviewEvent>, ReviewError> {
        let opened = self.opened.as_ref().ok_or(ReviewError::NotOpened)?;
        let decision = match c.decision {
            RequestedDecision::Merge { into } => {
                let merged = if into == opened.address_id {
                    opened.candidates.first().map(|c| c.base_address_id).ok_or(ReviewError::NoCandidate)?
                } else if opened.candidates.iter().any(|c| c.base_address_id == into) {
                    opened.address_id
                } else {
                    return Err(ReviewError::NotInItem(into));
                };
                ReviewDecision::Merge { merged, into }
            }
            RequestedDecision::Distinct => ReviewDecision::Distinct {
                pairs: opened.candidates.iter().map(|c| super::pair(opened.address_id, c.base_address_id)).collect(),
            },
        };
        match &self.decided {
            None => {}
            Some(d) if d.decision == decision => return Ok(vec![]),
            Some(d) => return Err(ReviewError::AlreadyDecided(d.decision.clone())),
        }
        Ok(vec![ReviewEvent::ReviewDecided(ReviewDecided {
            review_id: opened.review_id,
            decision,
            actor: c.actor,
            reason: c.reason,
            opened_at: opened.opened_at,
            decided_at: c.at,
        })])
    }

    pub fn apply_event(&mut self, event: ReviewEvent) {
        match event {
            ReviewEvent::ReviewOpened(e) => self.opened = Some(e),
            ReviewEvent::ReviewDecided(e) => self.decided = Some(e),
        }
    }
}

aggregate_from_decide!(Review, "review", ReviewCommand, ReviewEvent, ReviewError, Review::apply_event);
