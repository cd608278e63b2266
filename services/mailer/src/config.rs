//! Mailer configuration: where mails go (SMTP or an outbox folder), who
//! sends them, and how failures are retried. The binary's `Config` owns the
//! settings and their defaults; this module checks them.
//!
//! Credentials are separate settings, not part of the URL, so the URL can
//! be logged; a URL with credentials in it is refused.

use crate::message::Sender;
use crate::retry::RetryPolicy;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Deadline for one send: connecting, TLS, and the whole SMTP dialogue.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_POOL: u32 = 8;

/// A configuration the mailer cannot start with. Fix the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("SMTP URL: {0}")]
    SmtpUrl(String),
    #[error("the SMTP username and password must be set together")]
    HalfCredentials,
    #[error("credentials need TLS: use smtps:// or ?tls=required")]
    CredentialsInClear,
    #[error("the sender is not a mailbox: {0}")]
    From(String),
    #[error("outbox folder {0}: {1}")]
    Outbox(PathBuf, String),
    #[error("TLS setup: {0}")]
    Tls(String),
}

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS. For local catchers only.
    Plain,
    /// TLS from the first byte (`smtps://`, usually port 465).
    ImplicitTls,
    /// Plain connect, then STARTTLS, failing if the server cannot.
    StartTlsRequired,
    /// STARTTLS if offered, else plain. Open to downgrade attacks.
    StartTlsOpportunistic,
}

/// SMTP credentials. Debug output shows neither value.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpCredentials { username: <redacted>, password: <redacted> }")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<SmtpCredentials>,
    /// Deadline for one send: connecting, TLS, and the whole SMTP dialogue.
    pub timeout: Duration,
    /// Connections kept open, and also the number of sends in flight.
    pub pool: u32,
}

impl SmtpConfig {
    /// Parses `MASTHEAD_SMTP_URL`.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::SmtpUrl(why.to_owned());
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("expected smtp:// or smtps://"))?;
        let implicit = match scheme.to_ascii_lowercase().as_str() {
            "smtp" => false,
            "smtps" => true,
            _ => return Err(bad("scheme must be smtp or smtps")),
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = authority.trim_end_matches('/');
        if authority.contains('/') {
            return Err(bad("no path expected"));
        }
        if authority.contains('@') {
            return Err(bad("put credentials in the SMTP username and password settings, not in the URL"));
        }
        let (host, port) = split_host_port(authority).ok_or_else(|| bad("expected host[:port]"))?;

        let mut tls = None;
        let mut timeout = DEFAULT_TIMEOUT;
        let mut pool = DEFAULT_POOL;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "tls" => tls = Some(value.to_ascii_lowercase()),
                "timeout" => {
                    let secs: u64 = value.parse().map_err(|_| bad("timeout must be whole seconds"))?;
                    timeout = Duration::from_secs(secs.max(1));
                }
                "pool" => {
                    pool = value.parse().map_err(|_| bad("pool must be a number"))?;
                    if pool == 0 {
                        return Err(bad("pool must be at least 1"));
                    }
                }
                // A typo such as `tsl=required` must not silently send in clear.
                other => return Err(ConfigError::SmtpUrl(format!("unknown option {other:?}"))),
            }
        }
        let security = match (implicit, tls.as_deref()) {
            (true, None | Some("implicit")) => SmtpSecurity::ImplicitTls,
            (true, Some(_)) => return Err(bad("smtps:// is always TLS; drop the tls option")),
            (false, None | Some("none")) => SmtpSecurity::Plain,
            (false, Some("required")) => SmtpSecurity::StartTlsRequired,
            (false, Some("opportunistic")) => SmtpSecurity::StartTlsOpportunistic,
            (false, Some(_)) => return Err(bad("tls must be required, opportunistic or none")),
        };
        let port = port.unwrap_or(match security {
            SmtpSecurity::ImplicitTls => 465,
            SmtpSecurity::StartTlsRequired | SmtpSecurity::StartTlsOpportunistic => 587,
            SmtpSecurity::Plain => 25,
        });
        Ok(SmtpConfig { host, port, security, credentials: None, timeout, pool })
    }

    pub fn with_credentials(mut self, credentials: Option<SmtpCredentials>) -> Result<Self, ConfigError> {
        if credentials.is_some() && matches!(self.security, SmtpSecurity::Plain | SmtpSecurity::StartTlsOpportunistic) {
            return Err(ConfigError::CredentialsInClear);
        }
        self.credentials = credentials;
        Ok(self)
    }

    /// Safe to log: no credentials.
    pub fn describe(&self) -> String {
        format!("smtp {}:{} ({:?}, pool {})", self.host, self.port, self.security, self.pool)
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p != 0)?),
        None => None,
    };
    Some((host.to_owned(), port))
}

/// Where mails go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportConfig {
    Smtp(SmtpConfig),
    /// A folder of `.eml` files.
    Outbox(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MailerConfig {
    pub transport: TransportConfig,
    pub sender: Sender,
    pub retry: RetryPolicy,
}

/// The mail settings as configured, before they are checked.
#[derive(Clone)]
pub struct MailSettings<'a> {
    /// `smtp://`, `smtps://` or `smtp://…?tls=required`; `None`: the outbox.
    pub smtp_url: Option<&'a str>,
    pub smtp_username: Option<&'a str>,
    pub smtp_password: Option<&'a str>,
    /// The From mailbox, `Name <address>`.
    pub from: &'a str,
    /// Whom subscribers contact about a wrong address.
    pub contact: &'a str,
    /// How failed sends are retried.
    pub retry: RetryPolicy,
}

impl MailerConfig {
    /// Checks `settings`; without an SMTP URL mail goes to `<data_dir>/outbox`.
    /// Empty values count as unset.
    pub fn new(settings: MailSettings<'_>, data_dir: &Path) -> Result<Self, ConfigError> {
        let set = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        let password = settings.smtp_password.filter(|p| !p.is_empty()).map(str::to_owned);
        let credentials = match (set(settings.smtp_username), password) {
            (Some(username), Some(password)) => Some(SmtpCredentials { username, password }),
            (None, None) => None,
            _ => return Err(ConfigError::HalfCredentials),
        };
        let transport = match set(settings.smtp_url) {
            Some(url) => TransportConfig::Smtp(SmtpConfig::from_url(&url)?.with_credentials(credentials)?),
            None => TransportConfig::Outbox(data_dir.join("outbox")),
        };
        let from = settings.from.trim().parse().map_err(|_| ConfigError::From(settings.from.to_owned()))?;
        let contact = settings.contact.trim().to_owned();
        Ok(MailerConfig { transport, sender: Sender { from, contact }, retry: settings.retry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FROM: &str = "Masthead <no-reply@masthead.invalid>";
    const CONTACT: &str = "subscriptions@masthead.invalid";

    impl Default for MailSettings<'_> {
        fn default() -> Self {
            MailSettings {
                smtp_url: None,
                smtp_username: None,
                smtp_password: None,
                from: "",
                contact: "",
                retry: RetryPolicy::fast(),
            }
        }
    }

    fn config(settings: MailSettings<'_>) -> Result<MailerConfig, ConfigError> {
        let from = if settings.from.is_empty() { FROM } else { settings.from };
        let contact = if settings.contact.is_empty() { CONTACT } else { settings.contact };
        MailerConfig::new(MailSettings { from, contact, ..settings }, Path::new("/data"))
    }

    #[test]
    fn urls_select_the_security_mode_and_default_port() {
        let c = SmtpConfig::from_url("smtp://localhost:1025").expect("valid");
        assert_eq!((c.host.as_str(), c.port, c.security), ("localhost", 1025, SmtpSecurity::Plain));
        let c = SmtpConfig::from_url("smtps://mail.example.org").expect("valid");
        assert_eq!((c.port, c.security), (465, SmtpSecurity::ImplicitTls));
        let c = SmtpConfig::from_url("smtp://mail.example.org?tls=required").expect("valid");
        assert_eq!((c.port, c.security), (587, SmtpSecurity::StartTlsRequired));
        let c =
            SmtpConfig::from_url("smtp://mail.example.org:2525/?tls=opportunistic&timeout=5&pool=3").expect("valid");
        assert_eq!(
            (c.port, c.security, c.timeout, c.pool),
            (2525, SmtpSecurity::StartTlsOpportunistic, Duration::from_secs(5), 3)
        );
        let c = SmtpConfig::from_url("smtp://[::1]:25").expect("valid");
        assert_eq!((c.host.as_str(), c.port), ("::1", 25));
    }

    #[test]
    fn bad_urls_are_refused() {
        for url in [
            "http://x",
            "smtp://",
            "smtp://x:0",
            "smtp://x:port",
            "smtp://user:pw@x",
            "smtp://x?tsl=required",
            "smtp://x?tls=maybe",
            "smtps://x?tls=required",
            "smtp://x/path",
            "smtp://x?pool=0",
        ] {
            assert!(SmtpConfig::from_url(url).is_err(), "{url}");
        }
    }

    #[test]
    fn unset_url_means_the_outbox() {
        let c = config(MailSettings { smtp_url: Some("  "), ..Default::default() }).expect("valid");
        assert_eq!(c.transport, TransportConfig::Outbox(PathBuf::from("/data/outbox")));
        assert_eq!(c.sender.from.to_string(), FROM);
        assert_eq!(c.sender.contact, CONTACT);
    }

    #[test]
    fn credentials_need_both_halves_and_tls() {
        let c = config(MailSettings {
            smtp_url: Some("smtps://mail.example.org"),
            smtp_username: Some("masthead"),
            smtp_password: Some("hunter2"),
            ..Default::default()
        })
        .expect("valid");
        let TransportConfig::Smtp(smtp) = &c.transport else { panic!("smtp expected") };
        assert!(smtp.credentials.is_some());
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("masthead\""), "{debug}");

        let half = MailSettings { smtp_url: Some("smtps://x"), smtp_username: Some("u"), ..Default::default() };
        assert_eq!(config(half), Err(ConfigError::HalfCredentials));
        let clear = MailSettings {
            smtp_url: Some("smtp://x:25"),
            smtp_username: Some("u"),
            smtp_password: Some("p"),
            ..Default::default()
        };
        assert_eq!(config(clear), Err(ConfigError::CredentialsInClear));
    }

    #[test]
    fn sender_and_contact_are_taken_as_configured() {
        let settings = MailSettings {
            from: "Abo <abo@example.org>",
            contact: "Klantenservice <ks@example.org>",
            ..Default::default()
        };
        let c = config(settings).expect("valid");
        assert_eq!(c.sender.domain(), "example.org");
        assert_eq!(c.sender.reply_to().map(|m| m.email.to_string()), Some("ks@example.org".to_owned()));
        let bad = MailSettings { from: "not a mailbox", ..Default::default() };
        assert!(matches!(config(bad), Err(ConfigError::From(_))));
    }
}
