//! The matcher against a real nats-server: matched and new outcomes, hard
//! negatives, redelivery, and the no-duplicate invariant with two matchers.

use masthead_addresses::import::{import, ImportOptions, ImportReport};
use masthead_domain::subscription::SubscriptionEvent;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use masthead_matching::matcher::{self, load_address_book, MatcherOptions};
use masthead_matching::MatchConfig;
use masthead_test_support::fixtures::{self, base_of};
use masthead_test_support::stream::server_with_stream;
use masthead_test_support::NatsServer;
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct Env {
    pub server: NatsServer,
    pub js: async_nats::jetstream::Context,
    pub topology: Topology,
    pub store: EventStore,
    shutdown: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn env() -> Env {
    let (server, js, topology) = server_with_stream("MATCHTEST").await.expect("nats-server with the stream");
    let store = EventStore::new(js.clone(), topology.clone());
    Env { server, js, topology, store, shutdown: CancellationToken::new() }
}

impl Env {
    /// Starts a matcher on its own connection, as another process would.
    pub async fn start_matcher(&self) {
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

    pub async fn import_csv(&self, csv: &str) -> ImportReport {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("base.csv");
        std::fs::write(&path, csv).expect("write");
        import(&self.store, &path, &ImportOptions::default(), |_| {}).await.expect("import")
    }

    pub async fn subscribe(&self, street: &str, postal_code: &str, city: &str, country: &str) -> Uuid {
        fixtures::subscribe(&self.store, street, postal_code, city, country).await.expect("registered")
    }

    pub async fn outcome(&self, id: Uuid) -> SubscriptionEvent {
        fixtures::outcome(&self.store, id).await.expect("resolved")
    }

    pub async fn outcomes_of(&self, id: Uuid) -> usize {
        fixtures::outcomes_of(&self.store, id).await.expect("load")
    }

    /// Messages per base-address subject.
    pub async fn base_addresses(&self) -> HashMap<String, usize> {
        fixtures::messages_per_subject(&self.js, &self.topology, "address").await.expect("subjects")
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
            let store = env.store.clone();
            let (street, pc, city) = (street.to_string(), pc.to_string(), city.to_string());
            handles.push(tokio::spawn(async move {
                (group, fixtures::subscribe(&store, &street, &pc, &city, country).await.expect("registered"))
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

/// The fence in front of each decision: an index that has not read the
/// address events stored before a subscription does not decide it; once
/// it has, it does. Deterministic, without a follower racing the import.
#[tokio::test]
async fn the_index_is_complete_before_a_decision_or_the_decision_waits() {
    use masthead_matching::matcher::address_book::{AddressBook, FenceError};
    let env = env().await;
    let stream = env.js.get_stream(&env.topology.stream).await.expect("stream");
    let book = AddressBook::new(MatchConfig::default());
    // An empty stream: nothing to wait for.
    book.complete_before(&stream, &env.topology, 1, Duration::from_millis(10)).await.expect("nothing missing");

    env.import_csv(
        "ref,street,postal_code,city,country\nA,Kerkstraat 12,3511 LX,Utrecht,NL\nB,Kerkstraat 14,3511 LX,Utrecht,NL\n",
    )
    .await;
    let later = env.subscribe("Kerkstrat 12", "3511 LX", "Utrecht", "NL").await;
    let seq = env.store.load::<SubscriptionEvent>(&later.to_string()).await.expect("load").events[0].stream_sequence;
    let err = book.complete_before(&stream, &env.topology, seq, Duration::from_millis(200)).await.expect_err("behind");
    assert!(matches!(err, FenceError::Behind { behind: 2, .. }), "{err}");

    book.catch_up(&env.js, &env.topology).await.expect("catch up");
    assert_eq!(book.len(), 2);
    book.complete_before(&stream, &env.topology, seq, Duration::from_millis(10)).await.expect("complete");
}

/// An address registered by an older normaliser (another key, so another
/// id than the current key derives) keeps its id: a subscription typed
/// like it matches it, and importing it again stores nothing.
#[tokio::test]
async fn an_address_from_an_older_normaliser_keeps_its_id() {
    use masthead_domain::base_address::{id_for_key, AddressSource, BaseAddressEvent, BaseAddressRegistered};
    use masthead_domain::{AddressLines, CanonicalAddress, Country};
    use masthead_matching::matcher::keys::ensure_current_keys;
    let env = env().await;
    let old_key = "NL|3511LX|utrecht|kerkstraat|12";
    let old_id = id_for_key(old_key);
    let registered = BaseAddressRegistered {
        base_address_id: old_id,
        reference: Some("OLD-1".into()),
        address: AddressLines {
            street: "Kerkstraat 12".into(),
            postal_code: Some("3511 LX".into()),
            city: Some("Utrecht".into()),
            country: Some(Country::parse("NL").expect("country")),
        },
        canonical: CanonicalAddress {
            key: old_key.into(),
            street: "kerkstraat".into(),
            house_number: "12".into(),
            postal_code: "3511LX".into(),
            city: "utrecht".into(),
            country: "NL".into(),
            house_name: String::new(),
            version: 1,
        },
        source: AddressSource::Curation,
        flags: vec![],
        registered_at: chrono::Utc::now(),
    };
    let event = BaseAddressEvent::BaseAddressRegistered(registered);
    env.store.append(&old_id.to_string(), 0, 1, &event, &Default::default()).await.expect("old registration");

    env.start_matcher().await;
    let id = env.subscribe("Kerkstr. 12", "3511LX", "Utrecht", "NL").await;
    assert_eq!(base_of(&env.outcome(id).await), old_id, "matched the old address");

    let report = env.import_csv("ref,street,postal_code,city,country\nNEW-1,Kerkstraat 12,3511 LX,Utrecht,NL\n").await;
    assert_eq!((report.imported, report.already_present), (0, 1), "{report:?}");
    let subjects = env.base_addresses().await;
    assert_eq!(subjects.len(), 2, "the old address and its reserved current id: {subjects:?}");
    assert!(subjects.values().all(|n| *n == 1));
    let again = ensure_current_keys(&env.js, &env.topology).await.expect("keys");
    assert!(again.current, "{again:?}");
}

/// A subscription without a house number on a street the list has
/// numbered addresses on never matches one of them silently: it becomes a
/// new address, and the decision carries a review with the candidates.
#[tokio::test]
async fn a_missing_house_number_goes_to_review_with_its_candidates() {
    use masthead_domain::ReviewReason;
    let env = env().await;
    env.import_csv(
        "ref,street,postal_code,city,country\nA,Kerkstraat 12,3511 LX,Utrecht,NL\nB,Kerkstraat 14,3511 LX,Utrecht,NL\n",
    )
    .await;
    env.start_matcher().await;
    let certain = env.subscribe("Kerkstraat 12", "3511LX", "Utrecht", "NL").await;
    let SubscriptionEvent::AddressMatched(m) = env.outcome(certain).await else { panic!("an exact address matches") };
    assert!(m.review.is_none(), "{:?}", m.review);
    assert_eq!(m.explanation.probability, Some(1.0));

    let id = env.subscribe("Kerkstraat", "3511 LX", "Utrecht", "NL").await;
    let SubscriptionEvent::AddressAssigned(a) = env.outcome(id).await else { panic!("expected a new address") };
    let review = a.review.expect("a review request");
    assert_eq!(review.reason, ReviewReason::MissingHouseNumber);
    assert!(!review.candidates.is_empty());
    assert!(review.candidates.iter().all(|c| c.veto.as_deref() == Some("house_number")), "{review:?}");
}
