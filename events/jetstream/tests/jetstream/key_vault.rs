//! Data keys in their KV bucket, against a real nats-server: pages, the
//! pool, and erasure that destroys one key and leaves its page-mates.

use crate::common::*;
use futures::StreamExt;
use masthead_domain::personal_data::{DataKey, PersonalData};
use masthead_jetstream::key_vault::{KeyPool, KeyVault, VaultError, KEYS_PER_PAGE};
use std::time::Duration;

async fn vault(env: &Env) -> KeyVault {
    KeyVault::open(&env.js, &env.topology.keys_bucket()).await.expect("vault")
}

async fn bucket(env: &Env) -> async_nats::jetstream::kv::Store {
    env.js.get_key_value(env.topology.keys_bucket()).await.expect("bucket")
}

fn page_of(key_id: &str) -> &str {
    key_id.rsplit_once('.').expect("a page slot").0
}

fn ada() -> PersonalData {
    PersonalData { name: "Ada Lovelace".into(), email: "ada@example.org".into() }
}

/// Waits until `pool` holds at least `keys` ready keys; `why` names what
/// the test expects to have filled it.
async fn wait_ready(pool: &KeyPool, keys: usize, why: &str) {
    masthead_test_support::wait_until("pool filled", Duration::from_secs(10), || async {
        (pool.ready() >= keys).then_some(())
    })
    .await
    .expect(why);
}

fn encoded(key: &DataKey) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

#[tokio::test]
async fn erasing_a_key_destroys_it_and_leaves_the_rest_of_its_page() {
    let env = env().await;
    let vault = vault(&env).await;
    let page = vault.write_page().await.expect("page written");
    assert_eq!(page.len(), KEYS_PER_PAGE);
    let (erased_id, erased_key) = &page[3];
    let page_id = page_of(erased_id).to_owned();
    assert!(page.iter().all(|(id, _)| page_of(id) == page_id), "one page, one entry");

    vault.erase(erased_id).await.expect("erased");
    assert!(vault.get(erased_id).await.expect("answers").is_none());
    for (id, key) in page.iter().filter(|(id, _)| id != erased_id) {
        let kept = vault.get(id).await.expect("answers").expect("page-mates stay readable");
        assert_eq!(kept.as_bytes(), key.as_bytes());
    }
    // No copy of the erased key is left in the bucket's stream: the page's
    // history holds one revision, and it does not contain the key.
    let history: Vec<_> = bucket(&env).await.history(&page_id).await.expect("history").collect().await;
    assert_eq!(history.len(), 1, "the previous revision of the page is gone");
    let stored = history[0].as_ref().expect("entry");
    let text = String::from_utf8_lossy(&stored.value);
    assert!(!text.contains(&encoded(erased_key)), "the erased key is still stored");
    assert!(text.contains(&encoded(&page[4].1)), "a kept key is stored");
    // Erasing again is not an error.
    vault.erase(erased_id).await.expect("erasing twice");
}

#[tokio::test]
async fn concurrent_erasures_of_one_page_all_take_effect() {
    let env = env().await;
    let vault = vault(&env).await;
    let page = vault.write_page().await.expect("page written");
    let erasing: Vec<_> = page[..8].iter().map(|(id, _)| vault.erase(id)).collect();
    for result in futures::future::join_all(erasing).await {
        result.expect("erased");
    }
    for (n, (id, _)) in page.iter().enumerate() {
        let present = vault.get(id).await.expect("answers").is_some();
        assert_eq!(present, n >= 8, "slot {n}: no erasure undid another");
    }
}

#[tokio::test]
async fn a_page_whose_keys_are_all_erased_is_purged() {
    let env = env().await;
    let vault = vault(&env).await;
    let page = vault.write_page().await.expect("page written");
    for (id, _) in &page {
        vault.erase(id).await.expect("erased");
    }
    let page_id = page_of(&page[0].0);
    assert!(bucket(&env).await.get(page_id).await.expect("answers").is_none());
    let history: Vec<_> = bucket(&env).await.history(page_id).await.expect("history").collect().await;
    assert!(history.iter().all(|e| e.as_ref().is_ok_and(|e| e.value.is_empty())), "only the purge marker remains");
}

#[tokio::test]
async fn keys_stored_one_per_entry_are_still_read_and_erased() {
    let env = env().await;
    let vault = vault(&env).await;
    let key = DataKey::generate();
    bucket(&env).await.put("dk-0123456789abcdef", encoded(&key).into()).await.expect("put");
    let read = vault.get("dk-0123456789abcdef").await.expect("answers").expect("present");
    assert_eq!(read.as_bytes(), key.as_bytes());
    vault.erase("dk-0123456789abcdef").await.expect("erased");
    assert!(vault.get("dk-0123456789abcdef").await.expect("answers").is_none());
}

#[tokio::test]
async fn pooled_keys_are_durable_before_use_distinct_and_refilled() {
    let env = env().await;
    let vault = vault(&env).await;
    let pool = KeyPool::start(vault.clone(), 8);
    wait_ready(&pool, 8, "the pool fills up to its target").await;
    let filled = pool.ready();
    let person = ada();
    let mut key_ids = std::collections::HashSet::new();
    // More seals than a page holds: the refill (or the inline fallback)
    // must keep up, and no key may be handed out twice.
    for n in 0..KEYS_PER_PAGE + 20 {
        let sealed = pool.seal(&person).await.expect("seal");
        assert!(vault.get(&sealed.key_id).await.expect("vault answers").is_some(), "key stored before use");
        assert_eq!(vault.open_sealed(&sealed).await.expect("opens"), person);
        assert!(key_ids.insert(sealed.key_id.clone()), "key {} handed out twice", sealed.key_id);
        if n < filled {
            assert_eq!(pool.misses(), 0, "a filled pool serves its keys without writing inline");
        }
    }
    wait_ready(&pool, 8, "the pool refills after being drained").await;
}

/// On this single-threaded runtime the yields let a notified refiller
/// queue its page writes on the connection before the listing below, which
/// NATS then answers after them: an idle pool that wrote anyway is seen.
#[tokio::test]
async fn an_idle_pool_writes_no_keys_until_one_is_taken() {
    let env = env().await;
    let pool = KeyPool::idle(vault(&env).await, 8);
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
    let pages = |bucket: async_nats::jetstream::kv::Store| async move {
        match bucket.keys().await {
            Ok(keys) => keys.count().await,
            Err(e) => panic!("listing the bucket: {e}"),
        }
    };
    assert_eq!(pages(bucket(&env).await).await, 0, "an idle pool wrote keys before any was taken");
    assert_eq!(pool.ready(), 0);

    let person = ada();
    let sealed = pool.seal(&person).await.expect("the first seal writes its page");
    assert_eq!(pool.misses(), 1);
    assert_eq!(vault(&env).await.open_sealed(&sealed).await.expect("opens"), person);
    wait_ready(&pool, 8, "taking a key wakes the refiller").await;
}

#[tokio::test]
async fn a_drained_pool_without_a_vault_refuses_to_seal() {
    let mut env = env().await;
    let vault = vault(&env).await;
    let pool = KeyPool::start(vault, 2);
    wait_ready(&pool, 2, "filled").await;
    env.server.stop();
    let person = ada();
    // Keys that already landed may still be used (the event append is what
    // then fails); once they are gone, sealing must fail, not invent a key
    // that was never stored.
    let stored = pool.ready();
    for n in 0..stored {
        pool.seal(&person).await.unwrap_or_else(|e| panic!("stored key {n} is usable: {e}"));
    }
    let drained = pool.seal(&person).await;
    assert!(matches!(drained, Err(VaultError::Unavailable(_))), "got {:?}", drained.map(|s| s.key_id));
    assert_eq!(pool.misses(), 1, "only the seal after the stored keys found the pool empty");
}
