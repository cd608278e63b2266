//! `masthead-bench publish`: a synthetic stream (`masthead_testdata::events`)
//! published to JetStream as the event store writes it — the real subject,
//! envelope headers and JSON payload — so that rebuilds and paging can be
//! measured against a real server (`masthead-bench rebuild` publishes its
//! own; this is for `masthead projections rebuild` and the HTTP benches).
//!
//! The stream must be new or empty: the synthetic stream sequence numbers
//! (and so the `ref` back-fills and idempotency the fold checks) assume the
//! events start at sequence 1. The expected-subject-sequence header the
//! event store adds for optimistic concurrency is left out: it only guards
//! concurrent writers and plays no part in reading.

use anyhow::{Context, Result};
use async_nats::jetstream::{self, context::PublishError, publish::PublishAck};
use async_nats::HeaderMap;
use futures::StreamExt;
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_jetstream::headers::{decode_message, write_envelope};
use masthead_jetstream::topology::{setup, Topology};
use masthead_testdata::events::{generate, SynthConfig};
use std::time::{Duration, Instant};

/// Publishes awaiting acknowledgements at most this many behind.
const IN_FLIGHT: usize = 4096;

pub async fn run(url: &str, stream: &str, wanted: usize) -> Result<()> {
    let client = async_nats::connect(url).await.with_context(|| format!("connecting to {url}"))?;
    let js = jetstream::new(client);
    let topology = Topology::new(stream);
    setup(&js, &topology).await?;
    let last = js.get_stream(stream).await?.info().await?.state.last_sequence;
    anyhow::ensure!(last == 0, "stream {stream} already holds {last} events; use a new stream or server");

    let events = generate(&SynthConfig::for_events(wanted));
    println!("publishing {} events to {stream} at {url}", events.len());
    let elapsed = publish_events(&js, &topology, &events).await?;
    println!(
        "published {} events in {elapsed:.2?} ({:.0}/s)",
        events.len(),
        events.len() as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// Publishes `events` into an empty stream, each at its own recorded
/// sequence, with [`IN_FLIGHT`] acks outstanding; returns how long it took.
pub async fn publish_events(
    js: &jetstream::Context,
    topology: &Topology,
    events: &[Recorded<AnyEvent>],
) -> Result<Duration> {
    let started = Instant::now();
    let mut acks = futures::stream::FuturesOrdered::new();
    for (i, r) in events.iter().enumerate() {
        let payload = r.event.payload_bytes()?;
        let mut headers = HeaderMap::new();
        write_envelope(&r.envelope, &mut headers);
        // What the rebuild will read must decode, as the same event. (Not
        // compared field by field: serde_json, without its `float_roundtrip`
        // feature, may read a score back one ULP off.)
        let back = decode_message(Some(&headers), &payload, r.stream_sequence)
            .map_err(|e| anyhow::anyhow!("event {} ({}) does not decode: {e}", i + 1, r.envelope.event_type))?;
        anyhow::ensure!(back.envelope == r.envelope, "event {} decodes with another envelope", i + 1);
        let subject = topology.subject(&r.envelope.aggregate_type, &r.envelope.aggregate_id);
        let ack = js.publish_with_headers(subject, headers, payload.into()).await?;
        acks.push_back(async move { (i, ack.await) });
        while acks.len() >= IN_FLIGHT {
            check(acks.next().await)?;
        }
    }
    while !acks.is_empty() {
        check(acks.next().await)?;
    }
    Ok(started.elapsed())
}

/// The synthetic stream's sequence numbers must be the stream's own.
fn check(ack: Option<(usize, Result<PublishAck, PublishError>)>) -> Result<()> {
    if let Some((i, ack)) = ack {
        let ack = ack?;
        anyhow::ensure!(ack.sequence == i as u64 + 1, "event {} stored at sequence {}", i + 1, ack.sequence);
    }
    Ok(())
}
