//! The projector's rebuild against a real nats-server: replaying the stream
//! into a fresh generation gives the same read models as applying the
//! events directly, and switches readers to it only without a stopping point.

use masthead_jetstream::replay::Until;
use masthead_projections::projector::generations::{active_generation, StoreLocation};
use masthead_projections::projector::rebuild::{rebuild, Pass, RebuildOptions};
use masthead_projections::RedbStore;
use masthead_test_support::stream::{publish_recorded, server_with_stream};
use masthead_testdata::events::{generate, SynthConfig};

#[tokio::test]
async fn a_rebuild_reproduces_the_read_models_and_then_becomes_active() {
    let (server, js, topology) = server_with_stream("REBUILD").await.expect("nats-server with the stream");
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

/// The curation and review events have no read models yet (a later step of
/// the workbench adds them): until then the projector must read them,
/// count them and change nothing, never reject or dead-letter them.
#[tokio::test]
async fn curation_and_review_events_are_replayed_and_rejected_by_nobody() {
    use chrono::Utc;
    use masthead_domain::base_address::{
        BaseAddressCorrected, BaseAddressEvent, BaseAddressMerged, BaseAddressRetired,
    };
    use masthead_domain::envelope::{AnyEvent, Recorded};
    use masthead_domain::review::{ReviewDecided, ReviewDecision, ReviewEvent, ReviewKind, ReviewOpened};
    use masthead_domain::schema::EventSchema;
    use masthead_testdata::events::envelope;

    let (_server, js, topology) = server_with_stream("CURATED").await.expect("nats-server with the stream");
    let mut events = generate(&SynthConfig::for_events(300));
    let registered: Vec<_> = events
        .iter()
        .filter_map(|r| match &r.event {
            AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRegistered(e)) => Some(e.clone()),
            _ => None,
        })
        .take(3)
        .collect();
    let [kept, merged, retired] = <[_; 3]>::try_from(registered).expect("three addresses");
    let at = Utc::now();
    let review_id = uuid::Uuid::from_u128(0x2e71e3);
    let curation = [
        AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressCorrected(BaseAddressCorrected {
            base_address_id: kept.base_address_id,
            before: kept.address.clone(),
            address: kept.address.clone(),
            previous_ref: kept.reference.clone(),
            reference: Some("CORRECTED".into()),
            canonical: kept.canonical.clone(),
            actor: "curator".into(),
            reason: None,
            corrected_at: at,
        })),
        AnyEvent::Review(ReviewEvent::ReviewOpened(ReviewOpened {
            review_id,
            kind: ReviewKind::Duplicate,
            reason: None,
            address_id: merged.base_address_id,
            subscription_id: None,
            candidates: Vec::new(),
            opened_at: at,
        })),
        AnyEvent::Review(ReviewEvent::ReviewDecided(ReviewDecided {
            review_id,
            decision: ReviewDecision::Merge { merged: merged.base_address_id, into: kept.base_address_id },
            actor: "curator".into(),
            reason: None,
            opened_at: at,
            decided_at: at,
        })),
        AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressMerged(BaseAddressMerged {
            base_address_id: merged.base_address_id,
            into: kept.base_address_id,
            key: merged.canonical.key.clone(),
            actor: "curator".into(),
            reason: None,
            merged_at: at,
        })),
        AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRetired(BaseAddressRetired {
            base_address_id: retired.base_address_id,
            actor: "curator".into(),
            reason: "demolished".into(),
            retired_at: at,
        })),
    ];
    for event in curation {
        let seq = events.len() as u64 + 1;
        let (kind, id, event_type) = match &event {
            AnyEvent::BaseAddress(e) => (BaseAddressEvent::AGGREGATE_TYPE, e.base_address_id(), e.event_type()),
            AnyEvent::Review(e) => (ReviewEvent::AGGREGATE_TYPE, e.review_id(), e.event_type()),
            AnyEvent::Subscription(_) => unreachable!("only curation and review events here"),
        };
        let envelope = envelope(kind, id.to_string(), event_type, seq, at);
        events.push(Recorded { envelope, stream_sequence: seq, event });
    }
    publish_recorded(&js, &topology, &events).await.expect("publish");
    let n = events.len() as u64;

    let direct_dir = tempfile::tempdir().expect("dir");
    let (_, direct) = RedbStore::create_generation(direct_dir.path()).expect("store");
    let report = direct.apply_batch_blocking(&events).expect("apply");
    assert!(report.rejected.is_empty(), "rejected: {:?}", report.rejected);
    assert_eq!(report.applied, n);

    let data = tempfile::tempdir().expect("dir");
    let location = StoreLocation { data_dir: data.path().to_path_buf(), mongodb: None };
    let readers = [js.clone()];
    let options = RebuildOptions {
        generation: Some("c1".into()),
        until: Until::default(),
        readers: &readers,
        compare_raw: false,
    };
    let report = rebuild(&location, &topology, options, |_, _, _| {}).await.expect("rebuild");
    assert_eq!(report.built.undecodable, 0);
    assert_eq!(report.built.applied, n, "every event, curation and review included, was applied");
    assert_eq!(report.built.last_sequence, n);
}
