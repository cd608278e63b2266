//! `masthead-bench matching`: single-threaded match latency (p50/p99 per
//! probe, decide alone and normalise + decide), index build time and memory
//! per base address, at each base size — beside the replaced rule (street
//! line similarity over the whole list) on the same probes, in the same run.
//! What the matching crate's latency example and criterion benches measured,
//! as plain timed loops.

use crate::alloc;
use hdrhistogram::Histogram;
use masthead_matching::{normalize, Canonical, MatchConfig, MatchIndex};
use masthead_testdata::addresses::eval::build_baseline;
use masthead_testdata::addresses::{generate, GeneratorConfig};
use std::hint::black_box;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Options {
    /// Base sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "90000,1000000")]
    sizes: Vec<usize>,
    /// Probes (generated queries: 70 % re-typed base addresses, 30 % hard negatives).
    #[arg(long, default_value_t = 5_000)]
    probes: usize,
    /// Probes the replaced rule decides (it scans the whole list per probe).
    /// Default: 200, or 20 above 200 000 addresses.
    #[arg(long)]
    baseline_probes: Option<usize>,
    /// Timed bulk builds from canonical forms per size.
    #[arg(long, default_value_t = 3)]
    build_rounds: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Nanoseconds up to a minute.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

fn record(h: &mut Histogram<u64>, d: Duration) {
    let _ = h.record((d.as_nanos() as u64).max(1));
}

fn us(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1e3)
}

fn row(label: &str, h: &Histogram<u64>) -> String {
    format!(
        "{label:<28} p50 {:>10} p99 {:>10} max {:>10} mean {:>10}  (n={})",
        us(h.value_at_quantile(0.5)),
        us(h.value_at_quantile(0.99)),
        us(h.max()),
        us(h.mean() as u64),
        h.len()
    )
}

/// Resident set size in bytes from /proc/self/statm (Linux), 0 elsewhere.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn label(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1000 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    alloc::start_counting();
    println!("bench matching: sizes {:?}, {} probes, seed {}", options.sizes, options.probes, options.seed);
    for &n in &options.sizes {
        size(options, n);
    }
    Ok(())
}

fn size(options: &Options, base_size: usize) {
    let t = Instant::now();
    let cfg = GeneratorConfig { base_size, queries: options.probes, negative_share: 0.3, seed: options.seed };
    let data = generate(&cfg);
    println!();
    println!(
        "── {} base addresses, {} probes (generated in {:.1} s)",
        data.base.len(),
        data.queries.len(),
        t.elapsed().as_secs_f64()
    );

    // Memory: build with on-the-fly normalisation so only the index stays.
    let (heap0, rss0) = (alloc::live_bytes(), rss_bytes());
    let t = Instant::now();
    let index = MatchIndex::bulk_build(
        MatchConfig::default(),
        data.base.iter().map(|b| (b.id, normalize(&b.address.as_input()))),
    );
    let build_with_normalise = t.elapsed();
    let heap = alloc::live_bytes().saturating_sub(heap0).max(0) as f64;
    let rss = rss_bytes().saturating_sub(rss0) as f64;
    let entries = index.len().max(1) as f64;
    println!(
        "index: {} entries, {} streets; heap {:.1} MiB = {:.0} bytes/address (RSS delta {:.1} MiB = {:.0} bytes/address)",
        index.len(),
        index.street_count(),
        heap / 1048576.0,
        heap / entries,
        rss / 1048576.0,
        rss / entries
    );

    let canon: Vec<Canonical> = data.queries.iter().map(|q| normalize(&q.address.as_input())).collect();
    // Warm-up pass, then measure.
    for c in &canon {
        black_box(index.decide(c));
    }
    let mut decide = histogram();
    for c in &canon {
        let t = Instant::now();
        black_box(index.decide(black_box(c)));
        record(&mut decide, t.elapsed());
    }
    let mut end_to_end = histogram();
    for q in &data.queries {
        let t = Instant::now();
        let c = normalize(&q.address.as_input());
        black_box(index.decide(&c));
        record(&mut end_to_end, t.elapsed());
    }
    println!("{}", row("engine decide", &decide));
    println!("{}", row("engine normalise+decide", &end_to_end));
    drop(index);

    let baseline_probes =
        options.baseline_probes.unwrap_or(if base_size > 200_000 { 20 } else { 200 }).min(data.queries.len());
    let baseline = build_baseline(&data.base);
    let mut b = histogram();
    for q in data.queries.iter().take(baseline_probes) {
        let t = Instant::now();
        black_box(baseline.decide(black_box(&q.address.street)));
        record(&mut b, t.elapsed());
    }
    drop(baseline);
    if !b.is_empty() {
        println!("{}", row(&format!("replaced rule ({baseline_probes} probes)"), &b));
        let ratio = |q: f64| b.value_at_quantile(q) as f64 / decide.value_at_quantile(q).max(1) as f64;
        println!("  → engine decide p50 {:.0}× faster, p99 {:.0}× faster", ratio(0.5), ratio(0.99));
    }

    // Build time from already-normalised addresses (what a replay does once
    // canonical forms are stored with the events), as criterion timed it.
    let items: Vec<(uuid::Uuid, Canonical)> =
        data.base.iter().map(|b| (b.id, normalize(&b.address.as_input()))).collect();
    let mut builds = Vec::new();
    for _ in 0..options.build_rounds.max(1) {
        let items = items.clone();
        let t = Instant::now();
        let built = MatchIndex::bulk_build(MatchConfig::default(), items);
        builds.push(t.elapsed());
        drop(black_box(built));
    }
    let mean = builds.iter().sum::<Duration>() / builds.len() as u32;
    let min = builds.iter().min().copied().unwrap_or_default();
    println!(
        "bulk build: {:.2} s mean, {:.2} s best of {} from canonical forms; {:.2} s including normalisation",
        mean.as_secs_f64(),
        min.as_secs_f64(),
        builds.len(),
        build_with_normalise.as_secs_f64()
    );
    println!(
        "{}: decide p50 {} p99 {} (goal p99 <= {}), build {:.2} s, {:.0} bytes/address",
        label(base_size),
        us(decide.value_at_quantile(0.5)),
        us(decide.value_at_quantile(0.99)),
        if base_size > 200_000 { "2 ms" } else { "0.5 ms" },
        mean.as_secs_f64(),
        heap / entries
    );
}
