//! Connecting to NATS: one server or a cluster, named by a comma-separated
//! list of URLs (as nats.go and the `nats` CLI take them), with optional
//! credentials. Making sure the stream and buckets exist is
//! [`crate::topology::setup`]'s job, not this module's.

use async_nats::ServerAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach NATS.
#[derive(Clone)]
pub struct NatsSettings {
    /// One URL, or several separated by commas (`nats://a:4222,nats://b:4222`).
    pub urls: String,
    /// The connection's name as servers show it (`/connz`), with this
    /// process's id appended: `masthead-api` becomes `masthead-api-1234`, so
    /// an operator (or a test) sees which role holds which connection.
    pub name: String,
    /// A `.creds` file (a secret; never logged).
    pub credentials: Option<PathBuf>,
    /// How long the first connection is retried before giving up, so that
    /// processes started together with their server (compose, a first Helm
    /// install) do not race it.
    pub patience: Duration,
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSettings")
            .field("urls", &self.urls)
            .field("name", &self.name)
            .field("credentials", &self.credentials.as_ref().map(|_| "<set>"))
            .field("patience", &self.patience)
            .finish()
    }
}

/// Why no connection was made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// A URL in the list cannot be parsed. Fix the setting; retrying will
    /// not help.
    #[error("cannot parse NATS server URL {url:?} (a comma-separated list of nats://host:port): {source}")]
    Url { url: String, source: std::io::Error },
    /// The list names no server at all.
    #[error("no NATS server URL given")]
    NoUrl,
    /// The credentials file cannot be read. Fix the path or its permissions.
    #[error("reading the NATS credentials file {path}: {source}")]
    Credentials { path: PathBuf, source: std::io::Error },
    /// No server answered within the patience. Check that NATS runs and is
    /// reachable; the source is the last attempt's error.
    #[error("no NATS server answered at {urls} within {patience:?}: {source}")]
    Unreachable { urls: String, patience: Duration, source: async_nats::ConnectError },
}

/// The servers a comma-separated list names. A DNS name that resolves to
/// several addresses counts as all of them: the client resolves it again
/// on every (re)connect.
pub fn server_addrs(urls: &str) -> Result<Vec<ServerAddr>, ConnectError> {
    let addrs = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| u.parse::<ServerAddr>().map_err(|source| ConnectError::Url { url: u.to_owned(), source }))
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err(ConnectError::NoUrl);
    }
    Ok(addrs)
}

/// See [`options`]; `topology` checks it against the consumers.
pub const SUBSCRIPTION_CAPACITY: usize = 256 * 1024;

async fn options(settings: &NatsSettings) -> Result<async_nats::ConnectOptions, ConnectError> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("{}-{}", settings.name, std::process::id()))
        .connection_timeout(Duration::from_secs(2))
        .request_timeout(Some(Duration::from_secs(2)))
        // Messages a subscription may buffer before async-nats drops them as
        // a slow consumer (default 64 Ki). Above every consumer's
        // `max_ack_pending` (the projector's is 120 000), so the server can
        // never deliver more than fits: a projector busy with a long index
        // rewrite loses nothing. Bounds only; nothing is allocated up front.
        .subscription_capacity(SUBSCRIPTION_CAPACITY);
    if let Some(path) = &settings.credentials {
        options = options
            .credentials_file(path)
            .await
            .map_err(|source| ConnectError::Credentials { path: path.clone(), source })?;
    }
    Ok(options)
}

/// Connects, retrying for `settings.patience`. A URL that cannot be parsed
/// is reported at once, not retried.
pub async fn connect(settings: &NatsSettings) -> Result<async_nats::Client, ConnectError> {
    let addrs = server_addrs(&settings.urls)?;
    let deadline = tokio::time::Instant::now() + settings.patience;
    loop {
        match options(settings).await?.connect(addrs.clone()).await {
            Ok(client) => return Ok(client),
            Err(source) if tokio::time::Instant::now() >= deadline => {
                return Err(ConnectError::Unreachable {
                    urls: settings.urls.clone(),
                    patience: settings.patience,
                    source,
                })
            }
            Err(e) => {
                tracing::info!(error = %e, "NATS not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comma_separated_list_names_every_server() {
        let addrs = server_addrs("nats://a:4222, nats://b:4223,nats://c:4224").expect("parses");
        let hosts: Vec<_> = addrs.iter().map(|a| format!("{}:{}", a.host(), a.port())).collect();
        assert_eq!(hosts, ["a:4222", "b:4223", "c:4224"]);
        assert_eq!(server_addrs("nats://solo:4222").expect("parses").len(), 1);
    }

    #[test]
    fn a_bad_url_is_a_parse_error_naming_it() {
        let err = server_addrs("nats://a:4222,nats://b:notaport").expect_err("bad port");
        assert!(matches!(&err, ConnectError::Url { url, .. } if url == "nats://b:notaport"), "{err}");
        assert!(err.to_string().starts_with("cannot parse NATS server URL"), "{err}");
        assert!(matches!(server_addrs(" , "), Err(ConnectError::NoUrl)));
    }
}
