//! Rebuild throughput: applies a synthetic stream to a fresh redb generation
//! in batches, as a replay from sequence 1 would.
//!
//! `cargo run -p masthead-projections --release --example rebuild -- --events 1000000 [--batch 20000] [--durable]`
//!
//! The default batch is the one `masthead projections rebuild` uses; the
//! live projector applies batches of 1 000 (`--batch 1000 --durable`).

use masthead_projections::RedbStore;
use masthead_testdata::events::{generate, SynthConfig};
use std::time::Instant;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let events_wanted = arg("--events", 1_000_000);
    let batch = arg("--batch", 20_000).max(1);
    let durable = std::env::args().any(|a| a == "--durable");

    let t = Instant::now();
    let events = generate(&SynthConfig::for_events(events_wanted));
    let addresses =
        events.iter().filter(|r| matches!(r.event, masthead_events::envelope::AnyEvent::BaseAddress(_))).count();
    println!(
        "generated {} events ({} address registrations, {} subscription events) in {:.2?}",
        events.len(),
        addresses,
        events.len() - addresses,
        t.elapsed()
    );

    let dir = tempfile::tempdir()?;
    let (generation, store) = RedbStore::create_generation(dir.path())?;
    store.set_durable(durable);
    let t = Instant::now();
    let mut applied = 0;
    let mut import_phase = None;
    for chunk in events.chunks(batch) {
        if import_phase.is_none()
            && chunk.iter().any(|r| !matches!(r.event, masthead_events::envelope::AnyEvent::BaseAddress(_)))
        {
            import_phase = Some(t.elapsed());
        }
        let report = store.apply_batch_blocking(chunk)?;
        applied += report.applied;
    }
    store.flush()?;
    let elapsed = t.elapsed();
    if let Some(import) = import_phase {
        let rest = elapsed.saturating_sub(import);
        println!(
            "  import phase: ~{addresses} registrations in {import:.2?} ({:.0}/s); subscription phase: {} events in {rest:.2?} ({:.0}/s)",
            addresses as f64 / import.as_secs_f64(),
            events.len() - addresses,
            (events.len() - addresses) as f64 / rest.as_secs_f64()
        );
    }
    let stats = store.stats_blocking()?;
    let size = std::fs::metadata(store.path())?.len();
    println!(
        "applied {applied} events into gen-{generation} in {elapsed:.2?} (batch {batch}, {}): {:.0} events/s; file {:.0} MiB",
        if durable { "fsync per batch" } else { "rebuild mode: fsync every 64 batches or 500k events, and at the end" },
        events.len() as f64 / elapsed.as_secs_f64(),
        size as f64 / (1024.0 * 1024.0)
    );
    for (table, stored, fragmented) in store.table_sizes()? {
        println!(
            "  {table:<22} {:>8.1} MiB stored, {:>8.1} MiB fragmented",
            stored as f64 / 1048576.0,
            fragmented as f64 / 1048576.0
        );
    }
    println!(
        "stats: {} matched, {} new, {} mail sent, {} failed, checkpoint {}",
        stats.matched, stats.new, stats.mail_sent, stats.mail_failed, stats.last_applied_seq
    );
    Ok(())
}
