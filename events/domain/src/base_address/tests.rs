//! Given/when/then for every base-address command and every refusal.

use super::*;
use crate::address::{AddressLines, CanonicalAddress};
use crate::country::Country;
use chrono::{DateTime, Utc};
use cqrs_es::test::TestFramework;

type AddressTest = TestFramework<BaseAddress>;

fn at() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

fn canonical(key: &str, street: &str) -> CanonicalAddress {
    CanonicalAddress {
        key: key.into(),
        street: street.into(),
        house_number: "12".into(),
        postal_code: String::new(),
        city: String::new(),
        country: String::new(),
        house_name: String::new(),
        version: 1,
    }
}

fn lines(street: &str) -> AddressLines {
    AddressLines { street: street.into(), postal_code: None, city: None, country: None }
}

fn registered(key: &str) -> BaseAddressRegistered {
    BaseAddressRegistered {
        base_address_id: id_for_key(key),
        reference: Some("R-7".into()),
        address: lines("Kerkstraat 12"),
        canonical: canonical(key, "kerkstraat"),
        source: AddressSource::Curation,
        flags: vec![AddressFlag::MissingPostalCode],
        registered_at: at(),
    }
}

fn registered_event(key: &str) -> BaseAddressEvent {
    BaseAddressEvent::BaseAddressRegistered(registered(key))
}

fn aliased(key: &str, of: &str) -> BaseAddressAliased {
    BaseAddressAliased {
        base_address_id: id_for_key(key),
        alias_of: id_for_key(of),
        key: key.into(),
        reason: AliasReason::Rekeyed { normalizer_version: 2 },
        aliased_at: at(),
    }
}

fn correct(street: &str) -> CorrectAddress {
    CorrectAddress {
        address: lines(street),
        reference: Some("R-7".into()),
        canonical: canonical("k1-corrected", "kerkstraat"),
        actor: "ann".into(),
        reason: Some("typo".into()),
        at: at(),
    }
}

fn corrected(street: &str) -> BaseAddressEvent {
    BaseAddressEvent::BaseAddressCorrected(BaseAddressCorrected {
        base_address_id: id_for_key("k1"),
        before: lines("Kerkstraat 12"),
        address: lines(street),
        previous_ref: Some("R-7".into()),
        reference: Some("R-7".into()),
        canonical: canonical("k1-corrected", "kerkstraat"),
        actor: "ann".into(),
        reason: Some("typo".into()),
        corrected_at: at(),
    })
}

fn merge_into(into: &str, survivor: AddressStatus) -> BaseAddressCommand {
    BaseAddressCommand::Merge(MergeAddress {
        into: id_for_key(into),
        survivor,
        actor: "ann".into(),
        reason: None,
        at: at(),
    })
}

fn merged_into(into: &str) -> BaseAddressEvent {
    BaseAddressEvent::BaseAddressMerged(BaseAddressMerged {
        base_address_id: id_for_key("k1"),
        into: id_for_key(into),
        key: "k1".into(),
        actor: "ann".into(),
        reason: None,
        merged_at: at(),
    })
}

fn retire(reason: &str) -> BaseAddressCommand {
    BaseAddressCommand::Retire(RetireAddress { actor: "ann".into(), reason: reason.into(), at: at() })
}

fn retired() -> BaseAddressEvent {
    BaseAddressEvent::BaseAddressRetired(BaseAddressRetired {
        base_address_id: id_for_key("k1"),
        actor: "ann".into(),
        reason: "demolished".into(),
        retired_at: at(),
    })
}

#[test]
fn ids_are_stable_per_key() {
    assert_eq!(id_for_key("a"), id_for_key("a"));
    assert_ne!(id_for_key("a"), id_for_key("b"));
}

#[test]
fn a_new_address_is_registered() {
    AddressTest::with(())
        .given_no_previous_events()
        .when(BaseAddressCommand::Register(registered("k1")))
        .then_expect_events(vec![registered_event("k1")]);
}

#[test]
fn registering_the_same_address_again_changes_nothing() {
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(BaseAddressCommand::Register(registered("k1")))
        .then_expect_events(vec![]);
}

#[test]
fn registering_the_first_key_again_after_a_correction_changes_nothing() {
    AddressTest::with(())
        .given(vec![registered_event("k1"), corrected("Kerkstraat 14")])
        .when(BaseAddressCommand::Register(registered("k1")))
        .then_expect_events(vec![]);
}

#[test]
fn an_alias_reserves_the_id_and_refuses_a_registration() {
    AddressTest::with(())
        .given_no_previous_events()
        .when(BaseAddressCommand::Alias(aliased("k2", "k1")))
        .then_expect_events(vec![BaseAddressEvent::BaseAddressAliased(aliased("k2", "k1"))]);
    AddressTest::with(())
        .given(vec![BaseAddressEvent::BaseAddressAliased(aliased("k2", "k1"))])
        .when(BaseAddressCommand::Register(registered("k2")))
        .then_expect_error(BaseAddressError::Aliased { alias_of: id_for_key("k1") });
}

#[test]
fn aliasing_again_changes_nothing_and_a_registered_id_cannot_become_an_alias() {
    AddressTest::with(())
        .given(vec![BaseAddressEvent::BaseAddressAliased(aliased("k2", "k1"))])
        .when(BaseAddressCommand::Alias(aliased("k2", "k1")))
        .then_expect_events(vec![]);
    AddressTest::with(())
        .given(vec![registered_event("k2")])
        .when(BaseAddressCommand::Alias(aliased("k2", "k1")))
        .then_expect_error(BaseAddressError::Registered(id_for_key("k2")));
}

#[test]
fn a_different_key_under_the_same_id_is_refused() {
    let mut other = registered("k2");
    other.base_address_id = id_for_key("k1");
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(BaseAddressCommand::Register(other))
        .then_expect_error(BaseAddressError::KeyMismatch(id_for_key("k1")));
}

#[test]
fn a_correction_records_both_sides_with_actor_and_reason() {
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(BaseAddressCommand::Correct(correct("Kerkstraat 14")))
        .then_expect_events(vec![corrected("Kerkstraat 14")]);
}

#[test]
fn a_second_correction_starts_from_the_corrected_lines() {
    let mut second = correct("Kerkstraat 16");
    second.reference = Some("R-8".into());
    let BaseAddressEvent::BaseAddressCorrected(mut expected) = corrected("Kerkstraat 16") else {
        unreachable!("corrected() builds a correction")
    };
    expected.before = lines("Kerkstraat 14");
    expected.reference = Some("R-8".into());
    AddressTest::with(())
        .given(vec![registered_event("k1"), corrected("Kerkstraat 14")])
        .when(BaseAddressCommand::Correct(second))
        .then_expect_events(vec![BaseAddressEvent::BaseAddressCorrected(expected)]);
}

#[test]
fn a_correction_that_changes_nothing_records_nothing() {
    AddressTest::with(())
        .given(vec![registered_event("k1"), corrected("Kerkstraat 14")])
        .when(BaseAddressCommand::Correct(correct("Kerkstraat 14")))
        .then_expect_events(vec![]);
}

#[test]
fn a_correction_is_refused_without_street_unknown_merged_retired_or_alias() {
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(BaseAddressCommand::Correct(correct("  ")))
        .then_expect_error(BaseAddressError::EmptyStreet);
    AddressTest::with(())
        .given_no_previous_events()
        .when(BaseAddressCommand::Correct(correct("Kerkstraat 14")))
        .then_expect_error(BaseAddressError::NotRegistered);
    AddressTest::with(())
        .given(vec![registered_event("k1"), merged_into("k9")])
        .when(BaseAddressCommand::Correct(correct("Kerkstraat 14")))
        .then_expect_error(BaseAddressError::Merged { into: id_for_key("k9") });
    AddressTest::with(())
        .given(vec![registered_event("k1"), retired()])
        .when(BaseAddressCommand::Correct(correct("Kerkstraat 14")))
        .then_expect_error(BaseAddressError::Retired(id_for_key("k1")));
    AddressTest::with(())
        .given(vec![BaseAddressEvent::BaseAddressAliased(aliased("k2", "k1"))])
        .when(BaseAddressCommand::Correct(correct("Kerkstraat 14")))
        .then_expect_error(BaseAddressError::Aliased { alias_of: id_for_key("k1") });
}

#[test]
fn a_merge_into_an_active_survivor_is_recorded_with_the_merged_key() {
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(merge_into("k9", AddressStatus::Active))
        .then_expect_events(vec![merged_into("k9")]);
}

#[test]
fn a_merge_carries_the_corrected_key() {
    let BaseAddressEvent::BaseAddressMerged(mut expected) = merged_into("k9") else {
        unreachable!("merged_into() builds a merge")
    };
    expected.key = "k1-corrected".into();
    AddressTest::with(())
        .given(vec![registered_event("k1"), corrected("Kerkstraat 14")])
        .when(merge_into("k9", AddressStatus::Active))
        .then_expect_events(vec![BaseAddressEvent::BaseAddressMerged(expected)]);
}

#[test]
fn the_same_merge_again_changes_nothing_even_if_the_survivor_changed_since() {
    AddressTest::with(())
        .given(vec![registered_event("k1"), merged_into("k9")])
        .when(merge_into("k9", AddressStatus::Retired))
        .then_expect_events(vec![]);
}

#[test]
fn a_merge_into_itself_is_invalid() {
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(merge_into("k1", AddressStatus::Active))
        .then_expect_error(BaseAddressError::MergeIntoItself);
}

#[test]
fn a_merge_into_a_merged_or_retired_survivor_conflicts() {
    let merged = AddressStatus::Merged { into: id_for_key("k5") };
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(merge_into("k9", merged))
        .then_expect_error(BaseAddressError::SurvivorNotActive { into: id_for_key("k9"), status: merged });
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(merge_into("k9", AddressStatus::Retired))
        .then_expect_error(BaseAddressError::SurvivorNotActive {
            into: id_for_key("k9"),
            status: AddressStatus::Retired,
        });
}

#[test]
fn a_merge_into_an_unknown_survivor_is_invalid() {
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(merge_into("k9", AddressStatus::Unregistered))
        .then_expect_error(BaseAddressError::UnknownSurvivor(id_for_key("k9")));
}

#[test]
fn a_merge_is_refused_for_unknown_merged_elsewhere_retired_or_alias() {
    AddressTest::with(())
        .given_no_previous_events()
        .when(merge_into("k9", AddressStatus::Active))
        .then_expect_error(BaseAddressError::NotRegistered);
    AddressTest::with(())
        .given(vec![registered_event("k1"), merged_into("k9")])
        .when(merge_into("k8", AddressStatus::Active))
        .then_expect_error(BaseAddressError::Merged { into: id_for_key("k9") });
    AddressTest::with(())
        .given(vec![registered_event("k1"), retired()])
        .when(merge_into("k9", AddressStatus::Active))
        .then_expect_error(BaseAddressError::Retired(id_for_key("k1")));
    AddressTest::with(())
        .given(vec![BaseAddressEvent::BaseAddressAliased(aliased("k2", "k1"))])
        .when(merge_into("k9", AddressStatus::Active))
        .then_expect_error(BaseAddressError::Aliased { alias_of: id_for_key("k1") });
}

#[test]
fn retiring_records_actor_and_reason_once() {
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(retire("demolished"))
        .then_expect_events(vec![retired()]);
    AddressTest::with(())
        .given(vec![registered_event("k1"), retired()])
        .when(retire("demolished"))
        .then_expect_events(vec![]);
}

#[test]
fn retiring_is_refused_without_reason_unknown_merged_or_alias() {
    AddressTest::with(())
        .given(vec![registered_event("k1")])
        .when(retire(" "))
        .then_expect_error(BaseAddressError::ReasonRequired);
    AddressTest::with(())
        .given_no_previous_events()
        .when(retire("demolished"))
        .then_expect_error(BaseAddressError::NotRegistered);
    AddressTest::with(())
        .given(vec![registered_event("k1"), merged_into("k9")])
        .when(retire("demolished"))
        .then_expect_error(BaseAddressError::Merged { into: id_for_key("k9") });
    AddressTest::with(())
        .given(vec![BaseAddressEvent::BaseAddressAliased(aliased("k2", "k1"))])
        .when(retire("demolished"))
        .then_expect_error(BaseAddressError::Aliased { alias_of: id_for_key("k1") });
}

#[test]
fn refusals_map_to_the_status_the_api_answers() {
    assert_eq!(BaseAddressError::NotRegistered.status_class(), RefusalClass::NotFound);
    assert_eq!(BaseAddressError::Retired(id_for_key("k1")).status_class(), RefusalClass::Conflict);
    let not_active = BaseAddressError::SurvivorNotActive { into: id_for_key("k9"), status: AddressStatus::Retired };
    assert_eq!(not_active.status_class(), RefusalClass::Conflict);
    assert_eq!(BaseAddressError::MergeIntoItself.status_class(), RefusalClass::Invalid);
}

fn kerkstraat_12() -> AddressLines {
    AddressLines {
        street: "Kerkstraat 12".into(),
        postal_code: Some("3511 LX".into()),
        city: Some("Utrecht".into()),
        country: Some(Country::parse("NL").expect("NL")),
    }
}

#[test]
fn a_patch_replaces_only_the_fields_it_has() {
    let current = kerkstraat_12();
    let patch = AddressPatch { city: Some(Some("Zeist".into())), ..AddressPatch::default() };
    assert!(!patch.is_empty());
    assert!(AddressPatch::default().is_empty());
    let after = patch.apply(&current);
    assert_eq!(after.city.as_deref(), Some("Zeist"));
    assert_eq!(after.street, current.street);
    assert_eq!(after.postal_code, current.postal_code);
    assert_eq!(patch.apply_reference(Some(&"R-1".to_owned())).as_deref(), Some("R-1"));
}

#[test]
fn a_patch_clears_the_optional_lines_and_the_reference_it_is_told_to() {
    let current = kerkstraat_12();
    let patch = AddressPatch { postal_code: Some(None), reference: Some(None), ..AddressPatch::default() };
    assert!(!patch.is_empty());
    let after = patch.apply(&current);
    assert_eq!((after.postal_code, after.city.as_deref()), (None, Some("Utrecht")));
    assert_eq!(patch.apply_reference(Some(&"R-1".to_owned())), None);
}

/// A retired address refuses new lines, but gives up its `ref` (so that
/// another address may take it).
#[test]
fn a_retired_address_takes_a_correction_of_its_ref_alone() {
    let mut ref_only = correct("Kerkstraat 12");
    ref_only.reference = None;
    AddressTest::with(())
        .given(vec![registered_event("k1"), retired()])
        .when(BaseAddressCommand::Correct(ref_only.clone()))
        .then_expect_events(vec![BaseAddressEvent::BaseAddressCorrected(BaseAddressCorrected {
            base_address_id: id_for_key("k1"),
            before: lines("Kerkstraat 12"),
            address: lines("Kerkstraat 12"),
            previous_ref: Some("R-7".into()),
            reference: None,
            canonical: ref_only.canonical.clone(),
            actor: "ann".into(),
            reason: Some("typo".into()),
            corrected_at: at(),
        })]);
    let mut both = correct("Kerkstraat 14");
    both.reference = None;
    AddressTest::with(())
        .given(vec![registered_event("k1"), retired()])
        .when(BaseAddressCommand::Correct(both))
        .then_expect_error(BaseAddressError::Retired(id_for_key("k1")));
}

#[test]
fn new_events_round_trip_through_their_stored_payloads() {
    use crate::schema::{decode, EventSchema};
    for event in [corrected("Kerkstraat 14"), merged_into("k9"), retired()] {
        let bytes = event.payload_bytes().expect("serialises");
        let back: BaseAddressEvent =
            decode(UPCASTERS, event.event_type(), event.schema_version(), &bytes).expect("decodes");
        assert_eq!(back, event);
    }
}
