//! `masthead addresses import <FILE>`: bulk-loads base addresses from CSV
//! (header `ref,street,postal_code,city,country`) or JSONL (same keys).
//!
//! Idempotent by construction: each address's id derives from its canonical
//! key, and it is appended with "subject must be empty", so a second run
//! (or an address a subscription created meanwhile) is reported as already
//! present instead of stored twice. Appends are pipelined: acks are awaited
//! in a window, not one by one.

use crate::matcher::handler::canonical_address;
use futures::stream::{FuturesUnordered, StreamExt};
use masthead_events::base_address::{self, AddressFlag, AddressSource, BaseAddressEvent, BaseAddressRegistered};
use masthead_events::country::Country;
use masthead_events::envelope::CommandMeta;
use masthead_events::store::{AppendError, EventStore};
use masthead_events::AddressLines;
use masthead_matching::{normalize, AddressInput};
use serde::Deserialize;
use std::collections::HashSet;
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Abort at the first broken line instead of skipping it.
    pub strict: bool,
    /// Appends awaiting their ack at once.
    pub in_flight: usize,
    pub progress: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { strict: false, in_flight: 1024, progress: true }
    }
}

/// A line that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

#[derive(Debug, Default, Clone)]
pub struct ImportReport {
    pub rows: u64,
    pub imported: u64,
    pub already_present: u64,
    /// Rows whose canonical form equals an earlier row of the same file.
    pub duplicates_in_file: u64,
    /// Imported rows that lack a field (legacy data), flagged for review.
    pub flagged: u64,
    pub skipped: Vec<LineError>,
    pub elapsed: Duration,
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read. Check the path and permissions.
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The file's header lacks `street`, or the format is not CSV/JSONL.
    /// Fix the file; nothing was imported.
    #[error("{0}")]
    Format(String),
    /// `--strict` and a broken line. Rows before it may have been imported;
    /// rerunning after the fix is safe (the import is idempotent).
    #[error("{0} (aborted: --strict)")]
    Strict(LineError),
    /// The event store stopped answering. Rows acknowledged so far are
    /// stored; rerun the same file to finish (idempotent).
    #[error("event store unavailable after {imported} rows: {message}")]
    Unavailable { imported: u64, message: String },
}

/// One row as found in the file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RawRow {
    #[serde(rename = "ref", alias = "reference")]
    pub reference: Option<String>,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Checks one row and turns it into the event to append.
pub fn row_to_event(row: RawRow, line: u64, file: &str) -> Result<BaseAddressRegistered, LineError> {
    let err = |message: String| LineError { line, message };
    let street = clean(row.street).ok_or_else(|| err("street is required".into()))?;
    if street.chars().count() > 200 {
        return Err(err("street is longer than 200 characters".into()));
    }
    let reference = clean(row.reference);
    if reference.as_ref().is_some_and(|r| r.chars().count() > 64) {
        return Err(err("ref is longer than 64 characters".into()));
    }
    let country = match clean(row.country) {
        None => None,
        Some(c) => Some(Country::parse(&c).map_err(|_| err(format!("unknown country {c:?}")))?),
    };
    let lines = AddressLines { street, postal_code: clean(row.postal_code), city: clean(row.city), country };
    let canonical = normalize(&AddressInput {
        street: &lines.street,
        postal_code: lines.postal_code.as_deref().unwrap_or(""),
        city: lines.city.as_deref().unwrap_or(""),
        country: lines.country.as_ref().map_or("", |c| c.code()),
    });
    let mut flags = Vec::new();
    if lines.postal_code.is_none() {
        flags.push(AddressFlag::MissingPostalCode);
    }
    if lines.city.is_none() {
        flags.push(AddressFlag::MissingCity);
    }
    if lines.country.is_none() {
        flags.push(AddressFlag::MissingCountry);
    }
    if !canonical.has_house_number() {
        flags.push(AddressFlag::MissingHouseNumber);
    }
    let canonical = canonical_address(&canonical);
    Ok(BaseAddressRegistered {
        base_address_id: base_address::id_for_key(&canonical.key),
        reference,
        address: lines,
        canonical,
        source: AddressSource::Import { file: file.to_owned(), line },
        flags,
        registered_at: chrono::Utc::now(),
    })
}

enum Format {
    Csv,
    Jsonl,
}

fn format_of(path: &Path) -> Result<Format, ImportError> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => Ok(Format::Csv),
        Some("jsonl") | Some("ndjson") | Some("json") => Ok(Format::Jsonl),
        _ => Err(ImportError::Format(format!("{}: use a .csv or .jsonl file", path.display()))),
    }
}

/// A row with its line number, or why that line is broken.
pub type ParsedRow = Result<(u64, RawRow), LineError>;

/// Reads every row with its line number; broken lines come back as errors.
pub fn read_rows(path: &Path) -> Result<Vec<ParsedRow>, ImportError> {
    let io = |source| ImportError::Io { path: path.display().to_string(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut out = Vec::new();
    match format_of(path)? {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(file);
            let headers: Vec<String> = reader
                .headers()
                .map_err(|e| ImportError::Format(format!("line 1: cannot read the header: {e}")))?
                .iter()
                .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
                .collect();
            let col = |name: &str| headers.iter().position(|h| h == name);
            let street = col("street").ok_or_else(|| {
                ImportError::Format(
                    "line 1: the header must name a `street` column (ref,street,postal_code,city,country)".into(),
                )
            })?;
            let (reference, postal, city, country) = (col("ref"), col("postal_code"), col("city"), col("country"));
            for record in reader.records() {
                match record {
                    Ok(r) => {
                        let line = r.position().map_or(0, |p| p.line());
                        let get = |i: Option<usize>| i.and_then(|i| r.get(i)).map(str::to_owned);
                        out.push(Ok((
                            line,
                            RawRow {
                                reference: get(reference),
                                street: get(Some(street)),
                                postal_code: get(postal),
                                city: get(city),
                                country: get(country),
                            },
                        )));
                    }
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        out.push(Err(LineError { line, message: format!("not valid CSV: {e}") }));
                    }
                }
            }
        }
        Format::Jsonl => {
            for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
                let n = i as u64 + 1;
                let text = match line {
                    Ok(t) => t,
                    Err(e) => {
                        out.push(Err(LineError { line: n, message: format!("not valid UTF-8 text: {e}") }));
                        continue;
                    }
                };
                if text.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<RawRow>(&text) {
                    Ok(row) => out.push(Ok((n, row))),
                    Err(e) => out.push(Err(LineError { line: n, message: format!("not a valid JSON object: {e}") })),
                }
            }
        }
    }
    Ok(out)
}

/// A row ready to publish, or why it is not.
enum Prepared {
    Broken(LineError),
    /// Same canonical key as an earlier row of the file.
    Duplicate,
    Ready {
        subject: String,
        headers: async_nats::HeaderMap,
        payload: bytes::Bytes,
        flagged: bool,
    },
}

fn prepare_rows(
    rows: Vec<ParsedRow>,
    file: &str,
    store: &EventStore,
    tx: &tokio::sync::mpsc::Sender<Prepared>,
) -> Result<(), ImportError> {
    let meta = CommandMeta { idempotency_key: Some("import".into()), ..Default::default() };
    let mut seen = HashSet::new();
    for row in rows {
        let item = match row.and_then(|(line, raw)| row_to_event(raw, line, file)) {
            Err(e) => Prepared::Broken(e),
            Ok(event) if !seen.insert(event.canonical.key.clone()) => Prepared::Duplicate,
            Ok(event) => {
                let flagged = !event.flags.is_empty();
                let id = event.base_address_id.to_string();
                let (subject, headers, payload, _) = store
                    .encode_append(&id, 0, 1, &BaseAddressEvent::BaseAddressRegistered(event), &meta)
                    .map_err(|e| ImportError::Format(e.to_string()))?;
                Prepared::Ready { subject, headers, payload, flagged }
            }
        };
        // The receiver is gone when the import stopped early (--strict).
        if tx.blocking_send(item).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

pub async fn import(store: &EventStore, path: &Path, options: &ImportOptions) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let rows = read_rows(path)?;
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let bar = if options.progress {
        let bar = indicatif::ProgressBar::new(rows.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows  {per_sec}  eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut report = ImportReport::default();
    let mut pending = FuturesUnordered::new();
    let js = store.jetstream().clone();

    let settle = |result: Result<(String, bool), AppendError>, report: &mut ImportReport| match result {
        Ok((_, false)) => {
            report.imported += 1;
            Ok(())
        }
        Ok((_, true)) | Err(AppendError::Conflict { .. }) => {
            report.already_present += 1;
            Ok(())
        }
        Err(e) => Err(ImportError::Unavailable { imported: report.imported, message: e.to_string() }),
    };

    // Normalising and encoding a row is CPU work; publishing is waiting.
    // A blocking thread prepares rows while this task keeps a window of
    // publishes in flight, so the two overlap on separate cores.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Prepared>(8192);
    let producer = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || prepare_rows(rows, &file, &store, &tx))
    };
    while let Some(item) = rx.recv().await {
        report.rows += 1;
        bar.inc(1);
        let (subject, headers, payload) = match item {
            Prepared::Broken(e) if options.strict => return Err(ImportError::Strict(e)),
            Prepared::Broken(e) => {
                bar.suspend(|| eprintln!("skipped {e}"));
                report.skipped.push(e);
                continue;
            }
            Prepared::Duplicate => {
                report.duplicates_in_file += 1;
                continue;
            }
            Prepared::Ready { subject, headers, payload, flagged } => {
                report.flagged += u64::from(flagged);
                (subject, headers, payload)
            }
        };
        let js = js.clone();
        let store = store.clone();
        pending.push(async move {
            let sent = tokio::time::timeout(Duration::from_secs(10), async {
                js.publish_with_headers(subject.clone(), headers, payload).await?.await
            })
            .await;
            match sent {
                Err(_) => Err(AppendError::Unavailable("no acknowledgement within 10 s".into())),
                Ok(Ok(ack)) => Ok((subject, ack.duplicate)),
                Ok(Err(e)) => Err(store.classify_publish_error(&subject, &e)),
            }
        });
        while pending.len() >= options.in_flight {
            if let Some(r) = pending.next().await {
                settle(r, &mut report)?;
            }
        }
    }
    producer.await.map_err(|e| ImportError::Format(format!("preparing rows failed: {e}")))??;
    while let Some(r) = pending.next().await {
        settle(r, &mut report)?;
    }
    bar.finish_and_clear();
    report.elapsed = started.elapsed();
    Ok(report)
}
