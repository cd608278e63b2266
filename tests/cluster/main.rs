//! The real `masthead` binary on a 3-node nats-server 2.14 cluster with R3
//! streams and buckets (`masthead_test_support::cluster::NatsCluster`):
//! node failures during intake, a rolling restart, and a first start on a
//! cluster that is still forming. Each test checks that only 202 or 503
//! answers come back (each 503 within 2 s, with `Retry-After`), that no
//! accepted subscription is lost or duplicated, and that each is matched,
//! projected and mailed exactly once; each prints what it measured.
//!
//! The tests take turns (`serial`): each runs three nats-servers and the
//! application, which is all two cores can carry with fair timings.

#[path = "../system/common.rs"]
#[allow(dead_code)]
mod common;
mod failover;
mod harness;
mod startup;

/// Held by each test for its whole run: one cluster at a time.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}
