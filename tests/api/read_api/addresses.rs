use crate::helpers::ids;
use masthead_projections::query::{normalize_city, normalize_postal_code, street_tokens};
use masthead_projections::{AddressFilter, PageRequest, StoreConfig};
use masthead_test_support::app::{spawn_app, API_AND_PROJECTOR};
use masthead_test_support::history::{address_event, base_address, synth_addresses};
use serde_json::Value;
use std::collections::HashSet;

fn streets(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["lines"]["street"].as_str().expect("street").to_owned()).collect()
}

#[tokio::test]
async fn addresses_are_filtered_and_searched_as_you_type() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let addresses = vec![
        base_address("Kerkstraat 12", "3511 LX", "Utrecht", "NL", Some("R-0001")),
        base_address("Kerkstraat 14", "3511 LX", "Utrecht", "NL", Some("R-0002")),
        base_address("Kerkweg 3", "1011 AB", "Amsterdam", "NL", None),
        base_address("Kerkhof 1", "3512 AA", "Utrecht", "NL", None),
        base_address("Molenweg 7", "3511 LX", "Utrecht", "NL", None),
        base_address("East River Street 9", "10001", "New York", "US", Some("US-9")),
        base_address("Mödlinger Straße 4", "50667", "Köln", "DE", None),
    ];
    app.add_addresses(&addresses).await;

    let by_postal = app.get_json("/api/v1/addresses?postal_code=3511%20lx", 200).await;
    let mut got = streets(by_postal["items"].as_array().expect("items"));
    got.sort();
    assert_eq!(got, ["Kerkstraat 12", "Kerkstraat 14", "Molenweg 7"]);

    let by_city = app.get_json("/api/v1/addresses?city=UTRECHT&limit=100", 200).await;
    assert_eq!(by_city["items"].as_array().map(Vec::len), Some(4));
    let by_city = app.get_json("/api/v1/addresses?city=koln", 200).await;
    assert_eq!(streets(by_city["items"].as_array().expect("items")), ["Mödlinger Straße 4"]);

    let by_country = app.get_json("/api/v1/addresses?country=United%20States", 200).await;
    assert_eq!(streets(by_country["items"].as_array().expect("items")), ["East River Street 9"]);

    let by_ref = app.get_json("/api/v1/addresses?ref=R-0002", 200).await;
    let items = by_ref["items"].as_array().expect("items");
    assert_eq!(streets(items), ["Kerkstraat 14"]);
    assert_eq!(items[0]["ref"], "R-0002");
    assert_eq!(items[0]["id"], addresses[1].base_address_id.to_string());

    // Search as you type: every word starts a street word; numbers ignored.
    let kerk = app.get_json("/api/v1/addresses?q=kerk", 200).await;
    let mut got = streets(kerk["items"].as_array().expect("items"));
    got.sort();
    assert_eq!(got, ["Kerkhof 1", "Kerkstraat 12", "Kerkstraat 14", "Kerkweg 3"]);
    let kerkst = app.get_json("/api/v1/addresses?q=kerkst%2012", 200).await;
    let mut got = streets(kerkst["items"].as_array().expect("items"));
    got.sort();
    assert_eq!(got, ["Kerkstraat 12", "Kerkstraat 14"]);
    let words_any_order = app.get_json("/api/v1/addresses?q=riv%20ea", 200).await;
    assert_eq!(streets(words_any_order["items"].as_array().expect("items")), ["East River Street 9"]);
    let accents = app.get_json("/api/v1/addresses?q=modl", 200).await;
    assert_eq!(streets(accents["items"].as_array().expect("items")), ["Mödlinger Straße 4"]);
    let none = app.get_json("/api/v1/addresses?q=zzz", 200).await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0));
    assert!(none["next_cursor"].is_null());

    // Search and exact filters combine.
    let both = app.get_json("/api/v1/addresses?q=kerk&city=Amsterdam", 200).await;
    assert_eq!(streets(both["items"].as_array().expect("items")), ["Kerkweg 3"]);

    for (query, param) in [
        ("q=12", "q"),
        ("q=%20-%20", "q"),
        ("country=Narnia", "country"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=Zm9v", "cursor"),
        ("street=Kerkstraat", "street"),
        (&format!("city={}", "x".repeat(121)), "city"),
    ] {
        app.assert_bad_parameter(&format!("/api/v1/addresses?{query}"), param).await;
    }
}

#[tokio::test]
async fn address_pages_walk_every_match_exactly_once() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let addresses = synth_addresses(400);
    app.add_addresses(&addresses).await;

    let everything = app.walk("/api/v1/addresses", 37).await;
    let all_ids: Vec<String> = ids(&everything);
    assert_eq!(all_ids.len(), 400);
    assert_eq!(all_ids.iter().collect::<HashSet<_>>().len(), 400, "no address twice");

    // A search walk returns exactly the addresses whose street matches,
    // however the pages are ranked inside.
    for q in ["kerk", "molenstr", "zuid laan", "w"] {
        let words = street_tokens(q);
        let want: HashSet<String> = addresses
            .iter()
            .filter(|a| {
                let t = street_tokens(&a.address.street);
                words.iter().all(|w| t.iter().any(|x| x.starts_with(w.as_str())))
            })
            .map(|a| a.base_address_id.to_string())
            .collect();
        for limit in [3, 20] {
            let walked = ids(&app.walk(&format!("/api/v1/addresses?q={}", q.replace(' ', "%20")), limit).await);
            assert_eq!(walked.len(), want.len(), "q={q} limit={limit}: duplicates or gaps");
            assert_eq!(walked.into_iter().collect::<HashSet<_>>(), want, "q={q} limit={limit}");
        }
    }

    // An exact filter walk too.
    let city = "Amsterdam";
    let want: HashSet<String> = addresses
        .iter()
        .filter(|a| a.address.city.as_deref().map(normalize_city) == Some(normalize_city(city)))
        .map(|a| a.base_address_id.to_string())
        .collect();
    let walked = ids(&app.walk(&format!("/api/v1/addresses?city={city}"), 6).await);
    assert_eq!(walked.len(), want.len());
    assert_eq!(walked.into_iter().collect::<HashSet<_>>(), want);

    let sample = &addresses[0];
    let postal = sample.address.postal_code.clone().expect("postal code");
    let page = app.get_json(&format!("/api/v1/addresses?postal_code={}", normalize_postal_code(&postal)), 200).await;
    assert!(ids(page["items"].as_array().expect("items")).contains(&sample.base_address_id.to_string()));
}

#[tokio::test]
async fn a_search_page_puts_streets_that_begin_with_the_query_first() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let addresses: Vec<_> = (1..=6)
        .map(|n| base_address(&format!("Oude Kerkstraat {n}"), "3511 LX", "Utrecht", "NL", None))
        .chain([base_address("Kerkstraat 2", "3511 LX", "Utrecht", "NL", None)])
        .chain([base_address("Kerkstraatweg 1", "3511 LX", "Utrecht", "NL", None)])
        .collect();
    app.add_addresses(&addresses).await;

    // The store's own order (word, then id) interleaves them: without
    // ranking this test would fail. (A store of the same kind holding the
    // same events, beside the app's, whose file its projector holds.)
    let dir = tempfile::tempdir().expect("tempdir");
    let same = masthead_projections::open(&StoreConfig::Embedded { path: dir.path().join("same.redb") })
        .await
        .expect("a store like the app's");
    let events: Vec<_> = addresses.iter().map(address_event).collect();
    assert!(same.apply_batch(&events).await.expect("apply").rejected.is_empty());
    let filter = AddressFilter { q: Some("kerkstr".into()), ..Default::default() };
    let raw = same.addresses(&filter, PageRequest::first(100)).await.expect("raw");
    let raw_streets: Vec<&str> = raw.items.iter().map(|a| a.lines.street.as_str()).collect();
    assert!(raw_streets[..2].iter().any(|s| s.starts_with("Oude")), "store order already ranked: {raw_streets:?}");

    let page = app.get_json("/api/v1/addresses?q=kerkstr", 200).await;
    let got = streets(page["items"].as_array().expect("items"));
    assert_eq!(got.len(), 8);
    assert_eq!(
        got[..2].iter().collect::<HashSet<_>>(),
        HashSet::from([&"Kerkstraat 2".to_owned(), &"Kerkstraatweg 1".to_owned()]),
        "{got:?}"
    );
    assert!(got[2..].iter().all(|s| s.starts_with("Oude")), "{got:?}");
}

#[tokio::test]
async fn one_address_by_id() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let a = base_address("Kerkstraat 12", "3511 LX", "Utrecht", "Nederland", Some("R-12"));
    app.add_addresses(std::slice::from_ref(&a)).await;
    let body = app.get_json(&format!("/api/v1/addresses/{}", a.base_address_id), 200).await;
    assert_eq!(body["id"], a.base_address_id.to_string());
    assert_eq!(body["ref"], "R-12");
    assert_eq!(body["lines"]["street"], "Kerkstraat 12");
    assert_eq!(body["lines"]["country"], "NL");
    assert_eq!(body["source"]["kind"], "import");

    app.assert_bad_parameter("/api/v1/addresses/not-a-uuid", "id").await;
    let missing = app.get_json(&format!("/api/v1/addresses/{}", uuid::Uuid::new_v4()), 404).await;
    assert_eq!(missing["error"]["code"], "not_found");
}
