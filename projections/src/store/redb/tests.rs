//! The redb store's own tests: formats, durability and recovery.

use super::lists::prefix_end;
use super::*;

#[test]
fn descending_time_keys_sort_newest_first() {
    let times = [i64::MIN, -1, 0, 1, 1_700_000_000_000_000, i64::MAX];
    for w in times.windows(2) {
        assert!(desc_ts(w[0]) > desc_ts(w[1]), "{w:?}");
    }
    for t in times {
        assert_eq!(undesc_ts(desc_ts(t)), t);
    }
}

#[test]
fn index_keys_split_back_and_prefixes_end() {
    let id = Uuid::from_u128(42);
    assert_eq!(split_value_id(&value_id_key("3511LX", id)), Some((b"3511LX".as_slice(), id)));
    assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
    assert_eq!(prefix_end(&[0x61, 0xFF]), Some(vec![0x62]));
    assert_eq!(prefix_end(&[0xFF]), None);
}

/// Numbers equal up to rounding: documents read back from JSON may have
/// a score one ULP off (serde_json without `float_roundtrip`).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn a_file_with_json_documents_keeps_working() {
    use masthead_testdata::events::{generate, SynthConfig};
    let events = generate(&SynthConfig::for_events(6_000));
    let (first, rest) = events.split_at(events.len() / 2);
    let dir = tempfile::tempdir().unwrap();

    // An older file: documents and counters stored as JSON.
    let old = RedbStore::open(&dir.path().join("old.redb")).unwrap();
    old.apply_batch_blocking(first).unwrap();
    let txn = old.db.begin_write().unwrap();
    {
        let mut subs = txn.open_table(SUBS).unwrap();
        let docs: Vec<(u128, SubscriptionDoc)> =
            subs.iter().unwrap().map(|e| e.unwrap()).map(|(k, v)| (k.value(), sub_from(v.value()).unwrap())).collect();
        assert!(!docs.is_empty());
        for (k, doc) in docs {
            subs.insert(k, serde_json::to_vec(&doc).unwrap().as_slice()).unwrap();
        }
        // Registrations, too, lived apart then, as JSON.
        let mut live = txn.open_table(ADDR_LIVE).unwrap();
        let mut addrs = txn.open_table(ADDRS).unwrap();
        let rows: Vec<(u128, (AddressLive, _))> =
            live.iter().unwrap().map(|e| e.unwrap()).map(|(k, v)| (k.value(), live_from(v.value()).unwrap())).collect();
        for (k, (row, registration)) in rows {
            live.insert(k, serde_json::to_vec(&row).unwrap().as_slice()).unwrap();
            if let Some(r) = registration {
                addrs.insert(k, serde_json::to_vec(&r).unwrap().as_slice()).unwrap();
            }
        }
    }
    txn.commit().unwrap();
    // Applied on top: some documents are rewritten (binary), others stay JSON.
    for chunk in rest.chunks(500) {
        old.apply_batch_blocking(chunk).unwrap();
    }
    let txn = old.db.begin_read().unwrap();
    let firsts: Vec<u8> = txn.open_table(SUBS).unwrap().iter().unwrap().map(|e| e.unwrap().1.value()[0]).collect();
    assert!(firsts.contains(&b'{') && firsts.iter().any(|b| *b != b'{'), "both encodings present");

    let fresh = RedbStore::open(&dir.path().join("fresh.redb")).unwrap();
    for chunk in events.chunks(700) {
        fresh.apply_batch_blocking(chunk).unwrap();
    }
    fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }
    assert!(same(&json(&old.stats_blocking().unwrap()), &json(&fresh.stats_blocking().unwrap())));
    for r in &events {
        let (sub, addr) = match &r.event {
            AnyEvent::Subscription(e) => (crate::apply::subscription_id(r, e), None),
            AnyEvent::BaseAddress(e) => (None, Some(e.base_address_id())),
            AnyEvent::Review(_) => (None, None),
        };
        if let Some(id) = sub {
            let (a, b) = (old.subscription_blocking(id).unwrap(), fresh.subscription_blocking(id).unwrap());
            assert!(same(&json(&a), &json(&b)), "subscription {id}: {a:?} vs {b:?}");
        }
        if let Some(id) = addr {
            let (a, b) = (old.address_blocking(id).unwrap(), fresh.address_blocking(id).unwrap());
            assert!(same(&json(&a), &json(&b)), "address {id}: {a:?} vs {b:?}");
        }
    }
}

#[tokio::test]
async fn a_rebuild_is_durable_once_finished() {
    use masthead_testdata::events::{generate, SynthConfig};
    let events = generate(&SynthConfig::for_events(3_000));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen-1.redb");
    let store = RedbStore::open(&path).unwrap();
    store.begin_rebuild().await.unwrap();
    for chunk in events.chunks(100) {
        store.apply_batch_owned(chunk.to_vec()).await.unwrap();
    }
    store.finish_rebuild().await.unwrap();
    let last = events.last().unwrap().stream_sequence;
    assert_eq!(store.checkpoint().await.unwrap(), last);
    // What a crash keeps: the file as of its last durable commit. Leak
    // the database so nothing is written on the way out, then read the
    // file as another process would.
    let copy = dir.path().join("copy.redb");
    std::fs::copy(&path, &copy).unwrap();
    std::mem::forget(store);
    let reopened = RedbStore::open(&copy).unwrap();
    assert_eq!(reopened.checkpoint_blocking().unwrap(), last);
    assert_eq!(reopened.stats_blocking().unwrap().last_applied_seq, last);
}

#[test]
fn generations_are_numbered_and_found() {
    let dir = tempfile::tempdir().unwrap();
    assert!(generations(dir.path()).unwrap().is_empty());
    let (n1, _s1) = RedbStore::create_generation(dir.path()).unwrap();
    let (n2, s2) = RedbStore::create_generation(dir.path()).unwrap();
    assert_eq!((n1, n2), (1, 2));
    assert_eq!(s2.path(), generation_path(dir.path(), 2));
    assert_eq!(generations(dir.path()).unwrap().into_iter().map(|(n, _)| n).collect::<Vec<_>>(), vec![1, 2]);
}

/// Every address index entry, table by table.
fn address_index_entries(store: &RedbStore) -> Vec<Vec<Vec<u8>>> {
    let txn = store.db.begin_read().unwrap();
    ADDR_INDEXES
        .iter()
        .map(|def| {
            let table = txn.open_table(*def).unwrap();
            table.iter().unwrap().map(|e| e.unwrap().0.value().to_vec()).collect()
        })
        .collect()
}

#[tokio::test]
async fn a_rebuild_writes_the_address_indexes_live_projection_would() {
    use masthead_testdata::events::{generate, SynthConfig};
    let events = generate(&SynthConfig::for_events(4_000));
    let dir = tempfile::tempdir().unwrap();
    let live = RedbStore::open(&dir.path().join("live.redb")).unwrap();
    for chunk in events.chunks(300) {
        live.apply_batch_blocking(chunk).unwrap();
    }
    let rebuilt = RedbStore::open(&dir.path().join("rebuilt.redb")).unwrap();
    rebuilt.begin_rebuild().await.unwrap();
    for chunk in events.chunks(300) {
        rebuilt.apply_batch_owned(chunk.to_vec()).await.unwrap();
    }
    assert!(address_index_entries(&rebuilt).iter().all(Vec::is_empty), "deferred while rebuilding");
    rebuilt.finish_rebuild().await.unwrap();
    let (a, b) = (address_index_entries(&live), address_index_entries(&rebuilt));
    assert!(a.iter().filter(|t| !t.is_empty()).count() >= 5, "postal code, city, country, ref and word entries");
    assert_eq!(a, b);
    // Live again after the rebuild: a new address is indexed at once.
    let more = generate(&SynthConfig { addresses: 3, subscriptions: 0, concurrency: 1, seed: 99 });
    let last = events.last().unwrap().stream_sequence;
    let shifted: Vec<_> = more
        .into_iter()
        .map(|mut r| {
            r.stream_sequence += last;
            r
        })
        .collect();
    rebuilt.apply_batch_blocking(&shifted).unwrap();
    let after = address_index_entries(&rebuilt);
    assert!(after[4].len() > b[4].len(), "words of the new addresses are indexed");
}

/// The index pass splits the id range over its threads and writes the
/// indexes in two groups: any number of slices (one, more than the
/// addresses' spread, uneven) gives the entries live projection wrote.
#[test]
fn the_index_pass_gives_the_same_entries_on_any_number_of_threads() {
    use masthead_testdata::events::{generate, SynthConfig};
    let events = generate(&SynthConfig::for_events(2_000));
    let dir = tempfile::tempdir().unwrap();
    let live = RedbStore::open(&dir.path().join("live.redb")).unwrap();
    for chunk in events.chunks(250) {
        live.apply_batch_blocking(chunk).unwrap();
    }
    let expected = address_index_entries(&live);
    assert!(expected.iter().map(Vec::len).sum::<usize>() > 1_000, "enough entries to spread over the slices");
    for threads in [1, 3, 8] {
        let rebuilt = RedbStore::open(&dir.path().join(format!("rebuilt-{threads}.redb"))).unwrap();
        rebuilt.begin_rebuild_blocking();
        for chunk in events.chunks(250) {
            rebuilt.apply_batch_blocking(chunk).unwrap();
        }
        let rows = rebuilt.db.begin_read().unwrap();
        let txn = rebuilt.db.begin_write().unwrap();
        index_pass::write_indexes(&txn, index_pass::collect_all(&rows, threads).unwrap()).unwrap();
        txn.commit().unwrap();
        assert_eq!(address_index_entries(&rebuilt), expected, "{threads} threads");
    }
}

/// Every subscription and address view a store holds, by id.
fn all_views(store: &RedbStore) -> (Vec<Option<SubscriptionView>>, Vec<Option<AddressView>>) {
    let txn = store.db.begin_read().unwrap();
    let ids = |def: TableDefinition<u128, &[u8]>| -> Vec<Uuid> {
        txn.open_table(def).unwrap().iter().unwrap().map(|e| Uuid::from_u128(e.unwrap().0.value())).collect()
    };
    let subs = ids(SUBS).into_iter().map(|id| store.subscription_blocking(id).unwrap()).collect();
    let addrs = ids(ADDR_LIVE).into_iter().map(|id| store.address_blocking(id).unwrap()).collect();
    (subs, addrs)
}

/// A rebuild into an empty store does not look up ids it has not written
/// (they cannot be there); one begun on a store that already holds
/// documents looks every id up, or a match to an address stored before
/// would find it "new" and lose its registration.
#[test]
fn a_rebuild_gives_the_documents_live_projection_would_from_empty_or_not() {
    use masthead_testdata::events::{generate, SynthConfig};
    let events = generate(&SynthConfig::for_events(4_000));
    let dir = tempfile::tempdir().unwrap();
    let live = RedbStore::open(&dir.path().join("live.redb")).unwrap();
    for chunk in events.chunks(300) {
        live.apply_batch_blocking(chunk).unwrap();
    }
    let expected = all_views(&live);
    assert!(expected.0.len() > 500 && expected.1.len() > 500, "enough documents");

    let fresh = RedbStore::open(&dir.path().join("fresh.redb")).unwrap();
    fresh.begin_rebuild_blocking();
    for chunk in events.chunks(300) {
        fresh.apply_batch_blocking(chunk).unwrap();
    }
    fresh.finish_rebuild_blocking().unwrap();
    assert!(all_views(&fresh) == expected, "rebuilt from empty");

    let (first, rest) = events.split_at(events.len() / 2);
    let resumed = RedbStore::open(&dir.path().join("resumed.redb")).unwrap();
    resumed.apply_batch_blocking(first).unwrap();
    resumed.begin_rebuild_blocking();
    for chunk in rest.chunks(300) {
        resumed.apply_batch_blocking(chunk).unwrap();
    }
    resumed.finish_rebuild_blocking().unwrap();
    assert!(all_views(&resumed) == expected, "rebuilt on a store holding documents");
}

fn indexes_behind(store: &RedbStore) -> bool {
    let txn = store.db.begin_read().unwrap();
    txn.open_table(META).unwrap().get(apply::INDEXES_BEHIND).unwrap().is_some()
}

/// A backlog batch that registers an import's worth of addresses leaves
/// the address indexes behind; later backlog batches keep them behind
/// until the lag bound; the first batch without a backlog, the bound, or
/// opening the file after a crash writes exactly the entries a projector
/// without deferral wrote.
#[test]
fn a_backlog_defers_the_address_indexes_and_catching_up_writes_them_all() {
    use masthead_testdata::events::{generate, SynthConfig};
    let addresses = DEFER_FROM_NEW_ADDRESSES + 200;
    let events = generate(&SynthConfig { addresses, subscriptions: 400, concurrency: 8, seed: 5 });
    let (import, rest) = events.split_at(addresses);
    let (more, last) = rest.split_at(rest.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    let reference = RedbStore::open(&dir.path().join("reference.redb")).unwrap();
    let lagging = RedbStore::open(&dir.path().join("lagging.redb")).unwrap();

    // Too few new addresses to defer: indexed with the batch.
    let (few, import) = import.split_at(100);
    reference.apply_batch_blocking(few).unwrap();
    lagging.apply_backlog_batch_blocking(few, 1_000_000).unwrap();
    assert!(!indexes_behind(&lagging));
    assert_eq!(address_index_entries(&lagging), address_index_entries(&reference));

    lagging.apply_backlog_batch_blocking(import, 1_000_000).unwrap();
    assert!(indexes_behind(&lagging), "an import's batch defers the indexes");
    reference.apply_batch_blocking(import).unwrap();
    assert_ne!(address_index_entries(&lagging), address_index_entries(&reference));
    // The rows are current: an address reads back by id while its index
    // entries wait.
    let id: Uuid = import.last().unwrap().envelope.aggregate_id.parse().unwrap();
    assert!(lagging.address_blocking(id).unwrap().is_some());

    // Still a backlog, few new addresses: stays behind.
    let (more_a, more_b) = more.split_at(more.len() / 2);
    lagging.apply_backlog_batch_blocking(more_a, 1_000_000).unwrap();
    reference.apply_batch_blocking(more_a).unwrap();
    assert!(indexes_behind(&lagging));
    // Behind for longer than the bound: this backlog batch catches up.
    lagging.index_lag.lock().unwrap().since = Some(std::time::Instant::now() - MAX_INDEX_LAG);
    lagging.apply_backlog_batch_blocking(more_b, 1_000_000).unwrap();
    reference.apply_batch_blocking(more_b).unwrap();
    assert!(!indexes_behind(&lagging), "caught up after the lag bound");
    assert_eq!(address_index_entries(&lagging), address_index_entries(&reference));

    // Behind again, then the backlog is gone: the next batch catches up.
    let again = RedbStore::open(&dir.path().join("again.redb")).unwrap();
    again.apply_batch_blocking(few).unwrap();
    again.apply_backlog_batch_blocking(import, 1_000_000).unwrap();
    assert!(indexes_behind(&again));
    again.apply_batch_blocking(more).unwrap();
    again.apply_batch_blocking(last).unwrap();
    reference.apply_batch_blocking(last).unwrap();
    assert!(!indexes_behind(&again));
    assert_eq!(address_index_entries(&again), address_index_entries(&reference));

    // A crash while behind: opening the file catches up.
    let path = dir.path().join("crashed.redb");
    let crashed = RedbStore::open(&path).unwrap();
    crashed.apply_backlog_batch_blocking(&events, 1_000_000).unwrap();
    assert!(indexes_behind(&crashed));
    drop(crashed);
    let reopened = RedbStore::open(&path).unwrap();
    assert!(!indexes_behind(&reopened));
    assert_eq!(address_index_entries(&reopened), address_index_entries(&reference));
}

/// A backlog defers only when it is long beside the list the catch-up
/// rewrites, and only for an import's worth of new addresses.
#[test]
fn a_short_backlog_into_a_large_list_keeps_writing_its_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("p.redb")).unwrap();
    let many = DEFER_FROM_NEW_ADDRESSES;
    let stored = 1_000_000;
    assert!(!store.may_defer_indexes(false, many, stored / DEFER_FROM_BACKLOG_SHARE - 1, stored));
    assert!(!store.may_defer_indexes(false, many - 1, 10 * stored, stored));
    assert!(store.may_defer_indexes(false, many, stored / DEFER_FROM_BACKLOG_SHARE, stored));
    // Once deferred, a backlog keeps them deferred, up to the bound; a few
    // events waiting (perhaps none the projector will see) end it.
    let enough = KEEP_DEFERRING_FROM_WAITING;
    assert!(store.may_defer_indexes(true, 0, enough, stored));
    assert!(!store.may_defer_indexes(true, 0, enough - 1, stored));
    let ago = |secs| std::time::Instant::now() - std::time::Duration::from_secs(secs);
    store.index_lag.lock().unwrap().since = Some(ago(16));
    assert!(!store.may_defer_indexes(true, 0, enough, stored), "past MAX_INDEX_LAG");
    // Where a rewrite takes 3 s, the bound is ten rewrites: 30 s.
    store.index_lag.lock().unwrap().last_rewrite = std::time::Duration::from_secs(3);
    store.index_lag.lock().unwrap().since = Some(ago(20));
    assert!(store.may_defer_indexes(true, 0, enough, stored));
    store.index_lag.lock().unwrap().since = Some(ago(31));
    assert!(!store.may_defer_indexes(true, 0, enough, stored));
}
