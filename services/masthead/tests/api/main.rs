//! Black-box tests of the HTTP API against a real nats-server.

mod form;
mod helpers;
mod intake;
