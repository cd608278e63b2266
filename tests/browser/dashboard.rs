//! The dashboard renders every chart with data and follows new events
//! live. Saves a screenshot to `target/tmp/dashboard.png` for a human to
//! look at.

use crate::browser::Browser;
use chrono::Duration as Span;
use fantoccini::Locator;
use masthead_auth::Role;
use masthead_test_support::app::{spawn_app, TestApp, API_AND_PROJECTOR};
use masthead_test_support::history::{subscription_events, utc, Fate};
use masthead_test_support::wait_until;
use masthead_testdata::events::Rng;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Two weeks of subscriptions with a spread of scores, some new addresses,
/// and a few failures, in the app's stream. No matcher or mailer runs, so
/// those two consumers have all of it pending; the mailer has given up on
/// one event.
async fn seed(app: &TestApp) {
    let mut rng = Rng::new(3);
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
        events.extend(subscription_events(id, at, "NL", &format!("Kerkstraat {}", i + 1), fate));
    }
    let sequences = app.publish(&events).await;
    app.record_dead_letter("mailer", sequences[0], "550 mailbox unavailable").await;
    // Stats are served from a cache of about a second: wait until it shows
    // the dead letter, so the dashboard's first poll does.
    wait_until("stats to show the dead letter", Duration::from_secs(10), || async {
        let stats = app.get_json("/api/v1/stats", 200).await;
        (masthead_test_support::app::consumer(&stats, "mailer")["dead_letters"] == 1).then_some(())
    })
    .await
    .expect("the dead letter in the stats");
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
    let app = spawn_app(API_AND_PROJECTOR).await;
    seed(&app).await;
    let client = Browser::start(1400, 1200).await;

    // Run the checks, then always end the session.
    let result = async {
        client.sign_in(&app.address, &app.token(&[Role::Viewer]), "/dashboard").await?;
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
        // Matcher and mailer pending, the mailer's dead letter.
        assert!(state["lag"]["drawn"].as_u64() >= Some(3), "{state}");
        assert!(state["lag-history"]["points"].as_u64() >= Some(3), "{state}");

        // Live: a registration on a new day appears without a reload.
        app.publish(&subscription_events(
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
    client.close().await;
    result.expect("dashboard checks");
}
