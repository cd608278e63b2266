//! The one configuration of every `masthead` process: each setting is a
//! `MASTHEAD_*` environment variable and a `--flag`, with its default,
//! declared once here. The README's configuration table lists the same
//! settings; a test keeps the two in step.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use masthead_http::limits::LimitSettings;
use masthead_http::server::ServerSettings;
use masthead_jetstream::connect::NatsSettings;
use masthead_jetstream::topology::Topology;
use masthead_mailer::{MailSettings, MailerConfig, RetryPolicy};
use masthead_matching::MatchConfig;
use masthead_projections::projector::generations::{valid_generation_name, StoreLocation};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where roles other than `up` find NATS when `MASTHEAD_NATS_URL` is unset.
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// How long a role waits for NATS to answer at start-up.
const NATS_PATIENCE: Duration = Duration::from_secs(30);

// Under a heading of their own: the settings are global, so every
// sub-command's help lists them, after the command's own flags.
#[derive(Args, Clone)]
#[command(next_help_heading = "Settings (every command; also MASTHEAD_* variables)")]
pub struct Config {
    /// NATS server URL(s), comma-separated. Unset: `up` starts a local
    /// nats-server; other roles use nats://127.0.0.1:4222.
    #[arg(long, env = "MASTHEAD_NATS_URL", global = true)]
    pub nats_url: Option<String>,

    /// NATS credentials file (secret).
    #[arg(long, env = "MASTHEAD_NATS_CREDS", global = true, hide_env_values = true)]
    pub nats_creds: Option<PathBuf>,

    /// The nats-server binary `up` starts. Unset: found in infra/.tools or on PATH.
    #[arg(long, env = "MASTHEAD_NATS_SERVER", global = true)]
    pub nats_server: Option<PathBuf>,

    /// Address the HTTP server (API, health, metrics) listens on.
    #[arg(long, env = "MASTHEAD_HTTP_ADDR", default_value = "127.0.0.1:8080", global = true)]
    pub http_addr: SocketAddr,

    /// Once listening, write the bound HTTP address (`host:port`, the host
    /// as configured) to this file: for supervisors and tests that listen on
    /// port 0. One file per process; a role removes it when it starts.
    #[arg(long, env = "MASTHEAD_HTTP_ADDR_FILE", global = true)]
    pub http_addr_file: Option<PathBuf>,

    /// Local data: embedded projection store, mail outbox, local nats-server.
    #[arg(long, env = "MASTHEAD_DATA_DIR", default_value = "./.masthead", global = true)]
    pub data_dir: PathBuf,

    /// JetStream stream name; subjects are `<lowercased name>.<aggregate>.<id>`.
    #[arg(long, env = "MASTHEAD_STREAM", default_value = "MASTHEAD", global = true)]
    pub stream: String,

    /// Stream and bucket replicas (3 on a production cluster).
    #[arg(long, env = "MASTHEAD_STREAM_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5), global = true)]
    pub stream_replicas: u8,

    /// MongoDB connection string (secret). Unset: the embedded store.
    #[arg(long, env = "MASTHEAD_MONGODB_URI", global = true, hide_env_values = true)]
    pub mongodb_uri: Option<String>,

    /// MongoDB database name.
    #[arg(long, env = "MASTHEAD_MONGODB_DATABASE", default_value = "masthead", global = true)]
    pub mongodb_database: String,

    /// Pin readers to this projection generation (an auditor's past view).
    /// Unset: the active one.
    #[arg(long, env = "MASTHEAD_PROJECTION_GENERATION", value_parser = generation_name, global = true)]
    pub projection_generation: Option<String>,

    /// SMTP URL: smtp://host:port, smtps://host:port, smtp://host:587?tls=required.
    /// Unset: mail goes to `.eml` files in `<data dir>/outbox`.
    #[arg(long, env = "MASTHEAD_SMTP_URL", global = true)]
    pub smtp_url: Option<String>,

    /// SMTP user name (secret).
    #[arg(long, env = "MASTHEAD_SMTP_USERNAME", global = true, hide_env_values = true)]
    pub smtp_username: Option<String>,

    /// SMTP password (secret).
    #[arg(long, env = "MASTHEAD_SMTP_PASSWORD", global = true, hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// Sender of confirmation mail.
    #[arg(long, env = "MASTHEAD_MAIL_FROM", default_value = "Masthead <no-reply@masthead.invalid>", global = true)]
    pub mail_from: String,

    /// Whom subscribers contact when their delivery address is wrong.
    #[arg(long, env = "MASTHEAD_MAIL_CONTACT", default_value = "subscriptions@masthead.invalid", global = true)]
    pub mail_contact: String,

    /// First mail retry delay in milliseconds; doubles per attempt.
    #[arg(long, env = "MASTHEAD_MAIL_RETRY_BASE_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub mail_retry_base_ms: u64,

    /// Upper bound of one mail retry delay in milliseconds.
    #[arg(long, env = "MASTHEAD_MAIL_RETRY_CAP_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub mail_retry_cap_ms: u64,

    /// Confirmation mails per email address per (UTC) day; further
    /// subscriptions are accepted but get no mail, and their view says so
    /// (`withheld`). 0 = no limit.
    #[arg(long, env = "MASTHEAD_MAIL_PER_RECIPIENT_PER_DAY", default_value_t = 3, global = true)]
    pub mail_per_recipient_per_day: u32,

    /// Double opt-in: the first mail asks the subscriber to confirm with a
    /// signed link (valid 7 days) to MASTHEAD_PUBLIC_URL, which it needs;
    /// the subscription is confirmed only then.
    #[arg(long, env = "MASTHEAD_DOUBLE_OPT_IN", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub double_opt_in: bool,

    /// Match score (0–100, 100 × the calibrated match probability) at or
    /// above which an address resolves to a base address. Unset: the
    /// calibrated default (95).
    #[arg(long, env = "MASTHEAD_MATCH_THRESHOLD", value_parser = score, global = true)]
    pub match_threshold: Option<f64>,

    /// Subscriptions per client address per minute on the public intake
    /// (`POST /api/v1/subscriptions`, `POST /subscribe`); 0 turns the
    /// limit off (benchmarks).
    #[arg(long, env = "MASTHEAD_INTAKE_RATE_PER_MINUTE", default_value_t = 30, global = true)]
    pub intake_rate_per_minute: u32,

    /// Proxies whose `X-Forwarded-For` names the client: addresses or
    /// networks, comma-separated (`10.0.0.0/8,192.0.2.7`). Unset: none.
    #[arg(long, env = "MASTHEAD_TRUSTED_PROXIES", value_parser = trusted_proxies, global = true)]
    pub trusted_proxies: Option<TrustedProxies>,

    /// Requests served at once; more are shed with 503 and `Retry-After`.
    #[arg(long, env = "MASTHEAD_HTTP_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub http_max_in_flight: u32,

    /// Open HTTP connections at most (kept below the open-file limit);
    /// more are closed on arrival.
    #[arg(long, env = "MASTHEAD_HTTP_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub http_max_connections: u32,

    /// Seconds a client has to send a request's headers (also how long a
    /// keep-alive connection may wait for its next request's headers).
    #[arg(long, env = "MASTHEAD_HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub http_header_timeout_secs: u64,

    /// Seconds a request body may pause before the request fails with 408.
    #[arg(long, env = "MASTHEAD_HTTP_BODY_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub http_body_timeout_secs: u64,

    /// Seconds without a byte in either direction after which a connection
    /// is closed.
    #[arg(long, env = "MASTHEAD_HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub http_idle_timeout_secs: u64,

    /// Log lines as `json` or `pretty`. Unset: pretty on a terminal, json otherwise.
    #[arg(long, env = "MASTHEAD_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,

    /// A separate listener for `/metrics` (and the probes), kept off the
    /// public port. Unset: `/metrics` is served on MASTHEAD_HTTP_ADDR.
    #[arg(long, env = "MASTHEAD_OPS_ADDR", global = true)]
    pub ops_addr: Option<SocketAddr>,

    /// The identity provider's JWKS URL: RS256, ES256 and EdDSA tokens.
    #[arg(long, env = "MASTHEAD_AUTH_JWKS_URL", global = true)]
    pub auth_jwks_url: Option<String>,

    /// Shared secret for HS256 tokens, at least 32 bytes (secret). Unset
    /// and no JWKS: `<data dir>/auth-hs256.secret`, created on first start.
    #[arg(long, env = "MASTHEAD_AUTH_HS256_SECRET", global = true, hide_env_values = true)]
    pub auth_hs256_secret: Option<String>,

    /// Required token issuer (`iss`); also the OpenID Connect issuer.
    #[arg(long, env = "MASTHEAD_AUTH_ISSUER", global = true)]
    pub auth_issuer: Option<String>,

    /// Required token audience (`aud`).
    #[arg(long, env = "MASTHEAD_AUTH_AUDIENCE", global = true)]
    pub auth_audience: Option<String>,

    /// The claim holding a token's roles: a name or a dotted path such as
    /// `realm_access.roles`.
    #[arg(long, env = "MASTHEAD_AUTH_ROLES_CLAIM", default_value = "roles", global = true)]
    pub auth_roles_claim: String,

    /// OpenID Connect client id: the sign-in page then redirects to the
    /// issuer (authorization code + PKCE). Needs MASTHEAD_AUTH_ISSUER and
    /// MASTHEAD_PUBLIC_URL.
    #[arg(long, env = "MASTHEAD_AUTH_OIDC_CLIENT_ID", global = true)]
    pub auth_oidc_client_id: Option<String>,

    /// OpenID Connect client secret (secret). Unset: a public client.
    #[arg(long, env = "MASTHEAD_AUTH_OIDC_CLIENT_SECRET", global = true, hide_env_values = true)]
    pub auth_oidc_client_secret: Option<String>,

    /// Scopes asked of the OpenID Connect provider, space-separated.
    #[arg(long, env = "MASTHEAD_AUTH_OIDC_SCOPES", default_value = "openid profile", global = true)]
    pub auth_oidc_scopes: String,

    /// The URL the public reaches this service at behind a proxy, such as
    /// https://masthead.example.org: origin checks, Secure cookies, OIDC
    /// redirects, and the base of the links in double opt-in mails.
    #[arg(long, env = "MASTHEAD_PUBLIC_URL", value_parser = public_url, global = true)]
    pub public_url: Option<String>,

    /// Origins whose scripts may call the API (CORS), comma-separated.
    /// Unset: CORS is off.
    #[arg(long, env = "MASTHEAD_CORS_ALLOWED_ORIGINS", value_parser = cors_origins, global = true)]
    pub cors_allowed_origins: Option<String>,

    /// The audit key (ed25519, PKCS#8 PEM; `masthead audit keygen`). Set:
    /// the projector role also signs audit anchors. Keep it apart from the
    /// NATS credentials: it is what proves the history.
    #[arg(long, env = "MASTHEAD_AUDIT_KEY", global = true)]
    pub audit_key: Option<PathBuf>,

    /// Events per audit anchor, at most.
    #[arg(long, env = "MASTHEAD_AUDIT_ANCHOR_EVERY", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000), global = true)]
    pub audit_anchor_every: u64,

    /// Longest time (ms) an event waits unanchored.
    #[arg(long, env = "MASTHEAD_AUDIT_ANCHOR_INTERVAL_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub audit_anchor_interval_ms: u64,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl From<LogFormat> for masthead_telemetry::LogFormat {
    fn from(f: LogFormat) -> Self {
        match f {
            LogFormat::Json => masthead_telemetry::LogFormat::Json,
            LogFormat::Pretty => masthead_telemetry::LogFormat::Pretty,
        }
    }
}

/// `MASTHEAD_TRUSTED_PROXIES`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

fn trusted_proxies(s: &str) -> Result<TrustedProxies, String> {
    masthead_http::limits::parse_trusted_proxies(s).map(TrustedProxies)
}

fn score(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a score between 0 and 100")),
    }
}

fn public_url(s: &str) -> Result<String, String> {
    masthead_http::access::origin_of(s).map(|_| s.trim().trim_end_matches('/').to_owned())
}

fn cors_origins(s: &str) -> Result<String, String> {
    masthead_http::access::parse_origins(s).map(|_| s.to_owned())
}

fn generation_name(s: &str) -> Result<String, String> {
    if valid_generation_name(s) {
        Ok(s.to_owned())
    } else {
        Err(format!("{s:?} is not a generation name: letters, digits, - and _ (at most 40)"))
    }
}

// Hand-written so that secrets can never reach a log through `{:?}`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("nats_url", &self.nats_url)
            .field("nats_creds", &self.nats_creds.as_ref().map(|_| "<set>"))
            .field("nats_server", &self.nats_server)
            .field("http_addr", &self.http_addr)
            .field("http_addr_file", &self.http_addr_file)
            .field("data_dir", &self.data_dir)
            .field("stream", &self.stream)
            .field("stream_replicas", &self.stream_replicas)
            .field("mongodb_uri", &redacted(&self.mongodb_uri))
            .field("mongodb_database", &self.mongodb_database)
            .field("projection_generation", &self.projection_generation)
            .field("smtp_url", &self.smtp_url)
            .field("smtp_username", &redacted(&self.smtp_username))
            .field("smtp_password", &redacted(&self.smtp_password))
            .field("mail_from", &self.mail_from)
            .field("mail_contact", &self.mail_contact)
            .field("mail_per_recipient_per_day", &self.mail_per_recipient_per_day)
            .field("double_opt_in", &self.double_opt_in)
            .field("match_threshold", &self.match_threshold)
            .field("intake_rate_per_minute", &self.intake_rate_per_minute)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("http_max_in_flight", &self.http_max_in_flight)
            .field("http_max_connections", &self.http_max_connections)
            .field("http_header_timeout_secs", &self.http_header_timeout_secs)
            .field("http_body_timeout_secs", &self.http_body_timeout_secs)
            .field("http_idle_timeout_secs", &self.http_idle_timeout_secs)
            .field("log_format", &self.log_format)
            .field("ops_addr", &self.ops_addr)
            .field("auth_jwks_url", &self.auth_jwks_url)
            .field("auth_hs256_secret", &redacted(&self.auth_hs256_secret))
            .field("auth_issuer", &self.auth_issuer)
            .field("auth_audience", &self.auth_audience)
            .field("auth_roles_claim", &self.auth_roles_claim)
            .field("auth_oidc_client_id", &self.auth_oidc_client_id)
            .field("auth_oidc_client_secret", &redacted(&self.auth_oidc_client_secret))
            .field("auth_oidc_scopes", &self.auth_oidc_scopes)
            .field("public_url", &self.public_url)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .finish()
    }
}

/// Parses the configuration the way the binary does: flags absent, so
/// `MASTHEAD_*` variables or the defaults.
#[derive(clap::Parser)]
struct Defaults {
    #[command(flatten)]
    config: Config,
}

impl Config {
    /// The configuration for one NATS server, data directory and stream,
    /// everything else as the binary would have it. For tests and tools.
    pub fn for_nats(nats_url: &str, data_dir: &Path, stream: &str) -> Self {
        use clap::Parser;
        let mut c = Defaults::parse_from(["masthead"]).config;
        c.nats_url = Some(nats_url.to_owned());
        c.data_dir = data_dir.to_owned();
        c.stream = stream.to_owned();
        c
    }

    /// How to reach NATS at `urls` (the configured ones, or a local
    /// server's).
    pub fn nats_settings(&self, urls: Option<&str>) -> NatsSettings {
        let urls = urls.or(self.nats_url.as_deref()).unwrap_or(DEFAULT_NATS_URL).to_owned();
        NatsSettings {
            urls,
            name: "masthead".to_owned(),
            credentials: self.nats_creds.clone(),
            patience: NATS_PATIENCE,
        }
    }

    pub fn topology(&self) -> Topology {
        Topology::new(&self.stream).with_replicas(usize::from(self.stream_replicas))
    }

    pub fn store_location(&self) -> StoreLocation {
        StoreLocation {
            data_dir: self.data_dir.clone(),
            mongodb: self.mongodb_uri.clone().map(|uri| (uri, self.mongodb_database.clone())),
        }
    }

    /// The HTTP rate and in-flight limits.
    pub fn limit_settings(&self) -> LimitSettings {
        LimitSettings {
            intake_rate_per_minute: self.intake_rate_per_minute,
            trusted_proxies: self.trusted_proxies.as_ref().map(|t| t.0.clone()).unwrap_or_default(),
            max_in_flight: self.http_max_in_flight as usize,
        }
    }

    /// The HTTP server's timeouts and connection cap.
    pub fn server_settings(&self) -> ServerSettings {
        ServerSettings {
            header_read_timeout: Duration::from_secs(self.http_header_timeout_secs),
            body_timeout: Duration::from_secs(self.http_body_timeout_secs),
            idle_timeout: Duration::from_secs(self.http_idle_timeout_secs),
            max_connections: self.http_max_connections as usize,
        }
    }

    pub fn match_config(&self) -> Result<MatchConfig> {
        let mut config = MatchConfig::default();
        if let Some(t) = self.match_threshold {
            // The score is 100 × the match probability; the grey zone
            // stays around the moved threshold.
            config.match_probability = t / 100.0;
            config.certain_probability = config.certain_probability.max(config.match_probability);
            config.review_probability = config.review_probability.min(config.match_probability);
        }
        config.validate().context("MASTHEAD_MATCH_THRESHOLD")?;
        Ok(config)
    }

    /// The mailer's settings; `max_attempts` is the mailer consumer's
    /// delivery limit.
    pub fn mailer_config(&self, max_attempts: u32) -> Result<MailerConfig> {
        let retry = RetryPolicy::doubling(
            Duration::from_millis(self.mail_retry_base_ms),
            Duration::from_millis(self.mail_retry_cap_ms),
            max_attempts,
        );
        let settings = MailSettings {
            smtp_url: self.smtp_url.as_deref(),
            smtp_username: self.smtp_username.as_deref(),
            smtp_password: self.smtp_password.as_deref(),
            from: &self.mail_from,
            contact: &self.mail_contact,
            retry,
        };
        MailerConfig::new(settings, &self.data_dir)
            .context("mail settings (MASTHEAD_SMTP_URL, MASTHEAD_SMTP_USERNAME/PASSWORD, MASTHEAD_MAIL_FROM)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let mut c = Config::for_nats("nats://x:4222", Path::new("/tmp"), "S");
        c.smtp_password = Some("hunter2".into());
        c.auth_hs256_secret = Some("hunter3-hunter3-hunter3-hunter3-x".into());
        c.auth_oidc_client_secret = Some("hunter4".into());
        c.mongodb_uri = Some("mongodb://user:pw@db".into());
        let debug = format!("{c:?}");
        for secret in ["hunter2", "user:pw", "hunter3", "hunter4"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }

    #[test]
    fn unknown_and_out_of_range_values_are_refused_naming_the_setting() {
        for args in [
            ["masthead", "--log-format", "fancy"],
            ["masthead", "--match-threshold", "101"],
            ["masthead", "--stream-replicas", "0"],
            ["masthead", "--projection-generation", "../etc"],
            ["masthead", "--public-url", "masthead.example"],
            ["masthead", "--cors-allowed-origins", "*"],
            ["masthead", "--trusted-proxies", "proxy.local"],
            ["masthead", "--http-max-in-flight", "0"],
        ] {
            let err = Cli::try_parse_from(args).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(args[1]), "{args:?}: {err}");
        }
        let ok = Cli::try_parse_from(["masthead", "--log-format", "json", "--match-threshold", "80"]).expect("valid");
        assert_eq!(ok.config.log_format, Some(LogFormat::Json));
    }

    /// Every setting is in the README's configuration table with its
    /// variable, flag and default, and the table lists nothing else.
    #[test]
    fn the_readme_table_lists_every_setting_with_its_default() {
        let readme = include_str!("../../../README.md");
        let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `MASTHEAD_")).collect();
        let command = Cli::command();
        let mut documented = Vec::new();
        for arg in command.get_arguments() {
            let Some(env) = arg.get_env().and_then(|e| e.to_str()) else { continue };
            documented.push(env.to_owned());
            let row = rows
                .iter()
                .find(|r| r.starts_with(&format!("| `{env}`")))
                .unwrap_or_else(|| panic!("README table has no row for {env}"));
            let flag = format!("--{}", arg.get_long().unwrap_or_default());
            assert!(row.contains(&format!("`{flag}`")), "README row for {env} names {flag}: {row}");
            for default in arg.get_default_values() {
                let default = default.to_string_lossy();
                assert!(
                    row.contains(&format!("`{default}`")),
                    "README row for {env} gives its default {default}: {row}"
                );
            }
        }
        for row in rows {
            assert!(
                documented.iter().any(|env| row.starts_with(&format!("| `{env}`"))),
                "README row for an unknown setting: {row}"
            );
        }
    }
}
