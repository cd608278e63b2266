//! Signing in to the staff pages in a real browser: a page without a
//! session sends the browser to the sign-in page, a refused token is
//! explained there, an accepted one becomes a session no script can read,
//! and signing out ends it.

use crate::browser::Browser;
use fantoccini::Locator;
use masthead_auth::Role;
use masthead_test_support::app::{spawn_app, API_AND_PROJECTOR};
use masthead_test_support::wait_until;
use std::time::Duration;

/// Waits until the browser shows `path`.
async fn at(client: &Browser, path: &str) {
    let reached = wait_until(&format!("the browser at {path}"), Duration::from_secs(10), || async {
        client.current_url().await.ok().filter(|u| u.path() == path)
    })
    .await;
    assert!(reached.is_ok(), "{reached:?}");
}

#[tokio::test]
async fn a_token_signs_in_to_the_dashboard_and_signing_out_ends_the_session() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let client = Browser::start(1200, 900).await;
    let base = app.address.clone();
    let result = async {
        // No session: the dashboard sends the browser to sign in.
        client.goto(&format!("{base}/dashboard")).await?;
        let url = client.current_url().await?;
        assert_eq!(url.path(), "/sign-in", "{url}");
        assert_eq!(url.query(), Some("next=%2Fdashboard"), "{url}");

        // A token that is not valid is refused on the page, saying why.
        client.sign_in(&base, "not-a-token", "/dashboard").await?;
        let problem =
            client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Id("sign-in-problem")).await?;
        let text = problem.text().await?;
        assert!(text.contains("not accepted"), "{text}");

        // A viewer's token opens the dashboard, which then reads the API
        // with the session cookie.
        client.sign_in(&base, &app.token(&[Role::Viewer]), "/dashboard").await?;
        at(&client, "/dashboard").await;
        let status = client.find(Locator::Id("status")).await?;
        let updated = wait_until("the dashboard to read /api/v1/stats", Duration::from_secs(15), || async {
            status.text().await.ok().filter(|t| t.starts_with("updated"))
        })
        .await;
        assert!(updated.is_ok(), "{updated:?}");
        let who = client.find(Locator::Id("who")).await?.text().await?;
        assert!(who.contains("test"), "{who}");
        // HttpOnly: no script on the page can read the session.
        let cookies = client.execute("return document.cookie;", vec![]).await?;
        assert!(!cookies.as_str().unwrap_or("").contains("masthead_session"), "{cookies}");

        // Signing out ends the session: the dashboard asks to sign in again.
        client.find(Locator::Css("#sign-out button")).await?.click().await?;
        at(&client, "/sign-in").await;
        client.goto(&format!("{base}/dashboard")).await?;
        assert_eq!(client.current_url().await?.path(), "/sign-in");
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    client.close().await;
    result.expect("sign-in checks");
}
