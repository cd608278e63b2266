//! The audit key: an ed25519 pair kept apart from the NATS credentials.
//! The private half signs anchors (only the anchorer needs it); the public
//! halves verify them, old ones included after a rotation.

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written: check the path and its rights.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not an ed25519 key in PEM (PKCS#8 private, SPKI public):
    /// point at the right file, or make one with `masthead audit keygen`.
    #[error("{path}: not an ed25519 {what} key in PEM: {reason}")]
    Format { path: String, what: &'static str, reason: String },
}

/// Names a public key in anchors: the first 16 hex digits of the SHA-256 of
/// its 32 bytes.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// The private audit key.
pub struct AuditKey {
    signing: SigningKey,
    id: String,
}

impl std::fmt::Debug for AuditKey {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self::from_signing(SigningKey::from_bytes(&rand::random::<[u8; 32]>()))
    }

    fn from_signing(signing: SigningKey) -> Self {
        let id = key_id(&signing.verifying_key());
        Self { signing, id }
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = read(path)?;
        let signing = SigningKey::from_pkcs8_pem(&text).map_err(|e| KeyError::Format {
            path: path.display().to_string(),
            what: "private",
            reason: e.to_string(),
        })?;
        Ok(Self::from_signing(signing))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// Writes `audit.key` (private, mode 0600) and `audit.pub` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), KeyError> {
        let private = self.signing.to_pkcs8_pem(Default::default()).map_err(|e| KeyError::Format {
            path: dir.display().to_string(),
            what: "private",
            reason: e.to_string(),
        })?;
        let public = self.public().to_public_key_pem(Default::default()).map_err(|e| KeyError::Format {
            path: dir.display().to_string(),
            what: "public",
            reason: e.to_string(),
        })?;
        write_private(&dir.join("audit.key"), private.as_bytes())?;
        let pub_path = dir.join("audit.pub");
        std::fs::write(&pub_path, public)
            .map_err(|source| KeyError::Io { path: pub_path.display().to_string(), source })
    }
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.display().to_string(), source })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| KeyError::Io { path: path.display().to_string(), source };
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// The public keys a verification trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys(HashMap<String, VerifyingKey>);

impl PublicKeys {
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        Self(keys.into_iter().map(|k| (key_id(&k), k)).collect())
    }

    /// Reads SPKI PEM public keys (one per file).
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for p in paths {
            let p = p.as_ref();
            let text = read(p)?;
            keys.push(VerifyingKey::from_public_key_pem(&text).map_err(|e| KeyError::Format {
                path: p.display().to_string(),
                what: "public",
                reason: e.to_string(),
            })?);
        }
        Ok(Self::new(keys))
    }

    pub fn get(&self, id: &str) -> Option<&VerifyingKey> {
        self.0.get(id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_pair_loads_back_and_the_private_file_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = AuditKey::generate();
        key.save(dir.path()).expect("save");
        let loaded = AuditKey::load(&dir.path().join("audit.key")).expect("load");
        assert_eq!(loaded.id(), key.id());
        let public = PublicKeys::load(&[dir.path().join("audit.pub")]).expect("public");
        assert_eq!(public.get(key.id()), Some(&key.public()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("audit.key")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        assert!(!format!("{key:?}").contains("signing"));
        assert!(matches!(AuditKey::load(&dir.path().join("audit.pub")), Err(KeyError::Format { .. })));
    }
}
