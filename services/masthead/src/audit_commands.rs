//! The auditors' commands: `masthead audit keygen|export|verify` and
//! `masthead subscriptions erase|personal-data`. The work is in
//! masthead-audit; this prints it.

use crate::commands::bar;
use crate::config::Config;
use crate::system::connect_and_setup;
use anyhow::{Context, Result};
use masthead_audit::export::{export, verify_export, ExportOptions};
use masthead_audit::key::{AuditKey, PublicKeys};
use masthead_audit::live::verify_live;
use masthead_audit::verify::Report;
use masthead_domain::subscription::ErasureReason;
use masthead_jetstream::connect::connect;
use masthead_jetstream::key_vault::KeyVault;
use masthead_jetstream::replay::Until;
use masthead_jetstream::store::EventStore;
use std::path::{Path, PathBuf};

/// `masthead audit keygen DIR`.
pub fn keygen(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = AuditKey::generate();
    key.save(dir)?;
    println!(
        "audit key {} written: {} (private: set MASTHEAD_AUDIT_KEY to it, keep it apart from the NATS credentials) and {} (public: give it to auditors)",
        key.id(),
        dir.join("audit.key").display(),
        dir.join("audit.pub").display()
    );
    Ok(())
}

async fn readers(
    config: &Config,
    first: async_nats::jetstream::Context,
) -> Result<Vec<async_nats::jetstream::Context>> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    let mut readers = vec![first];
    for _ in 1..n {
        let client = connect(&config.nats_settings(None)).await.context("opening another reader connection")?;
        readers.push(async_nats::jetstream::new(client));
    }
    Ok(readers)
}

/// `masthead audit export [--until-seq N | --as-of T] [--out FILE]`.
pub async fn audit_export(config: &Config, until: Until, out: Option<PathBuf>) -> Result<()> {
    let nats = connect_and_setup(config, None).await?;
    let readers = readers(config, nats.js.clone()).await?;
    let progress = bar("  export {bar:40} {pos}/{len} events  {per_sec}  eta {eta}");
    let on_progress = |n, total| {
        progress.set_length(total);
        progress.set_position(n);
    };
    let options = ExportOptions { until, readers: &readers };
    let report = match &out {
        Some(path) => {
            let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
            export(&nats.js, &nats.topology, options, file, on_progress).await
        }
        None => export(&nats.js, &nats.topology, options, std::io::stdout().lock(), on_progress).await,
    };
    progress.finish_and_clear();
    let report = report?;
    let r = &report.replay;
    eprintln!(
        "exported {} events and {} anchors in {:.2} s = {:.0} events/s{}",
        r.events,
        report.anchors,
        r.elapsed.as_secs_f64(),
        r.per_second(),
        out.map_or(String::new(), |p| format!(" to {}", p.display()))
    );
    Ok(())
}

/// `masthead audit verify (FILE | --live) --public-key PEM… [--json]`.
/// Returns whether everything verified (the exit code).
pub async fn audit_verify(config: &Config, file: Option<&Path>, public_keys: &[PathBuf], json: bool) -> Result<bool> {
    let keys = PublicKeys::load(public_keys)?;
    anyhow::ensure!(!keys.is_empty(), "give the audit public key with --public-key FILE (repeat it for rotated keys)");
    let progress = bar("  verify {bar:40} {pos}/{len}  {per_sec}");
    let started = std::time::Instant::now();
    let report: Report = match file {
        Some(path) => {
            let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let reader = std::io::BufReader::with_capacity(1 << 20, f);
            verify_export(reader, &keys, |n| progress.set_position(n))?
        }
        None => {
            let nats = connect_and_setup(config, None).await?;
            let readers = readers(config, nats.js.clone()).await?;
            verify_live(&nats.js, &nats.topology, &keys, &readers, |n, total| {
                progress.set_length(total);
                progress.set_position(n);
            })
            .await?
        }
    };
    progress.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
        let secs = started.elapsed().as_secs_f64();
        eprintln!("{} events in {secs:.2} s = {:.0} events/s", report.events, report.events as f64 / secs.max(1e-9));
    }
    Ok(report.ok)
}

async fn vault_and_store(config: &Config) -> Result<(EventStore, KeyVault)> {
    let nats = connect_and_setup(config, None).await?;
    let vault = KeyVault::open(&nats.js, &nats.topology.keys_bucket()).await.context("opening the key vault")?;
    Ok((EventStore::new(nats.js, nats.topology), vault))
}

/// `masthead subscriptions erase ID [--reason …]`.
pub async fn erase(config: &Config, id: &str, reason: Option<&str>) -> Result<()> {
    let id = uuid::Uuid::parse_str(id).context("the subscription id must be a UUID")?;
    let reason = reason.map(ErasureReason::parse).transpose().map_err(|e| anyhow::anyhow!("--reason: {e}"))?;
    let (store, vault) = vault_and_store(config).await?;
    let erasure = masthead_audit::personal_data::erase(&store, &vault, id, reason).await?;
    if erasure.recorded {
        println!("subscription {id}: personal data erased (data key destroyed, PersonalDataErased recorded)");
    } else {
        println!("subscription {id}: personal data was already erased; nothing to do");
    }
    Ok(())
}

/// `masthead subscriptions personal-data ID`: a subject-access answer.
pub async fn personal_data(config: &Config, id: &str) -> Result<()> {
    let id = uuid::Uuid::parse_str(id).context("the subscription id must be a UUID")?;
    let (store, vault) = vault_and_store(config).await?;
    let answer = masthead_audit::personal_data::subject_access(&store, &vault, id).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// `masthead projections verify [--json]`: replays the stream into a
/// scratch generation up to the live checkpoint and compares. Returns
/// whether they match (the exit code).
pub async fn verify_projections(config: &Config, json: bool) -> Result<bool> {
    use masthead_projections::projector::generations::active_generation;
    use masthead_projections::projector::rebuild::{rebuild, RebuildOptions};
    let nats = connect_and_setup(config, None).await?;
    let location = config.store_location();
    let active = active_generation(&nats.js, &nats.topology, config.projection_generation.as_deref()).await?;
    let live = location.open(&active).await.context("opening the live read models")?;
    let checkpoint = live.checkpoint().await?;
    let readers = readers(config, nats.js.clone()).await?;
    let scratch = format!("verify{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let progress = bar("  replay {bar:40} {pos}/{len} events  {per_sec}");
    let options = RebuildOptions {
        generation: Some(scratch.clone()),
        // The live side's checkpoint: both at the same point of the stream.
        until: Until { sequence: Some(checkpoint), time: None },
        readers: &readers,
        compare_raw: false,
    };
    let built = rebuild(&location, &nats.topology, options, |_, n, total| {
        progress.set_length(total);
        progress.set_position(n);
    })
    .await;
    progress.finish_and_clear();
    built?;
    let expected = location.open(&scratch).await?;
    let differences = masthead_projections::verify::compare(live.as_ref(), expected.as_ref()).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": differences.is_empty(), "generation": active, "checkpoint": checkpoint,
                "scratch_generation": scratch, "differences": differences,
            }))?
        );
    } else {
        for d in &differences {
            match &d.change {
                masthead_projections::verify::Change::Changed { fields } => {
                    println!("changed {} {}: {}", d.collection, d.id, fields.join(", "))
                }
                other => println!("{} {} {}", format!("{other:?}").to_lowercase(), d.collection, d.id),
            }
        }
        println!(
            "{}: generation {active} at sequence {checkpoint} against the history (scratch generation {scratch}): {} difference(s)",
            if differences.is_empty() { "OK" } else { "DIFFERENT" },
            differences.len()
        );
    }
    Ok(differences.is_empty())
}
