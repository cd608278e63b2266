//! The `masthead` program: its one [`config::Config`], the start-up of
//! each role ([`system::start`], which `main` and the black-box tests both
//! call), and the one-shot commands. Everything it runs lives in the
//! libraries: the domain, JetStream, matching, projections, mail, HTTP.

pub mod access;
pub mod audit_commands;
pub mod commands;
pub mod config;
pub mod curation_commands;
mod local_nats;
pub mod review_commands;
pub mod system;
