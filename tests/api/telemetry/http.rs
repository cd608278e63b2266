//! One subscription from the HTTP request, through the JetStream publish,
//! into the real matcher and the matcher's own publishes: an app running
//! the API and the matcher on this test's thread.

use super::{attr, the};
use masthead::system::Roles;
use masthead_telemetry::{metrics, otel_layer};
use masthead_test_support::app::{spawn_app, API};
use masthead_test_support::wait_until;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn is_publish_of(s: &SpanData, event_type: &str) -> bool {
    s.span_kind == SpanKind::Producer && attr(s, "masthead.event.type").as_deref() == Some(event_type)
}

#[tokio::test]
async fn an_intake_request_is_traced_through_jetstream_into_the_matcher_and_its_decisions() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel_layer(&provider)));
    let app = spawn_app(Roles { matcher: true, ..API }).await;

    let body = serde_json::json!({
        "name": "Ada Lovelace", "email": "ada@example.org", "street": "Kerkstraat 12",
        "postal_code": "3511 LX", "city": "Utrecht", "country": "Nederland"
    });
    let response = app
        .http
        .post(format!("{}/api/v1/subscriptions", app.address))
        .header("host", "masthead.test:8080")
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .json(&body)
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 202);
    let accepted: serde_json::Value = response.json().await.expect("json");
    let id = accepted["id"].as_str().expect("id").to_owned();

    // The matcher's decision is its last publish; once that span has
    // closed, the process span around it closes right after the ack.
    let spans = wait_until("the matcher's decision to be traced", Duration::from_secs(30), || {
        let exporter = exporter.clone();
        async move {
            let spans = exporter.get_finished_spans().ok()?;
            let decided = spans.iter().any(|s| is_publish_of(s, "AddressAssigned"));
            let processed = spans.iter().any(|s| s.name == "process matcher" && attr(s, "masthead.outcome").is_some());
            (decided && processed).then_some(spans)
        }
    })
    .await
    .expect("matcher traced");

    // The HTTP server span continues the client's trace.
    let http = the(&spans, "HTTP", |s| s.span_kind == SpanKind::Server);
    assert_eq!(http.name, "POST /api/v1/subscriptions");
    assert_eq!(http.span_context.trace_id().to_string(), CLIENT_TRACE);
    assert_eq!(http.parent_span_id.to_string(), CLIENT_SPAN, "the client's span is the parent");
    for (key, value) in [
        ("http.request.method", "POST"),
        ("http.route", "/api/v1/subscriptions"),
        ("url.path", "/api/v1/subscriptions"),
        ("http.response.status_code", "202"),
        ("server.address", "masthead.test"),
        ("server.port", "8080"),
        ("network.protocol.version", "1.1"),
        ("correlation_id", id.as_str()),
    ] {
        assert_eq!(attr(http, key).as_deref(), Some(value), "{key} on {:?}", http.attributes);
    }

    // HTTP -> publish
    let publish = the(&spans, "intake publish", |s| is_publish_of(s, "SubscriptionRequested"));
    assert_eq!(publish.parent_span_id, http.span_context.span_id());
    assert_eq!(publish.span_context.trace_id(), http.span_context.trace_id());
    assert_eq!(publish.name, "publish masthead.subscription.*");
    assert_eq!(attr(publish, "messaging.destination.name"), Some(format!("masthead.subscription.{id}")));
    assert_eq!(attr(publish, "messaging.system").as_deref(), Some("nats"));

    // publish -> process matcher (parent and link)
    let message_id = attr(publish, "messaging.message.id").expect("message id");
    let process = the(&spans, "matcher process", |s| {
        s.span_kind == SpanKind::Consumer && attr(s, "messaging.message.id").as_deref() == Some(message_id.as_str())
    });
    assert_eq!(process.name, "process matcher");
    assert_eq!(process.parent_span_id, publish.span_context.span_id());
    assert_eq!(process.span_context.trace_id(), http.span_context.trace_id());
    assert!(process.links.iter().any(|l| l.span_context.span_id() == publish.span_context.span_id()));
    assert_eq!(attr(process, "messaging.consumer.group.name").as_deref(), Some("matcher"));
    assert_eq!(attr(process, "masthead.stream.sequence"), attr(publish, "masthead.stream.sequence"));

    // process -> the matcher's own publishes
    for decision in ["BaseAddressRegistered", "AddressAssigned"] {
        let own = the(&spans, decision, |s| is_publish_of(s, decision));
        assert_eq!(own.parent_span_id, process.span_context.span_id(), "{decision} is a child of the process span");
        assert_eq!(own.span_context.trace_id(), http.span_context.trace_id());
    }

    // The middleware's metric uses the route template, and the append
    // counted the event.
    let exposition = metrics::render();
    assert!(
        exposition.lines().any(|l| l.starts_with("masthead_http_server_request_duration_seconds_count")
            && l.contains(r#"http_route="/api/v1/subscriptions""#)
            && l.contains(r#"http_request_method="POST""#)
            && l.contains(r#"http_response_status_code="202""#)),
        "{exposition}"
    );
    assert!(
        exposition
            .lines()
            .any(|l| l.starts_with(r#"masthead_events_appended_total{event_type="SubscriptionRequested"}"#)),
        "{exposition}"
    );
}

#[tokio::test]
async fn unmatched_paths_share_one_metric_label_and_a_method_only_span_name() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(otel_layer(&provider)));
    let app = spawn_app(API).await;

    let id = uuid::Uuid::new_v4();
    for path in [format!("/api/v1/subscriptions/{id}"), "/wp-login.php".to_owned()] {
        let _ = app.get(&path).await;
    }
    // The server span closes as the response ends, which the client may
    // see first.
    let spans = wait_until("both requests traced", Duration::from_secs(10), || {
        let exporter = exporter.clone();
        async move {
            let spans = exporter.get_finished_spans().ok()?;
            (spans.iter().filter(|s| s.span_kind == SpanKind::Server).count() >= 2).then_some(spans)
        }
    })
    .await
    .expect("spans");
    let names: Vec<_> = spans.iter().filter(|s| s.span_kind == SpanKind::Server).map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["GET /api/v1/subscriptions/{id}", "GET"]);
    let exposition = app.get("/metrics").await.text().await.expect("metrics");
    assert!(!exposition.contains("wp-login"), "{exposition}");
    assert!(!exposition.contains(&id.to_string()), "{exposition}");
    assert!(exposition.contains(r#"http_route="unmatched""#), "{exposition}");
    assert!(exposition.contains(r#"http_route="/api/v1/subscriptions/{id}""#), "{exposition}");
}
