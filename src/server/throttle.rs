//! When the broker waits for the writers. The broker never waits for any
//! one socket, but fanning out faster than all the writers drain would
//! pile the room's messages up in the server's memory. So after an event
//! that leaves the room's backlog (unsent bytes, each client's counted up
//! to [`FAIR_SHARE`]) above a high mark, the broker pauses briefly and lets
//! the writers catch up: in a burst, messages wait in the senders' TCP
//! buffers instead. Clients that do not read must not set the room's pace:
//! each weighs at most its fair share, a pause is bounded, and a pause that
//! brought the backlog down not at all means the rest is held by stalled
//! clients, so no more pauses for a while. Pure: the caller passes the time.

use std::time::{Duration, Instant};

/// The most of one client's unsent bytes that count towards the backlog:
/// a client that stops reading weighs no more than this.
pub const FAIR_SHARE: usize = 32 * 1024;

/// What counts towards the backlog of a client with `unsent` bytes.
pub fn fair_share(unsent: usize) -> usize {
    unsent.min(FAIR_SHARE)
}

/// The throttle's settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Above this backlog the broker pauses.
    pub high: usize,
    /// The longest one pause lasts.
    pub pause: Duration,
    /// After a pause that did not lower the backlog, no pause for this long.
    pub stalled: Duration,
}

/// The room's defaults: 1 MiB, 2 ms, 100 ms. S2's peak RSS (shared/bench,
/// 200 clients × 50 lines) was 9.9–10.5 MiB at 2 MiB, 8.4–8.8 at 1 MiB and
/// 7.7–8.3 at 512 KiB, where the server's CPU time per run rose by half
/// (smaller batches per write). With 100 ms of stall window, stalled
/// clients cost the room at most 2 % of its time.
pub const DEFAULT: Settings = Settings {
    high: 1 << 20,
    pause: Duration::from_millis(2),
    stalled: Duration::from_millis(100),
};

/// The throttle's state: when pausing is allowed again.
#[derive(Debug, Clone)]
pub struct Throttle {
    settings: Settings,
    /// No pause before this time (set after a pause that did not help).
    quiet_until: Option<Instant>,
}

impl Throttle {
    pub fn new(settings: Settings) -> Self {
        Throttle {
            settings,
            quiet_until: None,
        }
    }

    /// After an event that left `backlog` bytes: how long to wait for the
    /// writers (to bring it down to half the high mark), if at all.
    pub fn pause(&self, backlog: usize, now: Instant) -> Option<Duration> {
        if backlog <= self.settings.high {
            return None;
        }
        if self.quiet_until.is_some_and(|until| now < until) {
            return None;
        }
        Some(self.settings.pause)
    }

    /// What the backlog must be down to for a pause to end early.
    pub fn low(&self) -> usize {
        self.settings.high / 2
    }

    /// A pause ended at `now`: the backlog went from `before` to `after`.
    pub fn paused(&mut self, before: usize, after: usize, now: Instant) {
        if after >= before {
            // Nothing drained in a whole pause: what is left is held by
            // clients that do not read. Waiting on them would let them set
            // the room's pace, so stop pausing for a while.
            self.quiet_until = Some(now + self.settings.stalled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn throttle() -> Throttle {
        Throttle::new(Settings {
            high: 1000,
            pause: 2 * MS,
            stalled: 100 * MS,
        })
    }

    #[test]
    fn no_pause_at_or_below_the_high_mark() {
        let t0 = Instant::now();
        let throttle = throttle();
        assert_eq!(throttle.pause(0, t0), None);
        assert_eq!(throttle.pause(1000, t0), None);
        assert_eq!(throttle.pause(1001, t0), Some(2 * MS));
        assert_eq!(throttle.low(), 500);
    }

    #[test]
    fn a_pause_that_drained_something_allows_the_next() {
        let t0 = Instant::now();
        let mut throttle = throttle();
        throttle.paused(5000, 4000, t0 + 2 * MS);
        assert_eq!(throttle.pause(4000, t0 + 3 * MS), Some(2 * MS));
    }

    #[test]
    fn a_pause_that_drained_nothing_stops_pauses_for_the_stall_window() {
        let t0 = Instant::now();
        let mut throttle = throttle();
        throttle.paused(5000, 5000, t0);
        assert_eq!(throttle.pause(5000, t0 + 50 * MS), None);
        assert_eq!(throttle.pause(5000, t0 + 99 * MS), None);
        assert_eq!(throttle.pause(5000, t0 + 100 * MS), Some(2 * MS));
    }

    #[test]
    fn a_backlog_that_grew_during_a_pause_counts_as_stalled() {
        let t0 = Instant::now();
        let mut throttle = throttle();
        throttle.paused(5000, 6000, t0);
        assert_eq!(throttle.pause(6000, t0 + MS), None);
    }

    #[test]
    fn a_client_weighs_at_most_its_fair_share() {
        assert_eq!(fair_share(10), 10);
        assert_eq!(fair_share(FAIR_SHARE), FAIR_SHARE);
        assert_eq!(fair_share(10 * FAIR_SHARE), FAIR_SHARE);
    }
}
