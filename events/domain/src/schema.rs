//! How events are named, versioned and decoded.
//!
//! The payload of a stored event is the JSON of one event struct, untagged;
//! its type and schema version travel in the envelope headers. Decoding looks
//! the pair up, runs any upcasters that lift an old version to the current
//! one, and only then deserialises. So a struct can change shape while every
//! event ever written stays readable.

use serde_json::Value;

/// Implemented by each aggregate's event enum.
pub trait EventSchema: Sized + Clone + Send + Sync + 'static {
    /// The aggregate type, also the second subject token (`masthead.<type>.<id>`).
    const AGGREGATE_TYPE: &'static str;

    /// Stable name of this variant, e.g. `SubscriptionRequested`.
    fn event_type(&self) -> &'static str;

    /// Current schema version of this variant.
    fn schema_version(&self) -> u32;

    /// The JSON payload of this variant, as the bytes an append stores:
    /// serialised straight from the variant's struct, without a `Value`
    /// tree in between (every append, intake's included, makes one).
    fn payload_bytes(&self) -> Result<Vec<u8>, serde_json::Error>;

    /// Builds the variant from a payload already upcast to the current version.
    fn from_payload(event_type: &str, payload: Value) -> Result<Self, SchemaError>;

    /// Builds the variant straight from the stored JSON of a payload at the
    /// current version. Must accept exactly what `from_payload` accepts; the
    /// default goes through `Value`, implementations skip that tree (a
    /// replay spent a fifth of its time building it).
    fn from_payload_json(event_type: &str, payload: &[u8]) -> Result<Self, SchemaError> {
        Self::from_payload(event_type, payload.parse(event_type)?)
    }

    /// Current schema version for an event type, if the type is known.
    fn current_version(event_type: &str) -> Option<u32>;
}

/// Why a stored event could not be turned into a domain event.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The event type is not known to this build. A newer writer may have
    /// produced it: upgrade the reader, or dead-letter the event.
    #[error("unknown event type {0}")]
    UnknownType(String),
    /// The stored version is newer than this build understands. Upgrade the
    /// reader; never guess.
    #[error("{event_type} v{version} is newer than this reader (v{current})")]
    TooNew { event_type: String, version: u32, current: u32 },
    /// No upcaster lifts this old version. A missing upcaster is a bug in
    /// this build; the event is dead-lettered until it is fixed.
    #[error("no upcaster for {event_type} v{version}")]
    NoUpcaster { event_type: String, version: u32 },
    /// The payload does not fit the schema. Poison: dead-letter it.
    #[error("payload does not match {event_type}: {source}")]
    Payload { event_type: String, source: serde_json::Error },
    /// A required envelope header is missing or malformed. Poison: dead-letter it.
    #[error("envelope header {0} is missing or malformed")]
    Header(&'static str),
}

/// A payload in one of the two forms events are built from: the JSON tree
/// upcasters produce, or the stored JSON text of a current payload.
pub trait PayloadSource {
    fn parse<T: serde::de::DeserializeOwned>(self, event_type: &str) -> Result<T, SchemaError>;
}

impl PayloadSource for Value {
    fn parse<T: serde::de::DeserializeOwned>(self, event_type: &str) -> Result<T, SchemaError> {
        serde_json::from_value(self)
            .map_err(|source| SchemaError::Payload { event_type: event_type.to_owned(), source })
    }
}

impl PayloadSource for &[u8] {
    fn parse<T: serde::de::DeserializeOwned>(self, event_type: &str) -> Result<T, SchemaError> {
        serde_json::from_slice(self)
            .map_err(|source| SchemaError::Payload { event_type: event_type.to_owned(), source })
    }
}

/// Lifts a payload of `event_type` from `from_version` to `from_version + 1`.
pub struct Upcaster {
    pub event_type: &'static str,
    pub from_version: u32,
    pub upcast: fn(Value) -> Value,
}

/// Brings a payload to the current version of its type by applying the
/// upcasters in order. Returns the payload unchanged when it is current.
pub fn upcast<E: EventSchema>(
    upcasters: &[Upcaster],
    event_type: &str,
    version: u32,
    mut payload: Value,
) -> Result<Value, SchemaError> {
    let current = E::current_version(event_type).ok_or_else(|| SchemaError::UnknownType(event_type.to_owned()))?;
    if version > current {
        return Err(SchemaError::TooNew { event_type: event_type.to_owned(), version, current });
    }
    let mut v = version;
    while v < current {
        let step = upcasters
            .iter()
            .find(|u| u.event_type == event_type && u.from_version == v)
            .ok_or_else(|| SchemaError::NoUpcaster { event_type: event_type.to_owned(), version: v })?;
        payload = (step.upcast)(payload);
        v += 1;
    }
    Ok(payload)
}

/// Decodes a payload of any stored version into the current event.
pub fn decode<E: EventSchema>(
    upcasters: &[Upcaster],
    event_type: &str,
    version: u32,
    payload: &[u8],
) -> Result<E, SchemaError> {
    // Nearly every stored event is current: only old ones need the JSON tree
    // the upcasters work on.
    if E::current_version(event_type) == Some(version) {
        return E::from_payload_json(event_type, payload);
    }
    let value: Value = payload.parse(event_type)?;
    let value = upcast::<E>(upcasters, event_type, version, value)?;
    E::from_payload(event_type, value)
}
