//! The projector's rebuild against a real nats-server: replaying the stream
//! into a fresh generation gives the same read models as applying the
//! events directly, and switches readers to it only without a stopping point.

use masthead_jetstream::replay::Until;
use masthead_jetstream::topology::{setup, Topology};
use masthead_projections::projector::generations::{active_generation, StoreLocation};
use masthead_projections::projector::rebuild::{rebuild, Pass, RebuildOptions};
use masthead_projections::RedbStore;
use masthead_test_support::stream::publish_recorded;
use masthead_test_support::NatsServer;
use masthead_testdata::events::{generate, SynthConfig};

#[tokio::test]
async fn a_rebuild_reproduces_the_read_models_and_then_becomes_active() {
    let server = NatsServer::start().expect("nats");
    let js = async_nats::jetstream::new(server.client().await.expect("client"));
    let topology = Topology::new("REBUILD");
    setup(&js, &topology).await.expect("setup");
    let events = generate(&SynthConfig::for_events(2000));
    publish_recorded(&js, &topology, &events).await.expect("publish");
    let n = events.len() as u64;

    let direct_dir = tempfile::tempdir().expect("dir");
    let (_, direct) = RedbStore::create_generation(direct_dir.path()).expect("store");
    for batch in events.chunks(100) {
        direct.apply_batch_blocking(batch).expect("apply");
    }

    let data = tempfile::tempdir().expect("dir");
    let location = StoreLocation { data_dir: data.path().to_path_buf(), mongodb: None };
    let readers = [js.clone(), async_nats::jetstream::new(server.client().await.expect("client"))];

    // A past view: built up to a sequence, never switched to.
    let options = RebuildOptions {
        generation: Some("past".into()),
        until: Until { sequence: Some(100), time: None },
        readers: &readers,
        compare_raw: false,
    };
    let past = rebuild(&location, &topology, options, |_, _, _| {}).await.expect("rebuild");
    assert!(!past.activated && past.raw.is_none());
    assert_eq!(past.built.last_sequence, 100);
    assert_eq!(active_generation(&js, &topology, None).await.expect("active"), "g0");

    let mut passes = Vec::new();
    let options =
        RebuildOptions { generation: Some("r1".into()), until: Until::default(), readers: &readers, compare_raw: true };
    let report = rebuild(&location, &topology, options, |pass, done, total| {
        if passes.last() != Some(&pass) {
            passes.push(pass);
        }
        assert!(done <= total);
    })
    .await
    .expect("rebuild");
    assert_eq!(passes, vec![Pass::Read, Pass::Rebuild]);
    assert_eq!(report.raw.as_ref().map(|r| r.events), Some(n));
    assert_eq!(report.built.applied, n);
    assert!(report.activated);
    assert_eq!(active_generation(&js, &topology, None).await.expect("active"), "r1");

    let rebuilt = RedbStore::open(&data.path().join("projections").join("r1.redb")).expect("open");
    let stats = rebuilt.stats_blocking().expect("stats");
    assert_eq!(stats.last_applied_seq, n);
    assert_eq!(stats, direct.stats_blocking().expect("stats"));

    // A generation with data is never rebuilt over.
    let again = RebuildOptions {
        generation: Some("r1".into()),
        until: Until::default(),
        readers: &readers,
        compare_raw: false,
    };
    drop(rebuilt);
    assert!(rebuild(&location, &topology, again, |_, _, _| {}).await.is_err());
}
