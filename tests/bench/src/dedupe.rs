//! `masthead-bench dedupe`: the dedupe scan (`MatchIndex::scan_duplicates`,
//! what `masthead addresses dedupe` runs) over a generated base list that
//! holds a known share of near-duplicates, on 1 thread and on N, beside the
//! bulk build of the same index in the same run.
//!
//! The list: a generated base list, plus re-typed spellings of some of its
//! addresses (the generator's labelled positives: typos, abbreviations,
//! glued words, missing fields) added as addresses of their own — the
//! near-duplicates an import that dedupes exact keys only lets in — and
//! hard negatives (another house number, suffix, unit, sibling street,
//! postal code or town beside a listed address), which must not pair.
//!
//! With `--stream`, the same list is then imported into a fresh stream and
//! dedupe runs as the command runs it (`Curation::dedupe`: the index loaded
//! from the stream, the scan, one review item per pair), timed end to end.

use crate::cpu_meter::CpuMeter;
use crate::nats::{delete_everything, Server};
use crate::report::load_average;
use masthead::config::Config;
use masthead::system::connect_and_setup;
use masthead_addresses::import::{import, ImportOptions};
use masthead_curation::dedupe::DedupeOptions;
use masthead_curation::Curation;
use masthead_jetstream::store::EventStore;
use masthead_matching::matcher::load_address_book;
use masthead_matching::{normalize, Canonical, MatchConfig, MatchIndex, ScanReport};
use masthead_testdata::addresses::{generate, GeneratorConfig, OwnedAddress};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(clap::Args)]
pub struct Options {
    /// Addresses in the list, near-duplicates and look-alikes included.
    #[arg(long, default_value_t = 1_000_000)]
    addresses: usize,
    /// Share of the list that is a re-typed duplicate of another address.
    #[arg(long, default_value_t = 0.02)]
    duplicate_share: f64,
    /// Share of the list that is a look-alike (a hard negative).
    #[arg(long, default_value_t = 0.01)]
    look_alike_share: f64,
    /// Threads of the full-speed scan (the 1-thread scan runs beside it).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also import the list into a fresh stream and run dedupe end to end.
    #[arg(long)]
    stream: bool,
}

/// The generated list with what is known about it.
struct List {
    items: Vec<(Uuid, Canonical)>,
    /// The lines of each item, for the import.
    lines: Vec<OwnedAddress>,
    /// Planted duplicate id → the id it re-types, and how.
    duplicate_of: HashMap<Uuid, (Uuid, String)>,
    look_alikes: HashSet<Uuid>,
}

fn planted_id(i: usize) -> Uuid {
    Uuid::from_u128(0xdd00_0000_0000_0000_0000_0000_0000_0000 | i as u128)
}

fn build_list(o: &Options) -> List {
    let extra = ((o.duplicate_share + o.look_alike_share) * o.addresses as f64).round() as usize;
    let negative_share = o.look_alike_share / (o.duplicate_share + o.look_alike_share).max(f64::EPSILON);
    // More queries than needed: those that normalise to a key already in
    // the list are left out, and the list still reaches `addresses`.
    let queries = extra * 3 / 2;
    let config = GeneratorConfig { base_size: o.addresses - extra, queries, negative_share, seed: o.seed };
    let data = generate(&config);
    let mut keys: HashSet<String> = HashSet::with_capacity(o.addresses);
    let mut items: Vec<(Uuid, Canonical)> = Vec::with_capacity(o.addresses);
    let mut lines = Vec::with_capacity(o.addresses);
    for b in &data.base {
        let c = normalize(&b.address.as_input());
        keys.insert(c.key());
        items.push((b.id, c));
        lines.push(b.address.clone());
    }
    let (mut duplicate_of, mut look_alikes) = (HashMap::new(), HashSet::new());
    for (i, q) in data.queries.iter().enumerate() {
        if items.len() >= o.addresses {
            break;
        }
        let c = normalize(&q.address.as_input());
        // An exact key is deduplicated by the import itself: not a pair
        // for the scan to find.
        if !keys.insert(c.key()) {
            continue;
        }
        let id = planted_id(i);
        match q.expected {
            Some(of) => {
                duplicate_of.insert(id, (of, q.variations.join("+")));
            }
            None => {
                look_alikes.insert(id);
            }
        }
        items.push((id, c));
        lines.push(q.address.clone());
    }
    List { items, lines, duplicate_of, look_alikes }
}

/// The scan, its wall time and the CPU time this process spent on it.
fn scan(index: &MatchIndex, threads: usize) -> (ScanReport, Duration, Option<Duration>) {
    let (started, meter) = (Instant::now(), CpuMeter::start(None, None));
    let report = index.scan_duplicates(threads, &|_, _| {});
    (report, started.elapsed(), meter.stop().process)
}

pub async fn run(shared: Option<String>, o: &Options) -> anyhow::Result<()> {
    let list = tokio::task::block_in_place(|| scan_only(o))?;
    if o.stream {
        end_to_end(shared, o, &list).await?;
    }
    Ok(())
}

fn scan_only(o: &Options) -> anyhow::Result<List> {
    let started = Instant::now();
    let list = build_list(o);
    println!(
        "list: {} addresses ({} planted near-duplicates, {} look-alikes), generated and normalised in {:.1} s",
        list.items.len(),
        list.duplicate_of.len(),
        list.look_alikes.len(),
        started.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let index = MatchIndex::bulk_build(MatchConfig::default(), list.items.iter().cloned());
    let build = t.elapsed();
    println!("baseline: index bulk build (from canonical forms) {:.2} s", build.as_secs_f64());

    println!("load average before the scans: {}", load_average());
    let (one, one_time, one_cpu) = scan(&index, 1);
    let (many, many_time, many_cpu) = scan(&index, o.threads);
    anyhow::ensure!(one == many, "the scans on 1 and {} threads disagree", o.threads);
    let rate = |d: Duration| index.len() as f64 / d.as_secs_f64().max(1e-9);
    let runs = [("1 thread".to_owned(), one_time, one_cpu), (format!("{} threads", o.threads), many_time, many_cpu)];
    for (label, d, cpu) in runs {
        let cpu = cpu.unwrap_or_default().as_secs_f64();
        println!(
            "scan, {label:<10} {:>7.2} s  {:>9.0} addresses/s  {:>8.0} pairs/s  ({:.2}× the build; CPU {cpu:.1} s = {:.2} cores busy)",
            d.as_secs_f64(),
            rate(d),
            many.pairs.len() as f64 / d.as_secs_f64().max(1e-9),
            d.as_secs_f64() / build.as_secs_f64().max(1e-9),
            cpu / d.as_secs_f64().max(1e-9)
        );
    }
    println!("load average after the scans: {}", load_average());
    println!("speed-up on {} threads: {:.2}×", o.threads, one_time.as_secs_f64() / many_time.as_secs_f64().max(1e-9));
    quality(&list, &many);
    Ok(list)
}

/// The list imported into a fresh stream, then dedupe as the command runs it.
async fn end_to_end(shared: Option<String>, o: &Options, list: &List) -> anyhow::Result<()> {
    let server = Server::shared_or_local(shared)?;
    let dir = tempfile::tempdir()?;
    let csv = dir.path().join("base.csv");
    let mut w = csv::Writer::from_path(&csv)?;
    w.write_record(["ref", "street", "postal_code", "city", "country"])?;
    for a in &list.lines {
        w.write_record(["", &a.street, &a.postal_code, &a.city, &a.country])?;
    }
    w.flush()?;
    let config = Config::for_nats(&server.url, dir.path(), &format!("BENCHDEDUPE{}", std::process::id()));
    let nats = connect_and_setup(&config, None).await?;
    let store = EventStore::new(nats.js.clone(), nats.topology.clone());
    let result = async {
        let t = Instant::now();
        let imported = import(&store, &csv, &ImportOptions::default(), |_| {}).await?;
        println!("stream: {} rows imported in {:.1} s", imported.imported, t.elapsed().as_secs_f64());
        let (t, shutdown) = (Instant::now(), CancellationToken::new());
        let book = load_address_book(&nats.js, &nats.topology, MatchConfig::default(), &shutdown).await?;
        let load = t.elapsed();
        let curation = Curation::new(store.clone(), book);
        let options = DedupeOptions { threads: o.threads, ..Default::default() };
        let report = curation.dedupe(&options, |_| {}).await?;
        shutdown.cancel();
        let total = load + report.elapsed;
        println!(
            "dedupe end to end: {:.1} s = index loaded from the stream {:.1} s + scan {:.1} s + {} review items queued in {:.1} s ({} pairs, {} addresses)",
            total.as_secs_f64(),
            load.as_secs_f64(),
            report.scan_elapsed.as_secs_f64(),
            report.queued,
            (report.elapsed - report.scan_elapsed).as_secs_f64(),
            report.pairs,
            report.addresses
        );
        anyhow::Ok(())
    }
    .await;
    delete_everything(&nats).await;
    result
}

/// How many planted duplicates the scan paired with their original, and
/// how many look-alikes it paired with anything.
fn quality(list: &List, report: &ScanReport) {
    let pairs: HashSet<(Uuid, Uuid)> =
        report.pairs.iter().flat_map(|p| [(p.first, p.second), (p.second, p.first)]).collect();
    let found = list.duplicate_of.iter().filter(|(d, (of, _))| pairs.contains(&(**d, *of))).count();
    let mut missed: HashMap<&str, (usize, usize)> = HashMap::new();
    for (d, (of, how)) in &list.duplicate_of {
        let e = missed.entry(how.as_str()).or_default();
        e.1 += 1;
        e.0 += usize::from(!pairs.contains(&(*d, *of)));
    }
    let mut missed: Vec<(&str, (usize, usize))> = missed.into_iter().filter(|(_, (m, _))| *m > 0).collect();
    missed.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    let look_alikes = report
        .pairs
        .iter()
        .filter(|p| list.look_alikes.contains(&p.first) || list.look_alikes.contains(&p.second))
        .count();
    println!(
        "pairs found: {} ({} of {} planted near-duplicates = {:.1} %; {} pairs with a look-alike among {} look-alikes)",
        report.pairs.len(),
        found,
        list.duplicate_of.len(),
        100.0 * found as f64 / list.duplicate_of.len().max(1) as f64,
        look_alikes,
        list.look_alikes.len()
    );
    let top: Vec<String> = missed.iter().take(8).map(|(how, (m, n))| format!("{how} {m}/{n}")).collect();
    println!("missed near-duplicates by how they were re-typed (missed/planted): {}", top.join(", "));
}
