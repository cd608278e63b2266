//! What can go wrong reading or writing a projection store, and what the
//! caller should do about each case.

/// Errors of a [`crate::ProjectionStore`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or is busy (MongoDB down, a network
    /// error, a transaction that aborted on a transient conflict). Nothing
    /// was applied. Consumers: nak the batch and retry with backoff. API:
    /// answer 503 with `Retry-After`.
    #[error("projection store unavailable: {0}")]
    Unavailable(String),
    /// Stored data cannot be read back (a damaged file, a document written by
    /// an incompatible version). Retrying will not help: alert an operator,
    /// who rebuilds the projection into a fresh generation.
    #[error("projection store is corrupt: {0}")]
    Corrupt(String),
    /// The pagination cursor was not produced by this store for this kind of
    /// list (edited, truncated, or from another list). API: answer 400 and
    /// let the client restart from the first page.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A filter value cannot be used (e.g. an empty search term). API:
    /// answer 400 with the message.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// The database file is locked by another process (redb allows one
    /// process per file). Operator: stop the other process or give this one
    /// its own generation file.
    #[error("projection database is in use by another process: {0}")]
    Locked(String),
    /// The blocking worker running a redb operation panicked or was
    /// cancelled. A bug: the transaction was rolled back; log and retry once,
    /// then alert.
    #[error("projection worker failed: {0}")]
    Worker(String),
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::DatabaseAlreadyOpen => StoreError::Locked(e.to_string()),
            redb::Error::Corrupted(_) | redb::Error::UpgradeRequired(_) | redb::Error::TableTypeMismatch { .. } => {
                StoreError::Corrupt(e.to_string())
            }
            // I/O errors and the rest: the disk may come back (full disk,
            // transient I/O); nothing was committed, so retrying is safe.
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

macro_rules! via_redb_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                redb::Error::from(e).into()
            }
        }
    )*};
}

via_redb_error!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError,
    redb::CursorError
);

impl From<mongodb::error::Error> for StoreError {
    fn from(e: mongodb::error::Error) -> Self {
        use mongodb::error::ErrorKind;
        match *e.kind {
            ErrorKind::BsonDeserialization(_) | ErrorKind::BsonSerialization(_) => StoreError::Corrupt(e.to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for StoreError {
    fn from(e: tokio::task::JoinError) -> Self {
        StoreError::Worker(e.to_string())
    }
}
