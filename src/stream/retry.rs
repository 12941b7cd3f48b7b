//! When to try a failed chore again. Rewriting the sessions file runs on
//! the broker's thread and writes every open session; on a full disk it
//! fails, and tried again at every later login, rename or private message
//! it would cost the room that write each time for nothing. So after a
//! failure the next try waits, twice as long after each further failure,
//! up to a maximum; a success forgets the failures. Pure: the caller
//! passes the time.

use std::time::{Duration, Instant};

/// The wait after the first failure; each failure after it doubles it.
pub const FIRST_WAIT: Duration = Duration::from_secs(5);

/// The longest wait.
pub const MOST_WAIT: Duration = Duration::from_secs(300);

/// Failures since the last success, and when the next try is due.
#[derive(Debug, Clone, Default)]
pub struct Retry {
    /// Failures in a row.
    failures: u32,
    /// None: at once.
    due: Option<Instant>,
}

impl Retry {
    /// Whether a try may be made at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.due.is_none_or(|due| now >= due)
    }

    /// A try failed at `now`: the next waits.
    pub fn failed(&mut self, now: Instant) {
        let wait = FIRST_WAIT
            .saturating_mul(1u32 << self.failures.min(16))
            .min(MOST_WAIT);
        self.failures = self.failures.saturating_add(1);
        self.due = Some(now + wait);
    }

    /// A try succeeded: the next may come at once.
    pub fn succeeded(&mut self) {
        *self = Retry::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn a_first_try_is_due_at_once() {
        assert!(Retry::default().due(Instant::now()));
    }

    #[test]
    fn each_failure_doubles_the_wait_up_to_the_most() {
        let t0 = Instant::now();
        let mut retry = Retry::default();
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..9 {
            retry.failed(now);
            let mut wait = Duration::ZERO;
            while !retry.due(now + wait) {
                wait += S;
            }
            waits.push(wait.as_secs());
            now += wait;
        }
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_success_forgets_the_failures() {
        let t0 = Instant::now();
        let mut retry = Retry::default();
        for _ in 0..5 {
            retry.failed(t0);
        }
        retry.succeeded();
        assert!(retry.due(t0));
        retry.failed(t0);
        assert!(!retry.due(t0 + 4 * S));
        assert!(retry.due(t0 + 5 * S));
    }
}
