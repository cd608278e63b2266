//! Precision/recall of the engine and the baseline on the same generated
//! queries.
//!
//! cargo run -p masthead-matching --release --example evaluate -- --base 90000
//! Options: --base N, --queries N, --seed N, --baseline-queries N
//! (baseline is O(base) per query; it runs on the first N queries and the
//! engine is reported on that same subset too), --sweep (threshold table),
//! --errors (print failing queries).

use std::time::Instant;

use masthead_matching::eval::{
    best_candidates, build_baseline, build_engine, evaluate_baseline, evaluate_engine, generate, sweep,
    GeneratorConfig, Metrics,
};
use masthead_matching::MatchConfig;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn line(name: &str, m: &Metrics) {
    println!(
        "{name:<34} P={:.4} R={:.4} F1={:.4}  (tp {} fp {} fn {} tn {} wrong-base {})",
        m.precision(),
        m.recall(),
        m.f1(),
        m.tp,
        m.fp,
        m.fn_,
        m.tn,
        m.wrong_base
    );
}

fn main() {
    let base_size = arg("--base", 90_000);
    let cfg = GeneratorConfig {
        base_size,
        queries: arg("--queries", 10_000),
        negative_share: 0.3,
        seed: arg("--seed", 42) as u64,
    };
    let t = Instant::now();
    let data = generate(&cfg);
    println!(
        "generated {} base addresses, {} queries (seed {}) in {:.1}s; normalisation key collisions: {}",
        data.base.len(),
        data.queries.len(),
        cfg.seed,
        t.elapsed().as_secs_f64(),
        data.key_collisions
    );

    let t = Instant::now();
    let engine = build_engine(MatchConfig::default(), &data.base);
    println!(
        "engine index: {} entries, {} streets, normalise+build {:.2}s",
        engine.len(),
        engine.street_count(),
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let (m, breakdown) = evaluate_engine(&engine, &data.queries);
    println!("engine evaluated in {:.2}s", t.elapsed().as_secs_f64());
    line(&format!("engine (all {} queries)", data.queries.len()), &m);

    let default_bq = if base_size > 200_000 { 300 } else { data.queries.len() };
    let bq = arg("--baseline-queries", default_bq).min(data.queries.len());
    let subset = &data.queries[..bq];
    let baseline = build_baseline(&data.base);
    let t = Instant::now();
    let b = evaluate_baseline(&baseline, subset);
    println!("baseline evaluated {} queries in {:.1}s", bq, t.elapsed().as_secs_f64());
    let (es, _) = evaluate_engine(&engine, subset);
    line(&format!("engine (same {bq} queries)"), &es);
    line(&format!("baseline (same {bq} queries)"), &b);

    println!("\nengine errors by positive variation / negative kind (queries, errors):");
    for (label, (n, e)) in &breakdown.by_label {
        println!("  {label:<18} {n:>6} {e:>5}");
    }
    if flag("--errors") {
        for e in &breakdown.examples {
            println!("{e}");
        }
    }
    if flag("--sweep") {
        let best = best_candidates(&engine, &data.queries);
        let thresholds: Vec<f64> = (60..=100).step_by(2).map(f64::from).collect();
        println!("\nthreshold sweep (engine, all queries):");
        for (t, m) in sweep(&data.queries, &best, &thresholds) {
            println!("  {t:>5.1}  P={:.4} R={:.4} F1={:.4} fp={}", m.precision(), m.recall(), m.f1(), m.fp);
        }
    }
}
