//! The happy path as a subscriber lives it: fill in the form, submit, see
//! the confirmation page, follow the status page until it says
//! `confirmed`, and find the mail showing the *matched* address.

use crate::browser::Browser;
use fantoccini::Locator;
use masthead_test_support::{mime::Mail, wait_until, System, TestSmtp};
use std::time::Duration;

#[tokio::test]
async fn a_subscriber_subscribes_through_the_form_and_gets_the_matched_address_by_mail() {
    let smtp = TestSmtp::start();
    let mut system = System::new(env!("CARGO_BIN_EXE_masthead"), Some(smtp.url())).expect("system");
    system
        .import_csv("ref,street,postal_code,city,country\nNY-14,East River Street 14,10001,New York,US\n")
        .expect("import");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http");
    let c = Browser::start(1200, 900).await;

    // Run the checks, then always end the session.
    let result = async {
        c.goto(&format!("{}/", system.base_url())).await?;
        for (field, value) in [
            ("name", "Grace Hopper"),
            ("email", "grace@example.org"),
            ("street", "East river str. 14"),
            ("postal_code", "10001"),
            ("city", "New York"),
            ("country", "United States"),
        ] {
            c.find(Locator::Id(field)).await?.send_keys(value).await?;
        }
        c.find(Locator::Css("button[type=submit]")).await?.click().await?;
        let id_el = c.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("subscription-id")).await?;
        let id = id_el.text().await?;
        assert_eq!(id.len(), 36, "a UUID on the confirmation page: {id}");
        c.find(Locator::Id("status-link")).await?.click().await?;
        wait_until("status page says confirmed", Duration::from_secs(30), || async {
            let text = c.find(Locator::Id("status")).await.ok()?.text().await.ok()?;
            (text == "confirmed").then_some(())
        })
        .await
        .expect("confirmed in the browser");
        let shown = c.find(Locator::Id("delivery-address")).await?.text().await?;
        assert!(shown.contains("East River Street 14"), "status page shows the matched address: {shown}");
        let png = c.screenshot().await?;
        let _ = std::fs::write(system.data_dir().join("status.png"), &png);
        Ok::<_, fantoccini::error::CmdError>(id)
    }
    .await;
    c.close().await;
    let id = result.expect("form and status page");

    let mails = smtp.wait_for(1, Duration::from_secs(20));
    assert_eq!(mails.len(), 1);
    let mail = Mail::parse(&mails[0].data);
    assert!(mail.text().contains("East River Street 14"), "{}", mail.text());
    assert!(mail.html().contains("East River Street 14"));
    assert!(mail.text().contains(&id));
    assert!(mails[0].to.iter().any(|t| t.contains("grace@example.org")));
}
