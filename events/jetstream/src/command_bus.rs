//! Command handling with cqrs-es aggregates over the JetStream event store.
//!
//! cqrs-es provides the `Aggregate` contract (decide with `handle`, evolve
//! with `apply`) and the given/when/then test framework the domain's tests
//! use. Persistence is ours: `AggregateStore` loads an aggregate and
//! remembers the *stream* sequence of the last event read, which is what
//! optimistic concurrency on a subject needs (cqrs-es's repository API only
//! passes a per-aggregate count).
//!
//! `CommandBus` is `CqrsFramework::execute` plus what the framework lacks
//! here: it returns the stored events (or, for a deduplicated retry, the
//! original ones) and retries a bounded number of times on a conflict.

use crate::store::{AppendError, EventStore, ReadError};
use cqrs_es::Aggregate;
use masthead_domain::envelope::{CommandMeta, HasUpcasters, Recorded};
use std::marker::PhantomData;

/// How many times a command is re-decided after a conflict.
pub const MAX_CONFLICT_RETRIES: usize = 5;

pub struct AggregateStore<A> {
    store: EventStore,
    _aggregate: PhantomData<fn() -> A>,
}

impl<A> Clone for AggregateStore<A> {
    fn clone(&self) -> Self {
        Self { store: self.store.clone(), _aggregate: PhantomData }
    }
}

/// A loaded aggregate and where its history ends in the stream.
pub struct LoadedAggregate<A> {
    pub aggregate: A,
    pub aggregate_id: String,
    pub last_sequence: u64,
    pub version: u64,
}

impl<A> AggregateStore<A>
where
    A: Aggregate,
    A::Event: HasUpcasters,
{
    pub fn new(store: EventStore) -> Self {
        Self { store, _aggregate: PhantomData }
    }

    pub fn event_store(&self) -> &EventStore {
        &self.store
    }

    pub async fn load(&self, aggregate_id: &str) -> Result<(LoadedAggregate<A>, Vec<Recorded<A::Event>>), ReadError> {
        let history = self.store.load::<A::Event>(aggregate_id).await?;
        let mut aggregate = A::default();
        for e in &history.events {
            aggregate.apply(e.event.clone());
        }
        let version = history.version();
        Ok((
            LoadedAggregate {
                aggregate,
                aggregate_id: aggregate_id.to_owned(),
                last_sequence: history.last_sequence,
                version,
            },
            history.events,
        ))
    }

    /// Appends the events one command produced. Masthead's commands produce
    /// at most one event; JetStream (before 2.12's batches) cannot append
    /// several atomically, and a half-written command is worse than a
    /// refused one.
    pub async fn commit_recorded(
        &self,
        events: Vec<A::Event>,
        context: &LoadedAggregate<A>,
        meta: &CommandMeta,
    ) -> Result<Vec<Recorded<A::Event>>, AppendError> {
        match events.len() {
            0 => Ok(vec![]),
            1 => {
                let event = &events[0];
                let recorded = self
                    .store
                    .append(&context.aggregate_id, context.last_sequence, context.version + 1, event, meta)
                    .await?;
                Ok(vec![recorded])
            }
            n => Err(AppendError::Refused(format!("a command produced {n} events; at most one is supported"))),
        }
    }
}

/// Why a command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E: std::error::Error> {
    /// The aggregate refused the command (a business rule). Report it to the
    /// caller; retrying the same command gives the same answer.
    #[error(transparent)]
    Rejected(E),
    /// Conflicts persisted through every retry: heavy contention on one
    /// aggregate. Retry later.
    #[error("conflict persisted after {0} retries")]
    Conflict(usize),
    /// The event store is unreachable. Nothing was appended, or the outcome is
    /// unknown: retry with the same idempotency key (HTTP 503).
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// Anything else from the store (undecodable history, refused message).
    /// Not retryable without a fix.
    #[error("event store error: {0}")]
    Store(String),
}

pub struct CommandBus<A: Aggregate> {
    store: AggregateStore<A>,
    services: A::Services,
}

impl<A> CommandBus<A>
where
    A: Aggregate,
    A::Event: HasUpcasters,
    A::Command: Clone,
{
    pub fn new(store: EventStore, services: A::Services) -> Self {
        Self { store: AggregateStore::new(store), services }
    }

    pub fn aggregates(&self) -> &AggregateStore<A> {
        &self.store
    }

    /// For an aggregate id that was just generated: decides on the empty
    /// state and appends with "subject must be empty", skipping the read.
    pub async fn execute_new(
        &self,
        aggregate_id: &str,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Vec<Recorded<A::Event>>, CommandError<A::Error>> {
        self.execute_after(aggregate_id, &[], 0, command, meta).await
    }

    /// Decides on a history the caller already holds — typically the event
    /// a consumer was just handed — and appends after `last_sequence`,
    /// skipping the read. If the aggregate has moved on since, the append
    /// conflicts and the command is re-decided on the real history, so the
    /// outcome is always the same as `execute`'s; only the round trips differ.
    pub async fn execute_after(
        &self,
        aggregate_id: &str,
        known: &[A::Event],
        last_sequence: u64,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Vec<Recorded<A::Event>>, CommandError<A::Error>> {
        let mut aggregate = A::default();
        for e in known {
            aggregate.apply(e.clone());
        }
        let mut context = LoadedAggregate {
            aggregate,
            aggregate_id: aggregate_id.to_owned(),
            last_sequence,
            version: known.len() as u64,
        };
        let sink = cqrs_es::event_sink::EventSink::<A>::default();
        context.aggregate.handle(command.clone(), &self.services, &sink).await.map_err(CommandError::Rejected)?;
        let events = sink.collect().await;
        match self.store.commit_recorded(events, &context, meta).await {
            Ok(recorded) => Ok(recorded),
            // Boxed: the rare re-decision would otherwise double the size
            // of every call's future.
            Err(AppendError::Conflict { .. }) => Box::pin(self.execute(aggregate_id, command, meta)).await,
            Err(AppendError::Unavailable(m)) => Err(CommandError::Unavailable(m)),
            Err(AppendError::StreamMissing(s)) => Err(CommandError::Unavailable(format!("stream {s} missing"))),
            Err(other) => Err(CommandError::Store(other.to_string())),
        }
    }

    /// Loads, decides, appends; re-decides on a conflict. Returns the events
    /// stored (empty when the command was a no-op on the current state).
    pub async fn execute(
        &self,
        aggregate_id: &str,
        command: A::Command,
        meta: &CommandMeta,
    ) -> Result<Vec<Recorded<A::Event>>, CommandError<A::Error>> {
        for _ in 0..=MAX_CONFLICT_RETRIES {
            // Boxed: a history read's future is several KB; boxed, the
            // futures awaiting this one stay small and cheap to move.
            let (mut context, _) = Box::pin(self.store.load(aggregate_id)).await.map_err(|e| match e {
                ReadError::Unavailable(m) => CommandError::Unavailable(m),
                other => CommandError::Store(other.to_string()),
            })?;
            let sink = cqrs_es::event_sink::EventSink::<A>::default();
            context.aggregate.handle(command.clone(), &self.services, &sink).await.map_err(CommandError::Rejected)?;
            let events = sink.collect().await;
            match self.store.commit_recorded(events, &context, meta).await {
                Ok(recorded) => return Ok(recorded),
                Err(AppendError::Conflict { .. }) => continue,
                Err(AppendError::Unavailable(m)) => return Err(CommandError::Unavailable(m)),
                Err(AppendError::StreamMissing(s)) => {
                    return Err(CommandError::Unavailable(format!("stream {s} missing")))
                }
                Err(other) => return Err(CommandError::Store(other.to_string())),
            }
        }
        Err(CommandError::Conflict(MAX_CONFLICT_RETRIES))
    }
}
