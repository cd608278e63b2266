//! The matcher against a real nats-server: matched and new outcomes, hard
//! negatives, redelivery, and the no-duplicate invariant with two matchers.

use masthead::config::Config;
use masthead::connect::{connect, Nats};
use masthead::import::{import, ImportOptions};
use masthead::intake::Intake;
use masthead::matcher::{self, MatcherOptions};
use masthead_events::idempotency::IdempotencyRecords;
use masthead_events::key_vault::KeyVault;
use masthead_events::store::EventStore;
use masthead_events::subscription::{Channel, SubscriptionEvent, SubscriptionForm};
use masthead_test_support::{wait_until, NatsServer};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn config(url: &str) -> Config {
    Config::for_nats(url, &std::env::temp_dir(), "MATCHTEST")
}

struct Env {
    _server: NatsServer,
    nats: Nats,
    config: Config,
    store: EventStore,
    intake: Intake,
    shutdown: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn env() -> Env {
    let server = NatsServer::start().expect("nats");
    let config = config(&server.url());
    let nats = connect(&config, &server.url()).await.expect("connect");
    let store = EventStore::new(nats.js.clone(), nats.topology.clone());
    let vault = KeyVault::open(&nats.js, &nats.topology.keys_bucket()).await.expect("vault");
    let records = IdempotencyRecords::open(&nats.js, &nats.topology.idempotency_bucket()).await.expect("records");
    let intake = Intake::new(store.clone(), vault, records, nats.client.clone());
    Env { _server: server, nats, config, store, intake, shutdown: CancellationToken::new() }
}

impl Env {
    async fn start_matcher(&self) -> Nats {
        let nats = connect(&self.config, &self.config.nats_url_or_default()).await.expect("connect");
        let (config, shutdown) = (self.config.clone(), self.shutdown.clone());
        let conn = connect(&config, &config.nats_url_or_default()).await.expect("connect");
        let options =
            MatcherOptions { retry_delay: Duration::from_millis(200), lease_poll: Duration::from_millis(200) };
        tokio::spawn(async move { matcher::run(&conn, &config, options, shutdown).await });
        nats
    }

    async fn import_csv(&self, csv: &str) -> masthead::import::ImportReport {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("base.csv");
        std::fs::write(&path, csv).expect("write");
        let options = ImportOptions { progress: false, ..Default::default() };
        import(&self.store, &path, &options).await.expect("import")
    }

    async fn subscribe(&self, street: &str, postal_code: &str, city: &str, country: &str) -> Uuid {
        let form = SubscriptionForm {
            name: "Test Person".into(),
            email: "test@example.org".into(),
            street: street.into(),
            postal_code: postal_code.into(),
            city: city.into(),
            country: country.into(),
        };
        self.intake.submit(&form, Channel::Api, None, None).await.expect("accepted").id
    }

    /// Waits for the matcher's outcome on a subscription.
    async fn outcome(&self, id: Uuid) -> SubscriptionEvent {
        wait_until("match outcome", Duration::from_secs(20), || async {
            let h = self.store.load::<SubscriptionEvent>(&id.to_string()).await.ok()?;
            h.events
                .into_iter()
                .map(|r| r.event)
                .find(|e| matches!(e, SubscriptionEvent::AddressMatched(_) | SubscriptionEvent::AddressAssigned(_)))
        })
        .await
        .expect("resolved")
    }

    async fn outcomes_of(&self, id: Uuid) -> usize {
        let h = self.store.load::<SubscriptionEvent>(&id.to_string()).await.expect("load");
        h.events
            .iter()
            .filter(|r| matches!(r.event, SubscriptionEvent::AddressMatched(_) | SubscriptionEvent::AddressAssigned(_)))
            .count()
    }

    /// Messages per base-address subject.
    async fn base_addresses(&self) -> HashMap<String, usize> {
        let stream = self.nats.js.get_stream(&self.nats.topology.stream).await.expect("stream");
        let mut subjects =
            stream.info_with_subjects(self.nats.topology.aggregate_filter("address")).await.expect("info");
        let mut out = HashMap::new();
        use futures::StreamExt;
        while let Some(Ok((subject, count))) = subjects.next().await {
            out.insert(subject, count);
        }
        out
    }
}

fn base_of(e: &SubscriptionEvent) -> Uuid {
    match e {
        SubscriptionEvent::AddressMatched(m) => m.base_address_id,
        SubscriptionEvent::AddressAssigned(a) => a.base_address_id,
        other => panic!("not an outcome: {other:?}"),
    }
}

#[tokio::test]
async fn a_variant_spelling_resolves_to_its_base_address() {
    let env = env().await;
    env.import_csv("ref,street,postal_code,city,country\nNY-14,East River Street 14,10001,New York,US\n").await;
    env.start_matcher().await;
    let id = env.subscribe("East river str. 14", "10001", "New York", "USA").await;
    let outcome = env.outcome(id).await;
    let SubscriptionEvent::AddressMatched(m) = &outcome else { panic!("expected a match, got {outcome:?}") };
    assert_eq!(m.delivery_address.street, "East River Street 14");
    assert_eq!(m.base_address_ref.as_deref(), Some("NY-14"));
    assert!(m.score >= 80.0 && m.score <= 100.0, "score {}", m.score);
    assert_eq!(env.base_addresses().await.len(), 1, "no new base address");
}

#[tokio::test]
async fn a_new_address_becomes_one_base_address_and_later_variants_match_it() {
    let env = env().await;
    env.start_matcher().await;
    let first = env.subscribe("Kerkstraat 12", "3511 LX", "Utrecht", "NL").await;
    let SubscriptionEvent::AddressAssigned(a) = env.outcome(first).await else { panic!("expected a new address") };
    let second = env.subscribe("Kerk straat  12", "3511LX", "utrecht", "Nederland").await;
    let outcome = env.outcome(second).await;
    assert!(matches!(outcome, SubscriptionEvent::AddressMatched(_)), "{outcome:?}");
    assert_eq!(base_of(&outcome), a.base_address_id);
    // Hard negatives: another number, and the same street in another town.
    let other_number = env.subscribe("Kerkstraat 21", "3511 LX", "Utrecht", "NL").await;
    let other_town = env.subscribe("Kerkstraat 12", "2311 AB", "Leiden", "NL").await;
    for id in [other_number, other_town] {
        let o = env.outcome(id).await;
        assert!(matches!(o, SubscriptionEvent::AddressAssigned(_)), "{o:?}");
        assert_ne!(base_of(&o), a.base_address_id);
    }
    let bases = env.base_addresses().await;
    assert_eq!(bases.len(), 3);
    assert!(bases.values().all(|n| *n == 1), "each base address has exactly one event: {bases:?}");
}

#[tokio::test]
async fn variants_decided_in_one_batch_share_the_address_the_batch_registers() {
    let env = env().await;
    // Everything is waiting before the matcher starts, so its first batch
    // holds the new address, its variants and its hard negatives together:
    // the variants must match the address registered earlier in the same
    // batch, before that registration is even stored.
    let first = env.subscribe("Kerkstraat 12", "3511 LX", "Utrecht", "NL").await;
    let variants = [
        env.subscribe("Kerk straat 12", "3511LX", "Utrecht", "NL").await,
        env.subscribe("kerkstraat12", "3511 lx", "UTRECHT", "Nederland").await,
    ];
    let other_number = env.subscribe("Kerkstraat 21", "3511 LX", "Utrecht", "NL").await;
    let other_town = env.subscribe("Kerkstraat 12", "2311 AB", "Leiden", "NL").await;
    env.start_matcher().await;

    let SubscriptionEvent::AddressAssigned(a) = env.outcome(first).await else { panic!("expected a new address") };
    assert_eq!(a.delivery_address.street, "Kerkstraat 12");
    for id in variants {
        let outcome = env.outcome(id).await;
        let SubscriptionEvent::AddressMatched(m) = &outcome else { panic!("expected a match, got {outcome:?}") };
        assert_eq!(m.base_address_id, a.base_address_id);
        assert_eq!(m.delivery_address.street, "Kerkstraat 12", "delivered to the registered spelling");
        assert_eq!(env.outcomes_of(id).await, 1);
    }
    for id in [other_number, other_town] {
        let o = env.outcome(id).await;
        assert!(matches!(o, SubscriptionEvent::AddressAssigned(_)), "{o:?}");
        assert_ne!(base_of(&o), a.base_address_id);
    }
    let bases = env.base_addresses().await;
    assert_eq!(bases.len(), 3, "{bases:?}");
    assert!(bases.values().all(|n| *n == 1), "each base address has exactly one event: {bases:?}");
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

#[tokio::test]
async fn two_matchers_and_concurrent_variants_never_duplicate_an_address() {
    let env = env().await;
    env.start_matcher().await;
    env.start_matcher().await;
    let variants = [
        [
            ("Kerkstraat 12", "3511 LX", "Utrecht"),
            ("Kerk straat 12", "3511LX", "Utrecht"),
            ("kerkstraat12", "3511 lx", "UTRECHT"),
        ],
        [
            ("Main Street 1", "12345", "Springfield"),
            ("Main St 1", "12345-6789", "Springfield"),
            ("main st. 1", "12345", "springfield"),
        ],
        [
            ("Hauptstraße 5", "10115", "Berlin"),
            ("Hauptstrasse 5", "10115", "Berlin"),
            ("Hauptstr. 5", "D-10115", "Berlin"),
        ],
    ];
    let countries = ["NL", "US", "DE"];
    let mut handles = Vec::new();
    for (group, (vs, country)) in variants.iter().zip(countries).enumerate() {
        for (street, pc, city) in vs {
            let intake = env.intake.clone();
            let (street, pc, city) = (street.to_string(), pc.to_string(), city.to_string());
            handles.push(tokio::spawn(async move {
                let form = SubscriptionForm {
                    name: "N".into(),
                    email: "n@example.org".into(),
                    street,
                    postal_code: pc,
                    city,
                    country: country.into(),
                };
                (group, intake.submit(&form, Channel::Api, None, None).await.expect("accepted").id)
            }));
        }
    }
    let mut by_group: HashMap<usize, Vec<Uuid>> = HashMap::new();
    for h in handles {
        let (g, id) = h.await.expect("join");
        by_group.entry(g).or_default().push(id);
    }
    for ids in by_group.values() {
        let mut bases = Vec::new();
        for id in ids {
            bases.push(base_of(&env.outcome(*id).await));
            assert_eq!(env.outcomes_of(*id).await, 1, "exactly one outcome per subscription");
        }
        assert!(bases.windows(2).all(|w| w[0] == w[1]), "variants resolved to one address: {bases:?}");
    }
    assert_eq!(env.base_addresses().await.len(), 3, "one base address per real address");
}
