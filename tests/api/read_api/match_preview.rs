use masthead_domain::base_address::BaseAddressRegistered;
use masthead_test_support::app::{spawn_app, TestApp, API_AND_PROJECTOR};
use masthead_test_support::history::base_address;
use serde_json::Value;

async fn seeded_book() -> (TestApp, Vec<BaseAddressRegistered>) {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let addresses = vec![
        base_address("Kerkstraat 12", "3511 LX", "Utrecht", "NL", Some("R-12")),
        base_address("Kerkstraat 21", "3511 LX", "Utrecht", "NL", Some("R-21")),
        base_address("Kerkweg 12", "3511 LX", "Utrecht", "NL", None),
        base_address("Kerkstraat 12", "1011 AB", "Amsterdam", "NL", None),
        base_address("Molenweg 3", "3511 LX", "Utrecht", "NL", None),
    ];
    app.add_addresses(&addresses).await;
    (app, addresses)
}

fn candidate<'a>(body: &'a Value, id: &uuid::Uuid) -> Option<&'a Value> {
    body["candidates"].as_array().expect("candidates").iter().find(|c| c["id"] == id.to_string())
}

#[tokio::test]
async fn a_variant_spelling_previews_as_a_match_with_its_explanation() {
    let (app, addresses) = seeded_book().await;
    let before = app.store.last_sequence().await.expect("seq");
    let body =
        app.get_json("/api/v1/match?street=kerkstr.%2012&postal_code=3511lx&city=utrecht&country=Nederland", 200).await;
    let want = &addresses[0];
    assert_eq!(body["decision"]["kind"], "match", "{body}");
    assert_eq!(body["decision"]["base_address_id"], want.base_address_id.to_string());
    let score = body["decision"]["score"].as_f64().expect("score");
    assert!(score > 80.0, "{score}");

    let candidates = body["candidates"].as_array().expect("candidates");
    assert!(!candidates.is_empty() && candidates.len() <= 5);
    let first = &candidates[0];
    assert_eq!(first["id"], want.base_address_id.to_string());
    assert_eq!(first["chosen"], true);
    assert!(first["veto"].is_null());
    assert_eq!(first["ref"], "R-12");
    assert_eq!(first["lines"]["street"], "Kerkstraat 12");
    assert_eq!(first["lines"]["postal_code"], "3511 LX");
    assert_eq!(first["explanation"]["house_number"], "exact");
    assert_eq!(first["explanation"]["postal_code"], "exact");
    assert!(first["explanation"]["street_similarity"].as_f64().expect("similarity") > 50.0);
    // Ranked best first; scores between 0 and 100.
    let scores: Vec<f64> = candidates.iter().map(|c| c["score"].as_f64().expect("score")).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores.iter().all(|s| (0.0..=100.0).contains(s)));
    assert_eq!(candidates.iter().filter(|c| c["chosen"] == true).count(), 1);

    // The other house number is a candidate but vetoed.
    let other = candidate(&body, &addresses[1].base_address_id).expect("Kerkstraat 21 considered");
    assert_eq!(other["veto"], "house_number", "{other}");
    assert_eq!(other["score"], 0.0);
    assert_eq!(other["chosen"], false);

    assert_eq!(body["probe"]["postal_code"], "3511LX");
    assert_eq!(body["probe"]["country"], "NL");
    assert_eq!(body["index_size"], 5);

    // A dry run: nothing appended.
    assert_eq!(app.store.last_sequence().await.expect("seq"), before);
}

#[tokio::test]
async fn an_address_nobody_has_previews_as_new() {
    let (app, _) = seeded_book().await;
    let body =
        app.get_json("/api/v1/match?street=Dorpsstraat%201&postal_code=9999%20ZZ&city=Nergens&country=NL", 200).await;
    assert_eq!(body["decision"]["kind"], "new", "{body}");
    assert!(body["decision"]["base_address_id"].is_null());
    assert!(body["candidates"].as_array().expect("candidates").iter().all(|c| c["chosen"] == false));

    // A house number the base list lacks: new, with the near miss shown.
    let body =
        app.get_json("/api/v1/match?street=Kerkstraat%2099&postal_code=3511LX&city=Utrecht&country=NL", 200).await;
    assert_eq!(body["decision"]["kind"], "new", "{body}");
    let vetoed = body["candidates"].as_array().expect("candidates");
    assert!(!vetoed.is_empty());
    assert!(vetoed.iter().all(|c| c["veto"].is_string()), "{body}");
}

#[tokio::test]
async fn match_preview_parameters_are_checked() {
    let (app, _) = seeded_book().await;
    let two = app.get_json("/api/v1/match?street=Kerkstraat%2012&city=Utrecht&limit=2", 200).await;
    assert!(two["candidates"].as_array().expect("candidates").len() <= 2);
    let twenty = app.get_json("/api/v1/match?street=Kerkstraat%2012&limit=20", 200).await;
    assert!(twenty["candidates"].as_array().expect("candidates").len() <= 20);

    for (query, param) in [
        ("", "street"),
        ("street=", "street"),
        ("postal_code=3511LX", "street"),
        ("street=Kerkstraat%2012&limit=21", "limit"),
        ("street=Kerkstraat%2012&limit=0", "limit"),
        ("street=Kerkstraat%2012&country=Mordor", "country"),
        ("street=Kerkstraat%2012&house=12", "house"),
    ] {
        app.assert_bad_parameter(&format!("/api/v1/match?{query}"), param).await;
    }
}
