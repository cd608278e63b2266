//! Exports: one JSON line per event with its proof material, readable and
//! verifiable offline with only the public key.
//!
//! Layout: a header line, the anchors (`{"anchor": …}`, in order), then the
//! events in stream order (`{"seq", "subject", "stored_at", "headers",
//! "payload" | "payload_base64", "leaf"}`). Payloads are written as the
//! exact bytes stored, so sealed personal fields stay sealed and a hash of
//! the line's payload is the hash of the stored one.

use crate::anchor::Anchor;
use crate::key::PublicKeys;
use crate::leaf::{header_pairs, leaf, Hash};
use crate::live::read_anchors;
use crate::verify::{Report, Verifier};
use crate::AuditError;
use async_nats::jetstream;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use masthead_jetstream::replay::{replay_with, Decoder, ReplayOptions, ReplayReport, StoredMessage, Until, CHUNK};
use masthead_jetstream::topology::Topology;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Mutex;

/// The first line of an export.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub masthead_audit_export: u32,
    pub stream: String,
    pub exported_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<DateTime<Utc>>,
}

#[derive(Serialize, Deserialize)]
struct AnchorLine {
    anchor: Anchor,
}

#[derive(Serialize)]
struct EventOut<'a> {
    seq: u64,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stored_at: Option<DateTime<Utc>>,
    headers: BTreeMap<&'a str, Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_base64: Option<String>,
    leaf: String,
}

/// One event line, as read back.
#[derive(Debug, Deserialize)]
pub struct EventLine {
    pub seq: u64,
    pub subject: String,
    #[serde(default)]
    pub stored_at: Option<DateTime<Utc>>,
    pub headers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub payload: Option<Box<RawValue>>,
    #[serde(default)]
    pub payload_base64: Option<String>,
}

impl EventLine {
    /// The leaf of the event as the line states it (the `leaf` field is a
    /// convenience and never trusted).
    pub fn leaf(&self) -> Result<Hash, String> {
        let payload = match (&self.payload, &self.payload_base64) {
            (Some(raw), None) => raw.get().as_bytes().to_vec(),
            (None, Some(b)) => B64.decode(b).map_err(|e| format!("payload_base64: {e}"))?,
            _ => return Err("exactly one of payload and payload_base64 is expected".into()),
        };
        let pairs = self.headers.iter().flat_map(|(n, vs)| vs.iter().map(move |v| (n.as_str(), v.as_str())));
        Ok(leaf(self.seq, &self.subject, pairs, &payload))
    }
}

/// Turns each stored message into its export line, on the replay's readers.
#[derive(Debug, Clone, Copy)]
struct Lines;

impl Decoder for Lines {
    type Item = Vec<u8>;
    fn decode(&self, m: StoredMessage) -> Option<Vec<u8>> {
        let mut out = event_line(&m)?;
        out.push(b'\n');
        Some(out)
    }
}

/// One stored message as its export line (JSON, no newline).
pub fn event_line(m: &StoredMessage) -> Option<Vec<u8>> {
    {
        let pairs = header_pairs(m.headers.as_ref());
        let h = leaf(m.sequence, &m.subject, pairs.iter().copied(), &m.payload);
        let mut headers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (n, v) in &pairs {
            headers.entry(n).or_default().push(v);
        }
        // JSON payloads are written as they are (exact bytes); anything
        // else in base64.
        let raw: Option<&RawValue> =
            serde_json::from_slice::<&RawValue>(&m.payload).ok().filter(|r| r.get().len() == m.payload.len());
        let line = EventOut {
            seq: m.sequence,
            subject: &m.subject,
            stored_at: m.stored_at,
            headers,
            payload: raw,
            payload_base64: raw.is_none().then(|| B64.encode(&m.payload)),
            leaf: hex::encode(h),
        };
        serde_json::to_vec(&line).ok()
    }
}

/// What `masthead audit export` was asked for.
pub struct ExportOptions<'a> {
    pub until: Until,
    pub readers: &'a [jetstream::Context],
}

#[derive(Debug, Clone)]
pub struct ExportReport {
    pub replay: ReplayReport,
    pub anchors: usize,
}

/// Writes the export of the stream to `out`; `progress(read, total)`.
pub async fn export(
    js: &jetstream::Context,
    topology: &Topology,
    options: ExportOptions<'_>,
    out: impl Write,
    progress: impl FnMut(u64, u64),
) -> Result<ExportReport, AuditError> {
    let until = options.until;
    let anchors: Vec<Anchor> = read_anchors(js, topology)
        .await?
        .into_iter()
        .map(|(_, a)| a)
        .filter(|a| until.sequence.is_none_or(|n| a.last_seq <= n))
        .filter(|a| until.time.is_none_or(|t| DateTime::parse_from_rfc3339(&a.signed_at).is_ok_and(|s| s <= t)))
        .collect();
    let out = Mutex::new(std::io::BufWriter::with_capacity(1 << 20, out));
    let header = Header {
        masthead_audit_export: 1,
        stream: topology.stream.clone(),
        exported_at: Utc::now(),
        until_seq: until.sequence,
        as_of: until.time,
    };
    {
        let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
        write_json(&mut *w, &header)?;
        for a in &anchors {
            write_json(&mut *w, &AnchorLine { anchor: a.clone() })?;
        }
    }
    let options = ReplayOptions { from: 1, until, batch_size: 10_000, readers: options.readers, chunk: CHUNK };
    let apply = Some(|batch: Vec<Vec<u8>>| {
        let n = batch.len() as u64;
        let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
        let written = batch.iter().try_for_each(|line| w.write_all(line));
        async move { written.map(|()| n) }
    });
    let replay = replay_with(topology, options, Lines, apply, progress).await.map_err(|e| match e {
        masthead_jetstream::replay::ReplayError::Sink(s) => AuditError::Io(s.to_string()),
        other => AuditError::Nats(other.to_string()),
    })?;
    out.into_inner().unwrap_or_else(|p| p.into_inner()).flush().map_err(|e| AuditError::Io(e.to_string()))?;
    Ok(ExportReport { replay, anchors: anchors.len() })
}

fn write_json(w: &mut impl Write, value: &impl Serialize) -> Result<(), AuditError> {
    serde_json::to_writer(&mut *w, value).map_err(|e| AuditError::Io(e.to_string()))?;
    w.write_all(b"\n").map_err(|e| AuditError::Io(e.to_string()))
}

/// `masthead audit verify FILE`: checks an export offline with `keys`.
/// `progress(lines)` is called now and then. A line that is not an export
/// line is an error naming the line.
pub fn verify_export(
    input: impl BufRead,
    keys: &PublicKeys,
    mut progress: impl FnMut(u64),
) -> Result<Report, AuditError> {
    let mut lines = input.lines();
    let bad = |n: usize, what: String| AuditError::Malformed(format!("line {n}: {what}"));
    let first =
        lines.next().ok_or_else(|| bad(1, "the file is empty".into()))?.map_err(|e| AuditError::Io(e.to_string()))?;
    let header: Header = serde_json::from_str(&first).map_err(|e| bad(1, format!("not an export header: {e}")))?;
    let mut anchors = Vec::new();
    let mut verifier: Option<Verifier> = None;
    for (i, line) in lines.enumerate() {
        let n = i + 2;
        let line = line.map_err(|e| AuditError::Io(e.to_string()))?;
        if line.starts_with("{\"anchor\"") {
            if verifier.is_some() {
                return Err(bad(n, "an anchor after the events".into()));
            }
            let a: AnchorLine = serde_json::from_str(&line).map_err(|e| bad(n, format!("anchor: {e}")))?;
            anchors.push(a.anchor);
            continue;
        }
        let v = verifier.get_or_insert_with(|| Verifier::new(&header.stream, keys, std::mem::take(&mut anchors)));
        let e: EventLine = serde_json::from_str(&line).map_err(|e| bad(n, format!("event: {e}")))?;
        let h = e.leaf().map_err(|what| bad(n, what))?;
        if !v.event(e.seq, &h) {
            break;
        }
        if n % 65_536 == 0 {
            progress(n as u64);
        }
    }
    let v = verifier.unwrap_or_else(|| Verifier::new(&header.stream, keys, anchors));
    Ok(v.finish())
}
