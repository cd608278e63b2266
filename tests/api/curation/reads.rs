//! What the team reads back: statuses, history, the review queue.

use super::{open_pair, Desk};
use masthead_test_support::history::base_address;
use serde_json::{json, Value};

#[tokio::test]
async fn a_merged_address_answers_merged_and_both_histories_tell_it() {
    let desk = Desk::open().await;
    let a = desk.register("Rossem 3", "1011 AB", "Amsterdam").await;
    let b = desk.register("Kerkstraat 12", "1011 AB", "Amsterdam").await;
    let (status, _) =
        desk.patch(&format!("/api/v1/addresses/{a}"), &json!({"street": "Rossem 5", "reason": "typo"})).await;
    assert_eq!(status, 200);
    let (status, _) =
        desk.post(&format!("/api/v1/addresses/{a}/merge"), &json!({"into": b, "reason": "same door"})).await;
    assert_eq!(status, 200);
    desk.app.project_all().await;

    let merged = desk.app.get_json(&format!("/api/v1/addresses/{a}"), 200).await;
    assert_eq!(merged["status"], "merged", "{merged}");
    assert_eq!(merged["merged_into"], b.as_str());
    let survivor = desk.app.get_json(&format!("/api/v1/addresses/{b}"), 200).await;
    assert_eq!(survivor["status"], "active");
    assert!(survivor["aliases"].as_array().expect("aliases").iter().any(|x| x["id"] == a.as_str()), "{survivor}");

    // A parameter these take none of is refused, as the lists refuse one.
    desk.app.assert_bad_parameter(&format!("/api/v1/addresses/{a}/history?foo=1"), "foo").await;
    desk.app.assert_bad_parameter(&format!("/api/v1/addresses/{a}?foo=1"), "foo").await;
    let item = open_pair(&desk.app, &a, &b).await;
    desk.app.assert_bad_parameter(&format!("/api/v1/reviews/{item}?foo=1"), "foo").await;
    let history = desk.app.get_json(&format!("/api/v1/addresses/{a}/history"), 200).await;
    let kinds: Vec<&str> =
        history["items"].as_array().expect("items").iter().filter_map(|h| h["event_type"].as_str()).collect();
    assert_eq!(kinds, ["BaseAddressRegistered", "BaseAddressCorrected", "BaseAddressMerged"], "{history}");
    let correction = &history["items"][1];
    assert_eq!(correction["actor"], "test");
    assert_eq!(correction["reason"], "typo");
    assert_eq!(correction["changes"]["street"], json!({"from": "Rossem 3", "to": "Rossem 5"}));
    let survivor_history = desk.app.get_json(&format!("/api/v1/addresses/{b}/history"), 200).await;
    let last = survivor_history["items"].as_array().expect("items").last().cloned().unwrap_or(Value::Null);
    assert_eq!(last["merged_from"], a.as_str(), "{survivor_history}");

    let merged_list = desk.app.get_json("/api/v1/addresses?status=merged", 200).await;
    let ids: Vec<&str> =
        merged_list["items"].as_array().expect("items").iter().filter_map(|x| x["id"].as_str()).collect();
    assert_eq!(ids, [a.as_str()]);
    desk.app.assert_bad_parameter("/api/v1/addresses?status=gone", "status").await;
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(desk.app.get(&format!("/api/v1/addresses/{unknown}/history")).await.status().as_u16(), 404);
}

#[tokio::test]
async fn the_queue_lists_open_items_oldest_first_and_a_decided_item_leaves_it() {
    let desk = Desk::open().await;
    let imported: Vec<_> = ["Rossem 3", "Rossum 3", "Molenweg 3", "Molenwegh 3", "Dorpsstraat 1", "Dorpstraat 1"]
        .iter()
        .map(|s| base_address(s, "1011 AB", "Amsterdam", "NL", None))
        .collect();
    desk.app.add_addresses(&imported).await;
    let id = |i: usize| imported[i].base_address_id.to_string();
    let mut items = Vec::new();
    for (x, y) in [(0, 1), (2, 3), (4, 5)] {
        items.push(open_pair(&desk.app, &id(x), &id(y)).await);
    }
    desk.app.project_all().await;

    let first = desk.app.get_json("/api/v1/reviews?status=open&limit=2", 200).await;
    let page: Vec<&str> = first["items"].as_array().expect("items").iter().filter_map(|x| x["id"].as_str()).collect();
    assert_eq!(page, [items[0].as_str(), items[1].as_str()], "oldest first: {first}");
    let item = &first["items"][0];
    assert_eq!(item["kind"], "duplicate");
    assert_eq!(item["address_id"], id(0).as_str());
    assert_eq!(item["candidates"][0]["id"], id(1).as_str());
    assert!(item["candidates"][0]["probability"].as_f64().is_some() && item["created_at"].is_string(), "{item}");
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = desk.app.get_json(&format!("/api/v1/reviews?status=open&limit=2&cursor={cursor}"), 200).await;
    assert_eq!(second["items"][0]["id"], items[2].as_str());

    let (status, _) =
        desk.post(&format!("/api/v1/reviews/{}/decision", items[1]), &json!({"decision": "distinct"})).await;
    assert_eq!(status, 200);
    desk.app.project_all().await;
    let open = desk.app.get_json("/api/v1/reviews?status=open", 200).await;
    let left: Vec<&str> = open["items"].as_array().expect("items").iter().filter_map(|x| x["id"].as_str()).collect();
    assert_eq!(left, [items[0].as_str(), items[2].as_str()]);
    let decided = desk.app.get_json(&format!("/api/v1/reviews/{}", items[1]), 200).await;
    assert_eq!(
        (decided["status"].as_str(), decided["decision"].as_str()),
        (Some("decided"), Some("distinct")),
        "{decided}"
    );
    let stats = desk.app.get_json("/api/v1/stats", 200).await;
    assert_eq!((stats["reviews_open"].as_u64(), stats["reviews_decided"].as_u64()), (Some(2), Some(1)), "{stats}");

    desk.app.assert_bad_parameter("/api/v1/reviews?status=later", "status").await;
    assert_eq!(desk.app.get(&format!("/api/v1/reviews/{}", uuid::Uuid::new_v4())).await.status().as_u16(), 404);
}

/// A chain of merges (K7 into K9, then K9 into K5): K7 answers the last
/// survivor, where its subscriptions are delivered, and K5 lists both
/// addresses it absorbed among its aliases.
#[tokio::test]
async fn after_a_chain_of_merges_the_last_survivor_holds_every_alias() {
    let desk = Desk::open().await;
    let k7 = desk.register("Kade 7", "1011 AB", "Amsterdam").await;
    let k9 = desk.register("Kade 9", "1011 AB", "Amsterdam").await;
    let k5 = desk.register("Kade 5", "1011 AB", "Amsterdam").await;
    assert_eq!(desk.post(&format!("/api/v1/addresses/{k7}/merge"), &json!({"into": k9})).await.0, 200);
    assert_eq!(desk.post(&format!("/api/v1/addresses/{k9}/merge"), &json!({"into": k5})).await.0, 200);
    let survivor =
        masthead_test_support::wait_until("both merges projected", std::time::Duration::from_secs(20), || {
            let app = &desk.app;
            let path = format!("/api/v1/addresses/{k5}");
            async move {
                let view: Value = app.get(&path).await.json().await.ok()?;
                let ids: Vec<String> =
                    view["aliases"].as_array()?.iter().filter_map(|a| a["id"].as_str().map(str::to_owned)).collect();
                (ids.len() >= 2).then_some(ids)
            }
        })
        .await
        .expect("aliases");
    assert!(survivor.contains(&k7) && survivor.contains(&k9), "{survivor:?}");
    let first = desk.app.get_json(&format!("/api/v1/addresses/{k7}"), 200).await;
    assert_eq!(
        (first["status"].as_str(), first["merged_into"].as_str()),
        (Some("merged"), Some(k5.as_str())),
        "{first}"
    );
}

/// Read from the event store (an API without read models), a subscription shows its address's `ref` as it
/// is now, not the one its match carried: a correction of the `ref` alone
/// moves no subscription.
#[tokio::test]
async fn a_subscription_read_from_the_events_shows_its_addresss_current_ref() {
    use masthead_domain::base_address::{BaseAddressCorrected, BaseAddressEvent};
    use masthead_domain::envelope::{AnyEvent, Recorded};
    use masthead_domain::schema::EventSchema;
    use masthead_test_support::app::{spawn_app, API};
    use masthead_test_support::history::{address_event, subscription_events, utc, Fate};
    use masthead_test_support::stream::publish_recorded;

    let app = spawn_app(API).await;
    let address = base_address("Kerkstraat 1", "3511 LX", "Utrecht", "NL", Some("R-1"));
    let subscription = uuid::Uuid::from_u128(0x5ab5_0001);
    let mut events = vec![address_event(&address)];
    events.extend(subscription_events(subscription, utc(2025, 3, 1, 9), "NL", "Kerkstraat 1", Fate::Matched(99.0)));
    publish_recorded(&app.js, &app.topology, &events).await.expect("publish");
    let path = format!("/api/v1/subscriptions/{subscription}");
    let view = app.get_json(&path, 200).await;
    assert_eq!(view["freshness"]["source"], "event_store", "{view}");
    assert_eq!(view["base_address_ref"], "R-1", "the registration's ref, though the match carried none: {view}");

    let at = utc(2025, 3, 2, 9);
    let corrected = BaseAddressEvent::BaseAddressCorrected(BaseAddressCorrected {
        base_address_id: address.base_address_id,
        before: address.address.clone(),
        address: address.address.clone(),
        previous_ref: Some("R-1".into()),
        reference: Some("R-1b".into()),
        canonical: address.canonical.clone(),
        actor: "ada".into(),
        reason: None,
        corrected_at: at,
    });
    let envelope = masthead_testdata::events::envelope(
        BaseAddressEvent::AGGREGATE_TYPE,
        address.base_address_id.to_string(),
        corrected.event_type(),
        0,
        at,
    );
    let correction = [Recorded { envelope, stream_sequence: 0, event: AnyEvent::BaseAddress(corrected) }];
    publish_recorded(&app.js, &app.topology, &correction).await.expect("publish");
    let view = app.get_json(&path, 200).await;
    assert_eq!(view["base_address_ref"], "R-1b", "{view}");
    assert_eq!(view["base_address_status"], "active", "{view}");
}

/// The search page finds an address by its `ref` and shows each row's ref.
#[tokio::test]
async fn the_search_page_finds_an_address_by_its_ref() {
    let desk = Desk::open().await;
    let one = base_address("Kerkstraat 12", "3511 LX", "Utrecht", "NL", Some("R-12"));
    let other = base_address("Kerkstraat 14", "3511 LX", "Utrecht", "NL", Some("R-14"));
    desk.app.add_addresses(&[one.clone(), other.clone()]).await;
    let url = format!("{}/curate?ref=R-12", desk.app.address);
    let response = desk.curator.get(url).header("accept", "text/html").send().await.expect("page");
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains(&format!("data-id=\"{}\"", one.base_address_id)), "{html}");
    assert!(!html.contains(&format!("data-id=\"{}\"", other.base_address_id)), "{html}");
    assert!(html.contains("<td>R-12</td>") && html.contains("value=\"R-12\""), "{html}");
}
