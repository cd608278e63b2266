//! Connecting to NATS and making sure the stream, buckets and consumers exist.

use crate::config::Config;
use anyhow::{Context, Result};
use masthead_events::topology::{setup, Topology};
use std::time::Duration;

pub struct Nats {
    pub client: async_nats::Client,
    pub js: async_nats::jetstream::Context,
    pub topology: Topology,
}

async fn options(config: &Config) -> Result<async_nats::ConnectOptions> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("masthead-{}", std::process::id()))
        .connection_timeout(Duration::from_secs(2))
        .request_timeout(Some(Duration::from_secs(2)));
    if let Some(creds) = &config.nats_creds {
        options = options.credentials_file(creds).await.context("reading MASTHEAD_NATS_CREDS")?;
    }
    Ok(options)
}

/// One more connection to a server [`connect`] already reached, for work
/// that should not share a connection: each connection parses its incoming
/// messages on one task, so one connection reads on one core at most.
pub async fn reader_connection(config: &Config) -> Result<async_nats::Client> {
    let url = config.nats_url_or_default();
    options(config).await?.connect(&url).await.with_context(|| format!("opening another connection to {url}"))
}

/// Connects and runs setup. Retries the first connection for a while so that
/// roles started together with their server (compose, `up`) do not race it.
pub async fn connect(config: &Config, url: &str) -> Result<Nats> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let client = loop {
        match options(config).await?.connect(url).await {
            Ok(client) => break client,
            Err(e) if tokio::time::Instant::now() > deadline => {
                return Err(e).with_context(|| format!("no NATS server answered at {url} within 30 s"));
            }
            Err(e) => {
                tracing::info!(error = %e, "NATS not reachable yet; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let js = async_nats::jetstream::new(client.clone());
    let topology = config.topology();
    setup(&js, &topology).await.context("creating the JetStream stream, buckets and consumers")?;
    Ok(Nats { client, js, topology })
}
