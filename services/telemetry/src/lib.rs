//! Masthead's telemetry set-up: logs, traces and the metrics recorder.
//!
//! - Logs: JSON lines for machines, pretty text on a terminal, on stderr.
//!   Each line inside a request or a consumer's processing carries the
//!   trace id and the correlation id (the subscription id) through its
//!   spans. Log fields carry ids, never personal data (see [`PII_CAPPED`]).
//! - Traces: `tracing` spans, bridged to OpenTelemetry and exported over
//!   OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`)
//!   is set. Without it the spans still get trace ids, for the logs and for
//!   the `traceparent` handed on to other roles, but nothing is exported.
//! - Metrics: recorded through the `metrics` facade everywhere, rendered
//!   for Prometheus by the recorder [`metrics`] installs.

pub mod metrics;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::io::IsTerminal;
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::Level;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt, Targets};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FormatFields, FormattedFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,async_nats=warn";

/// Crates that handle personal data in plain text, capped at WARN whatever
/// `RUST_LOG` asks for. lettre speaks SMTP: at debug (with its `tracing`
/// feature, which any crate in the build may switch on) it logs the dialogue,
/// `RCPT TO` addresses included. Our own code never logs personal data at any
/// level; the other dependencies only ever see it sealed (NATS payloads) or
/// not at all, so the guarantee holds for every `RUST_LOG` up to `debug`
/// (the telemetry tests run a whole flow at `debug` and scan the log).
/// `trace` for third-party crates (hyper, h2, async-nats protocol dumps) is
/// not checked and not covered.
pub const PII_CAPPED: &[&str] = &["lettre"];

/// Span fields that JSON log lines repeat from their spans. The rest of a
/// span's fields are for traces; repeating all of them would make every
/// line a kilobyte long.
const SPAN_FIELDS_IN_LOGS: &[&str] = &["trace_id", "correlation_id"];

/// Why the tracing pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot build the OTLP span exporter for {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
}

/// Where traces go and under which name, from the standard OTel variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingConfig {
    /// `service.name`: `OTEL_SERVICE_NAME`, else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else `masthead-<role>`.
    pub service_name: String,
    /// OTLP/gRPC endpoint; `None`: no exporter.
    pub otlp_endpoint: Option<String>,
}

impl TracingConfig {
    pub fn from_env(role: &str) -> Self {
        Self::from_lookup(role, |name| std::env::var(name).ok())
    }

    pub fn from_lookup(role: &str, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let from_attributes = || {
            set("OTEL_RESOURCE_ATTRIBUTES")?
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix("service.name=").map(str::to_owned))
                .filter(|v| !v.is_empty())
        };
        let service_name =
            set("OTEL_SERVICE_NAME").or_else(from_attributes).unwrap_or_else(|| format!("masthead-{role}"));
        let disabled = set("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let otlp_endpoint = if disabled {
            None
        } else {
            set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"))
        };
        Self { service_name, otlp_endpoint }
    }
}

/// The tracer provider: always there (it gives spans their ids), with a
/// batching OTLP/gRPC exporter when an endpoint is configured. The other
/// `OTEL_EXPORTER_OTLP_*` variables (headers, timeout, compression) and
/// `OTEL_TRACES_SAMPLER` are read by the SDK itself. Must be called inside a
/// Tokio runtime: the gRPC channel runs on it.
pub fn tracer_provider(config: &TracingConfig) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = Resource::builder().with_service_name(config.service_name.clone()).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &config.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
            .map_err(|e| TelemetryError::Exporter { endpoint: endpoint.clone(), reason: e.to_string() })?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// The layer that turns our spans into OpenTelemetry spans. Only Masthead's
/// own spans and events (INFO and up) are exported, whatever `RUST_LOG`
/// says: trace volume must not change when someone turns logging up, and
/// third-party spans (hyper, h2) would only add noise.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    // Source location, thread, target and busy/idle attributes are off: they
    // cost allocations and clock reads on every span of every request, and
    // the span names and messaging attributes already say where work ran.
    // Context activation is off too: it attaches the span's OpenTelemetry
    // context to the thread on every poll of an instrumented future, for
    // OpenTelemetry-native libraries reading `Context::current()`. Masthead
    // has none; it reads contexts from spans (`envelope::trace`).
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("masthead"))
        .with_context_activation(false)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(Targets::new().with_target("masthead", Level::INFO))
}

/// `RUST_LOG` if it parses, else [`DEFAULT_FILTER`].
pub fn log_directives() -> String {
    std::env::var("RUST_LOG")
        .ok()
        .filter(|d| EnvFilter::try_new(d).is_ok())
        .unwrap_or_else(|| DEFAULT_FILTER.to_owned())
}

/// The log filter: `directives` (`RUST_LOG` syntax), plus Masthead's own
/// spans at INFO even when `directives` are stricter, so that a WARN line
/// still names its trace; and [`PII_CAPPED`] crates never below WARN.
pub fn log_filter<S>(directives: &str) -> impl tracing_subscriber::layer::Filter<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let env = EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let our_spans = filter_fn(|m| m.is_span() && m.target().starts_with("masthead") && *m.level() <= Level::INFO);
    let capped = filter_fn(|m| *m.level() <= Level::WARN || !PII_CAPPED.iter().any(|c| is_in_crate(m.target(), c)));
    env.or(our_spans).and(capped)
}

/// `target` is `krate` or one of its modules.
fn is_in_crate(target: &str, krate: &str) -> bool {
    target.strip_prefix(krate).is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

/// Span fields as JSON objects holding only [`SPAN_FIELDS_IN_LOGS`]. The
/// JSON formatter parses these strings, so they must always be an object.
pub struct LogSpanFields;

/// The wanted fields of one record, in the order recorded.
#[derive(Default)]
struct Collect(Vec<(&'static str, String)>);

impl Collect {
    fn wanted(field: &Field) -> bool {
        SPAN_FIELDS_IN_LOGS.contains(&field.name())
    }

    fn put(&mut self, field: &Field, value: String) {
        if !value.is_empty() {
            self.0.push((field.name(), value));
        }
    }

    /// Puts the fields into `map`; a later value of a field wins.
    fn merge_into(self, map: &mut serde_json::Map<String, serde_json::Value>) {
        for (name, value) in self.0 {
            map.insert(name.to_owned(), serde_json::Value::String(value));
        }
    }

    /// `"name":"value"`. Names are Rust identifiers; values are escaped.
    fn pair(name: &str, value: &str) -> String {
        format!("\"{name}\":{}", serde_json::Value::from(value))
    }
}

// Every span field passes through here on every span of every request;
// formatting the ones logs never show cost more than the request's JSON
// parsing, so the name is checked before anything is formatted.
impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        if Self::wanted(field) {
            self.put(field, value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if Self::wanted(field) {
            self.put(field, format!("{value:?}"));
        }
    }
}

impl<'writer> FormatFields<'writer> for LogSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> std::fmt::Result {
        let mut collected = Collect::default();
        fields.record(&mut collected);
        let mut map = serde_json::Map::new();
        collected.merge_into(&mut map);
        write!(writer, "{}", serde_json::Value::Object(map))
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let mut recorded = Collect::default();
        fields.record(&mut recorded);
        // Most records (status codes, sequences) are for traces only.
        if recorded.0.is_empty() {
            return Ok(());
        }
        // A field recorded for the first time (trace id, then correlation id,
        // on every request) is appended to the object as it stands; parsing
        // and rewriting it is left for the rare field recorded twice.
        let fresh = |name: &str| !current.fields.contains(&format!("\"{name}\":"));
        if recorded.0.iter().all(|(name, _)| fresh(name)) {
            let mut object = current.fields.trim_end().strip_suffix('}').unwrap_or("{").to_owned();
            for (name, value) in &recorded.0 {
                if !object.ends_with('{') {
                    object.push(',');
                }
                object.push_str(&Collect::pair(name, value));
            }
            object.push('}');
            current.fields = object;
            return Ok(());
        }
        let mut map =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&current.fields).unwrap_or_default();
        recorded.merge_into(&mut map);
        current.fields = serde_json::Value::Object(map).to_string();
        Ok(())
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for machines.
    Json,
    /// Human-readable text.
    Pretty,
}

/// The log layer on stderr, filtered by `RUST_LOG`: `format`, or JSON when
/// stderr is not a terminal and pretty text when it is.
pub fn log_layer<S>(format: Option<LogFormat>) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let json = match format {
        Some(f) => f == LogFormat::Json,
        None => !std::io::stderr().is_terminal(),
    };
    log_layer_to(json, std::io::stderr, &log_directives())
}

/// The log layer writing to `writer`, filtered by `directives` through
/// [`log_filter`].
pub fn log_layer_to<S, W>(json: bool, writer: W, directives: &str) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    if json {
        layer
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .fmt_fields(LogSpanFields)
            .with_filter(log_filter(directives))
            .boxed()
    } else {
        layer.with_filter(log_filter(directives)).boxed()
    }
}

/// What `init` set up; shut it down before exiting so buffered spans are
/// exported.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter (at most 5 s).
    pub async fn shutdown(self) {
        let provider = self.provider;
        // The SDK blocks while it flushes, and the gRPC exporter needs this
        // runtime's workers meanwhile: flush off them.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(Duration::from_secs(5))).await;
        if let Ok(Err(e)) = flushed {
            eprintln!("telemetry: flushing traces failed: {e}");
        }
    }
}

/// Installs logging and tracing for a role (`up`, `api`, `matcher`, …) as
/// the global subscriber, and the metrics recorder. Call once, inside the
/// runtime. A broken OTLP configuration is reported and tracing continues
/// without export: observability must not stop the service.
pub fn init(role: &str, log_format: Option<LogFormat>) -> Telemetry {
    let config = TracingConfig::from_env(role);
    let (provider, problem) = match tracer_provider(&config) {
        Ok(p) => (p, None),
        Err(e) => {
            (tracer_provider(&TracingConfig { otlp_endpoint: None, ..config.clone() }).unwrap_or_default(), Some(e))
        }
    };
    let _ = tracing_subscriber::registry().with(log_layer(log_format)).with(otel_layer(&provider)).try_init();
    metrics::handle();
    match (&problem, &config.otlp_endpoint) {
        (Some(e), _) => tracing::error!(error = %e, "traces will not be exported"),
        (None, Some(endpoint)) => {
            tracing::info!(service = %config.service_name, %endpoint, "exporting traces over OTLP/gRPC")
        }
        (None, None) => {}
    }
    if let Ok(protocol) = std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL") {
        if config.otlp_endpoint.is_some() && protocol != "grpc" {
            tracing::warn!(%protocol, "only OTLP over gRPC is built in; exporting with gRPC");
        }
    }
    Telemetry { provider }
}
