//! Bench commands that print figures. Each measures its subject beside a
//! baseline in the same run, because these machines are shared and noisy:
//! ratios are comparable across runs, absolute numbers are not.

pub mod cpu_meter;
pub mod e2e;
pub mod import;
pub mod intake;
pub mod load;
pub mod server;

use anyhow::{Context, Result};
use masthead_matching::eval::BaseAddress;

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
