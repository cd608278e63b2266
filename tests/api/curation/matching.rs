//! The matcher after the team's corrections: a subscription spelled as an
//! address was before its correction is that address, and a retired
//! address's spellings never reach another house.

use super::Desk;
use masthead::system::Roles;
use masthead_auth::Role;
use masthead_test_support::app::{client_with_token, spawn_app};
use masthead_test_support::wait_until;
use serde_json::{json, Value};
use std::time::Duration;

/// The API, the projector and the matcher: subscriptions get decided.
const WITH_MATCHER: Roles = Roles { api: true, matcher: true, projector: true, mailer: false, local_nats: false };

impl Desk {
    async fn with_matcher() -> Self {
        let app = spawn_app(WITH_MATCHER).await;
        let curator = client_with_token(&app.token(&[Role::Curator]));
        Self { app, curator }
    }

    /// Submits a subscription for `street` and waits until the matcher
    /// decided it; returns the subscription as the API shows it.
    async fn subscribe(&self, n: usize, street: &str, postal_code: &str) -> Value {
        let body = json!({
            "name": format!("Reader {n}"), "email": format!("reader{n}@example.org"),
            "street": street, "postal_code": postal_code, "city": "Utrecht", "country": "NL"
        });
        let accepted = self.app.post_subscription(&body).await;
        assert_eq!(accepted.status(), 202);
        let id = accepted.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
        let admin = client_with_token(&self.app.token(&[Role::Admin]));
        let url = format!("{}/api/v1/subscriptions/{id}", self.app.address);
        wait_until(&format!("subscription {n} decided"), Duration::from_secs(20), || async {
            let view: Value = admin.get(&url).send().await.ok()?.json().await.ok()?;
            (!view["base_address_id"].is_null()).then_some(view)
        })
        .await
        .expect("decided")
    }
}

/// "Kerkstraat 5" corrected to "Kerkstraat 6": a subscriber who types the
/// old spelling is delivered to that address as it reads now, as a match
/// (it used to be recorded as a new address with the old lines).
#[tokio::test]
async fn a_subscription_spelled_as_before_a_correction_goes_to_the_corrected_lines() {
    let desk = Desk::with_matcher().await;
    let id = desk.register("Kerkstraat 5", "1234 AB", "Utrecht").await;
    let (status, corrected) = desk.patch(&format!("/api/v1/addresses/{id}"), &json!({"street": "Kerkstraat 6"})).await;
    assert_eq!(status, 200, "{corrected}");

    let view = desk.subscribe(1, "Kerkstraat 5", "1234 AB").await;
    assert_eq!(view["base_address_id"], id.as_str(), "{view}");
    assert_eq!(view["delivery"]["street"], "Kerkstraat 6", "{view}");
    assert_eq!(view["outcome"]["kind"], "matched", "{view}");
}

/// "Vismarkt 3" corrected to "Vismarkt 5", then retired: a subscriber who
/// types either spelling gets a new address of that spelling (for review),
/// never the other house, and nobody waits on a registration that cannot
/// succeed (the corrected spelling's id is reserved for the retired one).
#[tokio::test]
async fn a_retired_addresss_spellings_each_get_their_own_new_address() {
    let desk = Desk::with_matcher().await;
    let id = desk.register("Vismarkt 3", "3511 KR", "Utrecht").await;
    assert_eq!(desk.patch(&format!("/api/v1/addresses/{id}"), &json!({"street": "Vismarkt 5"})).await.0, 200);
    assert_eq!(desk.post(&format!("/api/v1/addresses/{id}/retire"), &json!({"reason": "gone"})).await.0, 200);

    let five = desk.subscribe(1, "Vismarkt 5", "3511 KR").await;
    let three = desk.subscribe(2, "Vismarkt 3", "3511 KR").await;
    let five_again = desk.subscribe(3, "Vismarkt 5", "3511 KR").await;
    assert_eq!(five["delivery"]["street"], "Vismarkt 5", "{five}");
    assert_eq!(three["delivery"]["street"], "Vismarkt 3", "{three}");
    assert_eq!(five_again["delivery"]["street"], "Vismarkt 5", "{five_again}");
    assert_ne!(five["base_address_id"], three["base_address_id"]);
    assert_eq!(five_again["base_address_id"], five["base_address_id"], "the second subscriber finds the first's");
    for view in [&five, &three] {
        assert_ne!(view["base_address_id"], id.as_str(), "{view}");
    }
}
