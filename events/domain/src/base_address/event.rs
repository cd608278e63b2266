//! Events of the base-address aggregate, with their versioned payloads.

use crate::address::{AddressLines, CanonicalAddress};
use crate::schema::{EventSchema, PayloadSource, SchemaError, Upcaster};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Where a base address came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AddressSource {
    /// A bulk import; `line` is the 1-based line in the file.
    Import { file: String, line: u64 },
    /// Entered by the address team, before the actor was recorded.
    Curation,
    /// Entered by a member of the address team: `actor` is the subject of
    /// the token the request carried, `reason` what they gave, if anything.
    Curator {
        actor: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Created because a subscription matched nothing.
    Subscription { subscription_id: Uuid },
}

/// Something about a base address the team should look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressFlag {
    MissingPostalCode,
    MissingCity,
    MissingCountry,
    MissingHouseNumber,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseAddressRegistered {
    pub base_address_id: Uuid,
    /// The publisher's own id for the address, if it has one.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The lines as curated (or, for a new address, as the subscriber typed).
    pub address: AddressLines,
    pub canonical: CanonicalAddress,
    pub source: AddressSource,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<AddressFlag>,
    pub registered_at: DateTime<Utc>,
}

/// Why an id stands for another base address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AliasReason {
    /// A newer normaliser gives the address this key: its id is reserved
    /// for the address registered under the old key, so nothing can be
    /// registered twice across normaliser versions.
    Rekeyed { normalizer_version: u32 },
    /// The address team corrected the address's lines to this key: the id
    /// is reserved for it, so the corrected spelling cannot be registered
    /// again as a new address.
    Corrected,
}

/// The id `base_address_id` (derived from `key`) is taken by another base
/// address, `alias_of`. Appended on the alias id's own subject, so that
/// registering that key again conflicts like any duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseAddressAliased {
    pub base_address_id: Uuid,
    pub alias_of: Uuid,
    pub key: String,
    pub reason: AliasReason,
    pub aliased_at: DateTime<Utc>,
}

/// The address team corrected the lines (or the reference) of a base
/// address. Both sides are kept whole, so the history shows what changed
/// without replaying what came before, and a reader that only sees this
/// event (the mailer) knows the new delivery lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseAddressCorrected {
    pub base_address_id: Uuid,
    pub before: AddressLines,
    pub address: AddressLines,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_ref: Option<String>,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The canonical form of the corrected lines: what the matcher indexes
    /// from now on. The id stays the one derived from the first key.
    pub canonical: CanonicalAddress,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub corrected_at: DateTime<Utc>,
}

/// The base address was a duplicate of `into`, which survives: its
/// subscriptions move there, and its spellings resolve there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseAddressMerged {
    pub base_address_id: Uuid,
    pub into: Uuid,
    /// The merged address's canonical key at the time, so an index can turn
    /// its spelling into an alias of the survivor without a lookup.
    pub key: String,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub merged_at: DateTime<Utc>,
}

/// The base address no longer exists (demolished, never deliverable). It
/// stays in the history; the matcher stops resolving to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseAddressRetired {
    pub base_address_id: Uuid,
    pub actor: String,
    pub reason: String,
    pub retired_at: DateTime<Utc>,
}

/// Events of the base-address aggregate.
///
/// | event | version |
/// | --- | --- |
/// | `BaseAddressRegistered` | 1 |
/// | `BaseAddressAliased` | 1 |
/// | `BaseAddressCorrected` | 1 |
/// | `BaseAddressMerged` | 1 |
/// | `BaseAddressRetired` | 1 |
// Registration is nearly every event on the stream; boxing it to shrink
// the rare alias would add an allocation per event to replay's hot loop.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum BaseAddressEvent {
    BaseAddressRegistered(BaseAddressRegistered),
    BaseAddressAliased(BaseAddressAliased),
    BaseAddressCorrected(BaseAddressCorrected),
    BaseAddressMerged(BaseAddressMerged),
    BaseAddressRetired(BaseAddressRetired),
}

impl BaseAddressEvent {
    pub const REGISTERED: &'static str = "BaseAddressRegistered";
    pub const ALIASED: &'static str = "BaseAddressAliased";
    pub const CORRECTED: &'static str = "BaseAddressCorrected";
    pub const MERGED: &'static str = "BaseAddressMerged";
    pub const RETIRED: &'static str = "BaseAddressRetired";

    /// The id of the aggregate the event belongs to.
    pub fn base_address_id(&self) -> Uuid {
        match self {
            Self::BaseAddressRegistered(e) => e.base_address_id,
            Self::BaseAddressAliased(e) => e.base_address_id,
            Self::BaseAddressCorrected(e) => e.base_address_id,
            Self::BaseAddressMerged(e) => e.base_address_id,
            Self::BaseAddressRetired(e) => e.base_address_id,
        }
    }
}

/// Upcasters for base-address events, oldest first.
pub const UPCASTERS: &[Upcaster] = &[];

impl EventSchema for BaseAddressEvent {
    const AGGREGATE_TYPE: &'static str = "address";

    fn event_type(&self) -> &'static str {
        match self {
            Self::BaseAddressRegistered(_) => Self::REGISTERED,
            Self::BaseAddressAliased(_) => Self::ALIASED,
            Self::BaseAddressCorrected(_) => Self::CORRECTED,
            Self::BaseAddressMerged(_) => Self::MERGED,
            Self::BaseAddressRetired(_) => Self::RETIRED,
        }
    }
    fn schema_version(&self) -> u32 {
        1
    }
    fn current_version(event_type: &str) -> Option<u32> {
        matches!(event_type, Self::REGISTERED | Self::ALIASED | Self::CORRECTED | Self::MERGED | Self::RETIRED)
            .then_some(1)
    }
    // Imports append these by the million. 640 bytes holds a typical one
    // without regrowing the buffer.
    fn payload_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(640);
        match self {
            Self::BaseAddressRegistered(e) => serde_json::to_writer(&mut out, e)?,
            Self::BaseAddressAliased(e) => serde_json::to_writer(&mut out, e)?,
            Self::BaseAddressCorrected(e) => serde_json::to_writer(&mut out, e)?,
            Self::BaseAddressMerged(e) => serde_json::to_writer(&mut out, e)?,
            Self::BaseAddressRetired(e) => serde_json::to_writer(&mut out, e)?,
        }
        Ok(out)
    }
    fn from_payload(event_type: &str, v: Value) -> Result<Self, SchemaError> {
        Self::from_source(event_type, v)
    }
    fn from_payload_json(event_type: &str, json: &[u8]) -> Result<Self, SchemaError> {
        Self::from_source(event_type, json)
    }
}

impl BaseAddressEvent {
    fn from_source(event_type: &str, payload: impl PayloadSource) -> Result<Self, SchemaError> {
        match event_type {
            Self::REGISTERED => payload.parse(event_type).map(Self::BaseAddressRegistered),
            Self::ALIASED => payload.parse(event_type).map(Self::BaseAddressAliased),
            Self::CORRECTED => payload.parse(event_type).map(Self::BaseAddressCorrected),
            Self::MERGED => payload.parse(event_type).map(Self::BaseAddressMerged),
            Self::RETIRED => payload.parse(event_type).map(Self::BaseAddressRetired),
            other => Err(SchemaError::UnknownType(other.to_owned())),
        }
    }
}

impl cqrs_es::DomainEvent for BaseAddressEvent {
    fn event_type(&self) -> String {
        EventSchema::event_type(self).to_owned()
    }
    fn event_version(&self) -> String {
        "1".to_owned()
    }
}
