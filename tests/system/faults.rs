//! Faults against the real binary: crashed consumers, a NATS outage, an
//! SMTP outage and a poison event. Each checks that no acknowledged
//! subscription is lost, nothing is duplicated, and every subscription gets
//! exactly one `ConfirmationSent`.

use crate::common::*;
use masthead_test_support::{wait_until, System, TestSmtp};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const SPELLINGS: [&str; 4] = ["Kerkstraat {n}", "Kerk straat {n}", "kerkstraat{n}", "KERKSTRAAT  {n}"];

/// The i-th subscription: 4 spellings of each of N/4 distinct addresses.
fn nth_body(i: usize) -> (usize, serde_json::Value) {
    let address = i / 4;
    let street = SPELLINGS[i % 4].replace("{n}", &(address + 1).to_string());
    (address, body(&format!("Reader {i}"), &street, "3511 LX", "Utrecht", "NL"))
}

async fn run_roles(system: &mut System) {
    for role in ["api", "matcher", "projector", "mailer"] {
        system.start(role, &[role]).expect("start role");
    }
    system.wait_http().await.expect("api up");
}

#[tokio::test]
async fn killing_each_consumer_mid_batch_loses_and_duplicates_nothing() {
    const N: usize = 1000;
    let smtp = TestSmtp::start();
    let mut system = System::new(MASTHEAD, Some(smtp.url())).expect("system");
    run_roles(&mut system).await;
    let inspector = Inspector::connect(&system).await;
    let base = system.base_url();
    let http = reqwest::Client::new();

    let accepted = Arc::new(AtomicUsize::new(0));
    let mut ids: Vec<(usize, Uuid)> = Vec::with_capacity(N);
    let mut next = 0usize;
    let mut killed = [false; 3];
    while next < N {
        // 16 requests in flight at a time.
        let batch: Vec<_> = (next..(next + 16).min(N))
            .map(|i| {
                let (http, base, accepted) = (http.clone(), base.clone(), accepted.clone());
                tokio::spawn(async move {
                    let (address, b) = nth_body(i);
                    loop {
                        let (status, id) = subscribe(&http, &base, &b).await;
                        assert!(status == 202 || status == 503, "intake answered {status}");
                        if let Some(id) = id {
                            accepted.fetch_add(1, Ordering::SeqCst);
                            return (address, id);
                        }
                    }
                })
            })
            .collect();
        for h in batch {
            ids.push(h.await.expect("join"));
        }
        next = ids.len();
        for (k, role) in ["matcher", "projector", "mailer"].iter().enumerate() {
            if !killed[k] && next >= (k + 1) * N / 4 {
                system.kill9(role);
                system.start(role, &[role]).expect("restart");
                killed[k] = true;
            }
        }
    }
    assert_eq!(accepted.load(Ordering::SeqCst), N);
    inspector.wait_drained(&["matcher", "projector", "mailer"], Duration::from_secs(240)).await;

    let mut base_by_address: HashMap<usize, Uuid> = HashMap::new();
    for (address, id) in &ids {
        let h = inspector.history(*id).await;
        assert_eq!(outcome_count(&h), 1, "{id}: exactly one match outcome");
        assert_eq!(sent_count(&h), 1, "{id}: exactly one ConfirmationSent");
        let b = resolved_base(&h).expect("resolved");
        assert_eq!(*base_by_address.entry(*address).or_insert(b), b, "spellings of one address share a base address");
    }
    let bases = inspector.base_addresses().await;
    assert_eq!(bases.len(), N / 4, "one base address per distinct address");
    assert!(bases.values().all(|n| *n == 1));

    let mails = smtp.received();
    let distinct: HashSet<String> = mails.iter().map(|m| message_id(&m.data)).collect();
    assert_eq!(distinct.len(), N, "every subscription got its mail");
    println!("mails: {} sent for {} subscriptions ({} resent after the mailer crash)", mails.len(), N, mails.len() - N);

    // The projection: stop its writer, then read it directly.
    assert!(system.stop("projector").is_some());
    let path = system.data_dir().join("projections").join("g0.redb");
    let store = masthead_projections::open(&masthead_projections::StoreConfig::Embedded { path }).await.expect("open");
    let stats = store.stats().await.expect("stats");
    assert_eq!(stats.matched + stats.new, N as u64, "one projected outcome per subscription");
    assert_eq!(stats.new, (N / 4) as u64);
    assert_eq!(stats.mail_sent, N as u64);
    let mut seen = HashSet::new();
    let mut page = masthead_projections::PageRequest::first(100);
    loop {
        let p = store.subscriptions(&Default::default(), page).await.expect("page");
        for s in &p.items {
            assert!(seen.insert(s.id), "projection row {} appears once", s.id);
        }
        match p.next_cursor {
            Some(c) => page = masthead_projections::PageRequest::after(100, c),
            None => break,
        }
    }
    assert_eq!(seen.len(), N);
}

#[tokio::test]
async fn a_nats_outage_during_intake_is_503_then_everything_completes() {
    let smtp = TestSmtp::start();
    let mut system = System::new(MASTHEAD, Some(smtp.url())).expect("system");
    run_roles(&mut system).await;
    let base = system.base_url();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let mut accepted = Vec::new();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    let mut slowest = Duration::ZERO;
    let send = |i: usize| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let started = Instant::now();
            let (status, id) = subscribe(&http, &base, &nth_body(i).1).await;
            (status, id, started.elapsed())
        }
    };
    let mut i = 0;
    for _ in 0..20 {
        let (status, id, took) = send(i).await;
        i += 1;
        *statuses.entry(status).or_default() += 1;
        slowest = slowest.max(took);
        accepted.extend(id);
    }
    system.nats().stop();
    let outage_started = Instant::now();
    let mut during = Vec::new();
    while outage_started.elapsed() < Duration::from_secs(3) {
        let (status, id, took) = send(i).await;
        i += 1;
        during.push(status);
        slowest = slowest.max(took);
        accepted.extend(id);
    }
    system.nats().start_again().expect("restart nats");
    wait_until("intake accepts again", Duration::from_secs(30), || async {
        let (status, id, _) = send(10_000).await;
        id.map(|id| (status, id))
    })
    .await
    .map(|(_, id)| accepted.push(id))
    .expect("recovered");
    for _ in 0..20 {
        let (status, id, took) = send(i).await;
        i += 1;
        *statuses.entry(status).or_default() += 1;
        slowest = slowest.max(took);
        accepted.extend(id);
    }
    assert!(during.iter().all(|s| *s == 503), "while NATS is down intake answers 503 only: {during:?}");
    assert!(during.len() >= 3, "several requests were refused during the outage");
    assert!(!statuses.contains_key(&500) && !statuses.contains_key(&0), "no 500s and no hangs: {statuses:?}");
    assert!(slowest < Duration::from_millis(2500), "slowest answer {slowest:?}");

    let inspector = Inspector::connect(&system).await;
    for id in &accepted {
        wait_until("confirmed after the outage", Duration::from_secs(60), || async {
            let h = inspector.history(*id).await;
            (sent_count(&h) == 1).then_some(())
        })
        .await
        .expect("every accepted subscription completes");
    }
    inspector.wait_drained(&["matcher", "projector", "mailer"], Duration::from_secs(60)).await;
    for id in &accepted {
        let h = inspector.history(*id).await;
        assert_eq!((outcome_count(&h), sent_count(&h)), (1, 1));
    }
}

#[tokio::test]
async fn mail_withheld_by_an_smtp_outage_is_delivered_afterwards() {
    const N: usize = 20;
    let smtp = TestSmtp::start();
    let mut system = System::new(MASTHEAD, Some(smtp.url())).expect("system");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http");
    smtp.set_down(true);
    let http = reqwest::Client::new();
    let base = system.base_url();
    let mut ids = Vec::new();
    for i in 0..N {
        let (status, id) = subscribe(&http, &base, &nth_body(i).1).await;
        assert_eq!(status, 202);
        ids.push(id.expect("id"));
    }
    // The mailer is trying and being refused.
    wait_until("refused attempts", Duration::from_secs(30), || async { (smtp.sessions() >= 3).then_some(()) })
        .await
        .expect("attempts");
    assert_eq!(smtp.count(), 0);
    smtp.set_down(false);
    for id in &ids {
        wait_status(&http, &base, *id, "confirmed").await;
    }
    let mails = smtp.received();
    let distinct: HashSet<String> = mails.iter().map(|m| message_id(&m.data)).collect();
    assert_eq!(distinct.len(), N);
    assert_eq!(mails.len(), N, "no mail twice");
    let inspector = Inspector::connect(&system).await;
    for id in &ids {
        assert_eq!(sent_count(&inspector.history(*id).await), 1);
    }
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_the_consumers_carry_on() {
    let smtp = TestSmtp::start();
    let mut system = System::new(MASTHEAD, Some(smtp.url())).expect("system");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http");
    let client = system.client().await.expect("nats");
    let js = async_nats::jetstream::new(client);
    let ack = js.publish("e2e.subscription.poison", "{not json".into()).await.expect("publish").await.expect("stored");
    let http = reqwest::Client::new();
    let base = system.base_url();
    let (status, id) = subscribe(&http, &base, &body("After Poison", "Kerkstraat 1", "3511 LX", "Utrecht", "NL")).await;
    assert_eq!(status, 202);
    wait_status(&http, &base, id.expect("id"), "confirmed").await;
    let listed = wait_until("dead letters listed", Duration::from_secs(30), || async {
        let out = system.run(&["dlq", "list"]).ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let rows: Vec<&str> = text.lines().filter(|l| l.contains(&format!(" {} ", ack.sequence))).collect();
        (rows.len() == 3).then_some(text)
    })
    .await
    .expect("matcher, projector and mailer each dead-lettered it");
    for consumer in ["matcher", "projector", "mailer"] {
        assert!(listed.lines().any(|l| l.starts_with(consumer)), "{consumer} in {listed}");
    }
}
