//! The contract for the address team's events: corrections, merges,
//! retirements and aliases on base addresses, moves on subscriptions, the
//! review queue, and their stats; each applied once, whatever the order.

use super::{address, matched, registered, requested, sub_id, t0, Result};
use chrono::{DateTime, Duration, Utc};
use masthead_domain::address::{ReviewCandidate, ReviewReason};
use masthead_domain::base_address::{
    AddressSource, AliasReason, BaseAddressAliased, BaseAddressCorrected, BaseAddressEvent, BaseAddressMerged,
    BaseAddressRetired,
};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_domain::review::{ReviewDecided, ReviewDecision, ReviewEvent, ReviewKind, ReviewOpened};
use masthead_domain::schema::EventSchema;
use masthead_domain::subscription::{CorrectionSent, DeliveryAddressChanged, DeliveryChangeCause, SubscriptionEvent};
use masthead_domain::{AddressLines, FieldAgreement, MatchExplanation};
use masthead_projections::verify::compare;
use masthead_projections::*;
use masthead_testdata::events::{country, envelope, subscription_event, SynthAddress};
use uuid::Uuid;

fn base(seq: u64, at: DateTime<Utc>, e: BaseAddressEvent) -> Recorded<AnyEvent> {
    let mut env = envelope(BaseAddressEvent::AGGREGATE_TYPE, e.base_address_id().to_string(), e.event_type(), seq, at);
    env.schema_version = e.schema_version();
    Recorded { envelope: env, stream_sequence: seq, event: AnyEvent::BaseAddress(e) }
}

fn review_event(seq: u64, at: DateTime<Utc>, e: ReviewEvent) -> Recorded<AnyEvent> {
    let env = envelope(ReviewEvent::AGGREGATE_TYPE, e.review_id().to_string(), e.event_type(), seq, at);
    Recorded { envelope: env, stream_sequence: seq, event: AnyEvent::Review(e) }
}

fn lines_of(a: &SynthAddress) -> AddressLines {
    AddressLines {
        street: a.street_line(),
        postal_code: Some(a.postal_code.clone()),
        city: Some(a.city.into()),
        country: Some(country(a.country)),
    }
}

/// `a` corrected to the street `street` (same number) and the ref `reference`.
fn corrected(seq: u64, a: &SynthAddress, street: &str, reference: &str) -> Recorded<AnyEvent> {
    let mut after = a.clone();
    after.street_name = street.into();
    let canonical = after.registered(AddressSource::Curation, t0()).canonical;
    base(
        seq,
        t0() + Duration::hours(1),
        BaseAddressEvent::BaseAddressCorrected(BaseAddressCorrected {
            base_address_id: a.id,
            before: lines_of(a),
            address: lines_of(&after),
            previous_ref: a.reference.clone(),
            reference: Some(reference.into()),
            canonical,
            actor: "ada".into(),
            reason: Some("typo".into()),
            corrected_at: t0() + Duration::hours(1),
        }),
    )
}

fn merged(seq: u64, a: &SynthAddress, into: &SynthAddress) -> Recorded<AnyEvent> {
    base(
        seq,
        t0() + Duration::hours(2),
        BaseAddressEvent::BaseAddressMerged(BaseAddressMerged {
            base_address_id: a.id,
            into: into.id,
            key: "k".into(),
            actor: "ada".into(),
            reason: Some("same house".into()),
            merged_at: t0() + Duration::hours(2),
        }),
    )
}

fn retired(seq: u64, a: &SynthAddress) -> Recorded<AnyEvent> {
    base(
        seq,
        t0() + Duration::hours(3),
        BaseAddressEvent::BaseAddressRetired(BaseAddressRetired {
            base_address_id: a.id,
            actor: "bob".into(),
            reason: "demolished".into(),
            retired_at: t0() + Duration::hours(3),
        }),
    )
}

fn aliased(seq: u64, alias: Uuid, of: &SynthAddress) -> Recorded<AnyEvent> {
    base(
        seq,
        t0() + Duration::hours(4),
        BaseAddressEvent::BaseAddressAliased(BaseAddressAliased {
            base_address_id: alias,
            alias_of: of.id,
            key: "k2".into(),
            reason: AliasReason::Rekeyed { normalizer_version: 2 },
            aliased_at: t0() + Duration::hours(4),
        }),
    )
}

/// Subscription `s` moves from `from` to `to` (whose lines it now gets).
fn moved(seq: u64, s: Uuid, from: &SynthAddress, to: &SynthAddress, cause: DeliveryChangeCause) -> Recorded<AnyEvent> {
    let at = t0() + Duration::hours(5);
    subscription_event(
        seq,
        s,
        at,
        SubscriptionEvent::DeliveryAddressChanged(DeliveryAddressChanged {
            from_base_address_id: from.id,
            base_address_id: to.id,
            before: lines_of(from),
            delivery_address: lines_of(to),
            cause,
            cause_seq: seq - 1,
            changed_at: at,
        }),
    )
}

fn correction_sent(seq: u64, s: Uuid) -> Recorded<AnyEvent> {
    let e = CorrectionSent { cause_seq: seq - 2, message_id: format!("<c{seq}@m>"), sent_at: t0() };
    subscription_event(seq, s, t0() + Duration::hours(6), SubscriptionEvent::CorrectionSent(e))
}

fn explanation() -> MatchExplanation {
    MatchExplanation {
        street_similarity: 88.0,
        street: FieldAgreement::Similar,
        house_number: FieldAgreement::Exact,
        postal_code: FieldAgreement::Exact,
        city: FieldAgreement::Exact,
        country: FieldAgreement::Exact,
        probability: Some(0.9),
        weights: None,
    }
}

fn review_id(n: u128) -> Uuid {
    Uuid::from_u128(0x7e00_0000 + n)
}

fn opened(seq: u64, n: u128, a: &SynthAddress, b: &SynthAddress, minutes: i64) -> Recorded<AnyEvent> {
    let at = t0() + Duration::minutes(minutes);
    review_event(
        seq,
        at,
        ReviewEvent::ReviewOpened(ReviewOpened {
            review_id: review_id(n),
            kind: if n.is_multiple_of(2) { ReviewKind::Duplicate } else { ReviewKind::GreyZone },
            reason: (n % 2 == 1).then_some(ReviewReason::UncertainMatch),
            address_id: a.id,
            subscription_id: (n % 2 == 1).then(|| sub_id(100 + n)),
            candidates: vec![ReviewCandidate {
                base_address_id: b.id,
                probability: 0.75,
                explanation: explanation(),
                veto: Some("house_number".into()),
            }],
            opened_at: at,
        }),
    )
}

fn decided(seq: u64, n: u128, minutes: i64, decision: ReviewDecision, seconds: i64) -> Recorded<AnyEvent> {
    let opened_at = t0() + Duration::minutes(minutes);
    let at = opened_at + Duration::seconds(seconds);
    review_event(
        seq,
        at,
        ReviewEvent::ReviewDecided(ReviewDecided {
            review_id: review_id(n),
            decision,
            actor: "carol".into(),
            reason: None,
            opened_at,
            decided_at: at,
        }),
    )
}

pub async fn a_correction_changes_lines_search_and_history(store: &dyn ProjectionStore) -> Result {
    let a = address(21);
    let events = vec![
        registered(1, &a, AddressSource::Curator { actor: "ada".into(), reason: None }),
        corrected(2, &a, "Domplein", "R-21b"),
    ];
    let report = store.apply_batch(&events).await?;
    assert_eq!((report.applied, report.duplicates), (2, 0));
    let v = store.address(a.id).await?.expect("address");
    assert_eq!(v.lines.street, "Domplein 31");
    assert_eq!(v.reference.as_deref(), Some("R-21b"));
    assert_eq!(v.canonical.street, "domplein");
    assert_eq!((v.status, v.merged_into, v.aliases.len()), (AddressState::Active, None, 0));
    let find = |q: &str| AddressFilter { q: Some(q.into()), ..Default::default() };
    let ids = |p: Page<AddressView>| p.items.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(store.addresses(&find("dompl"), PageRequest::first(10)).await?), vec![a.id]);
    assert!(ids(store.addresses(&find("kerkstr"), PageRequest::first(10)).await?).is_empty(), "old words unindexed");
    let by_ref = |r: &str| AddressFilter { reference: Some(r.into()), ..Default::default() };
    assert_eq!(ids(store.addresses(&by_ref("R-21b"), PageRequest::first(10)).await?), vec![a.id]);
    assert!(ids(store.addresses(&by_ref("R-21"), PageRequest::first(10)).await?).is_empty());

    let h = store.address_history(a.id).await?.expect("history");
    let kinds: Vec<_> = h.iter().map(|e| (e.event_type.as_str(), e.stream_sequence)).collect();
    assert_eq!(kinds, vec![("BaseAddressRegistered", 1), ("BaseAddressCorrected", 2)]);
    assert_eq!(h[0].actor.as_deref(), Some("ada"));
    assert_eq!(h[0].changes["street"], FieldChange { from: None, to: Some("Kerkstraat 31".into()) });
    assert_eq!((h[1].actor.as_deref(), h[1].reason.as_deref()), (Some("ada"), Some("typo")));
    let changed: Vec<_> = h[1].changes.keys().map(String::as_str).collect();
    assert_eq!(changed, vec!["ref", "street"], "only what changed");
    assert_eq!(h[1].changes["street"].to.as_deref(), Some("Domplein 31"));
    assert_eq!(store.stats().await?.addresses_corrected, 1);
    assert!(store.address_history(Uuid::from_u128(42)).await?.is_none());

    let before = (store.address(a.id).await?, store.address_history(a.id).await?, store.stats().await?);
    let again = store.apply_batch(&events).await?;
    assert_eq!((again.applied, again.duplicates), (0, 2));
    let after = (store.address(a.id).await?, store.address_history(a.id).await?, store.stats().await?);
    assert_eq!(before.0, after.0);
    assert_eq!(before.1, after.1);
    assert_eq!(before.2.addresses_corrected, after.2.addresses_corrected);
    Ok(())
}

/// A correction of the `ref` alone moves no subscription (the lines they
/// are delivered to did not change), yet each shows the address's `ref`
/// as it is now, alone and in lists.
pub async fn a_ref_only_correction_shows_on_its_subscriptions(store: &dyn ProjectionStore) -> Result {
    let a = address(24);
    let (s1, s2) = (sub_id(24), sub_id(25));
    store
        .apply_batch(&[
            registered(1, &a, AddressSource::Curation),
            requested(2, s1, "Kerkstr 34", t0(), "NL"),
            matched(3, s1, &a, 96.0, t0()),
        ])
        .await?;
    assert_eq!(store.subscription(s1).await?.expect("s1").summary.base_address_ref.as_deref(), Some("R-24"));
    let street = a.street_name.clone();
    store.apply_batch(&[corrected(4, &a, &street, "R-24b")]).await?;
    assert_eq!(store.address(a.id).await?.expect("address").lines.street, "Kerkstraat 34", "lines unchanged");
    let v1 = store.subscription(s1).await?.expect("s1");
    assert_eq!(v1.summary.base_address_ref.as_deref(), Some("R-24b"));
    assert!(v1.moves.is_empty(), "nothing moved");
    // A subscription resolved after the correction, and the list.
    store.apply_batch(&[requested(5, s2, "Kerkstraat 34", t0(), "NL"), matched(6, s2, &a, 99.0, t0())]).await?;
    let listed = store.subscriptions(&SubscriptionFilter::default(), PageRequest::first(10)).await?;
    let refs: Vec<_> = listed.items.iter().map(|s| (s.id, s.base_address_ref.as_deref())).collect();
    assert!(refs.contains(&(s1, Some("R-24b"))) && refs.contains(&(s2, Some("R-24b"))), "{refs:?}");
    assert!(listed.items.iter().all(|s| s.base_address_status == Some(AddressState::Active)));
    // Retired, the address keeps its subscriptions, and they say so.
    store.apply_batch(&[retired(7, &a)]).await?;
    let v1 = store.subscription(s1).await?.expect("s1");
    assert_eq!((v1.summary.base_address_id, v1.summary.base_address_status), (Some(a.id), Some(AddressState::Retired)));
    let listed = store.subscriptions(&SubscriptionFilter::default(), PageRequest::first(10)).await?;
    assert!(listed.items.iter().all(|s| s.base_address_status == Some(AddressState::Retired)));
    Ok(())
}

/// The flags say what the current lines lack: a correction that clears
/// the postal code raises `missing_postal_code`, one that fills it in
/// again drops it.
pub async fn a_corrections_lines_decide_the_flags(store: &dyn ProjectionStore) -> Result {
    let a = address(26);
    let change = |seq: u64, before: AddressLines, after: AddressLines| {
        base(
            seq,
            t0() + Duration::hours(seq as i64),
            BaseAddressEvent::BaseAddressCorrected(BaseAddressCorrected {
                base_address_id: a.id,
                before,
                address: after,
                previous_ref: a.reference.clone(),
                reference: a.reference.clone(),
                canonical: a.registered(AddressSource::Curation, t0()).canonical,
                actor: "ada".into(),
                reason: None,
                corrected_at: t0() + Duration::hours(seq as i64),
            }),
        )
    };
    let full = lines_of(&a);
    let bare = AddressLines { postal_code: None, ..full.clone() };
    store.apply_batch(&[registered(1, &a, AddressSource::Curation), change(2, full.clone(), bare.clone())]).await?;
    let v = store.address(a.id).await?.expect("address");
    assert_eq!((v.lines.postal_code, v.flags), (None, vec![Flag::MissingPostalCode]));
    store.apply_batch(&[change(3, bare.clone(), full)]).await?;
    let v = store.address(a.id).await?.expect("address");
    assert_eq!((v.lines.postal_code.as_deref(), v.flags), (Some("3511 LX"), vec![]));
    // A part the correction leaves alone keeps the registration's flag: a
    // hand-made address without a postal code was flagged for nothing,
    // and correcting its street does not flag it.
    let mut b = address(27);
    b.postal_code = String::new();
    let b_lines = AddressLines { postal_code: None, ..lines_of(&b) };
    let mut reg = registered(4, &b, AddressSource::Curation);
    if let AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRegistered(e)) = &mut reg.event {
        e.address.postal_code = None;
    }
    let moved_street = AddressLines { street: "Kerkstraat 29".into(), ..b_lines.clone() };
    let mut fix = change(5, b_lines, moved_street);
    if let AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressCorrected(e)) = &mut fix.event {
        e.base_address_id = b.id;
    }
    store.apply_batch(&[reg, fix]).await?;
    let v = store.address(b.id).await?.expect("address");
    assert_eq!((v.lines.street.as_str(), v.lines.postal_code, v.flags), ("Kerkstraat 29", None, vec![]));
    Ok(())
}

pub async fn a_merge_moves_subscriptions_and_makes_an_alias(store: &dyn ProjectionStore) -> Result {
    let (a, b) = (address(22), address(23));
    let (s1, s2) = (sub_id(22), sub_id(23));
    store
        .apply_batch(&[
            registered(1, &a, AddressSource::Curation),
            registered(2, &b, AddressSource::Curation),
            requested(3, s1, "Kerkstr 32", t0(), "NL"),
            matched(4, s1, &a, 96.0, t0()),
            requested(5, s2, "Kerkstr 33", t0(), "NL"),
            matched(6, s2, &b, 97.0, t0()),
        ])
        .await?;
    // The merge, then (replayed out of order) a later correction's move
    // before the merge's own move.
    store.apply_batch(&[merged(7, &a, &b), corrected(9, &b, "Domplein", "R-23")]).await?;
    store.apply_batch(&[moved(10, s1, &b, &b, DeliveryChangeCause::Corrected)]).await?;
    store.apply_batch(&[moved(8, s1, &a, &b, DeliveryChangeCause::Merged), correction_sent(11, s1)]).await?;

    let va = store.address(a.id).await?.expect("merged address");
    assert_eq!((va.status, va.merged_into, va.subscription_count), (AddressState::Merged, Some(b.id), 0));
    let vb = store.address(b.id).await?.expect("survivor");
    assert_eq!((vb.status, vb.subscription_count), (AddressState::Active, 2));
    let alias = vb.aliases.first().expect("an alias");
    assert_eq!((alias.id, alias.kind, alias.street.as_deref()), (a.id, AliasKind::Merged, Some("Kerkstraat 32")));

    let ha = store.address_history(a.id).await?.expect("history of a");
    assert_eq!(ha.last().map(|e| (e.event_type.as_str(), e.merged_into)), Some(("BaseAddressMerged", Some(b.id))));
    let hb = store.address_history(b.id).await?.expect("history of b");
    let kinds: Vec<_> = hb.iter().map(|e| (e.event_type.as_str(), e.merged_from)).collect();
    assert_eq!(
        kinds,
        vec![("BaseAddressRegistered", None), ("BaseAddressMerged", Some(a.id)), ("BaseAddressCorrected", None)]
    );

    let status = |s| AddressFilter { status: Some(s), ..Default::default() };
    let listed = store.addresses(&status(AddressState::Merged), PageRequest::first(10)).await?;
    assert_eq!(listed.items.iter().map(|a| a.id).collect::<Vec<_>>(), vec![a.id]);
    let active = store.addresses(&status(AddressState::Active), PageRequest::first(100)).await?;
    assert!(active.items.iter().any(|x| x.id == b.id) && !active.items.iter().any(|x| x.id == a.id));

    let v1 = store.subscription(s1).await?.expect("s1");
    assert_eq!(v1.summary.base_address_id, Some(b.id));
    assert_eq!(v1.summary.delivery.as_ref().map(|d| d.street.as_str()), Some("Kerkstraat 33"));
    assert_eq!(v1.summary.base_address_ref.as_deref(), Some("R-23"), "the survivor's ref, as corrected");
    let moves: Vec<_> = v1.moves.iter().map(|m| (m.stream_sequence, m.from, m.to, m.cause.as_str())).collect();
    assert_eq!(moves, vec![(8, a.id, b.id, "merged"), (10, b.id, b.id, "corrected")]);
    assert!(v1.moves[0].lines_changed && !v1.moves[1].lines_changed);
    assert_eq!(v1.corrections_sent, 1);
    // The history alone gives the same, but for the ref and status of the
    // address it is delivered to (they live on the address).
    let history = super::only_subscription_events(&history_of_s1(s1), s1);
    let mut folded = subscription_view_from_history(&history).expect("folds");
    folded.summary.base_address_ref = v1.summary.base_address_ref.clone();
    assert_eq!(v1.summary.base_address_status, Some(AddressState::Active));
    folded.summary.base_address_status = v1.summary.base_address_status;
    assert_eq!(folded, v1);
    let st = store.stats().await?;
    assert_eq!((st.addresses_merged, st.addresses_corrected), (1, 1));

    // Then the survivor is merged on: the last survivor lists both
    // addresses it absorbed, the first through the second.
    let c = address(28);
    store.apply_batch(&[registered(12, &c, AddressSource::Curation), merged(13, &b, &c)]).await?;
    let vc = store.address(c.id).await?.expect("the last survivor");
    let mut ids: Vec<_> = vc.aliases.iter().map(|x| x.id).collect();
    ids.sort();
    let mut want = vec![a.id, b.id];
    want.sort();
    assert_eq!(ids, want);
    assert!(vc.aliases.iter().all(|x| x.kind == AliasKind::Merged));
    Ok(())
}

/// The events of `s` that `a_merge_moves…` applied, in stream order.
fn history_of_s1(s: Uuid) -> Vec<Recorded<AnyEvent>> {
    let (a, b) = (address(22), address(23));
    vec![
        requested(3, s, "Kerkstr 32", t0(), "NL"),
        matched(4, s, &a, 96.0, t0()),
        moved(8, s, &a, &b, DeliveryChangeCause::Merged),
        moved(10, s, &b, &b, DeliveryChangeCause::Corrected),
        correction_sent(11, s),
    ]
}

pub async fn retiring_and_rekeying_show_on_the_address(store: &dyn ProjectionStore) -> Result {
    let (a, b) = (address(24), address(25));
    let alias = Uuid::from_u128(0xa11a5);
    let events = vec![
        registered(1, &a, AddressSource::Curation),
        registered(2, &b, AddressSource::Curation),
        retired(3, &a),
        aliased(4, alias, &b),
    ];
    store.apply_batch(&events).await?;
    let va = store.address(a.id).await?.expect("retired");
    assert_eq!((va.status, va.merged_into), (AddressState::Retired, None));
    let h = store.address_history(a.id).await?.expect("history");
    let last = h.last().expect("entry");
    assert_eq!(
        (last.event_type.as_str(), last.actor.as_deref(), last.reason.as_deref()),
        ("BaseAddressRetired", Some("bob"), Some("demolished"))
    );
    let vb = store.address(b.id).await?.expect("b");
    assert_eq!(vb.aliases.iter().map(|x| (x.id, x.kind)).collect::<Vec<_>>(), vec![(alias, AliasKind::Rekeyed)]);
    // A correction's reservation says so.
    let corrected = Uuid::from_u128(0xa11a6);
    let mut reserved = aliased(5, corrected, &b);
    if let AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressAliased(e)) = &mut reserved.event {
        e.reason = AliasReason::Corrected;
    }
    store.apply_batch(&[reserved]).await?;
    let vb = store.address(b.id).await?.expect("b");
    assert_eq!(vb.aliases.iter().map(|x| x.kind).collect::<Vec<_>>(), vec![AliasKind::Rekeyed, AliasKind::Corrected]);
    assert!(
        vb.aliases.iter().all(|x| x.key.as_deref().is_some_and(|k| !k.is_empty())),
        "the spelling's key: {:?}",
        vb.aliases
    );
    assert!(store.address(alias).await?.is_none(), "an alias id is no address");
    let f = AddressFilter { status: Some(AddressState::Retired), ..Default::default() };
    assert_eq!(
        store.addresses(&f, PageRequest::first(5)).await?.items.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![a.id]
    );
    assert_eq!(store.stats().await?.addresses_retired, 1);
    let again = store.apply_batch(&events).await?;
    assert_eq!((again.applied, again.duplicates), (0, 4));
    assert_eq!(store.address(b.id).await?.expect("b").aliases.len(), 2, "no alias twice");
    assert_eq!(store.stats().await?.addresses_retired, 1);
    Ok(())
}

pub async fn reviews_list_oldest_first_and_leave_when_decided(store: &dyn ProjectionStore) -> Result {
    let (a, b) = (address(26), address(27));
    let merge = ReviewDecision::Merge { merged: a.id, into: b.id };
    let distinct = ReviewDecision::Distinct { pairs: vec![[a.id, b.id]] };
    // Opened out of time order; review 5's decision arrives before its opening.
    store
        .apply_batch(&[
            opened(1, 3, &a, &b, 30),
            opened(2, 1, &a, &b, 10),
            opened(3, 4, &a, &b, 40),
            opened(4, 2, &a, &b, 20),
            decided(5, 2, 20, merge, 60),
            decided(6, 5, 50, distinct.clone(), 30),
        ])
        .await?;
    assert!(store.review(review_id(5)).await?.is_none(), "a decision alone is not listed");
    store.apply_batch(&[opened(7, 5, &a, &b, 50), decided(8, 4, 40, distinct, 90)]).await?;

    let all = |status: Option<ReviewState>, limit| async move {
        let (mut out, mut page) = (Vec::new(), PageRequest::first(limit));
        loop {
            let p = store.reviews(&ReviewFilter { status }, page).await?;
            assert!(p.items.len() <= limit);
            out.extend(p.items.into_iter().map(|r| r.id));
            match p.next_cursor {
                Some(c) => page = PageRequest::after(limit, c),
                None => return anyhow::Ok(out),
            }
        }
    };
    assert_eq!(all(Some(ReviewState::Open), 2).await?, vec![review_id(1), review_id(3)]);
    assert_eq!(all(Some(ReviewState::Decided), 1).await?, vec![review_id(2), review_id(4), review_id(5)]);
    assert_eq!(all(None, 2).await?, (1..=5).map(review_id).collect::<Vec<_>>());

    let r1 = store.review(review_id(1)).await?.expect("r1");
    assert_eq!(
        (r1.kind.as_str(), r1.reason.as_deref(), r1.status),
        ("grey_zone", Some("uncertain_match"), ReviewState::Open)
    );
    assert_eq!(
        (r1.address_id, r1.subscription_id, r1.created_at),
        (a.id, Some(sub_id(101)), t0() + Duration::minutes(10))
    );
    let c = &r1.candidates[0];
    assert_eq!((c.id, c.score, c.probability, c.veto.as_deref()), (b.id, 75.0, 0.75, Some("house_number")));
    assert_eq!(c.explanation["street_similarity"], serde_json::json!(88.0));
    let r2 = store.review(review_id(2)).await?.expect("r2");
    assert_eq!(
        (r2.kind.as_str(), r2.decision.as_deref(), r2.merged, r2.into),
        ("duplicate", Some("merge"), Some(a.id), Some(b.id))
    );
    assert_eq!(
        (r2.decided_by.as_deref(), r2.decided_at),
        (Some("carol"), Some(t0() + Duration::minutes(20) + Duration::seconds(60)))
    );

    let st = store.stats().await?;
    assert_eq!((st.reviews_opened, st.reviews_open, st.reviews_decided), (5, 2, 3));
    assert_eq!(st.mean_seconds_to_decision, Some(60.0));
    let err = store.reviews(&ReviewFilter::default(), PageRequest::after(2, "bogus")).await;
    assert!(matches!(err, Err(StoreError::InvalidCursor)), "{err:?}");
    Ok(())
}

/// Every kind of curation and review event, with the subscriptions they move.
fn curated_stream() -> Vec<Recorded<AnyEvent>> {
    let (a, b, c) = (address(30), address(31), address(32));
    let (s1, s2, s3) = (sub_id(30), sub_id(31), sub_id(32));
    vec![
        registered(1, &a, AddressSource::Curation),
        registered(2, &b, AddressSource::Import { file: "x.csv".into(), line: 2 }),
        registered(3, &c, AddressSource::Curator { actor: "ada".into(), reason: None }),
        requested(4, s1, "Kerkstr 40", t0(), "NL"),
        matched(5, s1, &a, 96.0, t0()),
        requested(6, s2, "Kerkstr 41", t0(), "NL"),
        matched(7, s2, &b, 93.0, t0()),
        requested(8, s3, "Kerkstr 40", t0(), "NL"),
        matched(9, s3, &a, 91.0, t0()),
        corrected(10, &a, "Domplein", "R-30b"),
        moved(11, s1, &a, &a, DeliveryChangeCause::Corrected),
        moved(12, s3, &a, &a, DeliveryChangeCause::Corrected),
        correction_sent(13, s1),
        opened(14, 11, &a, &b, 5),
        decided(15, 11, 5, ReviewDecision::Merge { merged: a.id, into: b.id }, 600),
        merged(16, &a, &b),
        moved(17, s1, &a, &b, DeliveryChangeCause::Merged),
        moved(18, s3, &a, &b, DeliveryChangeCause::Merged),
        correction_sent(19, s3),
        retired(20, &c),
        aliased(21, Uuid::from_u128(0xa11a6), &b),
        opened(22, 12, &b, &c, 9),
    ]
}

pub async fn curation_replayed_twice_or_out_of_order_changes_nothing(store: &dyn ProjectionStore) -> Result {
    let events = curated_stream();
    for chunk in events.chunks(4) {
        store.apply_batch(chunk).await?;
    }
    let dir = tempfile::tempdir()?;
    // Registrations first (a move's ref is the survivor's as known when
    // the move applies), everything else in a scrambled order, in small
    // batches, then the whole stream again.
    let shuffled = RedbStore::open(&dir.path().join("shuffled.redb"))?;
    let (mut regs, mut rest): (Vec<_>, Vec<_>) = events
        .iter()
        .cloned()
        .partition(|r| matches!(r.event, AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRegistered(_))));
    rest.sort_by_key(|r| (r.stream_sequence * 7919) % 23);
    regs.extend(rest);
    for chunk in regs.chunks(3) {
        shuffled.apply_batch(chunk).await?;
    }
    let again = shuffled.apply_batch(&events).await?;
    assert_eq!((again.applied, again.duplicates), (0, events.len() as u64));
    assert_eq!(compare(store, &shuffled).await?, vec![], "the same documents whatever the order");
    let twice = store.apply_batch(&events).await?;
    assert_eq!((twice.applied, twice.duplicates), (0, events.len() as u64));
    assert_eq!(compare(store, &shuffled).await?, vec![], "re-applying changes nothing");

    let st = store.stats().await?;
    assert_eq!((st.addresses_corrected, st.addresses_merged, st.addresses_retired), (1, 1, 1));
    assert_eq!((st.reviews_opened, st.reviews_open, st.reviews_decided), (2, 1, 1));
    assert_eq!(st.mean_seconds_to_decision, Some(600.0));
    let (a, b) = (address(30), address(31));
    assert_eq!(store.address(a.id).await?.expect("a").subscription_count, 0);
    assert_eq!(store.address(b.id).await?.expect("b").subscription_count, 3);
    let v = store.subscription(sub_id(30)).await?.expect("s1");
    assert_eq!((v.summary.base_address_id, v.moves.len(), v.corrections_sent), (Some(b.id), 2, 1));
    Ok(())
}
