//! Abuse limits and input rules, tried as an attacker would: over HTTP, and
//! over raw TCP where a client misbehaves below HTTP (slow or cut-short
//! requests).

use crate::helpers::*;
use masthead_test_support::app::{spawn_app, spawn_app_with, TestApp, API};
use masthead_test_support::wait_until;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn host(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Sends `request` as is and reads the whole answer (the server closes).
async fn raw(app: &TestApp, request: &[u8], then_close_write: bool) -> String {
    let mut stream = TcpStream::connect(host(app)).await.expect("connect");
    stream.write_all(request).await.expect("write");
    if then_close_write {
        stream.shutdown().await.expect("shutdown");
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn json_body_of(answer: &str) -> Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

async fn stream_length(app: &TestApp) -> u64 {
    app.store.last_sequence().await.expect("stream")
}

#[tokio::test]
async fn intake_is_rate_limited_per_client_with_429_retry_after_and_json() {
    let app = spawn_app_with(API, |c| c.intake_rate_per_minute = 3).await;
    for _ in 0..3 {
        assert_eq!(app.post_subscription(&valid_body()).await.status(), 202);
    }
    let before = stream_length(&app).await;
    // A forged X-Forwarded-For from an untrusted peer changes nothing.
    let refused = app
        .http
        .post(format!("{}/api/v1/subscriptions", app.address))
        .header("X-Forwarded-For", "203.0.113.9")
        .json(&valid_body())
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(refused.json::<Value>().await.expect("json")["error"]["code"], "rate_limited");
    // The form shares the client's bucket.
    let form = app
        .http
        .post(format!("{}/subscribe", app.address))
        .form(&[("name", "Ada"), ("email", "ada@example.org")])
        .send()
        .await
        .expect("send");
    assert_eq!(form.status(), 429);
    assert_eq!(stream_length(&app).await, before, "nothing was stored for a refused request");
    // Reads are not intake.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn forwarded_for_names_the_client_only_behind_a_trusted_proxy() {
    let app = spawn_app_with(API, |c| {
        c.intake_rate_per_minute = 1;
        c.trusted_proxies = Some(masthead::config::TrustedProxies(vec!["127.0.0.0/8".parse().expect("net")]));
    })
    .await;
    let send = |client: &'static str| {
        app.http
            .post(format!("{}/api/v1/subscriptions", app.address))
            .header("X-Forwarded-For", client)
            .json(&valid_body())
            .send()
    };
    assert_eq!(send("198.51.100.1").await.expect("send").status(), 202);
    assert_eq!(send("198.51.100.2").await.expect("send").status(), 202, "another client, its own bucket");
    assert_eq!(send("198.51.100.1").await.expect("send").status(), 429);
}

#[tokio::test]
async fn requests_over_the_in_flight_limit_are_shed_with_503_and_probes_still_answer() {
    let app = spawn_app_with(API, |c| c.http_max_in_flight = 1).await;
    // One request held in flight: its body never completes.
    let mut held = TcpStream::connect(host(&app)).await.expect("connect");
    let head = b"POST /api/v1/subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{";
    held.write_all(head).await.expect("write");
    let shed = wait_until("a shed request", Duration::from_secs(10), || async {
        let r = app.post_subscription(&valid_body()).await;
        (r.status() == 503).then_some(r)
    })
    .await
    .expect("shed");
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_eq!(shed.json::<Value>().await.expect("json")["error"]["code"], "overloaded");
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    drop(held);
    wait_until("intake accepting again", Duration::from_secs(10), || async {
        (app.post_subscription(&valid_body()).await.status() == 202).then_some(())
    })
    .await
    .expect("recovers");
}

#[tokio::test]
async fn two_thousand_slow_connections_leave_health_and_intake_available_until_they_time_out() {
    let app = spawn_app_with(API, |c| c.http_header_timeout_secs = 3).await;
    let mut slow = Vec::with_capacity(2000);
    for _ in 0..2000 {
        let mut s = TcpStream::connect(host(&app)).await.expect("connect");
        // Half a request head, and then nothing.
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.expect("write");
        slow.push(s);
    }
    let started = std::time::Instant::now();
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.post_subscription(&valid_body()).await.status(), 202);
    assert!(started.elapsed() < Duration::from_secs(3), "answered while the slow connections were held");
    // The header-read timeout then closes them.
    let mut first = slow.swap_remove(0);
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(20), first.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(_)) | Ok(Err(_))), "the server closed a slow connection");
}

#[tokio::test]
async fn a_cut_short_body_is_400_and_an_undecodable_path_is_400_both_json() {
    let app = spawn_app(API).await;
    let before = stream_length(&app).await;
    let answer = raw(
        &app,
        b"POST /api/v1/subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 300\r\n\r\n{\"name\":\"Ada\"",
        true,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(json_body_of(&answer)["error"]["code"], "incomplete_body");
    // A viewer's token: the addresses sit behind their door, which answers
    // before the path is decoded.
    let auth = format!("Authorization: Bearer {}", app.token(&[masthead_auth::Role::Viewer]));
    for path in ["/api/v1/subscriptions/%FF%FE", "/status/%C3%28", "/api/v1/addresses/%FF"] {
        let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\nConnection: close\r\n\r\n");
        let answer = raw(&app, head.as_bytes(), false).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.to_ascii_lowercase().contains("content-type: application/json"), "{path}: {answer}");
        assert_eq!(json_body_of(&answer)["errors"][0]["field"], "id", "{path}");
    }
    assert_eq!(stream_length(&app).await, before);
}

#[tokio::test]
async fn a_repeated_idempotency_key_header_is_400() {
    let app = spawn_app(API).await;
    let response = app
        .http
        .post(format!("{}/api/v1/subscriptions", app.address))
        .header("Idempotency-Key", "a")
        .header("Idempotency-Key", "b")
        .json(&valid_body())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(stream_length(&app).await, 0);
}

#[tokio::test]
async fn the_status_page_of_an_unknown_id_is_404() {
    let app = spawn_app(API).await;
    assert_eq!(app.get(&format!("/status/{}", uuid::Uuid::new_v4())).await.status(), 404);
    let id = app.post_subscription(&valid_body()).await.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(app.get(&format!("/status/{id}")).await.status(), 200);
}

#[tokio::test]
async fn spoofing_invisible_and_unsendable_values_are_422_naming_the_field() {
    let app = spawn_app(API).await;
    let cases = [
        ("name", json!("Ada \u{202E}gnp.exe")),
        ("name", json!("\u{200B}\u{200B}")),
        ("street", json!("Kerkstraat\u{2067} 12")),
        ("city", json!("Utrecht\u{2028}Bcc: x@example.org")),
        ("postal_code", json!("\u{3164}")),
        ("email", json!("ada@[127.0.0.1]")),
        ("email", json!("\"a..b\"@example.org")),
        ("email", json!("ada@example.org\r\nBcc: x@example.org")),
    ];
    for (field, value) in cases {
        let mut body = valid_body();
        body[field] = value.clone();
        let response = app.post_subscription(&body).await;
        assert_eq!(response.status(), 422, "{field} = {value}");
        let errors: Value = response.json().await.expect("json");
        let fields: Vec<&str> =
            errors["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
        assert_eq!(fields, vec![field], "{value}");
    }
    assert_eq!(stream_length(&app).await, 0, "no event from invalid input");
    // An internationalised domain is fine.
    let mut body = valid_body();
    body["email"] = json!("ada@bücher.example");
    assert_eq!(app.post_subscription(&body).await.status(), 202);
}

#[tokio::test]
async fn a_double_submitted_form_gives_one_subscription() {
    let app = spawn_app(API).await;
    let token_of = |html: &str| {
        let start =
            html.find("name=\"form_token\" value=\"").expect("token field") + "name=\"form_token\" value=\"".len();
        html[start..start + 36].to_owned()
    };
    let token = token_of(&app.get("/").await.text().await.expect("html"));
    assert_ne!(token, token_of(&app.get("/").await.text().await.expect("html")), "every form its own token");
    let submit = |token: String, city: &'static str| {
        let fields = [
            ("name", "Ada".to_owned()),
            ("email", "ada@example.org".to_owned()),
            ("street", "Kerkstraat 12".to_owned()),
            ("postal_code", "3511 LX".to_owned()),
            ("city", city.to_owned()),
            ("country", "NL".to_owned()),
            ("form_token", token),
        ];
        app.http.post(format!("{}/subscribe", app.address)).form(&fields).send()
    };
    let id_of = |html: &str| {
        let start = html.find("id=\"subscription-id\">").expect("id shown") + "id=\"subscription-id\">".len();
        html[start..start + 36].to_owned()
    };
    // The first attempt has an error; the form comes back with its token.
    let invalid = submit(token.clone(), "").await.expect("send");
    assert_eq!(invalid.status(), 422);
    assert_eq!(token_of(&invalid.text().await.expect("html")), token);
    // A double click: two identical submissions at once.
    let (a, b) = tokio::join!(submit(token.clone(), "Utrecht"), submit(token.clone(), "Utrecht"));
    let (a, b) = (a.expect("send"), b.expect("send"));
    assert_eq!((a.status(), b.status()), (reqwest::StatusCode::OK, reqwest::StatusCode::OK));
    let id = id_of(&a.text().await.expect("html"));
    assert_eq!(id_of(&b.text().await.expect("html")), id);
    // A reload of the thank-you page resends the same request.
    assert_eq!(id_of(&submit(token.clone(), "Utrecht").await.expect("send").text().await.expect("html")), id);
    assert_eq!(stream_length(&app).await, 1, "one subscription, one event");
    // Another form is another subscription.
    let other = token_of(&app.get("/").await.text().await.expect("html"));
    assert_ne!(id_of(&submit(other, "Utrecht").await.expect("send").text().await.expect("html")), id);
    assert_eq!(stream_length(&app).await, 2);
}

/// Every role, mail to the outbox, and the base address Kerkstraat 12 that
/// `valid_body` matches.
async fn spawn_mailing_app(configure: impl FnOnce(&mut masthead::config::Config)) -> TestApp {
    use masthead::system::Roles;
    let all = Roles { api: true, matcher: true, projector: true, mailer: true, local_nats: false };
    let app = spawn_app_with(all, |c| {
        c.intake_rate_per_minute = 0;
        configure(c);
    })
    .await;
    let base = masthead_test_support::history::base_address("Kerkstraat 12", "3511 LX", "Utrecht", "NL", None);
    app.add_addresses(&[base]).await;
    app
}

#[tokio::test]
async fn mail_per_recipient_is_limited_and_the_subscription_view_says_so() {
    let app = spawn_mailing_app(|c| c.mail_per_recipient_per_day = 2).await;
    let mut ids = Vec::new();
    // Case and +tags reach the same mailbox; bob has an allowance of his own.
    for email in ["ada@example.org", "Ada+news@Example.org", "ada+x@example.org", "bob@example.org"] {
        let mut body = valid_body();
        body["email"] = json!(email);
        let r = app.post_subscription(&body).await;
        assert_eq!(r.status(), 202);
        ids.push(r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned());
        // In order, so that which one is withheld is known.
        let id = ids.last().expect("id").clone();
        wait_until("the mail decision", Duration::from_secs(30), || async {
            let v = app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await;
            matches!(v["status"].as_str(), Some("confirmed" | "withheld")).then_some(())
        })
        .await
        .expect("decided");
    }
    let mut statuses = Vec::new();
    for id in &ids {
        let v = app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await;
        statuses.push(v["status"].as_str().expect("status").to_owned());
        if v["status"] == "withheld" {
            assert_eq!(v["mail"]["kind"], "withheld", "{v}");
            assert_eq!(v["mail"]["reason"], "recipient_limit", "{v}");
            assert_eq!(v["mail"]["limit"], 2, "{v}");
        }
    }
    assert_eq!(statuses, ["confirmed", "confirmed", "withheld", "confirmed"]);
    let outbox = app.config.data_dir.join("outbox");
    let mails = std::fs::read_dir(&outbox).map(|d| d.filter_map(Result::ok).count()).unwrap_or(0);
    assert_eq!(mails, 3, "one mail per confirmed subscription in {}", outbox.display());
}

#[tokio::test]
async fn a_paused_body_is_408_and_an_idle_connection_is_closed() {
    let app = spawn_app_with(API, |c| {
        c.intake_rate_per_minute = 0;
        c.http_body_timeout_secs = 1;
        c.http_idle_timeout_secs = 1;
        c.http_header_timeout_secs = 60;
    })
    .await;
    // Headers and the start of a body, then nothing: the body timeout.
    let mut paused = TcpStream::connect(host(&app)).await.expect("connect");
    paused
        .write_all(b"POST /api/v1/subscriptions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na")
        .await
        .expect("write");
    let mut answer = vec![0u8; 4096];
    let n =
        tokio::time::timeout(Duration::from_secs(10), paused.read(&mut answer)).await.expect("answered").expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(json_body_of(&answer)["error"]["code"], "body_timeout");
    // One request on a keep-alive connection, then silence: the idle timeout.
    let mut idle = TcpStream::connect(host(&app)).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle connection was closed well before the header timeout");
}

#[tokio::test]
async fn with_double_opt_in_a_subscription_is_confirmed_only_by_its_signed_link() {
    let app = spawn_mailing_app(|c| {
        c.double_opt_in = true;
        c.public_url = Some("https://masthead.example".into());
    })
    .await;
    let r = app.post_subscription(&valid_body()).await;
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let view = wait_until("the opt-in mail", Duration::from_secs(30), || async {
        let v = app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await;
        (v["status"] == "awaiting_opt_in").then_some(v)
    })
    .await
    .expect("opt-in requested");
    assert_eq!(view["mail"]["kind"], "opt_in_requested", "{view}");
    // The link, from the mail in the outbox (quoted-printable undone).
    let outbox = app.config.data_dir.join("outbox");
    let file = std::fs::read_dir(&outbox).expect("outbox").next().expect("one mail").expect("entry").path();
    let raw = std::fs::read_to_string(file).expect("mail").replace("=\r\n", "").replace("=3D", "=");
    let start = raw.find("https://masthead.example/confirm/").expect("a confirm link");
    let link = &raw[start..raw[start..].find(['\r', '\n', '"']).map_or(raw.len(), |n| start + n)];
    let path = link.trim_start_matches("https://masthead.example");
    assert!(path.starts_with(&format!("/confirm/{id}?token=")), "{link}");
    let token = path.split("token=").nth(1).expect("token").to_owned();
    // Opening the link only shows the button.
    let page = app.get(path).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("name=\"token\""));
    assert_eq!(app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await["status"], "awaiting_opt_in");
    let post = |token: String| app.http.post(format!("{}/confirm/{id}", app.address)).form(&[("token", token)]).send();
    // A changed token, or one for another subscription, confirms nothing.
    let at = token.len() - 5;
    let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
    let forged = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
    assert_eq!(post(forged).await.expect("send").status(), 400);
    let other = app.post_subscription(&valid_body()).await.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let reused = app.http.post(format!("{}/confirm/{other}", app.address)).form(&[("token", token.clone())]).send();
    assert_eq!(reused.await.expect("send").status(), 400);
    assert_eq!(app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await["status"], "awaiting_opt_in");
    // The button confirms; a second press changes nothing.
    assert_eq!(post(token.clone()).await.expect("send").status(), 200);
    assert_eq!(post(token).await.expect("send").status(), 200);
    wait_until("confirmed", Duration::from_secs(10), || async {
        let v = app.get_json(&format!("/api/v1/subscriptions/{id}"), 200).await;
        (v["status"] == "confirmed").then_some(())
    })
    .await
    .expect("confirmed after the link");
}
