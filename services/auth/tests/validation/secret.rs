//! HS256 tokens against a shared secret, as `masthead token issue` makes
//! them and as a simple identity set-up would.

use crate::keys::{claims, now, SigningKey};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use masthead_auth::local::{TokenIssuer, TokenRequest};
use masthead_auth::{AuthError, AuthSettings, Authenticator, Role, SetupError};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

const SECRET: &str = "a-shared-secret-of-at-least-32-bytes!";

fn authenticator(issuer: Option<&str>, audience: Option<&str>, roles_claim: &str) -> Authenticator {
    Authenticator::new(&AuthSettings {
        hs256_secret: Some(SECRET.into()),
        issuer: issuer.map(Into::into),
        audience: audience.map(Into::into),
        roles_claim: roles_claim.into(),
        ..AuthSettings::default()
    })
    .expect("authenticator")
}

fn sign_with(secret: &str, alg: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret.as_bytes()).expect("key"))
        .expect("sign")
}

fn sign(claims: &Value) -> String {
    sign_with(SECRET, Algorithm::HS256, claims)
}

#[tokio::test]
async fn a_local_token_carries_its_roles_and_subject() {
    let auth = authenticator(None, None, "roles");
    let issuer = TokenIssuer::new(SECRET, None, None, "roles").expect("issuer");
    let request = TokenRequest { subject: "ops", roles: &[Role::Curator, Role::Auditor], ttl: Duration::from_secs(60) };
    let principal = auth.authenticate(&issuer.issue(&request).expect("token")).await.expect("valid");
    assert_eq!(principal.subject.as_deref(), Some("ops"));
    assert_eq!(principal.roles, vec![Role::Curator, Role::Auditor]);
    assert!(principal.expires_at > now() && principal.expires_at <= now() + 60);
}

#[tokio::test]
async fn expiry_is_always_checked_with_at_most_a_minute_of_skew() {
    let auth = authenticator(None, None, "roles");
    let at = |exp: u64| json!({"exp": exp, "roles": ["viewer"]});
    assert!(auth.authenticate(&sign(&at(now() - 30))).await.is_ok(), "30 s late is within the skew");
    assert!(matches!(auth.authenticate(&sign(&at(now() - 120))).await, Err(AuthError::Expired)));
    let no_exp = sign(&json!({"roles": ["viewer"]}));
    assert!(matches!(auth.authenticate(&no_exp).await, Err(AuthError::InvalidClaims(_))), "exp is required");
    // An issued token, from two hours ago with a one-hour lifetime.
    let issuer = TokenIssuer::new(SECRET, None, None, "roles").expect("issuer");
    let request = TokenRequest { subject: "ops", roles: &[Role::Admin], ttl: Duration::from_secs(3600) };
    let old = issuer.issue_at(&request, SystemTime::now() - Duration::from_secs(7200)).expect("token");
    assert!(matches!(auth.authenticate(&old).await, Err(AuthError::Expired)));
}

#[tokio::test]
async fn not_before_is_checked_when_present() {
    let auth = authenticator(None, None, "roles");
    let with_nbf = |nbf: u64| json!({"exp": now() + 3600, "nbf": nbf, "roles": ["viewer"]});
    assert!(auth.authenticate(&sign(&with_nbf(now() + 30))).await.is_ok(), "30 s early is within the skew");
    assert!(matches!(auth.authenticate(&sign(&with_nbf(now() + 300))).await, Err(AuthError::NotYetValid)));
    assert!(auth.authenticate(&sign(&claims(&["viewer"]))).await.is_ok(), "nbf is optional");
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let auth = authenticator(Some("https://idp.example"), Some("masthead"), "roles");
    let token = |extra: Value| {
        let mut c = claims(&["viewer"]);
        c.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        sign(&c)
    };
    let good = json!({"iss": "https://idp.example", "aud": ["account", "masthead"]});
    assert!(auth.authenticate(&token(good)).await.is_ok());
    let cases = [
        (json!({"iss": "https://evil.example", "aud": "masthead"}), "wrong issuer"),
        (json!({"aud": "masthead"}), "no issuer"),
        (json!({"iss": "https://idp.example", "aud": "someone-else"}), "wrong audience"),
        (json!({"iss": "https://idp.example"}), "no audience"),
    ];
    for (extra, what) in cases {
        let got = auth.authenticate(&token(extra)).await;
        let right = match what {
            "wrong issuer" | "no issuer" => matches!(got, Err(AuthError::WrongIssuer)),
            _ => matches!(got, Err(AuthError::WrongAudience)),
        };
        assert!(right, "{what}: {got:?}");
    }
    // Unconfigured, neither is required and any value passes.
    let open = authenticator(None, None, "roles");
    assert!(open.authenticate(&token(json!({"iss": "anyone", "aud": "anything"}))).await.is_ok());
}

#[tokio::test]
async fn a_bad_signature_is_refused() {
    let auth = authenticator(None, None, "roles");
    let other = sign_with("another-secret-that-is-32-bytes-long!", Algorithm::HS256, &claims(&["admin"]));
    assert!(matches!(auth.authenticate(&other).await, Err(AuthError::BadSignature(_))));
    // Raising one's own roles in a genuine token breaks its signature.
    let genuine = sign(&claims(&["viewer"]));
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(claims(&["admin"]).to_string());
    let tampered = format!("{}.{}.{}", parts[0], forged, parts[2]);
    assert!(matches!(auth.authenticate(&tampered).await, Err(AuthError::BadSignature(_))));
}

#[tokio::test]
async fn unsigned_and_unexpected_algorithms_are_refused() {
    let auth = authenticator(None, None, "roles");
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", URL_SAFE_NO_PAD.encode(claims(&["admin"]).to_string()));
    assert!(matches!(auth.authenticate(&unsigned).await, Err(AuthError::Malformed(_))));
    let hs384 = sign_with(SECRET, Algorithm::HS384, &claims(&["admin"]));
    assert!(matches!(auth.authenticate(&hs384).await, Err(AuthError::UnsupportedAlgorithm(Algorithm::HS384))));
    // Without a JWKS, an asymmetric token has nothing to be checked against.
    let rsa = SigningKey::p256("k1").sign(&claims(&["admin"]));
    assert!(matches!(auth.authenticate(&rsa).await, Err(AuthError::UnsupportedAlgorithm(Algorithm::ES256))));
    assert!(matches!(auth.authenticate("not a token").await, Err(AuthError::Malformed(_))));
}

#[tokio::test]
async fn roles_come_from_a_dotted_claim_path() {
    let auth = authenticator(None, None, "realm_access.roles");
    let keycloak = json!({
        "exp": now() + 60,
        "realm_access": {"roles": ["offline_access", "curator", "uma_authorization"]},
        "roles": ["admin"],
    });
    let principal = auth.authenticate(&sign(&keycloak)).await.expect("valid");
    assert_eq!(principal.roles, vec![Role::Curator], "only the configured claim counts");
    // Tokens issued locally put the roles where the validator looks.
    let issuer = TokenIssuer::new(SECRET, None, None, "realm_access.roles").expect("issuer");
    let request = TokenRequest { subject: "ops", roles: &[Role::Auditor], ttl: Duration::from_secs(60) };
    let principal = auth.authenticate(&issuer.issue(&request).expect("token")).await.expect("valid");
    assert_eq!(principal.roles, vec![Role::Auditor]);
}

#[test]
fn weak_secrets_and_missing_keys_are_refused_at_start() {
    let weak = AuthSettings { hs256_secret: Some("short".into()), ..AuthSettings::default() };
    assert!(matches!(Authenticator::new(&weak), Err(SetupError::WeakSecret(5))));
    assert!(matches!(Authenticator::new(&AuthSettings::default()), Err(SetupError::NoKeys)));
    let ftp = AuthSettings { jwks_url: Some("ftp://idp/keys".into()), ..AuthSettings::default() };
    assert!(matches!(Authenticator::new(&ftp), Err(SetupError::JwksUrl(_))));
}
