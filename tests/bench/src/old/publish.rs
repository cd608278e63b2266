//! Publishes a synthetic stream (see `synth`) to JetStream as the event
//! store writes it: the real subject, envelope headers and JSON payload, so
//! `masthead projections rebuild` can be measured end to end against a real
//! server. See "Rebuild end to end" in the README.
//!
//! `cargo run -p masthead-projections --release --example publish -- --url nats://127.0.0.1:4333 --stream MASTHEAD --events 1000000`
//!
//! The stream must be new or empty: the synthetic stream sequence numbers
//! (and so the `ref` back-fills and idempotency the fold checks) assume the
//! events start at sequence 1. The expected-subject-sequence header the
//! event store adds for optimistic concurrency is left out: it only guards
//! concurrent writers and plays no part in reading.

use async_nats::jetstream;
use async_nats::HeaderMap;
use futures::StreamExt;
use masthead_events::envelope::{decode_any, AnyEvent};
use masthead_events::schema::EventSchema;
use masthead_events::topology::{setup, Topology};
use masthead_testdata::events::{generate, SynthConfig};
use std::time::Instant;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// Publishes awaiting acknowledgements at most this many behind.
const IN_FLIGHT: usize = 4096;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = arg("--url").unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let stream = arg("--stream").unwrap_or_else(|| "MASTHEAD".into());
    let wanted: usize = arg("--events").map(|v| v.parse()).transpose()?.unwrap_or(1_000_000);

    let client = async_nats::connect(&url).await?;
    let js = jetstream::new(client);
    let topology = Topology::new(&stream);
    setup(&js, &topology).await?;
    let mut info = js.get_stream(&stream).await?;
    let last = info.info().await?.state.last_sequence;
    anyhow::ensure!(last == 0, "stream {stream} already holds {last} events; use a new stream or server");

    let events = generate(&SynthConfig::for_events(wanted));
    println!("publishing {} events to {stream} at {url}", events.len());
    let started = Instant::now();
    let mut acks = futures::stream::FuturesOrdered::new();
    for (i, r) in events.iter().enumerate() {
        let payload = match &r.event {
            AnyEvent::Subscription(e) => e.payload_bytes()?,
            AnyEvent::BaseAddress(e) => e.payload_bytes()?,
        };
        let mut headers = HeaderMap::new();
        r.envelope.to_headers(&mut headers);
        // What the rebuild will read must decode, as the same event. (Not
        // compared field by field: serde_json, without its `float_roundtrip`
        // feature, may read a score back one ULP off.)
        let back = decode_any(&headers, &payload, r.stream_sequence)
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
    let elapsed = started.elapsed();
    println!(
        "published {} events in {elapsed:.2?} ({:.0}/s)",
        events.len(),
        events.len() as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// The synthetic stream's sequence numbers must be the stream's own.
fn check(
    ack: Option<(usize, Result<jetstream::publish::PublishAck, jetstream::context::PublishError>)>,
) -> anyhow::Result<()> {
    if let Some((i, ack)) = ack {
        let ack = ack?;
        anyhow::ensure!(ack.sequence == i as u64 + 1, "event {} stored at sequence {}", i + 1, ack.sequence);
    }
    Ok(())
}
