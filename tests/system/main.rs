//! The real `masthead` binary as child processes (`masthead_test_support::System`)
//! on a real nats-server and SMTP server: whole flows, faults, operator
//! commands and the binary's own logs.

mod audit;
mod common;
mod curation;
mod faults;
mod flows;
mod logs;
mod operations;
