use masthead_domain::subscription::SubscriptionEvent;
use masthead_test_support::app::{spawn_app, API_AND_PROJECTOR};
use masthead_test_support::history::base_address;
use serde_json::{json, Value};

const NAME: &str = "Ottilie Quarrington-Vasquez";
const EMAIL: &str = "ottilie.quarrington@example.net";

#[tokio::test]
async fn name_and_email_appear_only_on_the_single_subscription_view() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let body = json!({
        "name": NAME, "email": EMAIL, "street": "Lindenlaan 5",
        "postal_code": "3511 LX", "city": "Utrecht", "country": "Holland"
    });
    let r = app.http.post(format!("{}/api/v1/subscriptions", app.address)).json(&body).send().await.expect("post");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    app.project_all().await;
    app.add_addresses(&[base_address("Lindenlaan 5", "3511 LX", "Utrecht", "NL", None)]).await;

    // The one place they belong: proves the data is there to leak.
    let single = app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await;
    assert_eq!(single["name"], NAME);
    assert_eq!(single["email"], EMAIL);
    assert_eq!(single["freshness"]["source"], "projection");
    // The sealed subscriber as stored (in the event the projection holds too).
    let history = app.store.load::<SubscriptionEvent>(&id).await.expect("history");
    let sealed = history
        .events
        .iter()
        .find_map(|r| match &r.event {
            SubscriptionEvent::SubscriptionRequested(requested) => Some(requested.subscriber.clone()),
            _ => None,
        })
        .expect("requested");
    let secrets = [
        NAME.to_owned(),
        EMAIL.to_owned(),
        "Ottilie".to_owned(),
        "quarrington".to_owned(),
        sealed.ciphertext.clone(),
        sealed.nonce.clone(),
    ];

    let paths = [
        "/api/v1/subscriptions".to_owned(),
        "/api/v1/subscriptions?status=pending&country=NL&limit=100".to_owned(),
        "/api/v1/addresses?q=linden".to_owned(),
        "/api/v1/addresses?postal_code=3511LX".to_owned(),
        "/api/v1/stats".to_owned(),
        "/api/v1/match?street=Lindenlaan%205&postal_code=3511LX&city=Utrecht&country=NL".to_owned(),
    ];
    for path in &paths {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let text = response.text().await.expect("body");
        assert!(text.contains("Lindenlaan") || path.contains("stats"), "{path} should show the subscription: {text}");
        for secret in &secrets {
            assert!(!text.to_lowercase().contains(&secret.to_lowercase()), "{path} leaks {secret:?}: {text}");
        }
        assert!(!text.contains("\"subscriber\""), "{path} carries the sealed blob: {text}");
    }
}
