//! `masthead-bench blind`: the engine on address sets written by someone
//! who never read it (`tests/eval/blind`), beside the replaced rule and a
//! peer's predictions (Splink, `tests/eval/splink`) on the same queries.
//!
//! A set is a directory with `base.csv` (`id,ref,street,postal_code,city,
//! country`) and `queries.csv` (`qid,street,postal_code,city,country,truth,
//! class`; `truth` is a base id or `NEW`). Base rows go through the
//! import's own row check and queries through intake's country parsing, so
//! a country name the system would refuse counts as a miss here too.
//!
//! A `masthead reviews export` file (`*.jsonl`) is a set too: the team's
//! decided pairs (see `review_set.rs`).
//!
//! `--calibrate DIR` estimates the model's `m` and prior on that set's
//! labels and picks the thresholds there; every `--report DIR` is then
//! decided with that model, never calibrated on.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use masthead_addresses::import::{row_to_event, RawRow};
use masthead_domain::country::Country;
use masthead_matching::score::model::{LevelCounts, Model};
use masthead_matching::{normalize, AddressInput, BaselineIndex, Canonical, Decision, MatchConfig, MatchIndex};
use masthead_testdata::addresses::eval::Metrics;
use uuid::Uuid;

#[path = "review_set.rs"]
mod review_set;

#[derive(clap::Args)]
pub struct Options {
    /// Set to calibrate on: `m`, the prior and the thresholds are estimated
    /// from its labels. Without it the engine's shipped model is used.
    #[arg(long)]
    calibrate: Option<PathBuf>,
    /// Write the calibrated configuration (JSON) here.
    #[arg(long, requires = "calibrate")]
    write_config: Option<PathBuf>,
    /// Sets to report on (repeatable): a set directory, or a
    /// `masthead reviews export` file (`*.jsonl`).
    #[arg(long)]
    report: Vec<PathBuf>,
    /// Queries the replaced rule decides per set (it scans the whole list
    /// per query); the engine and the peer are also reported on them.
    #[arg(long, default_value_t = 1000)]
    baseline_queries: usize,
    /// Peer predictions per report set, `qid,pred,...` (`pred` a base id or
    /// `NEW`), at `<set>/<file>`.
    #[arg(long, default_value = "splink-predictions.csv")]
    peer_file: String,
    /// Failing queries to print per class.
    #[arg(long, default_value_t = 0)]
    errors: usize,
    /// Print the canonical forms and candidates behind these query ids.
    #[arg(long, value_delimiter = ',')]
    explain: Vec<String>,
}

struct BaseRow {
    id: String,
    street: String,
    country: String,
    canonical: Option<Canonical>,
}

struct QueryRow {
    qid: String,
    street: String,
    postal_code: String,
    city: String,
    country_raw: String,
    /// `None` when intake would refuse the country.
    country: Option<String>,
    truth: Option<String>,
    class: String,
}

struct Set {
    name: String,
    base: Vec<BaseRow>,
    queries: Vec<QueryRow>,
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<HashMap<String, String>>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: line {}", path.display(), i + 2))?;
        rows.push(headers.iter().map(str::to_owned).zip(record.iter().map(str::to_owned)).collect());
    }
    Ok(rows)
}

fn field(row: &HashMap<String, String>, name: &str) -> String {
    row.get(name).cloned().unwrap_or_default()
}

fn load(dir: &Path) -> anyhow::Result<Set> {
    if review_set::is_export(dir) {
        return review_set::load(dir);
    }
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut base = Vec::new();
    for (i, row) in read_csv(&dir.join("base.csv"))?.into_iter().enumerate() {
        let raw = RawRow {
            reference: Some(field(&row, "ref")),
            street: Some(field(&row, "street")),
            postal_code: Some(field(&row, "postal_code")),
            city: Some(field(&row, "city")),
            country: Some(field(&row, "country")),
        };
        // What `masthead addresses import` would store for the row.
        let canonical = row_to_event(raw, i as u64 + 2, "base.csv")
            .ok()
            .map(|e| masthead_matching::matcher::convert::current_canonical(&e.canonical, &e.address));
        base.push(BaseRow {
            id: field(&row, "id"),
            street: field(&row, "street"),
            country: field(&row, "country"),
            canonical,
        });
    }
    let queries = read_csv(&dir.join("queries.csv"))?
        .into_iter()
        .map(|row| {
            let country_raw = field(&row, "country");
            let country = if country_raw.trim().is_empty() {
                Some(String::new())
            } else {
                Country::parse(&country_raw).ok().map(|c| c.code().to_owned())
            };
            let truth = Some(field(&row, "truth")).filter(|t| t != "NEW");
            QueryRow {
                qid: field(&row, "qid"),
                street: field(&row, "street"),
                postal_code: field(&row, "postal_code"),
                city: field(&row, "city"),
                country_raw,
                country,
                truth,
                class: field(&row, "class"),
            }
        })
        .collect();
    Ok(Set { name, base, queries })
}

fn probe(q: &QueryRow) -> Option<Canonical> {
    let country = q.country.as_deref()?;
    Some(normalize(&AddressInput { street: &q.street, postal_code: &q.postal_code, city: &q.city, country }))
}

/// The engine's index over a set's base rows; ids are the row numbers.
struct Engine {
    index: MatchIndex,
    ids: Vec<String>,
    refused_base: usize,
}

fn row_uuid(i: usize) -> Uuid {
    Uuid::from_u128(i as u128 + 1)
}

fn build(set: &Set, config: MatchConfig) -> Engine {
    let items = set.base.iter().enumerate().filter_map(|(i, b)| b.canonical.clone().map(|c| (row_uuid(i), c)));
    let index = MatchIndex::bulk_build(config, items);
    let refused_base = set.base.iter().filter(|b| b.canonical.is_none()).count();
    Engine { index, ids: set.base.iter().map(|b| b.id.clone()).collect(), refused_base }
}

impl Engine {
    fn base_id(&self, id: Uuid) -> Option<String> {
        let n = id.as_u128().checked_sub(1)?;
        self.ids.get(usize::try_from(n).ok()?).cloned()
    }

    fn decide(&self, q: &QueryRow) -> Option<String> {
        let probe = probe(q)?;
        match self.index.decide(&probe) {
            Decision::Match(c) => self.base_id(c.id),
            Decision::New { .. } => None,
        }
    }
}

/// Estimates `m` and the prior on the set's labels, then the thresholds.
fn calibrate(set: &Set) -> MatchConfig {
    let started = Instant::now();
    let engine = build(set, MatchConfig::uncalibrated());
    let mut matches = LevelCounts::default();
    let mut pairs = 0u64;
    let positions: HashMap<&str, usize> = set.base.iter().enumerate().map(|(i, b)| (b.id.as_str(), i)).collect();
    for q in &set.queries {
        let Some(p) = probe(q) else { continue };
        let comparisons = engine.index.comparisons(&p);
        pairs += comparisons.len() as u64;
        let truth = q.truth.as_deref().and_then(|t| positions.get(t)).map(|&i| row_uuid(i));
        if let Some((_, c)) = comparisons.iter().find(|(id, _)| Some(*id) == truth) {
            matches.add(c);
        }
    }
    let defaults = MatchConfig::uncalibrated();
    // Half a pair per level keeps a level never seen among matches from
    // becoming an infinite weight.
    // Towards the shipped prior belief with the weight of 2,000 pairs: a
    // level the calibration set hardly shows among matches (its classes
    // have no postal-code typo) stays possible instead of becoming a
    // near-veto.
    let m = matches.smoothed(&defaults.model.m, 2_000.0);
    let prior = (matches.pairs() as f64 / pairs.max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
    let model = Model { prior, m, u: engine.index.u_table("").clone() };
    let config = MatchConfig { model, ..defaults };
    println!(
        "calibrated on {}: {} matched pairs of {} candidate pairs (prior {:.4}) in {:.1}s",
        set.name,
        matches.pairs(),
        pairs,
        prior,
        started.elapsed().as_secs_f64()
    );
    choose_thresholds(set, config)
}

/// The match threshold: the highest F1 whose precision keeps a margin
/// above the goal (0.997 on the calibration set).
fn choose_thresholds(set: &Set, config: MatchConfig) -> MatchConfig {
    let engine = build(set, config.clone());
    let best: Vec<(Option<String>, f64, Option<String>)> = set
        .queries
        .iter()
        .map(|q| {
            let best =
                probe(q).and_then(|p| engine.index.candidates(&p, 1).into_iter().next().filter(|c| c.veto.is_none()));
            let (id, probability) = best.map_or((None, 0.0), |c| (engine.base_id(c.id), c.probability));
            (id, probability, q.truth.clone())
        })
        .collect();
    println!("threshold sweep on {} (the calibration set):", set.name);
    let thresholds = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999];
    let mut sweep = Vec::new();
    for t in thresholds {
        let mut m = Metrics::default();
        for (id, p, truth) in &best {
            let got = if *p >= t { id.as_deref() } else { None };
            m.record(truth.as_deref().map(key), got.map(key));
        }
        println!("  p >= {t:<6} P={:.4} R={:.4} F1={:.4}", m.precision(), m.recall(), m.f1());
        sweep.push((t, m));
    }
    // The plateau's upper end: the highest threshold within 0.0005 F1 of
    // the best, among those keeping precision above 0.997. Unseen data
    // sits lower on the probability scale than the data tuned on.
    let best_f1 = sweep.iter().filter(|(_, m)| m.precision() >= 0.997).map(|(_, m)| m.f1()).fold(0.0, f64::max);
    let chosen = sweep
        .iter()
        .filter(|(_, m)| m.precision() >= 0.997 && m.f1() >= best_f1 - 0.0005)
        .map(|(t, m)| (*t, m.f1()))
        .next_back()
        .unwrap_or((config.match_probability, 0.0));
    let match_probability = chosen.0;
    println!("  chosen: match_probability {match_probability}");
    MatchConfig {
        match_probability,
        certain_probability: config.certain_probability.max(match_probability),
        review_probability: config.review_probability.min(match_probability),
        ..config
    }
}

/// Base ids as a stable uuid, so `Metrics` can compare them.
fn key(id: &str) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, id.as_bytes())
}

#[derive(Default)]
struct Tally {
    all: Metrics,
    by_class: BTreeMap<String, Metrics>,
    by_country: BTreeMap<String, Metrics>,
}

impl Tally {
    fn record(&mut self, q: &QueryRow, country: &str, got: Option<&str>) {
        let (expected, got) = (q.truth.as_deref().map(key), got.map(key));
        self.all.record(expected, got);
        let class = q.class.split('+').next().unwrap_or_default().to_owned();
        self.by_class.entry(class).or_default().record(expected, got);
        self.by_country.entry(country.to_owned()).or_default().record(expected, got);
    }
}

fn cell(m: &Metrics) -> String {
    if m.tp + m.fn_ == 0 {
        // Negatives only: precision is what counts.
        format!("{} wrong of {}", m.fp, m.queries())
    } else {
        format!("{:.3} / {:.3} / {:.3}", m.precision(), m.recall(), m.f1())
    }
}

fn table(title: &str, rows: &[(&str, &BTreeMap<String, Metrics>)]) {
    println!("\n{title}\n");
    let names: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
    println!("| | {} |", names.join(" | "));
    println!("|---|{}", "---|".repeat(names.len()));
    let keys: std::collections::BTreeSet<&String> = rows.iter().flat_map(|(_, m)| m.keys()).collect();
    for k in keys {
        let cells: Vec<String> = rows.iter().map(|(_, m)| m.get(k).map(cell).unwrap_or_else(|| "–".into())).collect();
        println!("| {k} | {} |", cells.join(" | "));
    }
}

fn read_peer(path: &Path) -> anyhow::Result<Option<HashMap<String, String>>> {
    if !path.exists() {
        return Ok(None);
    }
    let rows = read_csv(path)?;
    Ok(Some(rows.into_iter().map(|r| (field(&r, "qid"), field(&r, "pred"))).collect()))
}

fn report(set: &Set, dir: &Path, config: &MatchConfig, options: &Options) -> anyhow::Result<()> {
    println!("\n## {}: {} base rows, {} queries\n", set.name, set.base.len(), set.queries.len());
    let started = Instant::now();
    let engine = build(set, config.clone());
    println!(
        "engine index built in {:.1}s ({} base rows refused by the import check)",
        started.elapsed().as_secs_f64(),
        engine.refused_base
    );
    let country_of_truth: HashMap<&str, &str> = set.base.iter().map(|b| (b.id.as_str(), b.country.as_str())).collect();
    explain(set, &engine, &options.explain);
    let started = Instant::now();
    let mut engine_tally = Tally::default();
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let decisions: Vec<Option<String>> = set.queries.iter().map(|q| engine.decide(q)).collect();
    let elapsed = started.elapsed();
    let country = |q: &QueryRow| -> String {
        let c = q.country.clone().filter(|c| !c.is_empty());
        let from_truth = q.truth.as_deref().and_then(|t| country_of_truth.get(t)).and_then(|c| Country::parse(c).ok());
        c.or_else(|| from_truth.map(|c| c.code().to_owned())).unwrap_or_else(|| "??".into())
    };
    for (q, got) in set.queries.iter().zip(&decisions) {
        engine_tally.record(q, &country(q), got.as_deref());
        if got.as_deref() != q.truth.as_deref() {
            let list = errors.entry(q.class.clone()).or_default();
            if list.len() < options.errors {
                list.push(format!(
                    "{} {:?} / {:?} / {:?} / {:?} → got {:?}, truth {:?}",
                    q.qid, q.street, q.postal_code, q.city, q.country_raw, got, q.truth
                ));
            }
        }
    }
    println!(
        "engine: {} queries in {:.2}s ({:.1} µs per query, normalise + decide)",
        set.queries.len(),
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / set.queries.len().max(1) as f64
    );
    let peer = read_peer(&dir.join(&options.peer_file))?;
    let mut peer_tally = Tally::default();
    if let Some(peer) = &peer {
        for q in &set.queries {
            let got = peer.get(&q.qid).filter(|p| *p != "NEW").map(String::as_str);
            peer_tally.record(q, &country(q), got);
        }
    }
    // The replaced rule and everyone else on the same first queries.
    let n = options.baseline_queries.min(set.queries.len());
    let started = Instant::now();
    let mut baseline = BaselineIndex::new();
    for (i, b) in set.base.iter().enumerate() {
        baseline.insert(row_uuid(i), &b.street);
    }
    let (mut base_m, mut eng_m, mut peer_m) = (Metrics::default(), Metrics::default(), Metrics::default());
    for (q, got) in set.queries.iter().zip(&decisions).take(n) {
        let b = baseline.decide(&q.street).and_then(|(id, _)| engine.base_id(id));
        let truth = q.truth.as_deref().map(key);
        base_m.record(truth, b.as_deref().map(key));
        eng_m.record(truth, got.as_deref().map(key));
        if let Some(peer) = &peer {
            peer_m.record(truth, peer.get(&q.qid).filter(|p| *p != "NEW").map(|p| key(p)));
        }
    }
    // FEBRL's truth is per person: a re-typed record with another house
    // number is still "the same". A postal clerk, and this engine, treat
    // it as another address; recall is also shown without those pairs.
    let canonical_of_truth: HashMap<&str, &Canonical> =
        set.base.iter().filter_map(|b| b.canonical.as_ref().map(|c| (b.id.as_str(), c))).collect();
    let other_number = |q: &QueryRow| -> bool {
        let (Some(t), Some(p)) = (q.truth.as_deref().and_then(|t| canonical_of_truth.get(t)), probe(q)) else {
            return false;
        };
        t.house_number != p.house_number && !t.house_number.starts_with('@') && !p.house_number.starts_with('@')
    };
    let mut same_number = (Metrics::default(), Metrics::default(), 0usize);
    for (q, got) in set.queries.iter().zip(&decisions) {
        if q.truth.is_some() && other_number(q) {
            same_number.2 += 1;
            continue;
        }
        let truth = q.truth.as_deref().map(key);
        same_number.0.record(truth, got.as_deref().map(key));
        if let Some(peer) = &peer {
            same_number.1.record(truth, peer.get(&q.qid).filter(|p| *p != "NEW").map(|p| key(p)));
        }
    }
    // A peer that predicted only part of the set (trained on the rest):
    // everyone on its part too.
    let mut on_peer = (Metrics::default(), Metrics::default());
    if let Some(peer) = peer.as_ref().filter(|p| p.len() < set.queries.len()) {
        for (q, got) in set.queries.iter().zip(&decisions) {
            if let Some(pred) = peer.get(&q.qid) {
                let truth = q.truth.as_deref().map(key);
                on_peer.0.record(truth, got.as_deref().map(key));
                on_peer.1.record(truth, Some(pred.as_str()).filter(|p| *p != "NEW").map(key));
            }
        }
    }
    let line = |name: &str, m: &Metrics| {
        println!(
            "| {name} | {:.4} | {:.4} | {:.4} | {} | {} | {} |",
            m.precision(),
            m.recall(),
            m.f1(),
            m.fp,
            m.fn_,
            m.queries()
        )
    };
    println!(
        "\n| system | precision | recall | F1 | wrong matches | misses | queries |\n|---|---|---|---|---|---|---|"
    );
    line("engine", &engine_tally.all);
    if peer.is_some() {
        line("Splink 5 (peer)", &peer_tally.all);
    }
    if on_peer.0.queries() > 0 {
        line("engine, on the peer's queries", &on_peer.0);
        line("Splink 5, on its queries", &on_peer.1);
    }
    if same_number.2 > 0 {
        println!("| ({} positives typed with another house number left out:) | | | | | | |", same_number.2);
        line("engine, same house number", &same_number.0);
        if peer.is_some() {
            line("Splink 5, same house number", &same_number.1);
        }
    }
    line(&format!("engine, first {n}"), &eng_m);
    if peer.is_some() {
        line(&format!("Splink 5, first {n}"), &peer_m);
    }
    line(&format!("replaced rule, first {n}"), &base_m);
    println!("(replaced rule: {:.1}s for {n} queries)", started.elapsed().as_secs_f64());
    let mut rows: Vec<(&str, &BTreeMap<String, Metrics>)> = vec![("engine P / R / F1", &engine_tally.by_class)];
    if peer.is_some() {
        rows.push(("Splink 5 P / R / F1", &peer_tally.by_class));
    }
    table("per class (hard-negative classes: wrong matches)", &rows);
    let mut rows: Vec<(&str, &BTreeMap<String, Metrics>)> = vec![("engine P / R / F1", &engine_tally.by_country)];
    if peer.is_some() {
        rows.push(("Splink 5 P / R / F1", &peer_tally.by_country));
    }
    table("per country", &rows);
    for (class, list) in &errors {
        println!("\nerrors, {class}:");
        for e in list {
            println!("  {e}");
        }
    }
    Ok(())
}

fn explain(set: &Set, engine: &Engine, qids: &[String]) {
    for q in set.queries.iter().filter(|q| qids.contains(&q.qid)) {
        println!(
            "{} {:?} {:?} {:?} {:?} (class {}, truth {:?})",
            q.qid, q.street, q.postal_code, q.city, q.country_raw, q.class, q.truth
        );
        let p = probe(q);
        println!("  probe: {p:?}");
        if let Some(b) = q.truth.as_deref().and_then(|t| set.base.iter().find(|b| b.id == t)) {
            println!("  truth: {:?} → {:?}", b.street, b.canonical);
        }
        if let Some(p) = p {
            for c in engine.index.candidates(&p, 3) {
                println!(
                    "  candidate {:?} p={:.4} veto={:?} {:?}",
                    engine.base_id(c.id),
                    c.probability,
                    c.veto,
                    c.explanation
                );
            }
        }
    }
}

pub fn run(options: &Options) -> anyhow::Result<()> {
    if options.report.is_empty() && options.calibrate.is_none() {
        bail!("nothing to do: give --calibrate DIR and/or --report DIR");
    }
    let config = match &options.calibrate {
        Some(dir) => {
            let set = load(dir)?;
            let config = calibrate(&set);
            if let Some(path) = &options.write_config {
                std::fs::write(path, serde_json::to_string_pretty(&config)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("calibrated configuration written to {}", path.display());
            }
            config
        }
        None => MatchConfig::default(),
    };
    for dir in &options.report {
        let set = load(dir)?;
        report(&set, dir, &config, options)?;
    }
    Ok(())
}
