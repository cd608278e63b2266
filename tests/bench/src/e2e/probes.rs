//! What the system is made of, measured alone before it starts: the
//! matcher's CPU per decision, and JetStream's import rate and round trips.

use super::workload::Planned;
use crate::nats::delete_everything;
use crate::report::{histogram, record};
use anyhow::{Context, Result};
use futures::StreamExt;
use hdrhistogram::Histogram;
use masthead::config::Config;
use masthead::system::connect_and_setup;
use masthead_addresses::import::{import, ImportOptions, ImportReport};
use masthead_domain::base_address::BaseAddressEvent;
use masthead_domain::envelope::header;
use masthead_jetstream::store::EventStore;
use masthead_matching::normalize;
use masthead_testdata::addresses::eval::build_engine;
use masthead_testdata::addresses::BaseAddress;
use std::time::{Duration, Instant};

/// The matcher's CPU part alone: the same index over the same base list,
/// deciding the steady phase's addresses with no I/O and nothing else
/// running. Returns the build time and per-decision times.
pub fn decide_cpu(
    config: &Config,
    base: &[BaseAddress],
    plan: &[Planned],
) -> Result<(Duration, Duration, Histogram<u64>)> {
    let started = Instant::now();
    let index = build_engine(config.match_config()?, base);
    let build = started.elapsed();
    let mut h = histogram();
    let started = Instant::now();
    for p in plan {
        let probe = normalize(&p.address.as_input());
        let t = Instant::now();
        std::hint::black_box(index.decide(&probe));
        record(&mut h, t.elapsed());
    }
    let mean = started.elapsed() / u32::try_from(plan.len().max(1)).unwrap_or(u32::MAX);
    Ok((build, mean, h))
}

pub struct StoreProbe {
    pub import: ImportReport,
    /// Pipelined publish-with-ack of as many bare messages as the import
    /// had rows, same window: what the import could reach at best here.
    pub raw_per_s: f64,
    pub publish: Histogram<u64>,
    pub direct_get: Histogram<u64>,
    /// `EventStore::load` of an imported address: what the matcher's and
    /// the mailer's loads cost (one get per event plus a not-found get).
    pub load: Histogram<u64>,
}

/// Publishes `count` bare 600-byte messages (about an import event's size)
/// with `window` acks outstanding; returns messages per second.
async fn raw_publish(js: &async_nats::jetstream::Context, prefix: &str, count: u64, window: usize) -> Result<f64> {
    use futures::stream::FuturesUnordered;
    let payload = bytes::Bytes::from(vec![b'x'; 600]);
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    for i in 0..count {
        let ack = js.publish(format!("{prefix}.raw.{i}"), payload.clone()).await?;
        pending.push(std::future::IntoFuture::into_future(ack));
        while pending.len() >= window {
            if let Some(r) = pending.next().await {
                r?;
            }
        }
    }
    while let Some(r) = pending.next().await {
        r?;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// JetStream on its own, before the system starts: the same import into a
/// stream nobody consumes, then one-at-a-time round trips of the two kinds
/// a matcher decision is made of (publish-with-ack, direct get by subject).
pub async fn probe_store(config: &Config, url: &str, csv: &std::path::Path) -> Result<StoreProbe> {
    let mut config = config.clone();
    config.stream = format!("{}PROBE", config.stream);
    let nats = connect_and_setup(&config, Some(url)).await?;
    let result = async {
        let store = EventStore::new(nats.js.clone(), nats.topology.clone());
        let options = ImportOptions::default();
        let import = import(&store, csv, &options, |_| {}).await.context("probe import")?;
        let raw_per_s = raw_publish(&nats.js, &nats.topology.prefix, import.rows, options.in_flight).await?;
        let (mut publish, mut direct_get) = (histogram(), histogram());
        let payload = bytes::Bytes::from(vec![b'x'; 400]);
        let prefix = &nats.topology.prefix;
        for i in 0..1000 {
            let t = Instant::now();
            nats.js.publish(format!("{prefix}.probe.{i}"), payload.clone()).await?.await?;
            record(&mut publish, t.elapsed());
        }
        let stream = nats.js.get_stream_no_info(&nats.topology.stream).await?;
        for i in 0..1000 {
            let t = Instant::now();
            stream.direct_get_next_for_subject(format!("{prefix}.probe.{i}"), None).await?;
            record(&mut direct_get, t.elapsed());
        }
        let mut load = histogram();
        for seq in 1..=import.imported.min(1000) {
            let message = stream.direct_get(seq).await?;
            let Some(id) = message.headers.get(header::AGGREGATE_ID).map(|v| v.as_str().to_owned()) else { continue };
            let t = Instant::now();
            store.load::<BaseAddressEvent>(&id).await?;
            record(&mut load, t.elapsed());
        }
        Ok(StoreProbe { import, raw_per_s, publish, direct_get, load })
    }
    .await;
    delete_everything(&nats).await;
    result
}
