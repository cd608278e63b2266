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

use masthead_matching::{normalize, Canonical, MatchConfig, MatchIndex, ScanReport};
use masthead_testdata::addresses::{generate, GeneratorConfig};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
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
}

/// The generated list with what is known about it.
struct List {
    items: Vec<(Uuid, Canonical)>,
    /// Planted duplicate id → the id it re-types.
    duplicate_of: HashMap<Uuid, Uuid>,
    look_alikes: HashSet<Uuid>,
}

fn planted_id(i: usize) -> Uuid {
    Uuid::from_u128(0xdd00_0000_0000_0000_0000_0000_0000_0000 | i as u128)
}

fn build_list(o: &Options) -> List {
    let extra = ((o.duplicate_share + o.look_alike_share) * o.addresses as f64).round() as usize;
    let negative_share = o.look_alike_share / (o.duplicate_share + o.look_alike_share).max(f64::EPSILON);
    let config = GeneratorConfig { base_size: o.addresses - extra, queries: extra, negative_share, seed: o.seed };
    let data = generate(&config);
    let mut keys: HashSet<String> = HashSet::with_capacity(o.addresses);
    let mut items: Vec<(Uuid, Canonical)> = Vec::with_capacity(o.addresses);
    for b in &data.base {
        let c = normalize(&b.address.as_input());
        keys.insert(c.key());
        items.push((b.id, c));
    }
    let (mut duplicate_of, mut look_alikes) = (HashMap::new(), HashSet::new());
    for (i, q) in data.queries.iter().enumerate() {
        let c = normalize(&q.address.as_input());
        // An exact key is deduplicated by the import itself: not a pair
        // for the scan to find.
        if !keys.insert(c.key()) {
            continue;
        }
        let id = planted_id(i);
        match q.expected {
            Some(of) => duplicate_of.insert(id, of),
            None => look_alikes.insert(id).then_some(id),
        };
        items.push((id, c));
    }
    List { items, duplicate_of, look_alikes }
}

fn scan(index: &MatchIndex, threads: usize) -> (ScanReport, Duration) {
    let started = Instant::now();
    let report = index.scan_duplicates(threads, &|_, _| {});
    (report, started.elapsed())
}

pub fn run(o: &Options) -> anyhow::Result<()> {
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

    let (one, one_time) = scan(&index, 1);
    let (many, many_time) = scan(&index, o.threads);
    anyhow::ensure!(one == many, "the scans on 1 and {} threads disagree", o.threads);
    let rate = |d: Duration| index.len() as f64 / d.as_secs_f64().max(1e-9);
    for (label, d) in [("1 thread".to_owned(), one_time), (format!("{} threads", o.threads), many_time)] {
        println!(
            "scan, {label:<10} {:>7.2} s  {:>9.0} addresses/s  {:>8.0} pairs/s  ({:.2}× the build)",
            d.as_secs_f64(),
            rate(d),
            many.pairs.len() as f64 / d.as_secs_f64().max(1e-9),
            d.as_secs_f64() / build.as_secs_f64().max(1e-9)
        );
    }
    println!("speed-up on {} threads: {:.2}×", o.threads, one_time.as_secs_f64() / many_time.as_secs_f64().max(1e-9));
    quality(&list, &many);
    Ok(())
}

/// How many planted duplicates the scan paired with their original, and
/// how many look-alikes it paired with anything.
fn quality(list: &List, report: &ScanReport) {
    let pairs: HashSet<(Uuid, Uuid)> =
        report.pairs.iter().flat_map(|p| [(p.first, p.second), (p.second, p.first)]).collect();
    let found = list.duplicate_of.iter().filter(|(d, of)| pairs.contains(&(**d, **of))).count();
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
}
