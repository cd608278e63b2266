//! RS256, ES256 and EdDSA tokens against a JWKS served over HTTP by a
//! server in this process, which counts its fetches and can rotate keys or
//! fail.

use crate::keys::{claims, set, SigningKey};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use masthead_auth::{AuthError, AuthSettings, Authenticator, Role};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
struct Published {
    set: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    up: Arc<AtomicBool>,
}

/// An identity provider's key endpoint.
struct KeyServer {
    url: String,
    published: Published,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_keys(State(p): State<Published>) -> Response {
    p.fetches.fetch_add(1, Ordering::SeqCst);
    if !p.up.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let set = p.set.lock().expect("lock").clone();
    Json(set).into_response()
}

impl KeyServer {
    async fn start(initial: Value) -> Self {
        let published = Published {
            set: Arc::new(Mutex::new(initial)),
            fetches: Arc::new(AtomicUsize::new(0)),
            up: Arc::new(AtomicBool::new(true)),
        };
        let app = Router::new().route("/keys", get(serve_keys)).with_state(published.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/keys", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, published, task }
    }

    fn publish(&self, set: Value) {
        *self.published.set.lock().expect("lock") = set;
    }

    fn fetches(&self) -> usize {
        self.published.fetches.load(Ordering::SeqCst)
    }

    fn set_up(&self, up: bool) {
        self.published.up.store(up, Ordering::SeqCst);
    }

    fn authenticator(&self, min_refresh: Duration) -> Authenticator {
        Authenticator::new(&AuthSettings {
            jwks_url: Some(self.url.clone()),
            jwks_min_refresh: min_refresh,
            ..AuthSettings::default()
        })
        .expect("authenticator")
    }
}

#[tokio::test]
async fn rs256_es256_and_eddsa_tokens_verify_against_the_set_fetched_once() {
    let (rsa, ec, ed) = (SigningKey::rsa("rsa-1"), SigningKey::p256("ec-1"), SigningKey::ed25519("ed-1"));
    let server = KeyServer::start(set(&[&rsa, &ec, &ed])).await;
    let auth = server.authenticator(Duration::from_secs(3600));
    for (key, role) in [(&rsa, "viewer"), (&ec, "curator"), (&ed, "auditor")] {
        let principal =
            auth.authenticate(&key.sign(&claims(&[role]))).await.unwrap_or_else(|e| panic!("{:?}: {e}", key.alg));
        assert_eq!(principal.roles, vec![Role::parse(role).expect("role")], "{:?}", key.alg);
    }
    assert_eq!(server.fetches(), 1, "keys are cached");
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_set_and_finds_a_rotated_key() {
    let (old, new) = (SigningKey::p256("2024"), SigningKey::rsa("2025"));
    let server = KeyServer::start(set(&[&old])).await;
    let auth = server.authenticator(Duration::ZERO);
    auth.authenticate(&old.sign(&claims(&["viewer"]))).await.expect("old key");
    assert_eq!(server.fetches(), 1);

    server.publish(set(&[&old, &new]));
    let principal = auth.authenticate(&new.sign(&claims(&["admin"]))).await.expect("rotated key");
    assert_eq!(principal.roles, vec![Role::Admin]);
    assert_eq!(server.fetches(), 2, "one refetch for the unknown kid");

    // A kid nobody publishes: refetched once more, then refused.
    let stranger = SigningKey::p256("stranger");
    let got = auth.authenticate(&stranger.sign(&claims(&["admin"]))).await;
    assert!(matches!(got, Err(AuthError::UnknownKey(Some(ref k))) if k == "stranger"), "{got:?}");
    assert_eq!(server.fetches(), 3);
}

#[tokio::test]
async fn invented_kids_cannot_make_every_request_fetch_the_set() {
    let known = SigningKey::ed25519("known");
    let server = KeyServer::start(set(&[&known])).await;
    let auth = Arc::new(server.authenticator(Duration::from_secs(3600)));
    auth.authenticate(&known.sign(&claims(&["viewer"]))).await.expect("known key");
    let mut attempts = Vec::new();
    for i in 0..20 {
        let (auth, token) = (auth.clone(), SigningKey::p256(&format!("invented-{i}")).sign(&claims(&["admin"])));
        attempts.push(tokio::spawn(async move { auth.authenticate(&token).await }));
    }
    for attempt in attempts {
        assert!(matches!(attempt.await.expect("task"), Err(AuthError::UnknownKey(_))));
    }
    assert_eq!(server.fetches(), 1, "within the minimum refresh interval nothing is refetched");

    // Concurrent unknown kids share one refetch even when one is allowed.
    let eager = Arc::new(server.authenticator(Duration::ZERO));
    eager.authenticate(&known.sign(&claims(&["viewer"]))).await.expect("known key");
    let before = server.fetches();
    let mut attempts = Vec::new();
    for i in 0..10 {
        let (auth, token) = (eager.clone(), SigningKey::p256(&format!("burst-{i}")).sign(&claims(&["admin"])));
        attempts.push(tokio::spawn(async move { auth.authenticate(&token).await }));
    }
    for attempt in attempts {
        assert!(attempt.await.expect("task").is_err());
    }
    assert_eq!(server.fetches() - before, 1, "10 concurrent unknown kids wait for one refetch");
}

#[tokio::test]
async fn a_known_kid_with_a_foreign_signature_is_refused() {
    let genuine = SigningKey::rsa("main");
    let server = KeyServer::start(set(&[&genuine])).await;
    let auth = server.authenticator(Duration::from_secs(3600));
    // Someone else's key, claiming to be "main".
    let forger = SigningKey::rsa("main");
    let got = auth.authenticate(&forger.sign(&claims(&["admin"]))).await;
    assert!(matches!(got, Err(AuthError::BadSignature(_))), "{got:?}");
    // Without a shared secret an HS256 token is never checked against a JWKS key.
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims(&["admin"]),
        &jsonwebtoken::EncodingKey::from_secret(genuine.jwk()["n"].as_str().expect("n").as_bytes()).expect("key"),
    )
    .expect("sign");
    assert!(matches!(auth.authenticate(&hmac).await, Err(AuthError::UnsupportedAlgorithm(_))));
}

#[tokio::test]
async fn a_provider_outage_is_not_the_callers_fault_and_cached_keys_carry_on() {
    let key = SigningKey::p256("k");
    let server = KeyServer::start(set(&[&key])).await;
    let auth = server.authenticator(Duration::ZERO);
    server.set_up(false);
    let got = auth.authenticate(&key.sign(&claims(&["viewer"]))).await;
    assert!(matches!(got, Err(ref e @ AuthError::KeysUnavailable(_)) if !e.is_callers()), "{got:?}");

    server.set_up(true);
    auth.authenticate(&key.sign(&claims(&["viewer"]))).await.expect("provider back");
    server.set_up(false);
    // A refetch (for an unknown kid) fails, but the known key still works.
    let _ = auth.authenticate(&SigningKey::p256("new").sign(&claims(&["viewer"]))).await;
    auth.authenticate(&key.sign(&claims(&["viewer"]))).await.expect("cached key during the outage");
}
