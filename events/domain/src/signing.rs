//! Keyed signatures over small facts, with one secret shared by every
//! process of a deployment (kept in JetStream; see masthead-jetstream's
//! `recipients`):
//!
//! - the double opt-in link: `<expires>.<tag>` proves Masthead sent this
//!   subscription's link and when it stops working;
//! - recipient hashes: the per-recipient mail counter is keyed by a keyed
//!   hash of the mailbox, never by the address itself.
//!
//! HMAC-SHA256 with a purpose label, so a tag made for one use is never
//! valid for another. Tags are truncated to 128 bits and compared in
//! constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of a tag as sent (of the 32 HMAC-SHA256 gives).
const TAG_BYTES: usize = 16;

/// The shared signing secret. Never logged, never in an event.
#[derive(Clone)]
pub struct SigningKey([u8; 32]);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not in the token's format. Tell the subscriber to use the link from
    /// the mail as it is.
    #[error("the token is malformed")]
    Malformed,
    /// Correctly signed but too old. Ask for a fresh one.
    #[error("the token has expired")]
    Expired,
    /// The signature does not match: altered, or made with another key.
    #[error("the token's signature does not match")]
    Forged,
}

/// What the stored secret looked like when it could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a signing key has 32 bytes, this one has {0}")]
pub struct KeyLengthError(pub usize);

impl SigningKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        Self(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyLengthError> {
        bytes.try_into().map(Self).map_err(|_| KeyLengthError(bytes.len()))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> HmacSha256 {
        // A key of any length is accepted by HMAC; 32 bytes always is.
        let mut mac = HmacSha256::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
        mac.update(purpose.as_bytes());
        for part in parts {
            // Length-prefixed, so that parts cannot be shifted into each other.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    fn tag(&self, purpose: &str, parts: &[&[u8]]) -> String {
        B64.encode(&self.mac(purpose, parts).finalize().into_bytes()[..TAG_BYTES])
    }

    fn verify(&self, purpose: &str, parts: &[&[u8]], tag: &str) -> Result<(), TokenError> {
        let tag = B64.decode(tag).map_err(|_| TokenError::Malformed)?;
        if tag.len() != TAG_BYTES {
            return Err(TokenError::Malformed);
        }
        self.mac(purpose, parts).verify_truncated_left(&tag).map_err(|_| TokenError::Forged)
    }

    /// A keyed hash of a mailbox (see `SubscriberEmail::mailbox_key`), 32
    /// hex digits: equal for the same mailbox, useless to anyone without
    /// the key.
    pub fn recipient_hash(&self, mailbox_key: &str) -> String {
        let digest = self.mac("recipient", &[mailbox_key.as_bytes()]).finalize().into_bytes();
        digest[..TAG_BYTES].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The token of a subscription's opt-in link, valid until `expires_at`
    /// (Unix seconds).
    pub fn opt_in_token(&self, subscription_id: Uuid, expires_at: i64) -> String {
        let expires = expires_at.to_string();
        format!("{expires}.{}", self.tag("opt-in", &[subscription_id.as_bytes(), expires.as_bytes()]))
    }

    /// Checks an opt-in link's token for this subscription at `now` (Unix
    /// seconds).
    pub fn verify_opt_in(&self, subscription_id: Uuid, token: &str, now: i64) -> Result<(), TokenError> {
        let (expires, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let expires_at = parse_time(expires)?;
        self.verify("opt-in", &[subscription_id.as_bytes(), expires.as_bytes()], tag)?;
        if now > expires_at {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

/// Unix seconds as written in a token: digits only, at most 12.
fn parse_time(s: &str) -> Result<i64, TokenError> {
    if s.is_empty() || s.len() > 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    s.parse().map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn an_opt_in_token_is_valid_for_its_subscription_until_it_expires() {
        let key = SigningKey::generate();
        let id = Uuid::from_u128(7);
        let token = key.opt_in_token(id, NOW + 60);
        assert_eq!(key.verify_opt_in(id, &token, NOW), Ok(()));
        assert_eq!(key.verify_opt_in(id, &token, NOW + 61), Err(TokenError::Expired));
        assert_eq!(key.verify_opt_in(Uuid::from_u128(8), &token, NOW), Err(TokenError::Forged));
        assert_eq!(SigningKey::generate().verify_opt_in(id, &token, NOW), Err(TokenError::Forged));
        // A later expiry cannot be written in by hand.
        let (_, tag) = token.split_once('.').expect("dot");
        assert_eq!(key.verify_opt_in(id, &format!("{}.{tag}", NOW + 9999), NOW), Err(TokenError::Forged));
        for bad in ["", "x", "12.", ".abc", "1.!!!", "99999999999999.AAAAAAAAAAAAAAAAAAAAAA"] {
            assert_eq!(key.verify_opt_in(id, bad, NOW), Err(TokenError::Malformed), "{bad}");
        }
    }

    #[test]
    fn recipient_hashes_are_keyed_and_stable() {
        let key = SigningKey::generate();
        let a = key.recipient_hash("ada@example.org");
        assert_eq!(a, key.recipient_hash("ada@example.org"));
        assert_eq!(a.len(), 32);
        // Hex digits only: nothing of the address (its `@`, its domain) shows.
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, key.recipient_hash("bob@example.org"));
        assert_ne!(a, SigningKey::generate().recipient_hash("ada@example.org"));
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let key = SigningKey::from_bytes(&[7u8; 32]).expect("32 bytes");
        assert_eq!(format!("{key:?}"), "SigningKey(..)");
        assert_eq!(SigningKey::from_bytes(&[1, 2]).map(|_| ()), Err(KeyLengthError(2)));
    }
}
