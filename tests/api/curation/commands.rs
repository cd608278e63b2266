//! Register, correct, merge and retire: each status code.

use super::{field, Desk};
use masthead_auth::Role;
use masthead_test_support::app::client_with_token;
use serde_json::{json, Value};

#[tokio::test]
async fn registering_by_hand_answers_201_and_a_near_duplicate_409_with_the_existing_address() {
    let desk = Desk::open().await;
    let body = json!({"ref": "R-1", "street": "East River Street 14", "postal_code": "10001", "city": "New York", "country": "US", "reason": "new building"});
    let (status, created) = desk.post("/api/v1/addresses", &body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "active");
    assert_eq!(created["ref"], "R-1");
    assert_eq!(created["lines"]["street"], "East River Street 14");
    let id = created["id"].as_str().expect("id");

    // Another spelling of the same address: nothing stored, the existing one named.
    let before = desk.app.store.last_sequence().await.expect("sequence");
    let variant = json!({"street": "East river str. 14", "postal_code": "10001", "city": "new york", "country": "USA"});
    let (status, conflict) = desk.post("/api/v1/addresses", &variant).await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["existing"]["id"], id);
    assert_eq!(
        desk.app.store.last_sequence().await.expect("sequence"),
        before,
        "a refused registration stored something"
    );

    // Another house number is another address.
    let (status, other) = desk
        .post(
            "/api/v1/addresses",
            &json!({"street": "East River Street 41", "postal_code": "10001", "city": "New York", "country": "US"}),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    assert_ne!(other["id"], id);

    // Empty optional fields, as a form posts them, are left out.
    let (status, bare) = desk
        .post(
            "/api/v1/addresses",
            &json!({"ref": "", "street": "East River Street 43", "postal_code": " ", "city": "", "country": "US"}),
        )
        .await;
    assert_eq!(status, 201, "{bare}");
    assert!(
        bare["ref"].is_null() && bare["lines"]["postal_code"].is_null() && bare["lines"]["city"].is_null(),
        "{bare}"
    );
}

#[tokio::test]
async fn a_bad_registration_names_its_field() {
    let desk = Desk::open().await;
    let cases = [
        (json!({"postal_code": "1011 AB", "city": "Amsterdam", "country": "NL"}), "street"),
        (json!({"street": "Kerkstraat 12", "postal_code": "1011 AB", "city": "Amsterdam"}), "country"),
        (json!({"street": "Kerkstraat 12", "city": "Amsterdam", "country": "Atlantis"}), "country"),
        (json!({"street": 12, "city": "Amsterdam", "country": "NL"}), "street"),
        (json!({"street": "Kerkstraat 12", "postcode": "1011 AB", "country": "NL"}), "postcode"),
        (json!({"street": "Kerkstraat 12", "postal_code": "1011 AB 1011 AB 1011", "country": "NL"}), "postal_code"),
        (json!({"street": "Kerk\u{202e}straat 12", "country": "NL"}), "street"),
    ];
    for (body, named) in cases {
        let (status, answer) = desk.post("/api/v1/addresses", &body).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(field(&answer), named, "{body}: {answer}");
    }
    let url = format!("{}/api/v1/addresses", desk.app.address);
    let response =
        desk.curator.post(url).header("content-type", "application/json").body("[1, 2").send().await.expect("request");
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn only_curators_and_admins_may_change_the_list() {
    let desk = Desk::open().await;
    let body = json!({"street": "Kerkstraat 12", "postal_code": "1011 AB", "city": "Amsterdam", "country": "NL"});
    let url = format!("{}/api/v1/addresses", desk.app.address);
    let anonymous = desk.app.anonymous.post(&url).json(&body).send().await.expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);
    let viewer = client_with_token(&desk.app.token(&[Role::Viewer]));
    assert_eq!(viewer.post(&url).json(&body).send().await.expect("request").status().as_u16(), 403);
    let auditor = client_with_token(&desk.app.token(&[Role::Auditor]));
    assert_eq!(auditor.post(&url).json(&body).send().await.expect("request").status().as_u16(), 403);
    assert_eq!(desk.app.http.post(&url).json(&body).send().await.expect("request").status().as_u16(), 201);
}

#[tokio::test]
async fn a_correction_answers_200_and_refuses_what_it_cannot_do() {
    let desk = Desk::open().await;
    let id = desk.register("Rossem 3", "1011 AB", "Amsterdam").await;
    let other = desk.register("Kerkstraat 12", "1011 AB", "Amsterdam").await;
    let path = format!("/api/v1/addresses/{id}");

    let (status, corrected) = desk.patch(&path, &json!({"street": "Rossum 3", "reason": "typo"})).await;
    assert_eq!(status, 200, "{corrected}");
    assert_eq!(corrected["lines"]["street"], "Rossum 3");
    assert_eq!(corrected["lines"]["postal_code"], "1011 AB");
    // The same correction again changes nothing and still answers 200.
    assert_eq!(desk.patch(&path, &json!({"street": "Rossum 3"})).await.0, 200);
    // The corrected spelling cannot be registered again as a new address.
    let (status, again) = desk
        .post(
            "/api/v1/addresses",
            &json!({"street": "Rossum 3", "postal_code": "1011AB", "city": "Amsterdam", "country": "NL"}),
        )
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["existing"]["id"], id.as_str());

    // Lines that are another address's: merge instead.
    let (status, clash) = desk.patch(&path, &json!({"street": "Kerkstraat 12"})).await;
    assert_eq!(status, 409, "{clash}");
    assert_eq!(clash["existing"]["id"], other.as_str());

    let (status, empty) = desk.patch(&path, &json!({"reason": "nothing"})).await;
    assert_eq!((status, empty["error"]["code"].as_str()), (422, Some("nothing_to_change")), "{empty}");
    assert_eq!(field(&empty), "", "no one field is wrong: {empty}");
    let (status, bad) = desk.patch(&path, &json!({"country": "Atlantis"})).await;
    assert_eq!((status, field(&bad)), (422, "country"), "{bad}");
    let unknown = format!("/api/v1/addresses/{}", uuid::Uuid::new_v4());
    assert_eq!(desk.patch(&unknown, &json!({"street": "Rossum 4"})).await.0, 404);
    assert_eq!(desk.patch("/api/v1/addresses/not-a-uuid", &json!({"street": "Rossum 4"})).await.0, 400);
}

#[tokio::test]
async fn a_merge_answers_200_and_refuses_itself_and_inactive_survivors() {
    let desk = Desk::open().await;
    let a = desk.register("Molenweg 3", "3511 LX", "Utrecht").await;
    let b = desk.register("Molenweg 5", "3511 LX", "Utrecht").await;
    let c = desk.register("Molenweg 7", "3511 LX", "Utrecht").await;
    let d = desk.register("Molenweg 9", "3511 LX", "Utrecht").await;

    let (status, itself) = desk.post(&format!("/api/v1/addresses/{a}/merge"), &json!({"into": a})).await;
    assert_eq!(status, 422, "{itself}");
    let (status, missing) = desk.post(&format!("/api/v1/addresses/{a}/merge"), &json!({})).await;
    assert_eq!((status, field(&missing)), (422, "into"), "{missing}");
    let (status, unknown) =
        desk.post(&format!("/api/v1/addresses/{a}/merge"), &json!({"into": uuid::Uuid::new_v4()})).await;
    assert_eq!(status, 422, "{unknown}");

    let (status, merged) =
        desk.post(&format!("/api/v1/addresses/{a}/merge"), &json!({"into": b, "reason": "same door"})).await;
    assert_eq!(status, 200, "{merged}");
    assert_eq!(merged["status"], "merged");
    assert_eq!(merged["merged_into"], b.as_str());
    // Repeated: already so.
    assert_eq!(desk.post(&format!("/api/v1/addresses/{a}/merge"), &json!({"into": b})).await.0, 200);
    // Into a merged address, or merging a merged one elsewhere: 409.
    assert_eq!(desk.post(&format!("/api/v1/addresses/{c}/merge"), &json!({"into": a})).await.0, 409);
    assert_eq!(desk.post(&format!("/api/v1/addresses/{a}/merge"), &json!({"into": c})).await.0, 409);
    // Into a retired address: 409.
    assert_eq!(desk.post(&format!("/api/v1/addresses/{d}/retire"), &json!({"reason": "demolished"})).await.0, 200);
    assert_eq!(desk.post(&format!("/api/v1/addresses/{c}/merge"), &json!({"into": d})).await.0, 409);
    let unknown = format!("/api/v1/addresses/{}/merge", uuid::Uuid::new_v4());
    assert_eq!(desk.post(&unknown, &json!({"into": b})).await.0, 404);

    // The merged spelling now resolves to the survivor.
    let (status, again) = desk
        .post(
            "/api/v1/addresses",
            &json!({"street": "Molenweg 3", "postal_code": "3511LX", "city": "Utrecht", "country": "NL"}),
        )
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["existing"]["id"], b.as_str());
}

#[tokio::test]
async fn retiring_needs_a_reason_and_ends_corrections() {
    let desk = Desk::open().await;
    let id = desk.register("Stationsplein 1", "3511 ED", "Utrecht").await;
    let path = format!("/api/v1/addresses/{id}/retire");
    let (status, missing) = desk.post(&path, &json!({})).await;
    assert_eq!((status, field(&missing)), (422, "reason"), "{missing}");
    let (status, retired) = desk.post(&path, &json!({"reason": "demolished"})).await;
    assert_eq!(status, 200, "{retired}");
    assert_eq!(retired["status"], "retired");
    assert_eq!(desk.post(&path, &json!({"reason": "demolished"})).await.0, 200);
    let (status, refused) = desk.patch(&format!("/api/v1/addresses/{id}"), &json!({"street": "Stationsplein 2"})).await;
    assert_eq!(status, 409, "{refused}");
    // Its ref alone may go, so another address can take it.
    let (status, released) = desk.patch(&format!("/api/v1/addresses/{id}"), &json!({"ref": "S-1"})).await;
    assert_eq!(
        (status, released["ref"].as_str(), released["status"].as_str()),
        (200, Some("S-1"), Some("retired")),
        "{released}"
    );
    let (status, cleared) = desk.patch(&format!("/api/v1/addresses/{id}"), &json!({"ref": null})).await;
    assert_eq!((status, cleared["ref"].is_null()), (200, true), "{cleared}");
    let body = json!({"ref": "S-1", "street": "Stationsplein 3", "postal_code": "3511 ED", "city": "Utrecht", "country": "NL"});
    let (status, taken) = desk.post("/api/v1/addresses", &body).await;
    assert_eq!(status, 201, "{taken}");
    let unknown = format!("/api/v1/addresses/{}/retire", uuid::Uuid::new_v4());
    assert_eq!(desk.post(&unknown, &json!({"reason": "x"})).await.0, 404);
}

/// Two merges sent at once, each address into the other: one is carried
/// out, the other finds its survivor merged and is refused, so an active
/// survivor remains (without serialising them both answered 200 and each
/// address ended merged into the other).
#[tokio::test]
async fn two_merges_into_each_other_at_once_leave_one_survivor() {
    let desk = Desk::open().await;
    for round in 0..3 {
        let a = desk.register(&format!("Loopweg {}", 2 * round + 1), "8888 YY", "Zwolle").await;
        let b = desk.register(&format!("Kringlaan {}", 2 * round + 51), "8888 YY", "Zwolle").await;
        let (a_path, b_path) = (format!("/api/v1/addresses/{a}/merge"), format!("/api/v1/addresses/{b}/merge"));
        let (into_b, into_a) = (json!({"into": b}), json!({"into": a}));
        let (one, two) = tokio::join!(desk.post(&a_path, &into_b), desk.post(&b_path, &into_a));
        let mut statuses = [one.0, two.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 409], "round {round}: {} / {}", one.1, two.1);
        let survivor = if one.0 == 200 { &b } else { &a };
        // Read once both registrations and the merge are projected.
        desk.app.project_all().await;
        let url = format!("{}/api/v1/addresses/{survivor}", desk.app.address);
        let view: Value = desk.curator.get(url).send().await.expect("get").json().await.expect("json");
        assert_eq!(view["status"], "active", "round {round}: {view}");
    }
}

/// A correction the address refuses (it is retired, or merged) leaves
/// nothing behind: the corrected spelling is not reserved for it, and can
/// still be registered as a new address.
#[tokio::test]
async fn a_refused_correction_reserves_nothing() {
    let desk = Desk::open().await;
    let retired = desk.register("Vismarkt 9", "3511 KR", "Utrecht").await;
    let merged = desk.register("Kerkweg 70", "1234 AB", "Utrecht").await;
    let survivor = desk.register("Kerkweg 72", "1234 AB", "Utrecht").await;
    assert_eq!(desk.post(&format!("/api/v1/addresses/{retired}/retire"), &json!({"reason": "gone"})).await.0, 200);
    assert_eq!(desk.post(&format!("/api/v1/addresses/{merged}/merge"), &json!({"into": survivor})).await.0, 200);

    for (id, street, postal_code, city) in
        [(&retired, "Vismarkt 45", "3511 KR", "Utrecht"), (&merged, "Kerkweg 77", "1234 AB", "Utrecht")]
    {
        let (status, refused) = desk.patch(&format!("/api/v1/addresses/{id}"), &json!({"street": street})).await;
        assert_eq!(status, 409, "{refused}");
        let body = json!({"street": street, "postal_code": postal_code, "city": city, "country": "NL"});
        let (status, registered) = desk.post("/api/v1/addresses", &body).await;
        assert_eq!(status, 201, "{street}: {registered}");
    }
}

/// A registration's reason goes into the event, and the address's history
/// shows it beside the actor.
#[tokio::test]
async fn a_registrations_reason_is_in_its_history() {
    let desk = Desk::open().await;
    let body = json!({"street": "Nieuwbouw 1", "postal_code": "3511 LX", "city": "Utrecht", "country": "NL",
        "reason": "new building"});
    let (status, registered) = desk.post("/api/v1/addresses", &body).await;
    assert_eq!(status, 201, "{registered}");
    let id = registered["id"].as_str().expect("id");
    let url = format!("{}/api/v1/addresses/{id}/history", desk.app.address);
    let history =
        masthead_test_support::wait_until("the registration projected", std::time::Duration::from_secs(20), || async {
            let body: Value = desk.curator.get(&url).send().await.ok()?.json().await.ok()?;
            body["items"].as_array().filter(|items| !items.is_empty()).cloned()
        })
        .await
        .expect("history");
    assert_eq!(history[0]["event_type"], "BaseAddressRegistered", "{history:?}");
    assert_eq!(history[0]["reason"], "new building", "{history:?}");
    assert_eq!(history[0]["actor"].as_str().map(|a| !a.is_empty()), Some(true), "{history:?}");
}

/// While another process holds the curation lease, a command waits a few
/// seconds and is then refused with `503` saying so (not blaming the event
/// store); once the lease is given back, the same command succeeds.
#[tokio::test]
async fn a_command_refused_while_another_holds_the_lease_says_so() {
    let desk = Desk::open().await;
    let id = desk.register("Wachtweg 1", "3511 LX", "Utrecht").await;
    let kv = desk.app.js.get_key_value(desk.app.config.topology().leases_bucket()).await.expect("leases");
    let held = masthead_jetstream::lease::Lease::try_acquire(&kv, "curation", "another process")
        .await
        .expect("bucket")
        .expect("free");
    let path = format!("/api/v1/addresses/{id}");
    let (status, busy) = desk.patch(&path, &json!({"street": "Wachtweg 3"})).await;
    assert_eq!((status, busy["error"]["code"].as_str()), (503, Some("busy")), "{busy}");
    held.release().await;
    assert_eq!(desk.patch(&path, &json!({"street": "Wachtweg 3"})).await.0, 200);
}

/// A `ref` is the publisher's key for one address: registering or
/// correcting to a `ref` another active address has is `409` naming `ref`
/// and that address, and stores nothing. Once that address is merged
/// away its `ref` is free again.
#[tokio::test]
async fn a_ref_another_address_holds_is_refused() {
    let desk = Desk::open().await;
    let body = |street: &str, r: &str| json!({"ref": r, "street": street, "postal_code": "3511 LX", "city": "Utrecht", "country": "NL"});
    let (status, first) = desk.post("/api/v1/addresses", &body("Oudegracht 1", "R-7")).await;
    assert_eq!(status, 201, "{first}");
    let first = first["id"].as_str().expect("id").to_owned();
    let (status, second) = desk.post("/api/v1/addresses", &body("Oudegracht 3", "R-8")).await;
    assert_eq!(status, 201, "{second}");
    let second = second["id"].as_str().expect("id").to_owned();

    let before = desk.app.store.last_sequence().await.expect("sequence");
    let (status, refused) = desk.post("/api/v1/addresses", &body("Oudegracht 5", "R-7")).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!((field(&refused), refused["existing"]["id"].as_str()), ("ref", Some(first.as_str())), "{refused}");
    let (status, refused) = desk.patch(&format!("/api/v1/addresses/{second}"), &json!({"ref": "R-7"})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!((field(&refused), refused["existing"]["id"].as_str()), ("ref", Some(first.as_str())), "{refused}");
    assert_eq!(desk.app.store.last_sequence().await.expect("sequence"), before, "a refused command stored something");

    // Its own ref, with other lines, is no conflict; a free one is taken.
    let (status, own) =
        desk.patch(&format!("/api/v1/addresses/{second}"), &json!({"ref": "R-8", "street": "Oudegracht 3bis"})).await;
    assert_eq!(status, 200, "{own}");
    let (status, corrected) = desk.patch(&format!("/api/v1/addresses/{first}"), &json!({"ref": "R-9"})).await;
    assert_eq!((status, corrected["ref"].as_str()), (200, Some("R-9")), "{corrected}");
    // R-7 was freed by that correction, at once (the next command sees it).
    let (status, taken) = desk.patch(&format!("/api/v1/addresses/{second}"), &json!({"ref": "R-7"})).await;
    assert_eq!((status, taken["ref"].as_str()), (200, Some("R-7")), "{taken}");
    // Another case, or an invisible character, is the same ref.
    for look_alike in ["r-7", "R-7\u{200B}"] {
        let (status, refused) = desk.post("/api/v1/addresses", &body("Oudegracht 9", look_alike)).await;
        assert_eq!((status, field(&refused)), (409, "ref"), "{look_alike:?}: {refused}");
    }
    // A merged address's ref no longer counts (its subscriptions moved to
    // the survivor); a retired one's does (they stay and show it).
    assert_eq!(desk.post(&format!("/api/v1/addresses/{second}/merge"), &json!({"into": first})).await.0, 200);
    let (status, again) = desk.post("/api/v1/addresses", &body("Oudegracht 7", "R-7")).await;
    assert_eq!(status, 201, "{again}");
    let (status, retired) =
        desk.post(&format!("/api/v1/addresses/{first}/retire"), &json!({"reason": "demolished"})).await;
    assert_eq!(status, 200, "{retired}");
    let (status, refused) = desk.post("/api/v1/addresses", &body("Oudegracht 11", "R-9")).await;
    assert_eq!((status, refused["existing"]["id"].as_str()), (409, Some(first.as_str())), "{refused}");
}

/// `null` (or an empty string, as a cleared form field sends) clears the
/// postal code, the town or the ref; street and country cannot be
/// cleared. The history shows what was cleared.
#[tokio::test]
async fn a_correction_clears_the_optional_lines_and_the_ref() {
    let desk = Desk::open().await;
    let body =
        json!({"ref": "R-40", "street": "Lindelaan 40", "postal_code": "3511 LX", "city": "Utrecht", "country": "NL"});
    let (status, created) = desk.post("/api/v1/addresses", &body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/addresses/{id}");
    for cannot in ["street", "country"] {
        for value in [json!(null), json!(" ")] {
            let (status, refused) = desk.patch(&path, &json!({ cannot: value })).await;
            assert_eq!((status, field(&refused)), (422, cannot), "{refused}");
            assert_eq!(refused["errors"].as_array().map(Vec::len), Some(1), "one error: {refused}");
            assert_eq!(refused["errors"][0]["message"], "cannot be cleared", "{refused}");
        }
    }
    let (status, cleared) = desk.patch(&path, &json!({"postal_code": null, "ref": ""})).await;
    assert_eq!(status, 200, "{cleared}");
    assert!(cleared["lines"]["postal_code"].is_null() && cleared["ref"].is_null(), "{cleared}");
    assert_eq!(cleared["lines"]["city"], "Utrecht", "{cleared}");

    let url = format!("{}{path}/history", desk.app.address);
    let history =
        masthead_test_support::wait_until("the correction projected", std::time::Duration::from_secs(20), || async {
            let body: Value = desk.curator.get(&url).send().await.ok()?.json().await.ok()?;
            body["items"].as_array().filter(|items| items.len() == 2).cloned()
        })
        .await
        .expect("history");
    let changes = &history[1]["changes"];
    assert_eq!(changes["postal_code"]["from"], "3511 LX", "{history:?}");
    assert!(changes["postal_code"]["to"].is_null() && changes["ref"]["to"].is_null(), "{history:?}");
    assert!(changes.get("city").is_none(), "only what changed: {history:?}");
}
