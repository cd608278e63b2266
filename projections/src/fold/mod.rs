//! The fold: how one event changes one read-model document.
//!
//! This is the only place that knows what events mean for the read models;
//! every store persists these documents and replays the [`Effect`]s they
//! report onto other documents and the stats, so stores cannot drift apart,
//! and the API can fold a history itself when the projection lags
//! ([`subscription_view_from_history`]).
//!
//! Documents are idempotent under redelivery *and* out-of-order replay: a
//! subscription document remembers the stream sequence of every event applied
//! to it (its timeline), so an event is applied exactly once whatever the
//! order, where a plain "skip seq ≤ last_seq" guard would wrongly drop a
//! dead-lettered event replayed after later ones. Effects on base addresses
//! and stats are emitted only when the subscription document actually
//! changed, which makes them exactly-once too.

use crate::view::{
    DeliveryMove, EnteredAddress, IntakeChannel, Lines, MailOutcome, MatchOutcome, OutcomeKind, SubscriptionStatus,
    SubscriptionSummary, SubscriptionView, TimelineEntry,
};
use chrono::{DateTime, NaiveDate, Utc};
use masthead_domain::envelope::Recorded;
use masthead_domain::personal_data::SealedPersonalData;
use masthead_domain::schema::EventSchema;
use masthead_domain::subscription::{
    AddressAssigned, AddressMatched, DeliveryAddressChanged, DeliveryChangeCause, SubscriptionEvent,
    SubscriptionRequested,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How many distinct spellings an address keeps (the most recent ones).
pub const MAX_SPELLINGS: usize = 20;

mod address;
mod review;

pub use address::correction_changes;
pub(crate) use address::*;
pub(crate) use review::*;

/// Builds a subscription's view straight from its history, for reads that
/// must see a write the projection has not applied yet. The base address
/// `ref` of a newly assigned address is absent here (it lives on the address).
/// `None` until the history holds a `SubscriptionRequested`.
pub fn subscription_view_from_history(events: &[Recorded<SubscriptionEvent>]) -> Option<SubscriptionView> {
    let first = events.first()?;
    let id = match &first.event {
        SubscriptionEvent::SubscriptionRequested(e) => e.subscription_id,
        _ => first.envelope.aggregate_id.parse().ok()?,
    };
    let mut doc = SubscriptionDoc::new(id);
    for r in events {
        doc.apply(r.stream_sequence, r.envelope.occurred_at, &r.event);
    }
    doc.view()
}

/// A consequence of a subscription event for other documents or the stats.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// A subscription was requested on this day.
    Registered {
        day: NaiveDate,
    },
    /// The subscription now delivers to this base address.
    Resolved {
        base_address_id: Uuid,
        kind: OutcomeKind,
        score: Option<f64>,
    },
    /// The subscriber's spelling matched this base address (at `seq`).
    Spelling {
        base_address_id: Uuid,
        street: String,
        seq: u64,
    },
    MailSent,
    MailFailed,
    MailWithheld,
    /// The subscription moved from one base address to another (at `seq`).
    Moved {
        from: Uuid,
        to: Uuid,
        seq: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Requested {
    // View types rather than event types: they deserialise without
    // re-recognising the country, which matters when rebuilding.
    pub entered: EnteredAddress,
    pub channel: IntakeChannel,
    pub requested_at: DateTime<Utc>,
    /// The sealed name and email; `None` once the personal data was erased,
    /// so the read models hold nothing of the person any more.
    pub subscriber: Option<SealedPersonalData>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Resolution {
    pub kind: OutcomeKind,
    pub base_address_id: Uuid,
    pub base_address_ref: Option<String>,
    pub delivery: Lines,
    pub score: Option<f64>,
    pub decided_at: DateTime<Utc>,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Sent {
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
}

/// Double opt-in: the mail with the signed link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OptIn {
    pub message_id: String,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Withheld {
    pub reason: String,
    pub limit: u32,
    pub withheld_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Failure {
    pub reason: String,
    pub attempts: u32,
    pub permanent: bool,
    pub failed_at: DateTime<Utc>,
    pub seq: u64,
}

/// The stored subscription. It may be partial — an `AddressMatched` replayed
/// before its `SubscriptionRequested` — in which case it is kept (so nothing
/// is lost) but not visible to queries until the request arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SubscriptionDoc {
    pub id: Uuid,
    pub requested: Option<Requested>,
    pub resolution: Option<Resolution>,
    pub sent: Option<Sent>,
    pub failure: Option<Failure>,
    /// Sorted by stream sequence; doubles as the set of applied sequences.
    pub timeline: Vec<Stamp>,
    pub last_seq: u64,
    /// When the subscriber's personal data was erased (`PersonalDataErased`).
    #[serde(default)]
    pub erased_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub opt_in: Option<OptIn>,
    #[serde(default)]
    pub opted_in_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub withheld: Option<Withheld>,
    /// Sorted by stream sequence: the last one delivers.
    #[serde(default)]
    pub moves: Vec<Move>,
    #[serde(default)]
    pub corrections_sent: u64,
}

/// A move of the delivery (`DeliveryAddressChanged`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Move {
    pub from: Uuid,
    pub to: Uuid,
    /// `corrected` or `merged`.
    pub cause: String,
    pub lines_changed: bool,
    pub changed_at: DateTime<Utc>,
    pub seq: u64,
    pub delivery: Lines,
    /// The `ref` of `to` as the projection knew it when the move applied.
    pub base_address_ref: Option<String>,
}

/// A timeline entry as stored: (event kind, occurred at µs, stream
/// sequence) — a tenth of the size of [`TimelineEntry`] in a document that
/// is rewritten with every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp(pub u8, pub i64, pub u64);

// Stored codes: append new kinds, never reorder.
const KINDS: [&str; 11] = [
    SubscriptionEvent::REQUESTED,
    SubscriptionEvent::MATCHED,
    SubscriptionEvent::ASSIGNED,
    SubscriptionEvent::CONFIRMATION_SENT,
    SubscriptionEvent::CONFIRMATION_FAILED,
    SubscriptionEvent::PERSONAL_DATA_ERASED,
    SubscriptionEvent::OPT_IN_REQUESTED,
    SubscriptionEvent::OPT_IN_CONFIRMED,
    SubscriptionEvent::CONFIRMATION_WITHHELD,
    SubscriptionEvent::DELIVERY_CHANGED,
    SubscriptionEvent::CORRECTION_SENT,
];

fn kind_code(e: &SubscriptionEvent) -> u8 {
    KINDS.iter().position(|k| *k == e.event_type()).map_or(u8::MAX, |i| i as u8)
}

impl Stamp {
    fn entry(&self) -> TimelineEntry {
        TimelineEntry {
            event_type: KINDS.get(usize::from(self.0)).copied().unwrap_or("unknown").to_owned(),
            occurred_at: DateTime::from_timestamp_micros(self.1).unwrap_or_default(),
            stream_sequence: self.2,
        }
    }
}

/// What a subscription list index needs to know about a visible subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscriptionKeys {
    pub created_us: i64,
    pub status: SubscriptionStatus,
    pub country: String,
}

impl SubscriptionDoc {
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            requested: None,
            resolution: None,
            sent: None,
            failure: None,
            timeline: Vec::new(),
            last_seq: 0,
            erased_at: None,
            opt_in: None,
            opted_in_at: None,
            withheld: None,
            moves: Vec::new(),
            corrections_sent: 0,
        }
    }

    /// Applies one event at stream sequence `seq`. `None` if it was applied
    /// before (nothing changed); otherwise the effects to carry out elsewhere.
    pub fn apply(&mut self, seq: u64, occurred_at: DateTime<Utc>, event: &SubscriptionEvent) -> Option<Vec<Effect>> {
        let at = match self.timeline.binary_search_by_key(&seq, |t| t.2) {
            Ok(_) => return None,
            Err(at) => at,
        };
        self.timeline.insert(at, Stamp(kind_code(event), occurred_at.timestamp_micros(), seq));
        self.last_seq = self.last_seq.max(seq);
        let mut effects = Vec::new();
        match event {
            SubscriptionEvent::SubscriptionRequested(e) => self.on_requested(e, &mut effects),
            SubscriptionEvent::AddressMatched(e) => self.on_matched(e, seq, &mut effects),
            SubscriptionEvent::AddressAssigned(e) => self.on_assigned(e, seq, &mut effects),
            SubscriptionEvent::ConfirmationSent(e) => {
                if self.sent.is_none() {
                    self.sent = Some(Sent { message_id: e.message_id.clone(), sent_at: e.sent_at });
                    effects.push(Effect::MailSent);
                }
            }
            SubscriptionEvent::ConfirmationFailed(e) => {
                // Keep the latest failure by stream order, whatever the
                // arrival order; every failure counts in the stats.
                if self.failure.as_ref().is_none_or(|f| f.seq < seq) {
                    self.failure = Some(Failure {
                        reason: e.reason.clone(),
                        attempts: e.attempts,
                        permanent: e.permanent,
                        failed_at: e.failed_at,
                        seq,
                    });
                }
                effects.push(Effect::MailFailed);
            }
            // Whatever the arrival order: the sealed blob goes now, and a
            // request applied later never brings it back.
            SubscriptionEvent::PersonalDataErased(e) => {
                self.erased_at = Some(self.erased_at.map_or(e.erased_at, |t| t.min(e.erased_at)));
                if let Some(r) = &mut self.requested {
                    r.subscriber = None;
                }
            }
            SubscriptionEvent::OptInRequested(e) => {
                if self.opt_in.is_none() {
                    self.opt_in =
                        Some(OptIn { message_id: e.message_id.clone(), sent_at: e.sent_at, expires_at: e.expires_at });
                    effects.push(Effect::MailSent);
                }
            }
            SubscriptionEvent::OptInConfirmed(e) => {
                self.opted_in_at.get_or_insert(e.confirmed_at);
            }
            SubscriptionEvent::ConfirmationWithheld(e) => {
                if self.withheld.is_none() {
                    self.withheld = Some(Withheld {
                        reason: e.reason.as_str().to_owned(),
                        limit: e.limit,
                        withheld_at: e.withheld_at,
                    });
                    effects.push(Effect::MailWithheld);
                }
            }
            SubscriptionEvent::DeliveryAddressChanged(e) => self.on_moved(e, seq, &mut effects),
            SubscriptionEvent::CorrectionSent(_) => self.corrections_sent += 1,
        }
        Some(effects)
    }

    fn on_requested(&mut self, e: &SubscriptionRequested, effects: &mut Vec<Effect>) {
        // Requested twice under different sequences cannot come from the
        // aggregate; keep the first so the view stays stable.
        if self.requested.is_some() {
            return;
        }
        self.requested = Some(Requested {
            entered: EnteredAddress::new(&e.address, &e.country_as_typed),
            channel: IntakeChannel::from(e.channel),
            requested_at: e.requested_at,
            subscriber: self.erased_at.is_none().then(|| e.subscriber.clone()),
        });
        effects.push(Effect::Registered { day: e.requested_at.date_naive() });
        // The match arrived first: its spelling could not be recorded then,
        // because the typed street was unknown.
        if let Some(r) = self.resolution.as_ref().filter(|r| r.kind == OutcomeKind::Matched) {
            effects.push(Effect::Spelling {
                base_address_id: r.base_address_id,
                street: e.address.street.clone(),
                seq: r.seq,
            });
        }
    }

    fn on_matched(&mut self, e: &AddressMatched, seq: u64, effects: &mut Vec<Effect>) {
        if self.resolution.is_some() {
            return;
        }
        self.resolution = Some(Resolution {
            kind: OutcomeKind::Matched,
            base_address_id: e.base_address_id,
            base_address_ref: e.base_address_ref.clone(),
            delivery: Lines::from(&e.delivery_address),
            score: Some(e.score),
            decided_at: e.matched_at,
            seq,
        });
        effects.push(Effect::Resolved {
            base_address_id: e.base_address_id,
            kind: OutcomeKind::Matched,
            score: Some(e.score),
        });
        if let Some(req) = &self.requested {
            effects.push(Effect::Spelling {
                base_address_id: e.base_address_id,
                street: req.entered.street.clone(),
                seq,
            });
        }
    }

    /// A move: kept in stream order, the latest delivers.
    fn on_moved(&mut self, e: &DeliveryAddressChanged, seq: u64, effects: &mut Vec<Effect>) {
        let ref_now = self.resolution.as_ref().filter(|r| r.base_address_id == e.base_address_id);
        let m = Move {
            from: e.from_base_address_id,
            to: e.base_address_id,
            cause: match e.cause {
                DeliveryChangeCause::Corrected => "corrected",
                DeliveryChangeCause::Merged => "merged",
            }
            .to_owned(),
            lines_changed: e.lines_changed(),
            changed_at: e.changed_at,
            seq,
            delivery: Lines::from(&e.delivery_address),
            base_address_ref: ref_now.and_then(|r| r.base_address_ref.clone()),
        };
        let at = self.moves.partition_point(|x| x.seq < seq);
        self.moves.insert(at, m);
        effects.push(Effect::Moved { from: e.from_base_address_id, to: e.base_address_id, seq });
    }

    fn on_assigned(&mut self, e: &AddressAssigned, seq: u64, effects: &mut Vec<Effect>) {
        if self.resolution.is_some() {
            return;
        }
        self.resolution = Some(Resolution {
            kind: OutcomeKind::New,
            base_address_id: e.base_address_id,
            base_address_ref: None,
            delivery: Lines::from(&e.delivery_address),
            score: e.best_rejected_score,
            decided_at: e.assigned_at,
            seq,
        });
        effects.push(Effect::Resolved {
            base_address_id: e.base_address_id,
            kind: OutcomeKind::New,
            score: e.best_rejected_score,
        });
    }

    /// Sets the `ref` of the address a move (at `seq`) went to, as the
    /// projection knows it. True if it changed.
    pub fn backfill_move_ref(&mut self, seq: u64, reference: Option<&str>) -> bool {
        match self.moves.iter_mut().find(|m| m.seq == seq) {
            Some(m) if m.base_address_ref.as_deref() != reference && reference.is_some() => {
                m.base_address_ref = reference.map(str::to_owned);
                true
            }
            _ => false,
        }
    }

    /// Sets the base address `ref` learnt from the address itself (a newly
    /// assigned address, or a match event without one). True if it changed.
    pub fn backfill_ref(&mut self, base_address_id: Uuid, reference: Option<&str>) -> bool {
        match (&mut self.resolution, reference) {
            (Some(r), Some(reference)) if r.base_address_id == base_address_id && r.base_address_ref.is_none() => {
                r.base_address_ref = Some(reference.to_owned());
                true
            }
            _ => false,
        }
    }

    pub fn status(&self) -> SubscriptionStatus {
        if self.sent.is_some() || self.opted_in_at.is_some() {
            SubscriptionStatus::Confirmed
        } else if self.opt_in.is_some() {
            SubscriptionStatus::AwaitingOptIn
        } else if self.failure.is_some() {
            SubscriptionStatus::Failed
        } else if self.withheld.is_some() {
            SubscriptionStatus::Withheld
        } else if self.resolution.is_some() {
            SubscriptionStatus::Matched
        } else {
            SubscriptionStatus::Pending
        }
    }

    /// Index keys, if the subscription is visible (its request is known).
    pub fn keys(&self) -> Option<SubscriptionKeys> {
        let req = self.requested.as_ref()?;
        Some(SubscriptionKeys {
            created_us: req.requested_at.timestamp_micros(),
            status: self.status(),
            country: req.entered.country.clone(),
        })
    }

    pub fn summary(&self) -> Option<SubscriptionSummary> {
        let req = self.requested.as_ref()?;
        let mail = self.mail();
        let r = self.resolution.as_ref();
        let current = self.moves.last();
        Some(SubscriptionSummary {
            id: self.id,
            status: self.status(),
            created_at: req.requested_at,
            country: req.entered.country.clone(),
            channel: req.channel,
            entered: req.entered.clone(),
            // The latest move delivers, once there is one.
            delivery: current.map(|m| m.delivery.clone()).or_else(|| r.map(|r| r.delivery.clone())),
            base_address_id: current.map(|m| m.to).or_else(|| r.map(|r| r.base_address_id)),
            base_address_ref: match current {
                Some(m) => m.base_address_ref.clone(),
                None => r.and_then(|r| r.base_address_ref.clone()),
            },
            // The address's own documents know it; a store fills it in.
            base_address_status: None,
            outcome: r.map(|r| MatchOutcome { kind: r.kind, score: r.score, decided_at: r.decided_at }),
            mail,
            last_seq: self.last_seq,
        })
    }

    /// The mail outcome: a success (sent, or opt-in requested) wins over
    /// failures, and a failure over a withheld mail.
    fn mail(&self) -> Option<MailOutcome> {
        if let Some(s) = &self.sent {
            return Some(MailOutcome::Sent { message_id: s.message_id.clone(), sent_at: s.sent_at });
        }
        if let Some(o) = &self.opt_in {
            return Some(MailOutcome::OptInRequested {
                message_id: o.message_id.clone(),
                sent_at: o.sent_at,
                expires_at: o.expires_at,
                confirmed_at: self.opted_in_at,
            });
        }
        if let Some(f) = &self.failure {
            return Some(MailOutcome::Failed {
                reason: f.reason.clone(),
                attempts: f.attempts,
                permanent: f.permanent,
                failed_at: f.failed_at,
            });
        }
        self.withheld.as_ref().map(|w| MailOutcome::Withheld {
            reason: w.reason.clone(),
            limit: w.limit,
            withheld_at: w.withheld_at,
        })
    }

    pub fn view(&self) -> Option<SubscriptionView> {
        let summary = self.summary()?;
        let subscriber = self.requested.as_ref()?.subscriber.clone();
        let timeline = self.timeline.iter().map(Stamp::entry).collect();
        let moves = self
            .moves
            .iter()
            .map(|m| DeliveryMove {
                from: m.from,
                to: m.to,
                cause: m.cause.clone(),
                lines_changed: m.lines_changed,
                changed_at: m.changed_at,
                stream_sequence: m.seq,
            })
            .collect();
        Some(SubscriptionView {
            summary,
            timeline,
            moves,
            corrections_sent: self.corrections_sent,
            subscriber,
            personal_data_erased_at: self.erased_at,
        })
    }
}

/// Which of the ten histogram buckets a 0–100 score falls in.
pub(crate) fn score_bucket(score: f64) -> usize {
    if score.is_nan() {
        return 0;
    }
    ((score / 10.0).floor().clamp(0.0, 9.0)) as usize
}
