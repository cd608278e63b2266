//! Single-threaded match latency (p50/p99 per probe), index build time and
//! resident memory per base address, engine vs baseline in one run.
//!
//! cargo run -p masthead-matching --release --example latency -- --base 90000
//! Options: --base N, --probes N, --baseline-probes N, --seed N

use std::hint::black_box;
use std::time::{Duration, Instant};

use masthead_matching::eval::{build_baseline, generate, GeneratorConfig};
use masthead_matching::{normalize, Canonical, MatchConfig, MatchIndex};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Resident set size in bytes from /proc/self/statm (Linux), 0 elsewhere.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).saturating_sub(1).min(v.len() - 1)];
    (at(0.50), at(0.99), v[v.len() - 1])
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let base_size = arg("--base", 90_000);
    let probes = arg("--probes", 5_000);
    let baseline_probes = arg("--baseline-probes", if base_size > 200_000 { 20 } else { 200 });
    let data =
        generate(&GeneratorConfig { base_size, queries: probes, negative_share: 0.3, seed: arg("--seed", 42) as u64 });
    println!("{} base addresses, {} probes", data.base.len(), data.queries.len());

    // Memory: build with on-the-fly normalisation so only the index stays.
    let rss0 = rss_bytes();
    let t = Instant::now();
    let index = MatchIndex::bulk_build(
        MatchConfig::default(),
        data.base.iter().map(|b| (b.id, normalize(&b.address.as_input()))),
    );
    let build_with_normalise = t.elapsed();
    let rss1 = rss_bytes();
    let per_address = (rss1.saturating_sub(rss0)) as f64 / index.len() as f64;
    println!(
        "index: {} entries, {} streets; RSS delta {:.1} MiB = {:.0} bytes/address",
        index.len(),
        index.street_count(),
        (rss1.saturating_sub(rss0)) as f64 / 1048576.0,
        per_address
    );

    let canon: Vec<Canonical> = data.queries.iter().map(|q| normalize(&q.address.as_input())).collect();
    // Warm-up pass, then measure.
    for c in &canon {
        black_box(index.decide(c));
    }
    let mut decide_only = Vec::with_capacity(canon.len());
    for c in &canon {
        let t = Instant::now();
        black_box(index.decide(black_box(c)));
        decide_only.push(t.elapsed());
    }
    let mut end_to_end = Vec::with_capacity(canon.len());
    for q in &data.queries {
        let t = Instant::now();
        let c = normalize(&q.address.as_input());
        black_box(index.decide(&c));
        end_to_end.push(t.elapsed());
    }
    let (p50, p99, max) = percentiles(decide_only);
    println!("engine decide            p50 {} p99 {} max {}", us(p50), us(p99), us(max));
    let (e50, e99, emax) = percentiles(end_to_end);
    println!("engine normalise+decide  p50 {} p99 {} max {}", us(e50), us(e99), us(emax));

    let baseline = build_baseline(&data.base);
    let mut b = Vec::with_capacity(baseline_probes);
    for q in data.queries.iter().take(baseline_probes) {
        let t = Instant::now();
        black_box(baseline.decide(black_box(&q.address.street)));
        b.push(t.elapsed());
    }
    if !b.is_empty() {
        let (b50, b99, bmax) = percentiles(b);
        println!(
            "baseline decide ({} probes) p50 {} p99 {} max {}  → engine p50 {:.0}× faster, p99 {:.0}× faster",
            baseline_probes,
            us(b50),
            us(b99),
            us(bmax),
            b50.as_secs_f64() / p50.as_secs_f64(),
            b99.as_secs_f64() / p99.as_secs_f64()
        );
    }
    drop(baseline);

    // Build time from already-normalised addresses (what a replay does once
    // canonical forms are stored with the events).
    let items: Vec<_> = data.base.iter().map(|b| (b.id, normalize(&b.address.as_input()))).collect();
    let t = Instant::now();
    let rebuilt = MatchIndex::bulk_build(MatchConfig::default(), items);
    println!(
        "bulk build: {:.2} s from canonical forms, {:.2} s including normalisation ({} entries)",
        t.elapsed().as_secs_f64(),
        build_with_normalise.as_secs_f64(),
        rebuilt.len()
    );
}
