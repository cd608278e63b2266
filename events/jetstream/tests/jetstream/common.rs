#![allow(dead_code)]

use masthead_domain::address::PostalAddress;
use masthead_domain::country::Country;
use masthead_domain::personal_data::SealedPersonalData;
use masthead_jetstream::store::EventStore;
use masthead_domain::subscription::{Channel, RegisterSubscription};
use masthead_jetstream::topology::{setup, Topology};
use masthead_test_support::NatsServer;
use uuid::Uuid;

pub struct Env {
    pub server: NatsServer,
    pub client: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    pub topology: Topology,
    pub store: EventStore,
}

pub async fn env() -> Env {
    let server = NatsServer::start().expect("nats-server starts");
    let client = server.client().await.expect("connects");
    let js = async_nats::jetstream::new(client.clone());
    let topology = Topology::new("TEST");
    setup(&js, &topology).await.expect("setup");
    let store = EventStore::new(js.clone(), topology.clone());
    Env { server, client, js, topology, store }
}

pub fn register(id: Uuid, subscriber: SealedPersonalData) -> RegisterSubscription {
    RegisterSubscription {
        subscription_id: id,
        subscriber,
        address: PostalAddress {
            street: "Kerkstraat 12".into(),
            postal_code: "3511 LX".into(),
            city: "Utrecht".into(),
            country: Country::parse("NL").expect("NL"),
        },
        country_as_typed: "Nederland".into(),
        channel: Channel::Api,
        requested_at: chrono::Utc::now(),
    }
}

pub fn dummy_sealed(id: Uuid) -> SealedPersonalData {
    SealedPersonalData {
        alg: "xchacha20poly1305".into(),
        key_id: id.to_string(),
        nonce: "AA==".into(),
        ciphertext: "AA==".into(),
    }
}
