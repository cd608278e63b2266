//! Abuse limits applied in front of the handlers, as one middleware
//! ([`guard`]):
//!
//! - a global in-flight limit: when `max_in_flight` requests are being
//!   served, further ones are shed at once with `503` + `Retry-After`, so a
//!   burst costs a refusal, never a queue that grows memory without bound.
//!   Health and readiness probes are exempt: a shedding server is alive.
//! - a per-client rate limit on the public intake (`POST
//!   /api/v1/subscriptions`, `POST /subscribe`): a token bucket (GCRA, from
//!   `governor`) of `intake_rate_per_minute` per client address, answered
//!   with `429` + `Retry-After` and a JSON body when empty.
//!
//! The client is the connection's peer address, unless that peer is one of
//! `trusted_proxies`: then it is the right-most `X-Forwarded-For` entry
//! that is not itself a trusted proxy. From anyone else `X-Forwarded-For`
//! is ignored, or a client could pick a fresh address per request.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The routes the rate limit applies to: the public intake.
const LIMITED_ROUTES: [(Method, &str); 2] = [(Method::POST, "/api/v1/subscriptions"), (Method::POST, "/subscribe")];

/// Routes never shed: probes must keep answering while the server sheds.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// Above this many tracked clients, idle buckets are dropped, so a scan
/// from many addresses cannot grow the table without bound.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// The limits' settings, from the one `Config`.
#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// Intake requests per client per minute; 0 turns the limit off.
    pub intake_rate_per_minute: u32,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Requests served at once; more are shed with 503.
    pub max_in_flight: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self { intake_rate_per_minute: 0, trusted_proxies: Vec::new(), max_in_flight: 1024 }
    }
}

/// The limits' state, shared by every request of a router.
#[derive(Clone)]
pub struct Limits {
    rate: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    trusted: Arc<[IpNet]>,
    in_flight: Arc<Semaphore>,
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        let rate = NonZeroU32::new(settings.intake_rate_per_minute)
            .map(|n| Arc::new(RateLimiter::keyed(Quota::per_minute(n))));
        Self {
            rate,
            trusted: settings.trusted_proxies.clone().into(),
            in_flight: Arc::new(Semaphore::new(settings.max_in_flight.max(1))),
        }
    }

    /// The client a request comes from (see the module documentation).
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let Some(chain) = forwarded_for else { return Some(peer) };
        let mut client = peer;
        for hop in chain.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !self.is_trusted(ip) {
                        break;
                    }
                }
                // A hop we cannot read: stop at the last one we could.
                Err(_) => break,
            }
        }
        Some(client)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// `Err(seconds to wait)` when `client` has no token left.
    fn check_rate(&self, client: IpAddr) -> Result<(), u64> {
        let Some(rate) = &self.rate else { return Ok(()) };
        if rate.len() > MAX_TRACKED_CLIENTS {
            rate.retain_recent();
        }
        rate.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

fn too_many_requests(retry_after: u64) -> Response {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many subscriptions from this address; retry in {retry_after} s"),
    );
    e.retry_after = Some(u32::try_from(retry_after.max(1)).unwrap_or(u32::MAX));
    e.into_response()
}

fn overloaded() -> Response {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "the server is busy; nothing was stored, retry shortly",
    );
    e.retry_after = Some(1);
    e.into_response()
}

/// The middleware (see the module documentation). Added with `layer` on
/// the router, so it sees the matched route.
pub async fn guard(limits: Limits, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str());
    if route.is_some_and(|r| PROBES.contains(&r)) {
        return next.run(request).await;
    }
    let limited = route.is_some_and(|r| LIMITED_ROUTES.iter().any(|(m, p)| m == request.method() && *p == r));
    if limited {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
        if let Some(client) = limits.client(peer, forwarded) {
            if let Err(wait) = limits.check_rate(client) {
                metrics::counter!("masthead_http_rate_limited_total").increment(1);
                return too_many_requests(wait);
            }
        }
    }
    let Ok(_permit) = limits.in_flight.clone().try_acquire_owned() else {
        metrics::counter!("masthead_http_shed_total").increment(1);
        return overloaded();
    };
    next.run(request).await
}

/// Parses `MASTHEAD_TRUSTED_PROXIES`: addresses or networks, comma-separated
/// (`10.0.0.0/8, 192.0.2.7`).
pub fn parse_trusted_proxies(value: &str) -> Result<Vec<IpNet>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{s:?} is not an IP address or network (such as 10.0.0.0/8)"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_minute: u32, trusted: &str) -> Limits {
        Limits::new(&LimitSettings {
            intake_rate_per_minute: per_minute,
            trusted_proxies: parse_trusted_proxies(trusted).expect("valid"),
            max_in_flight: 4,
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let l = limits(10, "10.0.0.0/8, 192.0.2.7");
        // An untrusted peer cannot choose its address.
        assert_eq!(l.client(Some(ip("198.51.100.1")), Some("1.2.3.4")), Some(ip("198.51.100.1")));
        // Behind a trusted proxy: the right-most untrusted hop.
        assert_eq!(l.client(Some(ip("10.1.2.3")), Some("1.2.3.4, 5.6.7.8, 192.0.2.7")), Some(ip("5.6.7.8")));
        assert_eq!(l.client(Some(ip("10.1.2.3")), None), Some(ip("10.1.2.3")));
        assert_eq!(l.client(Some(ip("10.1.2.3")), Some("garbage, 10.9.9.9")), Some(ip("10.9.9.9")));
        assert_eq!(l.client(None, Some("1.2.3.4")), None);
    }

    #[test]
    fn the_bucket_empties_per_client_and_says_how_long_to_wait() {
        let l = limits(2, "");
        assert_eq!(l.check_rate(ip("192.0.2.1")), Ok(()));
        assert_eq!(l.check_rate(ip("192.0.2.1")), Ok(()));
        let wait = l.check_rate(ip("192.0.2.1")).expect_err("empty");
        assert!((1..=30).contains(&wait), "{wait}");
        assert_eq!(l.check_rate(ip("192.0.2.2")), Ok(()), "another client has its own bucket");
        let off = limits(0, "");
        assert!((0..100).all(|_| off.check_rate(ip("192.0.2.1")).is_ok()));
    }

    #[test]
    fn bad_proxy_entries_are_named() {
        let e = parse_trusted_proxies("10.0.0.0/8, proxy.local").expect_err("invalid");
        assert!(e.contains("proxy.local"), "{e}");
        assert_eq!(parse_trusted_proxies("").expect("empty").len(), 0);
    }
}
