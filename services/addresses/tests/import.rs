//! Importing base-address lists against a real nats-server: idempotent
//! reruns, line-numbered errors, flags for missing fields, and every
//! address stored exactly once when an import is cut short and rerun while
//! the matcher registers addresses too.

use masthead_addresses::import::{import, ImportOptions, ImportReport, Progress};
use masthead_domain::subscription::SubscriptionEvent;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::{setup, Topology};
use masthead_matching::matcher::{self, load_address_book, MatcherOptions};
use masthead_matching::MatchConfig;
use masthead_test_support::fixtures;
use masthead_test_support::NatsServer;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

struct Env {
    server: NatsServer,
    js: async_nats::jetstream::Context,
    topology: Topology,
    store: EventStore,
    shutdown: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn env() -> Env {
    let server = NatsServer::start().expect("nats");
    let js = async_nats::jetstream::new(server.client().await.expect("client"));
    let topology = Topology::new("IMPORTTEST");
    setup(&js, &topology).await.expect("setup");
    let store = EventStore::new(js.clone(), topology.clone());
    Env { server, js, topology, store, shutdown: CancellationToken::new() }
}

impl Env {
    async fn start_matcher(&self) {
        let js = async_nats::jetstream::new(self.server.client().await.expect("client"));
        let (topology, shutdown) = (self.topology.clone(), self.shutdown.clone());
        let book = load_address_book(&js, &topology, MatchConfig::default(), &shutdown).await.expect("book");
        let options =
            MatcherOptions { retry_delay: Duration::from_millis(200), lease_poll: Duration::from_millis(200) };
        tokio::spawn(async move { matcher::run(&js, &topology, book, options, shutdown).await });
    }

    async fn import_csv(&self, csv: &str) -> ImportReport {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("base.csv");
        std::fs::write(&path, csv).expect("write");
        let (mut announced, mut advanced, mut skipped) = (None, 0, Vec::new());
        let report = import(&self.store, &path, &ImportOptions::default(), |p| match p {
            Progress::Started { rows } => announced = Some(rows),
            Progress::Advanced { rows } => advanced += rows,
            Progress::Skipped(e) => skipped.push(e.line),
        })
        .await
        .expect("import");
        // What a progress bar is told adds up to the report.
        assert_eq!(announced, Some(report.rows));
        assert_eq!(advanced, report.rows);
        assert_eq!(skipped, report.skipped.iter().map(|e| e.line).collect::<Vec<_>>());
        report
    }

    async fn subscribe(&self, street: &str, postal_code: &str, city: &str, country: &str) -> uuid::Uuid {
        fixtures::subscribe(&self.store, street, postal_code, city, country).await.expect("registered")
    }

    async fn outcome(&self, id: uuid::Uuid) -> SubscriptionEvent {
        fixtures::outcome(&self.store, id).await.expect("resolved")
    }

    async fn base_addresses(&self) -> HashMap<String, usize> {
        fixtures::messages_per_subject(&self.js, &self.topology, "address").await.expect("subjects")
    }
}

#[tokio::test]
async fn a_strict_import_stops_at_the_first_broken_line() {
    let env = env().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("base.csv");
    let csv = "ref,street,postal_code,city,country\nA1,Kerkstraat 12,3511 LX,Utrecht,NL\nB9,,3511 LX,Utrecht,NL\n";
    std::fs::write(&path, csv).expect("write");
    let options = ImportOptions { strict: true, ..Default::default() };
    let err = import(&env.store, &path, &options, |_| {}).await.expect_err("strict");
    assert!(err.to_string().contains("line 3"), "{err}");
}

#[tokio::test]
async fn importing_the_same_file_twice_adds_nothing() {
    let env = env().await;
    let csv = "ref,street,postal_code,city,country\nA1,Kerkstraat 12,3511 LX,Utrecht,NL\nA2,Main Street 1,12345,Springfield,US\nB9,,3511 LX,Utrecht,NL\nA3,Hauptstraße 5,10115,Berlin,Deutschland\nA4,Dorpsweg 3,,,\nA5,Kerkstraat 12,3511LX,Utrecht,Nederland\n";
    let first = env.import_csv(csv).await;
    assert_eq!(first.imported, 4);
    assert_eq!(first.duplicates_in_file, 1, "A5 is A1 spelled differently");
    assert_eq!(first.flagged, 1, "A4 lacks postal code, city and country");
    assert_eq!(first.skipped.len(), 1);
    assert_eq!(first.skipped[0].line, 4, "{:?}", first.skipped);
    assert!(first.skipped[0].message.contains("street"));
    let second = env.import_csv(csv).await;
    assert_eq!(second.imported, 0);
    assert_eq!(second.already_present, 4);
    assert_eq!(env.base_addresses().await.len(), 4);
}

/// Rows spread over many chunks (prepared by parallel workers), repeats in
/// other chunks, an import cut short and rerun, and an address the matcher
/// registered first: every address is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_and_rerun_import_stores_each_address_once() {
    let env = env().await;
    env.start_matcher().await;
    let subscribed = env.subscribe("Kerkstraat 12", "3511 LX", "Utrecht", "NL").await;
    let outcome = env.outcome(subscribed).await;
    assert!(matches!(outcome, SubscriptionEvent::AddressAssigned(_)), "{outcome:?}");

    let mut csv = String::from("ref,street,postal_code,city,country\n");
    for i in 1..=3000 {
        csv.push_str(&format!("R{i},Dorpsweg {i},1234 AB,Leiden,NL\n"));
    }
    csv.push_str("X1,kerk straat 12,3511LX,UTRECHT,NL\n");
    for i in (1..=3000).step_by(100) {
        csv.push_str(&format!("D{i},Dorpsweg{i},1234AB,leiden,Nederland\n"));
    }
    // The import stopped after its first 1,000 rows.
    let head: String = csv.lines().take(1001).map(|l| format!("{l}\n")).collect();
    assert_eq!(env.import_csv(&head).await.imported, 1000);

    let rerun = env.import_csv(&csv).await;
    assert_eq!(rerun.rows, 3031);
    assert_eq!(rerun.imported, 2000);
    assert_eq!(rerun.already_present, 1001, "the first 1,000 rows and the matcher's address");
    assert_eq!(rerun.duplicates_in_file, 30, "the D rows respell R rows");
    let bases = env.base_addresses().await;
    assert_eq!(bases.len(), 3001);
    assert!(bases.values().all(|n| *n == 1), "each base address has exactly one event");
}
