//! `dedupe` and `reviews export` against a real nats-server: a list with
//! known near-duplicates beside look-alikes that must stay apart.

use masthead_addresses::import::{import, ImportOptions};
use masthead_curation::dedupe::{DedupeOptions, DedupeReport};
use masthead_curation::export::{export_reviews, Label, LabelledPair};
use masthead_curation::{Actor, Curation};
use masthead_domain::base_address::{AddressStatus, BaseAddress};
use masthead_domain::review::{self, RequestedDecision, Review, ReviewKind};
use masthead_jetstream::command_bus::CommandBus;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use masthead_matching::matcher::load_address_book;
use masthead_matching::MatchConfig;
use masthead_test_support::stream::server_with_stream;
use masthead_test_support::NatsServer;
use masthead_test_support::{fixtures, wait_until};
use std::collections::HashMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Three near-duplicate pairs (a misspelt street, a row without its postal
/// code, a misspelt town) among look-alikes that are other addresses: another
/// house number, a suffix, another street type, a sibling street, the
/// neighbouring postal code.
const LIST: &str = "ref,street,postal_code,city,country\n\
    R1,Rossumweg 5,6541 AB,Nijmegen,NL\n\
    R2,Rossemweg 5,6541 AB,Nijmegen,NL\n\
    ,Molenstraat 8,6711 AA,Ede,NL\n\
    M2,Molenstraat 8,,Ede,NL\n\
    W1,Stationsweg 10,6701 AH,Wageningen,NL\n\
    W2,Stationsweg 10,6701 AH,Wageningn,NL\n\
    K1,Kerkstraat 12,3511 LX,Utrecht,NL\n\
    K2,Kerkstraat 21,3511 LX,Utrecht,NL\n\
    K3,Kerkstraat 12A,3511 LX,Utrecht,NL\n\
    K4,Kerkweg 12,3511 LX,Utrecht,NL\n\
    G1,Nieuwe Gracht 7,3512 LT,Utrecht,NL\n\
    G2,Oude Gracht 7,3512 LT,Utrecht,NL\n\
    D1,Dorpsstraat 4,1234 AB,Ede,NL\n\
    D2,Dorpsstraat 4,1234 AC,Ede,NL\n";

/// The rows of the three near-duplicate pairs.
struct Ids {
    rossum: Uuid,
    rossem: Uuid,
    molen: Uuid,
    molen_no_pc: Uuid,
    station: Uuid,
    station_typo: Uuid,
}

struct Env {
    _server: NatsServer,
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
    let (server, js, topology) = server_with_stream("DEDUPETEST").await.expect("nats-server with the stream");
    let store = EventStore::new(js.clone(), topology.clone());
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("base.csv");
    std::fs::write(&path, LIST).expect("write");
    let report = import(&store, &path, &ImportOptions::default(), |_| {}).await.expect("import");
    assert_eq!(report.imported, 14, "every row is its own address");
    Env { _server: server, js, topology, store, shutdown: CancellationToken::new() }
}

impl Env {
    /// A curation over an address book loaded from the stream, as the
    /// command builds it.
    async fn curation(&self) -> Curation {
        let book = load_address_book(&self.js, &self.topology, MatchConfig::default(), &self.shutdown)
            .await
            .expect("address book");
        Curation::new(self.store.clone(), book)
    }

    /// The ids of the near-duplicate pairs' rows, by their keys.
    fn ids(&self, curation: &Curation) -> Ids {
        let id = |street: &str, postal_code: &str, city: &str| {
            let input = masthead_matching::AddressInput { street, postal_code, city, country: "NL" };
            let key = masthead_matching::normalize(&input).key();
            curation.book().with_index(|i| i.contains_key(&key)).flatten().expect("imported")
        };
        Ids {
            rossum: id("Rossumweg 5", "6541 AB", "Nijmegen"),
            rossem: id("Rossemweg 5", "6541 AB", "Nijmegen"),
            molen: id("Molenstraat 8", "6711 AA", "Ede"),
            molen_no_pc: id("Molenstraat 8", "", "Ede"),
            station: id("Stationsweg 10", "6701 AH", "Wageningen"),
            station_typo: id("Stationsweg 10", "6701 AH", "Wageningn"),
        }
    }

    async fn review_items(&self) -> usize {
        fixtures::messages_per_subject(&self.js, &self.topology, "review").await.expect("subjects").len()
    }

    async fn item(&self, a: Uuid, b: Uuid) -> Option<review::ReviewOpened> {
        let reviews = CommandBus::<Review>::new(self.store.clone(), ());
        let (item, _) = reviews.aggregates().load(&review::id_for_pair(a, b).to_string()).await.expect("load");
        item.aggregate.opened
    }

    async fn status(&self, id: Uuid) -> AddressStatus {
        let bus = CommandBus::<BaseAddress>::new(self.store.clone(), ());
        bus.aggregates().load(&id.to_string()).await.expect("load").0.aggregate.status
    }
}

fn options(merge_above: Option<f64>) -> DedupeOptions {
    DedupeOptions { merge_above, threads: 2, ..Default::default() }
}

fn counts(r: &DedupeReport) -> (usize, usize, usize, usize, usize) {
    (r.pairs, r.queued, r.already_queued, r.merged, r.skipped_distinct)
}

#[tokio::test]
async fn dedupe_queues_each_near_duplicate_once_and_never_a_distinct_pair() {
    let env = env().await;
    let curation = env.curation().await;
    let Ids { rossum, rossem, molen, molen_no_pc, station, station_typo } = env.ids(&curation);
    let expected = [(rossum, rossem), (molen, molen_no_pc), (station, station_typo)];

    let first = curation.dedupe(&options(None), |_| {}).await.expect("dedupe");
    assert_eq!(counts(&first), (3, 3, 0, 0, 0), "{first:?}");
    assert_eq!(first.addresses, 14);
    assert_eq!(env.review_items().await, 3, "exactly the three pairs are queued");
    for (a, b) in expected {
        let item = env.item(a, b).await.expect("the pair is queued");
        assert_eq!(item.kind, ReviewKind::Duplicate);
        assert_eq!(item.address_id, a, "the older registration is the item's address");
        let candidates: Vec<Uuid> = item.candidates.iter().map(|c| c.base_address_id).collect();
        assert_eq!(candidates, vec![b]);
        assert!(item.candidates[0].probability >= MatchConfig::default().review_probability);
    }

    // Again: nothing new.
    let again = curation.dedupe(&options(None), |_| {}).await.expect("dedupe");
    assert_eq!(counts(&again), (3, 0, 3, 0, 0), "{again:?}");
    assert_eq!(env.review_items().await, 3);

    // Rossum and Rossem are two streets: decided distinct, never queued again,
    // by this process (its book follows the decision) or a later one.
    let ann = Actor { subject: "ann".into(), reason: Some("two streets".into()) };
    let item = review::id_for_pair(rossum, rossem);
    curation.decide(item, RequestedDecision::Distinct, &ann).await.expect("decided");
    let book = curation.book().clone();
    wait_until("the book knows the distinct pair", Duration::from_secs(10), || {
        let known = book.with_index(|i| i.is_distinct(rossem, rossum)).unwrap_or(false);
        async move { known.then_some(()) }
    })
    .await
    .expect("followed");
    for run in
        [curation.dedupe(&options(None), |_| {}).await, env.curation().await.dedupe(&options(None), |_| {}).await]
    {
        let run = run.expect("dedupe");
        assert_eq!(counts(&run), (2, 0, 2, 0, 1), "{run:?}");
    }
    assert_eq!(env.review_items().await, 3);
}

#[tokio::test]
async fn merge_above_merges_only_the_pairs_above_it_into_the_side_with_more_information() {
    let env = env().await;
    let curation = env.curation().await;
    let Ids { molen, molen_no_pc, station, station_typo, .. } = env.ids(&curation);
    let scan = curation.book().with_index(|i| i.scan_duplicates(1, &|_, _| {})).expect("index");
    let probability: HashMap<[Uuid; 2], f64> =
        scan.pairs.iter().map(|p| (review::pair(p.first, p.second), p.probability)).collect();
    let (p_molen, p_station) =
        (probability[&review::pair(molen, molen_no_pc)], probability[&review::pair(station, station_typo)]);
    assert!(p_molen != p_station, "the test needs two probabilities to put P between");
    // P between the two: only the more probable of the pairs is merged.
    let (above, below) = if p_molen > p_station {
        ((molen, molen_no_pc), (station, station_typo))
    } else {
        ((station, station_typo), (molen, molen_no_pc))
    };
    let at = (p_molen + p_station) / 2.0;

    let report = curation.dedupe(&options(Some(at)), |_| {}).await.expect("dedupe");
    let merged_pairs = scan.pairs.iter().filter(|p| p.probability >= at).count();
    assert_eq!((report.merged, report.queued), (merged_pairs, 3 - merged_pairs), "{report:?}");
    // The survivor: the Molenstraat row with a ref, though registered
    // later; of the Stationsweg rows (both with a ref), the older one.
    let (survivor, merged) = if above.0 == molen { (molen_no_pc, molen) } else { (station, station_typo) };
    assert_eq!(env.status(merged).await, AddressStatus::Merged { into: survivor });
    assert_eq!(env.status(survivor).await, AddressStatus::Active);
    assert_eq!(env.status(below.0).await, AddressStatus::Active);
    assert_eq!(env.status(below.1).await, AddressStatus::Active);
    assert!(env.item(above.0, above.1).await.is_none(), "a merged pair is not queued");
    assert!(env.item(below.0, below.1).await.is_some(), "the pair below P is queued");
}

#[tokio::test]
async fn the_export_labels_every_decided_pair_with_its_lines_as_they_were() {
    let env = env().await;
    let curation = env.curation().await;
    curation.dedupe(&options(None), |_| {}).await.expect("dedupe");
    let Ids { rossum, rossem, molen, molen_no_pc, .. } = env.ids(&curation);
    let ann = Actor { subject: "ann".into(), reason: None };
    curation.decide(review::id_for_pair(rossum, rossem), RequestedDecision::Distinct, &ann).await.expect("distinct");
    let merge = RequestedDecision::Merge { into: molen_no_pc };
    curation.decide(review::id_for_pair(molen, molen_no_pc), merge, &ann).await.expect("merge");

    let mut out = Vec::new();
    let report = export_reviews(&env.js, &env.topology, &mut out, |_, _| {}).await.expect("export");
    let rows: Vec<LabelledPair> =
        String::from_utf8(out).expect("utf-8").lines().map(|l| serde_json::from_str(l).expect("a pair")).collect();
    assert_eq!((report.decided_items, report.pairs, report.matches, report.distinct), (2, 2, 1, 1), "{report:?}");
    let distinct = rows.iter().find(|r| r.label == Label::Distinct).expect("the distinct pair");
    assert_eq!((distinct.a.id, distinct.b.id), (rossum, rossem));
    assert_eq!((distinct.a.street.as_str(), distinct.b.street.as_str()), ("Rossumweg 5", "Rossemweg 5"));
    assert_eq!((distinct.a.reference.as_deref(), distinct.actor.as_str()), (Some("R1"), "ann"));
    let matched = rows.iter().find(|r| r.label == Label::Match).expect("the merged pair");
    assert_eq!((matched.a.id, matched.b.id), (molen, molen_no_pc));
    assert_eq!((matched.a.postal_code.as_str(), matched.b.postal_code.as_str()), ("6711 AA", ""));
    assert!(matched.probability.is_some_and(|p| p > 0.0) && matched.a.country == "NL");
}
