//! The hash of one stored event: what the anchors sign, per sequence.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The leaf of a sequence that was absent when it was anchored (a message
/// deleted before the anchorer got to it). A gap there is expected.
pub const ABSENT: Hash = [0; 32];

/// Domain separation: a leaf can never be mistaken for another hash.
const LEAF_TAG: &[u8] = b"masthead-audit-leaf-v1\0";

/// The leaf of the message stored at `sequence`: its sequence, subject,
/// every header (sorted by name then value, so that the order a header
/// map iterates in does not matter) and its payload, each length-prefixed.
/// The server's storage time is left out: it is not the writer's to prove
/// and it changes when a stream is restored from a backup.
pub fn leaf<'a>(
    sequence: u64,
    subject: &str,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    payload: &[u8],
) -> Hash {
    let mut pairs: Vec<(&str, &str)> = headers.into_iter().collect();
    pairs.sort_unstable();
    let mut h = Sha256::new();
    h.update(LEAF_TAG);
    h.update(sequence.to_be_bytes());
    field(&mut h, subject.as_bytes());
    h.update((pairs.len() as u64).to_be_bytes());
    for (name, value) in pairs {
        field(&mut h, name.as_bytes());
        field(&mut h, value.as_bytes());
    }
    field(&mut h, payload);
    h.finalize().into()
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// The header pairs of a NATS header map, every value of every name.
pub fn header_pairs(headers: Option<&async_nats::HeaderMap>) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    if let Some(map) = headers {
        for (name, values) in map.iter() {
            for v in values {
                out.push((AsRef::<str>::as_ref(name), v.as_str()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_of_a_message_changes_its_leaf_and_header_order_does_not() {
        let base = leaf(7, "s.a", [("A", "1"), ("B", "2")], b"{}");
        assert_eq!(base, leaf(7, "s.a", [("B", "2"), ("A", "1")], b"{}"));
        for other in [
            leaf(8, "s.a", [("A", "1"), ("B", "2")], b"{}"),
            leaf(7, "s.b", [("A", "1"), ("B", "2")], b"{}"),
            leaf(7, "s.a", [("A", "1"), ("B", "3")], b"{}"),
            leaf(7, "s.a", [("A", "1")], b"{}"),
            leaf(7, "s.a", [("A", "1"), ("B", "2")], b"{ }"),
            // Lengths are prefixed: moving a byte between fields shows.
            leaf(7, "s.a", [("A", "12"), ("B", "")], b"{}"),
        ] {
            assert_ne!(base, other);
        }
    }
}
