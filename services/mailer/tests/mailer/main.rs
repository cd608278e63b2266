//! The confirmation mail: decisions on a history, the outbox, and delivery
//! to a real SMTP server in this process.

mod common;
mod decision;
mod delivery;
mod outbox;
