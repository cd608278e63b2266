//! Stable keys across normaliser versions.
//!
//! A base address's id is derived from its canonical key when it is
//! registered, and never changes. A newer normaliser may give the same
//! lines another key, hence another id. Two things keep the address unique
//! anyway:
//! - readers re-normalise forms stored by an older version
//!   (`convert::current_canonical`), so the matcher's index finds the
//!   address under its current key, with its old id;
//! - the id the current key derives is reserved for the old one with a
//!   `BaseAddressAliased` event on that id's subject, so an import (which
//!   registers by id, "subject must be empty") reports the row as already
//!   present instead of storing it twice.
//!
//! [`ensure_current_keys`] writes the reservations. It runs before the
//! matcher's first decision and before every import, and records the
//! normaliser version it brought the list to, so it reads the address
//! events only once per version.

use async_nats::jetstream;
use masthead_domain::base_address::{
    id_for_key, AliasReason, BaseAddress, BaseAddressAliased, BaseAddressCommand, BaseAddressError, BaseAddressEvent,
    BaseAddressRegistered,
};
use masthead_domain::envelope::{AnyEvent, CommandMeta};
use masthead_jetstream::command_bus::{CommandBus, CommandError};
use masthead_jetstream::feed;
use masthead_jetstream::headers::decode_message;
use masthead_jetstream::store::EventStore;
use masthead_jetstream::topology::Topology;
use std::collections::HashSet;
use uuid::Uuid;

use super::convert::canonical_of;
use crate::NORMALIZER_VERSION;

/// The control-bucket key holding the normaliser version the base list's
/// reservations are current with.
const MARKER: &str = "base-address-keys.normalizer-version";

/// What bringing the keys up to date did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeysReport {
    /// The list was current already; nothing was read.
    pub current: bool,
    /// Registrations written by an older normaliser.
    pub older: u64,
    /// Ids reserved for an older registration.
    pub reserved: u64,
    /// Older registrations whose current key is registered as another base
    /// address already: duplicates from before, for the address team.
    pub duplicates: Vec<(Uuid, Uuid)>,
}

/// Why the keys could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The control bucket is missing: setup has not run. Run `masthead setup`.
    #[error("opening the control bucket: {0}")]
    Control(String),
    /// Reading the address events failed, or the stream is away. Retry; the
    /// work is idempotent.
    #[error("reading the base addresses: {0}")]
    Read(String),
    /// Appending a reservation failed. Retry; reservations already written
    /// stay and are skipped.
    #[error("reserving the id of {alias_of}: {message}")]
    Reserve { alias_of: Uuid, message: String },
}

/// Makes every base address registered by an older normaliser unique under
/// the current one (see the module docs). Idempotent; cheap when current.
pub async fn ensure_current_keys(js: &jetstream::Context, topology: &Topology) -> Result<KeysReport, KeysError> {
    let control = js.get_key_value(topology.control_bucket()).await.map_err(|e| KeysError::Control(e.to_string()))?;
    let marked = control.get(MARKER).await.map_err(|e| KeysError::Control(e.to_string()))?;
    let version = marked.and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u32>().ok()).unwrap_or(0);
    if version >= NORMALIZER_VERSION {
        return Ok(KeysReport { current: true, ..Default::default() });
    }
    let (older, taken) = read_addresses(js, topology).await?;
    let mut report = KeysReport { older: older.len() as u64, ..Default::default() };
    let bus: CommandBus<BaseAddress> = CommandBus::new(EventStore::new(js.clone(), topology.clone()), ());
    let meta = CommandMeta { correlation_id: Some(format!("rekey-{NORMALIZER_VERSION}")), ..Default::default() };
    for old in older {
        let key = canonical_of(&old.address).key();
        let id = id_for_key(&key);
        if id == old.base_address_id || taken.contains(&id) {
            continue;
        }
        let alias = BaseAddressAliased {
            base_address_id: id,
            alias_of: old.base_address_id,
            key,
            reason: AliasReason::Rekeyed { normalizer_version: NORMALIZER_VERSION },
            aliased_at: chrono::Utc::now(),
        };
        match bus.execute_new(&id.to_string(), BaseAddressCommand::Alias(alias), &meta).await {
            Ok(events) => report.reserved += events.len() as u64,
            Err(CommandError::Rejected(BaseAddressError::Registered(other))) => {
                report.duplicates.push((old.base_address_id, other));
            }
            Err(CommandError::Rejected(BaseAddressError::Aliased { .. })) => {}
            Err(e) => return Err(KeysError::Reserve { alias_of: old.base_address_id, message: e.to_string() }),
        }
    }
    if !report.duplicates.is_empty() {
        tracing::warn!(pairs = report.duplicates.len(), "base addresses registered twice under two normalisers");
    }
    control.put(MARKER, NORMALIZER_VERSION.to_string().into()).await.map_err(|e| KeysError::Control(e.to_string()))?;
    Ok(report)
}

/// Registrations by older normalisers, and every id that has an event.
async fn read_addresses(
    js: &jetstream::Context,
    topology: &Topology,
) -> Result<(Vec<BaseAddressRegistered>, HashSet<Uuid>), KeysError> {
    let (mut older, mut taken) = (Vec::new(), HashSet::new());
    let filters = vec![topology.aggregate_filter("address")];
    feed::read_to_end(js, topology, filters, 1, |m| {
        let seq = m.stream_sequence;
        match decode_message(m.headers, m.payload, seq).map(|r| r.event) {
            Ok(AnyEvent::BaseAddress(event)) => {
                taken.insert(event.base_address_id());
                if let BaseAddressEvent::BaseAddressRegistered(e) = event {
                    if e.canonical.version < NORMALIZER_VERSION {
                        older.push(e);
                    }
                }
            }
            Ok(_) => {}
            // The projector dead-letters undecodable events for an operator.
            Err(e) => tracing::warn!(seq, error = %e, "skipping undecodable address event"),
        }
        Ok::<_, std::convert::Infallible>(())
    })
    .await
    .map_err(|e| KeysError::Read(e.to_string()))?;
    Ok((older, taken))
}
