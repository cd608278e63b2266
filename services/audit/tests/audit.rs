//! Tamper evidence against a real nats-server: the anchorer signs the
//! stream, an untouched history verifies live and exported, and each kind
//! of tampering fails verification naming the first sequence affected.

use masthead_audit::anchor::Anchor;
use masthead_audit::export::{export, verify_export, ExportOptions};
use masthead_audit::key::{AuditKey, PublicKeys};
use masthead_audit::live::{read_anchors, run_anchorer, verify_live, AnchorPolicy};
use masthead_audit::verify::{Problem, Report};
use masthead_jetstream::replay::{replay_with, Decoder, ReplayOptions, StoredMessage, Until, CHUNK};
use masthead_jetstream::topology::{setup, Topology};
use masthead_test_support::stream::{publish_recorded, server_with_stream};
use masthead_test_support::wait_until;
use masthead_test_support::NatsServer;
use masthead_testdata::events::{generate, SynthConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Env {
    _server: NatsServer,
    js: async_nats::jetstream::Context,
    topology: Topology,
    /// The last sequence written.
    last: u64,
}

async fn env(events: usize) -> Env {
    let (server, js, topology) = server_with_stream("AUDIT").await.expect("nats-server with the stream");
    let seqs = publish_recorded(&js, &topology, &generate(&SynthConfig::for_events(events))).await.expect("publish");
    Env { _server: server, js, topology, last: seqs.last().copied().unwrap_or(0) }
}

/// Runs an anchorer until the anchors cover sequence `to`.
async fn anchor_up_to(env: &Env, key: AuditKey, policy: AnchorPolicy, to: u64) -> Vec<Anchor> {
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_anchorer(env.js.clone(), env.topology.clone(), Arc::new(key), policy, stop.clone()));
    let anchors = wait_until("anchored", Duration::from_secs(20), || async {
        let a = read_anchors(&env.js, &env.topology).await.ok()?;
        a.last().is_some_and(|(_, l)| l.last_seq >= to).then(|| a.into_iter().map(|(_, a)| a).collect())
    })
    .await
    .expect("anchored in time");
    stop.cancel();
    task.await.expect("anchorer stops");
    anchors
}

fn policy(every: u64, ms: u64) -> AnchorPolicy {
    AnchorPolicy { every, interval: Duration::from_millis(ms) }
}

async fn live(env: &Env, keys: &PublicKeys) -> Report {
    verify_live(&env.js, &env.topology, keys, std::slice::from_ref(&env.js), |_, _| {}).await.expect("verifies")
}

async fn export_lines(env: &Env, until: Until) -> Vec<String> {
    let mut out = Vec::new();
    let options = ExportOptions { until, readers: std::slice::from_ref(&env.js) };
    export(&env.js, &env.topology, options, &mut out, |_, _| {}).await.expect("exports");
    String::from_utf8(out).expect("utf-8").lines().map(str::to_owned).collect()
}

fn verify_lines(lines: &[String], keys: &PublicKeys) -> Report {
    verify_export(lines.join("\n").as_bytes(), keys, |_| {}).expect("an export")
}

fn failed_at(r: &Report) -> (u64, Problem) {
    let f = r.failure.clone().unwrap_or_else(|| panic!("verification must fail: {r}"));
    (f.sequence, f.problem)
}

/// The index of the line of event `seq`.
fn line_of(lines: &[String], seq: u64) -> usize {
    let tag = format!("{{\"seq\":{seq},");
    lines.iter().position(|l| l.starts_with(&tag)).unwrap_or_else(|| panic!("no line for {seq}"))
}

#[tokio::test]
async fn anchors_come_every_n_events_or_after_t_seconds() {
    let env = env(120).await;
    assert!(env.last > 100 && env.last < 150, "{}", env.last);
    let anchors = anchor_up_to(&env, AuditKey::generate(), policy(50, 300), env.last).await;
    let ranges: Vec<_> = anchors.iter().map(|a| (a.first_seq, a.last_seq)).collect();
    // Two full anchors of N, then the rest once T had passed.
    assert_eq!(ranges, vec![(1, 50), (51, 100), (101, env.last)]);
}

#[tokio::test]
async fn an_untouched_history_verifies_and_every_kind_of_tampering_is_named() {
    let env = env(250).await;
    let n = env.last;
    assert!(n > 201 && n < 300, "{n}");
    let key = AuditKey::generate();
    let keys = PublicKeys::new([key.public()]);
    anchor_up_to(&env, key, policy(100, 200), n).await;
    let tail = publish_recorded(&env.js, &env.topology, &generate(&SynthConfig::for_events(5))).await.expect("tail");
    let tail = tail.len() as u64;
    assert!(tail > 0);

    let r = live(&env, &keys).await;
    assert!(r.ok, "{r}");
    assert_eq!((r.verified_to, r.unanchored_tail, r.anchors), (n, tail, 3), "{r}");
    let lines = export_lines(&env, Until::default()).await;
    let r = verify_lines(&lines, &keys);
    assert!(r.ok, "{r}");
    assert_eq!((r.verified_to, r.unanchored_tail, r.events), (n, tail, n + tail), "{r}");
    // A past view: only what was there at 180, all of it anchored by the
    // first anchor, the rest of the anchors left out.
    let r = verify_lines(&export_lines(&env, Until { sequence: Some(180), time: None }).await, &keys);
    assert!(r.ok && r.verified_to == 100 && r.unanchored_tail == 80, "{r}");

    let tampered = |f: &dyn Fn(&mut Vec<String>)| {
        let mut l = lines.clone();
        f(&mut l);
        failed_at(&verify_lines(&l, &keys))
    };
    // A payload byte.
    let payload_byte = |l: &mut Vec<String>| {
        let i = line_of(l, 37);
        let at = l[i].find("\"payload\":").expect("payload") + 12;
        let mut bytes = l[i].clone().into_bytes();
        let d = bytes[at..].iter().position(u8::is_ascii_alphanumeric).expect("a byte") + at;
        bytes[d] = if bytes[d] == b'a' { b'b' } else { b'a' };
        l[i] = String::from_utf8(bytes).expect("utf-8");
    };
    assert_eq!(tampered(&payload_byte), (37, Problem::Changed));
    // A header value.
    assert_eq!(
        tampered(&|l| {
            let i = line_of(l, 50);
            l[i] = l[i].replacen("\":[\"", "\":[\"x", 1);
        }),
        (50, Problem::Changed)
    );
    // Deleted, inserted, swapped, truncated.
    assert_eq!(tampered(&|l| drop(l.remove(line_of(l, 60)))), (60, Problem::Missing));
    assert_eq!(
        tampered(&|l| {
            let i = line_of(l, 70);
            l.insert(i + 1, l[i].clone());
        }),
        (70, Problem::OutOfOrder)
    );
    assert_eq!(
        tampered(&|l| {
            let forged = l[line_of(l, 80)].replacen("{\"seq\":80,", "{\"seq\":71,", 1);
            l.insert(line_of(l, 71), forged);
        }),
        (71, Problem::Changed)
    );
    assert_eq!(
        tampered(&|l| {
            let i = line_of(l, 90);
            l.swap(i, i + 1);
        }),
        (90, Problem::Missing)
    );
    assert_eq!(tampered(&|l| l.truncate(line_of(l, 201))), (201, Problem::Missing));

    // The whole history replaced by a copy re-signed without the audit
    // key: the forger's anchors name another key, or claim ours and fail.
    let mut forged = lines.clone();
    payload_byte(&mut forged);
    let forger = AuditKey::generate();
    resign(&mut forged, &forger, None);
    assert!(matches!(failed_at(&verify_lines(&forged, &keys)), (1, Problem::Anchor(m)) if m.contains("not among")));
    resign(&mut forged, &forger, Some(keys_id(&lines)));
    assert!(matches!(failed_at(&verify_lines(&forged, &keys)), (1, Problem::Anchor(m)) if m.contains("signature")));
    // The forger's own key verifies the forgery: only the public key given
    // by the owner of the audit key proves anything.
    let mut own = forged.clone();
    resign(&mut own, &forger, None);
    assert!(verify_lines(&own, &PublicKeys::new([forger.public()])).ok);
}

fn keys_id(lines: &[String]) -> String {
    let a: serde_json::Value = serde_json::from_str(&lines[1]).expect("anchor line");
    a["anchor"]["key_id"].as_str().expect("key id").to_owned()
}

/// Re-computes every anchor over the (tampered) lines and signs it with
/// `key`, claiming `claim` as the key id if given.
fn resign(lines: &mut [String], key: &AuditKey, claim: Option<String>) {
    let mut prev = String::new();
    for i in 1..lines.len() {
        if !lines[i].starts_with("{\"anchor\"") {
            break;
        }
        let old: serde_json::Value = serde_json::from_str(&lines[i]).expect("anchor");
        let (first, last) =
            (old["anchor"]["first_seq"].as_u64().expect("n"), old["anchor"]["last_seq"].as_u64().expect("n"));
        let leaves: Vec<_> = (first..=last)
            .map(|s| {
                let e: masthead_audit::export::EventLine =
                    serde_json::from_str(&lines[line_of(lines, s)]).expect("event");
                e.leaf().expect("leaf")
            })
            .collect();
        let mut a = Anchor::sign(key, "AUDIT", first, &leaves, &prev);
        if let Some(id) = &claim {
            a.key_id = id.clone();
        }
        prev = a.hash();
        lines[i] = serde_json::json!({ "anchor": a }).to_string();
    }
}

/// Keeps each stored message as it is.
#[derive(Clone, Copy)]
struct Raw;

impl Decoder for Raw {
    type Item = StoredMessage;
    fn decode(&self, m: StoredMessage) -> Option<StoredMessage> {
        Some(m)
    }
}

/// What someone with the NATS credentials can do: read the stream, delete
/// it and write it again with `change` applied.
async fn rewrite_stream(env: &Env, change: impl Fn(&mut StoredMessage)) {
    let all = Mutex::new(Vec::new());
    let options = ReplayOptions {
        from: 1,
        until: Until::default(),
        batch_size: 1000,
        readers: std::slice::from_ref(&env.js),
        chunk: CHUNK,
    };
    let apply = Some(|b: Vec<StoredMessage>| {
        let n = b.len() as u64;
        all.lock().expect("lock").extend(b);
        async move { Ok::<u64, std::convert::Infallible>(n) }
    });
    replay_with(&env.topology, options, Raw, apply, |_, _| {}).await.expect("read");
    env.js.delete_stream(&env.topology.stream).await.expect("delete");
    setup(&env.js, &env.topology).await.expect("setup again");
    for mut m in all.into_inner().expect("lock") {
        change(&mut m);
        let ack =
            env.js.publish_with_headers(m.subject, m.headers.unwrap_or_default(), m.payload).await.expect("publish");
        ack.await.expect("ack");
    }
}

#[tokio::test]
async fn a_rewritten_stream_fails_live_verification_and_a_rotated_key_keeps_old_anchors_verifiable() {
    let env = env(150).await;
    let n = env.last;
    assert!(n > 120, "{n}");
    let (old, new) = (AuditKey::generate(), AuditKey::generate());
    let (old_pub, new_pub) = (old.public(), new.public());
    anchor_up_to(&env, old, policy(100, 200), n).await;
    // Rotation: the anchorer restarts with the new key and carries on.
    let more = publish_recorded(&env.js, &env.topology, &generate(&SynthConfig::for_events(40))).await.expect("more");
    let end = *more.last().expect("published");
    let anchors = anchor_up_to(&env, new, policy(100, 200), end).await;
    assert_eq!(anchors.last().map(|a| a.first_seq), Some(n + 1));
    let both = PublicKeys::new([old_pub, new_pub]);
    let r = live(&env, &both).await;
    assert!(r.ok && r.verified_to == end, "{r}");
    assert!(matches!(failed_at(&live(&env, &PublicKeys::new([new_pub])).await), (1, Problem::Anchor(_))));
    let only_old = failed_at(&live(&env, &PublicKeys::new([old_pub])).await);
    assert!(matches!(only_old, (s, Problem::Anchor(_)) if s == n + 1), "{only_old:?}");

    rewrite_stream(&env, |m| {
        if m.sequence == 120 {
            let mut p = m.payload.to_vec();
            p[1] ^= 0x01;
            m.payload = p.into();
        }
    })
    .await;
    assert_eq!(failed_at(&live(&env, &both).await), (120, Problem::Changed));
}

#[tokio::test]
async fn an_aggregates_history_comes_with_the_anchor_covering_each_event() {
    let env = env(120).await;
    let store = masthead_jetstream::store::EventStore::new(env.js.clone(), env.topology.clone());
    let fifth = store.get(5).await.expect("event 5");
    let (kind, id) = (fifth.envelope.aggregate_type.clone(), fifth.envelope.aggregate_id.clone());
    let before = masthead_audit::history::aggregate_history(&env.js, &env.topology, &kind, &id).await.expect("history");
    assert!(!before.is_empty() && before.iter().all(|e| e["proof"].is_null()), "nothing anchored yet");
    anchor_up_to(&env, AuditKey::generate(), policy(50, 200), env.last).await;
    let events = masthead_audit::history::aggregate_history(&env.js, &env.topology, &kind, &id).await.expect("history");
    assert_eq!(events.len(), before.len());
    assert!(events.iter().any(|e| e["seq"] == 5), "{events:?}");
    for e in &events {
        let seq = e["seq"].as_u64().expect("seq");
        assert_eq!(e["subject"], env.topology.subject(&kind, &id));
        let (first, last) =
            (e["proof"]["first_seq"].as_u64().expect("anchored"), e["proof"]["last_seq"].as_u64().expect("n"));
        assert!(first <= seq && seq <= last, "{e}");
        assert_eq!(e["leaf"].as_str().map(str::len), Some(64));
    }
    let unknown = uuid::Uuid::new_v4().to_string();
    assert!(masthead_audit::history::aggregate_history(&env.js, &env.topology, &kind, &unknown)
        .await
        .expect("h")
        .is_empty());
}

#[tokio::test]
async fn two_anchorers_at_once_keep_one_chain_and_follow_events_appended_meanwhile() {
    let env = env(200).await;
    let key = Arc::new(AuditKey::generate());
    let keys = PublicKeys::new([key.public()]);
    let stop = CancellationToken::new();
    let anchorers: Vec<_> = (0..2)
        .map(|_| {
            let (js, topology) = (env.js.clone(), env.topology.clone());
            tokio::spawn(run_anchorer(js, topology, key.clone(), policy(40, 200), stop.clone()))
        })
        .collect();
    let more = publish_recorded(&env.js, &env.topology, &generate(&SynthConfig::for_events(100))).await.expect("more");
    let end = *more.last().expect("published");
    let anchors = wait_until("anchored", Duration::from_secs(20), || async {
        let a = read_anchors(&env.js, &env.topology).await.ok()?;
        a.last().is_some_and(|(_, l)| l.last_seq >= end).then_some(a)
    })
    .await
    .expect("anchored in time");
    stop.cancel();
    for a in anchorers {
        a.await.expect("anchorer stops");
    }
    // One chain: each anchor starts where the one before ended.
    let mut next = 1;
    for (_, a) in &anchors {
        assert_eq!(a.first_seq, next, "{anchors:?}");
        assert!(a.last_seq - a.first_seq < 40, "{anchors:?}");
        next = a.last_seq + 1;
    }
    let r = live(&env, &keys).await;
    assert!(r.ok && r.verified_to == end && r.unanchored_tail == 0, "{r}");
}
