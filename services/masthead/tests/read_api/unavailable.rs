use crate::helpers::*;

#[tokio::test]
async fn without_read_models_the_read_api_answers_503_json() {
    let app = spawn_app_without_reads().await;
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
    let response = app.get("/api/v1/match?street=Kerkstraat%2012").await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "match_index_unavailable");

    // Bad parameters are still reported as such.
    app.assert_bad_parameter("/api/v1/subscriptions?limit=0", "limit").await;
    // The dashboard page itself is static and still served.
    assert_eq!(app.get("/dashboard").await.status(), 200);
}
