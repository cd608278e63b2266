//! Replays read by several readers over several connections come back in
//! stream order, complete, and stop where they should.

use chrono::Utc;
use masthead_jetstream::replay::{replay, ReplayError, ReplayOptions, ReplayReport, Until, CHUNK};
use masthead_jetstream::topology::{setup, Topology};
use masthead_test_support::stream::{publish_recorded, server_with_stream};
use masthead_test_support::NatsServer;
use masthead_testdata::events::{generate, SynthConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Replays, keeping each event's sequence in the order applied.
async fn sequences(topology: &Topology, options: ReplayOptions<'_>) -> (Result<ReplayReport, ReplayError>, Vec<u64>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let apply = |batch: Vec<masthead_domain::envelope::Recorded<masthead_domain::envelope::AnyEvent>>| {
        let seen = seen.clone();
        async move {
            let n = batch.len() as u64;
            seen.lock().expect("lock").extend(batch.iter().map(|r| r.stream_sequence));
            Ok::<_, std::convert::Infallible>(n)
        }
    };
    let report = replay(topology, options, Some(apply), |_, _| {}).await;
    let seqs = seen.lock().expect("lock").clone();
    (report, seqs)
}

#[tokio::test]
async fn parallel_chunks_keep_stream_order_and_every_stopping_point() {
    let server = NatsServer::start().expect("nats");
    let mut readers = Vec::new();
    for _ in 0..3 {
        readers.push(async_nats::jetstream::new(server.client().await.expect("client")));
    }
    let topology = Topology::new("REPLAY");
    setup(&readers[0], &topology).await.expect("setup");
    let events = generate(&SynthConfig::for_events(3000));
    let (early, late) = events.split_at(events.len() / 2);
    let published = publish_recorded(&readers[0], &topology, early).await.expect("publish");
    assert_eq!(published, (1..=early.len() as u64).collect::<Vec<_>>());
    // Stored times are the server's clock: leave a gap on both sides of
    // the instant `--as-of` asks for.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let between = Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    publish_recorded(&readers[0], &topology, late).await.expect("publish");
    // Poison at the end: read, counted, skipped.
    let poison = readers[0].publish(topology.subject("subscription", "x"), "{".into()).await.expect("publish");
    let poison = poison.await.expect("ack").sequence;
    let n = events.len() as u64;
    assert_eq!(poison, n + 1);

    let options = ReplayOptions { from: 1, until: Until::default(), batch_size: 100, readers: &readers, chunk: 250 };
    let (report, seqs) = sequences(&topology, options).await;
    let report = report.expect("replay");
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "every event once, in stream order");
    assert_eq!((report.events, report.applied, report.undecodable, report.last_sequence), (n + 1, n, 1, n + 1));

    let one = ReplayOptions { readers: &readers[..1], chunk: CHUNK, ..options };
    assert_eq!(sequences(&topology, one).await.1, (1..=n).collect::<Vec<_>>());

    // Stopping inside a chunk, starting inside another.
    let until = Until { sequence: Some(777), time: None };
    let (report, seqs) = sequences(&topology, ReplayOptions { from: 130, until, ..options }).await;
    assert_eq!(seqs, (130..=777).collect::<Vec<_>>());
    assert_eq!(report.expect("replay").last_sequence, 777);

    // `--as-of`: the stream as it was between the two halves.
    let until = Until { sequence: None, time: Some(between) };
    let (_, seqs) = sequences(&topology, ReplayOptions { until, ..options }).await;
    assert_eq!(seqs, (1..=early.len() as u64).collect::<Vec<_>>());

    // Past the end: nothing, at once.
    let (report, seqs) = sequences(&topology, ReplayOptions { from: n + 5, ..options }).await;
    assert!(seqs.is_empty() && report.expect("replay").events == 0);
}

#[tokio::test]
async fn a_sink_error_stops_the_replay_and_keeps_its_source() {
    let (_server, js, topology) = server_with_stream("REPLAYFAIL").await.expect("nats-server with the stream");
    publish_recorded(&js, &topology, &generate(&SynthConfig::for_events(500))).await.expect("publish");
    let options = ReplayOptions { from: 1, until: Until::default(), batch_size: 100, readers: &[js], chunk: CHUNK };
    let calls = Arc::new(Mutex::new(0));
    let apply = |_batch| {
        let calls = calls.clone();
        async move {
            *calls.lock().expect("lock") += 1;
            Err::<u64, _>(std::io::Error::other("disk full"))
        }
    };
    let err = replay(&topology, options, Some(apply), |_, _| {}).await.expect_err("the sink failed");
    assert!(matches!(err, ReplayError::Sink(_)), "{err}");
    assert_eq!(std::error::Error::source(&err).map(|s| s.to_string()).as_deref(), Some("disk full"));
    assert_eq!(*calls.lock().expect("lock"), 1, "no batch after the failing one");
}
