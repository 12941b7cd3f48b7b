//! When the connection drops: how long to wait before each new attempt
//! (doubling from half a second up to 30 s), and what the person is told
//! meanwhile. Pure: the caller passes the time.

use std::time::{Duration, Instant};

/// The first wait after a drop.
pub const FIRST_WAIT: Duration = Duration::from_millis(500);

/// The longest wait between attempts.
pub const MOST_WAIT: Duration = Duration::from_secs(30);

/// The waits between attempts to reconnect.
#[derive(Debug)]
pub struct Backoff {
    /// The wait before the next attempt.
    next: Duration,
    /// When the connection was lost.
    since: Instant,
}

impl Backoff {
    /// The connection was lost at `now`.
    pub fn new(now: Instant) -> Backoff {
        Backoff {
            next: FIRST_WAIT,
            since: now,
        }
    }

    /// How long to wait before the next attempt; each call doubles the
    /// one after, up to [`MOST_WAIT`].
    pub fn wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(MOST_WAIT);
        wait
    }

    /// How long the person has been away at `now`.
    pub fn away(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.since)
    }
}

/// `Reconnecting to HOST:PORT… (away 1 min 5 s; 2 lines waiting)`
pub fn status(address: &str, away: Duration, waiting: usize, last_error: Option<&str>) -> String {
    let mut status = format!("Reconnecting to {address}… (away {}", span(away));
    match waiting {
        0 => {}
        1 => status.push_str("; 1 line waiting"),
        n => status.push_str(&format!("; {n} lines waiting")),
    }
    if let Some(why) = last_error {
        status.push_str("; ");
        status.push_str(why);
    }
    status.push(')');
    status
}

/// `5 s`, `1 min 5 s`, `2 h 3 min`.
pub fn span(away: Duration) -> String {
    let secs = away.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_half_a_second_up_to_thirty() {
        let mut backoff = Backoff::new(Instant::now());
        let waits: Vec<u64> = (0..9).map(|_| backoff.wait().as_millis() as u64).collect();
        assert_eq!(
            waits,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
    }

    #[test]
    fn the_time_away_is_counted_from_the_drop() {
        let lost = Instant::now();
        let backoff = Backoff::new(lost);
        assert_eq!(
            backoff.away(lost + Duration::from_secs(65)),
            Duration::from_secs(65)
        );
        assert_eq!(backoff.away(lost - Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn the_status_says_where_how_long_and_what_waits() {
        assert_eq!(
            status("chat.lan:3000", Duration::from_secs(65), 2, None),
            "Reconnecting to chat.lan:3000… (away 1 min 5 s; 2 lines waiting)"
        );
        assert_eq!(
            status(
                "[::1]:4000",
                Duration::from_millis(900),
                0,
                Some("connection refused")
            ),
            "Reconnecting to [::1]:4000… (away 0 s; connection refused)"
        );
        assert_eq!(span(Duration::from_secs(7384)), "2 h 3 min");
    }
}
