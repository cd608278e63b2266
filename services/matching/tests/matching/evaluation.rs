//! Small seeded evaluation that guards precision and recall in CI. The
//! big runs (90k, 1M) live in `examples/evaluate.rs`.

use masthead_matching::MatchConfig;
use masthead_testdata::addresses::eval::{build_engine, evaluate_engine};
use masthead_testdata::addresses::{generate, GeneratorConfig};

#[test]
fn engine_meets_precision_and_recall_goals_on_5k() {
    let data = generate(&GeneratorConfig { base_size: 5_000, queries: 3_000, negative_share: 0.3, seed: 20_240_601 });
    assert_eq!(data.key_collisions, 0, "normalisation merged distinct generated addresses");
    let index = build_engine(MatchConfig::default(), &data.base);
    let (m, breakdown) = evaluate_engine(&index, &data.queries);
    assert!(
        m.precision() >= 0.99 && m.recall() >= 0.97,
        "precision {:.4} recall {:.4} {m:?}\n{:#?}\n{}",
        m.precision(),
        m.recall(),
        breakdown.by_label,
        breakdown.examples.join("\n")
    );
}
