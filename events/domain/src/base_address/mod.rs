//! Base addresses: the curated delivery addresses subscriptions resolve to.
//!
//! A base address's id is derived from its canonical key (UUID v5), and its
//! first event is appended with "subject must be empty". So two processes
//! that try to register the same address at once cannot both succeed: the
//! server refuses the second, whatever the timing.
//!
//! After registration the address team curates it: corrects its lines,
//! merges it into the address it duplicates, or retires it. Each is an
//! event on the address's own subject, with the actor and reason, so its
//! history is complete.

mod aggregate;
mod event;
#[cfg(test)]
mod tests;

pub use aggregate::*;
pub use event::*;
use uuid::Uuid;

/// Namespace for base-address ids. Changing it would fork every id.
const NAMESPACE: Uuid = Uuid::from_u128(0x8c0e_4f0d_7a1b_4d3e_9b57_6d2c_61a4_b0a1);

/// How many steps any walk along merges (A into B, later B into C) or
/// successor ids takes at most. Neither can loop: an address merges only
/// into an active one, and a successor is derived from a retired id. The
/// bound only keeps a damaged history from hanging whoever walks it.
pub const MAX_CHAIN: usize = 64;

/// The id a base address with this canonical key has, wherever it is computed.
pub fn id_for_key(canonical_key: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, canonical_key.as_bytes())
}

/// The id a new base address takes when its key's own id belongs to a
/// retired address: the retired id cannot be registered again, and this
/// one is derived from it, so a redelivered decision lands on the same id.
/// Retiring the successor too gives the next one.
pub fn successor_id(retired: Uuid) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("successor:{retired}").as_bytes())
}
