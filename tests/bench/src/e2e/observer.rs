//! What the stream says: an ordered consumer following every subscription's
//! events, and the durable consumers' lag sampled while a phase runs.

use super::sink::lock;
use anyhow::{Context, Result};
use async_nats::jetstream::consumer;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use masthead::system::Nats;
use masthead_domain::envelope::header;
use masthead_domain::subscription::SubscriptionEvent;
use masthead_jetstream::lag::{poll_lag, LAG_TIMEOUT};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What the stream says about one subscription.
#[derive(Default, Clone)]
pub struct Timeline {
    pub requested: Option<DateTime<Utc>>,
    pub decided: Option<DateTime<Utc>>,
    /// `AddressMatched` or `AddressAssigned` (a new base address).
    pub matched: bool,
    pub sent: Option<DateTime<Utc>>,
    /// When the `ConfirmationSent` reached this process.
    pub sent_seen: Option<Instant>,
    pub sent_seen_wall: Option<DateTime<Utc>>,
    pub failed: bool,
}

pub type Timelines = Arc<Mutex<HashMap<String, Timeline>>>;

/// Follows `<prefix>.subscription.*` from now on with an ordered consumer,
/// reading only headers: type, aggregate id, occurred_at.
pub async fn start_observer(nats: &Nats, timelines: Timelines, stop: CancellationToken) -> Result<()> {
    let stream = nats.js.get_stream(&nats.topology.stream).await.context("observer: stream")?;
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: nats.topology.aggregate_filter("subscription"),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .context("observer: ordered consumer")?;
    let mut messages = consumer.messages().await.context("observer: messages")?;
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return,
                n = messages.next() => n,
            };
            let Some(Ok(m)) = next else {
                // An ordered consumer recreates itself on gaps; an error that
                // ends it leaves the remaining subscriptions "incomplete" in
                // the report, which is visible rather than silent.
                eprintln!("warning: the observer's message feed ended");
                return;
            };
            let (seen, seen_wall) = (Instant::now(), Utc::now());
            let Some(h) = m.headers.as_ref() else { continue };
            let (Some(ty), Some(id)) = (h.get(header::EVENT_TYPE), h.get(header::AGGREGATE_ID)) else { continue };
            let at = h
                .get(header::OCCURRED_AT)
                .and_then(|v| DateTime::parse_from_rfc3339(v.as_str()).ok())
                .map(|t| t.with_timezone(&Utc));
            let mut all = lock(&timelines);
            let t = all.entry(id.as_str().to_owned()).or_default();
            match ty.as_str() {
                SubscriptionEvent::REQUESTED => t.requested = at,
                SubscriptionEvent::MATCHED | SubscriptionEvent::ASSIGNED => {
                    t.decided = at;
                    t.matched = ty.as_str() == SubscriptionEvent::MATCHED;
                }
                SubscriptionEvent::CONFIRMATION_SENT => {
                    t.sent = at;
                    t.sent_seen = Some(seen);
                    t.sent_seen_wall = Some(seen_wall);
                }
                SubscriptionEvent::CONFIRMATION_FAILED => t.failed = true,
                _ => {}
            }
        }
    });
    Ok(())
}

#[derive(Default, Clone, Copy)]
pub struct LagMax {
    pub pending: u64,
    pub ack_pending: u64,
    /// Lookups that failed or timed out (unknown, not zero).
    pub unknown: u64,
}

/// Samples every durable consumer's lag every 500 ms until `stop`.
pub fn sample_lag(nats: &Nats, stop: CancellationToken) -> tokio::task::JoinHandle<(u64, BTreeMap<String, LagMax>)> {
    let (js, topology) = (nats.js.clone(), nats.topology.clone());
    tokio::spawn(async move {
        let mut max: BTreeMap<String, LagMax> = BTreeMap::new();
        let mut samples = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return (samples, max),
                _ = tick.tick() => {}
            }
            samples += 1;
            for lag in poll_lag(&js, &topology, LAG_TIMEOUT).await {
                let m = max.entry(lag.consumer).or_default();
                match (lag.pending, lag.ack_pending) {
                    (Some(p), Some(a)) => {
                        m.pending = m.pending.max(p);
                        m.ack_pending = m.ack_pending.max(a);
                    }
                    _ => m.unknown += 1,
                }
            }
        }
    })
}
