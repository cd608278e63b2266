//! Trace context across a real JetStream hop: a request span appends an
//! event, a consumer runtime processes it and appends a follow-up, and the
//! spans an in-memory exporter captured must form one chain.
//!
//! The only test in this binary (see `tests/jetstream/main.rs`): it installs a thread-local subscriber and runs
//! on the current-thread runtime, so every task (the runtime's replay loop,
//! the NATS client) reports to it and nothing leaks into other tests.

#[path = "jetstream/common.rs"]
mod common;

use common::*;
use masthead_domain::base_address::{self, AddressSource, BaseAddress, BaseAddressCommand, BaseAddressRegistered};
use masthead_domain::envelope::{AnyEvent, CommandMeta};
use masthead_domain::subscription::{Subscription, SubscriptionCommand, SubscriptionEvent};
use masthead_domain::{AddressLines, CanonicalAddress};
use masthead_jetstream::command_bus::CommandBus;
use masthead_jetstream::consumer::{ConsumerRuntime, Delivery, Handler, Outcome, RuntimeConfig};
use masthead_jetstream::topology::ConsumerRole;
use masthead_test_support::wait_until;
use opentelemetry::trace::{SpanId, SpanKind, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use uuid::Uuid;

/// On each `SubscriptionRequested`, registers a base address for it, the
/// way the matcher appends its decisions.
struct FollowUp {
    addresses: CommandBus<BaseAddress>,
}

#[async_trait::async_trait]
impl Handler for FollowUp {
    async fn handle_batch(&self, batch: &[Delivery]) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for d in batch {
            let r = &d.event;
            let outcome = match &r.event {
                AnyEvent::Subscription(SubscriptionEvent::SubscriptionRequested(req)) => {
                    let key = format!("test|{}", req.subscription_id);
                    let id = base_address::id_for_key(&key);
                    let registered = BaseAddressRegistered {
                        base_address_id: id,
                        reference: None,
                        address: AddressLines::from(req.address.clone()),
                        canonical: CanonicalAddress {
                            key,
                            street: "kerkstraat".into(),
                            house_number: "12".into(),
                            postal_code: "3511LX".into(),
                            city: "utrecht".into(),
                            country: "NL".into(),
                            house_name: String::new(),
                            version: 1,
                        },
                        source: AddressSource::Subscription { subscription_id: req.subscription_id },
                        flags: vec![],
                        registered_at: chrono::Utc::now(),
                    };
                    let meta = CommandMeta::caused_by(&r.envelope, "register-address");
                    match self.addresses.execute(&id.to_string(), BaseAddressCommand::Register(registered), &meta).await
                    {
                        Ok(_) => Outcome::Done,
                        Err(e) => Outcome::Retry { delay: Duration::from_millis(50), reason: e.to_string() },
                    }
                }
                _ => Outcome::Done,
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.to_string())
}

fn find<'a>(spans: &'a [SpanData], what: &str, pred: impl Fn(&SpanData) -> bool) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| pred(s)).collect();
    assert_eq!(found.len(), 1, "expected exactly one {what} span among {:#?}", names(spans));
    found[0]
}

fn names(spans: &[SpanData]) -> Vec<String> {
    spans.iter().map(|s| format!("{} [{}]", s.name, attr(s, "messaging.message.id").unwrap_or_default())).collect()
}

#[tokio::test]
async fn the_trace_follows_an_event_from_the_request_through_jetstream_into_a_consumer_and_its_follow_up() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("masthead-jetstream-test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let env = env().await;
    let subscriptions: CommandBus<Subscription> = CommandBus::new(env.store.clone(), ());
    let id = Uuid::new_v4();

    // What the HTTP middleware does for the intake, minus HTTP.
    let request = tracing::info_span!("request", otel.name = "POST /api/v1/subscriptions", otel.kind = "server");
    let stored = subscriptions
        .execute(
            &id.to_string(),
            SubscriptionCommand::Register(register(id, dummy_sealed(id))),
            &CommandMeta { correlation_id: Some(id.to_string()), ..Default::default() },
        )
        .instrument(request.clone())
        .await
        .expect("register");
    drop(request);
    let requested = &stored[0].envelope;

    let shutdown = CancellationToken::new();
    let runtime = ConsumerRuntime::new(
        env.js.clone(),
        env.topology.clone(),
        ConsumerRole::Projector,
        RuntimeConfig { batch_size: 1, reconnect_delay: Duration::from_millis(100), linger: None },
    );
    let handler = Arc::new(FollowUp { addresses: CommandBus::new(env.store.clone(), ()) });
    let consumer = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { runtime.run(handler, shutdown).await }
    });

    // Done when the consumer has processed the follow-up as well: its
    // process span closes after the ack, so every span before it is in.
    let spans = wait_until("the follow-up to be processed", Duration::from_secs(20), || {
        let exporter = exporter.clone();
        async move {
            let spans = exporter.get_finished_spans().ok()?;
            let processed = spans
                .iter()
                .filter(|s| {
                    s.name == "process projector"
                        && attr(s, "masthead.event.type").as_deref() == Some("BaseAddressRegistered")
                })
                .count();
            (processed == 1).then_some(spans)
        }
    })
    .await
    .expect("follow-up processed");
    shutdown.cancel();
    consumer.await.expect("consumer task").expect("consumer");

    let request = find(&spans, "request", |s| s.name == "POST /api/v1/subscriptions");
    let event_id = requested.event_id.to_string();
    let publish = find(&spans, "publish", |s| {
        s.span_kind == SpanKind::Producer && attr(s, "messaging.message.id").as_deref() == Some(event_id.as_str())
    });
    let process = find(&spans, "process", |s| {
        s.span_kind == SpanKind::Consumer && attr(s, "messaging.message.id").as_deref() == Some(event_id.as_str())
    });
    let follow_up = find(&spans, "follow-up publish", |s| {
        s.span_kind == SpanKind::Producer && attr(s, "masthead.event.type").as_deref() == Some("BaseAddressRegistered")
    });
    let trace_id = request.span_context.trace_id();

    // HTTP span -> publish
    assert_eq!(publish.name, "publish test.subscription.*");
    assert_eq!(publish.parent_span_id, request.span_context.span_id(), "the publish is a child of the request");
    assert_eq!(publish.span_context.trace_id(), trace_id);
    assert_eq!(attr(publish, "messaging.system").as_deref(), Some("nats"));
    assert_eq!(attr(publish, "messaging.operation.type").as_deref(), Some("publish"));
    assert_eq!(attr(publish, "messaging.destination.name"), Some(format!("test.subscription.{id}")));
    assert_eq!(attr(publish, "masthead.stream.sequence"), Some(stored[0].stream_sequence.to_string()));
    // The header carries the publish span's context, not the request's.
    let header = requested.traceparent.as_deref().expect("traceparent header");
    assert!(header.contains(&publish.span_context.span_id().to_string()), "{header}");

    // publish -> process: parent and link
    assert_eq!(process.name, "process projector");
    assert_eq!(process.span_context.trace_id(), trace_id, "one trace from request to consumer");
    assert_eq!(process.parent_span_id, publish.span_context.span_id(), "the process span's parent is the publish");
    assert!(
        process.links.iter().any(
            |l| l.span_context.trace_id() == trace_id && l.span_context.span_id() == publish.span_context.span_id()
        ),
        "the process span links to the publish: {:?}",
        process.links.links
    );
    assert_eq!(attr(process, "messaging.consumer.group.name").as_deref(), Some("projector"));
    assert_eq!(attr(process, "messaging.operation.type").as_deref(), Some("process"));
    assert_eq!(attr(process, "masthead.stream.sequence"), Some(stored[0].stream_sequence.to_string()));
    assert_eq!(attr(process, "correlation_id"), Some(id.to_string()));

    // process -> the consumer's own publish
    assert_eq!(
        follow_up.parent_span_id,
        process.span_context.span_id(),
        "the follow-up is a child of the process span"
    );
    assert_eq!(follow_up.span_context.trace_id(), trace_id);
    assert_eq!(attr(follow_up, "correlation_id"), Some(id.to_string()), "the correlation id carries over");

    // ...and the follow-up's own delivery continues the same trace.
    let second = find(&spans, "second process", |s| {
        s.span_kind == SpanKind::Consumer && s.parent_span_id == follow_up.span_context.span_id()
    });
    assert_eq!(second.span_context.trace_id(), trace_id);
    assert_eq!(request.parent_span_id, SpanId::INVALID, "the request started the trace");
}
