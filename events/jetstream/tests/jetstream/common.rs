#![allow(dead_code)]

use masthead_domain::personal_data::SealedPersonalData;
use masthead_domain::subscription::RegisterSubscription;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use masthead_test_support::fixtures::registration;
use masthead_test_support::stream::server_with_stream;
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
    let (server, js, topology) = server_with_stream("TEST").await.expect("nats-server with the stream");
    let client = js.client();
    let store = EventStore::new(js.clone(), topology.clone());
    Env { server, client, js, topology, store }
}

/// The registration of subscription `id` at Kerkstraat 12, Utrecht.
pub fn register(id: Uuid, subscriber: SealedPersonalData) -> RegisterSubscription {
    RegisterSubscription { subscriber, ..registration(id, "Kerkstraat 12", "3511 LX", "Utrecht", "Nederland") }
}

pub use masthead_test_support::fixtures::placeholder_sealed as dummy_sealed;
