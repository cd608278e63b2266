use masthead_test_support::app::{spawn_app, API};

/// A standalone API on the embedded store has no read models (the file
/// belongs to a projector's process): its read endpoints say so.
#[tokio::test]
async fn without_read_models_the_read_api_answers_503_json() {
    let app = spawn_app(API).await;
    for path in [
        "/api/v1/subscriptions",
        "/api/v1/addresses?q=kerk",
        &format!("/api/v1/addresses/{}", uuid::Uuid::new_v4()),
        "/api/v1/stats",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 503, "{path}");
        assert!(response.headers().contains_key("retry-after"), "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "projections_unavailable", "{path}");
    }
    // Every API process builds its match index from the stream itself, so
    // previews do not depend on read models: they answer, here from an
    // empty index.
    let preview = app.get_json("/api/v1/match?street=Kerkstraat%2012", 200).await;
    assert_eq!(preview["index_size"], 0, "{preview}");

    // Bad parameters are still reported as such.
    app.assert_bad_parameter("/api/v1/subscriptions?limit=0", "limit").await;
    // The dashboard page itself is static and still served.
    assert_eq!(app.get("/dashboard").await.status(), 200);
}
