//! Password attempts slowed per address. A connection may try
//! [`TRIES`](crate::protocol::password::TRIES) passwords, but reconnecting
//! is cheap: 3,979 guesses a second came from one address. So each host's
//! wrong passwords are remembered, and past a few (typos happen) its next
//! attempt waits, twice as long after each further failure, up to a
//! maximum. A right password forgets them. The broker holds the attempt
//! until then. Pure: the caller passes the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::addrs::Host;

/// Wrong passwords a host may give before the waits start.
pub const FREE_FAILURES: u32 = 3;

/// The first wait; each failure after it doubles it.
pub const FIRST_WAIT: Duration = Duration::from_millis(500);

/// Hosts remembered at once; a host past it goes unslowed until some are
/// forgotten (each is forgotten once its wait and as long again are over).
pub const MOST_HOSTS: usize = 4096;

/// One host's failures.
#[derive(Debug, Clone, Copy)]
struct Record {
    /// Wrong passwords since the last right one.
    failures: u32,
    /// When the last one came.
    last: Instant,
}

/// Every slowed host.
#[derive(Debug)]
pub struct Backoff {
    /// The longest wait.
    max: Duration,
    hosts: HashMap<Host, Record>,
}

impl Backoff {
    pub fn new(max: Duration) -> Self {
        Backoff {
            max,
            hosts: HashMap::new(),
        }
    }

    /// How long after its last failure a host with `failures` must wait.
    fn delay(&self, failures: u32) -> Duration {
        let Some(extra) = failures.checked_sub(FREE_FAILURES + 1) else {
            return Duration::ZERO;
        };
        FIRST_WAIT
            .saturating_mul(1u32 << extra.min(20))
            .min(self.max)
    }

    /// How long `host`'s next attempt must wait from `now` (None: at once).
    pub fn wait(&self, host: Host, now: Instant) -> Option<Duration> {
        let record = self.hosts.get(&host)?;
        let due = record.last + self.delay(record.failures);
        let wait = due.saturating_duration_since(now);
        (!wait.is_zero()).then_some(wait)
    }

    /// `host` gave a wrong password at `now`.
    pub fn failed(&mut self, host: Host, now: Instant) {
        if !self.hosts.contains_key(&host) && self.hosts.len() >= MOST_HOSTS {
            self.forget_old(now);
            if self.hosts.len() >= MOST_HOSTS {
                return;
            }
        }
        let record = self.hosts.entry(host).or_insert(Record {
            failures: 0,
            last: now,
        });
        record.failures = record.failures.saturating_add(1);
        record.last = now;
    }

    /// `host` gave the right password.
    pub fn succeeded(&mut self, host: Host) {
        self.hosts.remove(&host);
    }

    /// Forgets hosts whose last failure is older than twice the longest wait.
    fn forget_old(&mut self, now: Instant) {
        let keep = self.max * 2;
        self.hosts
            .retain(|_, r| now.saturating_duration_since(r.last) < keep);
    }

    /// Hosts remembered (for tests).
    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.hosts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const S: Duration = Duration::from_secs(1);

    fn host(i: u32) -> Host {
        Host::of(IpAddr::from(i.to_be_bytes()))
    }

    #[test]
    fn a_few_typos_cost_nothing() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(10 * S);
        for _ in 0..FREE_FAILURES {
            backoff.failed(host(1), t0);
            assert_eq!(backoff.wait(host(1), t0), None);
        }
    }

    #[test]
    fn each_failure_past_the_free_ones_doubles_the_wait_up_to_the_maximum() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(10 * S);
        for _ in 0..FREE_FAILURES {
            backoff.failed(host(1), t0);
        }
        let waits: Vec<Duration> = (0..8)
            .map(|_| {
                backoff.failed(host(1), t0);
                backoff.wait(host(1), t0).unwrap_or_default()
            })
            .collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            waits,
            [
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(8000),
                10 * S,
                10 * S,
                10 * S
            ]
        );
        // The wait runs from the last failure.
        assert_eq!(backoff.wait(host(1), t0 + 4 * S), Some(6 * S));
        assert_eq!(backoff.wait(host(1), t0 + 10 * S), None);
        // Another host is not slowed.
        assert_eq!(backoff.wait(host(2), t0), None);
    }

    #[test]
    fn the_right_password_forgets_the_failures() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(10 * S);
        for _ in 0..10 {
            backoff.failed(host(1), t0);
        }
        backoff.succeeded(host(1));
        backoff.failed(host(1), t0);
        assert_eq!(backoff.wait(host(1), t0), None);
    }

    #[test]
    fn the_hosts_remembered_are_bounded() {
        let t0 = Instant::now();
        let mut backoff = Backoff::new(10 * S);
        for i in 0..(MOST_HOSTS as u32 + 100) {
            backoff.failed(host(i), t0);
        }
        assert_eq!(backoff.remembered(), MOST_HOSTS);
        // Old ones make room for new ones.
        backoff.failed(host(u32::MAX), t0 + 30 * S);
        assert_eq!(backoff.remembered(), 1);
    }
}
