//! The real OTLP/gRPC exporter against an in-process receiver.

use masthead_telemetry::{otel_layer, tracer_provider, TracingConfig};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().map_err(|_| tonic::Status::internal("poisoned"))?.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn text(value: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> Option<&str> {
    match value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_receiver_under_the_roles_service_name() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let receiver = Receiver::default();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );

    // What `OTEL_EXPORTER_OTLP_ENDPOINT=http://…` gives the `api` role.
    let config = TracingConfig::from_lookup("api", |name| {
        (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| format!("http://{address}"))
    });
    let provider = tracer_provider(&config).expect("provider");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(otel_layer(&provider)), || {
        let request =
            tracing::info_span!(target: "masthead::api", "http", otel.name = "GET /healthz", otel.kind = "server");
        let _in_request = request.enter();
        tracing::info_span!(target: "masthead_jetstream::store", "publish", otel.kind = "producer").in_scope(|| {});
    });
    // Flushing blocks until the export call returns, and the exporter's gRPC
    // channel needs this runtime meanwhile.
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush()).await.expect("join").expect("flush");

    let requests = receiver.0.lock().expect("lock").clone();
    let resource_spans: Vec<_> = requests.iter().flat_map(|r| r.resource_spans.iter()).collect();
    assert!(!resource_spans.is_empty(), "the receiver got nothing");
    for rs in &resource_spans {
        let resource = rs.resource.as_ref().expect("resource");
        let name = resource.attributes.iter().find(|kv| kv.key == "service.name").and_then(|kv| text(&kv.value));
        assert_eq!(name, Some("masthead-api"));
    }
    let spans: Vec<_> =
        resource_spans.iter().flat_map(|rs| rs.scope_spans.iter()).flat_map(|ss| ss.spans.iter()).collect();
    let http = spans.iter().find(|s| s.name == "GET /healthz").expect("the HTTP span was exported");
    let publish = spans.iter().find(|s| s.name == "publish").expect("the publish span was exported");
    assert_eq!(http.kind, SpanKind::Server as i32);
    assert_eq!(publish.kind, SpanKind::Producer as i32);
    assert_eq!(publish.trace_id, http.trace_id);
    assert_eq!(publish.parent_span_id, http.span_id);

    let stopping = provider.clone();
    tokio::task::spawn_blocking(move || stopping.shutdown()).await.expect("join").expect("shutdown");
    server.abort();
}
