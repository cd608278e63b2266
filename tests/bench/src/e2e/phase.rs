//! One measured phase: subscriptions offered open-loop at a fixed rate,
//! followed until each is confirmed, and what it shows.

use super::observer::{sample_lag, LagMax, Timelines};
use super::sink::{lock, SinkState};
use super::workload::{Kind, Planned};
use crate::report::{histogram, record, record_wall, spread};
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use masthead::system::Nats;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

struct Submitted {
    index: usize,
    status: u16,
    id: Option<String>,
    at: Instant,
    at_wall: DateTime<Utc>,
    answered: Instant,
    /// How late the request left against its schedule.
    slip: Duration,
}

fn email(phase: usize, index: usize) -> String {
    format!("e2e{phase}.{index}@example.org")
}

/// Offers `plan[range]` open-loop at `rate` per second.
async fn offer(
    client: &reqwest::Client,
    url: &str,
    plan: &Arc<Vec<Planned>>,
    range: std::ops::Range<usize>,
    phase: usize,
    rate: f64,
    max_in_flight: usize,
) -> (Instant, Vec<Submitted>) {
    let limit = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let t0 = Instant::now() + Duration::from_millis(20);
    let mut tasks = Vec::with_capacity(range.len());
    for (k, index) in range.enumerate() {
        let due = t0 + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        // Only the in-flight bound can hold a request back; the report
        // shows that as slip.
        let Ok(permit) = limit.clone().acquire_owned().await else { break };
        let (client, url, plan) = (client.clone(), url.to_owned(), plan.clone());
        tasks.push(tokio::spawn(async move {
            let a = &plan[index].address;
            let body = serde_json::json!({
                "name": format!("E2E Subscriber {index}"),
                "email": email(phase, index),
                "street": a.street,
                "postal_code": a.postal_code,
                "city": a.city,
                "country": a.country,
            });
            let (at, at_wall) = (Instant::now(), Utc::now());
            let slip = at.saturating_duration_since(due);
            let (status, id) = match client.post(&url).json(&body).send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let id = match r.json::<serde_json::Value>().await {
                        Ok(v) if status == 202 => v.get("id").and_then(|i| i.as_str()).map(str::to_owned),
                        _ => None,
                    };
                    (status, id)
                }
                Err(_) => (0, None),
            };
            drop(permit);
            Submitted { index, status, id, at, at_wall, answered: Instant::now(), slip }
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(s) = t.await {
            out.push(s);
        }
    }
    (t0, out)
}

pub struct Phase {
    pub label: &'static str,
    pub rate: f64,
    pub offered: usize,
    pub accepted: usize,
    pub refused: BTreeMap<u16, usize>,
    /// From the first due time to the last answer.
    pub submit_span: Duration,
    pub max_slip: Duration,
    pub late: usize,
    pub completed: usize,
    pub failed: usize,
    /// From the first due time to the last confirmation seen.
    pub complete_span: Duration,
    pub http: Histogram<u64>,
    pub to_sent: Histogram<u64>,
    pub to_smtp: Histogram<u64>,
    pub intake: Histogram<u64>,
    pub to_decision: HashMap<bool, Histogram<u64>>,
    pub mail: Histogram<u64>,
    pub observe: Histogram<u64>,
    pub kinds: BTreeMap<(Kind, bool), usize>,
    pub lag: BTreeMap<String, LagMax>,
    pub lag_samples: u64,
    pub service: BTreeMap<&'static str, (u64, f64)>,
    pub decision_span: Option<(usize, Duration)>,
}

impl Phase {
    pub fn accepted_per_s(&self) -> f64 {
        self.accepted as f64 / self.submit_span.as_secs_f64().max(1e-9)
    }
    pub fn completed_per_s(&self) -> f64 {
        self.completed as f64 / self.complete_span.as_secs_f64().max(1e-9)
    }

    pub fn print(&self) {
        println!();
        println!("── {} (offered {:.0}/s, {} subscriptions)", self.label, self.rate, self.offered);
        let refused: Vec<String> = self
            .refused
            .iter()
            .map(|(s, n)| if *s == 0 { format!("{n}× no answer") } else { format!("{n}× {s}") })
            .collect();
        println!(
            "  accepted    {:>6}  {:>8.1}/s   refused {}   max slip {:.1} ms ({} requests > 10 ms late)",
            self.accepted,
            self.accepted_per_s(),
            if refused.is_empty() { "0".to_owned() } else { refused.join(", ") },
            self.max_slip.as_secs_f64() * 1e3,
            self.late
        );
        println!(
            "  confirmed   {:>6}  {:>8.1}/s   failed {}   incomplete {}",
            self.completed,
            self.completed_per_s(),
            self.failed,
            self.accepted.saturating_sub(self.completed + self.failed)
        );
        println!("  HTTP 202                      {}", spread(&self.http));
        println!("  submit → mail at SMTP server  {}", spread(&self.to_smtp));
        println!("  submit → ConfirmationSent     {}", spread(&self.to_sent));
        println!("  stages (event occurred_at):");
        println!("    submit → Requested          {}", spread(&self.intake));
        if let Some(h) = self.to_decision.get(&true) {
            println!("    Requested → Matched         {}", spread(h));
        }
        if let Some(h) = self.to_decision.get(&false) {
            println!("    Requested → Assigned (new)  {}", spread(h));
        }
        println!("    decided → ConfirmationSent  {}", spread(&self.mail));
        println!("    Sent → seen by observer     {}", spread(&self.observe));
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|((k, matched), n)| format!("{} → {} {n}", k.label(), if *matched { "matched" } else { "new" }))
            .collect();
        println!("  decisions   {}", kinds.join(", "));
        let service: Vec<String> = self
            .service
            .iter()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(o, (n, sum))| format!("{o} {:.2} ms mean (n={n})", sum * 1e3 / *n as f64))
            .collect();
        if !service.is_empty() {
            println!("  matcher service time per decision (masthead_match_duration_seconds): {}", service.join(", "));
        }
        if let Some((n, span)) = self.decision_span {
            println!(
                "  matcher decisions/s over the phase: {:.0} ({n} decisions in {:.2} s)",
                n as f64 / span.as_secs_f64().max(1e-9),
                span.as_secs_f64()
            );
        }
        let lag: Vec<String> = self
            .lag
            .iter()
            .map(|(c, l)| {
                let unknown = if l.unknown > 0 { format!(", {} unknown", l.unknown) } else { String::new() };
                format!("{c} {} (+{} unacked{unknown})", l.pending, l.ack_pending)
            })
            .collect();
        println!("  max lag     {}   ({} samples, 500 ms apart)", lag.join("   "), self.lag_samples);
    }
}

pub struct Env<'a> {
    pub nats: &'a Nats,
    pub client: reqwest::Client,
    pub url: String,
    pub plan: Arc<Vec<Planned>>,
    pub timelines: Timelines,
    pub sink: Arc<SinkState>,
    pub max_in_flight: usize,
    pub drain: Duration,
}

pub async fn run_phase(
    env: &Env<'_>,
    label: &'static str,
    phase: usize,
    range: std::ops::Range<usize>,
    rate: f64,
) -> Phase {
    let service_before = crate::telemetry::matcher_service();
    let stop_lag = CancellationToken::new();
    let lag_task = sample_lag(env.nats, stop_lag.clone());
    let offered = range.len();
    let (t0, submitted) = offer(&env.client, &env.url, &env.plan, range, phase, rate, env.max_in_flight).await;
    let last_answer = submitted.iter().map(|s| s.answered).max().unwrap_or(t0);

    let mut refused = BTreeMap::new();
    let mut accepted = Vec::new();
    let mut http = histogram();
    let (mut max_slip, mut late) = (Duration::ZERO, 0);
    for s in submitted {
        max_slip = max_slip.max(s.slip);
        late += usize::from(s.slip > Duration::from_millis(10));
        match s.id.clone() {
            Some(id) if s.status == 202 => {
                record(&mut http, s.answered - s.at);
                accepted.push((id, s));
            }
            _ => *refused.entry(s.status).or_insert(0) += 1,
        }
    }

    // Wait for every accepted subscription's confirmation (or failure).
    let deadline = Instant::now() + env.drain;
    loop {
        let done = {
            let all = lock(&env.timelines);
            accepted.iter().filter(|(id, _)| all.get(id).is_some_and(|t| t.sent_seen.is_some() || t.failed)).count()
        };
        if done == accepted.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_lag.cancel();
    let (lag_samples, lag) = lag_task.await.unwrap_or_default();
    let service_after = crate::telemetry::matcher_service();
    let service = service_after
        .iter()
        .map(|(o, (n, sum))| {
            let (n0, sum0) = service_before.get(o).copied().unwrap_or_default();
            (*o, (n.saturating_sub(n0), sum - sum0))
        })
        .collect();

    let mut p = Phase {
        label,
        rate,
        offered,
        accepted: accepted.len(),
        refused,
        submit_span: last_answer.saturating_duration_since(t0),
        max_slip,
        late,
        completed: 0,
        failed: 0,
        complete_span: Duration::ZERO,
        http,
        to_sent: histogram(),
        to_smtp: histogram(),
        intake: histogram(),
        to_decision: HashMap::new(),
        mail: histogram(),
        observe: histogram(),
        kinds: BTreeMap::new(),
        lag,
        lag_samples,
        service,
        decision_span: None,
    };
    let all = lock(&env.timelines);
    let arrived = lock(&env.sink.arrived);
    let mut last_seen = t0;
    let mut decided: Vec<DateTime<Utc>> = Vec::new();
    for (id, s) in &accepted {
        let Some(t) = all.get(id) else { continue };
        if let Some(at) = arrived.get(&email(phase, s.index)) {
            record(&mut p.to_smtp, at.saturating_duration_since(s.at));
        }
        if let Some(r) = t.requested {
            record_wall(&mut p.intake, s.at_wall, r);
            if let Some(d) = t.decided {
                record_wall(p.to_decision.entry(t.matched).or_insert_with(histogram), r, d);
            }
        }
        if let Some(d) = t.decided {
            decided.push(d);
            *p.kinds.entry((env.plan[s.index].kind, t.matched)).or_insert(0) += 1;
            if let Some(sent) = t.sent {
                record_wall(&mut p.mail, d, sent);
            }
        }
        if let (Some(sent), Some(seen)) = (t.sent, t.sent_seen_wall) {
            record_wall(&mut p.observe, sent, seen);
        }
        if let Some(seen) = t.sent_seen {
            p.completed += 1;
            last_seen = last_seen.max(seen);
            record(&mut p.to_sent, seen.saturating_duration_since(s.at));
        } else if t.failed {
            p.failed += 1;
        }
    }
    p.complete_span = last_seen.saturating_duration_since(t0);
    decided.sort();
    if let (Some(first), Some(last)) = (decided.first(), decided.last()) {
        let span = (*last - *first).to_std().unwrap_or_default();
        if span > Duration::ZERO {
            p.decision_span = Some((decided.len(), span));
        }
    }
    p
}
