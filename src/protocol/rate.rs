//! A token bucket: `rate` tokens a second on average, with bursts of up
//! to `burst`. Each client's reader has one for its lines; the accept loop
//! has one per host for its new connections; `join` holds one shaped like
//! its reader's to pace what it sends. Pure: the caller passes the time in.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Tokens added per second; 0 turns the limit off.
    rate: f64,
    /// Most tokens refilling brings the bucket to.
    burst: f64,
    /// Tokens now; may start above `burst` (see [`RateLimit::starting_with`]).
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

    /// A bucket that starts with `tokens`, which may be more than `burst`
    /// (the lines that log in come on top of a connection's burst) or
    /// less (a host that keeps reconnecting does not get a fresh burst
    /// each time). Refilling never takes it above `burst`.
    pub fn starting_with(rate: u32, burst: u32, tokens: u32, now: Instant) -> Self {
        RateLimit {
            tokens: f64::from(tokens),
            ..RateLimit::new(rate, burst, now)
        }
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

    /// How full the bucket is at `now`, from 0 to 1 (1 without a limit).
    pub fn fill(&mut self, now: Instant) -> f64 {
        if self.rate == 0.0 {
            return 1.0;
        }
        self.refill(now);
        (self.tokens / self.burst).min(1.0)
    }

    /// Whether the bucket has refilled to its burst by `now`: it then
    /// remembers nothing a new bucket would not.
    pub fn is_full(&mut self, now: Instant) -> bool {
        // With room for rounding: refills come in fractions of a token.
        self.fill(now) >= 1.0 - 1e-9
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        let refilled = (self.tokens + elapsed * self.rate).min(self.burst);
        // Tokens above the burst (given at the start) are kept, not cut.
        self.tokens = self.tokens.max(refilled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_the_time_to_the_next_token() {
        let t0 = Instant::now();
        let mut limit = RateLimit::starting_with(10, 2, 1, t0);
        assert_eq!(limit.wait(t0), Duration::ZERO);
        assert!(limit.allow(t0));
        let wait = limit.wait(t0);
        assert!(wait > Duration::from_millis(99) && wait <= Duration::from_millis(100));
        assert!(!limit.allow(t0 + wait / 2));
        assert!(limit.allow(t0 + wait));
    }

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
    fn tokens_given_above_the_burst_are_spent_first_and_never_refilled() {
        let t0 = Instant::now();
        let mut limit = RateLimit::starting_with(10, 3, 5, t0);
        let later = t0 + Duration::from_secs(1);
        assert_eq!((0..10).filter(|_| limit.allow(later)).count(), 5);
        let much_later = later + Duration::from_secs(3600);
        assert_eq!((0..10).filter(|_| limit.allow(much_later)).count(), 3);
    }

    #[test]
    fn a_bucket_started_low_refills_to_its_burst() {
        let t0 = Instant::now();
        let mut limit = RateLimit::starting_with(10, 4, 1, t0);
        assert_eq!(limit.fill(t0), 0.25);
        assert!(!limit.is_full(t0 + Duration::from_millis(299)));
        assert!(limit.is_full(t0 + Duration::from_millis(300)));
        assert_eq!(
            (0..10)
                .filter(|_| limit.allow(t0 + Duration::from_secs(1)))
                .count(),
            4
        );
    }

    #[test]
    fn rate_zero_is_unlimited() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(0, 1, t0);
        assert!((0..10_000).all(|_| limit.allow(t0)));
    }
}

/// Bytes of output a client pulls (a `/who` in a big room is 100 KB or
/// more), paid for at `rate` bytes a second: each charge moves the time it
/// is paid up to later, and a client may run up to `slack` ahead of it.
/// Pure: the caller passes the time in.
#[derive(Debug, Clone)]
pub struct ByteMeter {
    /// Bytes a second; 0 turns the meter off.
    rate: f64,
    /// How far ahead of its payments a client may run.
    slack: std::time::Duration,
    /// When what was charged so far is paid for.
    paid: Instant,
}

impl ByteMeter {
    pub fn new(rate: u32, slack: std::time::Duration, now: Instant) -> Self {
        ByteMeter {
            rate: f64::from(rate),
            slack,
            paid: now,
        }
    }

    /// How long until the client may pull more (None: now).
    pub fn wait(&self, now: Instant) -> Option<std::time::Duration> {
        if self.rate == 0.0 {
            return None;
        }
        let wait = self.paid.saturating_duration_since(now + self.slack);
        (!wait.is_zero()).then_some(wait)
    }

    /// When everything charged so far is paid for: from then on the
    /// meter remembers nothing a new one would not.
    pub fn paid_by(&self) -> Instant {
        self.paid
    }

    /// Charges `bytes` pulled at `now`.
    pub fn charge(&mut self, bytes: usize, now: Instant) {
        if self.rate == 0.0 {
            return;
        }
        let cost = std::time::Duration::from_secs_f64(bytes as f64 / self.rate);
        self.paid = self.paid.max(now) + cost;
    }
}

#[cfg(test)]
mod meter_tests {
    use super::*;
    use std::time::Duration;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn output_within_the_slack_is_free_and_past_it_waits() {
        let t0 = Instant::now();
        let mut meter = ByteMeter::new(1000, 2 * S, t0);
        meter.charge(1500, t0);
        assert_eq!(meter.wait(t0), None);
        meter.charge(1500, t0);
        // Paid at t0 + 3 s, 2 s of slack: 1 s to wait.
        assert_eq!(meter.wait(t0), Some(S));
        assert_eq!(meter.wait(t0 + S), None);
    }

    #[test]
    fn an_idle_client_does_not_save_up() {
        let t0 = Instant::now();
        let mut meter = ByteMeter::new(1000, S, t0);
        let later = t0 + 3600 * S;
        meter.charge(2500, later);
        assert_eq!(meter.wait(later), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn rate_zero_never_waits() {
        let t0 = Instant::now();
        let mut meter = ByteMeter::new(0, S, t0);
        meter.charge(usize::MAX, t0);
        assert_eq!(meter.wait(t0), None);
    }
}
