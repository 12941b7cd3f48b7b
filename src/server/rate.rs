//! A token bucket per client: `rate` messages a second on average, with
//! bursts of up to `burst`. Pure: the caller passes the time in.

use std::time::Instant;

#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Tokens added per second; 0 turns the limit off.
    rate: f64,
    burst: f64,
    tokens: f64,
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

    /// Takes one token if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        if self.rate == 0.0 {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
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
    fn rate_zero_is_unlimited() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(0, 1, t0);
        assert!((0..10_000).all(|_| limit.allow(t0)));
    }
}
