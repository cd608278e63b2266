use super::*;
use crate::normalize::{normalize, AddressInput};

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
