//! Personal data sealed with a per-subscription data key.
//!
//! Events are immutable, but a subscriber may ask to be forgotten. So the
//! name and email never enter the stream in clear: they are encrypted with
//! XChaCha20-Poly1305 under a data key that lives only in a JetStream KV
//! bucket (see `masthead-jetstream`'s key vault). Deleting that key erases the personal
//! fields everywhere — stream, projections, backups — while every other field
//! stays replayable ("crypto-shredding").

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The subscriber's personal fields, only ever held in memory.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalData {
    pub name: String,
    pub email: String,
}

impl PersonalData {
    /// The fields of a checked name and email, ready to be sealed.
    pub fn new(name: &crate::subscription::SubscriberName, email: &crate::subscription::SubscriberEmail) -> Self {
        Self { name: name.as_str().to_owned(), email: email.as_str().to_owned() }
    }
}

// Personal data must not reach logs through a stray `{:?}`.
impl fmt::Debug for PersonalData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PersonalData { .. }")
    }
}

/// A 256-bit data key. Never serialised into events.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    pub fn generate() -> Self {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        Self(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PersonalDataError> {
        let k: [u8; 32] = bytes.try_into().map_err(|_| PersonalDataError::MalformedKey)?;
        Ok(Self(k))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Personal data as stored in events: ciphertext plus what is needed to
/// find the key and authenticate the context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedPersonalData {
    /// Algorithm tag, so the scheme can change without breaking old events.
    pub alg: String,
    /// Which data key in the vault sealed this. Each subscription gets its
    /// own key; purging it erases the subscriber.
    pub key_id: String,
    /// Base64 of the 24-byte nonce.
    pub nonce: String,
    /// Base64 of the ciphertext with its tag.
    pub ciphertext: String,
}

pub const ALG_XCHACHA20POLY1305: &str = "xchacha20poly1305";

/// What can go wrong sealing or opening personal data.
#[derive(Debug, thiserror::Error)]
pub enum PersonalDataError {
    /// The stored key has the wrong length: the vault entry is corrupt.
    /// Treat the data as unreadable and alert an operator.
    #[error("data key is malformed")]
    MalformedKey,
    /// The ciphertext does not open with this key (tampered, or a different
    /// key). Treat as unreadable; never retry with other keys.
    #[error("personal data does not authenticate")]
    Unauthentic,
    /// The sealed record is not in a known format. A newer writer may have
    /// produced it; upgrade the reader.
    #[error("unsupported sealed format: {0}")]
    Unsupported(String),
}

impl SealedPersonalData {
    /// Encrypts `data` under `key`, binding it to `key_id` so that a sealed
    /// record cannot be pasted into another subscription.
    pub fn seal(data: &PersonalData, key_id: &str, key: &DataKey) -> Result<Self, PersonalDataError> {
        let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        // Serialising two owned strings cannot fail.
        let plaintext = serde_json::to_vec(data).unwrap_or_default();
        let ciphertext = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: &plaintext, aad: key_id.as_bytes() })
            .map_err(|_| PersonalDataError::Unauthentic)?;
        Ok(Self {
            alg: ALG_XCHACHA20POLY1305.to_owned(),
            key_id: key_id.to_owned(),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
        })
    }

    /// Decrypts with `key`.
    pub fn open(&self, key: &DataKey) -> Result<PersonalData, PersonalDataError> {
        if self.alg != ALG_XCHACHA20POLY1305 {
            return Err(PersonalDataError::Unsupported(self.alg.clone()));
        }
        let nonce = B64.decode(&self.nonce).map_err(|_| PersonalDataError::Unauthentic)?;
        if nonce.len() != 24 {
            return Err(PersonalDataError::Unauthentic);
        }
        let ciphertext = B64.decode(&self.ciphertext).map_err(|_| PersonalDataError::Unauthentic)?;
        let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
        let plaintext = cipher
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &ciphertext, aad: self.key_id.as_bytes() })
            .map_err(|_| PersonalDataError::Unauthentic)?;
        serde_json::from_slice(&plaintext).map_err(|_| PersonalDataError::Unauthentic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> PersonalData {
        PersonalData { name: "Alice Example".into(), email: "alice@example.org".into() }
    }

    #[test]
    fn sealed_data_round_trips_and_hides_plaintext() {
        let key = DataKey::generate();
        let sealed = SealedPersonalData::seal(&alice(), "sub-1", &key).expect("seal");
        let json = serde_json::to_string(&sealed).expect("json");
        assert!(!json.contains("Alice"));
        assert!(!json.contains("alice@example.org"));
        assert_eq!(sealed.open(&key).expect("open"), alice());
    }

    #[test]
    fn another_key_or_context_cannot_open() {
        let key = DataKey::generate();
        let sealed = SealedPersonalData::seal(&alice(), "sub-1", &key).expect("seal");
        assert!(matches!(sealed.open(&DataKey::generate()), Err(PersonalDataError::Unauthentic)));
        let moved = SealedPersonalData { key_id: "sub-2".into(), ..sealed };
        assert!(matches!(moved.open(&key), Err(PersonalDataError::Unauthentic)));
    }

    #[test]
    fn debug_output_never_shows_personal_data() {
        assert!(!format!("{:?}", alice()).contains("Alice"));
    }
}
