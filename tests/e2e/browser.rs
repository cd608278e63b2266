//! The happy path as a subscriber lives it, in headless Chromium: fill in
//! the form, submit, see the confirmation page, follow the status page until
//! it says `confirmed`, and find the mail showing the *matched* address.

mod common;

use common::*;
use fantoccini::{ClientBuilder, Locator};
use masthead_test_support::{mime::Mail, nats::free_port, wait_until, System, TestSmtp};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn require(binary: &str) -> String {
    for dir in std::env::split_paths(&std::env::var("PATH").unwrap_or_default()) {
        let p = dir.join(binary);
        if p.exists() {
            return p.to_string_lossy().into_owned();
        }
    }
    panic!("{binary} is not installed. Install Debian's chromium and chromium-driver (infra/scripts/test.sh does this as root).");
}

pub async fn browser() -> (fantoccini::Client, Driver, tempfile::TempDir) {
    // Several TLS backends are linked in the workspace; the WebDriver
    // client needs one chosen explicitly (the driver itself is plain HTTP).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chromium = require("chromium");
    let chromedriver = require("chromedriver");
    let port = free_port().expect("port");
    let driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let profile = tempfile::tempdir().expect("profile dir");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1200,900",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let client = wait_until("chromedriver session", Duration::from_secs(30), || {
        let (caps, url) = (caps.clone(), url.clone());
        async move {
            let mut builder = ClientBuilder::rustls().ok()?;
            builder.capabilities(caps).connect(&url).await.ok()
        }
    })
    .await
    .expect("a browser session");
    (client, driver, profile)
}

#[tokio::test]
async fn a_subscriber_subscribes_through_the_form_and_gets_the_matched_address_by_mail() {
    let smtp = TestSmtp::start();
    let mut system = System::new(env!("CARGO_BIN_EXE_masthead"), Some(smtp.url())).expect("system");
    import(&system, "ref,street,postal_code,city,country\nNY-14,East River Street 14,10001,New York,US\n");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http");
    let (c, _driver, _profile) = browser().await;

    c.goto(&format!("{}/", system.base_url())).await.expect("form");
    for (field, value) in [
        ("name", "Grace Hopper"),
        ("email", "grace@example.org"),
        ("street", "East river str. 14"),
        ("postal_code", "10001"),
        ("city", "New York"),
        ("country", "United States"),
    ] {
        c.find(Locator::Id(field)).await.expect(field).send_keys(value).await.expect("type");
    }
    c.find(Locator::Css("button[type=submit]")).await.expect("button").click().await.expect("submit");
    let id_el = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Id("subscription-id"))
        .await
        .expect("confirmation page");
    let id = id_el.text().await.expect("id text");
    assert_eq!(id.len(), 36, "a UUID on the confirmation page: {id}");
    c.find(Locator::Id("status-link")).await.expect("link").click().await.expect("follow");
    wait_until("status page says confirmed", Duration::from_secs(30), || async {
        let text = c.find(Locator::Id("status")).await.ok()?.text().await.ok()?;
        (text == "confirmed").then_some(())
    })
    .await
    .expect("confirmed in the browser");
    let shown =
        c.find(Locator::Id("delivery-address")).await.expect("delivery address shown").text().await.expect("text");
    assert!(shown.contains("East River Street 14"), "status page shows the matched address: {shown}");
    let png = c.screenshot().await.expect("screenshot");
    let _ = std::fs::write(system.data_dir().join("status.png"), &png);
    c.close().await.expect("close");

    let mails = smtp.wait_for(1, Duration::from_secs(20));
    assert_eq!(mails.len(), 1);
    let mail = Mail::parse(&mails[0].data);
    assert!(mail.text().contains("East River Street 14"), "{}", mail.text());
    assert!(mail.html().contains("East River Street 14"));
    assert!(mail.text().contains(&id));
    assert!(mails[0].to.iter().any(|t| t.contains("grace@example.org")));
}
