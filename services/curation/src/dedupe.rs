//! `masthead addresses dedupe`: the whole base list scanned for pairs
//! that may be one address (the matching engine's
//! [`MatchIndex::scan_duplicates`]), each queued once as a `Duplicate`
//! review item, or merged at once above a probability.
//!
//! Queuing is idempotent: an item's id is [`review::id_for_pair`], so a
//! pair found again lands on its existing item and changes nothing; a pair
//! decided distinct is left out by the scan itself; a pair decided merged
//! is gone (its merged side is no longer scanned).
//!
//! **Which side survives a merge** (`--merge-above`): the one with more
//! information — the side with a `ref` (the publisher's own key for the
//! address) over one without; between two with or two without, the older
//! registration (the one the index took in first, i.e. earlier in the
//! stream), because subscriptions, mails and the team's history already
//! point at it. Pairs are merged most probable first; a pair whose sides are
//! one address after this run's earlier merges is skipped.

use crate::commands::{Actor, Curation};
use crate::error::CurationError;
use futures::StreamExt;
use masthead_domain::envelope::CommandMeta;
use masthead_domain::review::{self, RequestedDecision, ReviewCommand, ReviewKind, ReviewOpened};
use masthead_domain::ReviewCandidate;
use masthead_matching::matcher::convert::explanation;
use masthead_matching::{DuplicatePair, ScanReport};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What `dedupe` is asked to do.
#[derive(Debug, Clone)]
pub struct DedupeOptions {
    /// Merge pairs at or above this match probability (0–1) instead of
    /// queuing them.
    pub merge_above: Option<f64>,
    /// Threads scanning the index (the scan is CPU-bound; one per core).
    pub threads: usize,
    /// Review items appended at once.
    pub in_flight: usize,
}

impl Default for DedupeOptions {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self { merge_above: None, threads, in_flight: 64 }
    }
}

/// Where a run is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupeProgress {
    /// Base addresses scanned so far, of `total`.
    Scanning { done: usize, total: usize },
    /// Pairs queued or merged so far, of `total`.
    Writing { done: usize, total: usize },
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DedupeReport {
    /// Active base addresses scanned.
    pub addresses: usize,
    /// Pairs at or above the review probability.
    pub pairs: usize,
    /// Review items opened by this run.
    pub queued: usize,
    /// Pairs whose review item was opened before (by an earlier run).
    pub already_queued: usize,
    /// Pairs merged (`--merge-above`).
    pub merged: usize,
    /// Pairs the team decided distinct, left out.
    pub skipped_distinct: usize,
    /// Pairs with a side merged earlier in this run: the next run pairs
    /// the survivor instead.
    pub skipped_merged: usize,
    /// Merges the address aggregate refused (a side retired or merged
    /// meanwhile by someone else).
    pub merge_refused: usize,
    pub scan_elapsed: Duration,
    pub elapsed: Duration,
}

/// The actor of dedupe's merges.
pub const DEDUPE_ACTOR: &str = "dedupe";

impl Curation {
    /// Scans the base list held by the curation's address book and queues
    /// (or merges) every pair found. The book must be loaded from the
    /// stream (`load_address_book`) before.
    pub async fn dedupe(
        &self,
        options: &DedupeOptions,
        progress: impl Fn(DedupeProgress) + Send + Sync + 'static,
    ) -> Result<DedupeReport, CurationError> {
        let started = Instant::now();
        let progress = Arc::new(progress);
        let (book, threads, p) = (self.book().clone(), options.threads, progress.clone());
        let scanned = tokio::task::spawn_blocking(move || {
            book.with_index(|index| {
                let report = index.scan_duplicates(threads, &|done, total| p(DedupeProgress::Scanning { done, total }));
                let order: HashMap<Uuid, usize> =
                    involved(&report).filter_map(|id| index.position_of(id).map(|at| (id, at))).collect();
                (report, order)
            })
        })
        .await
        .map_err(|e| CurationError::Store(format!("the dedupe scan failed: {e}")))?
        .ok_or_else(|| CurationError::Store("the address index is unavailable".into()))?;
        let (scan, order) = scanned;
        let mut report = DedupeReport {
            addresses: scan.scanned,
            pairs: scan.pairs.len(),
            skipped_distinct: scan.skipped_distinct,
            scan_elapsed: started.elapsed(),
            ..Default::default()
        };
        let total = scan.pairs.len();
        let (to_merge, to_queue): (Vec<DuplicatePair>, Vec<DuplicatePair>) =
            scan.pairs.into_iter().partition(|p| options.merge_above.is_some_and(|at| p.probability >= at));
        let merged_into = self.merge_pairs(&to_merge, &order, &mut report, &*progress, total).await?;
        let (to_queue, touched): (Vec<DuplicatePair>, Vec<DuplicatePair>) = to_queue
            .into_iter()
            .partition(|p| !merged_into.contains_key(&p.first) && !merged_into.contains_key(&p.second));
        report.skipped_merged += touched.len();
        let done_before = total - to_queue.len();
        progress(DedupeProgress::Writing { done: done_before, total });
        let mut opened =
            futures::stream::iter(to_queue.iter().map(|p| self.queue(p))).buffer_unordered(options.in_flight.max(1));
        let mut done = done_before;
        while let Some(result) = opened.next().await {
            match result? {
                true => report.queued += 1,
                false => report.already_queued += 1,
            }
            done += 1;
            progress(DedupeProgress::Writing { done, total });
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Opens the pair's review item; `false` when it was open already.
    async fn queue(&self, pair: &DuplicatePair) -> Result<bool, CurationError> {
        let review_id = review::id_for_pair(pair.first, pair.second);
        let opened = ReviewOpened {
            review_id,
            kind: ReviewKind::Duplicate,
            reason: None,
            address_id: pair.first,
            subscription_id: None,
            candidates: vec![ReviewCandidate {
                base_address_id: pair.second,
                probability: pair.probability,
                explanation: explanation(&pair.explanation, pair.probability),
                veto: None,
            }],
            opened_at: chrono::Utc::now(),
        };
        let stored = self
            .reviews()
            .execute_new(&review_id.to_string(), ReviewCommand::Open(opened), &CommandMeta::default())
            .await
            .map_err(CurationError::from_review)?;
        Ok(!stored.is_empty())
    }

    /// Merges each pair (most probable first) by the survivor rule of the
    /// module docs. Returns where each address merged in this run went.
    async fn merge_pairs(
        &self,
        pairs: &[DuplicatePair],
        order: &HashMap<Uuid, usize>,
        report: &mut DedupeReport,
        progress: &(dyn Fn(DedupeProgress) + Send + Sync),
        total: usize,
    ) -> Result<HashMap<Uuid, Uuid>, CurationError> {
        let mut merged_into: HashMap<Uuid, Uuid> = HashMap::new();
        let resolve = |map: &HashMap<Uuid, Uuid>, mut id: Uuid| {
            while let Some(next) = map.get(&id) {
                id = *next;
            }
            id
        };
        for (i, pair) in pairs.iter().enumerate() {
            let (a, b) = (resolve(&merged_into, pair.first), resolve(&merged_into, pair.second));
            if a == b {
                report.skipped_merged += 1;
                continue;
            }
            let (survivor, merged) = self.survivor(a, b, order);
            let actor = Actor {
                subject: DEDUPE_ACTOR.into(),
                reason: Some(format!("dedupe: match probability {:.4}", pair.probability)),
            };
            match self.merge_pair(merged, survivor, &actor).await {
                Ok(_) => {
                    merged_into.insert(merged, survivor);
                    report.merged += 1;
                }
                Err(e @ (CurationError::Address(_) | CurationError::Review(_) | CurationError::Existing { .. })) => {
                    tracing::info!(%merged, %survivor, error = %e, "dedupe merge refused");
                    report.merge_refused += 1;
                }
                Err(e) => return Err(e),
            }
            progress(DedupeProgress::Writing { done: i + 1, total });
        }
        Ok(merged_into)
    }

    /// Merges `merged` into `survivor`. When an earlier run queued the pair,
    /// its item is decided (merge, by `dedupe`) in the same step, so no
    /// item stays open about two addresses that are one now.
    async fn merge_pair(&self, merged: Uuid, survivor: Uuid, actor: &Actor) -> Result<(), CurationError> {
        let review_id = review::id_for_pair(merged, survivor);
        let (item, _) = self.reviews().aggregates().load(&review_id.to_string()).await.map_err(CurationError::read)?;
        if item.aggregate.opened.is_some() && item.aggregate.decided.is_none() {
            self.decide(review_id, RequestedDecision::Merge { into: survivor }, actor).await?;
        } else {
            self.merge(merged, survivor, actor).await?;
        }
        Ok(())
    }

    /// `(survivor, merged)`: the side with a `ref`, else the older one.
    fn survivor(&self, a: Uuid, b: Uuid, order: &HashMap<Uuid, usize>) -> (Uuid, Uuid) {
        let has_ref = |id: Uuid| self.book().info(&id).is_some_and(|i| i.reference.is_some_and(|r| !r.is_empty()));
        let age = |id: Uuid| order.get(&id).copied().unwrap_or(usize::MAX);
        match (has_ref(a), has_ref(b)) {
            (true, false) => (a, b),
            (false, true) => (b, a),
            _ if age(b) < age(a) => (b, a),
            _ => (a, b),
        }
    }
}

/// Every id a scan's pairs name.
fn involved(report: &ScanReport) -> impl Iterator<Item = Uuid> + '_ {
    report.pairs.iter().flat_map(|p| [p.first, p.second])
}

/// Parses a probability given on the command line: a number in 0..=1.
pub fn parse_probability(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        Ok(p) => Err(format!("{p} is not a probability: give a number from 0 to 1, such as 0.99")),
        Err(_) => Err(format!("`{text}` is not a number: give a probability from 0 to 1, such as 0.99")),
    }
}
