//! Review items: pairs of base addresses the address team decides on.
//!
//! An item opens from the matcher's grey zone (a subscription whose
//! decision was close) or from a dedupe scan (two base addresses that look
//! alike). The team decides: merge, or distinct. A review's id is derived
//! from what it is about ([`id_for_subscription`], [`id_for_pair`]), so
//! opening the same item twice lands on the same aggregate and changes
//! nothing; and a distinct decision names its pairs, so a reader can keep
//! them from ever being queued again.

mod aggregate;
mod event;
#[cfg(test)]
mod tests;

pub use aggregate::*;
pub use event::*;
use uuid::Uuid;

/// Namespace for review ids. Changing it would fork every id.
const NAMESPACE: Uuid = Uuid::from_u128(0x3d9a_51c2_0b6e_4f17_a8d4_92e1_7c05_6b3f);

/// The review of a subscription's grey-zone decision.
pub fn id_for_subscription(subscription_id: Uuid) -> Uuid {
    Uuid::new_v5(&NAMESPACE, format!("subscription:{subscription_id}").as_bytes())
}

/// The review of two base addresses that may be one; the same whichever
/// comes first.
pub fn id_for_pair(a: Uuid, b: Uuid) -> Uuid {
    let [x, y] = pair(a, b);
    Uuid::new_v5(&NAMESPACE, format!("pair:{x}:{y}").as_bytes())
}

/// A pair of base addresses in one order, whichever order it came in.
pub fn pair(a: Uuid, b: Uuid) -> [Uuid; 2] {
    if a <= b {
        [a, b]
    } else {
        [b, a]
    }
}
