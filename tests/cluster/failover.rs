//! Node failures and maintenance under a steady intake load, against the
//! application on a 3-node 2.14 cluster with R3 streams and buckets.

use crate::harness::*;
use crate::serial;
use masthead_test_support::wait_until;
use std::time::{Duration, Instant};

/// Four workers, one request each every 40 ms: about 100 subscriptions a
/// second while everything is up.
const WORKERS: usize = 4;
const PACE: Duration = Duration::from_millis(40);
/// Subscriptions per node-kill test: a few hundred keep each test lean.
const SUBSCRIPTIONS: usize = 300;

/// kill -9 of the event stream's leader while subscriptions come in. The
/// API's own connection is on another node, so what is measured is the
/// stream's election, not a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_the_stream_leader_during_intake_loses_and_doubles_nothing() {
    let _serial = serial().await;
    let started = Instant::now();
    let mut app = ClusterApp::new().await;
    app.start_up().await;
    let api_node = app.api_node().await;
    app.lead_elsewhere(STREAM, api_node).await;
    let leader = app.cluster.stream_leader(STREAM).await.expect("a leader");

    let load = Load::start(&app, WORKERS, PACE, SUBSCRIPTIONS);
    load.wait_accepted(SUBSCRIPTIONS / 3).await;
    let fault = Instant::now();
    app.cluster.kill9(leader);
    let cluster = &app.cluster;
    let elected = wait_until("a new stream leader", Duration::from_secs(30), || async {
        cluster.stream_leader(STREAM).await.map(|_| fault.elapsed())
    })
    .await
    .expect("elected");
    // Some accepted after the fault, so the window has an end.
    load.wait_accepted((load.accepted() + 20).min(SUBSCRIPTIONS)).await;
    let report = load.finish().await;
    let window = report.window(fault);
    println!(
        "kill -9 of {STREAM}'s leader {}: new leader seen after {elected:?}; intake unavailable for {:?} \
         (longest gap between 202s), first 202 {:?} after the kill; {} refusals, slowest {:?}",
        app.cluster.name(leader),
        window.longest_gap,
        window.first_accept_after,
        window.refused,
        window.slowest_refusal
    );
    report.assert_only_accepts_and_quick_refusals();
    app.heal(leader).await;
    report.assert_nothing_lost_or_doubled(&app).await;
    assert_replicas_agree(&app).await;
    println!("{} subscriptions, test took {:?}", report.accepted.len(), started.elapsed());
}

/// kill -9 of the node the API's connection is on: the client reconnects
/// to another node by itself, and the process goes on without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_the_node_the_api_is_connected_to_fails_over_without_a_restart() {
    let _serial = serial().await;
    let started = Instant::now();
    let mut app = ClusterApp::new().await;
    app.start_up().await;
    let pid = app.system.pid("up").expect("pid");
    let node = app.api_node().await;
    // The stream's leader elsewhere: this measures the client's failover.
    app.lead_elsewhere(STREAM, node).await;

    let load = Load::start(&app, WORKERS, PACE, SUBSCRIPTIONS);
    load.wait_accepted(SUBSCRIPTIONS / 3).await;
    let fault = Instant::now();
    app.cluster.kill9(node);
    let (cluster, name) = (&app.cluster, app.api_connection());
    let (now_on, reconnected) = wait_until("the API's connection on another node", Duration::from_secs(30), || async {
        cluster.node_with_connection(&name).await.filter(|n| *n != node).map(|n| (n, fault.elapsed()))
    })
    .await
    .expect("reconnected");
    load.wait_accepted((load.accepted() + 20).min(SUBSCRIPTIONS)).await;
    let report = load.finish().await;
    let window = report.window(fault);
    println!(
        "kill -9 of {} (the API's node): reconnected to {} after {reconnected:?}; intake unavailable for {:?}, \
         first 202 {:?} after the kill; {} refusals, slowest {:?}",
        app.cluster.name(node),
        app.cluster.name(now_on),
        window.longest_gap,
        window.first_accept_after,
        window.refused,
        window.slowest_refusal
    );
    report.assert_only_accepts_and_quick_refusals();
    assert!(app.system.is_running("up"), "the process survived: {}", app.system.log("up"));
    assert_eq!(app.system.pid("up"), Some(pid), "no restart");
    app.heal(node).await;
    report.assert_nothing_lost_or_doubled(&app).await;
    println!("{} subscriptions, test took {:?}", report.accepted.len(), started.elapsed());
}

/// The leaders of the data-key, idempotency and lease buckets all on one
/// node, and the active matcher beside it, as on a machine that ran both:
/// kill -9 of both. Intake recovers as above, and the standby matcher takes
/// the lease once it lapses, within the lease's TTL of its last renewal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_the_kv_leaders_node_and_the_active_matcher_moves_the_lease_within_its_ttl() {
    let _serial = serial().await;
    let started = Instant::now();
    let mut app = ClusterApp::new().await;
    // The standalone matcher starts first and takes the lease; `up`'s own
    // matcher is the standby.
    app.system.start("matcher", &["matcher"]).expect("matcher");
    let admin = async_nats::jetstream::new(app.cluster.client().await.expect("client"));
    let active = app.system.pid("matcher").expect("pid");
    wait_until("the standalone matcher holds the lease", Duration::from_secs(60), || async {
        lease_holder(&admin).await.filter(|(pid, _)| *pid == active)
    })
    .await
    .expect("lease taken");
    app.start_up().await;
    let standby = app.system.pid("up").expect("pid");

    let api_node = app.api_node().await;
    let node = (api_node + 1) % 3;
    let client = app.cluster.client().await.expect("client");
    for bucket in ["keys", "idempotency", "leases"] {
        let stream = format!("KV_{STREAM}_{bucket}");
        app.cluster.move_leader(&client, &stream, node).await.expect("KV leader moved");
    }
    app.lead_elsewhere(STREAM, node).await;

    let load = Load::start(&app, WORKERS, PACE, SUBSCRIPTIONS);
    load.wait_accepted(SUBSCRIPTIONS / 3).await;
    let (_, last_renewal) = lease_holder(&admin).await.expect("a lease");
    let fault = Instant::now();
    app.cluster.kill9(node);
    app.system.kill9("matcher");
    let taken = wait_until("the standby to take the lease", Duration::from_secs(60), || async {
        lease_holder(&admin).await.filter(|(pid, _)| *pid == standby).map(|(_, at)| (at, fault.elapsed()))
    })
    .await
    .expect("lease moved");
    load.wait_accepted((load.accepted() + 20).min(SUBSCRIPTIONS)).await;
    let report = load.finish().await;
    let window = report.window(fault);
    let since_renewal = (taken.0 - last_renewal).to_std().unwrap_or_default();
    println!(
        "kill -9 of {} (leader of {STREAM}_keys, _idempotency, _leases) and of the active matcher: the standby \
         took the lease {:?} after the kill, {since_renewal:?} after the lease's last renewal (TTL {:?}); intake \
         unavailable for {:?}, first 202 {:?} after the kill; {} refusals, slowest {:?}",
        app.cluster.name(node),
        taken.1,
        masthead_jetstream::lease::LEASE_TTL,
        window.longest_gap,
        window.first_accept_after,
        window.refused,
        window.slowest_refusal
    );
    report.assert_only_accepts_and_quick_refusals();
    // The entry lapses one TTL after its last write (the server's expiry
    // timer fires within about a second of that), and the standby asks once
    // a second (`MatcherOptions::lease_poll`).
    let bound = masthead_jetstream::lease::LEASE_TTL + Duration::from_secs(2);
    assert!(since_renewal <= bound, "the lease moved {since_renewal:?} after its last renewal, over {bound:?}");
    app.heal(node).await;
    report.assert_nothing_lost_or_doubled(&app).await;
    println!("{} subscriptions, test took {:?}", report.accepted.len(), started.elapsed());
}

/// A rolling restart of the whole cluster (stop a node with SIGTERM, start
/// it again, wait until the cluster is healthy and the stream current,
/// then the next) while subscriptions come in: every request is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_refuses_nothing_and_loses_nothing() {
    let _serial = serial().await;
    let started = Instant::now();
    let mut app = ClusterApp::new().await;
    app.start_up().await;
    // Half the pace of the kill tests, for as long as the restart takes.
    let load = Load::start(&app, WORKERS, PACE * 2, usize::MAX);
    load.wait_accepted(50).await;
    let mut took = Vec::new();
    for node in 0..app.cluster.len() {
        let t = Instant::now();
        app.cluster.stop(node).await;
        app.heal(node).await;
        took.push(t.elapsed());
        load.wait_accepted(load.accepted() + 20).await;
    }
    let report = load.finish().await;
    let slowest = report.answers.iter().map(|a| a.took).max().unwrap_or_default();
    println!(
        "rolling restart of 3 nodes ({took:?} each until healthy and current) under load: {} answers, slowest {slowest:?}",
        report.answers.len()
    );
    report.assert_all_accepted();
    report.assert_nothing_lost_or_doubled(&app).await;
    assert_replicas_agree(&app).await;
    println!("{} subscriptions, test took {:?}", report.accepted.len(), started.elapsed());
}

/// Every node holds the same copy of the event stream (once followers
/// have applied what the leader has).
async fn assert_replicas_agree(app: &ClusterApp) {
    let cluster = &app.cluster;
    let agreed = wait_until("every replica of the stream the same", Duration::from_secs(30), || async {
        let mut states = Vec::new();
        for i in 0..cluster.len() {
            states.push(cluster.stream_state_on(i, STREAM).await?);
        }
        states.windows(2).all(|w| w[0] == w[1]).then_some(states)
    })
    .await;
    assert!(agreed.is_ok(), "{agreed:?}");
}
