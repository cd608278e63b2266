//! In-process black-box tests: Masthead started by `masthead::system::start`
//! (as `main` starts it) on a real nats-server, driven over HTTP. Intake
//! tests run the API alone; read-model tests run the API with the projector
//! and write hand-made histories into the stream. See
//! `masthead_test_support::app`.

mod abuse;
mod access;
mod curation;
mod form;
mod fuzz;
mod helpers;
mod intake;
mod oidc;
mod read_api;
mod telemetry;
