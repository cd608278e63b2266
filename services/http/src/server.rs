//! The HTTP server loop, with the limits `axum::serve` lacks:
//!
//! - a header-read timeout: a client that has not sent a whole request head
//!   within it is disconnected (hyper's timer, which also runs while a
//!   keep-alive connection waits for its next request);
//! - a body timeout: a request body that stops arriving within it fails
//!   the read, answered `408` (see `subscriptions::create::read_limited`);
//! - an idle timeout: a connection with no bytes in either direction for
//!   that long is closed (gracefully: a request being served finishes);
//! - a connection cap below the process's open-file limit: connections
//!   over it are closed at once, so descriptors are left for NATS, the
//!   store and the probes. Slow clients thus cost a bounded number of
//!   descriptors for a bounded time, and `/healthz` keeps answering.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Descriptors kept free for everything but HTTP connections (NATS, the
/// projection store, the outbox, logs).
const RESERVED_FILES: u64 = 128;

/// The server's timeouts and caps, from the one `Config`.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub header_read_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    /// Open connections at most; lowered to the open-file limit minus a
    /// reserve when that is smaller.
    pub max_connections: usize,
}

/// The process's soft open-file limit, read from `/proc` (Linux); `None`
/// where that is not available.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The connection cap in force: the configured one, kept below the
/// open-file limit.
pub fn effective_max_connections(configured: usize) -> usize {
    let by_files = open_file_limit().map(|n| n.saturating_sub(RESERVED_FILES).max(1));
    match by_files {
        Some(n) => configured.min(usize::try_from(n).unwrap_or(usize::MAX)).max(1),
        None => configured.max(1),
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// requests being served finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ServerSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let max = effective_max_connections(settings.max_connections);
    let permits = Arc::new(Semaphore::new(max));
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(settings.body_timeout));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors, or a connection reset before accept:
                // pause briefly instead of spinning on the error.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            metrics::counter!("masthead_http_connections_refused_total").increment(1);
            drop(stream);
            continue;
        };
        let (router, settings, stop) = (router.clone(), settings.clone(), stop_rx.clone());
        tokio::spawn(async move {
            serve_connection(stream, peer, router, &settings, stop).await;
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it is done.
    let _ = permits.acquire_many(u32::try_from(max).unwrap_or(u32::MAX)).await;
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    settings: &ServerSettings,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked { inner: stream, activity: activity.clone() });
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(settings.header_read_timeout);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut idle_check = tokio::time::interval(settings.idle_timeout.min(Duration::from_secs(1)));
    let mut closing = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = idle_check.tick(), if !closing => {
                if activity.idle_for() >= settings.idle_timeout {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
            _ = stop.changed(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// When a connection last moved a byte, as milliseconds since `start`.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { start: Instant::now(), last_ms: AtomicU64::new(0) }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        self.start.elapsed().saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A stream that notes every read and write in its [`Activity`].
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_stays_below_the_open_file_limit() {
        let limit = open_file_limit().expect("Linux exposes /proc/self/limits");
        let cap = effective_max_connections(usize::MAX);
        assert_eq!(cap as u64, limit.saturating_sub(RESERVED_FILES).max(1));
        assert_eq!(effective_max_connections(10), 10);
        assert_eq!(effective_max_connections(0), 1);
    }
}
