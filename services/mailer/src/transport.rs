//! Getting a composed mail out: pooled SMTP, or the outbox folder.

use crate::config::{ConfigError, SmtpConfig, SmtpSecurity, TransportConfig};
use crate::error::SendError;
use crate::message::OutgoingMail;
use crate::outbox::Outbox;
use async_trait::async_trait;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Something that delivers composed mails. Implementations are shared
/// between concurrent sends.
#[async_trait]
pub trait MailTransport: Send + Sync {
    /// Hands the mail over. `Ok` means the server (or the outbox) accepted
    /// it; see [`SendError`] for what the errors ask of the caller.
    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError>;

    /// Drops every copy of the mail with this Message-ID that the
    /// transport keeps (the subscriber's personal data was erased). SMTP
    /// keeps none: what a mail server accepted is beyond recall.
    async fn forget(&self, _message_id: &str) -> Result<(), SendError> {
        Ok(())
    }

    /// A description that is safe to log.
    fn describe(&self) -> String;
}

/// Builds the transport a configuration asks for.
pub fn build_transport(config: &TransportConfig) -> Result<Arc<dyn MailTransport>, ConfigError> {
    Ok(match config {
        TransportConfig::Smtp(smtp) => Arc::new(SmtpTransport::new(smtp)?),
        TransportConfig::Outbox(dir) => Arc::new(OutboxTransport::open(dir.clone())?),
    })
}

/// SMTP over a small pool of kept-open connections.
///
/// Built on lettre's connection type rather than on its pooled transport,
/// for three measured reasons:
/// - lettre writes a message body and its terminating `.` in two writes.
///   Without `TCP_NODELAY` (which lettre's transport does not set) the
///   second write waits for the server's delayed ACK: ~40 ms per mail on
///   Linux, which capped a pool of 32 at ~500 mails/s. Our sockets set it;
/// - lettre's timeout covers connecting only; a server that stops
///   answering mid-dialogue would hang a send for ever. Each send here has
///   a deadline, and a connection cut off by it is dropped, never reused
///   (lettre's pool would have put it back mid-dialogue);
/// - lettre's pool bounds idle connections, not open ones. Here a
///   semaphore bounds the sends in flight to the pool size.
///
/// Implicit TLS (`smtps://`) connects through lettre, which offers no way
/// to wrap an existing socket, so those sockets keep Nagle's algorithm.
pub struct SmtpTransport {
    config: SmtpConfig,
    tls: Option<TlsParameters>,
    hello: ClientId,
    idle: Mutex<Vec<IdleConnection>>,
    in_flight: Semaphore,
}

struct IdleConnection {
    connection: AsyncSmtpConnection,
    since: Instant,
}

/// An idle connection older than this is closed rather than reused:
/// servers drop idle clients after a while (RFC 5321 suggests 5 minutes,
/// many use less).
const MAX_IDLE: Duration = Duration::from_secs(30);
/// A connection idle for longer than this is checked with NOOP before
/// reuse. Below it, a stale connection is unlikely enough that the extra
/// round trip per mail is not worth paying.
const CHECK_AFTER: Duration = Duration::from_secs(2);

impl SmtpTransport {
    pub fn new(config: &SmtpConfig) -> Result<Self, ConfigError> {
        let tls = match config.security {
            SmtpSecurity::Plain => None,
            _ => Some(TlsParameters::new(config.host.clone()).map_err(|e| ConfigError::Tls(e.to_string()))?),
        };
        Ok(SmtpTransport {
            config: config.clone(),
            tls,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            in_flight: Semaphore::new(config.pool as usize),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<IdleConnection>> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A pooled connection that is still usable, or none.
    async fn reuse(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let IdleConnection { mut connection, since } = self.idle().pop()?;
            let idle_for = since.elapsed();
            if idle_for > MAX_IDLE {
                continue; // dropped: closes the socket
            }
            if idle_for < CHECK_AFTER || connection.test_connected().await {
                return Some(connection);
            }
        }
    }

    fn put_back(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.idle();
        if idle.len() < self.config.pool as usize {
            idle.push(IdleConnection { connection, since: Instant::now() });
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let address = (self.config.host.as_str(), self.config.port);
        let mut connection = match (self.config.security, &self.tls) {
            (SmtpSecurity::ImplicitTls, Some(tls)) => {
                AsyncSmtpConnection::connect_tokio1(
                    address,
                    Some(self.config.timeout),
                    &self.hello,
                    Some(tls.clone()),
                    None,
                )
                .await?
            }
            (security, tls) => {
                let tcp = TcpStream::connect(address)
                    .await
                    .map_err(|e| SendError::transient(format!("cannot connect to the SMTP server: {e}")))?;
                // Not fatal: only latency suffers.
                let _ = tcp.set_nodelay(true);
                let mut connection = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?;
                match (security, tls) {
                    (SmtpSecurity::StartTlsRequired, Some(tls)) => {
                        connection.starttls(tls.clone(), &self.hello).await?
                    }
                    (SmtpSecurity::StartTlsOpportunistic, Some(tls)) if connection.can_starttls() => {
                        connection.starttls(tls.clone(), &self.hello).await?
                    }
                    _ => {}
                }
                connection
            }
        };
        if let Some(c) = &self.config.credentials {
            connection.auth(DEFAULT_MECHANISMS, &Credentials::new(c.username.clone(), c.password.clone())).await?;
        }
        Ok(connection)
    }

    async fn send_now(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        let mut connection = match self.reuse().await {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        // On an error lettre has already sent QUIT and closed the
        // connection; it is dropped here rather than put back.
        connection.send(mail.envelope(), mail.bytes()).await?;
        self.put_back(connection);
        Ok(())
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        let _permit =
            self.in_flight.acquire().await.map_err(|_| SendError::transient("mail transport is shutting down"))?;
        match tokio::time::timeout(self.config.timeout, self.send_now(mail)).await {
            Ok(result) => result,
            // The connection in use was owned by the cancelled future and is
            // gone with it.
            Err(_) => Err(SendError::transient(format!("SMTP send timed out after {:?}", self.config.timeout))),
        }
    }

    fn describe(&self) -> String {
        self.config.describe()
    }
}

/// Writes `.eml` files; see [`crate::outbox`].
#[derive(Debug, Clone)]
pub struct OutboxTransport {
    outbox: Outbox,
}

impl OutboxTransport {
    pub fn open(dir: std::path::PathBuf) -> Result<Self, ConfigError> {
        let outbox = Outbox::open(&dir).map_err(|e| ConfigError::Outbox(dir.clone(), e.to_string()))?;
        Ok(OutboxTransport { outbox })
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }
}

#[async_trait]
impl MailTransport for OutboxTransport {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        // A full disk or a permission problem is fixed by an operator, not
        // by this mail: retry.
        self.outbox.write(mail).await.map(|_| ()).map_err(|e| SendError::transient(format!("outbox write failed: {e}")))
    }

    async fn forget(&self, message_id: &str) -> Result<(), SendError> {
        self.outbox.remove(message_id).await.map_err(|e| SendError::transient(format!("outbox removal failed: {e}")))
    }

    fn describe(&self) -> String {
        format!("outbox {}", self.outbox.dir().display())
    }
}
