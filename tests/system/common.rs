//! What the system suites share: requests as a client makes them, and a
//! direct look at the event store for invariants the API cannot show.

use masthead_domain::subscription::SubscriptionEvent;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use masthead_test_support::fixtures::messages_per_subject;
use masthead_test_support::{wait_until, System};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// The binary under test.
pub const MASTHEAD: &str = env!("CARGO_BIN_EXE_masthead");

pub fn body(name: &str, street: &str, postal_code: &str, city: &str, country: &str) -> Value {
    let local = name.to_ascii_lowercase().replace(' ', ".");
    json!({
        "name": name,
        "email": format!("{local}@example.org"),
        "street": street,
        "postal_code": postal_code,
        "city": city,
        "country": country,
    })
}

/// POSTs a subscription; returns the status and, on 202, the id.
pub async fn subscribe(http: &reqwest::Client, base: &str, body: &Value) -> (u16, Option<Uuid>) {
    match http.post(format!("{base}/api/v1/subscriptions")).json(body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let id = if status == 202 {
                r.json::<Value>().await.ok().and_then(|v| v["id"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
            } else {
                None
            };
            (status, id)
        }
        Err(_) => (0, None),
    }
}

pub async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    http.get(url).send().await.ok()?.json::<Value>().await.ok()
}

/// Waits until the API reports `status` for a subscription.
pub async fn wait_status(http: &reqwest::Client, base: &str, id: Uuid, status: &str) -> Value {
    let url = format!("{base}/api/v1/subscriptions/{id}");
    let reached = wait_until(&format!("subscription {id} {status}"), Duration::from_secs(60), || async {
        get_json(http, &url).await.filter(|v| v["status"] == status)
    })
    .await;
    match reached {
        Ok(v) => v,
        Err(e) => panic!("{e}; last seen: {}", get_json(http, &url).await.unwrap_or_default()),
    }
}

/// Reads the event store directly, to check invariants the API cannot show.
pub struct Inspector {
    pub js: async_nats::jetstream::Context,
    pub topology: Topology,
    pub store: EventStore,
}

impl Inspector {
    pub async fn connect(system: &System) -> Self {
        let client = system.client().await.expect("connect");
        let js = async_nats::jetstream::new(client);
        let topology = Topology::new(&system.stream);
        let store = EventStore::new(js.clone(), topology.clone());
        Self { js, topology, store }
    }

    pub async fn history(&self, id: Uuid) -> Vec<SubscriptionEvent> {
        self.store
            .load::<SubscriptionEvent>(&id.to_string())
            .await
            .map(|h| h.events.into_iter().map(|r| r.event).collect())
            .unwrap_or_default()
    }

    /// Messages per base-address subject.
    pub async fn base_addresses(&self) -> HashMap<String, usize> {
        messages_per_subject(&self.js, &self.topology, "address").await.expect("subjects")
    }

    /// (pending, ack_pending) of a durable consumer.
    pub async fn lag(&self, consumer: &str) -> Option<(u64, usize)> {
        let stream = self.js.get_stream_no_info(&self.topology.stream).await.ok()?;
        let info = stream.consumer_info(consumer).await.ok()?;
        Some((info.num_pending, info.num_ack_pending))
    }

    /// Waits until the consumers have nothing pending or in flight.
    pub async fn wait_drained(&self, consumers: &[&str], timeout: Duration) {
        let drained = wait_until("consumers drained", timeout, || async {
            for c in consumers {
                if self.lag(c).await != Some((0, 0)) {
                    return None;
                }
            }
            Some(())
        })
        .await;
        if let Err(e) = drained {
            let mut lags = Vec::new();
            for c in consumers {
                lags.push((c.to_string(), self.lag(c).await));
            }
            panic!("{e}: (pending, ack pending) per consumer: {lags:?}");
        }
    }
}

fn is_outcome(e: &SubscriptionEvent) -> bool {
    matches!(e, SubscriptionEvent::AddressMatched(_) | SubscriptionEvent::AddressAssigned(_))
}

pub fn outcome_count(h: &[SubscriptionEvent]) -> usize {
    h.iter().filter(|e| is_outcome(e)).count()
}

pub fn sent_count(h: &[SubscriptionEvent]) -> usize {
    h.iter().filter(|e| matches!(e, SubscriptionEvent::ConfirmationSent(_))).count()
}

/// The base address a history resolved to, if it did.
pub fn resolved_base(h: &[SubscriptionEvent]) -> Option<Uuid> {
    h.iter().find(|e| is_outcome(e)).map(masthead_test_support::fixtures::base_of)
}

/// The base address a history delivers to now: its resolution, followed
/// by any delivery changes.
pub fn current_base(h: &[SubscriptionEvent]) -> Option<Uuid> {
    h.iter().fold(resolved_base(h), |at, e| match e {
        SubscriptionEvent::DeliveryAddressChanged(c) => Some(c.base_address_id),
        _ => at,
    })
}

/// `DeliveryAddressChanged` and `CorrectionSent` in a history.
pub fn changes_and_corrections(h: &[SubscriptionEvent]) -> (usize, usize) {
    let changes = h.iter().filter(|e| matches!(e, SubscriptionEvent::DeliveryAddressChanged(_))).count();
    let sent = h.iter().filter(|e| matches!(e, SubscriptionEvent::CorrectionSent(_))).count();
    (changes, sent)
}

/// The Message-ID header of a raw mail.
pub fn message_id(raw: &[u8]) -> String {
    masthead_test_support::mime::Mail::parse(raw).header("message-id").unwrap_or_default().to_owned()
}

/// A client sending a `viewer` token from the real `masthead token issue`.
pub fn viewer_client(system: &System) -> reqwest::Client {
    role_client(system, "viewer")
}

/// A client sending a token for `role` from the real `masthead token issue`.
pub fn role_client(system: &System, role: &str) -> reqwest::Client {
    let token = system.token(role).expect("masthead token issue");
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder().default_headers(headers).build().expect("client")
}
