use masthead_test_support::app::{spawn_app, API_AND_PROJECTOR};
use serde_json::Value;

/// Every route the API serves, as (method, OpenAPI path).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/subscriptions"),
    ("get", "/api/v1/subscriptions"),
    ("get", "/api/v1/subscriptions/{id}"),
    ("get", "/api/v1/addresses"),
    ("get", "/api/v1/addresses/{id}"),
    ("get", "/api/v1/stats"),
    ("get", "/api/v1/match"),
    ("get", "/dashboard"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/"),
    ("post", "/subscribe"),
    ("get", "/status/{id}"),
    ("get", "/sign-in"),
    ("post", "/sign-in"),
    ("post", "/sign-out"),
    ("get", "/sign-in/oidc"),
    ("get", "/sign-in/callback"),
    // The auditor's and the admin's.
    ("get", "/api/v1/audit/events"),
    ("get", "/api/v1/subscriptions/{id}/personal-data"),
    ("delete", "/api/v1/subscriptions/{id}/personal-data"),
    ("get", "/confirm/{id}"),
    ("post", "/confirm/{id}"),
    // The address team's.
    ("post", "/api/v1/addresses"),
    ("patch", "/api/v1/addresses/{id}"),
    ("post", "/api/v1/addresses/{id}/merge"),
    ("post", "/api/v1/addresses/{id}/retire"),
    ("post", "/api/v1/reviews/{id}/decision"),
    ("get", "/api/v1/addresses/{id}/history"),
    ("get", "/api/v1/reviews"),
    ("get", "/api/v1/reviews/{id}"),
    ("get", "/curate"),
    ("get", "/curate/addresses/{id}"),
    ("get", "/curate/reviews"),
    ("get", "/curate/reviews/{id}"),
];

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let doc = app.get_json("/api/v1/openapi.json", 200).await;
    assert!(doc["openapi"].as_str().expect("version").starts_with('3'));
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in ROUTES {
        let op = &paths.get(*path).unwrap_or_else(|| panic!("{path} missing from {:?}", paths.keys()))[*method];
        assert!(op.is_object(), "{method} {path} missing");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
    }
    let documented: usize = paths.values().map(|p| p.as_object().map_or(0, |m| m.len())).sum();
    assert_eq!(documented, ROUTES.len(), "documented operations not in ROUTES: {:?}", paths.keys());

    // Every documented route answers something other than the JSON
    // "no such route" fallback.
    for (method, path) in ROUTES {
        let url = format!("{}{}", app.address, path.replace("{id}", &uuid::Uuid::new_v4().to_string()));
        let response = match *method {
            "get" => app.http.get(&url).send().await,
            "delete" => app.http.delete(&url).send().await,
            "patch" => app.http.patch(&url).send().await,
            _ => app.http.post(&url).send().await,
        }
        .expect("request");
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(!body.contains("no such route"), "{method} {path} is not routed ({status})");
    }

    // Parameters the handlers read are documented.
    let list = &paths["/api/v1/subscriptions"]["get"]["parameters"];
    let names: Vec<&str> = list.as_array().expect("params").iter().filter_map(|p| p["name"].as_str()).collect();
    for p in ["status", "created_after", "created_before", "country", "limit", "cursor"] {
        assert!(names.contains(&p), "{p} not documented: {names:?}");
    }
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for s in ["ErrorBody", "StatsBody", "ConsumerLag", "PreviewBody", "AddressView", "SubscriptionSummary"] {
        assert!(schemas.contains_key(s), "schema {s} missing: {:?}", schemas.keys());
    }
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let redirect = app.get("/api/docs").await;
    assert!(redirect.status().is_redirection());
    let page = app.get("/api/docs/").await;
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    // The assets come from the binary, not a CDN.
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-initializer.js"] {
        let r = app.get(&format!("/api/docs/{asset}")).await;
        assert_eq!(r.status(), 200, "{asset}");
        let body = r.text().await.expect("asset");
        assert!(body.len() > 100, "{asset}");
        if asset == "swagger-initializer.js" {
            assert!(body.contains("/api/v1/openapi.json"), "{body}");
        }
    }
    assert!(!html.contains("cdn."), "{html}");
}

#[tokio::test]
async fn the_dashboard_page_is_self_contained() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let response = app.get("/dashboard").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    let csp = response.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = response.text().await.expect("html");
    for id in ["chart-registrations", "chart-outcomes", "chart-scores", "chart-lag"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    // Its script and style are files of the same server.
    let mut page = html.clone();
    for asset in ["/assets/dashboard.js", "/assets/dashboard.css"] {
        assert!(html.contains(&format!("\"{asset}\"")), "the page loads {asset}: {html}");
        let r = app.get(asset).await;
        assert_eq!(r.status(), 200, "{asset}");
        page.push_str(&r.text().await.expect("asset"));
    }
    assert!(page.contains("/api/v1/stats"), "the script polls the stats");
    // The only URL is the SVG namespace: no external scripts, styles or fonts.
    assert_eq!(page.matches("http://").count(), page.matches("http://www.w3.org/2000/svg").count());
    assert!(!page.contains("https://"), "no external resources");
    let _: Value = app.get_json("/api/v1/stats", 200).await;
}
