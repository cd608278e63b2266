//! The matching engine on generated and hand-written addresses, and the
//! matcher consumer against a real nats-server.

mod curation;
mod evaluation;
mod matcher;
mod real_world;
mod robustness;
