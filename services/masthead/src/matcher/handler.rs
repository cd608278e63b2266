//! The matcher's decision for one `SubscriptionRequested`: resolve the entered
//! address to a base address, or register it as a new one, and record the
//! outcome on the subscription.
//!
//! Redelivery is harmless: the subscription aggregate ignores a second
//! decision for the same base address and refuses a different one (the first
//! stands), and a base address's id is derived from its canonical key, so
//! registering it again is a no-op.

use super::address_book::{AddressBook, BaseInfo};
use masthead_events::base_address::{
    self, AddressFlag, AddressSource, BaseAddress, BaseAddressCommand, BaseAddressRegistered,
};
use masthead_events::command_bus::{CommandBus, CommandError};
use masthead_events::consumer::{Delivery, Handler, Outcome};
use masthead_events::envelope::{AnyEvent, CommandMeta, Envelope};
use masthead_events::subscription::{
    AddressAssigned, AddressMatched, Subscription, SubscriptionCommand, SubscriptionError, SubscriptionEvent,
    SubscriptionRequested,
};
use masthead_events::{AddressLines, CanonicalAddress, FieldAgreement, MatchExplanation};
use masthead_matching::{normalize, AddressInput, Agreement, Canonical, Decision, Explanation};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct MatcherHandler {
    pub book: Arc<AddressBook>,
    pub subscriptions: CommandBus<Subscription>,
    pub addresses: CommandBus<BaseAddress>,
    /// False as soon as the lease may have been lost: decisions stop.
    pub leading: Arc<AtomicBool>,
    pub retry_delay: Duration,
}

fn agreement(a: Agreement) -> FieldAgreement {
    match a {
        Agreement::Exact => FieldAgreement::Exact,
        Agreement::Equivalent => FieldAgreement::Equivalent,
        Agreement::Similar => FieldAgreement::Similar,
        Agreement::Missing => FieldAgreement::Missing,
        Agreement::Different => FieldAgreement::Different,
    }
}

pub fn explanation(e: &Explanation) -> MatchExplanation {
    MatchExplanation {
        street_similarity: (e.street_similarity * 100.0).clamp(0.0, 100.0),
        street: agreement(e.street),
        house_number: agreement(e.house_number),
        postal_code: agreement(e.postal_code),
        city: agreement(e.city),
        country: agreement(e.country),
    }
}

pub fn canonical_address(c: &Canonical) -> CanonicalAddress {
    CanonicalAddress {
        key: c.key(),
        street: c.street.clone(),
        house_number: c.house_number.clone(),
        postal_code: c.postal_code.clone(),
        city: c.city.clone(),
        country: c.country.clone(),
    }
}

pub fn entered_canonical(req: &SubscriptionRequested) -> Canonical {
    normalize(&AddressInput {
        street: &req.address.street,
        postal_code: &req.address.postal_code,
        city: &req.address.city,
        country: req.address.country.code(),
    })
}

impl MatcherHandler {
    fn retry(&self, reason: impl Into<String>) -> Outcome {
        Outcome::Retry { delay: self.retry_delay, reason: reason.into() }
    }

    fn command_outcome<E: std::fmt::Debug>(&self, result: Result<E, CommandError<SubscriptionError>>) -> Outcome {
        match result {
            Ok(_) => Outcome::Done,
            // A decision was recorded before (a redelivery after a crash);
            // the first one stands.
            Err(CommandError::Rejected(SubscriptionError::AlreadyResolved(_))) => Outcome::Done,
            Err(CommandError::Rejected(e)) => Outcome::DeadLetter { reason: e.to_string() },
            Err(e) => self.retry(e.to_string()),
        }
    }

    /// Records the decision on the subscription. The delivered request is
    /// the subscription's first event at a known sequence, so the decision
    /// is appended right after it without reading the history back; if
    /// anything was appended since (a redelivery after a crash), the append
    /// conflicts and the command is re-decided on the full history.
    async fn record(
        &self,
        envelope: &Envelope,
        seq: u64,
        req: &SubscriptionRequested,
        command: SubscriptionCommand,
        purpose: &str,
    ) -> Outcome {
        let meta = CommandMeta::caused_by(envelope, purpose);
        let id = req.subscription_id.to_string();
        let result = if envelope.aggregate_version == 1 {
            let known = [SubscriptionEvent::SubscriptionRequested(req.clone())];
            self.subscriptions.execute_after(&id, &known, seq, command, &meta).await
        } else {
            self.subscriptions.execute(&id, command, &meta).await
        };
        self.command_outcome(result)
    }

    async fn register_and_assign(
        &self,
        envelope: &Envelope,
        seq: u64,
        req: &SubscriptionRequested,
        probe: &Canonical,
        best_rejected_score: Option<f64>,
    ) -> Outcome {
        let key = probe.key();
        let id = base_address::id_for_key(&key);
        let mut flags = Vec::new();
        if !probe.has_house_number() {
            flags.push(AddressFlag::MissingHouseNumber);
        }
        let lines = AddressLines::from(req.address.clone());
        let registered = BaseAddressRegistered {
            base_address_id: id,
            reference: None,
            address: lines.clone(),
            canonical: canonical_address(probe),
            source: AddressSource::Subscription { subscription_id: req.subscription_id },
            flags,
            registered_at: chrono::Utc::now(),
        };
        let meta = CommandMeta::caused_by(envelope, "register-address");
        // A new id is appended with "subject must be empty"; if the address
        // exists after all, that conflicts and the full path makes it a no-op.
        match self.addresses.execute_new(&id.to_string(), BaseAddressCommand::Register(registered.clone()), &meta).await
        {
            Ok(stored) => {
                let seq = stored.first().map_or(0, |r| r.stream_sequence);
                // Before the next message is decided, so that a variant of
                // this address arriving right behind it matches it.
                self.book.add(&registered, seq);
            }
            Err(e) => return self.retry(format!("registering base address: {e}")),
        }
        let assigned = AddressAssigned {
            base_address_id: id,
            delivery_address: lines,
            entered: canonical_address(probe),
            best_rejected_score,
            assigned_at: chrono::Utc::now(),
        };
        self.record(envelope, seq, req, SubscriptionCommand::AssignNewAddress(assigned), "assign").await
    }

    async fn handle_one(&self, d: &Delivery) -> Outcome {
        let recorded = match &d.event {
            Ok(r) => r,
            Err(e) => return Outcome::DeadLetter { reason: format!("undecodable event: {e}") },
        };
        let AnyEvent::Subscription(SubscriptionEvent::SubscriptionRequested(req)) = &recorded.event else {
            return Outcome::Done;
        };
        if !self.leading.load(Ordering::SeqCst) {
            return self.retry("not the active matcher");
        }
        let started = Instant::now();
        let probe = entered_canonical(req);
        let Some(decision) = self.book.with_index(|i| i.decide(&probe)) else {
            return self.retry("address index unavailable");
        };
        let outcome = match decision {
            Decision::Match(c) => {
                let Some(BaseInfo { reference, lines, created_for }) = self.book.info(&c.id) else {
                    return self.retry("matched base address has no details yet");
                };
                if created_for == Some(req.subscription_id) {
                    // This subscription created the address before a crash;
                    // finish that decision instead of calling it a match.
                    return self.register_and_assign(&recorded.envelope, d.stream_sequence, req, &probe, None).await;
                }
                let matched = AddressMatched {
                    base_address_id: c.id,
                    base_address_ref: reference,
                    delivery_address: lines,
                    entered: canonical_address(&probe),
                    score: c.score,
                    explanation: explanation(&c.explanation),
                    matched_at: chrono::Utc::now(),
                };
                let outcome = self
                    .record(
                        &recorded.envelope,
                        d.stream_sequence,
                        req,
                        SubscriptionCommand::RecordMatch(matched),
                        "match",
                    )
                    .await;
                crate::telemetry::metrics::record_match("matched", Some(c.score), started.elapsed());
                outcome
            }
            Decision::New { best_rejected } => {
                let outcome = self
                    .register_and_assign(
                        &recorded.envelope,
                        d.stream_sequence,
                        req,
                        &probe,
                        best_rejected.map(|c| c.score),
                    )
                    .await;
                crate::telemetry::metrics::record_match("new", None, started.elapsed());
                outcome
            }
        };
        tracing::debug!(subscription = %req.subscription_id, seq = d.stream_sequence, ?outcome, "matched");
        outcome
    }
}

#[async_trait::async_trait]
impl Handler for MatcherHandler {
    /// In order, one at a time: each decision must see the addresses the
    /// previous one registered.
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for d in batch {
            outcomes.push(self.handle_one(d).await);
        }
        let failed = outcomes.iter().filter(|o| **o != Outcome::Done).count() as u64;
        crate::telemetry::metrics::record_processed("matcher", batch.len() as u64 - failed, failed);
        outcomes
    }
}
