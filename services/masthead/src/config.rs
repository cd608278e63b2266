//! Configuration from `MASTHEAD_*` environment variables (or flags), with
//! defaults that run the whole system on one machine with nothing else set.

use clap::Args;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Args, Clone)]
pub struct Config {
    /// NATS server URL(s), comma-separated. Unset: `up` starts a local
    /// nats-server; other roles use nats://127.0.0.1:4222.
    #[arg(long, env = "MASTHEAD_NATS_URL", global = true)]
    pub nats_url: Option<String>,

    /// NATS credentials file (secret).
    #[arg(long, env = "MASTHEAD_NATS_CREDS", global = true, hide_env_values = true)]
    pub nats_creds: Option<PathBuf>,

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
    #[arg(long, env = "MASTHEAD_STREAM_REPLICAS", default_value_t = 1, global = true)]
    pub stream_replicas: usize,

    /// MongoDB connection string (secret). Unset: the embedded store.
    #[arg(long, env = "MASTHEAD_MONGODB_URI", global = true, hide_env_values = true)]
    pub mongodb_uri: Option<String>,

    /// MongoDB database name.
    #[arg(long, env = "MASTHEAD_MONGODB_DATABASE", default_value = "masthead", global = true)]
    pub mongodb_database: String,

    /// SMTP URL: smtp://host:port, smtps://host:port, smtp://host:587?tls=required.
    /// Unset: mail goes to `.eml` files in `<data dir>/outbox`.
    #[arg(long, env = "MASTHEAD_SMTP_URL", global = true)]
    pub smtp_url: Option<String>,

    #[arg(long, env = "MASTHEAD_SMTP_USERNAME", global = true, hide_env_values = true)]
    pub smtp_username: Option<String>,

    #[arg(long, env = "MASTHEAD_SMTP_PASSWORD", global = true, hide_env_values = true)]
    pub smtp_password: Option<String>,

    /// Sender of confirmation mail.
    #[arg(long, env = "MASTHEAD_MAIL_FROM", default_value = "Masthead <no-reply@masthead.invalid>", global = true)]
    pub mail_from: String,

    /// Whom subscribers contact when their delivery address is wrong.
    #[arg(long, env = "MASTHEAD_MAIL_CONTACT", default_value = "subscriptions@masthead.invalid", global = true)]
    pub mail_contact: String,

    /// Match score (0–100) at or above which an address resolves to a base
    /// address. Unset: the calibrated default.
    #[arg(long, env = "MASTHEAD_MATCH_THRESHOLD", global = true)]
    pub match_threshold: Option<f64>,

    /// First mail retry delay in milliseconds; doubles per attempt.
    #[arg(long, env = "MASTHEAD_MAIL_RETRY_BASE_MS", default_value_t = 1000, global = true)]
    pub mail_retry_base_ms: u64,

    /// Upper bound of one mail retry delay in milliseconds.
    #[arg(long, env = "MASTHEAD_MAIL_RETRY_CAP_MS", default_value_t = 60_000, global = true)]
    pub mail_retry_cap_ms: u64,

    /// `json` or `pretty`. Default: pretty on a terminal, json otherwise.
    #[arg(long, env = "MASTHEAD_LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
}

// Hand-written so that secrets can never reach a log through `{:?}`.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("nats_url", &self.nats_url)
            .field("nats_creds", &self.nats_creds.as_ref().map(|_| "<set>"))
            .field("http_addr", &self.http_addr)
            .field("http_addr_file", &self.http_addr_file)
            .field("data_dir", &self.data_dir)
            .field("stream", &self.stream)
            .field("stream_replicas", &self.stream_replicas)
            .field("mongodb_uri", &redacted(&self.mongodb_uri))
            .field("mongodb_database", &self.mongodb_database)
            .field("smtp_url", &self.smtp_url)
            .field("smtp_username", &redacted(&self.smtp_username))
            .field("smtp_password", &redacted(&self.smtp_password))
            .field("mail_from", &self.mail_from)
            .field("match_threshold", &self.match_threshold)
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

    pub fn nats_url_or_default(&self) -> String {
        self.nats_url.clone().unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned())
    }

    pub fn topology(&self) -> masthead_events::topology::Topology {
        masthead_events::topology::Topology::new(&self.stream).with_replicas(self.stream_replicas)
    }
}
