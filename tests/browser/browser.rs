//! Chromium under chromedriver, one session per test.

use fantoccini::{Client, ClientBuilder};
use masthead_test_support::nats::free_port;
use masthead_test_support::wait_until;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// chromedriver, killed when the test ends however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `$env`, else `binary` on PATH.
fn tool(env: &str, binary: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(binary))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{binary} not found: the browser tests need Chromium and chromedriver \
                 (apt-get install chromium chromium-driver, or set {env})"
            )
        })
}

/// A headless Chromium session with a window of `width`×`height` and a
/// fresh profile.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl std::ops::Deref for Browser {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Browser {
    pub async fn start(width: u32, height: u32) -> Self {
        // Several rustls crypto backends are linked into this test; the
        // WebDriver client needs one chosen (the driver itself is plain HTTP).
        let _ = async_nats::rustls::crypto::ring::default_provider().install_default();
        let chromium = tool("CHROMIUM", "chromium");
        let chromedriver = tool("CHROMEDRIVER", "chromedriver");
        let port = free_port().expect("port");
        let driver = Driver(
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display())),
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        // Until chromedriver listens, connecting fails.
        let client = wait_until("a Chromium session", Duration::from_secs(30), || {
            let (caps, url) = (caps.clone(), url.clone());
            async move { ClientBuilder::rustls().ok()?.capabilities(caps).connect(&url).await.ok() }
        })
        .await
        .expect("chromedriver and Chromium start");
        Self { client, _driver: driver, _profile: profile }
    }

    /// Signs in on `base`'s sign-in page with `token` (pasted into the
    /// form, as a person would), to go on to `next`.
    pub async fn sign_in(&self, base: &str, token: &str, next: &str) -> Result<(), fantoccini::error::CmdError> {
        self.goto(&format!("{base}/sign-in?next={next}")).await?;
        let field = self.find(fantoccini::Locator::Id("token")).await?;
        // Typing a JWT key by key takes seconds; the value is what matters.
        self.execute("arguments[0].value = arguments[1];", vec![serde_json::to_value(&field)?, json!(token)]).await?;
        self.find(fantoccini::Locator::Css("#sign-in-form button[type=submit]")).await?.click().await?;
        Ok(())
    }

    /// Ends the session, so that no browser lingers.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}
