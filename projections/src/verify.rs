//! `masthead projections verify`: compares the live read models with a
//! scratch generation replayed from the stream, document by document,
//! through the store trait (so either store, and one against the other).

use crate::{AddressFilter, PageRequest, ProjectionStore, ReviewFilter, StoreError, SubscriptionFilter};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// How a live document differs from the one the history gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The history has it; the live read models do not.
    Missing,
    /// The live read models have it; the history does not.
    Extra,
    /// Both have it; these fields (dotted paths) differ.
    Changed { fields: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// `subscriptions`, `addresses`, `address_history`, `reviews` or `stats`.
    pub collection: &'static str,
    pub id: String,
    #[serde(flatten)]
    pub change: Change,
}

const PAGE: usize = 500;

async fn subscription_ids(store: &dyn ProjectionStore) -> Result<BTreeSet<Uuid>, StoreError> {
    let (mut ids, mut cursor) = (BTreeSet::new(), None);
    loop {
        let page = PageRequest { limit: PAGE, cursor };
        let got = store.subscriptions(&SubscriptionFilter::default(), page).await?;
        ids.extend(got.items.iter().map(|s| s.id));
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(ids),
        }
    }
}

async fn address_ids(store: &dyn ProjectionStore) -> Result<BTreeSet<Uuid>, StoreError> {
    let (mut ids, mut cursor) = (BTreeSet::new(), None);
    loop {
        let page = PageRequest { limit: PAGE, cursor };
        let got = store.addresses(&AddressFilter::default(), page).await?;
        ids.extend(got.items.iter().map(|a| a.id));
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(ids),
        }
    }
}

async fn review_ids(store: &dyn ProjectionStore) -> Result<BTreeSet<Uuid>, StoreError> {
    let (mut ids, mut cursor) = (BTreeSet::new(), None);
    loop {
        let page = PageRequest { limit: PAGE, cursor };
        let got = store.reviews(&ReviewFilter::default(), page).await?;
        ids.extend(got.items.iter().map(|r| r.id));
        match got.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(ids),
        }
    }
}

/// Dotted paths of every leaf value; arrays count as one value.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, v, out);
            }
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

fn changed_fields(live: &Value, expected: &Value) -> Vec<String> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", live, &mut a);
    flatten("", expected, &mut b);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).cloned().collect()
}

fn to_json(v: &impl Serialize) -> Result<Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::Corrupt(format!("a read model does not serialize: {e}")))
}

fn compare_one(
    collection: &'static str,
    id: String,
    live: Option<Value>,
    expected: Option<Value>,
) -> Option<Difference> {
    let change = match (live, expected) {
        (None, None) => return None,
        (None, Some(_)) => Change::Missing,
        (Some(_), None) => Change::Extra,
        (Some(l), Some(e)) => {
            let fields = changed_fields(&l, &e);
            if fields.is_empty() {
                return None;
            }
            Change::Changed { fields }
        }
    };
    Some(Difference { collection, id, change })
}

/// Every difference between `live` and `expected` (the history's): each
/// subscription, each address and its history, each review item, and the
/// statistics.
pub async fn compare(
    live: &dyn ProjectionStore,
    expected: &dyn ProjectionStore,
) -> Result<Vec<Difference>, StoreError> {
    let mut out = Vec::new();
    let subs: BTreeSet<Uuid> =
        subscription_ids(live).await?.union(&subscription_ids(expected).await?).copied().collect();
    for id in subs {
        let l = live.subscription(id).await?.map(|v| to_json(&v)).transpose()?;
        let e = expected.subscription(id).await?.map(|v| to_json(&v)).transpose()?;
        out.extend(compare_one("subscriptions", id.to_string(), l, e));
    }
    let addresses: BTreeSet<Uuid> = address_ids(live).await?.union(&address_ids(expected).await?).copied().collect();
    for id in addresses {
        let l = live.address(id).await?.map(|v| to_json(&v)).transpose()?;
        let e = expected.address(id).await?.map(|v| to_json(&v)).transpose()?;
        out.extend(compare_one("addresses", id.to_string(), l, e));
        let l = live.address_history(id).await?.map(|v| to_json(&v)).transpose()?;
        let e = expected.address_history(id).await?.map(|v| to_json(&v)).transpose()?;
        out.extend(compare_one("address_history", id.to_string(), l, e));
    }
    let reviews: BTreeSet<Uuid> = review_ids(live).await?.union(&review_ids(expected).await?).copied().collect();
    for id in reviews {
        let l = live.review(id).await?.map(|v| to_json(&v)).transpose()?;
        let e = expected.review(id).await?.map(|v| to_json(&v)).transpose()?;
        out.extend(compare_one("reviews", id.to_string(), l, e));
    }
    let (l, e) = (to_json(&live.stats().await?)?, to_json(&expected.stats().await?)?);
    out.extend(compare_one("stats", "stats".into(), Some(l), Some(e)));
    Ok(out)
}
