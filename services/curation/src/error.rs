//! Why a curation command did not take effect.

use masthead_domain::base_address::{BaseAddressError, RefusalClass};
use masthead_domain::review::ReviewError;
use masthead_jetstream::command_bus::CommandError;
use masthead_jetstream::store::ReadError;
use uuid::Uuid;

/// Why a curation command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum CurationError {
    /// The matching engine resolves the address to this existing base
    /// address: nothing was appended. Show the caller that address (HTTP 409
    /// with `existing.id`); a duplicate by hand is what this prevents.
    #[error("the address resolves to existing base address {id}")]
    Existing { id: Uuid },
    /// Another base address (active, or retired with its subscriptions)
    /// holds this `ref`: nothing was appended.
    /// Show the caller that address (HTTP 409 with `existing.id`, about the
    /// field `ref`); a `ref` is the publisher's key for one address.
    #[error("the ref is already that of base address {id}")]
    RefTaken { id: Uuid },
    /// The base-address aggregate refused the command; its
    /// [`BaseAddressError::status_class`] says 404, 409 or 422.
    #[error(transparent)]
    Address(BaseAddressError),
    /// The review item refused the decision (unknown item 404, decided
    /// otherwise 409, an address not in the item 422).
    #[error(transparent)]
    Review(ReviewError),
    /// A "distinct" decision on addresses that were merged into one since
    /// the item was queued (directly, not through the item): nothing was
    /// recorded. Show the survivor (HTTP 409); a merge decision into it
    /// closes the item.
    #[error("the item's addresses are one address now: {survivor}")]
    AlreadyOne { survivor: Uuid },
    /// Another curation command held the lease for longer than this one
    /// would wait: nothing was appended. Retry shortly (HTTP 503).
    #[error("another curation command is in progress; retry shortly")]
    Busy,
    /// The event store did not answer; nothing was appended, or the outcome
    /// is unknown. Retry: every command is a no-op the second time (503).
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with something unusable (an undecodable history,
    /// lasting contention). Not retryable without a look (500).
    #[error("event store error: {0}")]
    Store(String),
}

/// How the API should answer a [`CurationError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    NotFound,
    Conflict,
    Invalid,
    Unavailable,
    Internal,
}

impl CurationError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Existing { .. } | Self::RefTaken { .. } | Self::AlreadyOne { .. } => ErrorClass::Conflict,
            Self::Address(e) => match e.status_class() {
                RefusalClass::NotFound => ErrorClass::NotFound,
                RefusalClass::Conflict => ErrorClass::Conflict,
                RefusalClass::Invalid => ErrorClass::Invalid,
            },
            Self::Review(ReviewError::NotOpened) => ErrorClass::NotFound,
            Self::Review(ReviewError::AlreadyDecided(_)) => ErrorClass::Conflict,
            Self::Review(ReviewError::NotInItem(_) | ReviewError::NoCandidate) => ErrorClass::Invalid,
            Self::Unavailable(_) | Self::Busy => ErrorClass::Unavailable,
            Self::Store(_) => ErrorClass::Internal,
        }
    }

    pub(crate) fn read(e: ReadError) -> Self {
        match e {
            ReadError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Store(other.to_string()),
        }
    }

    pub(crate) fn from_address(e: CommandError<BaseAddressError>) -> Self {
        match e {
            CommandError::Rejected(r) => Self::Address(r),
            CommandError::Unavailable(m) => Self::Unavailable(m),
            CommandError::Conflict(n) => Self::Unavailable(format!("conflict persisted after {n} retries")),
            CommandError::Store(m) => Self::Store(m),
        }
    }

    pub(crate) fn from_review(e: CommandError<ReviewError>) -> Self {
        match e {
            CommandError::Rejected(r) => Self::Review(r),
            CommandError::Unavailable(m) => Self::Unavailable(m),
            CommandError::Conflict(n) => Self::Unavailable(format!("conflict persisted after {n} retries")),
            CommandError::Store(m) => Self::Store(m),
        }
    }
}
