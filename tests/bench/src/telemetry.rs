//! Counters the system records through the `metrics` facade, read back
//! from the process's Prometheus recorder (`masthead_telemetry::metrics`),
//! which `main` installs before anything records.

use std::collections::BTreeMap;

/// The value of one series (`name{labels}` exactly as rendered), 0 when
/// it has not been recorded yet.
fn series(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok()).unwrap_or(0.0)
}

/// `masthead_data_key_pool_misses_total`: seals that found the data-key
/// pool empty and wrote a key page on the request path.
pub fn pool_misses() -> u64 {
    series(&masthead_telemetry::metrics::render(), "masthead_data_key_pool_misses_total") as u64
}

/// `masthead_match_duration_seconds` of the in-process matcher: (count,
/// sum) per outcome.
pub fn matcher_service() -> BTreeMap<&'static str, (u64, f64)> {
    let text = masthead_telemetry::metrics::render();
    let mut out = BTreeMap::new();
    for outcome in ["matched", "new"] {
        let label = format!("{{outcome=\"{outcome}\"}}");
        let count = series(&text, &format!("masthead_match_duration_seconds_count{label}"));
        let sum = series(&text, &format!("masthead_match_duration_seconds_sum{label}"));
        out.insert(outcome, (count as u64, sum));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_labelled_and_plain_series() {
        let text = "# TYPE x counter\nmasthead_data_key_pool_misses_total 3\n\
                    masthead_match_duration_seconds_sum{outcome=\"matched\"} 0.25\n\
                    masthead_match_duration_seconds_count{outcome=\"matched\"} 10\n";
        assert_eq!(series(text, "masthead_data_key_pool_misses_total"), 3.0);
        assert_eq!(series(text, "masthead_match_duration_seconds_sum{outcome=\"matched\"}"), 0.25);
        assert_eq!(series(text, "masthead_match_duration_seconds_count{outcome=\"matched\"}"), 10.0);
        assert_eq!(series(text, "masthead_match_duration_seconds_count{outcome=\"new\"}"), 0.0);
    }
}
