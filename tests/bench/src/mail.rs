//! `masthead-bench mail`: confirmations sent to a real SMTP server
//! (the test-support one, mailin-embedded) running in this process: mails
//! per second and per-send latency.
//!
//! Each send goes through `Mailer::deliver`, as the mailer consumer calls
//! it: render both parts, build the MIME message, take a pooled connection
//! (NOOP check), MAIL/RCPT/DATA, classify. The same-run baseline sends as
//! many mails composed beforehand through the same mailer's `send` at the
//! same concurrency: the transport and the server alone.

use crate::cpu_meter::{us_per, CpuMeter};
use anyhow::Result;
use futures::stream::{self, StreamExt};
use masthead_domain::personal_data::{PersonalData, SealedPersonalData};
use masthead_domain::{AddressLines, Country};
use masthead_mailer::{Confirmation, MailSettings, Mailer, MailerConfig, OutgoingMail, RetryPolicy, SendOutcome};
use masthead_test_support::TestSmtp;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// What one pass measured.
struct Pass {
    sent: usize,
    elapsed: Duration,
    /// Sorted.
    latencies: Vec<Duration>,
    cpu_us: Option<f64>,
}

impl Pass {
    fn per_second(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn print(&self, label: &str) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{label:<36} {:>7.0} mails/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms   CPU {} per mail (client and server)",
            self.per_second(),
            ms(percentile(&self.latencies, 50.0)),
            ms(percentile(&self.latencies, 99.0)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.cpu_us.map_or("?".into(), |us| format!("{us:.0} µs"))
        );
    }
}

/// Runs `send` for `0..count` with `concurrency` in flight; `send` answers
/// whether the mail went out.
async fn pass<F, Fut>(count: usize, concurrency: usize, send: F) -> Pass
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let meter = CpuMeter::start(None, None);
    let started = Instant::now();
    let results: Vec<(Duration, bool)> = stream::iter(0..count)
        .map(|i| {
            let sent = send(i);
            async move {
                let t = Instant::now();
                let ok = sent.await;
                (t.elapsed(), ok)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let cpu_us = us_per(meter.stop().process, count as u64);
    let sent = results.iter().filter(|(_, ok)| *ok).count();
    let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    Pass { sent, elapsed, latencies, cpu_us }
}

fn mailer(port: u16, concurrency: usize, dir: &std::path::Path) -> Result<Mailer> {
    let url = format!("smtp://127.0.0.1:{port}?pool={concurrency}");
    let settings = MailSettings {
        smtp_url: Some(&url),
        smtp_username: None,
        smtp_password: None,
        from: "Masthead <no-reply@masthead.invalid>",
        contact: "service@masthead.invalid",
        retry: RetryPolicy::doubling(Duration::from_secs(1), Duration::from_secs(60), 10),
    };
    Ok(Mailer::from_config(MailerConfig::new(settings, dir)?)?)
}

fn confirmation(i: usize) -> Result<Confirmation> {
    let delivery_address = AddressLines {
        street: "Kerkstraat 12".into(),
        postal_code: Some("3511 LX".into()),
        city: Some("Utrecht".into()),
        country: Some(Country::parse("NL")?),
    };
    let subscriber = SealedPersonalData {
        alg: "none".into(),
        key_id: "bench".into(),
        nonce: String::new(),
        ciphertext: String::new(),
    };
    Ok(Confirmation { subscription_id: Uuid::from_u128(i as u128 + 1), delivery_address, subscriber })
}

/// `count` confirmations, composed, for subscriptions `first + 1`, ….
fn compose(mailer: &Mailer, who: &PersonalData, first: usize, count: usize) -> Result<Vec<OutgoingMail>> {
    (first..first + count).map(|i| Ok(mailer.compose(&confirmation(i)?, who, chrono::Utc::now())?)).collect()
}

pub async fn run(mails: usize, concurrency: usize) -> Result<()> {
    let concurrency = concurrency.max(1);
    let dir = tempfile::tempdir()?;
    let smtp = TestSmtp::serve(TcpListener::bind("127.0.0.1:0")?, u32::try_from(concurrency + 4)?);
    let mailer = mailer(smtp.port(), concurrency, dir.path())?;
    let who = PersonalData { name: "Anna de Vries".into(), email: "anna@example.org".into() };
    let confirmations = (0..mails).map(confirmation).collect::<Result<Vec<_>>>()?;
    // Both passes find the pool's connections open.
    let warm_up = 2 * concurrency;
    let composed = compose(&mailer, &who, 2 * mails, warm_up)?;
    let warmed = pass(warm_up, concurrency, |i| {
        let (mailer, mail) = (&mailer, &composed[i]);
        async move { mailer.send(mail).await.is_ok() }
    })
    .await;
    anyhow::ensure!(warmed.sent == warm_up, "warming up the SMTP pool failed");

    let deliver = pass(mails, concurrency, |i| {
        let (mailer, who, c) = (&mailer, &who, &confirmations[i]);
        async move {
            let outcome = mailer.deliver(c, who, mailer.retry_policy().attempt(1)).await;
            matches!(outcome, SendOutcome::Sent { .. })
        }
    })
    .await;
    let delivered = smtp.count() - warm_up;

    // The baseline: as many mails, composed before the clock starts.
    let composed = compose(&mailer, &who, mails, mails)?;
    let transport = pass(mails, concurrency, |i| {
        let (mailer, mail) = (&mailer, &composed[i]);
        async move { mailer.send(mail).await.is_ok() }
    })
    .await;

    println!("mails:        {mails} per pass ({} sent, {delivered} received by the server)", deliver.sent);
    println!("concurrency:  {concurrency} (pool {concurrency}, warmed up with {warm_up} mails first)");
    println!("elapsed:      {:.3} s", deliver.elapsed.as_secs_f64());
    println!("throughput:   {:.0} mails/s", deliver.per_second());
    println!("latency p50:  {:.2} ms", percentile(&deliver.latencies, 50.0).as_secs_f64() * 1e3);
    println!("latency p99:  {:.2} ms", percentile(&deliver.latencies, 99.0).as_secs_f64() * 1e3);
    println!("latency max:  {:.2} ms", deliver.latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3);
    println!();
    deliver.print("Mailer::deliver (compose + send)");
    transport.print("pre-composed, Mailer::send (baseline)");
    println!(
        "deliver / pre-composed send = {:.1} %   (goal >= 500 mails/s)",
        100.0 * deliver.per_second() / transport.per_second().max(1e-9)
    );
    let failed = (mails - deliver.sent) + (mails - transport.sent);
    anyhow::ensure!(failed == 0, "{failed} sends failed");
    Ok(())
}
