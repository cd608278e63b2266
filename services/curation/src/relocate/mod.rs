//! The relocator: the process manager that carries a base address's
//! correction or merge over to every subscription delivered there, as a
//! `DeliveryAddressChanged` on the subscription's own history (which the
//! mailer turns into one correction mail, and the projector into the
//! subscription's current delivery address and its moves).
//!
//! It reads the whole stream in order from the start at every start-up,
//! keeping only who is delivered where ([`plan::Relocations`]). Moves found
//! while catching up are held until the end of the catch-up and dropped
//! when the history shows them done, so a restart re-sends only what a
//! crash left undone. Every move is a no-op the second time (the
//! subscription records each cause once), so several relocators, or a
//! replay, change nothing. A subscription a matcher resolved to an address
//! it had not yet seen merged follows the merge as soon as the relocator
//! reads the decision.

pub mod plan;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use masthead_domain::base_address::BaseAddress;
use masthead_domain::base_address::BaseAddressEvent;
use masthead_domain::envelope::{header, AnyEvent, CommandMeta};
use masthead_domain::subscription::{
    DeliveryAddressChanged, Subscription, SubscriptionCommand, SubscriptionError, SubscriptionEvent,
};
use masthead_domain::AddressLines;
use masthead_jetstream::command_bus::{AggregateStore, CommandBus, CommandError};
use masthead_jetstream::headers::decode_message;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use plan::{MoveLines, PlannedMove, Relocations};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The event types the relocator acts on; the rest is skipped before it
/// is decoded (registrations and requests are most of the stream).
const RELEVANT: [&str; 5] = [
    SubscriptionEvent::MATCHED,
    SubscriptionEvent::ASSIGNED,
    SubscriptionEvent::DELIVERY_CHANGED,
    BaseAddressEvent::MERGED,
    BaseAddressEvent::CORRECTED,
];

/// Why a move could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum RelocateError {
    /// The event store did not answer; the move is tried again.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
}

/// Progress, for tests and the operator: the last stream sequence read and
/// the moves recorded.
#[derive(Debug, Default)]
pub struct Progress {
    pub position: AtomicU64,
    pub moved: AtomicU64,
}

pub struct Relocator {
    subscriptions: CommandBus<Subscription>,
    addresses: AggregateStore<BaseAddress>,
    progress: Arc<Progress>,
    retry_delay: Duration,
}

impl Relocator {
    pub fn new(store: EventStore) -> Self {
        Self {
            subscriptions: CommandBus::new(store.clone(), ()),
            addresses: AggregateStore::new(store),
            progress: Arc::default(),
            retry_delay: Duration::from_secs(1),
        }
    }

    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }

    /// Follows the stream until `shutdown`; a broken feed is resumed where
    /// it stopped, with what was learnt kept.
    pub async fn run(&self, js: &jetstream::Context, topology: &Topology, shutdown: CancellationToken) {
        let mut state = Relocations::default();
        // Moves found while catching up, by (subscription, cause).
        let mut held: Option<HashMap<(uuid::Uuid, u64), PlannedMove>> = Some(HashMap::new());
        while !shutdown.is_cancelled() {
            let from = self.progress.position.load(Ordering::SeqCst) + 1;
            let result = self.follow(js, topology, from, &mut state, &mut held, &shutdown).await;
            if let Err(e) = result {
                tracing::debug!(error = %e, "relocator feed interrupted; resuming");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(self.retry_delay) => {}
                }
            }
        }
    }

    async fn follow(
        &self,
        js: &jetstream::Context,
        topology: &Topology,
        from: u64,
        state: &mut Relocations,
        held: &mut Option<HashMap<(uuid::Uuid, u64), PlannedMove>>,
        shutdown: &CancellationToken,
    ) -> Result<(), String> {
        let stream = js.get_stream(&topology.stream).await.map_err(|e| e.to_string())?;
        let mut consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: topology.all_subjects(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from },
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        if held.is_some() && consumer.info().await.map_err(|e| e.to_string())?.num_pending == 0 {
            self.release(held, shutdown).await;
        }
        let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                n = messages.next() => n,
            };
            let m = next.ok_or("relocator feed ended")?.map_err(|e| e.to_string())?;
            let info = m.info().map_err(|e| e.to_string())?;
            let (seq, left) = (info.stream_sequence, info.pending);
            let kind = m.headers.as_ref().and_then(|h| h.get(header::EVENT_TYPE)).map(|v| v.as_str());
            if kind.is_some_and(|k| RELEVANT.contains(&k)) {
                match decode_message(m.headers.as_ref(), &m.payload, seq) {
                    Ok(recorded) => {
                        let done = done_change(&recorded.event, &recorded.envelope.aggregate_id);
                        let moves = state.apply(&recorded);
                        match held {
                            Some(h) => {
                                if let Some(key) = done {
                                    h.remove(&key);
                                }
                                h.extend(moves.into_iter().map(|m| ((m.subscription_id, m.cause_seq), m)));
                            }
                            None => {
                                for planned in moves {
                                    self.send(planned, shutdown).await;
                                }
                            }
                        }
                    }
                    Err(e) => tracing::warn!(seq, error = %e, "relocator skips an undecodable event"),
                }
            }
            self.progress.position.store(seq, Ordering::SeqCst);
            if left == 0 && held.is_some() {
                self.release(held, shutdown).await;
            }
        }
    }

    /// The end of the catch-up: sends what history does not show done.
    async fn release(&self, held: &mut Option<HashMap<(uuid::Uuid, u64), PlannedMove>>, shutdown: &CancellationToken) {
        let Some(h) = held.take() else { return };
        let mut moves: Vec<PlannedMove> = h.into_values().collect();
        moves.sort_by_key(|m| m.cause_seq);
        if !moves.is_empty() {
            tracing::info!(moves = moves.len(), "relocator resumes moves a restart left undone");
        }
        for planned in moves {
            self.send(planned, shutdown).await;
        }
    }

    /// Sends one move, retrying while the store is away.
    async fn send(&self, planned: PlannedMove, shutdown: &CancellationToken) {
        loop {
            match self.try_send(&planned).await {
                Ok(()) => return,
                Err(RelocateError::Unavailable(e)) => {
                    tracing::warn!(error = %e, "relocator cannot move a subscription yet; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(self.retry_delay) => {}
                    }
                }
            }
        }
    }

    async fn try_send(&self, planned: &PlannedMove) -> Result<(), RelocateError> {
        let (before, after) = match &planned.lines {
            MoveLines::Known { before, after } => (before.clone(), after.clone()),
            MoveLines::Lookup => match (self.lines_of(planned.from).await?, self.lines_of(planned.to).await?) {
                (Some(before), Some(after)) => (before, after),
                // A merge names only registered addresses; a history that
                // lacks one cannot be moved onto.
                _ => {
                    tracing::error!(cause_seq = planned.cause_seq, "relocator: a merged address has no lines");
                    return Ok(());
                }
            },
        };
        let change = DeliveryAddressChanged {
            from_base_address_id: planned.from,
            base_address_id: planned.to,
            before,
            delivery_address: after,
            cause: planned.cause,
            cause_seq: planned.cause_seq,
            changed_at: chrono::Utc::now(),
        };
        let id = planned.subscription_id.to_string();
        match self
            .subscriptions
            .execute(&id, SubscriptionCommand::ChangeDelivery(change), &CommandMeta::default())
            .await
        {
            Ok(stored) => {
                self.progress.moved.fetch_add(stored.len() as u64, Ordering::SeqCst);
                Ok(())
            }
            // Moved on already (a later merge reached it first): the
            // later move carries it to where it belongs.
            Err(CommandError::Rejected(SubscriptionError::NotDeliveredThere(_))) => Ok(()),
            Err(CommandError::Rejected(e)) => {
                tracing::warn!(error = %e, "relocator: a subscription refused its move");
                Ok(())
            }
            Err(CommandError::Unavailable(e)) => Err(RelocateError::Unavailable(e)),
            Err(CommandError::Conflict(n)) => Err(RelocateError::Unavailable(format!("conflict after {n} retries"))),
            Err(CommandError::Store(e)) => {
                tracing::error!(error = %e, "relocator: a subscription's history cannot be read");
                Ok(())
            }
        }
    }

    /// A base address's lines now (a merged address's are frozen).
    async fn lines_of(&self, id: uuid::Uuid) -> Result<Option<AddressLines>, RelocateError> {
        let (loaded, _) =
            self.addresses.load(&id.to_string()).await.map_err(|e| RelocateError::Unavailable(e.to_string()))?;
        Ok(loaded.aggregate.current.map(|c| c.address))
    }
}

/// The (subscription, cause) a recorded change shows done.
fn done_change(event: &AnyEvent, aggregate_id: &str) -> Option<(uuid::Uuid, u64)> {
    match event {
        AnyEvent::Subscription(SubscriptionEvent::DeliveryAddressChanged(e)) => {
            Some((aggregate_id.parse().ok()?, e.cause_seq))
        }
        _ => None,
    }
}
