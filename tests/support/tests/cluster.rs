//! The JetStream cluster harness against real nats-servers: 3 nodes of the
//! production line (2.14), plus the oldest supported line (2.10) for the
//! optimistic-concurrency error codes.
//!
//! Run with `MASTHEAD_NATS_SERVER=$(infra/scripts/ensure-nats.sh)` (and
//! `infra/scripts/ensure-nats.sh 2.10` once for the 2.10 tests), one test at
//! a time: each starts its own cluster.

use anyhow::{ensure, Context as _, Result};
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage as Publish;
use async_nats::jetstream::{self, kv, stream};
use masthead_test_support::cluster::NatsCluster;
use masthead_test_support::nats::NatsLine;
use masthead_test_support::wait_until;
use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `JSStreamWrongLastSequenceErrF`: "wrong last sequence: {seq}".
const WRONG_LAST_SEQUENCE: u64 = 10071;
/// `JSStreamWrongLastSequenceConstantErr`: "wrong last sequence" (no seq).
const WRONG_LAST_SEQUENCE_CONSTANT: u64 = 10164;

const WAIT: Duration = Duration::from_secs(30);

async fn r3_stream(js: &jetstream::Context, name: &str, subjects: &str) -> Result<stream::Stream> {
    create_placed(
        js,
        stream::Config {
            name: name.to_string(),
            subjects: vec![subjects.to_string()],
            num_replicas: 3,
            ..Default::default()
        },
    )
    .await
}

/// Creates a replicated stream, retrying while the meta leader cannot
/// place it yet: a healthy cluster (every node current with the meta
/// leader) can still answer "no suitable peers for placement, peer
/// offline" (10005) for a moment, until the leader has heard from each
/// peer's stats, which on a loaded machine can lag.
async fn create_placed(js: &jetstream::Context, config: stream::Config) -> Result<stream::Stream> {
    let name = config.name.clone();
    let last = Mutex::new(String::new());
    let created = wait_until(&format!("stream {name} placed"), WAIT, || {
        let (config, last) = (config.clone(), &last);
        async move { js.create_stream(config).await.map_err(|e| *last.lock().unwrap() = e.to_string()).ok() }
    })
    .await;
    created.with_context(|| format!("last error: {}", last.lock().unwrap()))
}

/// Publishes once the stream behind `subject` answers, retrying while the
/// publish gets no responders.
async fn publish_when_served(js: &jetstream::Context, subject: &str) -> Result<()> {
    wait_until(&format!("a stream answering on {subject}"), WAIT, || async move {
        match js.publish(subject.to_string(), "x".into()).await.ok()?.await {
            Ok(ack) => Some(Ok(ack)),
            Err(e) if e.kind() == PublishErrorKind::StreamNotFound => None,
            Err(e) => Some(Err(e)),
        }
    })
    .await??;
    Ok(())
}

async fn wait_stream_current(cluster: &NatsCluster, stream: &str) -> Result<()> {
    wait_until(&format!("every replica of {stream} current"), WAIT, || async move {
        cluster.stream_current(stream).await.then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_forms_and_serves_r3_stream_and_kv() -> Result<()> {
    let started = Instant::now();
    let cluster = NatsCluster::start(3).await?;
    println!("{:?} 3-node cluster healthy after {:?}", cluster.version(), started.elapsed());
    assert_eq!((cluster.version().0, cluster.version().1), (2, 14), "the production line");
    let meta = cluster.meta_leader().await.context("a meta leader")?;
    println!("meta leader: {}", cluster.name(meta));
    assert_eq!(cluster.urls_csv().split(',').count(), 3);

    let client = cluster.client().await?;
    let js = jetstream::new(client.clone());
    let mut orders = r3_stream(&js, "ORDERS", "orders.>").await?;
    // Right after the create, the leader's interest in orders.> may not have
    // reached the client's node over the routes yet: "no responders" (503,
    // async-nats: StreamNotFound) until it has.
    publish_when_served(&js, "orders.1").await?;
    let info = orders.info().await?;
    assert_eq!(info.config.num_replicas, 3);
    let leader = cluster.stream_leader("ORDERS").await.context("ORDERS has a leader")?;
    assert_eq!(info.cluster.as_ref().and_then(|c| c.leader.as_deref()), Some(cluster.name(leader)));
    wait_stream_current(&cluster, "ORDERS").await?;
    let replicas = cluster.stream_replicas("ORDERS").await.context("replicas")?;
    assert_eq!(replicas.len(), 2, "{replicas:?}");
    assert!(replicas.iter().all(|r| r.node.is_some_and(|n| n != leader)), "{replicas:?}");

    let kv = js
        .create_key_value(kv::Config { bucket: "PROFILES".into(), history: 5, num_replicas: 3, ..Default::default() })
        .await?;
    // The same as for ORDERS: retried until the bucket's interest arrived.
    let bucket = &kv;
    let rev =
        wait_until("PROFILES answering a put", WAIT, || async move { bucket.put("alice", "v1".into()).await.ok() })
            .await?;
    assert_eq!(kv.get("alice").await?.as_deref(), Some(&b"v1"[..]));
    kv.update("alice", "v2".into(), rev).await?;
    let kv_leader = cluster.kv_leader("PROFILES").await.context("PROFILES has a leader")?;
    let status = kv.status().await?;
    assert_eq!(status.info.cluster.and_then(|c| c.leader).as_deref(), Some(cluster.name(kv_leader)));
    wait_stream_current(&cluster, "KV_PROFILES").await?;
    println!("ORDERS led by {}, KV PROFILES by {}", cluster.name(leader), cluster.name(kv_leader));

    let on = cluster.connected_node(&client).context("client connected")?;
    assert_eq!(client.server_info().port, cluster.client_port(on));
    Ok(())
}

/// A publisher that keeps appending numbered messages (each retried under
/// its own `Nats-Msg-Id` until acked, so none is lost or doubled) and
/// records when each ack arrived.
struct Publisher {
    acks: Arc<Mutex<Vec<Instant>>>,
    errors: Arc<Mutex<BTreeMap<String, u32>>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<u64>>,
}

impl Publisher {
    fn start(js: jetstream::Context, prefix: &'static str) -> Self {
        let acks = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, e, s) = (acks.clone(), errors.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                let publish = Publish::build().payload(format!("event {n}").into()).message_id(format!("{prefix}-{n}"));
                let res = match js.send_publish(format!("{prefix}.{}", n % 16), publish).await {
                    Ok(ack) => ack.await,
                    Err(err) => Err(err),
                };
                match res {
                    Ok(_) => {
                        a.lock().unwrap().push(Instant::now());
                        n += 1;
                    }
                    Err(err) => {
                        *e.lock().unwrap().entry(err.kind().to_string()).or_insert(0) += 1;
                        // Only a retry pause: "no responders" comes back at once
                        // while no replica leads.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            Ok(n)
        });
        Self { acks, errors, stop, task }
    }

    fn acked(&self) -> usize {
        self.acks.lock().unwrap().len()
    }

    async fn wait_acked(&self, n: usize) -> Result<()> {
        wait_until(&format!("{n} acked publishes"), WAIT, || async move { (self.acked() >= n).then_some(()) }).await
    }

    /// The longest stall between two consecutive acks from the last ack
    /// before `t` on, and when the ack that ended it came (from `t`).
    fn longest_stall_since(&self, t: Instant) -> Option<(Duration, Duration)> {
        let acks = self.acks.lock().unwrap();
        let from = acks.iter().rposition(|a| *a <= t)?;
        let end = acks[from..].windows(2).max_by_key(|w| w[1] - w[0])?;
        Some((end[1] - end[0], end[1].saturating_duration_since(t)))
    }

    async fn finish(self) -> Result<(u64, BTreeMap<String, u32>)> {
        self.stop.store(true, Ordering::Relaxed);
        let n = self.task.await??;
        let errors = self.errors.lock().unwrap().clone();
        Ok((n, errors))
    }
}

/// Kills (SIGKILL) or stops (SIGTERM) the leader of an R3 stream under a
/// steady publish load and measures how long publishes fail.
async fn leader_failover(graceful: bool) -> Result<()> {
    let started = Instant::now();
    let mut cluster = NatsCluster::start(3).await?;
    let admin = jetstream::new(cluster.client().await?);
    r3_stream(&admin, "EVENTS", "events.>").await?;
    wait_stream_current(&cluster, "EVENTS").await?;
    let old = cluster.stream_leader("EVENTS").await.context("EVENTS has a leader")?;

    // The publisher sits on a node that survives, so what is measured is the
    // stream's election, not a client reconnect. Its 250 ms ack timeout is
    // the resolution for a publish lost with the old leader.
    let survivor = (old + 1) % 3;
    let js =
        jetstream::ContextBuilder::new().timeout(Duration::from_millis(250)).build(cluster.client_to(survivor).await?);
    let publisher = Publisher::start(js, "events");
    publisher.wait_acked(200).await?;

    let how = if graceful { "SIGTERM" } else { "kill -9" };
    let t0 = Instant::now();
    if graceful {
        cluster.stop(old).await;
    } else {
        cluster.kill9(old);
    }
    let this = &cluster;
    let new =
        wait_until(
            "a new EVENTS leader",
            WAIT,
            || async move { this.stream_leader("EVENTS").await.filter(|l| *l != old) },
        )
        .await?;
    let elected = t0.elapsed();
    let acked_at_kill = publisher.acked();
    publisher.wait_acked(acked_at_kill + 200).await?;
    let (window, resumed) = publisher.longest_stall_since(t0).context("acks on both sides of the kill")?;
    println!(
        "{how} of EVENTS leader {}: {} leads after {elected:?} (seen by /jsz); publishes resumed {resumed:?} \
         after the {how}; unavailability window (longest gap between acks) {window:?}",
        cluster.name(old),
        cluster.name(new),
    );
    ensure!(new != old);

    // The old leader comes back on its ports and store, and catches up.
    let t1 = Instant::now();
    cluster.restart(old).await?;
    cluster.wait_healthy().await?;
    let this = &cluster;
    wait_until("the restarted node current and caught up on EVENTS", WAIT, || async move {
        let replicas = this.stream_replicas("EVENTS").await?;
        let back = replicas.iter().find(|r| r.node == Some(old))?;
        let leader = this.stream_leader("EVENTS").await?;
        // Publishes go on: caught up means at least where the leader was a
        // moment before.
        let (_, leader_last) = this.stream_state_on(leader, "EVENTS").await?;
        let (_, old_last) = this.stream_state_on(old, "EVENTS").await?;
        (back.current && old_last >= leader_last).then_some(())
    })
    .await?;
    println!("{} restarted, current and caught up after {:?}", cluster.name(old), t1.elapsed());

    let (published, errors) = publisher.finish().await?;
    println!("publish errors while no leader served: {errors:?}");
    let info = admin.get_stream("EVENTS").await?.info().await?.clone();
    assert_eq!(info.state.messages, published, "every acked event stored once (Nats-Msg-Id dedup across failover)");
    println!("{published} events, test took {:?}", started.elapsed());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_of_stream_leader_elects_another_and_restart_catches_up() -> Result<()> {
    leader_failover(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_of_stream_leader_hands_over() -> Result<()> {
    leader_failover(true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_with_all_urls_fails_over_by_itself() -> Result<()> {
    let mut cluster = NatsCluster::start(3).await?;
    // No reconnect by hand below: the client is given all URLs and the
    // default options (unlimited reconnects). The list as an operator
    // writes `MASTHEAD_NATS_URL`, through Masthead's own connect: comma-
    // separated, with DNS names, which the client resolves on every
    // (re)connect, trying each address.
    let urls = cluster.urls_csv().replace("127.0.0.1", "localhost");
    let settings = masthead_jetstream::connect::NatsSettings {
        urls: urls.replace(',', ", "),
        name: "failover-test".into(),
        credentials: None,
        patience: Duration::from_secs(10),
    };
    let client = masthead_jetstream::connect::connect(&settings).await?;
    let on = cluster.connected_node(&client).context("connected")?;

    // A short API timeout, so the waits below poll rather than sit out the
    // default 10 s on a request sent while no meta/stream leader answers.
    let js = jetstream::ContextBuilder::new().timeout(Duration::from_secs(1)).build(client.clone());
    r3_stream(&js, "PINGS", "pings.>").await?;
    publish_when_served(&js, "pings.1").await?;
    wait_stream_current(&cluster, "PINGS").await?;
    let roles = format!(
        "meta leader {:?}, PINGS leader {:?}",
        cluster.meta_leader().await.map(|i| cluster.name(i)),
        cluster.stream_leader("PINGS").await.map(|i| cluster.name(i))
    );

    let t0 = Instant::now();
    cluster.kill9(on);
    let (this, c) = (&cluster, &client);
    let now_on =
        wait_until("the client on another node", WAIT, || async move { this.connected_node(c).filter(|n| *n != on) })
            .await?;
    let reconnected = t0.elapsed();
    client.flush().await.context("a round trip on the new connection")?;
    let flushed = t0.elapsed();
    let js = &js;
    wait_until("a JetStream API request answered through the failed-over client", WAIT, || async move {
        js.query_account().await.ok()
    })
    .await?;
    let requested = t0.elapsed();
    wait_until("a JetStream publish acked through the failed-over client", WAIT, || async move {
        js.publish("pings.1", "after".into()).await.ok()?.await.ok()
    })
    .await?;
    println!(
        "client on {} killed ({roles}): reconnected to {} after {reconnected:?}, PING/PONG after {flushed:?}, \
         JetStream API answered after {requested:?}, R3 publish acked after {:?}",
        cluster.name(on),
        cluster.name(now_on),
        t0.elapsed()
    );
    Ok(())
}

/// The error code inside an async-nats publish error: async-nats maps only
/// 10071 to `PublishErrorKind::WrongLastSequence`; 10164 arrives as `Other`
/// with the server's error as its source.
fn js_error_code(err: &PublishError) -> Option<u64> {
    std::error::Error::source(err)?.downcast_ref::<async_nats::jetstream::Error>().map(|e| e.error_code().0)
}

#[derive(Debug, Default)]
struct OccRace {
    attempts: u32,
    /// Loser error codes (0: an error without a server code), with counts.
    loser_codes: BTreeMap<u64, u32>,
    /// How async-nats classified the losers, with counts.
    loser_kinds: BTreeMap<String, u32>,
}

/// Races two appends to one fresh subject with the same
/// `Nats-Expected-Last-Subject-Sequence` from two connections, `max` times,
/// or, with `until_10164 = Some(min)`, until a 10164 has come back and at
/// least `min` rounds ran. Each round asserts exactly one winner.
async fn occ_race(
    a: &jetstream::Context,
    b: &jetstream::Context,
    max: u32,
    until_10164: Option<u32>,
) -> Result<OccRace> {
    let mut race = OccRace::default();
    for k in 0..max {
        let subject = format!("occ.{k}");
        // An existing last message, so expected is not just "empty subject".
        let seed = a
            .send_publish(subject.clone(), Publish::build().payload("seed".into()).expected_last_subject_sequence(0))
            .await?
            .await?;
        let expected = seed.sequence;
        let pa = a.send_publish(
            subject.clone(),
            Publish::build().payload("a".into()).expected_last_subject_sequence(expected),
        );
        let pb = b.send_publish(
            subject.clone(),
            Publish::build().payload("b".into()).expected_last_subject_sequence(expected),
        );
        let (pa, pb) = tokio::join!(pa, pb);
        let (ra, rb) = tokio::join!(pa?.into_future(), pb?.into_future());
        race.attempts += 1;
        let results = [ra, rb];
        let winners = results.iter().filter(|r| r.is_ok()).count();
        ensure!(
            winners == 1,
            "round {k}: {winners} appends won with expected last-subject-seq {expected}: {results:?}"
        );
        for err in results.iter().filter_map(|r| r.as_ref().err()) {
            *race.loser_codes.entry(js_error_code(err).unwrap_or(0)).or_insert(0) += 1;
            let kind = match err.kind() {
                PublishErrorKind::WrongLastSequence => "WrongLastSequence".to_string(),
                other => format!("{other:?}"),
            };
            *race.loser_kinds.entry(kind).or_insert(0) += 1;
        }
        if until_10164.is_some_and(|min| race.attempts >= min)
            && race.loser_codes.contains_key(&WRONG_LAST_SEQUENCE_CONSTANT)
        {
            break;
        }
    }
    Ok(race)
}

/// Why a clustered 2.11+ server answers some optimistic-concurrency
/// conflicts with 10164 instead of 10071 (read in nats-server v2.14.5):
///
/// In a clustered (R>1) stream a publish is checked by the stream leader
/// *before* it is proposed to the Raft group (`processClusteredInboundMsg`
/// in `server/jetstream_cluster.go` calls
/// `checkMsgHeadersPreClusteredProposal` in `server/jetstream_batching.go`,
/// under `mset.clMu`), and checked against the store only once it is
/// committed and applied. For `Nats-Expected-Last-Subject-Sequence` the
/// pre-proposal check first asks whether the subject already has a message
/// in flight, i.e. proposed but not yet applied: in
/// `mset.expectedPerSubjectInProcess` (an earlier expected-seq publish,
/// staged by `batchStagedDiff.commit`) or in `mset.inflight` (any earlier
/// publish to the subject; 2.12+). If so, the leader cannot know the
/// subject's last sequence yet and rejects at once with
/// `NewJSStreamWrongLastSequenceConstantError()`: error code 10164,
/// `JSStreamWrongLastSequenceConstantErr`, "wrong last sequence" with no
/// sequence (`server/errors.json`). The in-process entry is removed in
/// `applyStreamMsgOp` once the first message is applied; a conflicting
/// publish that arrives after that is compared with the store
/// (`LoadLastMsg`) and gets 10071, `JSStreamWrongLastSequenceErrF`, "wrong
/// last sequence: N". So two racing appends give 10164 when the loser
/// reaches the leader within the winner's Raft round trip, and 10071
/// otherwise. 2.11 raised 10164 from `expectedPerSubjectInProcess` alone
/// (inline in `jetstream_cluster.go`); 2.10 has neither check and always
/// answers 10071 (from the store check at apply). A single, unclustered
/// server checks under the stream lock in `processJetStreamMsg`: 10071
/// only. async-nats 0.51 maps only 10071 to `WrongLastSequence`; 10164
/// surfaces as `PublishErrorKind::Other`, so a caller must treat both codes
/// as "lost the race, reload and retry".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occ_conflict_on_clustered_2_14_answers_10071_or_10164() -> Result<()> {
    let started = Instant::now();
    let cluster = NatsCluster::start(3).await?;
    let admin = jetstream::new(cluster.client().await?);
    r3_stream(&admin, "OCC", "occ.>").await?;
    wait_stream_current(&cluster, "OCC").await?;
    let leader = cluster.stream_leader("OCC").await.context("OCC has a leader")?;
    // Two connections, as two service instances would have.
    let a = jetstream::new(cluster.client_to(leader).await?);
    let b = jetstream::new(cluster.client_to(leader).await?);
    let race = occ_race(&a, &b, 200, Some(50)).await?;
    println!(
        "{:?}, R3 stream led by {}: {race:?}, took {:?}",
        cluster.version(),
        cluster.name(leader),
        started.elapsed()
    );
    for code in race.loser_codes.keys() {
        ensure!(
            *code == WRONG_LAST_SEQUENCE || *code == WRONG_LAST_SEQUENCE_CONSTANT,
            "a loser got error code {code}: {race:?}"
        );
    }
    ensure!(
        race.loser_codes.contains_key(&WRONG_LAST_SEQUENCE_CONSTANT),
        "no 10164 in {} races: {race:?}",
        race.attempts
    );
    Ok(())
}

async fn occ_on_2_10(nodes: usize) -> Result<()> {
    let started = Instant::now();
    let cluster = NatsCluster::start_line(NatsLine::V2_10, nodes).await?;
    assert_eq!((cluster.version().0, cluster.version().1), (2, 10));
    let admin = jetstream::new(cluster.client().await?);
    let config = stream::Config {
        name: "OCC".into(),
        subjects: vec!["occ.>".into()],
        num_replicas: nodes,
        ..Default::default()
    };
    create_placed(&admin, config).await?;
    let leader = if nodes > 1 {
        wait_stream_current(&cluster, "OCC").await?;
        cluster.stream_leader("OCC").await.context("OCC has a leader")?
    } else {
        0
    };
    let a = jetstream::new(cluster.client_to(leader).await?);
    let b = jetstream::new(cluster.client_to(leader).await?);
    let race = occ_race(&a, &b, 200, None).await?;
    println!("{:?}, {nodes} node(s): {race:?}, took {:?}", cluster.version(), started.elapsed());
    ensure!(
        race.loser_codes.keys().all(|c| *c == WRONG_LAST_SEQUENCE),
        "2.10 answered a lost race with another code than 10071: {race:?}"
    );
    ensure!(race.loser_kinds.keys().all(|k| k == "WrongLastSequence"), "{race:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occ_conflict_on_single_2_10_answers_only_10071() -> Result<()> {
    occ_on_2_10(1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn occ_conflict_on_clustered_2_10_answers_only_10071() -> Result<()> {
    occ_on_2_10(3).await
}

/// The error codes of every failed JetStream publish acknowledgement a
/// snooping connection sees on `_INBOX.>` (acks go to the publisher's
/// inbox, and on this test's own account anyone may listen).
struct AckSnoop {
    codes: Arc<Mutex<Vec<u64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl AckSnoop {
    async fn start(client: &async_nats::Client) -> Result<Self> {
        use futures::StreamExt;
        let mut inbox = client.subscribe("_INBOX.>").await?;
        client.flush().await?;
        let codes = Arc::new(Mutex::new(Vec::new()));
        let seen = codes.clone();
        let task = tokio::spawn(async move {
            while let Some(msg) = inbox.next().await {
                let answer: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap_or_default();
                if let Some(code) = answer["error"]["err_code"].as_u64() {
                    seen.lock().unwrap().push(code);
                }
            }
        });
        Ok(Self { codes, task })
    }

    /// The codes seen since the last call.
    fn take(&self) -> Vec<u64> {
        std::mem::take(&mut *self.codes.lock().unwrap())
    }
}

impl Drop for AckSnoop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The event store's own append path (`EventStore::append`, which the
/// command bus retries on `AppendError::Conflict`) on Masthead's real R3
/// topology: of two concurrent appends after the same event exactly one
/// wins, and the loser is a conflict, including the rounds in which the
/// server answered the loser with 10164, which async-nats reports as
/// `PublishErrorKind::Other` (without `is_conflict` it would be refused as
/// a 500). A snooping connection reads the codes off the acks, so the test
/// fails if no 10164 came back at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_store_appends_racing_on_clustered_2_14_see_10164_as_a_conflict() -> Result<()> {
    use masthead_domain::envelope::CommandMeta;
    use masthead_domain::subscription::{ConfirmationSent, SubscriptionEvent};
    use masthead_jetstream::store::{AppendError, EventStore};
    use masthead_jetstream::topology::{setup, Topology};

    let started = Instant::now();
    let cluster = NatsCluster::start(3).await?;
    let topology = Topology::new("OCCSTORE").with_replicas(3);
    let admin = jetstream::new(cluster.client().await?);
    // Retried while the meta leader cannot place R3 yet (see `create_placed`).
    wait_until("the R3 topology placed", WAIT, || async { setup(&admin, &topology).await.ok() }).await?;
    wait_stream_current(&cluster, "OCCSTORE").await?;
    let leader = cluster.stream_leader("OCCSTORE").await.context("OCCSTORE has a leader")?;
    // Two writers on the leader's node, as two API replicas would be: the
    // loser then reaches the leader within the winner's Raft round trip.
    let a = EventStore::new(jetstream::new(cluster.client_to(leader).await?), topology.clone());
    let b = EventStore::new(jetstream::new(cluster.client_to(leader).await?), topology.clone());
    let snoop = AckSnoop::start(&cluster.client_to(leader).await?).await?;
    let sent = |who: &str| {
        SubscriptionEvent::ConfirmationSent(ConfirmationSent { message_id: who.into(), sent_at: chrono::Utc::now() })
    };
    let meta = CommandMeta::default();
    let (mut rounds, mut by_code) = (0u32, BTreeMap::<u64, u32>::new());
    while rounds < 300 && !(rounds >= 50 && by_code.contains_key(&WRONG_LAST_SEQUENCE_CONSTANT)) {
        rounds += 1;
        let id = format!("race-{rounds}");
        let first = a.append(&id, 0, 1, &sent("first"), &meta).await?;
        // Each round ends once its one error acknowledgement was snooped, so
        // what is taken after the race belongs to it alone.
        ensure!(snoop.take().is_empty(), "round {rounds}: an error acknowledgement outside a race");
        let (event_a, event_b) = (sent("a"), sent("b"));
        let (ra, rb) = tokio::join!(
            a.append(&id, first.stream_sequence, 2, &event_a, &meta),
            b.append(&id, first.stream_sequence, 2, &event_b, &meta),
        );
        let winners = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        let conflicts = [&ra, &rb].iter().filter(|r| matches!(r, Err(AppendError::Conflict { .. }))).count();
        ensure!(winners == 1 && conflicts == 1, "round {rounds}: want one winner and one conflict: {ra:?} {rb:?}");
        let codes = wait_until("the loser's acknowledgement snooped", WAIT, || async {
            let codes = snoop.take();
            (!codes.is_empty()).then_some(codes)
        })
        .await?;
        for code in codes {
            ensure!(
                code == WRONG_LAST_SEQUENCE || code == WRONG_LAST_SEQUENCE_CONSTANT,
                "round {rounds}: the loser got {code}"
            );
            *by_code.entry(code).or_insert(0) += 1;
        }
    }
    println!(
        "{:?}: {rounds} races through EventStore::append, loser codes {by_code:?}, every loser a Conflict; took {:?}",
        cluster.version(),
        started.elapsed()
    );
    ensure!(by_code.contains_key(&WRONG_LAST_SEQUENCE_CONSTANT), "no 10164 in {rounds} races: {by_code:?}");
    Ok(())
}
