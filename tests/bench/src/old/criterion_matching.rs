//! Criterion benchmarks: engine match latency, bulk build, and the
//! baseline's latency, at 90k and 1M base addresses.
//!
//! `MASTHEAD_BENCH_SIZES=90000` limits the sizes (comma-separated).
//! p50/p99 per probe: `examples/latency.rs`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use masthead_matching::eval::{build_baseline, generate, GeneratorConfig};
use masthead_matching::{normalize, Canonical, MatchConfig, MatchIndex};
use uuid::Uuid;

fn sizes() -> Vec<usize> {
    std::env::var("MASTHEAD_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![90_000, 1_000_000])
}

fn label(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    }
}

fn bench(c: &mut Criterion) {
    for n in sizes() {
        let data = generate(&GeneratorConfig { base_size: n, queries: 2_000, negative_share: 0.3, seed: 42 });
        let items: Vec<(Uuid, Canonical)> =
            data.base.iter().map(|b| (b.id, normalize(&b.address.as_input()))).collect();
        let index = MatchIndex::bulk_build(MatchConfig::default(), items.clone());
        let probes: Vec<Canonical> = data.queries.iter().map(|q| normalize(&q.address.as_input())).collect();

        let mut g = c.benchmark_group(format!("engine/{}", label(n)));
        let mut i = 0;
        g.bench_function("decide", |b| {
            b.iter(|| {
                i = (i + 1) % probes.len();
                black_box(index.decide(black_box(&probes[i])))
            })
        });
        let mut j = 0;
        g.bench_function("normalise+decide", |b| {
            b.iter(|| {
                j = (j + 1) % data.queries.len();
                let c = normalize(&data.queries[j].address.as_input());
                black_box(index.decide(&c))
            })
        });
        g.sample_size(10);
        g.bench_function("bulk_build", |b| {
            b.iter_batched(
                || items.clone(),
                |items| black_box(MatchIndex::bulk_build(MatchConfig::default(), items)),
                BatchSize::PerIteration,
            )
        });
        g.finish();
        drop(index);

        let baseline = build_baseline(&data.base);
        let mut g = c.benchmark_group(format!("baseline/{}", label(n)));
        g.sample_size(10);
        let mut k = 0;
        g.bench_function("decide", |b| {
            b.iter(|| {
                k = (k + 1) % data.queries.len();
                black_box(baseline.decide(black_box(&data.queries[k].address.street)))
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
