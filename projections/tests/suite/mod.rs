//! The contract every `ProjectionStore` meets, written once over
//! `&dyn ProjectionStore` and run against each store by `contract.rs`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use masthead_domain::base_address::AddressSource;
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_domain::subscription::{
    AddressAssigned, AddressMatched, Channel, ConfirmationFailed, ConfirmationSent, PersonalDataErased,
    SubscriptionEvent, SubscriptionRequested,
};
use masthead_domain::{AddressLines, FieldAgreement, MatchExplanation, PostalAddress};
use masthead_projections::*;
use masthead_testdata::events::{self as synth, address_event, country, sealed, subscription_event, Rng, SynthAddress};
use std::collections::{BTreeSet, HashMap};
use uuid::Uuid;

mod curation;
pub use curation::*;

pub type Result = anyhow::Result<()>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap()
}

fn address(n: usize) -> SynthAddress {
    let mut a = synth::random_address(&mut Rng::new(n as u64), n);
    a.street_name = "Kerkstraat".into();
    a.house_number = 10 + n as u32;
    a.postal_code = "3511 LX".into();
    a.city = "Utrecht";
    a.country = "NL";
    a.reference = Some(format!("R-{n}"));
    a.id = Uuid::from_u128(0xadd0_0000 + n as u128);
    a
}

fn sub_id(n: u128) -> Uuid {
    Uuid::from_u128(0x5000_0000 + n)
}

fn requested(seq: u64, id: Uuid, street: &str, at: DateTime<Utc>, ctry: &str) -> Recorded<AnyEvent> {
    subscription_event(
        seq,
        id,
        at,
        SubscriptionEvent::SubscriptionRequested(SubscriptionRequested {
            subscription_id: id,
            subscriber: sealed(id),
            address: PostalAddress {
                street: street.into(),
                postal_code: "3511LX".into(),
                city: "Utrecht".into(),
                country: country(ctry),
            },
            country_as_typed: ctry.into(),
            channel: Channel::Form,
            requested_at: at,
        }),
    )
}

fn lines(a: &SynthAddress) -> AddressLines {
    AddressLines {
        street: a.street_line(),
        postal_code: Some(a.postal_code.clone()),
        city: Some(a.city.into()),
        country: Some(country(a.country)),
    }
}

fn matched(seq: u64, id: Uuid, a: &SynthAddress, score: f64, at: DateTime<Utc>) -> Recorded<AnyEvent> {
    let AnyEvent::BaseAddress(masthead_domain::base_address::BaseAddressEvent::BaseAddressRegistered(reg)) =
        address_event(0, a.registered(AddressSource::Curation, at)).event
    else {
        unreachable!()
    };
    subscription_event(
        seq,
        id,
        at,
        SubscriptionEvent::AddressMatched(AddressMatched {
            base_address_id: a.id,
            base_address_ref: a.reference.clone(),
            delivery_address: lines(a),
            entered: reg.canonical,
            score,
            explanation: MatchExplanation {
                street_similarity: score,
                street: FieldAgreement::Similar,
                house_number: FieldAgreement::Exact,
                postal_code: FieldAgreement::Exact,
                city: FieldAgreement::Exact,
                country: FieldAgreement::Exact,
                probability: None,
                weights: None,
            },
            matched_at: at,
            review: None,
        }),
    )
}

fn assigned(seq: u64, id: Uuid, a: &SynthAddress, at: DateTime<Utc>) -> Recorded<AnyEvent> {
    let canonical = match address_event(0, a.registered(AddressSource::Curation, at)).event {
        AnyEvent::BaseAddress(masthead_domain::base_address::BaseAddressEvent::BaseAddressRegistered(r)) => r.canonical,
        _ => unreachable!(),
    };
    subscription_event(
        seq,
        id,
        at,
        SubscriptionEvent::AddressAssigned(AddressAssigned {
            base_address_id: a.id,
            delivery_address: lines(a),
            entered: canonical,
            best_rejected_score: Some(41.0),
            assigned_at: at,
            review: None,
        }),
    )
}

fn sent(seq: u64, id: Uuid, at: DateTime<Utc>) -> Recorded<AnyEvent> {
    subscription_event(
        seq,
        id,
        at,
        SubscriptionEvent::ConfirmationSent(ConfirmationSent { message_id: format!("<{seq}@m>"), sent_at: at }),
    )
}

fn failed(seq: u64, id: Uuid, reason: &str, attempts: u32, at: DateTime<Utc>) -> Recorded<AnyEvent> {
    subscription_event(
        seq,
        id,
        at,
        SubscriptionEvent::ConfirmationFailed(ConfirmationFailed {
            reason: reason.into(),
            attempts,
            permanent: false,
            failed_at: at,
        }),
    )
}

fn registered(seq: u64, a: &SynthAddress, source: AddressSource) -> Recorded<AnyEvent> {
    address_event(seq, a.registered(source, t0()))
}

fn only_subscription_events(events: &[Recorded<AnyEvent>], id: Uuid) -> Vec<Recorded<SubscriptionEvent>> {
    events
        .iter()
        .filter_map(|r| match &r.event {
            AnyEvent::Subscription(e) if r.envelope.aggregate_id == id.to_string() => {
                Some(Recorded { envelope: r.envelope.clone(), stream_sequence: r.stream_sequence, event: e.clone() })
            }
            _ => None,
        })
        .collect()
}

pub async fn a_full_flow_fills_every_read_model(store: &dyn ProjectionStore) -> Result {
    let a = address(1);
    let s = sub_id(1);
    let events = vec![
        registered(1, &a, AddressSource::Import { file: "f.csv".into(), line: 3 }),
        requested(2, s, "kerkstr. 11", t0(), "NL"),
        matched(3, s, &a, 87.5, t0() + Duration::seconds(1)),
        sent(4, s, t0() + Duration::seconds(2)),
    ];
    let report = store.apply_batch(&events).await?;
    assert_eq!((report.applied, report.duplicates, report.checkpoint), (4, 0, 4));
    assert!(report.rejected.is_empty());
    assert_eq!(store.checkpoint().await?, 4);

    let v = store.subscription(s).await?.expect("subscription visible");
    assert_eq!(v.summary.status, SubscriptionStatus::Confirmed);
    assert_eq!(v.summary.entered.street, "kerkstr. 11");
    assert_eq!(v.summary.country, "NL");
    assert_eq!(v.summary.created_at, t0());
    assert_eq!(v.summary.base_address_id, Some(a.id));
    assert_eq!(v.summary.base_address_ref.as_deref(), Some("R-1"));
    assert_eq!(v.summary.delivery.as_ref().map(|d| d.street.clone()), Some(a.street_line()));
    let outcome = v.summary.outcome.clone().expect("outcome");
    assert_eq!((outcome.kind, outcome.score), (OutcomeKind::Matched, Some(87.5)));
    assert!(matches!(&v.summary.mail, Some(MailOutcome::Sent { message_id, .. }) if message_id == "<4@m>"));
    let timeline: Vec<_> = v.timeline.iter().map(|t| (t.event_type.as_str(), t.stream_sequence)).collect();
    assert_eq!(timeline, vec![("SubscriptionRequested", 2), ("AddressMatched", 3), ("ConfirmationSent", 4)]);
    assert_eq!(v.subscriber, Some(sealed(s)));
    assert_eq!(v.personal_data_erased_at, None);
    assert_eq!(v.summary.last_seq, 4);

    let av = store.address(a.id).await?.expect("address visible");
    assert_eq!(av.reference.as_deref(), Some("R-1"));
    assert_eq!(av.spellings, vec!["kerkstr. 11".to_string()]);
    assert_eq!(av.subscription_count, 1);
    assert_eq!(av.source, Origin::Import { file: "f.csv".into(), line: 3 });
    assert_eq!(av.created_at, t0());
    assert_eq!(av.last_seq, 3);

    let st = store.stats().await?;
    assert_eq!(st.registrations_per_day.get(&t0().date_naive()), Some(&1));
    assert_eq!((st.matched, st.new, st.mail_sent, st.mail_failed), (1, 0, 1, 0));
    assert_eq!(st.score_histogram.len(), 10);
    assert_eq!(st.score_histogram[8], 1);
    assert_eq!(st.score_histogram.iter().sum::<u64>(), 1);
    assert_eq!(st.last_applied_seq, 4);
    assert_eq!(st.last_applied_at, Some(t0() + Duration::seconds(2)));

    assert!(store.subscription(sub_id(99)).await?.is_none());
    assert!(store.address(Uuid::from_u128(1)).await?.is_none());
    Ok(())
}

fn erased(seq: u64, id: Uuid, at: DateTime<Utc>) -> Recorded<AnyEvent> {
    subscription_event(
        seq,
        id,
        at,
        SubscriptionEvent::PersonalDataErased(PersonalDataErased {
            key_id: sealed(id).key_id,
            reason: Some("ticket 7".into()),
            erased_at: at,
        }),
    )
}

pub async fn erasure_drops_the_sealed_blob_in_either_order(store: &dyn ProjectionStore) -> Result {
    let a = address(8);
    let (s1, s2) = (sub_id(8), sub_id(9));
    let gone = t0() + Duration::days(3);
    let in_order = vec![
        registered(1, &a, AddressSource::Curation),
        requested(2, s1, "Kerkstraat 18", t0(), "NL"),
        matched(3, s1, &a, 90.0, t0()),
        sent(4, s1, t0()),
        erased(5, s1, gone),
    ];
    store.apply_batch(&in_order).await?;
    // Replayed out of order: the erasure before the request it erases.
    store.apply_batch(&[erased(8, s2, gone), requested(6, s2, "Kerkstraat 19", t0(), "NL")]).await?;
    for s in [s1, s2] {
        let v = store.subscription(s).await?.expect("still visible");
        assert_eq!(v.subscriber, None, "{s}: no sealed personal data is kept");
        assert_eq!(v.personal_data_erased_at, Some(gone));
        assert_eq!(v.timeline.last().map(|t| t.event_type.as_str()), Some("PersonalDataErased"));
        let json = serde_json::to_string(&v)?;
        // (The fixture's key id is the subscription id, which the view shows.)
        assert!(!json.contains("ciphertext") && !json.contains(&sealed(s).ciphertext), "{json}");
    }
    let v = store.subscription(s1).await?.expect("visible");
    assert_eq!(v.summary.status, SubscriptionStatus::Confirmed, "everything else stays");
    assert_eq!(
        history_part(v),
        subscription_view_from_history(&only_subscription_events(&in_order, s1)).expect("folds")
    );
    let again = store.apply_batch(&in_order).await?;
    assert_eq!((again.applied, again.duplicates), (0, 5), "erasing twice changes nothing");
    Ok(())
}

pub async fn redelivered_events_change_nothing(store: &dyn ProjectionStore) -> Result {
    let a = address(2);
    let s = sub_id(2);
    let events = vec![
        registered(1, &a, AddressSource::Curation),
        requested(2, s, "Kerkstraat 12", t0(), "NL"),
        matched(3, s, &a, 95.0, t0()),
        failed(4, s, "mailbox full", 2, t0()),
        sent(5, s, t0()),
    ];
    store.apply_batch(&events[..3]).await?;
    // A crash between write and ack: the whole first batch comes again,
    // overlapping the next one.
    let again = store.apply_batch(&events[1..]).await?;
    assert_eq!((again.applied, again.duplicates), (2, 2));
    let before = (store.subscription(s).await?, store.address(a.id).await?, store.stats().await?);
    let third = store.apply_batch(&events).await?;
    assert_eq!((third.applied, third.duplicates, third.checkpoint), (0, 5, 5));
    let after = (store.subscription(s).await?, store.address(a.id).await?, store.stats().await?);
    assert_eq!(before, after);
    let st = after.2;
    assert_eq!((st.matched, st.mail_sent, st.mail_failed), (1, 1, 1));
    assert_eq!(st.registrations_per_day.values().sum::<u64>(), 1);
    assert_eq!(after.1.expect("address").subscription_count, 1);
    Ok(())
}

pub async fn a_match_replayed_before_its_request_is_kept(store: &dyn ProjectionStore) -> Result {
    let a = address(3);
    let s = sub_id(3);
    let all = vec![
        registered(10, &a, AddressSource::Curation),
        requested(11, s, "Kerk str 13", t0(), "NL"),
        matched(12, s, &a, 71.0, t0() + Duration::seconds(5)),
        sent(13, s, t0() + Duration::seconds(9)),
    ];
    // The request was dead-lettered, later events went through, then an
    // operator replayed the request.
    store.apply_batch(&[all[0].clone(), all[2].clone(), all[3].clone()]).await?;
    assert!(store.subscription(s).await?.is_none(), "a partial subscription is not shown");
    assert_eq!(store.subscriptions(&SubscriptionFilter::default(), PageRequest::first(10)).await?.items.len(), 0);
    let st = store.stats().await?;
    assert_eq!((st.matched, st.mail_sent, st.registrations_per_day.len()), (1, 1, 0));
    let av = store.address(a.id).await?.expect("address");
    assert_eq!((av.subscription_count, av.spellings.len()), (1, 0));
    assert_eq!(store.checkpoint().await?, 13);

    let report = store.apply_batch(&[all[1].clone()]).await?;
    assert_eq!((report.applied, report.duplicates, report.checkpoint), (1, 0, 13));
    let v = store.subscription(s).await?.expect("complete now");
    assert_eq!(v.summary.status, SubscriptionStatus::Confirmed);
    let seqs: Vec<u64> = v.timeline.iter().map(|t| t.stream_sequence).collect();
    assert_eq!(seqs, vec![11, 12, 13]);
    // Same result as applying the history in order.
    let expected = subscription_view_from_history(&only_subscription_events(&all, s)).expect("folds");
    assert_eq!(v.summary.base_address_status, Some(AddressState::Active));
    assert_eq!(history_part(v), expected);
    let av = store.address(a.id).await?.expect("address");
    assert_eq!((av.subscription_count, av.spellings.clone()), (1, vec!["Kerk str 13".to_string()]));
    assert_eq!(store.stats().await?.registrations_per_day.get(&t0().date_naive()), Some(&1));
    assert_eq!(
        store.subscriptions(&SubscriptionFilter::default(), PageRequest::first(10)).await?.items.len(),
        1,
        "listed once complete"
    );

    // Replaying everything again is harmless.
    let again = store.apply_batch(&all).await?;
    assert_eq!((again.applied, again.duplicates), (0, 4));
    assert_eq!(store.address(a.id).await?.expect("address").subscription_count, 1);
    Ok(())
}

pub async fn a_new_address_lends_its_ref_in_either_order(store: &dyn ProjectionStore) -> Result {
    let a = address(4);
    let b = address(5);
    let (s1, s2) = (sub_id(4), sub_id(5));
    // In stream order: registration, then assignment.
    store
        .apply_batch(&[
            requested(1, s1, "Kerkstraat 14", t0(), "NL"),
            registered(2, &a, AddressSource::Subscription { subscription_id: s1 }),
            assigned(3, s1, &a, t0()),
        ])
        .await?;
    // Replayed out of order: assignment, then registration.
    store
        .apply_batch(&[
            requested(4, s2, "Kerkstraat 15", t0(), "BE"),
            assigned(6, s2, &b, t0()),
            registered(5, &b, AddressSource::Subscription { subscription_id: s2 }),
        ])
        .await?;
    for (s, addr, r) in [(s1, &a, "R-4"), (s2, &b, "R-5")] {
        let v = store.subscription(s).await?.expect("subscription");
        assert_eq!(v.summary.base_address_ref.as_deref(), Some(r), "{s}");
        let o = v.summary.outcome.expect("outcome");
        assert_eq!((o.kind, o.score), (OutcomeKind::New, Some(41.0)));
        let av = store.address(addr.id).await?.expect("address");
        assert_eq!(av.source, Origin::Subscription { subscription_id: s });
        assert_eq!((av.subscription_count, av.spellings.len()), (1, 0));
    }
    let st = store.stats().await?;
    assert_eq!((st.matched, st.new), (0, 2));
    assert_eq!(st.score_histogram.iter().sum::<u64>(), 0, "only matches are in the histogram");
    Ok(())
}

pub async fn mail_outcomes_follow_stream_order(store: &dyn ProjectionStore) -> Result {
    let a = address(6);
    let (s1, s2) = (sub_id(6), sub_id(7));
    store
        .apply_batch(&[
            registered(1, &a, AddressSource::Curation),
            requested(2, s1, "Kerkstraat 16", t0(), "NL"),
            matched(3, s1, &a, 100.0, t0()),
            requested(4, s2, "Kerkstraat 16", t0(), "NL"),
            matched(5, s2, &a, 9.0, t0()),
            // s1: a later failure arrives before an earlier one.
            failed(8, s1, "second", 5, t0() + Duration::minutes(8)),
            failed(6, s1, "first", 1, t0() + Duration::minutes(6)),
            failed(7, s2, "greylisted", 1, t0()),
            sent(9, s2, t0() + Duration::minutes(9)),
        ])
        .await?;
    let v1 = store.subscription(s1).await?.expect("s1");
    assert_eq!(v1.summary.status, SubscriptionStatus::Failed);
    assert!(
        matches!(&v1.summary.mail, Some(MailOutcome::Failed { reason, attempts: 5, .. }) if reason == "second"),
        "{:?}",
        v1.summary.mail
    );
    let v2 = store.subscription(s2).await?.expect("s2");
    assert_eq!(v2.summary.status, SubscriptionStatus::Confirmed);
    assert!(matches!(v2.summary.mail, Some(MailOutcome::Sent { .. })));
    let st = store.stats().await?;
    assert_eq!((st.mail_sent, st.mail_failed), (1, 3));
    assert_eq!((st.score_histogram[9], st.score_histogram[0]), (1, 1), "100 and 9 land in the end buckets");
    assert_eq!(store.address(a.id).await?.expect("a").spellings, vec!["Kerkstraat 16".to_string()]);
    Ok(())
}

pub async fn unusable_events_are_reported_and_the_rest_applied(store: &dyn ProjectionStore) -> Result {
    let s = sub_id(8);
    let mut bad = sent(2, s, t0());
    bad.envelope.aggregate_id = "not-a-uuid".into();
    let report = store.apply_batch(&[requested(1, s, "Kerkstraat 1", t0(), "NL"), bad]).await?;
    assert_eq!(report.applied, 1);
    assert_eq!(report.rejected.iter().map(|r| r.stream_sequence).collect::<Vec<_>>(), vec![2]);
    assert_eq!(report.checkpoint, 2);
    assert!(store.subscription(s).await?.is_some());
    // An older event replayed later never moves the checkpoint back.
    store.apply_batch(&[sent(3, s, t0())]).await?;
    store.apply_batch(&[failed(1, sub_id(9), "x", 1, t0())]).await?;
    assert_eq!(store.checkpoint().await?, 3);
    assert_eq!(store.stats().await?.last_applied_seq, 3);
    Ok(())
}

/// A realistic stream over several days and countries, applied in batches.
async fn load_synthetic(store: &dyn ProjectionStore, subscriptions: usize) -> anyhow::Result<Vec<Recorded<AnyEvent>>> {
    let cfg = synth::SynthConfig { addresses: 60, subscriptions, concurrency: 8, seed: 11 };
    let events = synth::generate(&cfg);
    for chunk in events.chunks(37) {
        store.apply_batch(chunk).await?;
    }
    Ok(events)
}

/// What a subscription's own history gives of a stored view: all but its
/// address's status, which lives on the address.
fn history_part(mut v: SubscriptionView) -> SubscriptionView {
    v.summary.base_address_status = None;
    v
}

fn expected_views(events: &[Recorded<AnyEvent>]) -> Vec<SubscriptionView> {
    let mut by_sub: HashMap<String, Vec<Recorded<SubscriptionEvent>>> = HashMap::new();
    for r in events {
        if let AnyEvent::Subscription(e) = &r.event {
            by_sub.entry(r.envelope.aggregate_id.clone()).or_default().push(Recorded {
                envelope: r.envelope.clone(),
                stream_sequence: r.stream_sequence,
                event: e.clone(),
            });
        }
    }
    by_sub.values().filter_map(|h| subscription_view_from_history(h)).collect()
}

async fn all_pages(
    store: &dyn ProjectionStore,
    filter: &SubscriptionFilter,
    limit: usize,
) -> anyhow::Result<Vec<SubscriptionSummary>> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(limit);
    for _ in 0..10_000 {
        let p = store.subscriptions(filter, page.clone()).await?;
        assert!(p.items.len() <= limit);
        out.extend(p.items);
        match p.next_cursor {
            Some(c) => page = PageRequest::after(limit, c),
            None => return Ok(out),
        }
    }
    anyhow::bail!("paging did not end")
}

pub async fn subscriptions_list_filters_and_pages(store: &dyn ProjectionStore) -> Result {
    let events = load_synthetic(store, 150).await?;
    let mut expected = expected_views(&events);
    expected.sort_by(|a, b| b.summary.created_at.cmp(&a.summary.created_at).then(a.summary.id.cmp(&b.summary.id)));
    assert_eq!(expected.len(), 150);
    let mid = expected[75].summary.created_at;
    let late = expected[20].summary.created_at;
    let filters = [
        SubscriptionFilter::default(),
        SubscriptionFilter { status: Some(SubscriptionStatus::Confirmed), ..Default::default() },
        SubscriptionFilter { status: Some(SubscriptionStatus::Failed), ..Default::default() },
        SubscriptionFilter { country: Some("de".into()), ..Default::default() },
        SubscriptionFilter { created_after: Some(mid), ..Default::default() },
        SubscriptionFilter { created_after: Some(mid), created_before: Some(late), ..Default::default() },
        SubscriptionFilter {
            status: Some(SubscriptionStatus::Confirmed),
            country: Some("NL".into()),
            created_before: Some(late),
            ..Default::default()
        },
        SubscriptionFilter { country: Some("BE".into()), created_after: Some(mid), ..Default::default() },
    ];
    let mut seen_nonempty = 0;
    for f in &filters {
        let want: Vec<Uuid> = expected
            .iter()
            .map(|v| &v.summary)
            .filter(|s| f.status.is_none_or(|x| s.status == x))
            .filter(|s| f.country.as_ref().is_none_or(|c| s.country.eq_ignore_ascii_case(c)))
            .filter(|s| f.created_after.is_none_or(|t| s.created_at >= t))
            .filter(|s| f.created_before.is_none_or(|t| s.created_at < t))
            .map(|s| s.id)
            .collect();
        let got: Vec<Uuid> = all_pages(store, f, 7).await?.into_iter().map(|s| s.id).collect();
        assert_eq!(got, want, "filter {f:?}");
        seen_nonempty += usize::from(!want.is_empty());
    }
    assert!(seen_nonempty >= 6, "the data exercises the filters");

    // List items equal the single views, minus history and personal data.
    let first = store.subscriptions(&SubscriptionFilter::default(), PageRequest::first(3)).await?;
    assert_eq!(first.items.len(), 3);
    for item in &first.items {
        let view = store.subscription(item.id).await?.expect("view");
        let mut expected_summary = view.summary.clone();
        // A newly assigned address's ref is known to the store, not the fold.
        expected_summary.base_address_ref = item.base_address_ref.clone();
        assert_eq!(item, &expected_summary);
        let json = serde_json::to_string(item)?;
        assert!(!json.contains("subscriber") && !json.contains("ciphertext"), "{json}");
    }
    let default_page = store.subscriptions(&SubscriptionFilter::default(), PageRequest::first(0)).await?;
    assert_eq!(default_page.items.len(), 20);
    let err = store.subscriptions(&SubscriptionFilter::default(), PageRequest::after(5, "bogus")).await;
    assert!(matches!(err, Err(StoreError::InvalidCursor)), "{err:?}");
    Ok(())
}

/// Which addresses a filter should keep, judged on the view.
type Keep = Box<dyn Fn(&AddressView) -> bool>;

async fn all_address_pages(
    store: &dyn ProjectionStore,
    filter: &AddressFilter,
    limit: usize,
) -> anyhow::Result<Vec<AddressView>> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(limit);
    for _ in 0..10_000 {
        let p = store.addresses(filter, page.clone()).await?;
        out.extend(p.items);
        match p.next_cursor {
            Some(c) => page = PageRequest::after(limit, c),
            None => return Ok(out),
        }
    }
    anyhow::bail!("paging did not end")
}

pub async fn addresses_list_filters_and_pages(store: &dyn ProjectionStore) -> Result {
    let events = load_synthetic(store, 60).await?;
    let registrations = events.iter().filter(|r| matches!(r.event, AnyEvent::BaseAddress(_))).count();
    let all = all_address_pages(store, &AddressFilter::default(), 9).await?;
    assert_eq!(all.len(), registrations);
    let ids: Vec<Uuid> = all.iter().map(|a| a.id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "unfiltered lists go by id");
    assert!(all.iter().any(|a| a.subscription_count > 0 && !a.spellings.is_empty()));

    let probe = all.iter().find(|a| a.reference.is_some()).expect("an address with a ref").clone();
    let postal = probe.lines.postal_code.clone().expect("postal code");
    let city = probe.lines.city.clone().expect("city");
    let word = probe.lines.street.split(' ').next().expect("street word").to_lowercase();
    let q = word[..4].to_string();
    let cases: Vec<(AddressFilter, Keep)> = vec![
        (
            AddressFilter { postal_code: Some(postal.to_lowercase().replace(' ', "")), ..Default::default() },
            Box::new({
                let p = postal.replace(' ', "");
                move |a: &AddressView| a.lines.postal_code.as_deref().map(|x| x.replace(' ', "")) == Some(p.clone())
            }),
        ),
        (
            AddressFilter { city: Some(city.to_uppercase()), ..Default::default() },
            Box::new({
                let c = city.clone();
                move |a: &AddressView| a.lines.city.as_deref() == Some(c.as_str())
            }),
        ),
        (
            AddressFilter { country: Some("nl".into()), ..Default::default() },
            Box::new(|a: &AddressView| a.lines.country.as_deref() == Some("NL")),
        ),
        (
            AddressFilter { reference: probe.reference.clone(), ..Default::default() },
            Box::new({
                let r = probe.reference.clone();
                move |a: &AddressView| a.reference == r
            }),
        ),
        (
            AddressFilter { q: Some(q.clone()), ..Default::default() },
            Box::new({
                let q = q.clone();
                move |a: &AddressView| a.lines.street.to_lowercase().starts_with(&q)
            }),
        ),
        (
            AddressFilter { q: Some(format!("{q} ")), country: Some("NL".into()), ..Default::default() },
            Box::new({
                let q = q.clone();
                move |a: &AddressView| {
                    a.lines.street.to_lowercase().starts_with(&q) && a.lines.country.as_deref() == Some("NL")
                }
            }),
        ),
    ];
    for (filter, keep) in &cases {
        let want: BTreeSet<Uuid> = all.iter().filter(|a| keep(a)).map(|a| a.id).collect();
        assert!(!want.is_empty(), "{filter:?} should match something");
        let got = all_address_pages(store, filter, 2).await?;
        let got_ids: Vec<Uuid> = got.iter().map(|a| a.id).collect();
        let got_set: BTreeSet<Uuid> = got_ids.iter().copied().collect();
        assert_eq!(got_set.len(), got_ids.len(), "no duplicates across pages for {filter:?}");
        assert_eq!(got_set, want, "{filter:?}");
        if filter.q.is_none() {
            let mut sorted = got_ids.clone();
            sorted.sort();
            assert_eq!(got_ids, sorted, "exact filters list by id: {filter:?}");
        }
    }
    // An address found under several words of the same prefix is listed once.
    let mut twice = address(40);
    twice.street_name = "Xylofoonweg Xylofoonhof".into();
    let seq = events.len() as u64 + 1;
    store.apply_batch(&[registered(seq, &twice, AddressSource::Curation)]).await?;
    for q in ["xylo", "xylofoonh", "Xylofoonw xylofoonh"] {
        let got = all_address_pages(store, &AddressFilter { q: Some(q.into()), ..Default::default() }, 1).await?;
        assert_eq!(got.iter().map(|a| a.id).collect::<Vec<_>>(), vec![twice.id], "q={q}");
    }

    let none = store
        .addresses(&AddressFilter { q: Some("zzzzqx".into()), ..Default::default() }, PageRequest::first(5))
        .await?;
    assert!(none.items.is_empty() && none.next_cursor.is_none());
    let err =
        store.addresses(&AddressFilter { q: Some(" 12 ".into()), ..Default::default() }, PageRequest::first(5)).await;
    assert!(matches!(err, Err(StoreError::InvalidFilter(_))), "{err:?}");
    let err = store.addresses(&AddressFilter::default(), PageRequest::after(5, "AAAA")).await;
    assert!(matches!(err, Err(StoreError::InvalidCursor)), "{err:?}");
    Ok(())
}

/// `projections verify`'s comparison: `store` plays the live read models,
/// a fresh embedded store the scratch generation replayed from the
/// history. Identical histories give no difference; a tampered live
/// document, an extra and a missing one are each named, with the fields.
pub async fn verify_names_every_difference(store: &dyn ProjectionStore) -> Result {
    use masthead_projections::verify::{compare, Change};
    let dir = tempfile::tempdir()?;
    let scratch = RedbStore::open(&dir.path().join("scratch.redb"))?;
    let a = address(11);
    let (s1, s2) = (sub_id(11), sub_id(12));
    let history = vec![
        registered(1, &a, AddressSource::Curation),
        requested(2, s1, "Kerkstraat 18", t0(), "NL"),
        matched(3, s1, &a, 90.0, t0()),
        requested(4, s2, "Kerkstraat 19", t0(), "NL"),
    ];
    store.apply_batch(&history).await?;
    scratch.apply_batch(&history).await?;
    assert_eq!(compare(store, &scratch).await?, vec![], "an untouched projection matches its history");

    // Tampering: a confirmation the history never had, a subscription it
    // never had; and an address the live side lost.
    store.apply_batch(&[sent(5, s1, t0()), requested(6, sub_id(13), "Kerkstraat 20", t0(), "NL")]).await?;
    let b = address(12);
    scratch.apply_batch(&[registered(5, &b, AddressSource::Curation)]).await?;
    let diffs = compare(store, &scratch).await?;
    let of = |id: String| diffs.iter().find(|d| d.id == id).map(|d| d.change.clone());
    match of(s1.to_string()) {
        Some(Change::Changed { fields }) => {
            assert!(fields.iter().any(|f| f.starts_with("mail")), "{fields:?}");
            assert!(fields.iter().any(|f| f == "timeline"), "{fields:?}");
        }
        other => panic!("s1 must be changed: {other:?} in {diffs:?}"),
    }
    assert_eq!(of(sub_id(13).to_string()), Some(Change::Extra), "{diffs:?}");
    assert_eq!(of(b.id.to_string()), Some(Change::Missing), "{diffs:?}");
    assert!(matches!(of("stats".into()), Some(Change::Changed { .. })), "{diffs:?}");
    assert_eq!(of(s2.to_string()), None, "an untouched document is not reported: {diffs:?}");
    Ok(())
}
