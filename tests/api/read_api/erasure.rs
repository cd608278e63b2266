//! Erasure and subject access on a running app: after erasure no readable
//! copy of the name or the email is left (events, key bucket, projections,
//! exports), every other field stays, exports still verify, and erasing
//! twice changes nothing. The routes need the auditor's or the admin's role.

use masthead_audit::export::{export, verify_export, ExportOptions};
use masthead_audit::key::{AuditKey, PublicKeys};
use masthead_audit::live::{read_anchors, run_anchorer, AnchorPolicy};
use masthead_audit::personal_data::{erase, subject_access};
use masthead_auth::Role;
use masthead_domain::subscription::{ErasureReason, SubscriptionEvent};
use masthead_jetstream::key_vault::KeyVault;
use masthead_jetstream::replay::Until;
use masthead_test_support::app::{spawn_app, TestApp, API_AND_PROJECTOR};
use masthead_test_support::wait_until;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const NAME: &str = "Wilhelmina Oosterhuis-Brandt";
const EMAIL: &str = "w.oosterhuis@example.org";

async fn export_text(app: &TestApp) -> String {
    let mut out = Vec::new();
    let options = ExportOptions { until: Until::default(), readers: std::slice::from_ref(&app.js) };
    export(&app.js, &app.topology, options, &mut out, |_, _| {}).await.expect("export");
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test]
async fn the_auditor_and_admin_routes_need_their_role() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let id = uuid::Uuid::new_v4();
    for (method, path, role) in [
        (reqwest::Method::GET, format!("/api/v1/audit/events?aggregate=subscription&id={id}"), Role::Auditor),
        (reqwest::Method::GET, format!("/api/v1/subscriptions/{id}/personal-data"), Role::Admin),
        (reqwest::Method::DELETE, format!("/api/v1/subscriptions/{id}/personal-data"), Role::Admin),
    ] {
        let url = format!("{}{path}", app.address);
        let anonymous = app.anonymous.request(method.clone(), &url).send().await.expect("request");
        assert_eq!(anonymous.status(), 401, "{method} {path}");
        let viewer = app.token(&[Role::Viewer]);
        let r = app.anonymous.request(method.clone(), &url).bearer_auth(viewer).send().await.expect("request");
        assert_eq!(r.status(), 403, "{method} {path}");
        let body: Value = r.json().await.expect("json");
        assert!(body["error"]["message"].as_str().expect("message").contains(role.as_str()), "{body}");
        let granted = app.token(&[role]);
        let r = app.anonymous.request(method.clone(), &url).bearer_auth(granted).send().await.expect("request");
        assert!(![401, 403].contains(&r.status().as_u16()), "{method} {path}: {}", r.status());
    }
}

#[tokio::test]
async fn after_erasure_no_readable_copy_of_the_name_or_email_is_left() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let key = AuditKey::generate();
    let keys = PublicKeys::new([key.public()]);
    let stop = CancellationToken::new();
    let policy = AnchorPolicy { every: 1000, interval: Duration::from_millis(100) };
    tokio::spawn(run_anchorer(app.js.clone(), app.topology.clone(), Arc::new(key), policy, stop.clone()));
    let body = json!({
        "name": NAME, "email": EMAIL, "street": "Kerkstraat 12",
        "postal_code": "3511 LX", "city": "Utrecht", "country": "NL"
    });
    let r = app.post_subscription(&body).await;
    assert_eq!(r.status(), 202);
    let id: uuid::Uuid = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").parse().expect("uuid");
    app.project_all().await;
    let vault = KeyVault::open(&app.js, &app.topology.keys_bucket()).await.expect("vault");

    // Before: the data is there to be found, so the checks below can fail.
    let access = subject_access(&app.store, &vault, id).await.expect("access");
    assert_eq!(access["personal_data"], json!({"name": NAME, "email": EMAIL}));
    assert_eq!(app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await["email"], EMAIL);
    let history = app.store.load::<SubscriptionEvent>(&id.to_string()).await.expect("history");
    let sealed = history
        .events
        .iter()
        .find_map(|r| match &r.event {
            SubscriptionEvent::SubscriptionRequested(e) => Some(e.subscriber.clone()),
            _ => None,
        })
        .expect("requested");
    assert!(vault.get(&sealed.key_id).await.expect("vault").is_some());
    let before = app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await;

    let reason = ErasureReason::parse("ticket 4711").ok();
    let first = erase(&app.store, &vault, id, reason.clone()).await.expect("erase");
    assert!(first.recorded);
    let again = erase(&app.store, &vault, id, reason).await.expect("erase again");
    assert!(!again.recorded, "erasing twice is a no-op");
    // The admin's door: erasing over HTTP once more is the same no-op.
    let url = format!("{}/api/v1/subscriptions/{id}/personal-data", app.address);
    let r = app.anonymous.delete(&url).bearer_auth(app.token(&[Role::Admin])).send().await.expect("delete");
    assert_eq!(r.status(), 200);
    app.project_all().await;

    // Key bucket: the key is gone, and the page keeps no older revision.
    assert!(vault.get(&sealed.key_id).await.expect("vault").is_none());
    let kv = app.js.get_key_value(app.topology.keys_bucket()).await.expect("bucket");
    let page = sealed.key_id.split('.').next().expect("page").to_owned();
    if let Ok(mut revisions) = kv.history(&page).await {
        use futures::StreamExt;
        let mut n = 0;
        while let Some(Ok(entry)) = revisions.next().await {
            n += 1;
            let text = String::from_utf8_lossy(&entry.value).into_owned();
            assert!(entry.operation != async_nats::jetstream::kv::Operation::Put || n == 1, "{text}");
        }
        assert!(n <= 1, "the key page keeps {n} revisions");
    }
    // Events: the sealed blob stays (the stream is append-only) but cannot
    // be opened; the erasure event names no personal data.
    assert!(vault.open_sealed(&sealed).await.is_err());
    let history = app.store.load::<SubscriptionEvent>(&id.to_string()).await.expect("history");
    let erased = history.events.last().expect("events");
    let erased_json = serde_json::to_string(&erased.event).expect("json");
    assert!(matches!(erased.event, SubscriptionEvent::PersonalDataErased(_)), "{erased_json}");
    // Projections and the view.
    let view = app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await;
    assert_eq!(view["personal_data"], "erased");
    assert_eq!(view["freshness"]["source"], "projection");
    assert_eq!((view["name"].clone(), view["email"].clone()), (Value::Null, Value::Null));
    assert_eq!(view["status"], before["status"], "every other field stays");
    assert_eq!(view["address"], before["address"]);
    let listed = app.get("/api/v1/subscriptions?limit=100").await.text().await.expect("list");
    let access = subject_access(&app.store, &vault, id).await.expect("access");
    assert_eq!(access["personal_data"], "erased");
    // No mail again: a resend is refused, saying why.
    let resend = masthead_mailer::consumer::request_resend(&app.js, &app.topology, id).await;
    let refused = resend.expect_err("refused").to_string();
    assert!(refused.contains("erased"), "{refused}");
    // Exports: sealed bytes unchanged, so the export still verifies.
    wait_until("anchored", Duration::from_secs(20), || async {
        let last = app.store.last_sequence().await.ok()?;
        let a = read_anchors(&app.js, &app.topology).await.ok()?;
        a.last().is_some_and(|(_, a)| a.last_seq >= last).then_some(())
    })
    .await
    .expect("anchored");
    stop.cancel();
    let exported = export_text(&app).await;
    let report = verify_export(exported.as_bytes(), &keys, |_| {}).expect("verify");
    assert!(report.ok && report.unanchored_tail == 0, "{report}");
    for text in [view.to_string(), listed, access.to_string(), exported, erased_json] {
        for secret in [NAME, EMAIL, "Wilhelmina", "oosterhuis"] {
            assert!(!text.to_lowercase().contains(&secret.to_lowercase()), "{secret} left in {text}");
        }
    }
}
