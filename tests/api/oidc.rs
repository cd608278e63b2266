//! Sign-in through an OpenID Connect provider: authorization code with
//! PKCE. The provider is a small real HTTP server in the test process that
//! serves discovery, sends the browser back with a code, and at its token
//! endpoint checks the PKCE verifier against the challenge it was given
//! before it hands out a token signed with the app's secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use masthead_auth::local::{TokenIssuer, TokenRequest};
use masthead_auth::Role;
use masthead_test_support::app::{spawn_app_with, API_AND_PROJECTOR, TEST_SECRET};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the provider saw: the challenge of each code it issued, and the
/// token requests it answered.
#[derive(Default)]
struct Seen {
    challenges: HashMap<String, String>,
    exchanges: Vec<HashMap<String, String>>,
}

/// Starts the provider; returns its issuer URL and what it saw.
async fn provider() -> (String, Arc<Mutex<Seen>>) {
    use axum::extract::{Form, State};
    use axum::routing::{get, post};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let issuer = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let discovery = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/keys"),
    });
    let token_issuer = issuer.clone();
    let router = axum::Router::new()
        .route("/.well-known/openid-configuration", get(move || async move { axum::Json(discovery) }))
        .route(
            "/token",
            post(move |State(seen): State<Arc<Mutex<Seen>>>, Form(form): Form<HashMap<String, String>>| async move {
                let mut seen = seen.lock().expect("lock");
                seen.exchanges.push(form.clone());
                let code = form.get("code").cloned().unwrap_or_default();
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                if seen.challenges.get(&code) != Some(&computed) {
                    let body = json!({"error": "invalid_grant"});
                    return (StatusCode::BAD_REQUEST, axum::Json(body));
                }
                let signer = TokenIssuer::new(TEST_SECRET, Some(&token_issuer), None, "roles").expect("signer");
                let request =
                    TokenRequest { subject: "ada@idp", roles: &[Role::Viewer], ttl: Duration::from_secs(600) };
                let token = signer.issue(&request).expect("token");
                let body = json!({"access_token": token, "token_type": "Bearer", "expires_in": 600});
                (StatusCode::OK, axum::Json(body))
            }),
        )
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (issuer, seen)
}

/// The query parameters of a URL.
fn query(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    serde_urlencoded::from_str(query).expect("query")
}

#[tokio::test]
async fn sign_in_at_the_provider_uses_pkce_and_ends_in_a_session() {
    let (issuer, seen) = provider().await;
    let app = spawn_app_with(API_AND_PROJECTOR, |c| {
        c.auth_issuer = Some(issuer.clone());
        c.auth_oidc_client_id = Some("masthead".into());
        // The callback's address as the provider knows it (the app's port
        // is not known before it starts; the test follows the redirects).
        c.public_url = Some("http://masthead.test".into());
    })
    .await;
    let base = &app.address;
    let client = &app.anonymous;

    // The sign-in page offers the provider.
    let page = client.get(format!("{base}/sign-in?next=/dashboard")).send().await.expect("page");
    assert!(page.text().await.expect("html").contains("href=\"/sign-in/oidc?next=%2Fdashboard\""));

    // Off to the provider: code flow with an S256 challenge and a state.
    let start = client.get(format!("{base}/sign-in/oidc?next=/dashboard")).send().await.expect("start");
    assert!(start.status().is_redirection(), "{}", start.status());
    let location = start.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(location.starts_with(&format!("{issuer}/authorize?")), "{location}");
    let asked = query(&location);
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["client_id"], "masthead");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["redirect_uri"], "http://masthead.test/sign-in/callback");
    let flow_cookie =
        start.headers()["set-cookie"].to_str().expect("ascii").split(';').next().expect("cookie").to_owned();

    // The provider signs the person in and sends the browser back.
    seen.lock().expect("lock").challenges.insert("code-1".into(), asked["code_challenge"].clone());
    let callback = |state: &str, cookie: Option<&str>| {
        let request = client.get(format!("{base}/sign-in/callback?code=code-1&state={state}"));
        match cookie {
            Some(c) => request.header("cookie", c.to_owned()),
            None => request,
        }
        .send()
    };
    // Another browser (no flow cookie) or a forged state: refused.
    assert_eq!(callback(&asked["state"], None).await.expect("callback").status(), StatusCode::FORBIDDEN);
    assert_eq!(callback("forged", Some(&flow_cookie)).await.expect("callback").status(), StatusCode::FORBIDDEN);
    assert!(seen.lock().expect("lock").exchanges.is_empty(), "no code exchanged for a refused callback");

    let back = callback(&asked["state"], Some(&flow_cookie)).await.expect("callback");
    assert_eq!(back.status(), StatusCode::OK);
    let session = back
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("masthead_session=") && !c.starts_with("masthead_session=;"))
        .expect("a session cookie")
        .to_owned();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"), "{session}");
    let html = back.text().await.expect("html");
    assert!(html.contains("href=\"/dashboard\""), "moves on to where sign-in began: {html}");
    // The token endpoint got the verifier that matches the challenge.
    let exchanges = seen.lock().expect("lock").exchanges.clone();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0]["grant_type"], "authorization_code");
    assert!(exchanges[0].contains_key("code_verifier"));

    // The session opens the dashboard as the provider's user.
    let cookie = session.split(';').next().expect("pair");
    let dashboard = client.get(format!("{base}/dashboard")).header("cookie", cookie).send().await.expect("page");
    assert_eq!(dashboard.status(), StatusCode::OK);
    let page: String = dashboard.text().await.expect("html");
    assert!(page.contains("ada@idp"), "signed in as the provider's subject");
}
