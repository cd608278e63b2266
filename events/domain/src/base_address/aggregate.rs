//! The base-address aggregate: commands, refusals and the state they are
//! decided on.
//!
//! Commands may arrive twice (a redelivered consumer message, a client
//! retrying a request), so a command that already took effect is a no-op.
//! A command that contradicts history is refused with a reason the API can
//! turn into a status code: [`BaseAddressError::status_class`].

use super::event::*;
use crate::address::{AddressLines, CanonicalAddress};
use crate::country::Country;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Correct the lines of a base address. The caller merges the requested
/// changes into the current lines ([`AddressPatch::apply`]) and normalises
/// the result: normalising is the matching engine's business, not the
/// domain's.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrectAddress {
    pub address: AddressLines,
    pub reference: Option<String>,
    pub canonical: CanonicalAddress,
    pub actor: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

/// Merge this base address into `into`. `survivor` is the survivor's status
/// as the caller loaded it: the aggregate sees only its own history.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeAddress {
    pub into: Uuid,
    pub survivor: AddressStatus,
    pub actor: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetireAddress {
    pub actor: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

// As for the events: registration is the common command.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum BaseAddressCommand {
    Register(BaseAddressRegistered),
    /// Reserve this id for another base address.
    Alias(BaseAddressAliased),
    Correct(CorrectAddress),
    Merge(MergeAddress),
    Retire(RetireAddress),
}

/// Requested changes to a base address: each present field replaces the
/// current one, absent fields stay as they are. The optional lines and the
/// reference can also be cleared: `Some(None)`. Street and country cannot
/// (every base address has both).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPatch {
    pub street: Option<String>,
    pub postal_code: Option<Option<String>>,
    pub city: Option<Option<String>>,
    pub country: Option<Country>,
    pub reference: Option<Option<String>>,
}

impl AddressPatch {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The lines after the patch.
    pub fn apply(&self, lines: &AddressLines) -> AddressLines {
        AddressLines {
            street: self.street.clone().unwrap_or_else(|| lines.street.clone()),
            postal_code: self.postal_code.clone().unwrap_or_else(|| lines.postal_code.clone()),
            city: self.city.clone().unwrap_or_else(|| lines.city.clone()),
            country: self.country.clone().or_else(|| lines.country.clone()),
        }
    }

    /// The reference after the patch.
    pub fn apply_reference(&self, reference: Option<&String>) -> Option<String> {
        self.reference.clone().unwrap_or_else(|| reference.cloned())
    }
}

/// Where a base address stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AddressStatus {
    /// No such base address.
    #[default]
    Unregistered,
    Active,
    Merged {
        into: Uuid,
    },
    Retired,
}

impl AddressStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unregistered => "unregistered",
            Self::Active => "active",
            Self::Merged { .. } => "merged",
            Self::Retired => "retired",
        }
    }
}

/// The lines a base address has now, after any corrections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentLines {
    pub address: AddressLines,
    pub reference: Option<String>,
    pub canonical: CanonicalAddress,
}

/// How a caller should treat a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalClass {
    /// The address (or the survivor) does not exist: 404.
    NotFound,
    /// The request contradicts the address's history: 409.
    Conflict,
    /// The request is wrong in itself: 422.
    Invalid,
}

/// Why a base-address command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseAddressError {
    /// The id exists with a different canonical key: the id was not derived
    /// with [`super::id_for_key`]. A programming error; do not retry.
    #[error("base address {0} exists with another canonical key")]
    KeyMismatch(Uuid),
    /// The id is an alias of another base address: the address is
    /// registered already, under that id. Resolve to `alias_of` instead.
    #[error("this address is registered as base address {alias_of}")]
    Aliased { alias_of: Uuid },
    /// The id is a registered address of its own and cannot become an
    /// alias. Two base addresses share a key: a duplicate for the address
    /// team to merge.
    #[error("base address {0} is registered and cannot be an alias")]
    Registered(Uuid),
    /// No base address has this id. Answer 404; do not retry.
    #[error("no such base address")]
    NotRegistered,
    /// The address was merged into `into`: change the survivor instead.
    #[error("base address was merged into {into}")]
    Merged { into: Uuid },
    /// The address is retired and can no longer change.
    #[error("base address {0} is retired")]
    Retired(Uuid),
    /// An address cannot be merged into itself: the request is wrong.
    #[error("a base address cannot be merged into itself")]
    MergeIntoItself,
    /// The survivor of a merge does not exist: the request named a wrong id.
    #[error("no base address {0} to merge into")]
    UnknownSurvivor(Uuid),
    /// The survivor was itself merged or retired: merge into the address
    /// that survives now, if any.
    #[error("base address {into} is {status} and cannot take a merge", status = status.as_str())]
    SurvivorNotActive { into: Uuid, status: AddressStatus },
    /// A correction would leave the address without a street line.
    #[error("street must not be empty")]
    EmptyStreet,
    /// Retiring needs a reason, so the history says why.
    #[error("reason must not be empty")]
    ReasonRequired,
}

impl BaseAddressError {
    pub fn status_class(&self) -> RefusalClass {
        match self {
            Self::NotRegistered | Self::Aliased { .. } => RefusalClass::NotFound,
            Self::Merged { .. }
            | Self::Retired(_)
            | Self::SurvivorNotActive { .. }
            | Self::Registered(_)
            | Self::KeyMismatch(_) => RefusalClass::Conflict,
            Self::MergeIntoItself | Self::UnknownSurvivor(_) | Self::EmptyStreet | Self::ReasonRequired => {
                RefusalClass::Invalid
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaseAddress {
    /// The registration as recorded; later corrections leave it alone, so
    /// registering the first key again stays a no-op.
    pub registered: Option<BaseAddressRegistered>,
    pub aliased: Option<BaseAddressAliased>,
    pub current: Option<CurrentLines>,
    pub status: AddressStatus,
}

impl BaseAddress {
    pub fn decide(&self, command: BaseAddressCommand) -> Result<Vec<BaseAddressEvent>, BaseAddressError> {
        if let Some(alias) = &self.aliased {
            return match command {
                BaseAddressCommand::Alias(e) if e.alias_of == alias.alias_of => Ok(vec![]),
                _ => Err(BaseAddressError::Aliased { alias_of: alias.alias_of }),
            };
        }
        match command {
            BaseAddressCommand::Register(e) => match &self.registered {
                None => Ok(vec![BaseAddressEvent::BaseAddressRegistered(e)]),
                // Registering an existing address again (an import run twice,
                // a redelivered subscription) is a no-op.
                Some(existing) if existing.canonical.key == e.canonical.key => Ok(vec![]),
                Some(existing) => Err(BaseAddressError::KeyMismatch(existing.base_address_id)),
            },
            BaseAddressCommand::Alias(e) => match &self.registered {
                None => Ok(vec![BaseAddressEvent::BaseAddressAliased(e)]),
                Some(existing) => Err(BaseAddressError::Registered(existing.base_address_id)),
            },
            BaseAddressCommand::Correct(c) => self.correct(c),
            BaseAddressCommand::Merge(c) => self.merge(c),
            BaseAddressCommand::Retire(c) => self.retire(c),
        }
    }

    /// The id and current lines, if the address is registered.
    fn live(&self) -> Result<(Uuid, &CurrentLines), BaseAddressError> {
        match (&self.registered, &self.current) {
            (Some(r), Some(current)) => Ok((r.base_address_id, current)),
            _ => Err(BaseAddressError::NotRegistered),
        }
    }

    fn correct(&self, c: CorrectAddress) -> Result<Vec<BaseAddressEvent>, BaseAddressError> {
        let (id, current) = self.live()?;
        match self.status {
            AddressStatus::Merged { into } => return Err(BaseAddressError::Merged { into }),
            // Its `ref` alone may change: a retired address keeps its
            // subscriptions, and with them its `ref`, which no other
            // address may take until the team gives it up here.
            AddressStatus::Retired if c.address != current.address => return Err(BaseAddressError::Retired(id)),
            AddressStatus::Retired | AddressStatus::Active | AddressStatus::Unregistered => {}
        }
        if c.address.street.trim().is_empty() {
            return Err(BaseAddressError::EmptyStreet);
        }
        if c.address == current.address && c.reference == current.reference {
            return Ok(vec![]);
        }
        Ok(vec![BaseAddressEvent::BaseAddressCorrected(BaseAddressCorrected {
            base_address_id: id,
            before: current.address.clone(),
            address: c.address,
            previous_ref: current.reference.clone(),
            reference: c.reference,
            canonical: c.canonical,
            actor: c.actor,
            reason: c.reason,
            corrected_at: c.at,
        })])
    }

    fn merge(&self, c: MergeAddress) -> Result<Vec<BaseAddressEvent>, BaseAddressError> {
        let (id, current) = self.live()?;
        if c.into == id {
            return Err(BaseAddressError::MergeIntoItself);
        }
        match self.status {
            // A merge repeated (a retried request, a redelivery) is done.
            AddressStatus::Merged { into } if into == c.into => return Ok(vec![]),
            AddressStatus::Merged { into } => return Err(BaseAddressError::Merged { into }),
            AddressStatus::Retired => return Err(BaseAddressError::Retired(id)),
            AddressStatus::Active | AddressStatus::Unregistered => {}
        }
        match c.survivor {
            AddressStatus::Active => {}
            AddressStatus::Unregistered => return Err(BaseAddressError::UnknownSurvivor(c.into)),
            status => return Err(BaseAddressError::SurvivorNotActive { into: c.into, status }),
        }
        Ok(vec![BaseAddressEvent::BaseAddressMerged(BaseAddressMerged {
            base_address_id: id,
            into: c.into,
            key: current.canonical.key.clone(),
            actor: c.actor,
            reason: c.reason,
            merged_at: c.at,
        })])
    }

    fn retire(&self, c: RetireAddress) -> Result<Vec<BaseAddressEvent>, BaseAddressError> {
        let (id, _) = self.live()?;
        match self.status {
            AddressStatus::Merged { into } => Err(BaseAddressError::Merged { into }),
            AddressStatus::Retired => Ok(vec![]),
            AddressStatus::Active | AddressStatus::Unregistered if c.reason.trim().is_empty() => {
                Err(BaseAddressError::ReasonRequired)
            }
            AddressStatus::Active | AddressStatus::Unregistered => {
                Ok(vec![BaseAddressEvent::BaseAddressRetired(BaseAddressRetired {
                    base_address_id: id,
                    actor: c.actor,
                    reason: c.reason,
                    retired_at: c.at,
                })])
            }
        }
    }

    pub fn apply_event(&mut self, event: BaseAddressEvent) {
        match event {
            BaseAddressEvent::BaseAddressRegistered(e) => {
                self.current = Some(CurrentLines {
                    address: e.address.clone(),
                    reference: e.reference.clone(),
                    canonical: e.canonical.clone(),
                });
                self.status = AddressStatus::Active;
                self.registered = Some(e);
            }
            BaseAddressEvent::BaseAddressAliased(e) => self.aliased = Some(e),
            BaseAddressEvent::BaseAddressCorrected(e) => {
                self.current =
                    Some(CurrentLines { address: e.address, reference: e.reference, canonical: e.canonical });
            }
            BaseAddressEvent::BaseAddressMerged(e) => self.status = AddressStatus::Merged { into: e.into },
            BaseAddressEvent::BaseAddressRetired(_) => self.status = AddressStatus::Retired,
        }
    }
}

aggregate_from_decide!(
    BaseAddress,
    "address",
    BaseAddressCommand,
    BaseAddressEvent,
    BaseAddressError,
    BaseAddress::apply_event
);
