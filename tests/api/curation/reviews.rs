//! Review decisions: merge, distinct, and each refusal.

use super::{field, open_pair, Desk};
use masthead_test_support::history::base_address;
use serde_json::json;

/// Imports `streets` (all in 1011 AB Amsterdam) as a base list does, where
/// near-duplicates may stand side by side (registering the second by hand
/// would be refused); returns their ids.
async fn import(desk: &Desk, streets: &[&str]) -> Vec<String> {
    let imported: Vec<_> = streets.iter().map(|s| base_address(s, "1011 AB", "Amsterdam", "NL", None)).collect();
    desk.app.add_addresses(&imported).await;
    imported.iter().map(|x| x.base_address_id.to_string()).collect()
}

#[tokio::test]
async fn a_merge_decision_merges_the_pair_once_and_a_contrary_one_is_refused() {
    let desk = Desk::open().await;
    let [a, b] = <[String; 2]>::try_from(import(&desk, &["Rossem 3", "Rossum 3"]).await).expect("two");
    let item = open_pair(&desk.app, &a, &b).await;
    let path = format!("/api/v1/reviews/{item}/decision");

    let (status, outside) = desk.post(&path, &json!({"decision": "merge", "into": uuid::Uuid::new_v4()})).await;
    assert_eq!((status, field(&outside)), (422, "into"), "{outside}");
    let (status, missing) = desk.post(&path, &json!({"decision": "merge"})).await;
    assert_eq!((status, field(&missing)), (422, "into"), "{missing}");
    let (status, bad) = desk.post(&path, &json!({"decision": "maybe"})).await;
    assert_eq!((status, field(&bad)), (422, "decision"), "{bad}");

    let (status, decided) = desk.post(&path, &json!({"decision": "merge", "into": b, "reason": "typo"})).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["decision"], "merge");
    assert_eq!(decided["merged"], a.as_str());
    assert_eq!(decided["into"], b.as_str());
    // The merge itself happened: the merged spelling resolves to the survivor.
    let (status, again) = desk
        .post(
            "/api/v1/addresses",
            &json!({"street": "Rossem 3", "postal_code": "1011AB", "city": "Amsterdam", "country": "NL"}),
        )
        .await;
    assert_eq!((status, again["existing"]["id"].as_str()), (409, Some(b.as_str())), "{again}");

    assert_eq!(desk.post(&path, &json!({"decision": "merge", "into": b})).await.0, 200);
    let (status, contrary) = desk.post(&path, &json!({"decision": "distinct"})).await;
    assert_eq!(status, 409, "{contrary}");
}

#[tokio::test]
async fn a_distinct_decision_names_its_pairs_and_unknown_items_are_404() {
    let desk = Desk::open().await;
    let a = desk.register("Kerkstraat 12", "1011 AB", "Amsterdam").await;
    let b = desk.register("Kerkstraat 12a", "1011 AB", "Amsterdam").await;
    let item = open_pair(&desk.app, &a, &b).await;
    let path = format!("/api/v1/reviews/{item}/decision");
    let (status, decided) = desk.post(&path, &json!({"decision": "distinct"})).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["decision"], "distinct");
    let mut want = [a.clone(), b.clone()];
    want.sort();
    assert_eq!(decided["pairs"], json!([want]));
    // Opening the same pair again queues nothing new: same id, decided.
    assert_eq!(open_pair(&desk.app, &b, &a).await, item);
    assert_eq!(desk.post(&path, &json!({"decision": "merge", "into": b})).await.0, 409);

    let unknown = format!("/api/v1/reviews/{}/decision", uuid::Uuid::new_v4());
    assert_eq!(desk.post(&unknown, &json!({"decision": "distinct"})).await.0, 404);
    assert_eq!(desk.post("/api/v1/reviews/nope/decision", &json!({"decision": "distinct"})).await.0, 400);
}

/// A pair merged by hand after it was queued is one address: "distinct"
/// is refused with the survivor (it would label a merged pair distinct in
/// the export), and a merge decision into that survivor closes the item.
/// A survivor on a distinct decision is refused, naming `into`.
#[tokio::test]
async fn a_pair_merged_by_hand_cannot_be_called_distinct() {
    let desk = Desk::open().await;
    let [a, b] = <[String; 2]>::try_from(import(&desk, &["Rossem 5", "Rossum 5"]).await).expect("two");
    let item = open_pair(&desk.app, &a, &b).await;
    let path = format!("/api/v1/reviews/{item}/decision");
    let (status, with_into) = desk.post(&path, &json!({"decision": "distinct", "into": b})).await;
    assert_eq!((status, field(&with_into)), (422, "into"), "{with_into}");

    assert_eq!(desk.post(&format!("/api/v1/addresses/{a}/merge"), &json!({"into": b})).await.0, 200);
    let (status, distinct) = desk.post(&path, &json!({"decision": "distinct"})).await;
    assert_eq!(status, 409, "{distinct}");
    assert!(distinct["error"]["message"].as_str().unwrap_or("").contains(&b), "{distinct}");
    let (status, merged) = desk.post(&path, &json!({"decision": "merge", "into": b})).await;
    assert_eq!(status, 200, "{merged}");
}

/// The review page of an item with several candidates lists them all and
/// compares the one asked for; "merge right into left" (which merges the
/// first candidate) is offered beside the first only. A decided item shows
/// its decision and no buttons.
#[tokio::test]
async fn the_review_page_shows_every_candidate_and_a_decided_item_has_no_buttons() {
    let desk = Desk::open().await;
    let ids = import(&desk, &["Rossem 7", "Rossum 7", "Rossom 7"]).await;
    let [a, b, c] = <[String; 3]>::try_from(ids).expect("three").map(|id| id.parse::<uuid::Uuid>().expect("uuid"));
    let mut opened = masthead_test_support::history::duplicate_pair(a, b, 0.9);
    let mut second = opened.candidates[0].clone();
    second.base_address_id = c;
    opened.candidates.push(second);
    let item = opened.review_id;
    desk.app.open_review(opened).await;
    let page = |query: &'static str| {
        let url = format!("{}/curate/reviews/{item}{query}", desk.app.address);
        let client = desk.curator.clone();
        async move {
            let response = client.get(url).header("accept", "text/html").send().await.expect("page");
            (response.status().as_u16(), response.text().await.expect("html"))
        }
    };

    let first = masthead_test_support::wait_until("the item projected", std::time::Duration::from_secs(20), || {
        let page = page("");
        async move { Some(page.await).filter(|(status, html)| *status == 200 && html.contains("data-right")) }
    })
    .await
    .expect("item page")
    .1;
    assert!(first.contains(&format!("data-right=\"{b}\"")) && first.contains(&c.to_string()), "{first}");
    assert!(first.contains("id=\"merge-into-left\""), "{first}");
    let (status, other) = page("?candidate=1").await;
    assert_eq!(status, 200, "{other}");
    assert!(other.contains(&format!("data-right=\"{c}\"")), "{other}");
    assert!(!other.contains("id=\"merge-into-left\""), "merging into left would merge the first candidate: {other}");
    assert_eq!(page("?candidate=x").await.0, 400);
    assert_eq!(page("?candidate=2").await.0, 400, "only candidates 0 and 1");

    let (status, decided) =
        desk.post(&format!("/api/v1/reviews/{item}/decision"), &json!({"decision": "distinct"})).await;
    assert_eq!(status, 200, "{decided}");
    let shown = masthead_test_support::wait_until("the decision projected", std::time::Duration::from_secs(20), || {
        let page = page("");
        async move { Some(page.await.1).filter(|html| html.contains("id=\"decided\"")) }
    })
    .await
    .expect("decided page");
    assert!(!shown.contains("data-decision"), "no buttons on a decided item: {shown}");
}

/// Once a side of an item is retired, the page says why only Distinct can
/// be decided, offers no merge button, and shows each side's status.
#[tokio::test]
async fn an_item_with_a_retired_side_offers_only_distinct() {
    let desk = Desk::open().await;
    let a = desk.register("Schoolstraat 4", "3511 KR", "Utrecht").await;
    let b = desk.register("Schoolstraat 6", "3511 KR", "Utrecht").await;
    let item = open_pair(&desk.app, &a, &b).await;
    let url = format!("{}/curate/reviews/{item}", desk.app.address);
    let page = || async {
        let response = desk.curator.get(&url).header("accept", "text/html").send().await.ok()?;
        response.text().await.ok()
    };
    let before =
        masthead_test_support::wait_until("the item projected", std::time::Duration::from_secs(20), || async {
            page().await.filter(|html| html.contains("data-right"))
        })
        .await
        .expect("item page");
    assert!(before.contains("id=\"merge-into-right\"") && !before.contains("id=\"decision-note\""), "{before}");

    let (status, retired) = desk.post(&format!("/api/v1/addresses/{b}/retire"), &json!({"reason": "demolished"})).await;
    assert_eq!(status, 200, "{retired}");
    let after =
        masthead_test_support::wait_until("the retirement projected", std::time::Duration::from_secs(20), || async {
            page().await.filter(|html| html.contains("id=\"decision-note\""))
        })
        .await
        .expect("item page");
    assert!(after.contains("the right address is retired"), "{after}");
    assert!(!after.contains("id=\"merge-into-right\"") && !after.contains("id=\"merge-into-left\""), "{after}");
    assert!(after.contains("id=\"distinct\"") && after.contains("data-field=\"status\""), "{after}");
}

/// A side merged by hand into the other: Distinct would be refused (they
/// are one address), so the page offers the merge, which records it and
/// closes the item.
#[tokio::test]
async fn an_item_whose_sides_were_merged_by_hand_offers_the_merge_that_closes_it() {
    let desk = Desk::open().await;
    let a = desk.register("Veldweg 4", "3511 KR", "Utrecht").await;
    let b = desk.register("Veldweg 6", "3511 KR", "Utrecht").await;
    let item = open_pair(&desk.app, &a, &b).await;
    let (status, merged) = desk.post(&format!("/api/v1/addresses/{a}/merge"), &json!({"into": b})).await;
    assert_eq!(status, 200, "{merged}");
    let url = format!("{}/curate/reviews/{item}", desk.app.address);
    let page = masthead_test_support::wait_until("the merge projected", std::time::Duration::from_secs(20), || async {
        let response = desk.curator.get(&url).header("accept", "text/html").send().await.ok()?;
        response.text().await.ok().filter(|html| html.contains("id=\"decision-note\""))
    })
    .await
    .expect("item page");
    assert!(page.contains("merged into the right one already"), "{page}");
    assert!(page.contains(&format!("id=\"merge-into-right\" data-decision=\"merge\" data-into=\"{b}\"")), "{page}");
    assert!(!page.contains("id=\"distinct\"") && !page.contains("id=\"merge-into-left\""), "{page}");
    // What the button sends closes the item.
    let (status, decided) =
        desk.post(&format!("/api/v1/reviews/{item}/decision"), &json!({"decision": "merge", "into": b})).await;
    assert_eq!(status, 200, "{decided}");
}
