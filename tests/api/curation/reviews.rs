//! Review decisions: merge, distinct, and each refusal.

use super::{field, open_pair, Desk};
use masthead_test_support::history::base_address;
use serde_json::json;

#[tokio::test]
async fn a_merge_decision_merges_the_pair_once_and_a_contrary_one_is_refused() {
    let desk = Desk::open().await;
    // An import holds both spellings (import deduplicates exact keys only);
    // registering the second by hand would have been refused.
    let imported = [
        base_address("Rossem 3", "1011 AB", "Amsterdam", "NL", None),
        base_address("Rossum 3", "1011 AB", "Amsterdam", "NL", None),
    ];
    desk.app.add_addresses(&imported).await;
    let (a, b) = (imported[0].base_address_id.to_string(), imported[1].base_address_id.to_string());
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
