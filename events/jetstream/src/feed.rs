//! Reading a filtered part of the stream to its end, once, in order: what
//! a process does to load state at start (the matcher's address book and its
//! key check, the review queue, the labelled-pairs export).
//!
//! An ordered consumer delivers each message once and in stream order, and
//! each message says how many are still pending after it; the read ends at
//! the message with none left. So it ends at the stream's end as it is when
//! the read catches up, and a read of an empty feed ends at once (an ordered
//! consumer would otherwise wait for a first message that may never come).

use crate::topology::Topology;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use std::time::Duration;

/// How long the read waits for the next message while some are pending
/// before it gives up (a server gone quiet).
const STALL: Duration = Duration::from_secs(10);

/// One message as the feed hands it over, undecoded: a caller may skip
/// decoding what it does not need (by its headers).
pub struct FeedMessage<'a> {
    /// Where the message is in the stream.
    pub stream_sequence: u64,
    /// Messages of the feed still pending after this one.
    pub left: u64,
    /// The message's headers (the event type, the schema version).
    pub headers: Option<&'a async_nats::HeaderMap>,
    /// The event as stored.
    pub payload: &'a [u8],
}

/// An error of the NATS client, kept as the source of a [`FeedError`].
pub type NatsError = Box<dyn std::error::Error + Send + Sync>;

/// Why a read stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum FeedError<E: std::error::Error + 'static> {
    /// The stream could not be read (NATS away, the stream missing) while
    /// `doing`. Retry the whole read: nothing was handed over past the
    /// failure.
    #[error("reading the stream ({doing})")]
    Read {
        doing: &'static str,
        #[source]
        source: NatsError,
    },
    /// The message stream ended before the feed's end (the connection
    /// closed). Retry the whole read.
    #[error("the message stream ended after {handed} messages, {pending} still pending")]
    Ended { handed: u64, pending: u64 },
    /// No message came for a while although some were pending. Retry.
    #[error("the stream stopped answering while {pending} messages were pending")]
    Stalled { pending: u64 },
    /// The caller's `visit` refused a message; the read stopped there.
    #[error(transparent)]
    Visit(E),
}

/// Hands every message on `filters` (subjects, wildcards allowed) from
/// stream sequence `from` on to `visit`, in stream order, until none is
/// pending. Returns how many were handed over.
pub async fn read_to_end<E: std::error::Error + 'static>(
    js: &jetstream::Context,
    topology: &Topology,
    filters: Vec<String>,
    from: u64,
    mut visit: impl FnMut(FeedMessage<'_>) -> Result<(), E>,
) -> Result<u64, FeedError<E>> {
    fn read<E: std::error::Error + 'static>(doing: &'static str) -> impl FnOnce(NatsError) -> FeedError<E> {
        move |source| FeedError::Read { doing, source }
    }
    let stream = js.get_stream(&topology.stream).await.map_err(|e| read("opening the stream")(e.into()))?;
    let config = consumer::pull::OrderedConfig {
        filter_subjects: filters,
        deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from.max(1) },
        ..Default::default()
    };
    let mut consumer =
        stream.create_consumer(config).await.map_err(|e| read("creating an ordered consumer")(e.into()))?;
    let mut pending = consumer.info().await.map_err(|e| read("asking what is pending")(e.into()))?.num_pending;
    if pending == 0 {
        return Ok(0);
    }
    let mut messages = consumer.messages().await.map_err(|e| read("subscribing")(e.into()))?;
    let mut handed = 0;
    loop {
        let next = tokio::time::timeout(STALL, messages.next()).await.map_err(|_| FeedError::Stalled { pending })?;
        let Some(m) = next else { return Err(FeedError::Ended { handed, pending }) };
        let m = m.map_err(|e| read("receiving a message")(e.into()))?;
        let info = m.info().map_err(|e| read("reading a message's position")(e))?;
        let (stream_sequence, left) = (info.stream_sequence, info.pending);
        visit(FeedMessage { stream_sequence, left, headers: m.headers.as_ref(), payload: &m.payload })
            .map_err(FeedError::Visit)?;
        handed += 1;
        pending = left;
        if left == 0 {
            return Ok(handed);
        }
    }
}
