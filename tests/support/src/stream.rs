//! Writing recorded events into a real stream exactly as they are, for
//! tests that need a given history (replays, rebuilds, read models).

use anyhow::{Context, Result};
use async_nats::jetstream;
use async_nats::HeaderMap;
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_jetstream::headers::write_envelope;
use masthead_jetstream::topology::Topology;

/// Publishes `events` in order with their envelopes, waiting for each ack,
/// and returns the stream sequences the server gave them.
pub async fn publish_recorded(
    js: &jetstream::Context,
    topology: &Topology,
    events: &[Recorded<AnyEvent>],
) -> Result<Vec<u64>> {
    let mut sequences = Vec::with_capacity(events.len());
    for r in events {
        let body = r.event.payload_bytes().context("encoding a payload")?;
        let mut headers = HeaderMap::new();
        write_envelope(&r.envelope, &mut headers);
        let subject = topology.subject(&r.envelope.aggregate_type, &r.envelope.aggregate_id);
        let ack = js.publish_with_headers(subject, headers, body.into()).await.context("publishing")?;
        sequences.push(ack.await.context("waiting for the ack")?.sequence);
    }
    Ok(sequences)
}

/// A fresh nats-server with Masthead's stream, buckets and consumers set up
/// under the stream name `stream`: where most event-store tests start.
pub async fn server_with_stream(stream: &str) -> Result<(crate::NatsServer, jetstream::Context, Topology)> {
    let server = crate::NatsServer::start()?;
    let js = jetstream::new(server.client().await?);
    let topology = Topology::new(stream);
    masthead_jetstream::topology::setup(&js, &topology).await.context("setting up the stream")?;
    Ok((server, js, topology))
}
