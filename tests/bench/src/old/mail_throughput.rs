//! Sends confirmations to a real SMTP server (mailin-embedded) running in
//! this process, and reports mails per second and per-send latency.
//!
//! ```text
//! cargo run -p masthead-mailer --release --example throughput -- --mails 5000 --concurrency 32
//! ```
//!
//! Each send goes through `Mailer::deliver`, as the consumer calls it:
//! render both parts, build the MIME message, take a pooled connection
//! (NOOP check), MAIL/RCPT/DATA, classify.

use futures::stream::{self, StreamExt};
use mailin_embedded::response::OK;
use mailin_embedded::{Handler, Response, Server, SslConfig};
use masthead_events::personal_data::{PersonalData, SealedPersonalData};
use masthead_events::{AddressLines, Country};
use masthead_mailer::{Confirmation, Mailer, RetryPolicy, SendOutcome, Sender, SmtpConfig, SmtpTransport};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Clone)]
struct Counter(Arc<AtomicUsize>);

impl Handler for Counter {
    fn data_end(&mut self) -> Response {
        self.0.fetch_add(1, Ordering::Relaxed);
        OK
    }
}

fn arg(name: &str, default: usize) -> Result<usize, String> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).ok_or_else(|| format!("{name} needs a number")),
        None => Ok(default),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mails = arg("--mails", 5000)?;
    let concurrency = arg("--concurrency", 32)?.max(1);

    let received = Arc::new(AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut server = Server::new(Counter(Arc::clone(&received)));
    server.with_name("bench.invalid").with_num_threads(u32::try_from(concurrency + 4)?).with_tcp_listener(listener);
    server.with_ssl(SslConfig::None)?;
    std::thread::spawn(move || {
        let _ = server.serve();
    });

    let smtp =
        SmtpConfig { pool: u32::try_from(concurrency)?, ..SmtpConfig::from_url(&format!("smtp://127.0.0.1:{port}"))? };
    let sender =
        Sender { from: "Masthead <no-reply@masthead.invalid>".parse()?, contact: "service@masthead.invalid".into() };
    let mailer = Mailer::new(Arc::new(SmtpTransport::new(&smtp)?), sender, RetryPolicy::default());
    let who = PersonalData { name: "Anna de Vries".into(), email: "anna@example.org".into() };
    let address = AddressLines {
        street: "Kerkstraat 12".into(),
        postal_code: Some("3511 LX".into()),
        city: Some("Utrecht".into()),
        country: Some(Country::parse("NL")?),
    };
    let sealed = SealedPersonalData {
        alg: "none".into(),
        key_id: "bench".into(),
        nonce: String::new(),
        ciphertext: String::new(),
    };

    let started = Instant::now();
    let results: Vec<(Duration, bool)> = stream::iter(0..mails)
        .map(|i| {
            let mailer = mailer.clone();
            let c = Confirmation {
                subscription_id: Uuid::from_u128(i as u128 + 1),
                delivery_address: address.clone(),
                subscriber: sealed.clone(),
            };
            let who = who.clone();
            async move {
                let t = Instant::now();
                let outcome = mailer.deliver(&c, &who, mailer.retry_policy().attempt(1)).await;
                (t.elapsed(), matches!(outcome, SendOutcome::Sent { .. }))
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();

    let sent = results.iter().filter(|(_, ok)| *ok).count();
    let mut latencies: Vec<Duration> = results.iter().map(|(d, _)| *d).collect();
    latencies.sort();
    println!("mails:        {mails} ({sent} sent, {} received by the server)", received.load(Ordering::Relaxed));
    println!("concurrency:  {concurrency} (pool {concurrency})");
    println!("elapsed:      {:.3} s", elapsed.as_secs_f64());
    println!("throughput:   {:.0} mails/s", sent as f64 / elapsed.as_secs_f64());
    println!("latency p50:  {:.2} ms", percentile(&latencies, 50.0).as_secs_f64() * 1e3);
    println!("latency p99:  {:.2} ms", percentile(&latencies, 99.0).as_secs_f64() * 1e3);
    println!("latency max:  {:.2} ms", latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3);
    if sent != mails {
        return Err(format!("{} sends failed", mails - sent).into());
    }
    Ok(())
}
