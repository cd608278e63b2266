//! `masthead-bench match-eval`: precision and recall of the engine and of
//! the replaced rule (the baseline) on the same generated queries.
//!
//! The baseline is O(base) per query; it runs on the first
//! `--baseline-queries` queries and the engine is reported on that same
//! subset too. `--sweep` prints a threshold table, `--errors` failing
//! queries.

use std::time::Instant;

use masthead_matching::MatchConfig;
use masthead_testdata::addresses::eval::{
    best_candidates, build_baseline, build_engine, evaluate_baseline, evaluate_engine, sweep, Metrics,
};
use masthead_testdata::addresses::{generate, GeneratorConfig};

#[derive(clap::Args)]
pub struct Options {
    /// Base addresses.
    #[arg(long, default_value_t = 90_000)]
    base: usize,
    /// Labelled queries.
    #[arg(long, default_value_t = 10_000)]
    queries: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Queries the baseline decides. Default: all, or 300 above 200 000 addresses.
    #[arg(long)]
    baseline_queries: Option<usize>,
    /// Also print precision and recall at thresholds 60–100.
    #[arg(long)]
    sweep: bool,
    /// Also print failing queries.
    #[arg(long)]
    errors: bool,
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

pub fn run(options: &Options) -> anyhow::Result<()> {
    let base_size = options.base;
    let cfg = GeneratorConfig { base_size, queries: options.queries, negative_share: 0.3, seed: options.seed };
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
    let bq = options.baseline_queries.unwrap_or(default_bq).min(data.queries.len());
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
    if options.errors {
        for e in &breakdown.examples {
            println!("{e}");
        }
    }
    if options.sweep {
        let best = best_candidates(&engine, &data.queries);
        let thresholds: Vec<f64> = (60..=100).step_by(2).map(f64::from).collect();
        println!("\nthreshold sweep (engine, all queries):");
        for (t, m) in sweep(&data.queries, &best, &thresholds) {
            println!("  {t:>5.1}  P={:.4} R={:.4} F1={:.4} fp={}", m.precision(), m.recall(), m.f1(), m.fp);
        }
    }
    Ok(())
}
