//! A running API with a real nats-server, an embedded projection store fed
//! directly (no projector process) and a base-address book, plus builders
//! for realistic events.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use masthead::api::{self, AppState};
use masthead::config::Config;
use masthead::connect::connect;
use masthead::matcher::address_book::{canonical_of, AddressBook};
use masthead::matcher::handler::canonical_address;
use masthead::projector::generation::ProjectionReads;
use masthead::roles::{app_state, serve};
use masthead_events::base_address::{id_for_key, AddressSource, BaseAddressRegistered};
use masthead_events::envelope::{AnyEvent, Recorded};
use masthead_events::subscription::{
    AddressAssigned, AddressMatched, Channel, ConfirmationFailed, ConfirmationSent, SubscriptionEvent,
    SubscriptionRequested,
};
use masthead_events::{AddressLines, Country, FieldAgreement, MatchExplanation, PostalAddress};
use masthead_matching::MatchConfig;
use masthead_projections::synth;
use masthead_projections::{ProjectionStore, StoreConfig};
use masthead_test_support::NatsServer;
use serde_json::Value;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub struct ReadApp {
    pub address: String,
    pub nats: NatsServer,
    pub state: AppState,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    /// The projection store behind `state.reads`, to feed events into.
    pub projections: Arc<dyn ProjectionStore>,
    pub book: Arc<AddressBook>,
    _dir: tempfile::TempDir,
}

impl Drop for ReadApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn test_config(nats_url: &str, data_dir: &std::path::Path) -> Config {
    Config::for_nats(nats_url, data_dir, "READTEST")
}

/// The full read API: projections and the match book present.
pub async fn spawn_read_app() -> ReadApp {
    spawn(true).await
}

/// An API process without read models or match index.
pub async fn spawn_app_without_reads() -> ReadApp {
    spawn(false).await
}

async fn spawn(with_reads: bool) -> ReadApp {
    let nats = NatsServer::start().expect("nats-server");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(&nats.url(), dir.path());
    let conn = connect(&config, &nats.url()).await.expect("connect");
    let mut state = app_state(&conn).await.expect("state");
    let projections =
        masthead_projections::open(&StoreConfig::Embedded { path: dir.path().join("projections").join("g0.redb") })
            .await
            .expect("projection store");
    let book = Arc::new(AddressBook::new(MatchConfig::default()));
    if with_reads {
        state.reads = Some(Arc::new(ProjectionReads::new(projections.clone(), "g0")));
        state.book = Some(book.clone());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(listener, api::router(state.clone()), shutdown.clone()));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    ReadApp { address, nats, state, http, shutdown, projections, book, _dir: dir }
}

impl ReadApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{}", self.address, path)).send().await.expect("request")
    }

    /// GET, asserting the status, returning the JSON body.
    pub async fn get_json(&self, path: &str, status: u16) -> Value {
        let response = self.get(path).await;
        let got = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(got, status, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path} answered non-JSON ({e}): {text}"))
    }

    /// GET that must fail with 400 naming `param`.
    pub async fn assert_bad_parameter(&self, path: &str, param: &str) {
        let body = self.get_json(path, 400).await;
        assert_eq!(body["error"]["code"], "invalid_parameter", "GET {path}: {body}");
        assert_eq!(body["errors"][0]["field"], param, "GET {path}: {body}");
    }

    pub async fn apply(&self, events: &[Recorded<AnyEvent>]) {
        let report = self.projections.apply_batch(events).await.expect("apply");
        assert!(report.rejected.is_empty(), "rejected: {:?}", report.rejected);
    }

    /// Registers base addresses in the projection and in the match book.
    pub async fn add_addresses(&self, addresses: &[BaseAddressRegistered], first_seq: u64) {
        let events: Vec<_> =
            addresses.iter().enumerate().map(|(i, a)| synth::address_event(first_seq + i as u64, a.clone())).collect();
        for (i, a) in addresses.iter().enumerate() {
            self.book.add(a, first_seq + i as u64);
        }
        self.apply(&events).await;
    }

    /// Applies everything in the event stream to the projection, as the
    /// projector would.
    pub async fn project_stream(&self) {
        let last = self.state.store.last_sequence().await.expect("last sequence");
        let mut events = Vec::new();
        for seq in 1..=last {
            events.push(self.state.store.get(seq).await.expect("event"));
        }
        self.apply(&events).await;
    }

    /// Walks a list endpoint page by page, returning every item.
    pub async fn walk(&self, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let url = match &cursor {
                None => format!("{path}{sep}limit={limit}"),
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            };
            let page = self.get_json(&url, 200).await;
            let got = page["items"].as_array().expect("items");
            assert!(got.len() <= limit, "page larger than limit: {}", got.len());
            items.extend(got.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
        panic!("cursor walk of {path} did not end");
    }
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

/// Where a generated subscription ends up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fate {
    Pending,
    Matched(f64),
    New,
    Confirmed(f64),
    Failed,
}

impl Fate {
    pub fn status(self) -> &'static str {
        match self {
            Fate::Pending => "pending",
            Fate::Matched(_) | Fate::New => "matched",
            Fate::Confirmed(_) => "confirmed",
            Fate::Failed => "failed",
        }
    }
}

/// The events of one subscription, starting at `*seq`.
pub fn subscription_events(
    seq: &mut u64,
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
    let mut next = |at: DateTime<Utc>, e: SubscriptionEvent| {
        *seq += 1;
        synth::subscription_event(*seq, id, at, e)
    };
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
            },
            matched_at: later,
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

/// One seeded subscription and what the list should say about it.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub country: &'static str,
    pub fate: Fate,
}

/// `n` subscriptions spread over days from 2025-03-01, cycling through
/// countries and fates, applied to the projection. Returns them in the
/// order they were created.
pub async fn seed_subscriptions(app: &ReadApp, n: usize, first_seq: u64) -> Vec<Seeded> {
    const COUNTRIES: [&str; 3] = ["NL", "DE", "BE"];
    let fates =
        [Fate::Pending, Fate::Matched(92.5), Fate::New, Fate::Confirmed(81.0), Fate::Failed, Fate::Confirmed(99.0)];
    let mut seq = first_seq - 1;
    let mut events = Vec::new();
    let mut seeded = Vec::new();
    for i in 0..n {
        let id = Uuid::from_u128(0xabcd_0000_0000_4000_8000_0000_0000_0000 + i as u128);
        // Five hours apart: several per day, several days.
        let at = utc(2025, 3, 1, 0) + Duration::hours(5 * i as i64);
        let country = COUNTRIES[i % COUNTRIES.len()];
        let fate = fates[i % fates.len()];
        events.extend(subscription_events(&mut seq, id, at, country, &format!("Kerkstraat {}", i + 1), fate));
        seeded.push(Seeded { id, at, country, fate });
    }
    app.apply(&events).await;
    seeded
}

pub fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["id"].as_str().expect("id").to_owned()).collect()
}
