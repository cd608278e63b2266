//! CPU time spent during one measured phase of a bench: by this process,
//! by a named group of its threads, and by the nats-server the bench
//! started. Rates move with whatever else the machine runs; CPU per unit of
//! work much less, so the benches print both.

use masthead_test_support::cpu::{process_cpu, threads_cpu};
use std::time::Duration;

/// CPU spent, or used so far; `None` where it could not be read (or, for
/// `threads` and `nats`, was not asked for).
#[derive(Clone, Copy, Default)]
pub struct Spent {
    /// This whole process.
    pub process: Option<Duration>,
    /// This process's threads whose names start with the meter's prefix.
    pub threads: Option<Duration>,
    /// The nats-server the bench started; a shared one is not measured.
    pub nats: Option<Duration>,
}

impl Spent {
    /// This process less its named threads.
    pub fn other_threads(&self) -> Option<Duration> {
        Some(self.process?.saturating_sub(self.threads?))
    }
}

/// Microseconds of `spent` per unit of work.
pub fn us_per(spent: Option<Duration>, units: u64) -> Option<f64> {
    spent.map(|d| d.as_secs_f64() * 1e6 / units.max(1) as f64)
}

pub struct CpuMeter {
    nats_pid: Option<String>,
    threads: Option<&'static str>,
    start: Spent,
}

impl CpuMeter {
    /// Starts measuring this process, its threads named `threads…` if given,
    /// and nats-server `nats_pid` if given.
    pub fn start(nats_pid: Option<u32>, threads: Option<&'static str>) -> Self {
        let nats_pid = nats_pid.map(|p| p.to_string());
        let start = read(nats_pid.as_deref(), threads);
        Self { nats_pid, threads, start }
    }

    /// What was spent since `start`. Take it while the named threads still
    /// live: threads that have exited are no longer counted.
    pub fn stop(&self) -> Spent {
        let now = read(self.nats_pid.as_deref(), self.threads);
        let diff = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
        Spent {
            process: diff(self.start.process, now.process),
            threads: diff(self.start.threads, now.threads),
            nats: diff(self.start.nats, now.nats),
        }
    }
}

fn read(nats_pid: Option<&str>, threads: Option<&str>) -> Spent {
    Spent {
        process: process_cpu("self"),
        threads: threads.and_then(|prefix| threads_cpu("self", prefix)),
        nats: nats_pid.and_then(process_cpu),
    }
}
