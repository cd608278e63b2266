//! The per-recipient mail allowance against a real nats-server: the limit
//! holds under concurrent mailers, a subscription already counted is let
//! through again without spending another mail, days and mailboxes are
//! counted apart, and the KV keys do not show the address.

use crate::common::*;
use futures::StreamExt;
use masthead_jetstream::recipients::{signing_key, RecipientAllowance};
use uuid::Uuid;

fn day(d: u32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 12, d).expect("date")
}

#[tokio::test]
async fn concurrent_mailers_never_exceed_the_allowance_and_a_redelivery_spends_nothing() {
    let env = env().await;
    // Two "processes", each with its own handle on the same buckets.
    let a = RecipientAllowance::open(&env.js, &env.topology, 3).await.expect("open");
    let b = RecipientAllowance::open(&env.js, &env.topology, 3).await.expect("open");
    let ids: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    let admitted: Vec<bool> = futures::future::join_all(ids.iter().enumerate().map(|(i, id)| {
        let allowance = if i % 2 == 0 { &a } else { &b };
        allowance.admit("ada@example.org", *id, day(6))
    }))
    .await
    .into_iter()
    .map(|r| r.expect("admit"))
    .collect();
    assert_eq!(admitted.iter().filter(|x| **x).count(), 3, "{admitted:?}");
    // A redelivered trigger of an admitted subscription is let through; a
    // refused one stays refused.
    let first = ids[admitted.iter().position(|x| *x).expect("one admitted")];
    let refused = ids[admitted.iter().position(|x| !*x).expect("one refused")];
    assert!(a.admit("ada@example.org", first, day(6)).await.expect("admit"));
    assert!(!b.admit("ada@example.org", refused, day(6)).await.expect("admit"));
    // Another day, another mailbox: allowances of their own.
    assert!(a.admit("ada@example.org", refused, day(7)).await.expect("admit"));
    assert!(a.admit("bob@example.org", Uuid::new_v4(), day(6)).await.expect("admit"));
    // The keys hold no address.
    let kv = env.js.get_key_value(env.topology.recipients_bucket()).await.expect("bucket");
    let keys: Vec<String> = kv.keys().await.expect("keys").filter_map(|k| async { k.ok() }).collect().await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    // (Not "ada": a hex digest may well contain those letters.)
    assert!(keys.iter().all(|k| !k.contains('@') && !k.contains("example")), "{keys:?}");
}

#[tokio::test]
async fn the_signing_secret_is_made_once_and_shared() {
    let env = env().await;
    let bucket = env.topology.secrets_bucket();
    let (x, y) = tokio::join!(signing_key(&env.js, &bucket), signing_key(&env.js, &bucket));
    let (x, y) = (x.expect("key"), y.expect("key"));
    assert_eq!(x.as_bytes(), y.as_bytes(), "two processes starting at once agree on one secret");
    assert_eq!(signing_key(&env.js, &bucket).await.expect("key").as_bytes(), x.as_bytes());
}
