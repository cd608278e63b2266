//! `masthead reviews export`: every decided review pair as labelled data,
//! one JSON object per line ([`LabelledPair`]), for calibration and the
//! matching evaluation (`masthead-bench blind --report FILE.jsonl`).
//!
//! The address and review events are read in stream order, so each pair
//! carries both addresses' lines **as they were when it was decided** (a
//! later correction does not rewrite the label's evidence). A merge
//! decision is one `match` pair; a distinct decision is one `distinct` pair
//! per pair it names.

use crate::error::CurationError;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use masthead_domain::base_address::BaseAddressEvent;
use masthead_domain::envelope::AnyEvent;
use masthead_domain::review::{ReviewDecided, ReviewDecision, ReviewEvent, ReviewKind, ReviewOpened};
use masthead_domain::AddressLines;
use masthead_jetstream::feed::{self, FeedError};
use masthead_jetstream::headers::decode_message;
use masthead_jetstream::topology::Topology;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use uuid::Uuid;

/// The team's label for a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Label {
    /// One address (merged).
    Match,
    /// Different addresses.
    Distinct,
}

/// One side of a pair, with its lines when the pair was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairSide {
    pub id: Uuid,
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub street: String,
    pub postal_code: String,
    pub city: String,
    /// ISO code.
    pub country: String,
}

/// One decided pair: a line of the export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledPair {
    pub review_id: Uuid,
    pub kind: ReviewKind,
    pub label: Label,
    /// The item's address.
    pub a: PairSide,
    /// The candidate it was compared with.
    pub b: PairSide,
    /// The engine's match probability for the pair when the item opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    pub decided_at: DateTime<Utc>,
    pub actor: String,
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportReport {
    /// Address and review events read.
    pub events: u64,
    pub decided_items: usize,
    pub pairs: usize,
    pub matches: usize,
    pub distinct: usize,
    /// Pairs left out: an address of the pair was never registered.
    pub incomplete: usize,
}

/// Reads the address and review events in stream order and builds the pairs.
#[derive(Default)]
struct Collector {
    lines: HashMap<Uuid, (AddressLines, Option<String>)>,
    opened: HashMap<Uuid, ReviewOpened>,
    report: ExportReport,
}

impl Collector {
    fn side(&self, id: Uuid) -> Option<PairSide> {
        let (lines, reference) = self.lines.get(&id)?;
        Some(PairSide {
            id,
            reference: reference.clone(),
            street: lines.street.clone(),
            postal_code: lines.postal_code.clone().unwrap_or_default(),
            city: lines.city.clone().unwrap_or_default(),
            country: lines.country.as_ref().map(|c| c.code().to_owned()).unwrap_or_default(),
        })
    }

    fn apply(
        &mut self,
        event: AnyEvent,
        out: &mut dyn FnMut(LabelledPair) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        match event {
            AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressRegistered(e)) => {
                self.lines.entry(e.base_address_id).or_insert((e.address, e.reference));
            }
            AnyEvent::BaseAddress(BaseAddressEvent::BaseAddressCorrected(e)) => {
                self.lines.insert(e.base_address_id, (e.address, e.reference));
            }
            AnyEvent::Review(ReviewEvent::ReviewOpened(e)) => {
                self.opened.insert(e.review_id, e);
            }
            AnyEvent::Review(ReviewEvent::ReviewDecided(d)) => {
                self.report.decided_items += 1;
                for pair in self.pairs(&d) {
                    out(pair)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn pairs(&mut self, d: &ReviewDecided) -> Vec<LabelledPair> {
        let Some(opened) = self.opened.get(&d.review_id) else { return Vec::new() };
        let (label, pairs) = match &d.decision {
            ReviewDecision::Merge { merged, into } => (Label::Match, vec![[*merged, *into]]),
            ReviewDecision::Distinct { pairs } => (Label::Distinct, pairs.clone()),
        };
        let mut out = Vec::new();
        for [x, y] in pairs {
            // The item's address first, the candidate second.
            let (a, b) = if y == opened.address_id { (y, x) } else { (x, y) };
            let probability = opened.candidates.iter().find(|c| c.base_address_id == b).map(|c| c.probability);
            let (Some(a), Some(b)) = (self.side(a), self.side(b)) else {
                self.report.incomplete += 1;
                continue;
            };
            out.push(LabelledPair {
                review_id: d.review_id,
                kind: opened.kind,
                label,
                a,
                b,
                probability,
                decided_at: d.decided_at,
                actor: d.actor.clone(),
            });
        }
        self.report.pairs += out.len();
        match label {
            Label::Match => self.report.matches += out.len(),
            Label::Distinct => self.report.distinct += out.len(),
        }
        out
    }
}

/// Writes every decided review pair in the stream to `out` as JSON lines.
/// `progress(read, total)` follows the read of the stream.
pub async fn export_reviews(
    js: &jetstream::Context,
    topology: &Topology,
    out: &mut dyn Write,
    progress: impl Fn(u64, u64),
) -> Result<ExportReport, CurationError> {
    let mut collector = Collector::default();
    let mut write = |pair: LabelledPair| -> std::io::Result<()> {
        serde_json::to_writer(&mut *out, &pair)?;
        out.write_all(b"\n")
    };
    let filters = vec![topology.aggregate_filter("address"), topology.aggregate_filter("review")];
    feed::read_to_end(js, topology, filters, 1, |m| {
        let seq = m.stream_sequence;
        collector.report.events += 1;
        match decode_message(m.headers, m.payload, seq) {
            Ok(r) => collector.apply(r.event, &mut write)?,
            // The projector dead-letters it for an operator; an export
            // of labels goes on without it.
            Err(e) => tracing::warn!(seq, error = %e, "skipping undecodable event"),
        }
        progress(collector.report.events, collector.report.events + m.left);
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(|e| match e {
        FeedError::Visit(e) => CurationError::Store(format!("writing the export: {e}")),
        other => CurationError::Unavailable(other.to_string()),
    })?;
    let written = |e: std::io::Error| CurationError::Store(format!("writing the export: {e}"));
    out.flush().map_err(written)?;
    Ok(collector.report)
}
