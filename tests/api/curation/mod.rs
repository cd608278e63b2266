//! The address team's commands and review queue over HTTP: every status
//! code the workbench issue names, with a curator's token.

mod commands;
mod matching;
mod reads;
mod reviews;

use masthead_auth::Role;
use masthead_test_support::app::{client_with_token, spawn_app, TestApp, API_AND_PROJECTOR};
use masthead_test_support::history::duplicate_pair;
use serde_json::{json, Value};

/// An app with the projector, a curator's client, and the answer helpers.
pub struct Desk {
    pub app: TestApp,
    pub curator: reqwest::Client,
}

impl Desk {
    pub async fn open() -> Self {
        let app = spawn_app(API_AND_PROJECTOR).await;
        let curator = client_with_token(&app.token(&[Role::Curator]));
        Self { app, curator }
    }

    /// Sends `method path` with a JSON body; returns the status and body.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let url = format!("{}{}", self.app.address, path);
        let response = self.curator.request(method, url).json(body).send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} answered non-JSON ({e}): {text}"));
        (status, body)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PATCH, path, body).await
    }

    /// Registers an address by hand; asserts 201 and returns its id.
    pub async fn register(&self, street: &str, postal_code: &str, city: &str) -> String {
        let body = json!({"street": street, "postal_code": postal_code, "city": city, "country": "NL"});
        let (status, answer) = self.post("/api/v1/addresses", &body).await;
        assert_eq!(status, 201, "{answer}");
        answer["id"].as_str().expect("id").to_owned()
    }
}

/// The field a 4xx names first.
pub fn field(body: &Value) -> &str {
    body["errors"][0]["field"].as_str().unwrap_or("")
}

/// Opens a duplicate review item for the pair, as `masthead addresses
/// dedupe` does, through the event store; returns its id.
pub async fn open_pair(app: &TestApp, address: &str, candidate: &str) -> String {
    let opened = duplicate_pair(address.parse().expect("id"), candidate.parse().expect("id"), 0.9);
    let id = opened.review_id.to_string();
    app.open_review(opened).await;
    id
}
