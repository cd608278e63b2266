//! Importing base-address lists against a real nats-server: idempotent
//! reruns, line-numbered errors, flags for missing fields, and every
//! address stored exactly once when an import is cut short and rerun while
//! the matcher registers addresses too.

use masthead_addresses::import::{import, row_to_event, ImportOptions, ImportReport, Progress, RawRow, SameAs};
use masthead_domain::subscription::SubscriptionEvent;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use masthead_matching::matcher::{self, load_address_book, MatcherOptions};
use masthead_matching::MatchConfig;
use masthead_test_support::fixtures;
use masthead_test_support::stream::server_with_stream;
use masthead_test_support::wait_until;
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
    let (server, js, topology) = server_with_stream("IMPORTTEST").await.expect("nats-server with the stream");
    let store = EventStore::new(js.clone(), topology.clone());
    Env { server, js, topology, store, shutdown: CancellationToken::new() }
}

impl Env {
    async fn start_matcher(&self) {
        let js = async_nats::jetstream::new(self.server.client().await.expect("client"));
        let (topology, shutdown) = (self.topology.clone(), self.shutdown.clone());
        let book = load_address_book(&js, &topology, MatchConfig::default(), &shutdown).await.expect("book");
        let options = MatcherOptions {
            retry_delay: Duration::from_millis(200),
            lease_poll: Duration::from_millis(200),
            ..Default::default()
        };
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
    let csv = "ref,street,postal_code,city,country\nA1,Kerkstraat 12,3511 LX,Utrecht,NL\nA2,Main Street 1,12345,Springfield,US\nB9,,3511 LX,Utrecht,NL\nA3,Hauptstraße 5,10115,Berlin,Deutschland\nA4,Dorpsweg 3,,,\nA5,Kerkstraat 12,3511LX,Utrecht,Nederland\na2,Main Street 3,12345,Springfield,US\n";
    let first = env.import_csv(csv).await;
    assert_eq!(first.imported, 5);
    assert_eq!(first.duplicates_in_file, 1, "A5 is A1 spelled differently");
    assert_eq!(first.duplicate_rows, vec![SameAs { line: 7, earlier_line: 2 }]);
    assert_eq!(first.shared_refs, vec![SameAs { line: 8, earlier_line: 3 }], "a2 is A2's ref, case aside");
    assert_eq!(first.flagged, 1, "A4 lacks postal code, city and country");
    assert_eq!(first.skipped.len(), 1);
    assert_eq!(first.skipped[0].line, 4, "{:?}", first.skipped);
    assert!(first.skipped[0].message.contains("street"));
    let second = env.import_csv(csv).await;
    assert_eq!(second.imported, 0);
    assert_eq!(second.already_present, 5);
    assert_eq!(env.base_addresses().await.len(), 5);
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

/// Street names far apart from each other, so that a mistyped letter
/// leaves a name closest to its own street.
const STREETS: &[&str] = &[
    "Molen",
    "Kastanje",
    "Vlinder",
    "Zonnebloem",
    "Havik",
    "Wilgen",
    "Boekweit",
    "Lijster",
    "Populier",
    "Mercurius",
    "Orion",
    "Saturnus",
    "Jupiter",
    "Pelikaan",
    "Flamingo",
    "Kievit",
    "Aalscholver",
    "Roerdomp",
    "Meerkoet",
    "Zwaluw",
];

/// One letter typed wrong in the middle of the name (`Molen` → `Moxen`).
fn mistyped(name: &str) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    chars[2] = 'x';
    chars.into_iter().collect()
}

/// Subscriptions arriving while a large import is still running are
/// decided only after every address stored before them is in the
/// matcher's index: a one-letter typo of an already imported row matches
/// that row, however far the import has run ahead of the index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_during_an_import_match_the_rows_imported_before_them() {
    const ROWS: usize = 40_000;
    let env = env().await;
    env.start_matcher().await;
    let mut csv = String::from("ref,street,postal_code,city,country\n");
    let row = |i: usize| (STREETS[i % STREETS.len()], i / STREETS.len() + 1);
    for i in 0..ROWS {
        let (name, number) = row(i);
        csv.push_str(&format!("R{i},{name}straat {number},2312 AB,Leiden,NL\n"));
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("base.csv");
    std::fs::write(&path, &csv).expect("write");

    let (done_tx, mut done_rx) = tokio::sync::watch::channel(0u64);
    let store = env.store.clone();
    let importing = tokio::spawn(async move {
        import(&store, &path, &ImportOptions::default(), |p| {
            if let Progress::Advanced { rows } = p {
                done_tx.send_modify(|done| *done += rows);
            }
        })
        .await
    });

    // While the import runs: typos of rows just stored, right behind the
    // import's front. Each subscription is appended after its row is in
    // the stream, so it must be decided against an index that has the row.
    let stream = env.js.get_stream(&env.topology.stream).await.expect("stream");
    let mut submitted = Vec::new();
    for wave in 1..=6usize {
        let wanted = (wave * ROWS / 8) as u64;
        done_rx.wait_for(|done| *done >= wanted).await.expect("import progress");
        for k in 0..10usize {
            let i = wave * ROWS / 8 - 600 + k * 7;
            let (name, number) = row(i);
            let raw = RawRow {
                street: Some(format!("{name}straat {number}")),
                postal_code: Some("2312 AB".into()),
                city: Some("Leiden".into()),
                country: Some("NL".into()),
                ..Default::default()
            };
            let id = row_to_event(raw, 1, "test").expect("row").base_address_id;
            let subject = env.topology.subject("address", &id.to_string());
            wait_until("row stored", Duration::from_secs(30), || async {
                stream.get_last_raw_message_by_subject(&subject).await.ok()
            })
            .await
            .expect("row stored");
            let typed = format!("{}straat {number}", mistyped(name));
            submitted.push((i, env.subscribe(&typed, "2312AB", "Leiden", "NL").await));
        }
    }
    let report = importing.await.expect("import task").expect("import");
    assert_eq!(report.imported as usize, ROWS);

    let mut new_addresses = Vec::new();
    for (i, id) in &submitted {
        let outcome = env.outcome(*id).await;
        let (name, number) = row(*i);
        match &outcome {
            SubscriptionEvent::AddressMatched(m) => {
                assert_eq!(m.delivery_address.street, format!("{name}straat {number}"), "row {i}");
            }
            _ => new_addresses.push(format!("row {i}: {outcome:?}")),
        }
    }
    assert!(new_addresses.is_empty(), "{} of 60 became new addresses: {new_addresses:#?}", new_addresses.len());
    assert_eq!(env.base_addresses().await.len(), ROWS, "no subscription added an address");
}
