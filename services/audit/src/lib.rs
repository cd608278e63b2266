//! The auditors' kit: tamper evidence over the event stream, exports, and
//! their verification.
//!
//! - [`leaf`]: the hash of one stored message (sequence, subject, headers,
//!   payload).
//! - [`anchor`]: ed25519-signed checkpoints listing the leaves of
//!   consecutive sequences and linking to the previous anchor; stored in
//!   their own stream.
//! - [`key`]: the audit key pair, kept apart from the NATS credentials.
//! - [`live`]: the anchorer (signs every N events or T seconds) and
//!   verification of the live stream.
//! - [`export`]: JSON-lines exports and their offline verification.
//! - [`verify`]: the verification both share.
//! - [`personal_data`]: erasure (crypto-shredding) and subject access.
//!
//! What it proves and what it does not: see the README's audit section.

pub mod anchor;
pub mod export;
pub mod history;
pub mod key;
pub mod leaf;
pub mod live;
pub mod personal_data;
pub mod verify;

/// Why an audit operation failed (as opposed to finding tampering, which
/// is a [`verify::Report`] with a failure).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// NATS did not answer or refused: retry, or check that the stream and
    /// the anchors stream exist (`masthead setup`).
    #[error("NATS: {0}")]
    Nats(String),
    /// Reading or writing a file failed: check the path and the disk.
    #[error("I/O: {0}")]
    Io(String),
    /// An export or an anchor is not in the expected format: the message
    /// names the line. Nothing can be verified from it.
    #[error("malformed: {0}")]
    Malformed(String),
}
