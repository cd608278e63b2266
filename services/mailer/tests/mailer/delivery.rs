//! Sending to a real SMTP server running in the test process.

use crate::common::mime::Mail;
use crate::common::smtp::TestSmtp;
use crate::common::*;
use masthead_mailer::*;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn mailer_for(url: &str, retry: RetryPolicy) -> Mailer {
    let smtp = SmtpConfig { timeout: Duration::from_secs(5), ..SmtpConfig::from_url(url).expect("url") };
    let transport = SmtpTransport::new(&smtp).expect("transport");
    Mailer::new(Arc::new(transport), sender(), retry)
}

async fn send_one(server: &TestSmtp, c: &Confirmation, who: &masthead_domain::personal_data::PersonalData) -> Mail {
    let mailer = mailer_for(&server.url(), RetryPolicy::fast());
    let before = server.count();
    let outcome = mailer.deliver(c, who, mailer.retry_policy().attempt(1)).await;
    assert!(matches!(outcome, SendOutcome::Sent { .. }), "{outcome:?}");
    let received = server.wait_for(before + 1, WAIT);
    Mail::parse(&received.last().expect("a mail arrived").data)
}

#[tokio::test]
async fn the_confirmation_shows_name_address_id_and_contact_in_both_parts() {
    let server = TestSmtp::start();
    let c = confirmation(0x6f1c_2a52_4c1e_4a53_9d0b_6f0f_7e0f_1a01, utrecht());
    let mail = send_one(&server, &c, &person("Anna de Vries", "anna@example.org")).await;
    let id = "6f1c2a52-4c1e-4a53-9d0b-6f0f7e0f1a01";

    let text = mail.text();
    assert!(text.contains("Beste Anna de Vries,"), "{text}");
    assert!(text.contains("Kerkstraat 12\n3511 LX Utrecht\nNederland"), "{text}");
    assert!(text.contains(&format!("Abonnementsnummer: {id}")), "{text}");
    assert!(text.contains("address-team@masthead.invalid"), "{text}");

    let html = mail.html();
    assert!(html.contains("Beste Anna de Vries,"), "{html}");
    assert!(html.contains("Kerkstraat 12<br>\n3511 LX Utrecht<br>\nNederland"), "{html}");
    assert!(html.contains(id) && html.contains("address-team@masthead.invalid"), "{html}");
    assert!(html.contains("<html lang=\"nl\">"));

    assert_eq!(mail.header("From"), Some("Masthead <no-reply@masthead.invalid>"));
    assert_eq!(mail.header("To"), Some("\"Anna de Vries\" <anna@example.org>"));
    assert_eq!(mail.header("Reply-To"), Some("address-team@masthead.invalid"));
    assert_eq!(mail.header("Subject"), Some("Uw abonnement op Masthead: controleer uw bezorgadres"));
    assert_eq!(mail.header("Message-ID"), Some(format!("<confirmation.{id}@masthead.invalid>").as_str()));
    assert_eq!(mail.header("Content-Language"), Some("nl"));
    let date = chrono::DateTime::parse_from_rfc2822(mail.header("Date").expect("Date header")).expect("RFC 2822 date");
    let age = chrono::Utc::now().signed_duration_since(date);
    assert!(age >= chrono::Duration::zero() && age < chrono::Duration::seconds(30), "{date}");
    assert!(mail.header("Content-Type").is_some_and(|t| t.starts_with("multipart/alternative")));
    assert_eq!(mail.parts.len(), 2);
    assert!(mail.parts[0].content_type().starts_with("text/plain; charset=utf-8"));
    assert!(mail.parts[1].content_type().starts_with("text/html; charset=utf-8"));

    let envelope = &server.received()[0];
    assert_eq!(envelope.to, ["anna@example.org"]);
}

#[tokio::test]
async fn the_language_follows_the_delivery_country() {
    let server = TestSmtp::start();
    let who = person("Jo Example", "jo@example.org");

    let de = send_one(&server, &confirmation(1, address("Hauptstraße 5", "10115", "Berlin", "DE")), &who).await;
    assert_eq!(de.header("Subject"), Some("Ihr Masthead-Abonnement: Bitte prüfen Sie Ihre Lieferadresse"));
    assert!(
        de.text().contains("Guten Tag Jo Example,") && de.text().contains("Hauptstraße 5\n10115 Berlin\nDeutschland")
    );

    let fr = send_one(&server, &confirmation(2, address("12 rue de la Paix", "75002", "Paris", "FR")), &who).await;
    assert_eq!(fr.header("Subject"), Some("Your Masthead subscription: please check your delivery address"));
    assert!(fr.text().contains("Dear Jo Example,") && fr.text().contains("12 rue de la Paix\n75002 Paris\nFrance"));

    let gb = send_one(&server, &confirmation(3, address("10 Downing Street", "SW1A 2AA", "London", "GB")), &who).await;
    assert!(gb.text().contains("10 Downing Street\nLondon\nSW1A 2AA\nUnited Kingdom"), "{}", gb.text());
}

#[tokio::test]
async fn a_name_with_markup_is_escaped_in_the_html_part() {
    let server = TestSmtp::start();
    let who = person("<script>alert(1)</script> & Co", "x@example.org");
    let mail = send_one(&server, &confirmation(4, utrecht()), &who).await;
    assert!(mail.html().contains("Beste &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co,"), "{}", mail.html());
    assert!(!mail.html().contains("<script>"));
    assert!(mail.text().contains("Beste <script>alert(1)</script> & Co,"));
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_exactly_one_mail_arrives() {
    let server = TestSmtp::start();
    server.fail_next(2);
    let mailer = mailer_for(&server.url(), RetryPolicy::fast());
    let mut history = vec![requested(5), matched(utrecht())];
    let outcomes = drive_like_the_consumer(&mailer, &mut history, &person("Ann", "ann@example.org")).await;

    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(outcomes[..2]
        .iter()
        .all(|o| matches!(o, SendOutcome::RetryLater { reason, .. } if reason.contains("451"))));
    assert!(matches!(&outcomes[2], SendOutcome::Sent { .. }));
    assert_eq!(server.wait_for(1, WAIT).len(), 1);
    // The redelivery that follows the ack changes nothing.
    assert!(drive_like_the_consumer(&mailer, &mut history, &person("Ann", "ann@example.org")).await.is_empty());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.count(), 1);
    assert_eq!(
        history
            .iter()
            .filter(|e| matches!(e, masthead_domain::subscription::SubscriptionEvent::ConfirmationSent(_)))
            .count(),
        1
    );
}

#[tokio::test]
async fn a_server_that_is_not_up_yet_is_a_transient_failure_then_recovers() {
    let port = TestSmtp::reserve_port();
    let mailer = mailer_for(&format!("smtp://127.0.0.1:{port}"), RetryPolicy::fast());
    let who = person("Ann", "ann@example.org");
    let c = confirmation(6, utrecht());

    let first = mailer.deliver(&c, &who, mailer.retry_policy().attempt(1)).await;
    assert!(matches!(first, SendOutcome::RetryLater { .. }), "connection refused must be retried: {first:?}");

    let server = TestSmtp::start_on(port);
    let second = mailer.deliver(&c, &who, mailer.retry_policy().attempt(2)).await;
    assert!(matches!(second, SendOutcome::Sent { .. }), "{second:?}");
    assert_eq!(server.wait_for(1, WAIT).len(), 1);
}

#[tokio::test]
async fn a_server_that_goes_down_for_a_while_is_ridden_out() {
    let server = TestSmtp::start();
    server.set_down(true);
    let mailer = mailer_for(&server.url(), RetryPolicy { max_attempts: 50, ..RetryPolicy::fast() });
    let mut history = vec![requested(7), matched(utrecht())];
    let who = person("Ann", "ann@example.org");
    let up_again = {
        let sessions_needed = 2;
        let state_server = &server;
        async move {
            while state_server.sessions() < sessions_needed {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            state_server.set_down(false);
        }
    };
    let (outcomes, ()) = tokio::join!(drive_like_the_consumer(&mailer, &mut history, &who), up_again);
    assert!(outcomes.len() >= 2, "{outcomes:?}");
    assert!(matches!(outcomes.last(), Some(SendOutcome::Sent { .. })), "{outcomes:?}");
    assert_eq!(server.wait_for(1, WAIT).len(), 1);
}

#[tokio::test]
async fn an_unknown_mailbox_is_a_permanent_failure_without_further_attempts() {
    let server = TestSmtp::start();
    server.reject("gone@example.org");
    let mailer = mailer_for(&server.url(), RetryPolicy::fast());
    let mut history = vec![requested(8), matched(utrecht())];
    let outcomes = drive_like_the_consumer(&mailer, &mut history, &person("Gone", "gone@example.org")).await;

    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let SendOutcome::Failed { reason, attempts, permanent, .. } = &outcomes[0] else { panic!("{outcomes:?}") };
    assert!(*permanent && *attempts == 1, "{outcomes:?}");
    assert!(reason.contains("550") && !reason.contains("gone@"), "{reason}");
    assert!(
        matches!(history.last(), Some(masthead_domain::subscription::SubscriptionEvent::ConfirmationFailed(e)) if e.permanent)
    );
    // A redelivery of the trigger does not try again.
    assert_eq!(decide(&history), MailDecision::Skip(SkipReason::AlreadyFailed));
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn retries_that_run_out_end_in_a_non_permanent_failure() {
    let server = TestSmtp::start();
    server.fail_next(100);
    let mailer = mailer_for(&server.url(), RetryPolicy { max_attempts: 3, ..RetryPolicy::fast() });
    let mut history = vec![requested(9), matched(utrecht())];
    let outcomes = drive_like_the_consumer(&mailer, &mut history, &person("Ann", "ann@example.org")).await;
    assert_eq!(outcomes.len(), 3);
    assert!(matches!(&outcomes[2], SendOutcome::Failed { attempts: 3, permanent: false, .. }), "{outcomes:?}");
    assert_eq!(server.count(), 0);
}

#[tokio::test]
async fn concurrent_sends_share_the_pool_and_all_arrive() {
    let server = TestSmtp::start();
    let smtp = SmtpConfig { pool: 4, ..SmtpConfig::from_url(&server.url()).expect("url") };
    let mailer = Mailer::new(Arc::new(SmtpTransport::new(&smtp).expect("transport")), sender(), RetryPolicy::fast());
    let who = person("Ann", "ann@example.org");
    let sends = (0..40u128).map(|i| {
        let mailer = mailer.clone();
        let who = who.clone();
        tokio::spawn(async move {
            mailer.deliver(&confirmation(1000 + i, utrecht()), &who, mailer.retry_policy().attempt(1)).await
        })
    });
    for outcome in futures::future::join_all(sends).await {
        assert!(matches!(outcome.expect("task"), SendOutcome::Sent { .. }));
    }
    let received = server.wait_for(40, WAIT);
    let mut ids: Vec<String> =
        received.iter().filter_map(|r| Mail::parse(&r.data).header("Message-ID").map(str::to_owned)).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    // Connections were reused: far fewer sessions than mails.
    assert!(server.sessions() <= 8, "{} sessions for 40 mails", server.sessions());
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    // Accepts TCP connections and then says nothing, not even a greeting.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let smtp = SmtpConfig {
        timeout: Duration::from_millis(200),
        ..SmtpConfig::from_url(&format!("smtp://127.0.0.1:{port}")).expect("url")
    };
    let mailer = Mailer::new(Arc::new(SmtpTransport::new(&smtp).expect("transport")), sender(), RetryPolicy::fast());
    let started = std::time::Instant::now();
    let outcome = mailer
        .deliver(&confirmation(10, utrecht()), &person("Ann", "ann@example.org"), mailer.retry_policy().attempt(1))
        .await;
    assert!(matches!(&outcome, SendOutcome::RetryLater { reason, .. } if reason.contains("timed out")), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}
