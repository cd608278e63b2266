//! A small closed-loop HTTP load generator: N connections, each sending the
//! next request as soon as the previous answer arrived, for a fixed time.

use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct LoadReport {
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl LoadReport {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// How to build the i-th request.
pub type RequestFactory = Arc<dyn Fn(&reqwest::Client, u64) -> reqwest::RequestBuilder + Send + Sync>;

pub async fn run(connections: usize, duration: Duration, ok_status: u16, make: RequestFactory) -> LoadReport {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..connections {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            // One client per connection keeps exactly one keep-alive socket each.
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap_or_default();
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()));
            let (mut ok, mut errors, mut i) = (0u64, 0u64, c as u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                match make(&client, i).send().await {
                    Ok(r) if r.status().as_u16() == ok_status => {
                        let _ = r.bytes().await;
                        ok += 1;
                        let _ = hist.record(t.elapsed().as_micros() as u64);
                    }
                    _ => errors += 1,
                }
                i += connections as u64;
            }
            (hist, ok, errors)
        }));
    }
    collect(tasks, started).await
}

/// One worker's latencies (µs) and its ok/error counts.
pub type WorkerResult = (Histogram<u64>, u64, u64);

/// Merges the workers' results into one report.
pub async fn collect(tasks: Vec<tokio::task::JoinHandle<WorkerResult>>, started: Instant) -> LoadReport {
    let mut total = Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable!());
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        if let Ok((h, o, e)) = t.await {
            let _ = total.add(h);
            ok += o;
            errors += e;
        }
    }
    LoadReport {
        requests: ok + errors,
        ok,
        errors,
        elapsed: started.elapsed(),
        p50: Duration::from_micros(total.value_at_quantile(0.5)),
        p99: Duration::from_micros(total.value_at_quantile(0.99)),
        max: Duration::from_micros(total.max()),
    }
}

pub fn print_row(label: &str, r: &LoadReport) {
    println!(
        "{label:<34} {:>10.0} req/s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   errors {}",
        r.per_second(),
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
        r.max.as_secs_f64() * 1e3,
        r.errors
    );
}
