//! The end-to-end workload: a generated base list and the addresses the
//! subscriptions are submitted with.

use masthead_testdata::addresses::{generate, BaseAddress, GeneratorConfig, OwnedAddress};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A base address typed exactly as the base list has it.
    Exact,
    /// A base address re-typed with 1–3 real-world variations.
    Variant,
    /// An address not in the base list (often next to one).
    New,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Exact => "exact",
            Kind::Variant => "variant",
            Kind::New => "new",
        }
    }
}

pub struct Planned {
    pub kind: Kind,
    pub address: OwnedAddress,
}

/// The intake refuses empty or over-long fields; the generator renders a
/// few addresses with postal code and city folded into the street line
/// (as legacy lists have them), which a web form would not let through.
fn submittable(a: &OwnedAddress) -> bool {
    let len = |s: &str, max: usize| (1..=max).contains(&s.trim().chars().count());
    len(&a.street, 120) && len(&a.postal_code, 15) && len(&a.city, 120) && len(&a.country, 120)
}

/// The base list and `count` subscription addresses: 3 in 10 exact repeats
/// of base addresses, 4 in 10 variant spellings, 3 in 10 new addresses.
pub fn workload(base: usize, count: usize, seed: u64) -> (Vec<BaseAddress>, Vec<Planned>) {
    // Generous: some queries are dropped as not submittable.
    let queries = count * 7 / 10 + count / 5 + 16;
    let data = generate(&GeneratorConfig { base_size: base, queries, negative_share: 3.0 / 7.0, seed });
    let exact: Vec<&OwnedAddress> = data.base.iter().map(|b| &b.address).filter(|a| submittable(a)).collect();
    let mut variants = data.queries.iter().filter(|q| submittable(&q.address));
    let mut plan = Vec::with_capacity(count);
    for i in 0..count {
        let from_queries = if i % 10 < 3 || exact.is_empty() {
            None
        } else {
            variants.next().map(|q| Planned {
                kind: if q.expected.is_some() { Kind::Variant } else { Kind::New },
                address: q.address.clone(),
            })
        };
        let planned = match from_queries {
            Some(p) => p,
            // A fixed stride over the base list: deterministic, spread out.
            None if !exact.is_empty() => {
                Planned { kind: Kind::Exact, address: exact[(i * 7919 + 13) % exact.len()].clone() }
            }
            None => break,
        };
        plan.push(planned);
    }
    (data.base, plan)
}
