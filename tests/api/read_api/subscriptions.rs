use crate::helpers::ids;
use masthead_test_support::app::{spawn_app, API_AND_PROJECTOR};
use masthead_test_support::history::{subscription_events, synth_addresses, utc, Fate};
use serde_json::Value;
use std::collections::HashSet;

fn statuses(items: &[Value]) -> HashSet<String> {
    items.iter().map(|i| i["status"].as_str().expect("status").to_owned()).collect()
}

#[tokio::test]
async fn subscriptions_are_filtered_by_status_country_and_creation_time() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let seeded = app.seed_subscriptions(24).await;

    let all = app.get_json("/api/v1/subscriptions?limit=100", 200).await;
    let items = all["items"].as_array().expect("items");
    assert_eq!(items.len(), 24);
    assert!(all["next_cursor"].is_null());
    // Newest first.
    let newest_first: Vec<String> = seeded.iter().rev().map(|s| s.id.to_string()).collect();
    assert_eq!(ids(items), newest_first);

    for status in ["pending", "matched", "confirmed", "failed"] {
        let page = app.get_json(&format!("/api/v1/subscriptions?status={status}&limit=100"), 200).await;
        let items = page["items"].as_array().expect("items");
        let want: HashSet<String> =
            seeded.iter().filter(|s| s.fate.status() == status).map(|s| s.id.to_string()).collect();
        assert!(!want.is_empty());
        assert_eq!(ids(items).into_iter().collect::<HashSet<_>>(), want, "status={status}");
        assert_eq!(statuses(items), HashSet::from([status.to_owned()]));
    }

    // Any spelling of a country.
    for spelling in ["DE", "de", "Deutschland", "Germany", "BRD"] {
        let page = app.get_json(&format!("/api/v1/subscriptions?country={spelling}&limit=100"), 200).await;
        let items = page["items"].as_array().expect("items");
        assert_eq!(items.len(), seeded.iter().filter(|s| s.country == "DE").count(), "country={spelling}");
        assert!(items.iter().all(|i| i["country"] == "DE"));
    }

    // created_after is inclusive, created_before exclusive.
    let (from, to) = (seeded[4].at, seeded[10].at);
    let path = format!(
        "/api/v1/subscriptions?created_after={}&created_before={}&limit=100",
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let page = app.get_json(&path, 200).await;
    let want: Vec<String> = seeded[4..10].iter().rev().map(|s| s.id.to_string()).collect();
    assert_eq!(ids(page["items"].as_array().expect("items")), want);

    // An offset written without encoding its `+` still parses; a date
    // means midnight UTC.
    let page = app
        .get_json(
            "/api/v1/subscriptions?created_after=2025-03-02T01:00:00+01:00&created_before=2025-03-03&limit=100",
            200,
        )
        .await;
    let want: Vec<String> = seeded
        .iter()
        .rev()
        .filter(|s| s.at >= utc(2025, 3, 2, 0) && s.at < utc(2025, 3, 3, 0))
        .map(|s| s.id.to_string())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ids(page["items"].as_array().expect("items")), want);

    // Filters combine.
    let page = app
        .get_json("/api/v1/subscriptions?status=confirmed&country=Nederland&created_after=2025-03-02&limit=100", 200)
        .await;
    let want: Vec<String> = seeded
        .iter()
        .rev()
        .filter(|s| s.fate.status() == "confirmed" && s.country == "NL" && s.at >= utc(2025, 3, 2, 0))
        .map(|s| s.id.to_string())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ids(page["items"].as_array().expect("items")), want);

    // Empty values are the same as leaving the parameter out.
    let page = app.get_json("/api/v1/subscriptions?status=&country=&limit=100", 200).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 24);
}

#[tokio::test]
async fn a_cursor_walk_returns_every_subscription_exactly_once() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let seeded = app.seed_subscriptions(47).await;
    let newest_first: Vec<String> = seeded.iter().rev().map(|s| s.id.to_string()).collect();

    for limit in [1, 7, 20, 46, 47, 100] {
        let walked = ids(&app.walk("/api/v1/subscriptions", limit).await);
        assert_eq!(walked, newest_first, "limit={limit}");
    }
    // With a filter too.
    let walked = ids(&app.walk("/api/v1/subscriptions?country=BE", 4).await);
    let want: Vec<String> = seeded.iter().rev().filter(|s| s.country == "BE").map(|s| s.id.to_string()).collect();
    assert_eq!(walked, want);

    // Default page size is 20, and the cursor is set when more follow.
    let first = app.get_json("/api/v1/subscriptions", 200).await;
    assert_eq!(first["items"].as_array().expect("items").len(), 20);
    assert!(first["next_cursor"].is_string());

    // Subscriptions arriving during a walk do not disturb it: newer ones
    // sort before the cursor and are not repeated or skipped into it.
    let page = app.get_json("/api/v1/subscriptions?limit=10", 200).await;
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let late = uuid::Uuid::new_v4();
    app.publish(&subscription_events(late, utc(2026, 1, 1, 0), "NL", "Dorpsstraat 1", Fate::Pending)).await;
    let next = app.get_json(&format!("/api/v1/subscriptions?limit=10&cursor={cursor}"), 200).await;
    assert_eq!(ids(next["items"].as_array().expect("items")), newest_first[10..20].to_vec());
}

#[tokio::test]
async fn list_limits_are_bounded() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    app.seed_subscriptions(3).await;
    assert_eq!(app.get_json("/api/v1/subscriptions?limit=100", 200).await["items"].as_array().map(Vec::len), Some(3));
    assert_eq!(app.get_json("/api/v1/subscriptions?limit=1", 200).await["items"].as_array().map(Vec::len), Some(1));
    for bad in ["0", "101", "1000", "-1", "ten", "1.5"] {
        app.assert_bad_parameter(&format!("/api/v1/subscriptions?limit={bad}"), "limit").await;
    }
}

#[tokio::test]
async fn bad_list_parameters_are_400s_naming_the_parameter() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    app.seed_subscriptions(3).await;
    let cases = [
        ("status=cancelled", "status"),
        ("status=Pending", "status"),
        ("created_after=yesterday", "created_after"),
        ("created_before=2025-02-30", "created_before"),
        ("created_after=2025-03-02&created_before=2025-03-01", "created_before"),
        ("country=Atlantis", "country"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("cursor=%3Cscript%3E", "cursor"),
        ("stauts=failed", "stauts"),
        ("status=failed&status=pending", "status"),
    ];
    for (query, param) in cases {
        app.assert_bad_parameter(&format!("/api/v1/subscriptions?{query}"), param).await;
    }
    // A cursor of another list is not a cursor of this one.
    let addresses = synth_addresses(3);
    app.add_addresses(&addresses).await;
    let page = app.get_json("/api/v1/addresses?limit=1", 200).await;
    let address_cursor = page["next_cursor"].as_str().expect("cursor");
    app.assert_bad_parameter(&format!("/api/v1/subscriptions?cursor={address_cursor}"), "cursor").await;
}
