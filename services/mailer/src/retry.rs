//! How long to wait before the next attempt, and when to give up.
//!
//! Exponential back-off with a cap, so a mail server that is down for a
//! minute is not hammered, and with jitter, so that the mails that failed
//! together during an outage do not all come back in the same second.

use std::time::Duration;

/// Which delivery this is. JetStream's delivery count is 1-based, and the
/// consumer knows whether `max_deliver` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first delivery.
    pub number: u32,
    /// No redelivery will follow: a transient failure now is final.
    pub is_last: bool,
}

/// Bounded exponential back-off.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Growth per further attempt.
    pub factor: u32,
    /// Upper bound on any single delay, before jitter.
    pub cap: Duration,
    /// Fraction (0–1) by which a delay may be shortened at random.
    pub jitter: f64,
    /// Attempts in total, the first included. Use the same number as the
    /// consumer's `max_deliver`.
    pub max_attempts: u32,
}

impl RetryPolicy {
    /// Doubling from `base` up to `cap`, shortened by up to a fifth at
    /// random, for `max_attempts` attempts.
    pub fn doubling(base: Duration, cap: Duration, max_attempts: u32) -> Self {
        RetryPolicy { base, factor: 2, cap: cap.max(base), jitter: 0.2, max_attempts }
    }

    /// Millisecond-scale delays, for tests.
    pub fn fast() -> Self {
        RetryPolicy {
            base: Duration::from_millis(5),
            factor: 2,
            cap: Duration::from_millis(50),
            jitter: 0.2,
            max_attempts: 5,
        }
    }

    /// Describes delivery `number` (1-based) under this policy.
    pub fn attempt(&self, number: u32) -> Attempt {
        Attempt { number, is_last: number >= self.max_attempts }
    }

    /// The delay before retrying after attempt `attempt` (1-based) failed,
    /// with random jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with_jitter(attempt, rand::random::<f64>())
    }

    /// The delay with a given jitter sample `unit` in `[0, 1)`: 0 gives the
    /// full back-off, values towards 1 shorten it by up to `jitter`.
    pub fn delay_with_jitter(&self, attempt: u32, unit: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(31);
        let growth = u64::from(self.factor.max(1)).saturating_pow(exponent);
        let base_ms = u64::try_from(self.base.as_millis()).unwrap_or(u64::MAX);
        let cap_ms = u64::try_from(self.cap.as_millis()).unwrap_or(u64::MAX);
        let full = base_ms.saturating_mul(growth).min(cap_ms);
        let shorten = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        // `full` is at most the cap, so the f64 round trip loses nothing that
        // matters at millisecond resolution.
        Duration::from_millis((full as f64 * (1.0 - shorten)).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = RetryPolicy::doubling(Duration::from_secs(1), Duration::from_secs(60), 10);
        let ms: Vec<u128> = (1..=9).map(|n| p.delay_with_jitter(n, 0.0).as_millis()).collect();
        assert_eq!(ms, [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
        assert_eq!(p.delay_with_jitter(u32::MAX, 0.0), Duration::from_secs(60));
    }

    #[test]
    fn jitter_only_shortens_and_stays_within_its_fraction() {
        let p = RetryPolicy::doubling(Duration::from_secs(1), Duration::from_secs(60), 10);
        assert_eq!(p.delay_with_jitter(3, 0.5), Duration::from_millis(3600));
        for _ in 0..1000 {
            let d = p.delay(7);
            assert!(d <= Duration::from_secs(60) && d >= Duration::from_secs(48), "{d:?}");
        }
    }

    #[test]
    fn the_last_attempt_is_known() {
        let p = RetryPolicy { max_attempts: 3, ..RetryPolicy::fast() };
        assert!(!p.attempt(2).is_last);
        assert!(p.attempt(3).is_last);
        assert!(p.attempt(4).is_last);
    }
}
