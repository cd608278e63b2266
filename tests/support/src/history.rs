//! Hand-made histories for the read models: base addresses as the import
//! registers them and subscriptions with a chosen fate, as recorded events
//! to publish into a stream with [`crate::stream::publish_recorded`] (or
//! [`crate::app::TestApp::publish`]). Nothing here runs a matcher or a
//! mailer: the events are exactly the ones a test asks for.

use chrono::{DateTime, Duration, TimeZone, Utc};
use masthead_domain::base_address::{id_for_key, AddressSource, BaseAddressRegistered};
use masthead_domain::envelope::{AnyEvent, Recorded};
use masthead_domain::subscription::{
    AddressAssigned, AddressMatched, Channel, ConfirmationFailed, ConfirmationSent, SubscriptionEvent,
    SubscriptionRequested,
};
use masthead_domain::{AddressLines, Country, FieldAgreement, MatchExplanation, PostalAddress};
use masthead_matching::matcher::convert::{canonical_address, canonical_of};
use masthead_testdata::events as synth;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use uuid::Uuid;

/// A placeholder sequence for a recorded event's envelope (its event id is
/// derived from it, so each is distinct). The stream gives the real one
/// when the event is published.
fn placeholder_sequence() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).single().expect("valid time")
}

/// A base address as the import would register it, canonical form and id
/// computed as the matcher does.
pub fn base_address(
    street: &str,
    postal_code: &str,
    city: &str,
    country: &str,
    reference: Option<&str>,
) -> BaseAddressRegistered {
    let lines = AddressLines {
        street: street.to_owned(),
        postal_code: Some(postal_code.to_owned()),
        city: Some(city.to_owned()),
        country: Some(Country::parse(country).expect("country")),
    };
    let canonical = canonical_address(&canonical_of(&lines));
    BaseAddressRegistered {
        base_address_id: id_for_key(&canonical.key),
        reference: reference.map(str::to_owned),
        address: lines,
        canonical,
        source: AddressSource::Import { file: "test.csv".into(), line: 1 },
        flags: vec![],
        registered_at: utc(2025, 1, 1, 8),
    }
}

/// The recorded registration of a base address.
pub fn address_event(address: &BaseAddressRegistered) -> Recorded<AnyEvent> {
    synth::address_event(placeholder_sequence(), address.clone())
}

/// `n` random but realistic base addresses, distinct, the same for every call.
pub fn synth_addresses(n: usize) -> Vec<BaseAddressRegistered> {
    let mut rng = synth::Rng::new(11);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < n {
        let a = synth::random_address(&mut rng, i);
        i += 1;
        if seen.insert(a.id) {
            out.push(
                a.registered(AddressSource::Import { file: "synth.csv".into(), line: i as u64 }, utc(2025, 1, 1, 8)),
            );
        }
    }
    out
}

/// Where a hand-made subscription ends up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fate {
    Pending,
    Matched(f64),
    New,
    Confirmed(f64),
    Failed,
}

impl Fate {
    /// The status the API shows for it.
    pub fn status(self) -> &'static str {
        match self {
            Fate::Pending => "pending",
            Fate::Matched(_) | Fate::New => "matched",
            Fate::Confirmed(_) => "confirmed",
            Fate::Failed => "failed",
        }
    }
}

/// The events of one subscription, requested at `at` and decided a second
/// later as `fate` says.
pub fn subscription_events(
    id: Uuid,
    at: DateTime<Utc>,
    country: &str,
    street: &str,
    fate: Fate,
) -> Vec<Recorded<AnyEvent>> {
    let country = Country::parse(country).expect("country");
    let address = PostalAddress {
        street: street.to_owned(),
        postal_code: "3511 LX".to_owned(),
        city: "Utrecht".to_owned(),
        country: country.clone(),
    };
    let next = |at: DateTime<Utc>, e: SubscriptionEvent| synth::subscription_event(placeholder_sequence(), id, at, e);
    let mut out = vec![next(
        at,
        SubscriptionEvent::SubscriptionRequested(SubscriptionRequested {
            subscription_id: id,
            subscriber: synth::sealed(id),
            address: address.clone(),
            country_as_typed: country.code().to_owned(),
            channel: Channel::Api,
            requested_at: at,
        }),
    )];
    let base = base_address(street, "3511 LX", "Utrecht", country.code(), None);
    let later = at + Duration::seconds(1);
    let matched = |score: f64| {
        SubscriptionEvent::AddressMatched(AddressMatched {
            base_address_id: base.base_address_id,
            base_address_ref: None,
            delivery_address: base.address.clone(),
            entered: base.canonical.clone(),
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
            matched_at: later,
            review: None,
        })
    };
    match fate {
        Fate::Pending => {}
        Fate::Matched(score) => out.push(next(later, matched(score))),
        Fate::Confirmed(score) => {
            out.push(next(later, matched(score)));
            out.push(next(
                later,
                SubscriptionEvent::ConfirmationSent(ConfirmationSent {
                    message_id: format!("<{id}@test>"),
                    sent_at: later,
                }),
            ));
        }
        Fate::New | Fate::Failed => {
            out.push(next(
                later,
                SubscriptionEvent::AddressAssigned(AddressAssigned {
                    base_address_id: base.base_address_id,
                    delivery_address: base.address.clone(),
                    entered: base.canonical.clone(),
                    best_rejected_score: None,
                    assigned_at: later,
                    review: None,
                }),
            ));
            if fate == Fate::Failed {
                out.push(next(
                    later,
                    SubscriptionEvent::ConfirmationFailed(ConfirmationFailed {
                        reason: "550 no such user".into(),
                        attempts: 1,
                        permanent: true,
                        failed_at: later,
                    }),
                ));
            }
        }
    }
    out
}

/// One hand-made subscription and what the lists should say about it.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub country: &'static str,
    pub fate: Fate,
}

/// `n` subscriptions five hours apart from 2025-03-01 (several a day, over
/// several days), cycling through countries and fates: their events, and
/// the subscriptions in the order they were created.
pub fn subscriptions(n: usize) -> (Vec<Recorded<AnyEvent>>, Vec<Seeded>) {
    const COUNTRIES: [&str; 3] = ["NL", "DE", "BE"];
    let fates =
        [Fate::Pending, Fate::Matched(92.5), Fate::New, Fate::Confirmed(81.0), Fate::Failed, Fate::Confirmed(99.0)];
    let mut events = Vec::new();
    let mut seeded = Vec::new();
    for i in 0..n {
        let id = Uuid::from_u128(0xabcd_0000_0000_4000_8000_0000_0000_0000 + i as u128);
        let at = utc(2025, 3, 1, 0) + Duration::hours(5 * i as i64);
        let country = COUNTRIES[i % COUNTRIES.len()];
        let fate = fates[i % fates.len()];
        events.extend(subscription_events(id, at, country, &format!("Kerkstraat {}", i + 1), fate));
        seeded.push(Seeded { id, at, country, fate });
    }
    (events, seeded)
}

/// A dedupe scan's review item for the pair `a`, `b` (as
/// `masthead addresses dedupe` opens it): `a` compared with `b`.
pub fn duplicate_pair(a: Uuid, b: Uuid, probability: f64) -> masthead_domain::review::ReviewOpened {
    use masthead_domain::review::{id_for_pair, ReviewKind, ReviewOpened};
    let explanation = MatchExplanation {
        street_similarity: 90.0,
        street: FieldAgreement::Similar,
        house_number: FieldAgreement::Exact,
        postal_code: FieldAgreement::Exact,
        city: FieldAgreement::Exact,
        country: FieldAgreement::Exact,
        probability: Some(probability),
        weights: None,
    };
    ReviewOpened {
        review_id: id_for_pair(a, b),
        kind: ReviewKind::Duplicate,
        reason: None,
        address_id: a,
        subscription_id: None,
        candidates: vec![masthead_domain::ReviewCandidate { base_address_id: b, probability, explanation, veto: None }],
        opened_at: Utc::now(),
    }
}
