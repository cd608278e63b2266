//! The matcher's decision for one `SubscriptionRequested`: resolve the entered
//! address to a base address, or register it as a new one, and record the
//! outcome on the subscription.
//!
//! Redelivery is harmless: the subscription aggregate ignores a second
//! decision for the same base address and refuses a different one (the first
//! stands), and a base address's id is derived from its canonical key, so
//! registering it again is a no-op.

use super::address_book::{AddressBook, BaseInfo};
use super::convert::{canonical_address, entered_canonical, explanation, review_request};
use crate::{Candidate, Canonical, Decision, MatchConfig, MatchIndex, Verdict};
use masthead_domain::base_address::{
    self, AddressFlag, AddressSource, BaseAddress, BaseAddressCommand, BaseAddressRegistered,
};
use masthead_domain::envelope::{AnyEvent, CommandMeta, Envelope};
use masthead_domain::review::{self, Review, ReviewCommand, ReviewKind, ReviewOpened};
use masthead_domain::subscription::{
    AddressAssigned, AddressMatched, Subscription, SubscriptionCommand, SubscriptionError, SubscriptionEvent,
    SubscriptionRequested,
};
use masthead_domain::AddressLines;
use masthead_domain::{ReviewCandidate, ReviewRequest};
use masthead_jetstream::command_bus::{CommandBus, CommandError};
use masthead_jetstream::consumer::{Delivery, Handler, Outcome};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub struct MatcherHandler {
    pub book: Arc<AddressBook>,
    /// The event stream, asked where its last address event is before
    /// each batch (see `AddressBook::complete_before`).
    pub stream: async_nats::jetstream::stream::Stream,
    pub topology: masthead_jetstream::topology::Topology,
    /// How long a batch waits for the index to reach it.
    pub fence_patience: Duration,
    pub subscriptions: CommandBus<Subscription>,
    pub addresses: CommandBus<BaseAddress>,
    /// Where grey-zone decisions are queued for the address team.
    pub reviews: CommandBus<Review>,
    /// False as soon as the lease may have been lost: decisions stop.
    pub leading: Arc<AtomicBool>,
    pub retry_delay: Duration,
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
    async fn record(&self, request: &Request<'_>, command: SubscriptionCommand, purpose: &str) -> Outcome {
        let Request { req, envelope, seq } = request;
        let meta = CommandMeta::caused_by(envelope, purpose);
        let id = req.subscription_id.to_string();
        let result = if envelope.aggregate_version == 1 {
            let known = [SubscriptionEvent::SubscriptionRequested((*req).clone())];
            self.subscriptions.execute_after(&id, &known, *seq, command, &meta).await
        } else {
            self.subscriptions.execute(&id, command, &meta).await
        };
        self.command_outcome(result)
    }

    /// Decides one delivery in memory. `local` holds the addresses this
    /// batch registers (not yet acknowledged, so not in the shared book).
    fn plan<'a>(&self, i: usize, d: &'a Delivery, local: &mut BatchAddresses) -> Plan<'a> {
        let recorded = &d.event;
        let AnyEvent::Subscription(SubscriptionEvent::SubscriptionRequested(req)) = &recorded.event else {
            return Plan::Settled(Outcome::Done);
        };
        if !self.leading.load(Ordering::SeqCst) {
            return Plan::Settled(self.retry("not the active matcher"));
        }
        let request = Request { req, envelope: &recorded.envelope, seq: d.stream_sequence };
        let probe = entered_canonical(req);
        let Some(Verdict { decision: shared, review, candidates }) =
            self.book.with_index(|index| index.verdict(&probe))
        else {
            return Plan::Settled(self.retry("address index unavailable"));
        };
        let review = review.map(|r| review_request(r, &candidates));
        let in_batch = match local.decide(&probe) {
            Some(Decision::Match(c)) => Some(c),
            _ => None,
        };
        let shared_match = match &shared {
            Decision::Match(c) => Some(c),
            Decision::New { .. } => None,
        };
        if let Some(c) = in_batch.filter(|c| shared_match.is_none_or(|s| ranks_above(c, s))) {
            let Some(planned) = local.registered.get(&c.id) else {
                return Plan::Settled(self.retry("batch address without its registration"));
            };
            if planned.owner == req.subscription_id {
                // The same message twice in one batch (a redelivery racing
                // the first copy): the first copy decides.
                return Plan::Settled(self.retry("delivered twice in one batch"));
            }
            let matched = address_matched(&c, &probe, None, planned.lines.clone(), None);
            return Plan::Match { request, matched, after: Some(planned.plan) };
        }
        match shared {
            Decision::Match(c) => {
                let Some(BaseInfo { reference, lines, created_for }) = self.book.info(&c.id) else {
                    return Plan::Settled(self.retry("matched base address has no details yet"));
                };
                if created_for == Some(req.subscription_id) {
                    // This subscription created the address before a crash;
                    // finish that decision instead of calling it a match.
                    return local.register(i, request, &probe, &self.book, None, None);
                }
                Plan::Match { request, matched: address_matched(&c, &probe, reference, lines, review), after: None }
            }
            Decision::New { best_rejected } => {
                if let Some(plan) = self.former_spelling(request, &probe, &review) {
                    return plan;
                }
                local.register(i, request, &probe, &self.book, best_rejected.map(|c| c.score), review)
            }
        }
    }

    /// A probe the engine matches to nothing can still have a key that an
    /// address was registered under before a correction moved it (the
    /// key's id is that address's), or that a correction reserved for one
    /// (an alias id): it is that address, delivered with its lines as they
    /// are now. Registering it instead would find the id taken. `None`
    /// when the key is no address's, when the address resolves to a
    /// retired one, or when it was created for this very subscription (a
    /// redelivery finishing its own registration).
    fn former_spelling<'a>(
        &self,
        request: Request<'a>,
        probe: &Canonical,
        review: &Option<ReviewRequest>,
    ) -> Option<Plan<'a>> {
        let owner = self.book.owner_of(base_address::id_for_key(&probe.key()));
        let candidate = self.book.with_index(|index| index.former_spelling(probe, owner)).flatten()?;
        let BaseInfo { reference, lines, created_for } = self.book.info(&candidate.id)?;
        if created_for == Some(request.req.subscription_id) {
            return None;
        }
        let matched = address_matched(&candidate, probe, reference, lines, review.clone());
        Some(Plan::Match { request, matched, after: None })
    }

    /// Appends a registration planned by this batch.
    async fn register(&self, request: &Request<'_>, registered: &BaseAddressRegistered) -> Result<(), String> {
        let meta = CommandMeta::caused_by(request.envelope, "register-address");
        let id = registered.base_address_id.to_string();
        // A new id is appended with "subject must be empty"; if the address
        // exists after all, that conflicts and the full path makes it a no-op.
        match self.addresses.execute_new(&id, BaseAddressCommand::Register(registered.clone()), &meta).await {
            Ok(_) => {
                // In the index at once for the next batch; the follower
                // applies the stored event again later, a no-op.
                self.book.add(registered);
                Ok(())
            }
            Err(e) => Err(format!("registering base address: {e}")),
        }
    }

    /// Queues a grey-zone decision for the address team, before the
    /// decision is recorded: a decision is never recorded without its
    /// review item, and a failure retries both (opening again is a no-op,
    /// the item's id being derived from the subscription). The item pairs
    /// the address the subscription is delivered to with the other
    /// candidates. `Some` is the outcome when it could not be queued.
    async fn open_review(
        &self,
        request: &Request<'_>,
        address_id: Uuid,
        review: Option<&ReviewRequest>,
    ) -> Option<Outcome> {
        let review = review?;
        let others: Vec<_> = review.candidates.iter().filter(|c| c.base_address_id != address_id).collect();
        // A pair the team decided is distinct is not asked about again; an
        // item whose every candidate is such a pair is not opened at all.
        let undecided = |index: &MatchIndex| -> Vec<ReviewCandidate> {
            let open = others.iter().filter(|c| !index.is_distinct(address_id, c.base_address_id));
            open.map(|c| (*c).clone()).collect()
        };
        let candidates =
            self.book.with_index(undecided).unwrap_or_else(|| others.iter().map(|c| (*c).clone()).collect());
        if candidates.is_empty() && !others.is_empty() {
            return None;
        }
        let subscription_id = request.req.subscription_id;
        let review_id = review::id_for_subscription(subscription_id);
        let opened = ReviewOpened {
            review_id,
            kind: ReviewKind::GreyZone,
            reason: Some(review.reason),
            address_id,
            subscription_id: Some(subscription_id),
            candidates,
            opened_at: chrono::Utc::now(),
        };
        let meta = CommandMeta::caused_by(request.envelope, "open-review");
        match self.reviews.execute_new(&review_id.to_string(), ReviewCommand::Open(opened), &meta).await {
            Ok(_) => None,
            Err(e) => Some(self.retry(format!("opening the review item: {e}"))),
        }
    }

    /// Records the `i`-th planned decision on its subscription.
    async fn settle_plan(&self, i: usize, plan: &Plan<'_>, registered_ok: &[Option<bool>]) -> Outcome {
        let failed = |at: usize| registered_ok.get(at).copied().flatten() != Some(true);
        match plan {
            Plan::Settled(outcome) => outcome.clone(),
            Plan::Match { request, matched, after } => {
                if after.is_some_and(failed) {
                    return self.retry("the address it matched was not registered");
                }
                if let Some(outcome) = self.open_review(request, matched.base_address_id, matched.review.as_ref()).await
                {
                    return outcome;
                }
                self.record(request, SubscriptionCommand::RecordMatch(matched.clone()), "match").await
            }
            Plan::Register { request, registered, best_rejected_score, review } => {
                if failed(i) {
                    return self.retry("registering the new base address failed");
                }
                if let Some(outcome) = self.open_review(request, registered.base_address_id, review.as_ref()).await {
                    return outcome;
                }
                let assigned = AddressAssigned {
                    base_address_id: registered.base_address_id,
                    delivery_address: registered.address.clone(),
                    entered: registered.canonical.clone(),
                    best_rejected_score: *best_rejected_score,
                    assigned_at: chrono::Utc::now(),
                    review: review.clone(),
                };
                self.record(request, SubscriptionCommand::AssignNewAddress(assigned), "assign").await
            }
        }
    }
}

/// A delivered `SubscriptionRequested`, with what recording its outcome needs.
#[derive(Debug, Clone, Copy)]
struct Request<'a> {
    req: &'a SubscriptionRequested,
    envelope: &'a Envelope,
    /// Its stream sequence.
    seq: u64,
}

/// The event resolving `probe` to candidate `c`, delivered to `lines`.
fn address_matched(
    c: &Candidate,
    probe: &Canonical,
    reference: Option<String>,
    lines: AddressLines,
    review: Option<ReviewRequest>,
) -> AddressMatched {
    AddressMatched {
        base_address_id: c.id,
        base_address_ref: reference,
        delivery_address: lines,
        entered: canonical_address(probe),
        score: c.score,
        explanation: explanation(&c.explanation, c.probability),
        matched_at: chrono::Utc::now(),
        review,
    }
}

/// Whether `a` is the better match: more probable, then the more similar
/// street (the order the index itself ranks by).
fn ranks_above(a: &Candidate, b: &Candidate) -> bool {
    a.probability
        .total_cmp(&b.probability)
        .then(a.explanation.street_similarity.total_cmp(&b.explanation.street_similarity))
        .is_gt()
}

/// What the batch's in-memory decision left to write for one delivery.
#[derive(Debug)]
enum Plan<'a> {
    /// Nothing to append.
    Settled(Outcome),
    /// Resolved to an existing base address, or (`after`) to one this
    /// batch registers in the plan at that index.
    Match { request: Request<'a>, matched: AddressMatched, after: Option<usize> },
    /// A new base address, then the subscription assigned to it.
    Register {
        request: Request<'a>,
        registered: BaseAddressRegistered,
        best_rejected_score: Option<f64>,
        review: Option<ReviewRequest>,
    },
}

/// The new base addresses a batch decided on, indexed so that a variant
/// later in the same batch matches them before any of them is stored.
struct BatchAddresses {
    index: MatchIndex,
    registered: HashMap<Uuid, PlannedAddress>,
}

/// A base address the batch will register.
struct PlannedAddress {
    /// Index of the plan (and delivery) that registers it.
    plan: usize,
    /// The subscription it is created for.
    owner: Uuid,
    lines: AddressLines,
}

impl BatchAddresses {
    fn new(config: MatchConfig) -> Self {
        Self { index: MatchIndex::new(config), registered: HashMap::new() }
    }

    fn decide(&self, probe: &Canonical) -> Option<Decision> {
        (!self.index.is_empty()).then(|| self.index.decide(probe))
    }

    /// Plans the registration of `probe` for delivery `i`, and makes it
    /// visible to the rest of the batch.
    fn register<'a>(
        &mut self,
        i: usize,
        request: Request<'a>,
        probe: &Canonical,
        book: &AddressBook,
        best_rejected_score: Option<f64>,
        review: Option<ReviewRequest>,
    ) -> Plan<'a> {
        let req = request.req;
        let key = probe.key();
        // The key's own id may belong to a retired address (or a spelling
        // reserved for one), which cannot take this subscription.
        let id = book.id_for_new(&key);
        let mut flags = Vec::new();
        if !probe.has_house_number() {
            flags.push(AddressFlag::MissingHouseNumber);
        }
        let registered = BaseAddressRegistered {
            base_address_id: id,
            reference: None,
            address: AddressLines::from(req.address.clone()),
            canonical: canonical_address(probe),
            source: AddressSource::Subscription { subscription_id: req.subscription_id },
            flags,
            registered_at: chrono::Utc::now(),
        };
        self.index.insert(id, probe.clone());
        self.registered.entry(id).or_insert(PlannedAddress {
            plan: i,
            owner: req.subscription_id,
            lines: registered.address.clone(),
        });
        Plan::Register { request, registered, best_rejected_score, review }
    }
}

#[async_trait::async_trait]
impl Handler for MatcherHandler {
    /// Decides the whole batch in order in memory (each decision sees the
    /// addresses the earlier ones register), then writes: first every new
    /// base address, concurrently, then every subscription's outcome,
    /// concurrently. Awaiting each append in turn capped the matcher at a
    /// few hundred decisions a second on JetStream round trips alone.
    ///
    /// A decision that depends on a registration that failed is retried,
    /// never recorded: no subscription can point at an address that was not
    /// stored. A registration is added to the shared book only once stored.
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        let started = Instant::now();
        // Decide nothing before the index holds every address stored
        // ahead of this batch: an import running beside subscriptions
        // must not turn re-typed imported rows into new addresses.
        if let Some(last) = batch.iter().map(|d| d.stream_sequence).max() {
            let fence = self.book.complete_before(&self.stream, &self.topology, last, self.fence_patience).await;
            if let Err(e) = fence {
                tracing::info!(error = %e, "batch waits for the address index");
                return batch.iter().map(|_| self.retry(e.to_string())).collect();
            }
        }
        let config = self.book.with_index(|i| i.config().clone()).unwrap_or_default();
        let mut local = BatchAddresses::new(config);
        let plans: Vec<Plan> = batch.iter().enumerate().map(|(i, d)| self.plan(i, d, &mut local)).collect();

        let registrations = plans.iter().map(|plan| async move {
            match plan {
                Plan::Register { request, registered, .. } => {
                    let stored = self.register(request, registered).await;
                    if let Err(e) = &stored {
                        tracing::info!(error = %e, "registration failed; its decisions will be retried");
                    }
                    Some(stored.is_ok())
                }
                _ => None,
            }
        });
        let registered_ok: Vec<Option<bool>> = futures::future::join_all(registrations).await;

        let outcomes: Vec<Outcome> = futures::future::join_all(
            plans.iter().enumerate().map(|(i, plan)| self.settle_plan(i, plan, &registered_ok)),
        )
        .await;

        for (plan, outcome) in plans.iter().zip(&outcomes) {
            if *outcome != Outcome::Done {
                continue;
            }
            match plan {
                Plan::Match { matched, .. } => record_decision("matched", Some(matched.score), started.elapsed()),
                Plan::Register { .. } => record_decision("new", None, started.elapsed()),
                Plan::Settled(_) => {}
            }
        }
        outcomes
    }
}

/// Counts a recorded decision, how long its batch took to decide and
/// record, and (for a match) its score.
fn record_decision(outcome: &'static str, score: Option<f64>, elapsed: Duration) {
    metrics::histogram!("masthead_match_duration_seconds", "outcome" => outcome).record(elapsed.as_secs_f64());
    metrics::counter!("masthead_match_outcomes_total", "outcome" => outcome).increment(1);
    if let Some(score) = score {
        metrics::histogram!("masthead_match_score").record(score);
    }
}
