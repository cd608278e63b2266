//! The address team's changes reaching subscribers through `masthead up`:
//! a merge and a correction move every subscription delivered there and
//! mail each subscriber once per change, also across a restart; and
//! subscriptions arriving while two addresses are merged all end at the
//! survivor.

use crate::common::*;
use masthead_test_support::{mime::Mail, wait_until, System, TestSmtp};
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

const SETTLE: Duration = Duration::from_secs(60);

/// The base address with publisher reference `reference`, once projected.
async fn address_id(http: &reqwest::Client, base: &str, reference: &str) -> Uuid {
    let url = format!("{base}/api/v1/addresses?ref={reference}");
    let found = wait_until(&format!("address {reference} projected"), SETTLE, || async {
        let page = get_json(http, &url).await?;
        page["items"][0]["id"].as_str().and_then(|s| s.parse().ok())
    })
    .await;
    found.expect("address projected")
}

async fn send(http: &reqwest::Client, method: reqwest::Method, url: String, body: Value) -> (u16, Value) {
    let response = http.request(method, url).json(&body).send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until every history satisfies `done`.
async fn wait_histories(
    inspector: &Inspector,
    ids: &[Uuid],
    what: &str,
    done: impl Fn(&[masthead_domain::subscription::SubscriptionEvent]) -> bool,
) {
    let result = wait_until(what, SETTLE, || async {
        for id in ids {
            if !done(&inspector.history(*id).await) {
                return None;
            }
        }
        Some(())
    })
    .await;
    result.expect(what);
}

#[tokio::test]
async fn a_merge_and_a_correction_move_every_subscription_and_mail_each_subscriber_once() {
    let smtp = TestSmtp::start();
    let mut system = System::new(MASTHEAD, Some(smtp.url())).expect("system");
    system
        .import_csv("ref,street,postal_code,city,country\nA,Molenweg 3,3511 LX,Utrecht,NL\nB,Stationsplein 9,3511 ED,Utrecht,NL\n")
        .expect("import");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http up");
    let (http, base) = (reqwest::Client::new(), system.base_url());
    let (viewer, curator) = (viewer_client(&system), role_client(&system, "curator"));
    let inspector = Inspector::connect(&system).await;
    let (a, b) = (address_id(&viewer, &base, "A").await, address_id(&viewer, &base, "B").await);

    let mut at_a = Vec::new();
    for name in ["Ann Aa", "Bert Bee"] {
        let (status, id) = subscribe(&http, &base, &body(name, "Molenweg 3", "3511LX", "Utrecht", "NL")).await;
        assert_eq!(status, 202);
        at_a.push(id.expect("id"));
    }
    let (_, at_b) = subscribe(&http, &base, &body("Cees Cee", "Stationsplein 9", "3511 ED", "Utrecht", "NL")).await;
    let at_b = at_b.expect("id");
    for id in at_a.iter().chain([&at_b]) {
        wait_status(&http, &base, *id, "confirmed").await;
    }
    assert_eq!(smtp.wait_for(3, SETTLE).len(), 3, "three confirmations");

    let (status, merged) =
        send(&curator, reqwest::Method::POST, format!("{base}/api/v1/addresses/{a}/merge"), json!({"into": b})).await;
    assert_eq!(status, 200, "{merged}");
    wait_histories(&inspector, &at_a, "A's subscriptions moved to B", |h| current_base(h) == Some(b)).await;
    let mails = smtp.wait_for(5, SETTLE);
    let corrections: Vec<_> = mails.iter().filter(|m| message_id(&m.data).starts_with("<correction.")).collect();
    assert_eq!(corrections.len(), 2, "one correction mail per moved subscriber");
    for mail in &corrections {
        let text = Mail::parse(&mail.data).text().to_owned();
        assert!(text.contains("Stationsplein 9"), "the mail shows the survivor's lines: {text}");
    }

    let (status, corrected) = send(
        &curator,
        reqwest::Method::PATCH,
        format!("{base}/api/v1/addresses/{b}"),
        json!({"street": "Stationsplein 9bis", "reason": "the building's own number"}),
    )
    .await;
    assert_eq!(status, 200, "{corrected}");
    let everyone: Vec<Uuid> = at_a.iter().copied().chain([at_b]).collect();
    wait_histories(&inspector, &everyone, "corrections mailed", |h| {
        let (_, sent) = changes_and_corrections(h);
        sent == if current_base(h) == resolved_base(h) { 1 } else { 2 }
    })
    .await;
    assert_eq!(smtp.wait_for(8, SETTLE).len(), 8, "three confirmations, two merge mails, three correction mails");

    // A restart re-reads the whole history and sends nothing again.
    assert!(system.stop("up").is_some_and(|s| s.success()));
    system.start("up", &["up"]).expect("up again");
    system.wait_http().await.expect("http up again");
    let base = system.base_url();
    let (_, later) = subscribe(&http, &base, &body("Dirk Dee", "Stationsplein 9bis", "3511 ED", "Utrecht", "NL")).await;
    wait_status(&http, &base, later.expect("id"), "confirmed").await;
    inspector.wait_drained(&["matcher", "mailer"], SETTLE).await;
    assert_eq!(smtp.count(), 9, "only the new subscriber's confirmation after the restart");
    for id in &everyone {
        let h = inspector.history(*id).await;
        let (changes, sent) = changes_and_corrections(&h);
        assert_eq!(changes, sent, "each change mailed exactly once: {h:#?}");
    }
    assert!(system.stop("up").is_some_and(|s| s.success()), "clean shutdown: {}", system.log("up"));
}

#[tokio::test]
async fn subscriptions_arriving_during_a_merge_all_end_at_the_survivor() {
    let mut system = System::new(MASTHEAD, None).expect("system");
    system
        .import_csv(
            "ref,street,postal_code,city,country\nA,Rossem 3,1011 AB,Amsterdam,NL\nB,Rossum 3,1011 AB,Amsterdam,NL\n",
        )
        .expect("import");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http up");
    let (http, base) = (reqwest::Client::new(), system.base_url());
    let (viewer, curator) = (viewer_client(&system), role_client(&system, "curator"));
    let inspector = Inspector::connect(&system).await;
    let (a, b) = (address_id(&viewer, &base, "A").await, address_id(&viewer, &base, "B").await);

    // Subscriptions typed exactly as either spelling, sent while the merge is.
    let sends = (0..60).map(|i| {
        let (http, base) = (http.clone(), base.clone());
        let street = if i % 2 == 0 { "Rossem 3" } else { "Rossum 3" };
        async move { subscribe(&http, &base, &body(&format!("Reader {i}"), street, "1011 AB", "Amsterdam", "NL")).await }
    });
    let merge = send(&curator, reqwest::Method::POST, format!("{base}/api/v1/addresses/{a}/merge"), json!({"into": b}));
    let (answers, (status, merged)) = tokio::join!(futures::future::join_all(sends), merge);
    assert_eq!(status, 200, "{merged}");
    let ids: Vec<Uuid> = answers
        .into_iter()
        .map(|(s, id)| {
            assert_eq!(s, 202);
            id.expect("id")
        })
        .collect();

    wait_histories(&inspector, &ids, "every subscription at the survivor", |h| current_base(h) == Some(b)).await;
    let bases = inspector.base_addresses().await;
    assert_eq!(bases.len(), 2, "no new base address: {bases:?}");
    assert!(system.stop("up").is_some_and(|s| s.success()), "clean shutdown: {}", system.log("up"));
}

fn run_ok(system: &System, args: &[&str]) -> String {
    let out = system.run(args).expect("masthead runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "masthead {}: {stdout}{stderr}", args.join(" "));
    stdout.into_owned()
}

fn run_refused(system: &System, args: &[&str]) -> String {
    let out = system.run(args).expect("masthead runs");
    assert!(!out.status.success(), "masthead {} should fail", args.join(" "));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn registered_id(stdout: &str) -> String {
    stdout.trim().rsplit(' ').next().expect("an id").to_owned()
}

#[tokio::test]
async fn the_cli_registers_corrects_merges_and_retires_and_names_a_bad_flag() {
    let system = System::new(MASTHEAD, None).expect("system");
    let kerk =
        ["addresses", "register", "--street", "Kerkstraat 12", "--postal-code", "1011 AB", "--city", "Amsterdam"];
    let first =
        registered_id(&run_ok(&system, &[&kerk[..], &["--country", "NL", "--reason", "new building"]].concat()));
    let again = [
        "addresses",
        "register",
        "--street",
        "Kerkstr. 12",
        "--postal-code",
        "1011AB",
        "--city",
        "Amsterdam",
        "--country",
        "Nederland",
    ];
    let refused = run_refused(&system, &again);
    assert!(refused.contains("refused") && refused.contains(&first), "{refused}");
    assert!(run_refused(&system, &[&kerk[..], &["--country", "Atlantis"]].concat()).contains("--country"));
    assert!(run_refused(&system, &["addresses", "merge", &first, "--into", "nope"]).contains("--into"));

    let molen = ["addresses", "register", "--street", "Molenweg 3", "--city", "Utrecht", "--country", "NL"];
    let second = registered_id(&run_ok(&system, &molen));
    let corrected =
        run_ok(&system, &["addresses", "correct", &second, "--postal-code", "3511 LX", "--reason", "postcode found"]);
    assert!(corrected.contains("corrected"), "{corrected}");
    let clear = ["addresses", "correct", &second, "--clear", "city", "--reason", "town unknown"];
    assert!(run_ok(&system, &clear).contains("corrected"));
    let both = run_refused(&system, &["addresses", "correct", &second, "--clear", "ref", "--ref", "R-1"]);
    assert!(both.contains("--ref"), "{both}");
    assert!(run_refused(&system, &["addresses", "correct", &second, "--clear", "street"]).contains("--clear"));
    assert!(run_refused(&system, &["addresses", "retire", &second]).contains("--reason"));
    let merged = run_ok(&system, &["addresses", "merge", &first, "--into", &second, "--actor", "ops-1"]);
    assert!(merged.contains("merged"), "{merged}");

    let history = run_ok(&system, &["addresses", "history", &first]);
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert!(
        lines[0].contains("BaseAddressRegistered")
            && lines[1].contains("BaseAddressMerged")
            && lines[1].contains("ops-1"),
        "{history}"
    );
    let text = run_ok(&system, &["addresses", "history", &second]);
    assert!(text.contains("postal_code: – → 3511 LX") && text.contains("(postcode found)"), "{text}");
    assert!(text.contains("city: Utrecht → –") && text.contains("(town unknown)"), "{text}");
    let json_history = run_ok(&system, &["addresses", "history", &second, "--json"]);
    let events: Vec<Value> = json_history.lines().map(|l| serde_json::from_str(l).expect("JSON")).collect();
    let reasons: Vec<_> = events.iter().map(|e| (e["event_type"].as_str(), e["event"]["reason"].as_str())).collect();
    assert!(reasons.contains(&(Some("BaseAddressCorrected"), Some("postcode found"))), "{json_history}");
    let last = events.last().expect("an event");
    assert_eq!(
        (last["event_type"].as_str(), last["event"]["reason"].as_str()),
        (Some("BaseAddressCorrected"), Some("town unknown"))
    );
    assert!(last["event"]["address"]["city"].is_null(), "the town cleared: {last}");
    assert_eq!(last["event"]["address"]["postal_code"], "3511 LX", "{last}");
    assert!(run_ok(&system, &["addresses", "retire", &second, "--reason", "demolished"]).contains("retired"));
    assert!(run_ok(&system, &["reviews", "list"]).trim().is_empty(), "no review items yet");

    // An import names the rows it dropped as repeats and the rows that
    // share a ref with an earlier one.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("list.csv");
    let csv = "ref,street,postal_code,city,country\nL1,Lindelaan 1,3511 LX,Utrecht,NL\nL2,lindelaan 1,3511LX,Utrecht,NL\nl1,Lindelaan 3,3511 LX,Utrecht,NL\n";
    std::fs::write(&file, csv).expect("write");
    let imported = run_ok(&system, &["addresses", "import", file.to_str().expect("path")]);
    assert!(imported.contains("line 3: the same address as line 2"), "{imported}");
    assert!(imported.contains("line 4: its ref is also on line 2"), "{imported}");
}

#[tokio::test]
async fn the_cli_lists_and_decides_what_dedupe_queued_and_the_export_labels_it() {
    let system = System::new(MASTHEAD, None).expect("system");
    system
        .import_csv("ref,street,postal_code,city,country\nR1,Rossumweg 5,6541 AB,Nijmegen,NL\nR2,Rossemweg 5,6541 AB,Nijmegen,NL\n")
        .expect("import");
    assert!(run_ok(&system, &["addresses", "dedupe"]).contains("1 queued"));
    let listed = run_ok(&system, &["reviews", "list", "--json"]);
    let item: Value = serde_json::from_str(listed.lines().next().expect("one open item")).expect("JSON");
    assert_eq!(item["kind"], "duplicate");
    let (id, into) = (item["id"].as_str().expect("id"), item["candidates"][0]["id"].as_str().expect("candidate"));
    assert!(run_refused(&system, &["reviews", "decide", id]).contains("--merge-into"));
    assert!(run_refused(&system, &["reviews", "decide", id, "--merge-into", "nope"]).contains("--merge-into"));
    let decided = run_ok(&system, &["reviews", "decide", id, "--merge-into", into, "--reason", "same farm"]);
    assert!(decided.contains("merge"), "{decided}");
    assert!(run_ok(&system, &["reviews", "list"]).trim().is_empty(), "the decided item left the open list");
    let all = run_ok(&system, &["reviews", "list", "--all"]);
    assert_eq!(all.lines().count(), 1, "{all}");
    assert!(all.contains(&format!("[merged into {into}]")), "each item shows its status: {all}");
    // A contrary decision is refused; the same one again is not.
    assert!(run_refused(&system, &["reviews", "decide", id, "--distinct"]).contains("refused"));
    run_ok(&system, &["reviews", "decide", id, "--merge-into", into]);
    let export = run_ok(&system, &["reviews", "export"]);
    let labelled: Value = serde_json::from_str(export.lines().next().expect("one decided pair")).expect("JSON");
    assert!(labelled.to_string().contains("Rossumweg 5") && labelled.to_string().contains("Rossemweg 5"), "{labelled}");
}
