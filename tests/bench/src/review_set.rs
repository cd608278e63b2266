//! A `masthead reviews export` file (JSON lines of decided review pairs) as
//! a labelled set for `masthead-bench blind --report FILE.jsonl`.
//!
//! Each pair becomes one query against a base list: the item's address
//! (`a`) is a base row, the candidate (`b`) is typed as a query, its truth
//! `a` for a `match` and `NEW` for a `distinct`. A `b` that is itself a base
//! row of the set (an address in several pairs) is left out: it would
//! find itself by its exact key and say nothing about the pair.

use super::{BaseRow, QueryRow, Set};
use anyhow::Context;
use masthead_addresses::import::{row_to_event, RawRow};
use masthead_curation::export::{Label, LabelledPair, PairSide};
use masthead_domain::country::Country;
use std::collections::HashSet;
use std::path::Path;

/// Whether `path` names an export file rather than a set directory.
pub(super) fn is_export(path: &Path) -> bool {
    path.is_file() && path.extension().is_some_and(|e| e == "jsonl")
}

pub(super) fn load(path: &Path) -> anyhow::Result<Set> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let pair: LabelledPair =
            serde_json::from_str(line).with_context(|| format!("{}: line {}", path.display(), i + 1))?;
        pairs.push(pair);
    }
    let mut set = Set { name: path.display().to_string(), base: Vec::new(), queries: Vec::new() };
    let mut in_base: HashSet<uuid::Uuid> = HashSet::new();
    for p in &pairs {
        if in_base.insert(p.a.id) {
            set.base.push(base_row(&p.a, set.base.len()));
        }
    }
    let mut left_out = 0;
    for p in &pairs {
        if in_base.contains(&p.b.id) {
            left_out += 1;
            continue;
        }
        set.queries.push(query_row(p));
    }
    if left_out > 0 {
        println!("{}: {left_out} pairs left out (their candidate is a base row of another pair)", set.name);
    }
    Ok(set)
}

fn base_row(side: &PairSide, i: usize) -> BaseRow {
    let raw = RawRow {
        reference: side.reference.clone(),
        street: Some(side.street.clone()),
        postal_code: Some(side.postal_code.clone()),
        city: Some(side.city.clone()),
        country: Some(side.country.clone()),
    };
    // What the store holds for the address: the import's own row check.
    let canonical = row_to_event(raw, i as u64 + 1, "export")
        .ok()
        .map(|e| masthead_matching::matcher::convert::current_canonical(&e.canonical, &e.address));
    BaseRow { id: side.id.to_string(), street: side.street.clone(), country: side.country.clone(), canonical }
}

fn query_row(p: &LabelledPair) -> QueryRow {
    let b = &p.b;
    let country = if b.country.trim().is_empty() {
        Some(String::new())
    } else {
        Country::parse(&b.country).ok().map(|c| c.code().to_owned())
    };
    let (truth, class) = match p.label {
        Label::Match => (Some(p.a.id.to_string()), "review_match"),
        Label::Distinct => (None, "review_distinct"),
    };
    QueryRow {
        qid: format!("{}:{}", p.review_id, b.id),
        street: b.street.clone(),
        postal_code: b.postal_code.clone(),
        city: b.city.clone(),
        country_raw: b.country.clone(),
        country,
        truth,
        class: class.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use masthead_domain::review::ReviewKind;
    use uuid::Uuid;

    fn side(n: u128, street: &str, pc: &str) -> PairSide {
        PairSide {
            id: Uuid::from_u128(n),
            reference: None,
            street: street.into(),
            postal_code: pc.into(),
            city: "Utrecht".into(),
            country: "NL".into(),
        }
    }

    fn pair(label: Label, a: PairSide, b: PairSide) -> LabelledPair {
        LabelledPair {
            review_id: Uuid::from_u128(a.id.as_u128() * 100 + b.id.as_u128()),
            kind: ReviewKind::Duplicate,
            label,
            a,
            b,
            probability: Some(0.9),
            decided_at: chrono::Utc::now(),
            actor: "ann".into(),
        }
    }

    #[test]
    fn an_export_file_is_a_labelled_set_the_engine_decides() {
        let rows = [
            pair(Label::Match, side(1, "Kerkstraat 12", "3511 LX"), side(2, "Kerkstr 12", "")),
            pair(Label::Distinct, side(1, "Kerkstraat 12", "3511 LX"), side(3, "Kerkstraat 21", "3511 LX")),
            // Its candidate is a base row already: left out.
            pair(Label::Distinct, side(4, "Oude Gracht 7", "3512 LT"), side(1, "Kerkstraat 12", "3511 LX")),
        ];
        let path = std::env::temp_dir().join(format!("review-export-{}.jsonl", std::process::id()));
        let text: Vec<String> = rows.iter().map(|r| serde_json::to_string(r).expect("json")).collect();
        std::fs::write(&path, text.join("\n") + "\n").expect("write");
        assert!(is_export(&path));
        let set = load(&path).expect("loads");
        let _ = std::fs::remove_file(&path);

        let base: Vec<&str> = set.base.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(base, vec![Uuid::from_u128(1).to_string(), Uuid::from_u128(4).to_string()]);
        assert!(set.base.iter().all(|b| b.canonical.is_some()));
        let truths: Vec<(Option<String>, &str)> =
            set.queries.iter().map(|q| (q.truth.clone(), q.class.as_str())).collect();
        assert_eq!(truths, vec![(Some(Uuid::from_u128(1).to_string()), "review_match"), (None, "review_distinct")]);
        // The engine decides the set: the match is found, the other number is not.
        let engine = super::super::build(&set, masthead_matching::MatchConfig::default());
        let decided: Vec<Option<String>> = set.queries.iter().map(|q| engine.decide(q)).collect();
        assert_eq!(decided, vec![Some(Uuid::from_u128(1).to_string()), None]);
    }
}
