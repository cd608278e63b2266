//! The default transport: `.eml` files under `<data_dir>/outbox`.

use crate::common::mime::Mail;
use crate::common::*;
use masthead_mailer::*;
use std::path::Path;

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir).expect("outbox exists").map(|e| e.expect("entry").path()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn without_an_smtp_url_mails_land_in_the_outbox_once_per_subscription() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let config = MailerConfig::new(
        MailSettings {
            from: "Masthead <no-reply@masthead.invalid>",
            contact: "subscriptions@masthead.invalid",
            smtp_url: None,
            smtp_username: None,
            smtp_password: None,
            retry: RetryPolicy::fast(),
        },
        data_dir.path(),
    )
    .expect("config");
    let mailer = Mailer::from_config(config).expect("mailer");
    let outbox = data_dir.path().join("outbox");
    let c = confirmation(11, address("Hauptstraße 5", "10115", "Berlin", "DE"));
    let who = person("Jo Example", "jo@example.org");

    let first = mailer.deliver(&c, &who, mailer.retry_policy().attempt(1)).await;
    let SendOutcome::Sent { message_id, .. } = &first else { panic!("{first:?}") };
    let written = files(&outbox);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_eq!(
        written[0].file_name().and_then(|n| n.to_str()),
        Some("confirmation.00000000-0000-0000-0000-00000000000b@masthead.invalid.eml")
    );

    let mail = Mail::parse(&std::fs::read(&written[0]).expect("read eml"));
    assert_eq!(mail.header("Message-ID"), Some(message_id.as_str()));
    assert!(mail.header("Content-Type").is_some_and(|t| t.starts_with("multipart/alternative")));
    assert!(mail.text().contains("Hauptstraße 5\n10115 Berlin\nDeutschland"));
    assert!(mail.html().contains("Hauptstraße 5<br>\n10115 Berlin<br>\nDeutschland"));

    // A retry of the same subscription overwrites; no temporary files stay.
    let second = mailer.deliver(&c, &who, mailer.retry_policy().attempt(2)).await;
    assert!(matches!(second, SendOutcome::Sent { .. }));
    assert_eq!(files(&outbox), written);

    // Another subscription is another file.
    let other = mailer.deliver(&confirmation(12, utrecht()), &who, mailer.retry_policy().attempt(1)).await;
    assert!(matches!(other, SendOutcome::Sent { .. }));
    assert_eq!(files(&outbox).len(), 2);

    // Erasing the first subscriber drops their mail, and only theirs;
    // forgetting it again is no error.
    mailer.forget(uuid::Uuid::from_u128(11)).await.expect("forget");
    let left = files(&outbox);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].to_string_lossy().contains("00000000000c"), "{left:?}");
    mailer.forget(uuid::Uuid::from_u128(11)).await.expect("forget again");
}

#[tokio::test]
async fn an_outbox_that_cannot_be_written_is_a_transient_failure() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let transport = OutboxTransport::open(data_dir.path().join("outbox")).expect("outbox");
    std::fs::remove_dir(transport.outbox().dir()).expect("remove outbox");
    std::fs::write(transport.outbox().dir(), b"now a file").expect("block the path");
    let mailer = Mailer::new(std::sync::Arc::new(transport), sender(), RetryPolicy::fast());
    let outcome = mailer
        .deliver(&confirmation(13, utrecht()), &person("Ann", "ann@example.org"), mailer.retry_policy().attempt(1))
        .await;
    assert!(matches!(outcome, SendOutcome::RetryLater { .. }), "{outcome:?}");
}
