//! `masthead addresses import <FILE>`: bulk-loads base addresses from CSV
//! (header `ref,street,postal_code,city,country`) or JSONL (same keys).
//!
//! Idempotent by construction: each address's id derives from its canonical
//! key, and it is appended with "subject must be empty", so a second run
//! (or an address a subscription created meanwhile) is reported as already
//! present instead of stored twice. Rows are normalised and encoded on
//! worker threads and come back in file order; appends are pipelined: acks
//! are awaited in a window, not one by one.

use async_nats::jetstream::context::PublishError;
use async_nats::jetstream::publish::PublishAck;
use futures::stream::{FuturesUnordered, StreamExt};
use masthead_domain::base_address::{self, AddressFlag, AddressSource, BaseAddressEvent, BaseAddressRegistered};
use masthead_domain::country::Country;
use masthead_domain::envelope::CommandMeta;
use masthead_domain::AddressLines;
use masthead_jetstream::store::{is_conflict, EventStore};
use masthead_matching::matcher::address_book::fold_ref;
use masthead_matching::matcher::convert::canonical_address;
use masthead_matching::matcher::keys::ensure_current_keys;
use masthead_matching::{normalize, AddressInput};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Abort at the first broken line instead of skipping it.
    pub strict: bool,
    /// Appends awaiting their ack at once.
    pub in_flight: usize,
    /// Threads normalising and encoding rows.
    pub workers: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self { strict: false, in_flight: 1024, workers: workers_default() }
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
    /// Those rows, each with the earlier row it repeats: not imported, so
    /// a `ref` on it is not kept either.
    pub duplicate_rows: Vec<SameAs>,
    /// Rows whose `ref` an earlier row of the file has too (case and
    /// invisible characters aside). Both are imported: a file's references
    /// are taken as they are, and the team decides.
    pub shared_refs: Vec<SameAs>,
    /// Imported rows that lack a field (legacy data), flagged for review.
    pub flagged: u64,
    pub skipped: Vec<LineError>,
    pub elapsed: Duration,
}

/// A row of the file and the earlier row it shares something with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SameAs {
    pub line: u64,
    pub earlier_line: u64,
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
    /// Addresses registered by an older normaliser could not be given
    /// their current keys first, so nothing was imported. Retry (the work
    /// is idempotent); its source says what failed.
    #[error("bringing base-address keys up to date: {0}")]
    Keys(#[from] masthead_matching::matcher::keys::KeysError),
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

/// A message exactly as the import publishes it.
pub struct Outgoing {
    pub subject: String,
    pub headers: async_nats::HeaderMap,
    pub payload: bytes::Bytes,
}

/// A row ready to publish, or why it is not.
enum Prepared {
    Broken(LineError),
    Ready {
        /// Derived from the canonical key: equal ids are the same address.
        id: uuid::Uuid,
        line: u64,
        /// The row's `ref`, folded for comparison.
        reference: Option<String>,
        message: Outgoing,
        flagged: bool,
    },
}

/// Normalises one row and encodes its event as `EventStore::append` would,
/// after "subject must be empty".
fn prepare_row(row: ParsedRow, file: &str, store: &EventStore, meta: &CommandMeta) -> Result<Prepared, ImportError> {
    let line = row.as_ref().map_or(0, |(line, _)| *line);
    let event = match row.and_then(|(line, raw)| row_to_event(raw, line, file)) {
        Ok(event) => event,
        Err(e) => return Ok(Prepared::Broken(e)),
    };
    let id = event.base_address_id;
    let flagged = !event.flags.is_empty();
    let reference = event.reference.as_deref().map(fold_ref);
    let (subject, headers, payload, _) = store
        .encode_append(&id.to_string(), 0, 1, &BaseAddressEvent::BaseAddressRegistered(event), meta)
        .map_err(|e| ImportError::Format(e.to_string()))?;
    Ok(Prepared::Ready { id, line, reference, message: Outgoing { subject, headers, payload }, flagged })
}

/// No idempotency key, so no `Nats-Msg-Id`: "subject must be empty"
/// already makes every append idempotent, for good rather than for the
/// server's two-minute dedup window, and a million-row import would
/// otherwise fill that window with a million ids.
fn import_meta() -> CommandMeta {
    CommandMeta::default()
}

/// Rows prepared together: one channel message and one progress step, so
/// that neither costs anything per row.
const CHUNK_ROWS: usize = 512;
/// Prepared chunks each worker may run ahead of the publisher.
const CHUNKS_AHEAD: usize = 4;

/// Prepared chunks in file order, from workers that prepare in parallel.
///
/// Chunk `i` goes to worker `i % workers` and comes back on that worker's
/// channel, so reading the channels in turn restores file order with no
/// reorder buffer, and each worker runs at most `CHUNKS_AHEAD` chunks ahead.
/// In-file dedup ("first row wins"), line-numbered errors and `--strict`
/// all rely on that order.
struct InOrder<T> {
    channels: Vec<tokio::sync::mpsc::Receiver<Result<Vec<T>, ImportError>>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    next: usize,
    chunks: usize,
}

impl<T: Send + 'static> InOrder<T> {
    fn spawn<F>(rows: Vec<ParsedRow>, workers: usize, chunk_rows: usize, prepare: F) -> Self
    where
        F: Fn(ParsedRow) -> Result<T, ImportError> + Send + Sync + 'static,
    {
        let workers = workers.max(1);
        let chunk_rows = chunk_rows.max(1);
        let chunks = rows.len().div_ceil(chunk_rows);
        let mut dealt: Vec<Vec<Vec<ParsedRow>>> = (0..workers).map(|_| Vec::new()).collect();
        let mut rows = rows.into_iter();
        for i in 0..chunks {
            dealt[i % workers].push(rows.by_ref().take(chunk_rows).collect());
        }
        let prepare = std::sync::Arc::new(prepare);
        let mut channels = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for mine in dealt {
            let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
            let prepare = prepare.clone();
            handles.push(tokio::task::spawn_blocking(move || {
                for chunk in mine {
                    let prepared: Result<Vec<T>, ImportError> = chunk.into_iter().map(&*prepare).collect();
                    let failed = prepared.is_err();
                    // The receiver is gone when the import stopped early
                    // (--strict, store unavailable): stop preparing.
                    if tx.blocking_send(prepared).is_err() || failed {
                        return;
                    }
                }
            }));
            channels.push(rx);
        }
        Self { channels, workers: handles, next: 0, chunks }
    }

    /// The next chunk in file order; `None` after the last one.
    async fn next(&mut self) -> Option<Result<Vec<T>, ImportError>> {
        if self.next >= self.chunks {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let channel = self.channels.len();
        if let Some(chunk) = self.channels[i % channel].recv().await {
            return Some(chunk);
        }
        // A worker hung up before delivering its chunk: it panicked. Hang
        // up on the others first, or one blocked on a full channel would
        // never finish.
        let chunks = std::mem::take(&mut self.chunks);
        self.channels.clear();
        for handle in std::mem::take(&mut self.workers) {
            if let Err(e) = handle.await {
                return Some(Err(ImportError::Format(format!("preparing rows failed: {e}"))));
            }
        }
        Some(Err(ImportError::Format(format!("preparing rows stopped before chunk {i} of {chunks}"))))
    }
}

fn workers_default() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Encodes every importable row of a file as the import would publish it
/// (broken rows and repeats within the file left out): the bench publishes
/// these to measure the ceiling the import is compared with.
pub fn encode_file(store: &EventStore, path: &Path) -> Result<Vec<Outgoing>, ImportError> {
    let rows = read_rows(path)?;
    let file = file_label(path);
    let meta = import_meta();
    let mut seen = HashSet::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Prepared::Ready { id, message, .. } = prepare_row(row, &file, store, &meta)? {
            if seen.insert(id) {
                out.push(message);
            }
        }
    }
    Ok(out)
}

fn file_label(path: &Path) -> String {
    path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
}

/// What an import reports while it runs, for a progress display.
#[derive(Debug)]
pub enum Progress<'a> {
    /// The file is read: this many rows to go.
    Started { rows: u64 },
    /// This many more rows are done (published or left out).
    Advanced { rows: u64 },
    /// A broken line, skipped (without `--strict`).
    Skipped(&'a LineError),
}

/// Settles acknowledgements into the report.
fn settle(
    store: &EventStore,
    subject: &str,
    result: Result<PublishAck, PublishError>,
    report: &mut ImportReport,
) -> Result<(), ImportError> {
    match result {
        Ok(ack) if !ack.duplicate => report.imported += 1,
        // Stored before: by an earlier run or by the matcher (a conflict
        // below; a duplicate ack only if a caller gave the message an id).
        Ok(_) => report.already_present += 1,
        Err(e) if is_conflict(&e) => report.already_present += 1,
        Err(e) => {
            return Err(ImportError::Unavailable {
                imported: report.imported,
                message: store.classify_publish_error(subject, &e).to_string(),
            })
        }
    }
    Ok(())
}

/// Imports a file. Rows are prepared in parallel, published in file order
/// with `options.in_flight` acknowledgements awaited at once; `progress`
/// hears about every chunk and every skipped line.
pub async fn import(
    store: &EventStore,
    path: &Path,
    options: &ImportOptions,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let rows = read_rows(path)?;
    // Rows are registered by the id their current key derives; addresses
    // registered by an older normaliser must hold that id first.
    ensure_current_keys(store.jetstream(), store.topology()).await?;
    let total = rows.len();
    progress(Progress::Started { rows: total as u64 });
    // Normalising and encoding is CPU work; publishing is mostly waiting on
    // acks. Workers prepare chunks in parallel while this task keeps a
    // window of publishes in flight.
    let mut chunks = {
        let (file, store, meta) = (file_label(path), store.clone(), import_meta());
        InOrder::spawn(rows, options.workers, CHUNK_ROWS, move |row| prepare_row(row, &file, &store, &meta))
    };
    let mut report = ImportReport::default();
    let js = store.jetstream();
    let mut pending = FuturesUnordered::new();
    // Ids, not keys: an id is derived from the canonical key alone. Each
    // with the line that brought it, as each folded `ref`.
    let mut seen: HashMap<uuid::Uuid, u64> = HashMap::with_capacity(total);
    let mut refs: HashMap<String, u64> = HashMap::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        let rows_in_chunk = chunk.len() as u64;
        for item in chunk {
            report.rows += 1;
            let (message, flagged) = match item {
                Prepared::Broken(e) if options.strict => return Err(ImportError::Strict(e)),
                Prepared::Broken(e) => {
                    progress(Progress::Skipped(&e));
                    report.skipped.push(e);
                    continue;
                }
                Prepared::Ready { id, line, reference, message, flagged } => {
                    if let Some(&earlier_line) = seen.get(&id) {
                        report.duplicates_in_file += 1;
                        report.duplicate_rows.push(SameAs { line, earlier_line });
                        continue;
                    }
                    seen.insert(id, line);
                    if let Some(r) = reference {
                        match refs.get(&r) {
                            Some(&earlier_line) => report.shared_refs.push(SameAs { line, earlier_line }),
                            None => {
                                refs.insert(r, line);
                            }
                        }
                    }
                    (message, flagged)
                }
            };
            report.flagged += u64::from(flagged);
            let Outgoing { subject, headers, payload } = message;
            match js.publish_with_headers(subject.clone(), headers, payload).await {
                // The ack future has its own timeout (the context's).
                Ok(ack) => pending.push(async move { (subject, ack.await) }),
                Err(e) => settle(store, &subject, Err(e), &mut report)?,
            }
            while pending.len() >= options.in_flight {
                if let Some((subject, result)) = pending.next().await {
                    settle(store, &subject, result, &mut report)?;
                }
            }
        }
        progress(Progress::Advanced { rows: rows_in_chunk });
    }
    while let Some((subject, result)) = pending.next().await {
        settle(store, &subject, result, &mut report)?;
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: u64) -> Vec<ParsedRow> {
        (1..=n).map(|line| Ok((line, RawRow::default()))).collect()
    }

    fn line_of(row: ParsedRow) -> Result<u64, ImportError> {
        let (line, _) = row.map_err(|e| ImportError::Format(e.to_string()))?;
        // Uneven work, so that workers finish their chunks out of order.
        if line % 7 == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(line)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_preparation_delivers_rows_in_file_order() {
        for (workers, chunk) in [(1, 5), (3, 1), (3, 7), (4, 64), (8, 1000)] {
            let mut chunks = InOrder::spawn(rows(1000), workers, chunk, line_of);
            let mut seen = Vec::new();
            while let Some(c) = chunks.next().await {
                seen.extend(c.expect("chunk"));
            }
            assert_eq!(seen, (1..=1000).collect::<Vec<_>>(), "{workers} workers, chunks of {chunk}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn workers_stop_when_the_import_stops_early() {
        let mut chunks = InOrder::spawn(rows(100_000), 3, 10, line_of);
        let first = chunks.next().await.expect("a chunk").expect("prepared");
        assert_eq!(first, (1..=10).collect::<Vec<_>>());
        let workers = std::mem::take(&mut chunks.workers);
        drop(chunks);
        let all = futures::future::join_all(workers);
        tokio::time::timeout(Duration::from_secs(10), all).await.expect("workers stopped");
    }

    /// The lines delivered before the first error, and that error.
    async fn until_error(mut chunks: InOrder<u64>) -> (Vec<u64>, ImportError) {
        let mut got = Vec::new();
        loop {
            match chunks.next().await.expect("an error before the end") {
                Ok(c) => got.extend(c),
                Err(e) => return (got, e),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_or_panicking_worker_is_an_error_not_a_short_import() {
        let chunks = InOrder::spawn(rows(100), 2, 10, |row: ParsedRow| {
            let line = line_of(row)?;
            if line == 55 {
                return Err(ImportError::Format("cannot encode".into()));
            }
            Ok(line)
        });
        let (got, error) = until_error(chunks).await;
        assert_eq!(got, (1..=50).collect::<Vec<_>>());
        assert!(error.to_string().contains("cannot encode"), "{error}");

        // Many rows: the other worker fills its channel and must be told to
        // stop, or waiting for it would hang.
        let chunks = InOrder::spawn(rows(100_000), 2, 10, |row: ParsedRow| {
            let line = line_of(row)?;
            assert_ne!(line, 35, "a bug in preparation");
            Ok(line)
        });
        let (got, error) = tokio::time::timeout(Duration::from_secs(20), until_error(chunks)).await.expect("no hang");
        assert_eq!(got, (1..=30).collect::<Vec<_>>());
        assert!(error.to_string().contains("preparing rows"), "{error}");
    }
}
