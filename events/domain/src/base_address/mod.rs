//! Base addresses: the curated delivery addresses subscriptions resolve to.
//!
//! A base address's id is derived from its canonical key (UUID v5), and its
//! first event is appended with "subject must be empty". So two processes
//! that try to register the same address at once cannot both succeed: the
//! server refuses the second, whatever the timing.

use crate::address::{AddressLines, CanonicalAddress};
use crate::schema::{EventSchema, PayloadSource, SchemaError, Upcaster};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Namespace for base-address ids. Changing it would fork every id.
const NAMESPACE: Uuid = Uuid::from_u128(0x8c0e_4f0d_7a1b_4d3e_9b57_6d2c_61a4_b0a1);

/// The id a base address with this canonical key has, wherever it is computed.
pub fn id_for_key(canonical_key: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, canonical_key.as_bytes())
}

/// Where a base address came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AddressSource {
    /// A bulk import; `line` is the 1-based line in the file.
    Import { file: String, line: u64 },
    /// Entered by the address team.
    Curation,
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

/// Events of the base-address aggregate.
///
/// | event | version |
/// | --- | --- |
/// | `BaseAddressRegistered` | 1 |
/// | `BaseAddressAliased` | 1 |
// Registration is nearly every event on the stream; boxing it to shrink
// the rare alias would add an allocation per event to replay's hot loop.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum BaseAddressEvent {
    BaseAddressRegistered(BaseAddressRegistered),
    BaseAddressAliased(BaseAddressAliased),
}

impl BaseAddressEvent {
    pub const REGISTERED: &'static str = "BaseAddressRegistered";
    pub const ALIASED: &'static str = "BaseAddressAliased";

    /// The id of the aggregate the event belongs to.
    pub fn base_address_id(&self) -> Uuid {
        match self {
            Self::BaseAddressRegistered(e) => e.base_address_id,
            Self::BaseAddressAliased(e) => e.base_address_id,
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
        }
    }
    fn schema_version(&self) -> u32 {
        1
    }
    fn current_version(event_type: &str) -> Option<u32> {
        (event_type == Self::REGISTERED || event_type == Self::ALIASED).then_some(1)
    }
    // Imports append these by the million. 640 bytes holds a typical one
    // without regrowing the buffer.
    fn payload_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(640);
        match self {
            Self::BaseAddressRegistered(e) => serde_json::to_writer(&mut out, e)?,
            Self::BaseAddressAliased(e) => serde_json::to_writer(&mut out, e)?,
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

// As for the events: registration is the common command.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum BaseAddressCommand {
    Register(BaseAddressRegistered),
    /// Reserve this id for another base address.
    Alias(BaseAddressAliased),
}

/// Why a base-address command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseAddressError {
    /// The id exists with a different canonical key: the id was not derived
    /// with [`id_for_key`]. A programming error; do not retry.
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
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaseAddress {
    pub registered: Option<BaseAddressRegistered>,
    pub aliased: Option<BaseAddressAliased>,
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
        }
    }
}

impl cqrs_es::Aggregate for BaseAddress {
    const TYPE: &'static str = "address";
    type Command = BaseAddressCommand;
    type Event = BaseAddressEvent;
    type Error = BaseAddressError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &cqrs_es::event_sink::EventSink<Self>,
    ) -> Result<(), Self::Error> {
        for event in self.decide(command)? {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            BaseAddressEvent::BaseAddressRegistered(e) => self.registered = Some(e),
            BaseAddressEvent::BaseAddressAliased(e) => self.aliased = Some(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    fn registered(key: &str) -> BaseAddressRegistered {
        BaseAddressRegistered {
            base_address_id: id_for_key(key),
            reference: Some("R-7".into()),
            address: AddressLines { street: "Kerkstraat 12".into(), postal_code: None, city: None, country: None },
            canonical: CanonicalAddress {
                key: key.into(),
                street: "kerkstraat".into(),
                house_number: "12".into(),
                postal_code: String::new(),
                city: String::new(),
                country: String::new(),
                house_name: String::new(),
                version: 1,
            },
            source: AddressSource::Curation,
            flags: vec![AddressFlag::MissingPostalCode],
            registered_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn ids_are_stable_per_key() {
        assert_eq!(id_for_key("a"), id_for_key("a"));
        assert_ne!(id_for_key("a"), id_for_key("b"));
    }

    #[test]
    fn a_new_address_is_registered() {
        TestFramework::<BaseAddress>::with(())
            .given_no_previous_events()
            .when(BaseAddressCommand::Register(registered("k1")))
            .then_expect_events(vec![BaseAddressEvent::BaseAddressRegistered(registered("k1"))]);
    }

    #[test]
    fn registering_the_same_address_again_changes_nothing() {
        TestFramework::<BaseAddress>::with(())
            .given(vec![BaseAddressEvent::BaseAddressRegistered(registered("k1"))])
            .when(BaseAddressCommand::Register(registered("k1")))
            .then_expect_events(vec![]);
    }

    fn aliased(key: &str, of: &str) -> BaseAddressAliased {
        BaseAddressAliased {
            base_address_id: id_for_key(key),
            alias_of: id_for_key(of),
            key: key.into(),
            reason: AliasReason::Rekeyed { normalizer_version: 2 },
            aliased_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn an_alias_reserves_the_id_and_refuses_a_registration() {
        TestFramework::<BaseAddress>::with(())
            .given_no_previous_events()
            .when(BaseAddressCommand::Alias(aliased("k2", "k1")))
            .then_expect_events(vec![BaseAddressEvent::BaseAddressAliased(aliased("k2", "k1"))]);
        let mut under_alias = registered("k2");
        under_alias.base_address_id = id_for_key("k2");
        TestFramework::<BaseAddress>::with(())
            .given(vec![BaseAddressEvent::BaseAddressAliased(aliased("k2", "k1"))])
            .when(BaseAddressCommand::Register(under_alias))
            .then_expect_error(BaseAddressError::Aliased { alias_of: id_for_key("k1") });
    }

    #[test]
    fn aliasing_again_changes_nothing_and_a_registered_id_cannot_become_an_alias() {
        TestFramework::<BaseAddress>::with(())
            .given(vec![BaseAddressEvent::BaseAddressAliased(aliased("k2", "k1"))])
            .when(BaseAddressCommand::Alias(aliased("k2", "k1")))
            .then_expect_events(vec![]);
        TestFramework::<BaseAddress>::with(())
            .given(vec![BaseAddressEvent::BaseAddressRegistered(registered("k2"))])
            .when(BaseAddressCommand::Alias(aliased("k2", "k1")))
            .then_expect_error(BaseAddressError::Registered(id_for_key("k2")));
    }

    #[test]
    fn a_different_key_under_the_same_id_is_refused() {
        let mut other = registered("k2");
        other.base_address_id = id_for_key("k1");
        TestFramework::<BaseAddress>::with(())
            .given(vec![BaseAddressEvent::BaseAddressRegistered(registered("k1"))])
            .when(BaseAddressCommand::Register(other))
            .then_expect_error(BaseAddressError::KeyMismatch(id_for_key("k1")));
    }
}
