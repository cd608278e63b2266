//! The dashboard in a real headless Chromium: it renders every chart with
//! data and follows new events live. Saves a screenshot to
//! `target/tmp/dashboard.png` for a human to look at.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (override with
//! `CHROMIUM` / `CHROMEDRIVER`). Without them the test fails: CI installs
//! both, and a skipped browser test would hide a broken dashboard.

#[path = "read_api/helpers.rs"]
mod helpers;

use chrono::Duration as Span;
use fantoccini::{ClientBuilder, Locator};
use helpers::*;
use masthead_test_support::wait_until;
use serde_json::{json, Value};
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

fn tool(env: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(env).unwrap_or_else(|_| default.to_owned()));
    assert!(
        path.exists(),
        "{} not found: the dashboard browser test needs Chromium and chromedriver (apt-get install chromium chromium-driver, or set {env})",
        path.display()
    );
    path
}

async fn start_driver() -> (Driver, u16) {
    let binary = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
    let port = masthead_test_support::nats::free_port().expect("port");
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let driver = Driver(child);
    wait_until("chromedriver to listen", Duration::from_secs(20), || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
    })
    .await
    .expect("chromedriver");
    (driver, port)
}

/// Two weeks of subscriptions with a spread of scores, some new addresses,
/// and a few failures.
async fn seed(app: &ReadApp) {
    let mut rng = masthead_projections::synth::Rng::new(3);
    let mut seq = 0;
    let mut events = Vec::new();
    let mut at = utc(2025, 3, 1, 7);
    for i in 0..160 {
        at += Span::minutes(30 + rng.below(240) as i64);
        let fate = match rng.below(10) {
            0 | 1 => Fate::New,
            2 => Fate::Pending,
            3 => Fate::Failed,
            4..=6 => Fate::Confirmed(55.0 + rng.below(4500) as f64 / 100.0),
            _ => Fate::Matched(70.0 + rng.below(3000) as f64 / 100.0),
        };
        let id = uuid::Uuid::from_u128(0xda5b_0000_0000_4000_8000_0000_0000_0000 + i);
        events.extend(subscription_events(&mut seq, id, at, "NL", &format!("Kerkstraat {}", i + 1), fate));
    }
    app.apply(&events).await;
    // Real events in the stream, so the consumers have something pending.
    for n in 0..4 {
        let body = json!({
            "name": "Dash Board", "email": format!("dash{n}@example.org"), "street": format!("Molenweg {n}"),
            "postal_code": "3511 LX", "city": "Utrecht", "country": "NL"
        });
        let r = app.http.post(format!("{}/api/v1/subscriptions", app.address)).json(&body).send().await.expect("post");
        assert_eq!(r.status(), 202);
    }
}

const CHART_STATE: &str = r#"
const out = {};
for (const svg of document.querySelectorAll("svg[data-chart]")) {
  const bars = [...svg.querySelectorAll("rect.bar")];
  out[svg.dataset.chart] = {
    bars: Number(svg.dataset.bars || 0),
    total: Number(svg.dataset.total || 0),
    drawn: bars.filter(r => Number(r.getAttribute("height")) > 0 && r.getBoundingClientRect().height > 0).length,
    points: Number(svg.dataset.points || 0),
  };
}
out.updates = Number(document.body.dataset.updates);
out.status = document.getElementById("status").textContent;
return out;
"#;

#[tokio::test]
async fn the_dashboard_draws_every_chart_and_follows_new_events() {
    // Several rustls crypto backends are linked into this test; the
    // WebDriver client needs one chosen (async-nats re-exports rustls with
    // ring, so no extra dependency).
    let _ = async_nats::rustls::crypto::ring::default_provider().install_default();
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    let app = spawn_read_app().await;
    seed(&app).await;
    let (_driver, port) = start_driver().await;
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
                "--disable-dev-shm-usage", "--window-size=1400,1200", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let client = ClientBuilder::rustls()
        .expect("tls connector")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");

    // Run the checks, then always end the session so no browser lingers.
    let result = async {
        client.goto(&format!("{}/dashboard", app.address)).await?;
        client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("svg#chart-lag-history[data-points]"))
            .await?;
        let state = client.execute(CHART_STATE, vec![]).await?;
        println!("chart state: {state}");
        assert!(state["updates"].as_u64() >= Some(1), "{state}");
        assert!(state["status"].as_str().is_some_and(|s| s.starts_with("updated")), "{state}");
        // Registrations: two weeks of days, every one drawn.
        assert!(state["registrations"]["bars"].as_u64() >= Some(7), "{state}");
        assert_eq!(state["registrations"]["total"], 160, "{state}");
        assert_eq!(state["registrations"]["drawn"], state["registrations"]["bars"], "{state}");
        assert_eq!(state["outcomes"]["drawn"], 2, "matched and new: {state}");
        assert!(state["scores"]["drawn"].as_u64() >= Some(4), "a spread of scores: {state}");
        // Four events pending for each of the three consumers.
        assert!(state["lag"]["drawn"].as_u64() >= Some(3), "{state}");
        assert!(state["lag-history"]["points"].as_u64() >= Some(3), "{state}");

        // Live: a registration on a new day appears without a reload.
        let mut seq = 10_000;
        app.apply(&subscription_events(
            &mut seq,
            uuid::Uuid::new_v4(),
            utc(2025, 3, 20, 9),
            "NL",
            "Dorpsstraat 1",
            Fate::Matched(88.0),
        ))
        .await;
        let live = wait_until("the dashboard to show the new registration", Duration::from_secs(15), || async {
            let s: Value = client.execute(CHART_STATE, vec![]).await.ok()?;
            (s["registrations"]["total"] == 161).then_some(s)
        })
        .await
        .expect("live update");
        assert!(live["updates"].as_u64() >= Some(2), "{live}");

        let png = client.screenshot().await?;
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
        std::fs::write(&path, &png).expect("write screenshot");
        println!("screenshot: {} ({} bytes)", path.display(), png.len());
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        // A blank 1400×1200 page compresses to a few KB; four charts of
        // coloured bars and text do not.
        assert!(png.len() > 40_000, "screenshot suspiciously small: {} bytes", png.len());
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = client.close().await;
    result.expect("dashboard checks");
}
