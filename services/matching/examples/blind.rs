// Temporary: the engine on a blind set (base.csv, queries.csv). Not committed.
use masthead_matching::{normalize, AddressInput, Decision, MatchConfig, MatchIndex};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

fn rows(path: &str) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).expect("read");
    let mut lines = text.lines();
    let header: Vec<String> = split(lines.next().unwrap());
    lines.map(|l| header.iter().cloned().zip(split(l)).collect()).collect()
}
fn split(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut q = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, q) {
            ('"', false) => q = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => q = false,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}
fn main() {
    let dir = std::env::args().nth(1).expect("dir");
    let base = rows(&format!("{dir}/base.csv"));
    let queries = rows(&format!("{dir}/queries.csv"));
    let t = std::time::Instant::now();
    let mut ids = HashMap::new();
    let idx = MatchIndex::bulk_build(
        MatchConfig::default(),
        base.iter().enumerate().map(|(i, r)| {
            let id = Uuid::from_u128(i as u128 + 1);
            ids.insert(id, r["id"].clone());
            (
                id,
                normalize(&AddressInput {
                    street: &r["street"],
                    postal_code: &r["postal_code"],
                    city: &r["city"],
                    country: &r["country"],
                }),
            )
        }),
    );
    eprintln!("built {} in {:?}", idx.len(), t.elapsed());
    let mut per: BTreeMap<String, [usize; 4]> = BTreeMap::new(); // tp fp fn tn
    let mut total = [0usize; 4];
    let mut examples: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for q in &queries {
        let probe = normalize(&AddressInput {
            street: &q["street"],
            postal_code: &q["postal_code"],
            city: &q["city"],
            country: &q["country"],
        });
        let got = match idx.decide(&probe) {
            Decision::Match(c) => Some(ids[&c.id].clone()),
            _ => None,
        };
        let truth = if q["truth"] == "NEW" { None } else { Some(q["truth"].clone()) };
        let class = q["class"].split('+').next().unwrap().to_string();
        let e = per.entry(class.clone()).or_default();
        let mut mark = |k: usize| {
            e[k] += 1;
            total[k] += 1;
        };
        let wrong = match (&truth, &got) {
            (Some(t), Some(g)) if t == g => {
                mark(0);
                false
            }
            (Some(_), Some(_)) => {
                mark(1);
                mark(2);
                true
            }
            (Some(_), None) => {
                mark(2);
                true
            }
            (None, Some(_)) => {
                mark(1);
                true
            }
            (None, None) => {
                mark(3);
                false
            }
        };
        if wrong {
            let ex = examples.entry(class).or_default();
            if ex.len() < 4 {
                ex.push(format!(
                    "{} | {} {} {} {} -> got {:?} truth {:?}",
                    q["qid"], q["street"], q["postal_code"], q["city"], q["country"], got, truth
                ));
            }
        }
    }
    let pr = |m: [usize; 4]| {
        let p = m[0] as f64 / (m[0] + m[1]).max(1) as f64;
        let r = m[0] as f64 / (m[0] + m[2]).max(1) as f64;
        (p, r)
    };
    let (p, r) = pr(total);
    println!(
        "TOTAL P {:.4} R {:.4} F1 {:.4}  tp {} fp {} fn {} tn {}",
        p,
        r,
        2.0 * p * r / (p + r),
        total[0],
        total[1],
        total[2],
        total[3]
    );
    for (c, m) in &per {
        let (p, r) = pr(*m);
        println!("{c:28} P {p:.3} R {r:.3}  tp {} fp {} fn {} tn {}", m[0], m[1], m[2], m[3]);
    }
    if std::env::var("EX").is_ok() {
        for (c, ex) in &examples {
            println!("== {c}");
            for e in ex {
                println!("  {e}");
            }
        }
    }
}
