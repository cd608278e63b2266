//! The real binary's logs over a whole subscription flow: they tie lines to
//! the trace and the subscription, and never name the subscriber.

use crate::common::MASTHEAD;
use masthead_test_support::{wait_until, System, TestSmtp};
use std::time::Duration;

/// Distinctive enough that a hit can only be a leak.
const NAME: &str = "Quirinus Zebedeus Vandermolen";
const EMAIL: &str = "q.vandermolen.logprobe@example.net";

fn is_trace_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
}

/// (message, trace id, correlation id) of JSON log lines whose spans carry both.
fn traced_lines(log: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let Some(spans) = v["spans"].as_array() else { continue };
        let field = |name: &str| spans.iter().rev().find_map(|s| s[name].as_str().map(str::to_owned));
        if let (Some(trace), Some(correlation)) = (field("trace_id"), field("correlation_id")) {
            found.push((v["message"].as_str().unwrap_or_default().to_owned(), trace, correlation));
        }
    }
    found
}

#[tokio::test]
async fn a_subscription_flow_logs_its_trace_and_subscription_ids_but_never_the_subscribers_name_or_email() {
    let smtp = TestSmtp::start();
    let mut system = System::new(MASTHEAD, Some(smtp.url())).expect("system");
    // Debug for every crate: the guarantee covers third-party debug logs
    // too (lettre is capped at WARN by the binary whatever this says).
    system.extra_env.push(("RUST_LOG".into(), "debug".into()));
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http up");

    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "name": NAME, "email": EMAIL, "street": "Kerkstraat 12",
        "postal_code": "3511 LX", "city": "Utrecht", "country": "Nederland"
    });
    let response =
        http.post(format!("{}/api/v1/subscriptions", system.base_url())).json(&body).send().await.expect("post");
    assert_eq!(response.status().as_u16(), 202);
    let accepted: serde_json::Value = response.json().await.expect("json");
    let id = accepted["id"].as_str().expect("id").to_owned();
    let url = format!("{}/api/v1/subscriptions/{id}", system.base_url());
    wait_until("the subscription to be confirmed", Duration::from_secs(60), || async {
        let view: serde_json::Value = http.get(&url).send().await.ok()?.json().await.ok()?;
        (view["status"] == "confirmed").then_some(())
    })
    .await
    .expect("confirmed");
    let mails = smtp.wait_for(1, Duration::from_secs(10));
    assert!(mails.iter().any(|m| m.to.iter().any(|t| t.contains(EMAIL))), "the mail went out over SMTP");

    let log = system.log("up");
    assert!(log.lines().count() > 20, "debug logging is on: {log}");
    let lowered = log.to_lowercase();
    let probes = [EMAIL.to_owned(), "vandermolen".to_owned(), "quirinus".to_owned(), "zebedeus".to_owned()];
    for probe in &probes {
        let leaks: Vec<_> = log.lines().filter(|l| l.to_lowercase().contains(probe.as_str())).take(3).collect();
        assert!(!lowered.contains(probe.as_str()), "the log contains {probe:?}: {leaks:#?}");
    }

    // It must say which trace and which subscription a line belongs to:
    // the intake's access line and the mailer's, at least. (Whether the
    // mailer's trace is the intake's depends on batching; the in-process
    // tests pin the trace structure down.)
    let traced = traced_lines(&log);
    let ours: Vec<_> = traced.iter().filter(|(_, _, c)| *c == id).collect();
    assert!(ours.iter().all(|(_, t, _)| is_trace_id(t)), "{ours:?}");
    for message in ["request served", "confirmation sent"] {
        assert!(ours.iter().any(|(m, _, _)| m == message), "no {message:?} line with correlation_id {id}: {traced:#?}");
    }
}
