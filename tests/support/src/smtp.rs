//! A real SMTP server in the test process (mailin-embedded), which records
//! what it accepts and can be told to misbehave: 451 for the next N mails,
//! 5xx for chosen recipients, 421 to every new session ("down").
//!
//! mailin-embedded's `serve()` never returns, so a server lives until the
//! test process ends; "stopping" is done with the 421 switch, and "not yet
//! started" by reserving a port and starting on it later.

use mailin_embedded::response::{INTERNAL_ERROR, NO_MAILBOX, OK};
use mailin_embedded::{Handler, Response, Server, SslConfig};
use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One accepted mail.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    transient_failures_left: AtomicU32,
    rejected_recipients: Mutex<HashSet<String>>,
    down: AtomicBool,
    sessions: AtomicU32,
}

#[derive(Clone)]
struct Recorder {
    state: Arc<State>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Handler for Recorder {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        self.state.sessions.fetch_add(1, Ordering::SeqCst);
        if self.state.down.load(Ordering::SeqCst) {
            Response::custom(421, "Service not available, closing connection".to_owned())
        } else {
            OK
        }
    }

    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.from = from.to_owned();
        self.to.clear();
        self.data.clear();
        OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if lock(&self.state.rejected_recipients).contains(&to.to_ascii_lowercase()) {
            return NO_MAILBOX;
        }
        self.to.push(to.to_owned());
        OK
    }

    // The transient failure is answered to DATA rather than after the
    // body: mailin 0.6 stays in its data state after an error reply to the
    // final dot and would swallow the client's next commands as mail text.
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, _to: &[String]) -> Response {
        let fail = self
            .state
            .transient_failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            INTERNAL_ERROR // 451
        } else {
            OK
        }
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        lock(&self.state.received).push(Received {
            from: std::mem::take(&mut self.from),
            to: std::mem::take(&mut self.to),
            data: std::mem::take(&mut self.data),
        });
        OK
    }
}

pub struct TestSmtp {
    addr: SocketAddr,
    state: Arc<State>,
}

impl TestSmtp {
    /// Starts on a free port.
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// Starts on `port` (0: any free port).
    pub fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind test SMTP port");
        Self::serve(listener, 64)
    }

    /// A port nothing listens on (yet).
    pub fn reserve_port() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("local addr").port()
    }

    /// `sessions` bounds concurrent SMTP sessions (the server's thread pool).
    pub fn serve(listener: TcpListener, sessions: u32) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State::default());
        let handler = Recorder { state: Arc::clone(&state), from: String::new(), to: Vec::new(), data: Vec::new() };
        let mut server = Server::new(handler);
        server.with_name("test.smtp.invalid").with_num_threads(sessions).with_tcp_listener(listener);
        server.with_ssl(SslConfig::None).expect("no TLS");
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        TestSmtp { addr, state }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.addr.port())
    }

    /// Answer `451` to DATA for the next `n` mails.
    pub fn fail_next(&self, n: u32) {
        self.state.transient_failures_left.store(n, Ordering::SeqCst);
    }

    /// Answer `550` to RCPT for this address.
    pub fn reject(&self, recipient: &str) {
        lock(&self.state.rejected_recipients).insert(recipient.to_ascii_lowercase());
    }

    /// Accept this address again.
    pub fn accept(&self, recipient: &str) {
        lock(&self.state.rejected_recipients).remove(&recipient.to_ascii_lowercase());
    }

    /// While down, every new session is answered `421` and closed.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn sessions(&self) -> u32 {
        self.state.sessions.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        lock(&self.state.received).clone()
    }

    pub fn count(&self) -> usize {
        lock(&self.state.received).len()
    }

    /// Waits until at least `n` mails arrived (lettre returns after the
    /// server's 250, which mailin sends after recording, so this is mostly
    /// instant).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        while self.count() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.received()
    }
}
