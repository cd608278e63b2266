//! The whole system through `masthead up`: a matched case and a new-address
//! case, each ending with exactly one base address and one mail showing the
//! delivery address.

use crate::common::*;
use masthead_test_support::{mime::Mail, System, TestSmtp};
use std::time::Duration;

#[tokio::test]
async fn a_matched_and_a_new_address_each_end_confirmed_with_one_base_address() {
    let smtp = TestSmtp::start();
    let mut system = System::new(MASTHEAD, Some(smtp.url())).expect("system");
    system
        .import_csv("ref,street,postal_code,city,country\nNY-14,East River Street 14,10001,New York,US\n")
        .expect("import");
    system.start("up", &["up"]).expect("up");
    system.wait_http().await.expect("http up");
    let http = reqwest::Client::new();
    let base = system.base_url();
    let inspector = Inspector::connect(&system).await;

    let (status, id) =
        subscribe(&http, &base, &body("Ada Lovelace", "East river str. 14", "10001", "New York", "USA")).await;
    assert_eq!(status, 202);
    let matched_id = id.expect("id");
    let view = wait_status(&http, &base, matched_id, "confirmed").await;
    assert_eq!(view["outcome"]["kind"], "matched");
    assert_eq!(view["delivery"]["street"], "East River Street 14");
    assert_eq!(view["base_address_ref"], "NY-14");
    assert_eq!(inspector.base_addresses().await.len(), 1, "matched: still one base address");

    let (status, id) =
        subscribe(&http, &base, &body("Bob Builder", "Kerkstraat 12", "3511 LX", "Utrecht", "Nederland")).await;
    assert_eq!(status, 202);
    let new_id = id.expect("id");
    let view = wait_status(&http, &base, new_id, "confirmed").await;
    assert_eq!(view["outcome"]["kind"], "new");
    let bases = inspector.base_addresses().await;
    assert_eq!(bases.len(), 2, "the new address became exactly one base address");
    assert!(bases.values().all(|n| *n == 1));

    let mails = smtp.wait_for(2, Duration::from_secs(20));
    assert_eq!(mails.len(), 2);
    let to_ada =
        mails.iter().find(|m| m.to.iter().any(|t| t.contains("ada.lovelace@example.org"))).expect("Ada's mail");
    let text = Mail::parse(&to_ada.data).text().to_owned();
    assert!(text.contains("East River Street 14"), "the mail shows the matched delivery address: {text}");
    assert!(text.contains(&matched_id.to_string()));
    let to_bob = mails.iter().find(|m| m.to.iter().any(|t| t.contains("bob.builder@example.org"))).expect("Bob's mail");
    let bob = Mail::parse(&to_bob.data);
    assert!(bob.text().contains("Kerkstraat 12"));
    assert_eq!(bob.header("content-language"), Some("nl"), "Dutch for a Dutch delivery address");

    for id in [matched_id, new_id] {
        let h = inspector.history(id).await;
        assert_eq!((outcome_count(&h), sent_count(&h)), (1, 1));
    }
    assert!(system.stop("up").is_some_and(|s| s.success()), "clean shutdown: {}", system.log("up"));
}
