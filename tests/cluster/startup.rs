//! A first start on a cluster that is still forming, as on a first Helm
//! install where NATS and the application start together: with two of three
//! nodes up an R3 stream cannot be placed ("no suitable peers for
//! placement"), and `setup` and every role wait for it instead of exiting.

use crate::common::MASTHEAD;
use crate::harness::*;
use crate::serial;
use masthead_test_support::cluster::NatsCluster;
use masthead_test_support::{wait_until, System};
use serde_json::Value;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_and_roles_wait_for_a_forming_cluster_alive_but_unready() {
    let _serial = serial().await;
    let started = Instant::now();
    let cluster = NatsCluster::start_partial(3, 2).await.expect("two of three nodes");
    let mut app = ClusterApp::on(cluster);
    app.system.start("setup", &["setup"]).expect("setup");
    app.system.start("up", &["up"]).expect("up");
    // Listening (the liveness probe's /healthz answers) while it waits.
    app.system.wait_listening().await.expect("alive while waiting");
    let pid = app.system.pid("up").expect("pid");
    let readyz = format!("{}/readyz", app.system.base_url());
    let waiting = wait_until("/readyz to say it waits for the cluster", Duration::from_secs(30), || async {
        let response = app.http.get(&readyz).send().await.ok()?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.ok()?;
        let reason = body["reason"].as_str().unwrap_or_default().to_owned();
        (status == 503 && reason.contains("the NATS cluster to place stream")).then_some(reason)
    })
    .await
    .expect("unready, saying why");
    println!("with 2 of 3 nodes up, /readyz: 503 {waiting:?}");
    let subscribe = format!("{}/api/v1/subscriptions", app.system.base_url());
    let refused = app.http.post(&subscribe).json(&nth_body(0)).send().await.expect("an answer");
    assert_eq!(refused.status(), 503, "a request before the stream exists is refused");
    assert!(refused.headers().contains_key("retry-after"));
    // Both keep waiting, and say why in their logs.
    let system = &app.system;
    wait_until("both logs to say why they wait", Duration::from_secs(30), || async {
        let said = |role: &str| system.log(role).contains("the NATS cluster cannot take the stream and buckets yet");
        (said("up") && said("setup")).then_some(())
    })
    .await
    .expect("logged");
    assert!(app.system.is_running("setup") && app.system.is_running("up"), "{}", app.system.log("setup"));

    let third = Instant::now();
    println!("third node starts at {}", chrono::Utc::now());
    app.cluster.start_node(2).await.expect("the third node");
    let exited = app.system.wait_exit("setup", Duration::from_secs(90)).await;
    let status = exited.unwrap_or_else(|| panic!("setup still waits: {}", app.system.log("setup")));
    assert!(status.success(), "setup: {}", app.system.log("setup"));
    let setup_done = third.elapsed();
    // What the waiting looked like: each distinct reason setup logged.
    let log = app.system.log("setup");
    let mut reasons: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"].as_str().is_some_and(|m| m.contains("cannot take the stream and buckets yet")))
        .filter_map(|l| Some(format!("{} {}", l["timestamp"].as_str()?, l["error"].as_str()?)))
        .collect();
    reasons.dedup_by(|a, b| a.split_once(' ').map(|x| x.1) == b.split_once(' ').map(|x| x.1));
    assert!(reasons.iter().any(|r| r.contains("10005")), "setup never said why: {reasons:#?}");
    println!("setup waited, logging: {reasons:#?}");
    app.wait_ready().await;
    let ready = third.elapsed();
    println!("the third node started: setup done after {setup_done:?}, `up` ready after {ready:?}");
    assert_eq!(app.system.pid("up"), Some(pid), "the role waited; it was not restarted");

    let admin = async_nats::jetstream::new(app.cluster.client().await.expect("client"));
    let mut stream = admin.get_stream(STREAM).await.expect("stream");
    assert_eq!(stream.info().await.expect("info").config.num_replicas, 3);
    let load = Load::start(&app, 1, Duration::from_millis(10), 8);
    load.wait_accepted(8).await;
    let report = load.finish().await;
    report.assert_all_accepted();
    report.assert_nothing_lost_or_doubled(&app).await;
    println!("test took {:?}", started.elapsed());
}

/// The documented URL list parses, and one that does not is refused at
/// once, as a parse error naming the URL: not retried for the connection's
/// patience (30 s) and then reported as "no NATS server answered".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_list_that_does_not_parse_is_refused_at_once_naming_the_url() {
    let mut system =
        System::on_cluster(MASTHEAD, None, "nats://a:4222, nats://b:notaport,nats://c:4222").expect("system");
    system.start("setup", &["setup"]).expect("setup");
    let status = system.wait_exit("setup", Duration::from_secs(10)).await;
    let log = system.log("setup");
    assert!(status.is_some_and(|s| !s.success()), "setup should have failed at once: {status:?} {log}");
    assert!(log.contains("cannot parse NATS server URL") && log.contains("nats://b:notaport"), "{log}");
    assert!(!log.contains("no NATS server answered"), "{log}");
}
