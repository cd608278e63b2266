//! The HTTP server span and request-duration metric, as one middleware.
//!
//! Span and metric follow the OpenTelemetry HTTP server conventions: the
//! span is named `{method} {route}` after the *matched* route
//! (`/api/v1/subscriptions/{id}`, never the raw path, which would give one
//! name per subscription), and a request that matched no route is named by
//! its method alone. An incoming W3C `traceparent` becomes the span's
//! parent, so a caller's trace continues through the intake.

use axum::extract::{MatchedPath, Request};
use axum::http::uri::Authority;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use masthead_jetstream::trace;
use std::time::Instant;
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The route label of requests no route matched (404s): one label for all
/// of them, or scanners would create a time series per probed path.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The method as the conventions want it: the known ones, or `_OTHER`, so
/// that made-up methods cannot create unbounded label values.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

/// `network.protocol.version` as the conventions spell it (`1.1`, not
/// `HTTP/1.1`), without formatting anything per request.
fn protocol_version(version: axum::http::Version) -> &'static str {
    match version {
        axum::http::Version::HTTP_09 => "0.9",
        axum::http::Version::HTTP_10 => "1.0",
        axum::http::Version::HTTP_11 => "1.1",
        axum::http::Version::HTTP_2 => "2",
        axum::http::Version::HTTP_3 => "3",
        _ => "_OTHER",
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `server.address` and `server.port` from the Host header.
fn server_address(headers: &HeaderMap) -> (Option<String>, Option<u16>) {
    match header_str(headers, header::HOST.as_str()).and_then(|h| h.parse::<Authority>().ok()) {
        Some(authority) => (Some(authority.host().to_owned()), authority.port_u16()),
        None => (None, None),
    }
}

/// The middleware: wraps every request in a server span and records its
/// duration in `masthead_http_server_request_duration_seconds`.
pub async fn trace_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let name = match &route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let (address, port) = server_address(request.headers());
    let span = tracing::info_span!(
        parent: None,
        "http",
        otel.name = name.as_str(),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route.as_deref(),
        http.response.status_code = Empty,
        url.path = request.uri().path(),
        url.scheme = "http",
        server.address = address.as_deref(),
        server.port = port,
        network.protocol.version = protocol_version(request.version()),
        trace_id = Empty,
        correlation_id = Empty,
    );
    if let Some(tp) = header_str(request.headers(), "traceparent") {
        let parent = trace::remote(tp, header_str(request.headers(), "tracestate"));
        let _ = span.set_parent(parent);
    }
    if let Some(id) = trace::trace_id(&span) {
        span.record("trace_id", id.as_str());
    }
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    // Server spans mark 5xx as errors; 4xx is the client's problem.
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    let elapsed = started.elapsed();
    metrics::histogram!(
        "masthead_http_server_request_duration_seconds",
        "http_route" => route.unwrap_or_else(|| UNMATCHED_ROUTE.to_owned()),
        "http_request_method" => method,
        "http_response_status_code" => status.as_u16().to_string(),
    )
    .record(elapsed.as_secs_f64());
    // An access-log line, at DEBUG: at INFO, probes and scrapes would drown
    // everything else. Emitted inside the span (not with `parent:`, which the
    // JSON formatter's span list ignores) so it carries the trace and
    // correlation ids.
    span.in_scope(|| {
        tracing::debug!(status = status.as_u16(), elapsed_ms = elapsed.as_secs_f64() * 1000.0, "request served")
    });
    response
}
