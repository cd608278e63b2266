//! The auditors' kit through the real binary: `up` signs anchors with the
//! audit key, `audit export`/`audit verify` (file and live, text and JSON,
//! exit codes), `subscriptions erase` (twice), the refused resend, and
//! `projections verify`. After erasure the name and email are in no
//! readable place: outbox, logs, exports, the API.

use crate::common::*;
use masthead_test_support::{wait_until, System};
use serde_json::Value;
use std::time::Duration;

const NAME: &str = "Cornelia Vandermeulen";
const EMAIL: &str = "cornelia.vandermeulen@example.org";

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn outbox_text(system: &System) -> String {
    let dir = system.data_dir().join("outbox");
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
    }
    all
}

#[tokio::test]
async fn anchors_exports_verification_and_erasure_through_the_binary() {
    let mut system = System::new(MASTHEAD, None).expect("system");
    let keys = system.data_dir().join("keys");
    let out = system.run(&["audit", "keygen", keys.to_str().expect("path")]).expect("keygen");
    assert!(out.status.success(), "{}", text(&out));
    let public = keys.join("audit.pub").to_str().expect("path").to_owned();
    system.extra_env.push(("MASTHEAD_AUDIT_KEY".into(), keys.join("audit.key").display().to_string()));
    system.extra_env.push(("MASTHEAD_AUDIT_ANCHOR_INTERVAL_MS".into(), "200".into()));
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http");
    let (http, base) = (reqwest::Client::new(), system.base_url());
    let mut b = body("Someone Else", "Dorpsstraat 1", "1234 AB", "Ede", "NL");
    let (_, other) = subscribe(&http, &base, &b).await;
    b["name"] = NAME.into();
    b["email"] = EMAIL.into();
    b["street"] = "Dorpsstraat 2".into();
    let (status, id) = subscribe(&http, &base, &b).await;
    assert_eq!(status, 202);
    let id = id.expect("id").to_string();
    for s in [other.expect("id").to_string(), id.clone()] {
        wait_status(&http, &base, s.parse().expect("uuid"), "confirmed").await;
    }
    assert!(outbox_text(&system).contains(EMAIL), "the mail is in the outbox before erasure");

    // Live verification: everything anchored within the interval.
    let live = wait_until("the stream anchored", Duration::from_secs(30), || async {
        let out = system.run(&["audit", "verify", "--live", "--public-key", &public]).ok()?;
        let t = text(&out);
        (out.status.success() && !t.contains("not anchored")).then_some(t)
    })
    .await
    .expect("anchored");
    assert!(live.contains("OK:"), "{live}");

    // Erasure, twice.
    let out = system.run(&["subscriptions", "erase", &id, "--reason", "ticket 88"]).expect("erase");
    assert!(out.status.success() && text(&out).contains("erased"), "{}", text(&out));
    let out = system.run(&["subscriptions", "erase", &id]).expect("erase again");
    assert!(out.status.success() && text(&out).contains("already"), "{}", text(&out));
    let out = system.run(&["mail", "resend", &id]).expect("resend");
    assert!(!out.status.success() && text(&out).contains("erased"), "{}", text(&out));
    let view = wait_until("the view shows the erasure", Duration::from_secs(30), || async {
        get_json(&http, &format!("{base}/api/v1/subscriptions/{id}")).await.filter(|v| v["personal_data"] == "erased")
    })
    .await
    .expect("erased view");
    assert_eq!(view["status"], "confirmed", "{view}");
    wait_until("the mailer drops its copy", Duration::from_secs(30), || async {
        (!outbox_text(&system).contains(EMAIL)).then_some(())
    })
    .await
    .expect("outbox forgotten");
    let access = system.run(&["subscriptions", "personal-data", &id]).expect("access");
    let access: Value = serde_json::from_slice(&access.stdout).expect("json");
    assert_eq!(access["personal_data"], "erased");

    // Export and offline verification, after the erasure.
    let file = system.data_dir().join("export.jsonl");
    let _ = wait_until("the erasure anchored", Duration::from_secs(30), || async {
        let out = system.run(&["audit", "verify", "--live", "--public-key", &public]).ok()?;
        (!text(&out).contains("not anchored")).then_some(())
    })
    .await;
    let out = system.run(&["audit", "export", "--out", file.to_str().expect("path")]).expect("export");
    assert!(out.status.success() && text(&out).contains("events/s"), "{}", text(&out));
    let verified = system.run(&["audit", "verify", file.to_str().expect("path"), "--public-key", &public]).expect("v");
    assert!(verified.status.success() && text(&verified).contains("OK:"), "{}", text(&verified));
    let json = system
        .run(&["audit", "verify", file.to_str().expect("path"), "--public-key", &public, "--json"])
        .expect("verify json");
    let report: Value = serde_json::from_slice(&json.stdout).expect("a JSON report");
    assert_eq!(report["ok"], true, "{report}");

    // No readable copy left.
    let exported = std::fs::read_to_string(&file).expect("export");
    for (place, t) in [("export", exported.clone()), ("outbox", outbox_text(&system)), ("log", system.log("up"))] {
        for secret in [NAME, EMAIL, "Vandermeulen"] {
            assert!(!t.to_lowercase().contains(&secret.to_lowercase()), "{secret} left in the {place}");
        }
    }

    // A tampered export fails with exit code 1, naming the sequence.
    let mut lines: Vec<String> = exported.lines().map(str::to_owned).collect();
    let i = lines.iter().position(|l| l.starts_with("{\"seq\":3,")).expect("line of 3");
    lines[i] = lines[i].replacen("\"payload\":{\"", "\"payload\":{\"x", 1);
    std::fs::write(&file, lines.join("\n")).expect("write");
    let out = system.run(&["audit", "verify", file.to_str().expect("path"), "--public-key", &public]).expect("verify");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("sequence 3"), "{}", text(&out));

    // The read models against the history (the projector stopped: the
    // embedded store is one process's).
    system.stop("up");
    let out = system.run(&["projections", "verify"]).expect("projections verify");
    assert!(out.status.success() && text(&out).contains("OK"), "{}", text(&out));
}
