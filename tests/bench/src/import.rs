//! `masthead-bench import`: `masthead addresses import` of a generated base
//! list, beside the honest ceiling measured on the same server in the same
//! run: the very messages the import publishes (same subjects, headers and
//! payloads), encoded beforehand and published with the same ack window, so
//! that only the publishing is timed.
//!
//! Each round uses fresh streams. The rerun of the same file into the
//! imported stream shows idempotency (nothing added) and its rate.

use crate::cpu_meter::{us_per, CpuMeter, Spent};
use crate::nats::{delete_everything, Server};
use crate::report::load_average;
use anyhow::{bail, Context, Result};
use futures::stream::{FuturesUnordered, StreamExt};
use masthead::config::Config;
use masthead::system::{connect_and_setup, Nats};
use masthead_addresses::import::{self, ImportOptions, ImportReport};
use masthead_jetstream::store::EventStore;
use masthead_testdata::addresses::{generate, GeneratorConfig};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Options {
    /// Rows to generate (ignored with `file`).
    pub rows: usize,
    /// Import this file instead of a generated one.
    pub file: Option<PathBuf>,
    pub seed: u64,
    /// Acks awaited at once, by the import and the ceiling alike.
    pub in_flight: usize,
    /// The import's preparing threads.
    pub workers: usize,
    pub rounds: usize,
    /// Also publish stripped variants of the messages, to show what each
    /// part costs the server.
    pub breakdown: bool,
}

/// "cpu client 12.3 + server 20.1 µs/row"
fn per_row(cpu: Spent, rows: usize) -> String {
    let us = |d| us_per(d, rows as u64).map_or("?".into(), |us| format!("{us:.1}"));
    format!("cpu client {} + server {} µs/row", us(cpu.process), us(cpu.nats))
}

/// A seeded base list as the matching crate's evaluation generates it:
/// several countries, typed variants of street types, house-number forms.
fn write_generated(path: &Path, rows: usize, seed: u64) -> Result<usize> {
    let data = generate(&GeneratorConfig { base_size: rows, queries: 0, negative_share: 0.0, seed });
    crate::report::write_base_csv(path, &data.base)?;
    Ok(data.base.len())
}

/// Publishes already encoded messages with `window` acks outstanding;
/// returns messages per second. Every ack must be a new message.
async fn publish_encoded(
    js: &async_nats::jetstream::Context,
    messages: Vec<import::Outgoing>,
    window: usize,
    server_pid: Option<u32>,
) -> Result<(f64, Spent)> {
    let count = messages.len();
    let meter = CpuMeter::start(server_pid, None);
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let check = |r: Result<async_nats::jetstream::publish::PublishAck, _>| -> Result<()> {
        let ack = r.context("ceiling publish")?;
        if ack.duplicate {
            bail!("ceiling publish: unexpected duplicate at sequence {}", ack.sequence);
        }
        Ok(())
    };
    for m in messages {
        let ack = js.publish_with_headers(m.subject, m.headers, m.payload).await?;
        pending.push(std::future::IntoFuture::into_future(ack));
        while pending.len() >= window {
            if let Some(r) = pending.next().await {
                check(r)?;
            }
        }
    }
    while let Some(r) = pending.next().await {
        check(r)?;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64().max(1e-9);
    Ok((rate, meter.stop()))
}

struct Round {
    ceiling: f64,
    ceiling_cpu: Spent,
    ceiling_rows: usize,
    import: ImportReport,
    import_cpu: Spent,
    rerun: ImportReport,
}

fn rate(r: &ImportReport) -> f64 {
    r.rows as f64 / r.elapsed.as_secs_f64().max(1e-9)
}

async fn fresh(config: &Config, url: &str, name: &str) -> Result<(Nats, EventStore)> {
    let mut config = config.clone();
    config.stream = name.to_owned();
    let nats = connect_and_setup(&config, Some(url)).await?;
    // A leftover from an interrupted run would turn the import into a rerun.
    delete_everything(&nats).await;
    let nats = connect_and_setup(&config, Some(url)).await?;
    let store = EventStore::new(nats.js.clone(), nats.topology.clone());
    Ok((nats, store))
}

async fn round(
    config: &Config,
    url: &str,
    csv: &Path,
    options: &Options,
    n: usize,
    server_pid: Option<u32>,
) -> Result<Round> {
    let pid = std::process::id();
    let import_options = ImportOptions { in_flight: options.in_flight, workers: options.workers, ..Default::default() };

    let (nats, store) = fresh(config, url, &format!("BENCHIMPC{pid}R{n}")).await?;
    let result = async {
        let messages = tokio::task::block_in_place(|| import::encode_file(&store, csv))?;
        let rows = messages.len();
        let (rate, cpu) = publish_encoded(&nats.js, messages, options.in_flight, server_pid).await?;
        anyhow::Ok((rate, cpu, rows))
    }
    .await;
    delete_everything(&nats).await;
    let (ceiling, ceiling_cpu, ceiling_rows) = result?;

    let (nats, store) = fresh(config, url, &format!("BENCHIMPI{pid}R{n}")).await?;
    let result = async {
        let meter = CpuMeter::start(server_pid, None);
        let first = import::import(&store, csv, &import_options, |_| {}).await?;
        let cpu = meter.stop();
        let rerun = import::import(&store, csv, &import_options, |_| {}).await?;
        anyhow::Ok((first, cpu, rerun))
    }
    .await;
    delete_everything(&nats).await;
    let (import, import_cpu, rerun) = result?;
    if rerun.imported != 0 {
        bail!("the rerun of the same file imported {} rows: the import is not idempotent", rerun.imported);
    }
    Ok(Round { ceiling, ceiling_cpu, ceiling_rows, import, import_cpu, rerun })
}

/// The import's messages with some headers left out, or to one subject.
fn variant(messages: &[import::Outgoing], drop: &[&str], one_subject: bool, tiny: bool) -> Vec<import::Outgoing> {
    messages
        .iter()
        .map(|m| {
            let mut headers = async_nats::HeaderMap::new();
            for (k, vs) in m.headers.iter() {
                let name: &str = k.as_ref();
                if !drop.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                    for v in vs {
                        headers.insert(name, v.as_str());
                    }
                }
            }
            let subject = if one_subject {
                let mut s = m.subject.clone();
                s.truncate(s.rfind('.').unwrap_or(s.len()));
                s + ".same"
            } else {
                m.subject.clone()
            };
            let payload = if tiny { bytes::Bytes::from_static(b"{}") } else { m.payload.clone() };
            import::Outgoing { subject, headers, payload }
        })
        .collect()
}

async fn breakdown(config: &Config, url: &str, csv: &Path, window: usize, server_pid: Option<u32>) -> Result<()> {
    use masthead_domain::envelope::header;
    let pid = std::process::id();
    let all_envelope = [
        header::EVENT_TYPE,
        header::SCHEMA_VERSION,
        header::AGGREGATE_TYPE,
        header::AGGREGATE_ID,
        header::AGGREGATE_VERSION,
        header::EVENT_ID,
        header::OCCURRED_AT,
        header::CORRELATION_ID,
    ];
    let every_header = [&all_envelope[..], &[header::MSG_ID, header::EXPECTED_LAST_SUBJECT_SEQUENCE]].concat();
    let cases: Vec<(&str, Vec<&str>, bool, bool)> = vec![
        ("as imported", vec![], false, false),
        ("without Nats-Msg-Id", vec![header::MSG_ID], false, false),
        ("without expected sequence", vec![header::EXPECTED_LAST_SUBJECT_SEQUENCE], false, false),
        ("without both", vec![header::MSG_ID, header::EXPECTED_LAST_SUBJECT_SEQUENCE], false, false),
        ("envelope headers only dropped", all_envelope.to_vec(), false, false),
        ("no headers", every_header.clone(), false, false),
        ("no headers, one subject", every_header.clone(), true, false),
        ("no headers, payload {}", every_header, false, true),
    ];
    for (i, (name, drop, one, tiny)) in cases.into_iter().enumerate() {
        let (nats, store) = fresh(config, url, &format!("BENCHIMPB{pid}V{i}")).await?;
        let result = async {
            let messages = tokio::task::block_in_place(|| import::encode_file(&store, csv))?;
            let messages = variant(&messages, &drop, one, tiny);
            let rows = messages.len();
            let (rate, cpu) = publish_encoded(&nats.js, messages, window, server_pid).await?;
            anyhow::Ok((rate, cpu, rows))
        }
        .await;
        delete_everything(&nats).await;
        let (rate, cpu, rows) = result?;
        println!("  breakdown: {name:<32} {rate:>7.0} msgs/s  {}  load {}", per_row(cpu, rows), load_average());
    }
    Ok(())
}

pub async fn run(shared: Option<String>, options: Options) -> Result<()> {
    let server = Server::shared_or_local(shared)?;
    let (url, server_pid) = (server.url.clone(), server.pid());
    let dir = tempfile::tempdir()?;
    let config = &Config::for_nats(&url, dir.path(), "BENCHIMP");
    let csv = match &options.file {
        Some(f) => f.clone(),
        None => {
            let path = dir.path().join("base.csv");
            let t = Instant::now();
            let rows = write_generated(&path, options.rows, options.seed)?;
            println!("generated {rows} rows (seed {}) in {:.1} s", options.seed, t.elapsed().as_secs_f64());
            path
        }
    };
    println!(
        "bench import: {}, window {}, {} workers, {} rounds, nats {}, load average before: {}",
        csv.display(),
        options.in_flight,
        options.workers,
        options.rounds,
        server.describe(),
        load_average()
    );
    if options.breakdown {
        breakdown(config, &url, &csv, options.in_flight, server_pid).await?;
    }
    let mut rounds = Vec::new();
    for n in 0..options.rounds {
        let r = round(config, &url, &csv, &options, n, server_pid).await?;
        println!(
            "  round {}: import {:>6.0} rows/s ({} rows in {:.2} s: {} imported, {} duplicate rows, {} flagged, {} skipped; {})",
            n + 1,
            rate(&r.import),
            r.import.rows,
            r.import.elapsed.as_secs_f64(),
            r.import.imported,
            r.import.duplicates_in_file,
            r.import.flagged,
            r.import.skipped.len(),
            per_row(r.import_cpu, r.import.rows as usize),
        );
        println!(
            "           ceiling {:>6.0} msgs/s ({})   import/ceiling {:.1} %   rerun {:.0} rows/s, {} already present, 0 added   load {}",
            r.ceiling,
            per_row(r.ceiling_cpu, r.ceiling_rows),
            100.0 * rate(&r.import) / r.ceiling.max(1e-9),
            rate(&r.rerun),
            r.rerun.already_present,
            load_average()
        );
        rounds.push(r);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let import = median(rounds.iter().map(|r| rate(&r.import)).collect());
    let ceiling = median(rounds.iter().map(|r| r.ceiling).collect());
    let ratio = median(rounds.iter().map(|r| rate(&r.import) / r.ceiling.max(1e-9)).collect());
    println!(
        "median: import {import:.0} rows/s (goal >= 50000), ceiling {ceiling:.0} msgs/s, import/ceiling {:.1} %, load average after: {}",
        100.0 * ratio,
        load_average()
    );
    Ok(())
}
