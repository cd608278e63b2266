//! The SMTP server the end-to-end bench's mailer sends to: accepts every
//! mail and notes, per recipient, when it arrived (on the bench's clock).

use anyhow::Result;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// SMTP connections the mailer keeps open to the local sink. A relay on the
/// same host takes this many; the default (8) is sized for remote relays
/// that throttle concurrent sessions.
pub const BENCH_SMTP_POOL: u32 = 32;

/// Accepts every mail and notes, per recipient, when it arrived.
#[derive(Default)]
pub struct SinkState {
    pub mails: AtomicU64,
    pub arrived: Mutex<HashMap<String, Instant>>,
}

#[derive(Clone)]
struct Sink {
    state: Arc<SinkState>,
    to: Vec<String>,
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl mailin_embedded::Handler for Sink {
    fn mail(&mut self, _ip: std::net::IpAddr, _domain: &str, _from: &str) -> mailin_embedded::Response {
        self.to.clear();
        mailin_embedded::response::OK
    }

    fn rcpt(&mut self, to: &str) -> mailin_embedded::Response {
        self.to.push(to.trim_matches(|c| c == '<' || c == '>').to_ascii_lowercase());
        mailin_embedded::response::OK
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let now = Instant::now();
        self.state.mails.fetch_add(1, Ordering::Relaxed);
        let mut arrived = lock(&self.state.arrived);
        for to in self.to.drain(..) {
            arrived.entry(to).or_insert(now);
        }
        mailin_embedded::response::OK
    }
}

/// Starts the sink on its own threads. mailin's `serve()` never returns:
/// the threads end with the process, which the bench command is.
pub fn start_sink(sessions: u32) -> Result<(String, Arc<SinkState>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("smtp://{}", listener.local_addr()?);
    let state = Arc::new(SinkState::default());
    let mut server = mailin_embedded::Server::new(Sink { state: state.clone(), to: Vec::new() });
    server.with_name("sink.bench.invalid").with_num_threads(sessions).with_tcp_listener(listener);
    server.with_ssl(mailin_embedded::SslConfig::None).map_err(|e| anyhow::anyhow!("SMTP sink: {e}"))?;
    std::thread::Builder::new().name("smtp-sink".into()).spawn(move || {
        let _ = server.serve();
    })?;
    Ok((url, state))
}
