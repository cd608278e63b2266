//! Anchors: signed checkpoints of the stream. Each covers consecutive
//! sequences `first_seq..=last_seq`, lists their leaves (so a verification
//! names the exact sequence that changed), and links to the anchor before
//! it (so anchors cannot be dropped or reordered unseen).

use crate::key::{AuditKey, PublicKeys};
use crate::leaf::Hash;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One signed anchor, as stored in the anchors stream and in exports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub v: u32,
    /// The events stream it anchors.
    pub stream: String,
    pub first_seq: u64,
    pub last_seq: u64,
    /// The leaves of `first_seq..=last_seq`, 32 bytes each, in base64.
    pub leaves: String,
    /// The hash of the previous anchor (hex); empty for the first.
    pub prev: String,
    /// Which public key verifies `signature`.
    pub key_id: String,
    /// When it was signed (RFC 3339, kept as text: the signature covers it).
    pub signed_at: String,
    /// ed25519 over [`Anchor::signed_bytes`], base64.
    pub signature: String,
}

/// Why an anchor does not verify. The sequence it names is the anchor's
/// first: nothing from there on is proven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    #[error("the anchor is signed with key {0}, which is not among the public keys given")]
    UnknownKey(String),
    #[error("the anchor's signature does not verify")]
    BadSignature,
    #[error("the anchor is malformed: {0}")]
    Malformed(String),
    #[error("the anchor does not follow the previous one (an anchor was removed, inserted or reordered)")]
    BrokenLink,
    #[error("the anchor is for stream {0}")]
    OtherStream(String),
}

impl Anchor {
    pub const VERSION: u32 = 1;

    /// Signs the leaves of `first_seq..` after the anchor whose hash is `prev`.
    pub fn sign(key: &AuditKey, stream: &str, first_seq: u64, leaves: &[Hash], prev: &str) -> Self {
        let raw: Vec<u8> = leaves.iter().flatten().copied().collect();
        let mut a = Self {
            v: Self::VERSION,
            stream: stream.to_owned(),
            first_seq,
            last_seq: first_seq + leaves.len() as u64 - 1,
            leaves: B64.encode(raw),
            prev: prev.to_owned(),
            key_id: key.id().to_owned(),
            signed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            signature: String::new(),
        };
        a.signature = B64.encode(key.sign(&a.signed_bytes()));
        a
    }

    /// What the signature covers: every field but the signature, the
    /// leaves by their hash.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let leaves = hex::encode(Sha256::digest(self.leaves.as_bytes()));
        format!(
            "masthead-audit-anchor-v{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.v, self.stream, self.first_seq, self.last_seq, leaves, self.prev, self.key_id, self.signed_at
        )
        .into_bytes()
    }

    /// What the next anchor's `prev` names.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.signed_bytes());
        h.update(self.signature.as_bytes());
        hex::encode(h.finalize())
    }

    /// The leaves, decoded.
    pub fn leaf_hashes(&self) -> Result<Vec<Hash>, AnchorError> {
        let raw = B64.decode(&self.leaves).map_err(|e| AnchorError::Malformed(format!("leaves: {e}")))?;
        let expected = self.last_seq.checked_sub(self.first_seq).map(|n| (n + 1) as usize * 32);
        if expected != Some(raw.len()) {
            return Err(AnchorError::Malformed(format!(
                "{} bytes of leaves for sequences {}..={}",
                raw.len(),
                self.first_seq,
                self.last_seq
            )));
        }
        Ok(raw.chunks_exact(32).map(|c| c.try_into().unwrap_or([0; 32])).collect())
    }

    /// Checks the signature with `keys`, the link to `prev` and the
    /// stream; returns the leaves.
    pub fn check(&self, keys: &PublicKeys, stream: &str, prev: &str) -> Result<Vec<Hash>, AnchorError> {
        let key = keys.get(&self.key_id).ok_or_else(|| AnchorError::UnknownKey(self.key_id.clone()))?;
        let sig = B64.decode(&self.signature).map_err(|_| AnchorError::BadSignature)?;
        let sig = Signature::from_slice(&sig).map_err(|_| AnchorError::BadSignature)?;
        key.verify_strict(&self.signed_bytes(), &sig).map_err(|_| AnchorError::BadSignature)?;
        if self.stream != stream {
            return Err(AnchorError::OtherStream(self.stream.clone()));
        }
        if self.prev != prev {
            return Err(AnchorError::BrokenLink);
        }
        self.leaf_hashes()
    }
}
