//! The one-shot commands: set-up, import, rebuild, dead letters and mail
//! resends. Each calls into the library that owns the work and prints what
//! happened; progress bars live here, not in the libraries.

use crate::config::Config;
use crate::system::{connect_and_setup, Nats};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use masthead_addresses::import::{import, ImportOptions, Progress, SameAs};
use masthead_jetstream::connect::connect;
use masthead_jetstream::dead_letter::DeadLetters;
use masthead_jetstream::replay::{ReplayReport, Until};
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::ConsumerRole;
use masthead_projections::projector::rebuild::{rebuild, Pass, RebuildOptions};
use std::path::Path;

pub(crate) fn bar(template: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

/// `masthead setup`.
pub async fn setup(config: &Config) -> Result<()> {
    connect_and_setup(config, None).await?;
    println!("stream {} and its consumers and buckets are in place", config.stream);
    Ok(())
}

/// `masthead addresses import FILE [--strict]`.
pub async fn import_addresses(config: &Config, file: &Path, strict: bool) -> Result<()> {
    let nats = connect_and_setup(config, None).await?;
    let store = EventStore::new(nats.js, nats.topology);
    let progress = bar("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}");
    let options = ImportOptions { strict, ..Default::default() };
    let report = import(&store, file, &options, |p| match p {
        Progress::Started { rows } => progress.set_length(rows),
        Progress::Advanced { rows } => progress.inc(rows),
        Progress::Skipped(e) => progress.suspend(|| eprintln!("skipped {e}")),
    })
    .await;
    progress.finish_and_clear();
    let report = report?;
    println!(
        "{} rows in {:.2} s ({:.0} rows/s): {} imported, {} already present, {} duplicate rows in the file, {} flagged for missing fields, {} skipped",
        report.rows,
        report.elapsed.as_secs_f64(),
        report.rows as f64 / report.elapsed.as_secs_f64().max(1e-9),
        report.imported,
        report.already_present,
        report.duplicates_in_file,
        report.flagged,
        report.skipped.len()
    );
    same_as_lines(&report.duplicate_rows, "the same address as line", " (not imported, nor its ref)");
    if !report.shared_refs.is_empty() {
        println!("{} rows share a ref with an earlier row (both imported):", report.shared_refs.len());
    }
    same_as_lines(&report.shared_refs, "its ref is also on line", "");
    Ok(())
}

/// Lists the first rows of `pairs` as `line N: <what> M<after>`, then how
/// many more there are.
fn same_as_lines(pairs: &[SameAs], what: &str, after: &str) {
    const SHOWN: usize = 20;
    for p in pairs.iter().take(SHOWN) {
        println!("  line {}: {what} {}{after}", p.line, p.earlier_line);
    }
    if pairs.len() > SHOWN {
        println!("  … and {} more", pairs.len() - SHOWN);
    }
}

/// What `masthead projections rebuild` was asked for.
pub struct Rebuild {
    pub until: Until,
    pub generation: Option<String>,
    pub readers: usize,
    pub compare_raw: bool,
}

fn rate(label: &str, r: &ReplayReport) -> String {
    format!("{label} {} events in {:.2} s = {:.0} events/s", r.events, r.elapsed.as_secs_f64(), r.per_second())
}

/// `masthead projections rebuild`.
pub async fn rebuild_projections(config: &Config, request: Rebuild) -> Result<()> {
    let nats = connect_and_setup(config, None).await?;
    let mut readers = vec![nats.js.clone()];
    for _ in 1..request.readers.max(1) {
        let client = connect(&config.nats_settings(None)).await.context("opening another reader connection")?;
        readers.push(async_nats::jetstream::new(client));
    }
    let (read_bar, apply_bar) = (
        bar("    read {bar:40} {pos}/{len} events  {per_sec}"),
        bar(" rebuild {bar:40} {pos}/{len} events  {per_sec}"),
    );
    let options = RebuildOptions {
        generation: request.generation,
        until: request.until,
        readers: &readers,
        compare_raw: request.compare_raw,
    };
    let report = rebuild(&config.store_location(), &nats.topology, options, |pass, n, total| {
        let bar = if pass == Pass::Read { &read_bar } else { &apply_bar };
        bar.set_length(total);
        bar.set_position(n);
    })
    .await;
    read_bar.finish_and_clear();
    apply_bar.finish_and_clear();
    let report = report?;
    if let Some(raw) = &report.raw {
        println!("{} ({} readers)", rate("raw replay:", raw), readers.len());
    }
    let share = report.raw.as_ref().map_or(String::new(), |raw| {
        format!(" ({:.0} % of raw)", 100.0 * report.built.per_second() / raw.per_second().max(1e-9))
    });
    println!(
        "{}{share}, {} undecodable skipped, generation {} at sequence {}",
        rate("rebuild:   ", &report.built),
        report.built.undecodable,
        report.generation,
        report.built.last_sequence
    );
    if report.activated {
        println!(
            "generation {} is now active; running projectors catch it up and readers switch to it",
            report.generation
        );
    } else {
        println!(
            "past view built; query it with: MASTHEAD_PROJECTION_GENERATION={} masthead api --http-addr 127.0.0.1:8081",
            report.generation
        );
    }
    Ok(())
}

async fn dead_letters(nats: &Nats) -> Result<DeadLetters> {
    DeadLetters::open(&nats.js, &nats.topology.dead_letters_bucket()).await.context("opening dead-letter records")
}

fn check_consumer(consumer: Option<&str>) -> Result<()> {
    match consumer {
        Some(c) if ConsumerRole::parse(c).is_none() => {
            bail!("unknown consumer {c:?}: use matcher, projector or mailer")
        }
        _ => Ok(()),
    }
}

/// `masthead dlq list`.
pub async fn dlq_list(config: &Config, consumer: Option<&str>) -> Result<()> {
    check_consumer(consumer)?;
    let nats = connect_and_setup(config, None).await?;
    let letters = dead_letters(&nats).await?.list(consumer).await?;
    if letters.is_empty() {
        println!("no dead letters");
        return Ok(());
    }
    println!("{:<10} {:>10} {:<28} {:>10} {:<8} error", "consumer", "sequence", "event", "deliveries", "replay");
    for l in &letters {
        println!(
            "{:<10} {:>10} {:<28} {:>10} {:<8} {}",
            l.consumer,
            l.stream_sequence,
            l.event_type.as_deref().unwrap_or("(undecodable)"),
            l.deliveries,
            if l.replay_requested { "asked" } else { "-" },
            l.error
        );
    }
    println!("{} dead letter(s)", letters.len());
    Ok(())
}

/// `masthead dlq replay`: flags dead letters; the owning consumer replays them.
pub async fn dlq_replay(config: &Config, consumer: Option<&str>, sequences: &[u64]) -> Result<()> {
    check_consumer(consumer)?;
    let nats = connect_and_setup(config, None).await?;
    let dlq = dead_letters(&nats).await?;
    let letters = dlq.list(consumer).await?;
    let chosen: Vec<_> =
        letters.iter().filter(|l| sequences.is_empty() || sequences.contains(&l.stream_sequence)).collect();
    if chosen.is_empty() {
        bail!("no matching dead letters (see `masthead dlq list`)");
    }
    for l in &chosen {
        dlq.request_replay(&l.consumer, l.stream_sequence).await?;
        println!("replay requested: {} #{}", l.consumer, l.stream_sequence);
    }
    println!("the running {} consumer(s) replay them; `masthead dlq list` shows what is left", chosen.len());
    Ok(())
}

/// `masthead mail resend ID`.
pub async fn mail_resend(config: &Config, subscription_id: &str) -> Result<()> {
    let id = uuid::Uuid::parse_str(subscription_id).context("the subscription id must be a UUID")?;
    let nats = connect_and_setup(config, None).await?;
    masthead_mailer::consumer::request_resend(&nats.js, &nats.topology, id).await?;
    println!("resend requested for subscription {id}; the mailer sends it and records ConfirmationSent");
    Ok(())
}
