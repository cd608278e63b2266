use super::*;
use crate::index::Resolution;
use crate::normalize::{normalize, AddressInput};
use masthead_domain::base_address::{id_for_key, successor_id};

fn canon(street: &str, pc: &str, city: &str, country: &str) -> Canonical {
    normalize(&AddressInput { street, postal_code: pc, city, country })
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

#[test]
fn insert_is_idempotent_and_moves() {
    let mut ix = MatchIndex::new(MatchConfig::default());
    let a = canon("Kerkstraat 12", "3511LX", "Utrecht", "NL");
    ix.insert(id(1), a.clone());
    ix.insert(id(1), a.clone());
    assert_eq!(ix.len(), 1);
    assert_eq!(ix.contains_key(&a.key()), Some(id(1)));
    let b = canon("Kerkstraat 14", "3511LX", "Utrecht", "NL");
    ix.insert(id(1), b.clone());
    assert_eq!(ix.len(), 1);
    assert_eq!(ix.contains_key(&a.key()), None);
    assert_eq!(ix.contains_key(&b.key()), Some(id(1)));
    assert!(matches!(ix.decide(&a), Decision::New { .. }));
}

#[test]
fn finds_street_without_postcode_and_with_typo_town() {
    let mut ix = MatchIndex::new(MatchConfig::default());
    ix.insert(id(1), canon("Kerkstraat 12", "3511LX", "Utrecht", "NL"));
    ix.insert(id(2), canon("Kerkstraat 12", "2311AB", "Leiden", "NL"));
    let probe = canon("Kerkstr 12", "", "Utrect", "NL");
    match ix.decide(&probe) {
        Decision::Match(c) => assert_eq!(c.id, id(1)),
        other => panic!("expected match, got {other:?}"),
    }
    let probe = canon("Kerkstraat 12", "", "Amersfoort", "NL");
    assert!(matches!(ix.decide(&probe), Decision::New { .. }));
}

#[test]
fn candidates_preview_lists_vetoed_last() {
    let mut ix = MatchIndex::new(MatchConfig::default());
    ix.insert(id(1), canon("Kerkstraat 12", "3511LX", "Utrecht", "NL"));
    ix.insert(id(2), canon("Kerkstraat 21", "3511LX", "Utrecht", "NL"));
    let probe = canon("Kerkstraat 12", "3511 LX", "Utrecht", "NL");
    let c = ix.candidates(&probe, 5);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].id, id(1));
    assert!(c[0].veto.is_none());
    assert!(c[1].veto.is_some());
}

#[test]
fn index_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MatchIndex>();
}

#[test]
fn a_merged_address_resolves_to_its_survivor_by_key_and_by_variant() {
    let mut ix = MatchIndex::new(MatchConfig::default());
    let survivor = canon("Rossumweg 5", "6541AB", "Nijmegen", "NL");
    let merged = canon("Rossemweg 5", "6541AB", "Nijmegen", "NL");
    ix.insert(id(1), survivor);
    ix.insert(id(2), merged.clone());
    match ix.decide(&merged) {
        Decision::Match(c) => assert_eq!(c.id, id(2), "before the merge it is its own address"),
        other => panic!("expected a match, got {other:?}"),
    }
    ix.merge(id(2), id(1));
    assert_eq!(ix.resolve(id(2)), Resolution::Active(id(1)));
    match ix.decide(&merged) {
        Decision::Match(c) => assert_eq!(c.id, id(1), "its exact spelling is an alias of the survivor"),
        other => panic!("expected a match, got {other:?}"),
    }
    let typo = canon("Rossemweg 5", "6541 AB", "Nijmegn", "NL");
    let v = ix.verdict(&typo);
    assert!(matches!(&v.decision, Decision::Match(c) if c.id == id(1)), "{v:?}");
    assert!(v.candidates.iter().all(|c| c.id != id(2)), "the merged id is never offered: {:?}", v.candidates);
    let ids: Vec<Uuid> = v.candidates.iter().map(|c| c.id).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(ids, unique, "one address is listed once");
}

#[test]
fn merges_chain_to_the_last_survivor() {
    let mut ix = MatchIndex::new(MatchConfig::default());
    ix.insert(id(1), canon("Kerkstraat 12", "3511LX", "Utrecht", "NL"));
    ix.insert(id(2), canon("Kerkstraat 12", "3511LX", "Utrecht", "NL"));
    ix.merge(id(1), id(2));
    ix.merge(id(2), id(3));
    assert_eq!(ix.resolve(id(1)), Resolution::Active(id(3)));
    ix.retire(id(3));
    assert_eq!(ix.resolve(id(1)), Resolution::Retired(id(3)));
    assert_eq!(ix.resolve(id(3)), Resolution::Retired(id(3)), "retired itself");
    assert_ne!(ix.resolve(id(1)), Resolution::Retired(id(1)), "merged, not retired itself");
}

#[test]
fn a_probe_that_would_match_a_retired_address_goes_to_review() {
    let mut ix = MatchIndex::new(MatchConfig::default());
    let retired = canon("Kerkstraat 12", "3511LX", "Utrecht", "NL");
    ix.insert(id(1), retired.clone());
    ix.insert(id(2), canon("Kerkstraat 14", "3511LX", "Utrecht", "NL"));
    ix.retire(id(1));
    for probe in [retired, canon("Kerkstr 12", "3511 LX", "Utrecht", "NL")] {
        let v = ix.verdict(&probe);
        match &v.decision {
            Decision::New { best_rejected: Some(c) } => assert_eq!(c.id, id(1), "the reviewer sees which address"),
            other => panic!("expected a new address, got {other:?}"),
        }
        assert_eq!(v.review, Some(ReviewReason::RetiredAddress));
    }
    let other = canon("Kerkstraat 14", "3511LX", "Utrecht", "NL");
    assert!(matches!(ix.decide(&other), Decision::Match(c) if c.id == id(2)), "its neighbour still matches");
}

#[test]
fn look_alikes_merged_into_one_are_no_longer_contested() {
    let mut ix = MatchIndex::new(MatchConfig::default());
    ix.insert(id(1), canon("Rossumweg 5", "6541AB", "Nijmegen", "NL"));
    ix.insert(id(2), canon("Rossemweg 5", "6541AB", "Nijmegen", "NL"));
    // Between the two spellings: both convincing, on two streets.
    let between = canon("Rossamweg 5", "6541 AB", "Nijmegen", "NL");
    let before = ix.verdict(&between);
    assert!(matches!(before.decision, Decision::New { .. }), "{before:?}");
    assert_eq!(before.review, Some(ReviewReason::Ambiguous));
    ix.merge(id(2), id(1));
    let after = ix.verdict(&between);
    assert!(matches!(&after.decision, Decision::Match(c) if c.id == id(1)), "{after:?}");
    assert_eq!(after.review, None, "one address now, and a certain one");
    assert_eq!(after.candidates.len(), 1);
}

#[test]
fn the_successor_of_a_retired_address_takes_its_spellings() {
    let mut ix = MatchIndex::new(MatchConfig::default());
    let typed = canon("Kerkstraat 12", "3511LX", "Utrecht", "NL");
    // Registered under its key's id, as every base address is.
    let retired = id_for_key(&typed.key());
    ix.insert(retired, typed.clone());
    ix.retire(retired);
    assert!(matches!(ix.decide(&typed), Decision::New { .. }), "nothing in its place yet");
    let successor = successor_id(retired);
    ix.insert(successor, typed.clone());
    for probe in [typed, canon("Kerkstr 12", "3511 LX", "Utrecht", "NL")] {
        let v = ix.verdict(&probe);
        assert!(matches!(&v.decision, Decision::Match(c) if c.id == successor), "{v:?}");
        assert_eq!(v.review, None);
    }
}

/// A retired address that was corrected first: its successor is the one
/// registered for its current spelling (under the successor of the id the
/// correction reserved), not the one registered for the spelling it had
/// before (under the successor of its own id), which is another house.
#[test]
fn a_corrected_then_retired_address_passes_its_current_spelling_on() {
    let mut ix = MatchIndex::new(MatchConfig::default());
    let before = canon("Vismarkt 3", "3511KR", "Utrecht", "NL");
    let now = canon("Vismarkt 5", "3511KR", "Utrecht", "NL");
    let retired = id_for_key(&before.key());
    ix.insert(retired, before.clone());
    ix.insert(retired, now.clone());
    ix.retire(retired);
    ix.insert(successor_id(retired), before.clone());
    assert!(matches!(ix.decide(&now), Decision::New { .. }), "the former spelling's successor is another house");
    let successor = successor_id(id_for_key(&now.key()));
    ix.insert(successor, now.clone());
    assert!(matches!(ix.decide(&now), Decision::Match(c) if c.id == successor));
    assert!(matches!(ix.decide(&before), Decision::Match(c) if c.id == successor_id(retired)));
}

/// Near-duplicates beside look-alikes that must stay apart, for the scan.
fn dedupe_list() -> MatchIndex {
    let rows = [
        (1, "Rossumweg 5", "6541 AB", "Nijmegen"),
        (2, "Rossemweg 5", "6541 AB", "Nijmegen"), // typo of 1
        (3, "Kerkstraat 12", "3511 LX", "Utrecht"),
        (4, "Kerkstraat 21", "3511 LX", "Utrecht"),  // another number
        (5, "Kerkstraat 12A", "3511 LX", "Utrecht"), // a suffix
        (6, "Kerkweg 12", "3511 LX", "Utrecht"),     // another street type
        (7, "Nieuwe Gracht 7", "3512 LT", "Utrecht"),
        (8, "Oude Gracht 7", "3512 LT", "Utrecht"), // a sibling street
        (9, "Dorpsstraat 4", "1234 AB", "Ede"),
        (10, "Dorpsstraat 4", "1234 AC", "Ede"), // the neighbouring postcode
        (11, "Molenstraat 8", "6711 AA", "Ede"),
        (12, "Molenstraat 8", "", "Ede"), // 11 without its postcode
    ];
    let items = rows.into_iter().map(|(n, street, pc, city)| (id(n), canon(street, pc, city, "NL")));
    MatchIndex::bulk_build(MatchConfig::default(), items)
}

fn pair_ids(report: &ScanReport) -> Vec<(Uuid, Uuid)> {
    let mut pairs: Vec<(Uuid, Uuid)> = report.pairs.iter().map(|p| (p.first, p.second)).collect();
    pairs.sort();
    pairs
}

#[test]
fn the_scan_finds_near_duplicates_once_and_keeps_look_alikes_apart() {
    let ix = dedupe_list();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let last = std::sync::atomic::AtomicUsize::new(0);
    let report = ix.scan_duplicates(2, &|done, total| {
        assert_eq!(total, 12);
        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        last.fetch_max(done, std::sync::atomic::Ordering::SeqCst);
    });
    assert_eq!(pair_ids(&report), vec![(id(1), id(2)), (id(11), id(12))], "{report:#?}");
    assert_eq!((report.scanned, report.skipped_distinct), (12, 0));
    assert!(calls.into_inner() >= 1 && last.into_inner() == 12, "progress reaches the total");
    let review = ix.config().review_probability;
    for p in &report.pairs {
        assert!(p.probability >= review && p.probability <= 1.0, "{p:?}");
        assert_eq!(p.explanation.house_number, Agreement::Exact);
    }
    // One thread finds exactly what two find.
    assert_eq!(ix.scan_duplicates(1, &|_, _| {}), report);
}

#[test]
fn the_scan_leaves_out_distinct_pairs_and_curated_addresses() {
    let mut ix = dedupe_list();
    ix.mark_distinct(id(2), id(1));
    let report = ix.scan_duplicates(2, &|_, _| {});
    assert_eq!(pair_ids(&report), vec![(id(11), id(12))]);
    assert_eq!(report.skipped_distinct, 1);
    assert!(ix.is_distinct(id(1), id(2)) && ix.is_distinct(id(2), id(1)));
    ix.merge(id(12), id(11));
    ix.retire(id(3));
    let report = ix.scan_duplicates(2, &|_, _| {});
    assert!(report.pairs.is_empty(), "{report:#?}");
    assert_eq!(report.scanned, 10, "merged and retired addresses are not probed");
}
