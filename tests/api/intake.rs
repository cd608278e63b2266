use crate::helpers::*;
use masthead_domain::personal_data::PersonalData;
use masthead_domain::subscription::{Channel, SubscriptionForm};
use masthead_http::subscriptions::intake::Intake;
use masthead_jetstream::idempotency::IdempotencyRecords;
use masthead_jetstream::key_vault::{KeyPool, KeyVault};
use masthead_test_support::app::{spawn_app, API};
use masthead_test_support::wait_until;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_valid_subscription_is_accepted_and_readable_at_once() {
    let app = spawn_app(API).await;
    let response = app.post_subscription(&valid_body()).await;
    assert_eq!(response.status(), 202);
    let location = response.headers().get("location").expect("Location").to_str().expect("ascii").to_owned();
    let body: Value = response.json().await.expect("json");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(body["status"], "pending");
    assert_eq!(location, format!("/api/v1/subscriptions/{id}"));
    assert_eq!(app.event_count(&id).await, 1, "the 202 came after the event was stored");

    let view: Value = app.get(&location).await.json().await.expect("json");
    assert_eq!(view["id"], id.as_str());
    assert_eq!(view["status"], "pending");
    assert_eq!(view["name"], "Ada Lovelace");
    assert_eq!(view["email"], "ada@example.org");
    assert_eq!(view["entered"]["country"], "NL");
    assert_eq!(view["entered"]["country_as_typed"], "Nederland");
    assert!(view["freshness"]["source"].is_string());
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_give_one_subscription() {
    let app = spawn_app(API).await;
    let send = |body: Value| {
        app.http
            .post(format!("{}/api/v1/subscriptions", app.address))
            .header("Idempotency-Key", "order-4711")
            .json(&body)
            .send()
    };
    let first: Value = send(valid_body()).await.expect("send").json().await.expect("json");
    // Whitespace differences are the same request.
    let mut padded = valid_body();
    padded["name"] = json!("  Ada Lovelace ");
    let second = send(padded).await.expect("send");
    assert_eq!(second.status(), 202);
    let second: Value = second.json().await.expect("json");
    assert_eq!(first["id"], second["id"]);
    assert_eq!(app.event_count(first["id"].as_str().expect("id")).await, 1);

    let mut other = valid_body();
    other["street"] = json!("Kerkstraat 21");
    let third = send(other).await.expect("send");
    assert_eq!(third.status(), 422);
    let body: Value = third.json().await.expect("json");
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
}

#[tokio::test]
async fn every_invalid_field_is_listed() {
    let app = spawn_app(API).await;
    let response =
        app.post_subscription(&json!({"email": "not-an-email", "postal_code": "1".repeat(16), "country": 7})).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    let fields: Vec<&str> =
        body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    for f in ["name", "email", "street", "postal_code", "city", "country"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }
    let country = body["errors"].as_array().expect("errors").iter().find(|e| e["field"] == "country").expect("country");
    assert_eq!(country["message"], "must be a string");
}

#[tokio::test]
async fn an_unknown_country_is_named() {
    let app = spawn_app(API).await;
    let mut body = valid_body();
    body["country"] = json!("Atlantis");
    let response = app.post_subscription(&body).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["field"], "country");
}

#[tokio::test]
async fn malformed_json_and_wrong_content_type_are_400_with_json_bodies() {
    let app = spawn_app(API).await;
    let url = format!("{}/api/v1/subscriptions", app.address);
    let broken =
        app.http.post(&url).header("content-type", "application/json").body("{\"name\": ").send().await.expect("send");
    assert_eq!(broken.status(), 400);
    assert_eq!(broken.json::<Value>().await.expect("json")["error"]["code"], "malformed_json");

    let not_object =
        app.http.post(&url).header("content-type", "application/json").body("[1,2]").send().await.expect("send");
    assert_eq!(not_object.status(), 400);

    let form = app
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body(valid_body().to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(form.status(), 400);
    assert_eq!(form.json::<Value>().await.expect("json")["error"]["code"], "unsupported_content_type");
}

#[tokio::test]
async fn a_body_over_16_kib_is_413() {
    let app = spawn_app(API).await;
    let mut body = valid_body();
    body["padding"] = json!("x".repeat(17 * 1024));
    let response = app.post_subscription(&body).await;
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<Value>().await.expect("json")["error"]["code"], "body_too_large");
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404_and_400() {
    let app = spawn_app(API).await;
    let missing = app.get(&format!("/api/v1/subscriptions/{}", uuid::Uuid::new_v4())).await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.json::<Value>().await.expect("json")["error"]["code"], "not_found");
    let bad = app.get("/api/v1/subscriptions/not-a-uuid").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.expect("json")["errors"][0]["field"], "id");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app(API).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn with_nats_down_intake_is_503_fast_and_recovers() {
    let mut app = spawn_app(API).await;
    app.nats.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let response = app.post_subscription(&valid_body()).await;
        assert!(started.elapsed() < Duration::from_secs(2), "answered in {:?}", started.elapsed());
        assert_eq!(response.status(), 503);
        assert!(response.headers().get("retry-after").is_some());
        assert_eq!(response.json::<Value>().await.expect("json")["error"]["code"], "unavailable");
    }
    assert_eq!(app.get("/readyz").await.status(), 503);
    app.nats.start_again().expect("restart");
    let id = wait_until("intake accepts again", Duration::from_secs(20), || async {
        let r = app.post_subscription(&valid_body()).await;
        if r.status() == 202 {
            r.json::<Value>().await.ok().and_then(|v| v["id"].as_str().map(str::to_owned))
        } else {
            None
        }
    })
    .await
    .expect("recovers");
    assert_eq!(app.event_count(&id).await, 1);
}

/// Each layer above `Intake::submit` (its deadline, the handler, axum's
/// routing) embeds and moves its future. Unboxed, the append's async-nats
/// futures made it ~21 KB, copied several times per request: memcpy was the
/// API's largest single cost in a profile of `bench intake`.
#[tokio::test]
async fn a_submission_future_stays_small_enough_to_move_cheaply() {
    let app = spawn_app(API).await;
    // An intake like the app's, on the test's connection to the same stream.
    let vault = KeyVault::open(&app.js, &app.topology.keys_bucket()).await.expect("vault");
    let records = IdempotencyRecords::open(&app.js, &app.topology.idempotency_bucket()).await.expect("records");
    let intake = Intake::new(app.store.clone(), vault, records, app.js.client());
    let form = SubscriptionForm {
        name: "Ada Lovelace".into(),
        email: "ada@example.org".into(),
        street: "Kerkstraat 12".into(),
        postal_code: "3511 LX".into(),
        city: "Utrecht".into(),
        country: "NL".into(),
    };
    let submission = intake.submit(&form, Channel::Api, None, None);
    let size = std::mem::size_of_val(&submission);
    assert!(size <= 1024, "Intake::submit's future is {size} bytes; box what made it grow");
    let accepted = submission.await.expect("accepted");
    assert_eq!(app.event_count(&accepted.id.to_string()).await, 1);
    // The app serves what that intake stored.
    let view = app.get(&format!("/api/v1/subscriptions/{}", accepted.id)).await;
    assert_eq!(view.status(), 200);
}

/// The counter of seals that found the data-key pool empty. A pool that
/// has not written keys ahead yet is empty, so its first seal is a miss;
/// the app's `/metrics` (the process's one recorder) then shows the
/// counter, typed and described, at least at that miss.
#[tokio::test]
async fn metrics_expose_the_key_pool_misses() {
    let app = spawn_app(API).await;
    assert_eq!(app.post_subscription(&valid_body()).await.status(), 202);
    let vault = KeyVault::open(&app.js, &app.topology.keys_bucket()).await.expect("vault");
    let empty = KeyPool::idle(vault, 4);
    let data = PersonalData { name: "Ada Lovelace".into(), email: "ada@example.org".into() };
    empty.seal(&data).await.expect("sealed with a key page written inline");
    assert_eq!(empty.misses(), 1, "the first seal found the pool empty");

    let metrics = app.get("/metrics").await.text().await.expect("metrics");
    let shown: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("masthead_data_key_pool_misses_total ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("masthead_data_key_pool_misses_total is exposed: {metrics}"));
    // Other tests' pools share this process's recorder, so ours is a floor.
    assert!(shown >= empty.misses(), "{shown} in {metrics}");
    assert!(metrics.contains("# TYPE masthead_data_key_pool_misses_total counter"), "{metrics}");
    assert!(metrics.contains("# HELP masthead_data_key_pool_misses_total "), "{metrics}");
}
