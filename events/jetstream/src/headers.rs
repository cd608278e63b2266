//! The envelope in NATS headers: how each event's envelope is written next
//! to its payload, and read back (in one pass over the header map).

use async_nats::HeaderMap;
use chrono::{DateTime, Utc};
use masthead_domain::envelope::{decode_any, decode_as, header, AnyEvent, Envelope, HasUpcasters, Recorded};
use masthead_domain::schema::SchemaError;

/// One of the envelope's header names as a header name that borrows the
/// static text: inserting by `&str` copies the name into a new allocation
/// for every message.
pub fn name(name: &'static str) -> async_nats::HeaderName {
    async_nats::HeaderName::from_static(name)
}

/// The envelope headers of one message, found in one pass over the map.
/// Ten lookups by name would hash and compare every name again, a tenth of
/// a replay's time.
#[derive(Default)]
struct EnvelopeHeaders<'a> {
    event_id: Option<&'a str>,
    event_type: Option<&'a str>,
    schema_version: Option<&'a str>,
    aggregate_type: Option<&'a str>,
    aggregate_id: Option<&'a str>,
    aggregate_version: Option<&'a str>,
    occurred_at: Option<&'a str>,
    correlation_id: Option<&'a str>,
    causation_id: Option<&'a str>,
    traceparent: Option<&'a str>,
}

impl<'a> EnvelopeHeaders<'a> {
    fn of(headers: &'a HeaderMap) -> Self {
        let mut h = Self::default();
        for (name, values) in headers.iter() {
            let slot = match AsRef::<str>::as_ref(name) {
                header::EVENT_ID => &mut h.event_id,
                header::EVENT_TYPE => &mut h.event_type,
                header::SCHEMA_VERSION => &mut h.schema_version,
                header::AGGREGATE_TYPE => &mut h.aggregate_type,
                header::AGGREGATE_ID => &mut h.aggregate_id,
                header::AGGREGATE_VERSION => &mut h.aggregate_version,
                header::OCCURRED_AT => &mut h.occurred_at,
                header::CORRELATION_ID => &mut h.correlation_id,
                header::CAUSATION_ID => &mut h.causation_id,
                header::TRACEPARENT => &mut h.traceparent,
                _ => continue,
            };
            // As `HeaderMap::get`: the first value of a repeated header.
            *slot = values.first().map(|v| v.as_str());
        }
        h
    }
}

fn required<'a>(value: Option<&'a str>, name: &'static str) -> Result<&'a str, SchemaError> {
    value.ok_or(SchemaError::Header(name))
}

fn number<T: std::str::FromStr>(value: Option<&str>, name: &'static str) -> Result<T, SchemaError> {
    required(value, name)?.parse().map_err(|_| SchemaError::Header(name))
}

/// Writes `envelope` into `headers`.
pub fn write_envelope(envelope: &Envelope, headers: &mut HeaderMap) {
    headers.insert(name(header::EVENT_TYPE), envelope.event_type.clone());
    headers.insert(name(header::SCHEMA_VERSION), envelope.schema_version.to_string());
    headers.insert(name(header::AGGREGATE_TYPE), envelope.aggregate_type.clone());
    headers.insert(name(header::AGGREGATE_ID), envelope.aggregate_id.clone());
    headers.insert(name(header::AGGREGATE_VERSION), envelope.aggregate_version.to_string());
    headers.insert(name(header::EVENT_ID), envelope.event_id.to_string());
    headers.insert(name(header::OCCURRED_AT), envelope.occurred_at.to_rfc3339());
    headers.insert(name(header::CORRELATION_ID), envelope.correlation_id.clone());
    if let Some(c) = &envelope.causation_id {
        headers.insert(name(header::CAUSATION_ID), c.clone());
    }
    if let Some(t) = &envelope.traceparent {
        headers.insert(name(header::TRACEPARENT), t.clone());
    }
}

/// Reads the envelope back; a missing or malformed header is named.
pub fn read_envelope(headers: &HeaderMap) -> Result<Envelope, SchemaError> {
    let h = EnvelopeHeaders::of(headers);
    Ok(Envelope {
        event_id: number(h.event_id, header::EVENT_ID)?,
        event_type: required(h.event_type, header::EVENT_TYPE)?.to_owned(),
        schema_version: number(h.schema_version, header::SCHEMA_VERSION)?,
        aggregate_type: required(h.aggregate_type, header::AGGREGATE_TYPE)?.to_owned(),
        aggregate_id: required(h.aggregate_id, header::AGGREGATE_ID)?.to_owned(),
        aggregate_version: number(h.aggregate_version, header::AGGREGATE_VERSION)?,
        occurred_at: DateTime::parse_from_rfc3339(required(h.occurred_at, header::OCCURRED_AT)?)
            .map_err(|_| SchemaError::Header(header::OCCURRED_AT))?
            .with_timezone(&Utc),
        correlation_id: required(h.correlation_id, header::CORRELATION_ID)?.to_owned(),
        causation_id: h.causation_id.map(str::to_owned),
        traceparent: h.traceparent.map(str::to_owned),
    })
}

/// Decodes a stored message of any aggregate type, upcasting old versions.
pub fn decode_message(
    headers: Option<&HeaderMap>,
    payload: &[u8],
    stream_sequence: u64,
) -> Result<Recorded<AnyEvent>, SchemaError> {
    let headers = headers.ok_or(SchemaError::Header(header::EVENT_TYPE))?;
    decode_any(read_envelope(headers)?, payload, stream_sequence)
}

/// Decodes a stored message of one known aggregate type.
pub fn decode_message_as<E: HasUpcasters>(
    headers: &HeaderMap,
    payload: &[u8],
    stream_sequence: u64,
) -> Result<Recorded<E>, SchemaError> {
    decode_as(read_envelope(headers)?, payload, stream_sequence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn envelope() -> Envelope {
        Envelope {
            event_id: Uuid::from_u128(7),
            event_type: "AddressMatched".into(),
            schema_version: 1,
            aggregate_type: "subscription".into(),
            aggregate_id: "s-1".into(),
            aggregate_version: 2,
            occurred_at: DateTime::parse_from_rfc3339("2024-03-01T10:00:00.5Z").expect("time").with_timezone(&Utc),
            correlation_id: "c-1".into(),
            causation_id: Some("e-0".into()),
            traceparent: None,
        }
    }

    #[test]
    fn headers_round_trip_and_a_missing_one_is_named() {
        let e = envelope();
        let mut headers = HeaderMap::new();
        write_envelope(&e, &mut headers);
        headers.insert("Unrelated", "x");
        assert_eq!(read_envelope(&headers).expect("decodes"), e);

        let mut headers = HeaderMap::new();
        write_envelope(&Envelope { causation_id: None, traceparent: Some("00-tp".into()), ..e.clone() }, &mut headers);
        let back = read_envelope(&headers).expect("decodes");
        assert_eq!((back.causation_id, back.traceparent.as_deref()), (None, Some("00-tp")));

        for missing in [header::EVENT_ID, header::AGGREGATE_VERSION, header::OCCURRED_AT, header::CORRELATION_ID] {
            let mut headers = HeaderMap::new();
            write_envelope(&e, &mut headers);
            let mut without = HeaderMap::new();
            for (name, values) in headers.iter() {
                if AsRef::<str>::as_ref(name) != missing {
                    for v in values {
                        without.append(name.clone(), v.clone());
                    }
                }
            }
            assert!(matches!(read_envelope(&without), Err(SchemaError::Header(h)) if h == missing));
        }
        let mut headers = HeaderMap::new();
        write_envelope(&e, &mut headers);
        headers.insert(header::SCHEMA_VERSION, "one");
        assert!(matches!(read_envelope(&headers), Err(SchemaError::Header(header::SCHEMA_VERSION))));
    }
}
