//! Small helpers the benches share: latency histograms, their printing,
//! the load average, and a generated base list as an import file.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use masthead_testdata::addresses::BaseAddress;
use std::time::Duration;

/// Microseconds from 1 µs to 10 minutes, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// Records `d` in microseconds (at least 1).
pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let _ = h.record((d.as_micros() as u64).max(1));
}

/// Records the wall-clock time from `from` to `to`, clamped at 0: stages on
/// the same clock, but timestamps are taken just before or after the I/O
/// they describe.
pub fn record_wall(h: &mut Histogram<u64>, from: DateTime<Utc>, to: DateTime<Utc>) {
    let us = (to - from).num_microseconds().unwrap_or(0).max(0) as u64;
    let _ = h.record(us.max(1));
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// "p50 … ms  p99 … ms  max … ms  (n=…)"
pub fn spread(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "        (none)".to_owned();
    }
    format!(
        "p50 {:>8.1} ms  p99 {:>8.1} ms  max {:>8.1} ms  (n={})",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
        h.len()
    )
}

/// The machine's 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Writes a generated base list as an import CSV, with publisher refs
/// `PUB-0000001`, … in list order.
pub fn write_base_csv(path: &std::path::Path, rows: &[BaseAddress]) -> Result<()> {
    let mut w = csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    w.write_record(["ref", "street", "postal_code", "city", "country"])?;
    for (i, BaseAddress { address: a, .. }) in rows.iter().enumerate() {
        w.write_record([&format!("PUB-{:07}", i + 1), &a.street, &a.postal_code, &a.city, &a.country])?;
    }
    w.flush()?;
    Ok(())
}

/// A bench stream's name: `prefix` and this process's id, so that runs
/// against a shared server never meet.
pub fn stream_name(prefix: &str) -> String {
    format!("{prefix}{}", std::process::id())
}
