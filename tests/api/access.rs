//! Who may call what: every route off the public list refuses anonymous
//! requests, tokens open doors by role, bad tokens are refused with JSON,
//! browser sessions are HttpOnly/SameSite=Strict cookies guarded against
//! CSRF, every page carries the security headers, CORS is off unless
//! configured, and `/metrics` can leave the public port.

use masthead_auth::local::{TokenIssuer, TokenRequest};
use masthead_auth::Role;
use masthead_http::access::doors::{is_public, Door};
use masthead_test_support::app::{
    client_with_token, spawn_app, spawn_app_with, TestApp, API, API_AND_PROJECTOR, TEST_SECRET,
};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

/// A request path for a route pattern: a fresh id for `{id}`, a file for
/// the others.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{id}", &uuid::Uuid::new_v4().to_string())
        .replace("{*rest}", "index.html")
        .replace("{file}", "style.css")
}

/// Asserts a JSON refusal with `status` and error `code`; returns the body.
async fn assert_refused(response: Response, status: StatusCode, code: &str, what: &str) -> Value {
    assert_eq!(response.status(), status, "{what}");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/json"), "{what}: {content_type}");
    if status == StatusCode::UNAUTHORIZED {
        let challenge = response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(challenge.starts_with("Bearer"), "{what}: WWW-Authenticate {challenge:?}");
    }
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    body
}

/// Every (METHOD, path) of the served OpenAPI document.
async fn documented_operations(app: &TestApp) -> BTreeSet<(String, String)> {
    let document = app.get_json("/api/v1/openapi.json", 200).await;
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "patch", "delete", "head", "options", "trace"].contains(&method.as_str()) {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[tokio::test]
async fn every_route_off_the_public_list_refuses_an_anonymous_request() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let doors = masthead_http::doors().entries();
    let declared: BTreeSet<(String, String)> = doors.iter().map(|(m, p, _)| (m.to_string(), p.clone())).collect();
    // Every operation of the OpenAPI document is one of the router's
    // routes with a door (the doors are recorded as routes are added).
    let documented = documented_operations(&app).await;
    let undeclared: Vec<_> = documented.difference(&declared).collect();
    assert!(undeclared.is_empty(), "documented operations without a door: {undeclared:?}");

    let mut closed = Vec::new();
    for (method, pattern, door) in &doors {
        let url = format!("{}{}", app.address, concrete(pattern));
        let method = Method::from_bytes(method.as_str().as_bytes()).expect("method");
        let what = format!("anonymous {method} {pattern}");
        let response = app.anonymous.request(method.clone(), &url).header("accept", "application/json").send().await;
        let response = response.expect("request");
        if is_public(method.as_str(), pattern) || *door == Door::Operations {
            // Not the door's refusal (sign-out's own CSRF check may refuse).
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let refused = status == StatusCode::UNAUTHORIZED || body.contains("\"forbidden\"");
            assert!(!refused, "{what} is public but answered {status}: {body}");
            continue;
        }
        assert!(matches!(door, Door::Role(_)), "{what}: {door:?}");
        assert_refused(response, StatusCode::UNAUTHORIZED, "unauthenticated", &what).await;
        closed.push(format!("{method} {pattern}"));
    }
    // The staff routes that exist today are among them (the walk is not
    // vacuous).
    for route in [
        "GET /api/v1/subscriptions",
        "GET /api/v1/stats",
        "GET /api/v1/match",
        "GET /dashboard",
        "POST /api/v1/addresses",
        "PATCH /api/v1/addresses/{id}",
        "GET /api/v1/reviews",
        "POST /api/v1/reviews/{id}/decision",
        "GET /curate/reviews",
    ] {
        assert!(closed.iter().any(|c| c == route), "{route} not refused: {closed:?}");
    }
    // The walk covered every documented operation.
    assert!(doors.len() >= documented.len());
}

#[tokio::test]
async fn every_curator_door_refuses_a_viewer_and_an_auditor() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let doors = masthead_http::doors().entries();
    let curator_routes: Vec<_> = doors.iter().filter(|(_, _, door)| *door == Door::Role(Role::Curator)).collect();
    // The team's commands, review queue and pages are among them.
    assert!(curator_routes.len() >= 13, "{curator_routes:?}");
    for role in [Role::Viewer, Role::Auditor] {
        let client = client_with_token(&app.token(&[role]));
        for (method, pattern, _) in &curator_routes {
            let url = format!("{}{}", app.address, concrete(pattern));
            let method = Method::from_bytes(method.as_str().as_bytes()).expect("method");
            let response = client.request(method.clone(), &url).header("accept", "application/json").send().await;
            let what = format!("{role:?} {method} {pattern}");
            assert_refused(response.expect("request"), StatusCode::FORBIDDEN, "forbidden", &what).await;
        }
    }
}

#[tokio::test]
async fn tokens_open_doors_by_role_and_bad_tokens_get_a_json_401() {
    let app = spawn_app_with(API, |c| {
        c.auth_issuer = Some("https://id.example".into());
        c.auth_audience = Some("masthead".into());
    })
    .await;
    let issuer =
        |iss: &str, aud: &str, secret: &str| TokenIssuer::new(secret, Some(iss), Some(aud), "roles").expect("issuer");
    let good = issuer("https://id.example", "masthead", TEST_SECRET);
    let url = format!("{}/api/v1/match?street=Kerkstraat%201", app.address);

    // The role, or one that includes it, opens the door; a lesser one gets 403.
    for (roles, expected) in [
        (&[Role::Curator][..], StatusCode::OK),
        (&[Role::Admin][..], StatusCode::OK),
        (&[Role::Viewer, Role::Curator][..], StatusCode::OK),
    ] {
        let token = good.issue(&request(roles)).expect("token");
        let response = client_with_token(&token).get(&url).send().await.expect("request");
        assert_eq!(response.status(), expected, "{roles:?}");
    }
    for roles in [&[Role::Viewer][..], &[Role::Auditor][..]] {
        let token = good.issue(&request(roles)).expect("token");
        let response = client_with_token(&token).get(&url).send().await.expect("request");
        let body = assert_refused(response, StatusCode::FORBIDDEN, "forbidden", &format!("{roles:?}")).await;
        assert!(body["error"]["message"].as_str().unwrap_or("").contains("curator"), "{body}");
    }

    // Bad signature, expired, wrong issuer or audience, not a JWT: 401.
    let other_secret = "another-secret-of-at-least-32-bytes-long";
    let two_hours_ago = SystemTime::now() - Duration::from_secs(7200);
    let bad = [
        ("bad signature", issuer("https://id.example", "masthead", other_secret).issue(&request(&[Role::Admin]))),
        ("expired", good.issue_at(&request(&[Role::Admin]), two_hours_ago)),
        ("wrong issuer", issuer("https://evil.example", "masthead", TEST_SECRET).issue(&request(&[Role::Admin]))),
        ("wrong audience", issuer("https://id.example", "other", TEST_SECRET).issue(&request(&[Role::Admin]))),
        ("not a JWT", Ok("not.a.jwt".to_owned())),
    ];
    for (what, token) in bad {
        let response = client_with_token(&token.expect("token")).get(&url).send().await.expect("request");
        assert_refused(response, StatusCode::UNAUTHORIZED, "invalid_token", what).await;
    }
    // A token from an authenticating proxy works for pages too.
    let viewer = good.issue(&request(&[Role::Viewer])).expect("token");
    let page = client_with_token(&viewer)
        .get(format!("{}/dashboard", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
}

/// An hour's token for `roles`.
fn request(roles: &[Role]) -> TokenRequest<'_> {
    TokenRequest { subject: "tester", roles, ttl: Duration::from_secs(3600) }
}

/// The value of `name="<field>" value="…"` in a page.
fn hidden_field(html: &str, field: &str) -> String {
    let marker = format!("name=\"{field}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no {field} in {html}")) + marker.len();
    html[start..].split('"').next().expect("value").to_owned()
}

/// The `name=value` of a `Set-Cookie` for `name`, and the whole header.
fn set_cookie(response: &Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        let pair = c.split(';').next()?.trim();
        pair.starts_with(&format!("{name}=")).then(|| (pair.to_owned(), c.to_owned()))
    })
}

#[tokio::test]
async fn a_pasted_token_becomes_a_strict_http_only_session_guarded_against_csrf() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let base = &app.address;
    let client = &app.anonymous;
    // A browser without a session is sent to the sign-in page.
    let away = client.get(format!("{base}/dashboard")).header("accept", "text/html").send().await.expect("page");
    assert!(away.status().is_redirection(), "{}", away.status());
    assert_eq!(away.headers()["location"], "/sign-in?next=%2Fdashboard");

    let form = client.get(format!("{base}/sign-in?next=/dashboard")).send().await.expect("sign-in page");
    let (csrf_cookie, _) = set_cookie(&form, "masthead_csrf").expect("a CSRF cookie");
    let csrf = hidden_field(&form.text().await.expect("html"), "csrf_token");
    let token = app.token(&[Role::Viewer]);
    let post = |origin: &str, csrf: &str| {
        client
            .post(format!("{base}/sign-in"))
            .header("origin", origin)
            .header("cookie", &csrf_cookie)
            .form(&[("token", token.as_str()), ("csrf_token", csrf), ("next", "/dashboard")])
            .send()
    };
    // From another site, or without the page's token: refused.
    assert_eq!(post("https://evil.example", &csrf).await.expect("post").status(), StatusCode::FORBIDDEN);
    assert_eq!(post(base, &"0".repeat(64)).await.expect("post").status(), StatusCode::FORBIDDEN);

    let signed_in = post(base, &csrf).await.expect("post");
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(signed_in.headers()["location"], "/dashboard");
    let (session, header) = set_cookie(&signed_in, "masthead_session").expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(header.contains(part), "{part} in {header}");
    }
    assert!(!header.contains("Secure"), "plain HTTP: {header}");
    let cookies = format!("{session}; {csrf_cookie}");

    // The cookie opens the dashboard and the API the dashboard reads.
    let page = client.get(format!("{base}/dashboard")).header("cookie", &cookies).send().await.expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("html").contains("id=\"sign-out\""));
    let stats = client.get(format!("{base}/api/v1/stats")).header("cookie", &cookies).send().await.expect("stats");
    assert_eq!(stats.status(), StatusCode::OK);

    // Signing out needs the same proof.
    let out = |csrf: &str| {
        client
            .post(format!("{base}/sign-out"))
            .header("origin", base.as_str())
            .header("cookie", &cookies)
            .form(&[("csrf_token", csrf)])
            .send()
    };
    let refused = out("forged").await.expect("post");
    assert_refused(refused, StatusCode::FORBIDDEN, "csrf_failed", "sign-out without the token").await;
    let signed_out = out(&csrf).await.expect("post");
    assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
    let (_, header) = set_cookie(&signed_out, "masthead_session").expect("the session is cleared");
    assert!(header.contains("Max-Age=0"), "{header}");
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_no_inline_script() {
    let app = spawn_app(API_AND_PROJECTOR).await;
    let id = uuid::Uuid::new_v4();
    for path in ["/", &format!("/status/{id}"), "/sign-in", "/dashboard", "/api/docs/", "/api/v1/stats", "/nowhere"] {
        let response = app.get(path).await;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let csp = header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        let script_src = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src")).unwrap_or("");
        assert_eq!(script_src, "script-src 'self'", "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        let html = response.text().await.expect("body");
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
            assert!(tag.contains(" src="), "{path} has an inline script: {tag}");
        }
    }
}

#[tokio::test]
async fn cors_is_off_unless_origins_are_listed() {
    let preflight = |app: &TestApp, origin: &'static str| {
        app.anonymous
            .request(Method::OPTIONS, format!("{}/api/v1/stats", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed =
        |r: &Response| r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap_or("").to_owned());
    let closed = spawn_app(API).await;
    let r = preflight(&closed, "https://app.example").await.expect("preflight");
    assert_eq!(allowed(&r), None, "CORS is off by default");

    let open = spawn_app_with(API, |c| c.cors_allowed_origins = Some("https://app.example".into())).await;
    let r = preflight(&open, "https://app.example").await.expect("preflight");
    assert_eq!(allowed(&r).as_deref(), Some("https://app.example"));
    assert!(r.headers().get("access-control-allow-credentials").is_none(), "never with cookies");
    let r = preflight(&open, "https://evil.example").await.expect("preflight");
    assert_eq!(allowed(&r), None, "an origin off the list");
}

#[tokio::test]
async fn metrics_leave_the_public_port_for_the_operations_address() {
    let one = spawn_app(API).await;
    let metrics = one.anonymous.get(format!("{}/metrics", one.address)).send().await.expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK, "one listener: /metrics without a token");

    let app = spawn_app_with(API, |c| c.ops_addr = Some("127.0.0.1:0".parse().expect("address"))).await;
    let ops = app.ops_address.clone().expect("an operations listener");
    let public = app.anonymous.get(format!("{}/metrics", app.address)).send().await.expect("metrics");
    assert_refused(public, StatusCode::NOT_FOUND, "not_found", "/metrics on the public port").await;
    let metrics = app.anonymous.get(format!("{ops}/metrics")).send().await.expect("metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.text().await.expect("text").contains("# TYPE"), "Prometheus text");
    for probe in ["/healthz", "/readyz"] {
        let status = app.anonymous.get(format!("{ops}{probe}")).send().await.expect("probe").status();
        assert_eq!(status, StatusCode::OK, "{probe} on the operations listener");
    }
}
