//! A token bucket: `rate` messages a second on average, with bursts of up
//! to `burst`. The server holds one per client to drop a flood; the client
//! holds one shaped like the server's to pace what it sends so that nothing
//! is dropped. Pure: the caller passes the time in.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Tokens added per second; 0 turns the limit off.
    rate: f64,
    /// The most tokens the bucket holds.
    burst: f64,
    /// Tokens there now (as of `last`).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    last: Instant,
}

impl RateLimit {
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        RateLimit {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// The same bucket with `used` tokens already taken (never below empty).
    pub fn after(mut self, used: u32) -> Self {
        self.tokens = (self.tokens - f64::from(used)).max(0.0);
        self
    }

    /// Takes one token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long from `now` until a token is there to take (zero: now).
    pub fn wait(&mut self, now: Instant) -> Duration {
        if self.rate == 0.0 {
            return Duration::ZERO;
        }
        self.refill(now);
        let missing = (1.0 - self.tokens).max(0.0);
        Duration::from_secs_f64(missing / self.rate)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_the_rate_applies() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(10, 5, t0);
        assert_eq!((0..8).filter(|_| limit.allow(t0)).count(), 5);
        // 10/s: one token every 100 ms.
        assert!(limit.allow(t0 + Duration::from_millis(100)));
        assert!(!limit.allow(t0 + Duration::from_millis(150)));
        assert!(limit.allow(t0 + Duration::from_millis(200)));
    }

    #[test]
    fn tokens_never_pile_up_past_the_burst() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(10, 3, t0);
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| limit.allow(later)).count(), 3);
    }

    #[test]
    fn the_wait_is_the_time_to_the_next_token() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(10, 2, t0).after(1);
        assert_eq!(limit.wait(t0), Duration::ZERO);
        assert!(limit.allow(t0));
        let wait = limit.wait(t0);
        assert!(wait > Duration::from_millis(99) && wait <= Duration::from_millis(100));
        assert!(!limit.allow(t0 + wait / 2));
        assert!(limit.allow(t0 + wait));
    }

    #[test]
    fn tokens_used_before_are_not_there_to_take() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(10, 5, t0).after(3);
        assert_eq!((0..8).filter(|_| limit.allow(t0)).count(), 2);
        let mut overdrawn = RateLimit::new(10, 5, t0).after(9);
        assert!(!overdrawn.allow(t0));
        assert!(overdrawn.allow(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn rate_zero_is_unlimited() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(0, 1, t0);
        assert!((0..10_000).all(|_| limit.allow(t0)));
    }
}
