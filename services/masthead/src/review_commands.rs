//! The review queue's one-shot commands: `masthead addresses dedupe` and
//! `masthead reviews export`. The work is in `masthead-curation`; this file
//! loads what it needs, draws the progress bars and prints the summary.

use crate::commands::bar;
use crate::config::Config;
use crate::system::connect_and_setup;
use anyhow::{Context, Result};
use masthead_curation::dedupe::{DedupeOptions, DedupeProgress};
use masthead_curation::export::export_reviews;
use masthead_curation::Curation;
use masthead_jetstream::store::EventStore;
use masthead_matching::matcher::load_address_book;
use std::io::Write;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

pub use masthead_curation::dedupe::parse_probability;

/// `masthead addresses dedupe [--merge-above P]`.
pub async fn dedupe(config: &Config, merge_above: Option<f64>) -> Result<()> {
    let nats = connect_and_setup(config, None).await?;
    let shutdown = CancellationToken::new();
    let started = std::time::Instant::now();
    let book = load_address_book(&nats.js, &nats.topology, config.match_config()?, &shutdown)
        .await
        .context("loading the base addresses")?;
    eprintln!("{} base addresses loaded in {:.1} s", book.len(), started.elapsed().as_secs_f64());
    let curation = Curation::new(EventStore::new(nats.js.clone(), nats.topology.clone()), book);
    let scan = bar("    scan {bar:40} {pos}/{len} addresses  {per_sec}  eta {eta}");
    let write = bar("   queue {bar:40} {pos}/{len} pairs  {per_sec}");
    let (s, w) = (scan.clone(), write.clone());
    let options = DedupeOptions { merge_above, ..Default::default() };
    let report = curation
        .dedupe(&options, move |p| match p {
            DedupeProgress::Scanning { done, total } => {
                s.set_length(total as u64);
                s.set_position(done as u64);
            }
            DedupeProgress::Writing { done, total } => {
                w.set_length(total as u64);
                w.set_position(done as u64);
            }
        })
        .await;
    scan.finish_and_clear();
    write.finish_and_clear();
    shutdown.cancel();
    let r = report.context("dedupe")?;
    println!(
        "{} addresses scanned in {:.1} s: {} pairs found, {} queued, {} already queued, {} merged, {} skipped as distinct",
        r.addresses,
        r.scan_elapsed.as_secs_f64(),
        r.pairs,
        r.queued,
        r.already_queued,
        r.merged,
        r.skipped_distinct
    );
    if r.skipped_merged + r.merge_refused > 0 {
        println!(
            "{} pairs skipped because a side was merged in this run (the next run pairs its survivor), {} merges refused",
            r.skipped_merged, r.merge_refused
        );
    }
    Ok(())
}

/// `masthead reviews export [--out FILE]`.
pub async fn export(config: &Config, out: Option<PathBuf>) -> Result<()> {
    let nats = connect_and_setup(config, None).await?;
    let mut writer: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let progress = bar("    read {bar:40} {pos}/{len} events  {per_sec}");
    let report = export_reviews(&nats.js, &nats.topology, &mut writer, |n, total| {
        progress.set_length(total);
        progress.set_position(n);
    })
    .await;
    progress.finish_and_clear();
    let r = report.context("exporting the decided reviews")?;
    eprintln!(
        "{} decided review items: {} labelled pairs ({} match, {} distinct){}",
        r.decided_items,
        r.pairs,
        r.matches,
        r.distinct,
        if r.incomplete > 0 {
            format!(", {} left out (an address never registered)", r.incomplete)
        } else {
            String::new()
        }
    );
    Ok(())
}
