//! Operator commands against the real binary: rebuilding projections into a
//! new generation while the system runs, an auditor's past view, a
//! permanent mail failure followed by `mail resend`, and strict imports.

use crate::common::*;
use masthead_test_support::{wait_until, System, TestSmtp};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn a_rebuild_switches_readers_to_the_new_generation_and_a_past_view_stays_queryable() {
    let smtp = TestSmtp::start();
    let mut system = System::new(MASTHEAD, Some(smtp.url())).expect("system");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http");
    let http = viewer_client(&system);
    let base = system.base_url();
    let mut ids = Vec::new();
    for i in 0..6 {
        let (status, id) = subscribe(
            &http,
            &base,
            &body(&format!("Reader {i}"), &format!("Dorpsstraat {}", i + 1), "1234 AB", "Ede", "NL"),
        )
        .await;
        assert_eq!(status, 202);
        ids.push(id.expect("id"));
    }
    for id in &ids {
        wait_status(&http, &base, *id, "confirmed").await;
    }
    let stats_url = format!("{base}/api/v1/stats");
    // The status above may come from the events themselves (freshness):
    // wait until the projection (and the stats cache of about a second)
    // counted all six outcomes too.
    let before = wait_until("six outcomes projected", Duration::from_secs(30), || async {
        let stats = get_json(&http, &stats_url).await?;
        let outcomes = stats["matched"].as_u64().unwrap_or(0) + stats["new"].as_u64().unwrap_or(0);
        (outcomes == 6 && stats["mail_sent"] == 6).then_some(stats)
    })
    .await
    .expect("projected");
    assert_eq!(before["generation"], "g0");

    // A full rebuild while `up` serves: readers switch once it caught up.
    // With its raw replay rate beside it (`--compare-raw`).
    let out = system.run(&["projections", "rebuild", "--generation", "r1", "--compare-raw"]).expect("rebuild");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("raw replay:") && stdout.contains("rebuild:"), "{stdout}");
    let after = wait_until("readers on r1", Duration::from_secs(30), || async {
        get_json(&http, &stats_url).await.filter(|s| s["generation"] == "r1")
    })
    .await
    .expect("switched");
    for key in ["matched", "new", "mail_sent"] {
        assert_eq!(after[key], before[key], "{key} is the same in the rebuilt generation");
    }
    // Writes after the switch land in the new generation.
    let (_, id) = subscribe(&http, &base, &body("Late Reader", "Dorpsstraat 99", "1234 AB", "Ede", "NL")).await;
    let late_url = format!("{base}/api/v1/subscriptions/{}", id.expect("id"));
    wait_until("late subscription projected in r1", Duration::from_secs(30), || async {
        get_json(&http, &late_url)
            .await
            .filter(|v| v["status"] == "confirmed" && v["freshness"]["source"] == "projection")
    })
    .await
    .expect("the new generation receives live events");

    // An auditor's view of the stream as of an early sequence, queried by a
    // read-only API pinned to it.
    let out = system.run(&["projections", "rebuild", "--until-seq", "3", "--generation", "audit3"]).expect("rebuild");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    system.stop("up");
    system.extra_env.push(("MASTHEAD_PROJECTION_GENERATION".into(), "audit3".into()));
    system.start("audit", &["api"]).expect("audit api");
    system.wait_http().await.expect("http");
    let past: Value = get_json(&http, &format!("{}/api/v1/stats", system.base_url())).await.expect("stats");
    assert_eq!(past["generation"], "audit3");
    assert_eq!(past["last_applied_seq"], 3, "{past}");
    let live = after["matched"].as_u64().unwrap_or(0) + after["new"].as_u64().unwrap_or(0);
    let then = past["matched"].as_u64().unwrap_or(0) + past["new"].as_u64().unwrap_or(0);
    assert!(then < live, "the past view has fewer outcomes ({then}) than the live one ({live})");
}

#[tokio::test]
async fn a_refused_mailbox_fails_once_and_a_resend_delivers_after_the_fix() {
    let smtp = TestSmtp::start();
    smtp.reject("nobody.here@example.org");
    let mut system = System::new(MASTHEAD, Some(smtp.url())).expect("system");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http");
    let http = reqwest::Client::new();
    let base = system.base_url();
    let (_, id) = subscribe(&http, &base, &body("Nobody Here", "Kerkstraat 1", "3511 LX", "Utrecht", "NL")).await;
    let id = id.expect("id");
    let failed = wait_status(&http, &base, id, "failed").await;
    assert_eq!(failed["mail"]["kind"], "failed");
    assert_eq!(failed["mail"]["permanent"], true);
    assert_eq!(failed["mail"]["attempts"], 1, "a permanent refusal is not retried");
    assert!(
        !failed["mail"]["reason"].as_str().unwrap_or("").contains("nobody.here@example.org"),
        "no address in the reason"
    );
    let sessions = smtp.sessions();
    let listed = wait_until("mailer dead letter", Duration::from_secs(20), || async {
        let out = system.run(&["dlq", "list", "--consumer", "mailer"]).ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.contains("AddressAssigned").then_some(text)
    })
    .await
    .expect("listed");
    assert!(listed.contains("1 dead letter"), "{listed}");
    assert_eq!(smtp.sessions(), sessions, "no further attempts");

    // The mailbox is fixed; the operator resends.
    smtp.accept("nobody.here@example.org");
    let out = system.run(&["mail", "resend", &id.to_string()]).expect("resend");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let confirmed = wait_status(&http, &base, id, "confirmed").await;
    assert_eq!(confirmed["mail"]["kind"], "sent");
    assert_eq!(smtp.wait_for(1, Duration::from_secs(10)).len(), 1);
    let inspector = Inspector::connect(&system).await;
    assert_eq!(sent_count(&inspector.history(id).await), 1);
    wait_until("dead letter resolved", Duration::from_secs(20), || async {
        let out = system.run(&["dlq", "list", "--consumer", "mailer"]).ok()?;
        String::from_utf8_lossy(&out.stdout).contains("no dead letters").then_some(())
    })
    .await
    .expect("resolved");
    let bad = system.run(&["mail", "resend", "not-a-uuid"]).expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("UUID"));
}

#[tokio::test]
async fn a_strict_import_names_the_broken_line_and_a_lenient_one_skips_it() {
    let system = System::new(MASTHEAD, None).expect("system");
    let path = system.data_dir().join("base.csv");
    std::fs::write(&path, "ref,street,postal_code,city,country\nA1,Kerkstraat 12,3511 LX,Utrecht,NL\nA2,,3511 LX,Utrecht,NL\nA3,Main Street 1,12345,Springfield,Narnia\nA4,Hauptstraße 5,10115,Berlin,DE\n").expect("write");
    let file = path.to_str().expect("utf-8");
    let strict = system.run(&["addresses", "import", "--strict", file]).expect("run");
    assert!(!strict.status.success());
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(err.contains("line 3") && err.contains("street"), "{err}");
    let lenient = system.run(&["addresses", "import", file]).expect("run");
    assert!(lenient.status.success());
    let (out, err) = (String::from_utf8_lossy(&lenient.stdout), String::from_utf8_lossy(&lenient.stderr));
    assert!(err.contains("line 3") && err.contains("line 4") && err.contains("Narnia"), "{err}");
    assert!(out.contains("2 skipped"), "{out}");
    let missing = system.run(&["addresses", "import", "/nonexistent.csv"]).expect("run");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.csv"));
}

#[tokio::test]
async fn up_creates_a_private_token_secret_and_the_cli_signs_tokens_that_open_the_staff_doors() {
    let mut system = System::new(MASTHEAD, None).expect("system");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http");
    let printed = wait_until("up to print how to get a token", Duration::from_secs(10), || async {
        Some(system.output("up")).filter(|o| o.contains("masthead token issue --role viewer"))
    })
    .await
    .expect("token instructions");
    let secret = system.data_dir().join("auth-hs256.secret");
    assert!(printed.contains(&secret.display().to_string()), "{printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).expect("the secret file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only its owner may read the secret");
    }

    let stats = format!("{}/api/v1/stats", system.base_url());
    let anonymous = reqwest::Client::new().get(&stats).send().await.expect("stats");
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers()["www-authenticate"].to_str().expect("ascii").starts_with("Bearer"));
    let body: Value = anonymous.json().await.expect("a JSON refusal");
    assert_eq!(body["error"]["code"], "unauthenticated", "{body}");
    // A viewer's token from `masthead token issue` opens it.
    let viewer = viewer_client(&system);
    assert_eq!(viewer.get(&stats).send().await.expect("stats").status(), 200);

    // A role that does not exist is refused, naming it.
    let out = system.run(&["token", "issue", "--role", "superuser"]).expect("token issue");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("superuser") && err.contains("viewer"), "{err}");
}

#[tokio::test]
async fn dedupe_refuses_a_bad_merge_above_and_queues_the_pairs_of_an_imported_list() {
    let system = System::new(MASTHEAD, None).expect("system");
    for bad in ["1.5", "-0.1", "high"] {
        let run = system.run(&["addresses", "dedupe", &format!("--merge-above={bad}")]).expect("run");
        assert!(!run.status.success(), "--merge-above {bad} is refused");
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(err.contains("--merge-above") && err.contains("0 to 1"), "{err}");
    }
    let path = system.data_dir().join("base.csv");
    std::fs::write(&path, "ref,street,postal_code,city,country\nR1,Rossumweg 5,6541 AB,Nijmegen,NL\nR2,Rossemweg 5,6541 AB,Nijmegen,NL\nK1,Kerkstraat 12,3511 LX,Utrecht,NL\nK2,Kerkstraat 21,3511 LX,Utrecht,NL\n").expect("write");
    assert!(system.run(&["addresses", "import", path.to_str().expect("utf-8")]).expect("run").status.success());
    for expected in ["1 pairs found, 1 queued, 0 already queued", "1 pairs found, 0 queued, 1 already queued"] {
        let run = system.run(&["addresses", "dedupe"]).expect("run");
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success() && out.contains("4 addresses scanned") && out.contains(expected), "{out}");
    }
    let export = system.data_dir().join("reviews.jsonl");
    let run = system.run(&["reviews", "export", "--out", export.to_str().expect("utf-8")]).expect("run");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stderr).contains("0 decided review items"));
    assert_eq!(std::fs::read_to_string(&export).expect("written"), "", "nothing decided yet");
}
