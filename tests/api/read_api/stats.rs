use masthead_jetstream::lag::poll_lag;
use masthead_jetstream::topology::Topology;
use masthead_test_support::app::{consumer, spawn_app, API_AND_PROJECTOR};
use masthead_test_support::history::{subscription_events, utc, Fate};
use masthead_test_support::wait_until;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn subscription(n: usize) -> Value {
    json!({
        "name": format!("Stats Tester {n}"),
        "email": format!("stats{n}@example.org"),
        "street": format!("Kerkstraat {n}"),
        "postal_code": "3511 LX",
        "city": "Utrecht",
        "country": "NL"
    })
}

/// The value of one labelled sample in the Prometheus text.
fn gauge(metrics: &str, name: &str, consumer: &str) -> Option<i64> {
    let prefix = format!("{name}{{consumer=\"{consumer}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn stats_carry_the_read_model_and_live_consumer_lag() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let empty = app.get_json("/api/v1/stats", 200).await;
    assert_eq!(empty["last_applied_seq"], 0);
    assert!(empty["seconds_since_last_applied_event"].is_null());
    assert_eq!(empty["score_histogram"].as_array().map(Vec::len), Some(10));
    for c in ["matcher", "projector", "mailer"] {
        assert_eq!(consumer(&empty, c)["pending"], 0, "{empty}");
    }

    // Three real subscriptions in the stream. The projector applies them;
    // no matcher or mailer runs, so those two have all three pending.
    for n in 1..=3 {
        assert_eq!(app.post_subscription(&subscription(n)).await.status(), 202);
    }
    app.record_dead_letter("mailer", 2, "550 mailbox unavailable").await;
    app.project_all().await;
    let last = app.store.last_sequence().await.expect("last sequence");

    let stats = app.get_json("/api/v1/stats", 200).await;
    assert_eq!(stats["last_applied_seq"], last);
    assert_eq!(stats["generation"], "g0");
    let registrations: u64 =
        stats["registrations_per_day"].as_object().expect("per day").values().filter_map(Value::as_u64).sum();
    assert_eq!(registrations, 3);
    let age = stats["seconds_since_last_applied_event"].as_f64().expect("age");
    assert!((0.0..60.0).contains(&age), "{age}");
    assert_eq!(stats["consumers"].as_array().map(Vec::len), Some(3));
    for (name, pending, dead) in [("matcher", 3, 0), ("projector", 0, 0), ("mailer", 3, 1)] {
        let c = consumer(&stats, name);
        assert_eq!(c["pending"], pending, "{name}: {stats}");
        assert_eq!(c["ack_pending"], 0, "{name}");
        assert_eq!(c["dead_letters"], dead, "{name}");
    }

    // The same poll sets the Prometheus gauges. Other tests in this binary
    // poll their own servers into the same process-wide gauges, so ask
    // again until ours is the latest write.
    wait_until("lag gauges of this server", Duration::from_secs(10), || async {
        app.get("/api/v1/stats").await;
        let metrics = app.get("/metrics").await.text().await.ok()?;
        let ok = [("matcher", 3), ("projector", 0), ("mailer", 3)].iter().all(|(c, pending)| {
            gauge(&metrics, "masthead_consumer_pending_messages", c) == Some(*pending)
                && gauge(&metrics, "masthead_consumer_ack_pending_messages", c) == Some(0)
        }) && gauge(&metrics, "masthead_dead_letters_total", "mailer") == Some(1);
        ok.then_some(())
    })
    .await
    .expect("gauges");

    // The stats read model itself.
    let events = [
        subscription_events(uuid::Uuid::new_v4(), utc(2025, 3, 1, 9), "NL", "Kerkstraat 1", Fate::Matched(95.0)),
        subscription_events(uuid::Uuid::new_v4(), utc(2025, 3, 2, 9), "NL", "Kerkstraat 2", Fate::Confirmed(72.0)),
        subscription_events(uuid::Uuid::new_v4(), utc(2025, 3, 2, 9), "NL", "Kerkstraat 3", Fate::New),
    ]
    .concat();
    app.publish(&events).await;
    let stats = app.get_json("/api/v1/stats", 200).await;
    assert_eq!(stats["registrations_per_day"]["2025-03-01"], 1);
    assert_eq!(stats["registrations_per_day"]["2025-03-02"], 2);
    assert_eq!(stats["matched"], 2);
    assert_eq!(stats["new"], 1);
    assert_eq!(stats["score_histogram"][9], 1);
    assert_eq!(stats["score_histogram"][7], 1);
    assert_eq!(stats["mail_sent"], 1);
}

#[tokio::test]
async fn lag_lookups_are_bounded_when_jetstream_is_gone() {
    let mut app = spawn_app(API_AND_PROJECTOR).await;
    app.seed_subscriptions(2).await;
    app.nats.stop();
    // Stats are cached for about a second: the body made before the stop
    // may be served once more, each answer still bounded.
    let stats = masthead_test_support::wait_until("stats made without JetStream", Duration::from_secs(10), || async {
        let started = Instant::now();
        let stats = app.get_json("/api/v1/stats", 200).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "stats took {took:?}");
        stats["consumers"][0]["pending"].is_null().then_some(stats)
    })
    .await
    .expect("fresh stats");
    for c in stats["consumers"].as_array().expect("consumers") {
        assert!(c["pending"].is_null(), "{c}");
        assert!(c["ack_pending"].is_null(), "{c}");
        assert!(c["dead_letters"].is_null(), "{c}");
    }
    // The read model still answers.
    assert!(stats["last_applied_seq"].as_u64().expect("seq") > 0);
}

/// A NATS server that accepts connections and answers pings but never
/// replies to a request: JetStream as seen from a process whose server is
/// wedged. Returns its URL.
async fn silent_nats_server() -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("nats://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let info = r#"INFO {"server_id":"silent","server_name":"silent","version":"2.10.0","proto":1,"headers":true,"max_payload":1048576,"jetstream":true}"#;
                if write.write_all(format!("{info}\r\n").as_bytes()).await.is_err() {
                    return;
                }
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if line.starts_with("PING") && write.write_all(b"PONG\r\n").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn lag_lookups_give_up_after_their_timeout_when_jetstream_never_answers() {
    let url = silent_nats_server().await;
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_secs(30)))
        .connect(&url)
        .await
        .expect("connect to the silent server");
    let js = async_nats::jetstream::new(client);
    let topology = Topology::new("SILENT");
    let started = Instant::now();
    let lags = poll_lag(&js, &topology, Duration::from_millis(300)).await;
    let took = started.elapsed();
    // The lookups run concurrently: about one timeout in all, not one per lookup.
    assert!(took < Duration::from_millis(1500), "poll_lag took {took:?}");
    assert_eq!(lags.iter().map(|l| l.consumer.as_str()).collect::<Vec<_>>(), ["matcher", "projector", "mailer"]);
    for lag in &lags {
        assert_eq!((lag.pending, lag.ack_pending, lag.dead_letters), (None, None, None), "{lag:?}");
    }
}
