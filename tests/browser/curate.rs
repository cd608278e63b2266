//! The address team's pages in headless Chromium: sign in as a curator,
//! search, open the review queue, merge from the keyboard, and see the
//! subscription moved to the survivor. Saves a screenshot to
//! `target/tmp/curate-review.png` for a human to look at.

use crate::browser::Browser;
use fantoccini::Locator;
use masthead::system::Roles;
use masthead_auth::Role;
use masthead_test_support::app::{spawn_app, TestApp};
use masthead_test_support::history::{base_address, duplicate_pair};
use masthead_test_support::wait_until;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// The API, the projector and the matcher (with the relocator), no mailer.
const DESK: Roles = Roles { api: true, matcher: true, projector: true, mailer: false, local_nats: false };

/// A subscription typed exactly as `street`, matched and projected.
async fn subscribe(app: &TestApp, street: &str) -> Uuid {
    let body = json!({"name": "Ann Aa", "email": "ann@example.org", "street": street, "postal_code": "1011 AB", "city": "Amsterdam", "country": "NL"});
    let response = app.post_subscription(&body).await;
    assert_eq!(response.status().as_u16(), 202);
    let id: Uuid = response.json::<Value>().await.expect("json")["id"].as_str().expect("id").parse().expect("uuid");
    wait_until("the subscription matched and projected", WAIT, || async {
        let view = app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await;
        (view["freshness"]["source"] == "projection" && view["base_address_id"].is_string()).then_some(())
    })
    .await
    .expect("matched");
    id
}

#[tokio::test]
async fn a_curator_merges_from_the_queue_and_the_subscription_moves() {
    let app = spawn_app(DESK).await;
    let imported = [
        base_address("Rossem 3", "1011 AB", "Amsterdam", "NL", Some("R-1")),
        base_address("Rossum 3", "1011 AB", "Amsterdam", "NL", None),
    ];
    app.add_addresses(&imported).await;
    let (a, b) = (imported[0].base_address_id, imported[1].base_address_id);
    let subscription = subscribe(&app, "Rossem 3").await;
    let view = app.get_json(&format!("/api/v1/subscriptions/{subscription}"), 200).await;
    assert_eq!(view["base_address_id"], a.to_string(), "{view}");
    app.open_review(duplicate_pair(a, b, 0.93)).await;
    app.project_all().await;

    let client = Browser::start(1300, 900).await;
    let result = async {
        client.sign_in(&app.address, &app.token(&[Role::Curator]), "/curate").await?;
        // Search as you type: the two spellings of the street.
        let q = client.wait().at_most(WAIT).for_element(Locator::Id("q")).await?;
        q.send_keys("Ross").await?;
        client.wait().at_most(WAIT).for_element(Locator::Css("body[data-searches]")).await?;
        let rows = client.find_all(Locator::Css("#results tbody tr")).await?;
        assert_eq!(rows.len(), 2, "both spellings found");

        client.goto(&format!("{}/curate/reviews", app.address)).await?;
        let section = client.wait().at_most(WAIT).for_element(Locator::Id("review")).await?;
        assert_eq!(section.attr("data-left").await?, Some(a.to_string()));
        let street = client.find(Locator::Css("tr[data-field=street]")).await?;
        assert_eq!(street.attr("data-agree").await?.as_deref(), Some("false"), "the streets differ");
        let postcode = client.find(Locator::Css("tr[data-field='postal code']")).await?;
        assert_eq!(postcode.attr("data-agree").await?.as_deref(), Some("true"), "the postal codes agree");
        std::fs::create_dir_all("../../target/tmp").ok();
        if let Ok(png) = client.screenshot().await {
            std::fs::write("../../target/tmp/curate-review.png", png).ok();
        }
        // From the keyboard alone: `1` merges the left address into the right.
        client.find(Locator::Css("body")).await?.send_keys("1").await?;
        // The next item opens; this queue had one.
        client.wait().at_most(WAIT).for_element(Locator::Id("queue-empty")).await?;
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    client.close().await;
    result.expect("the pages work");

    let moved = wait_until("the subscription moved to the survivor", WAIT, || async {
        let view = app.get_json(&format!("/api/v1/subscriptions/{subscription}"), 200).await;
        (view["base_address_id"] == b.to_string()).then_some(view)
    })
    .await
    .expect("moved");
    assert_eq!(moved["delivery"]["street"], "Rossum 3", "{moved}");
    assert!(moved["moves"].as_array().is_some_and(|m| m.len() == 1), "the timeline shows the move: {moved}");
    let merged = app.get_json(&format!("/api/v1/addresses/{a}"), 200).await;
    assert_eq!(
        (merged["status"].as_str(), merged["merged_into"].as_str()),
        (Some("merged"), Some(b.to_string().as_str()))
    );
}
