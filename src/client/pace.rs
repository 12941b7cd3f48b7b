//! Pacing what is typed or piped so that the server's flood limit never
//! drops a line: a token bucket shaped like the server's own, from the
//! limits the server states in answer to `/limits`. It starts with the
//! tokens the login already used, and refills no faster than the server's,
//! so it never holds more than the server's: a line it lets go is a line
//! the server takes. Lines wait, in order; while one waits nothing more is
//! read, so a long paste or pipe waits in its own buffers, not in ours.

use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::StreamExt;

use super::input::Typed;
use crate::protocol::limits::Limits;
use crate::protocol::rate::RateLimit;
use crate::runtime;

/// Assumed when the server is too old to know `/limits` (it refuses it):
/// `serve`'s defaults.
pub const FALLBACK: Limits = Limits {
    rate: 20,
    burst: 40,
    max_line_bytes: 4096,
};

/// How long the server's answer to `/limits` is waited for. A server that
/// says nothing at all is not sockchat: it states no limits, and lines go
/// unpaced (so one that stopped reading is found out by the send timeout,
/// not hidden behind a slow pace).
const ANSWER_WAIT: Duration = Duration::from_secs(2);

/// What a server silent about `/limits` is taken to allow.
const UNSTATED: Limits = Limits {
    rate: 0,
    ..FALLBACK
};

/// What is typed, let through at the pace the server takes it.
pub struct Paced {
    /// The person's side.
    typed: mpsc::Receiver<Typed>,
    /// Taken from `typed`, waiting for its turn.
    held: Option<Typed>,
    /// Shaped like the server's bucket, once its limits are known.
    bucket: Option<RateLimit>,
    /// The limits, once known.
    limits: Option<Limits>,
    /// Lines the server counted before its limits were known.
    used: u32,
    /// When to stop waiting for the limits and assume [`UNSTATED`].
    give_up: Instant,
}

impl Paced {
    /// Paces `typed`; the server has counted `used` lines of ours so far.
    pub fn new(typed: mpsc::Receiver<Typed>, used: u32, now: Instant) -> Paced {
        Paced {
            typed,
            held: None,
            bucket: None,
            limits: None,
            used,
            give_up: now + ANSWER_WAIT,
        }
    }

    /// Whether the limits are known.
    pub fn knows(&self) -> bool {
        self.limits.is_some()
    }

    /// The server's limits, as it stated them.
    pub fn learn(&mut self, limits: Limits, now: Instant) {
        let tokens = limits.burst.saturating_sub(self.used);
        self.bucket = Some(RateLimit::starting_with(
            limits.rate,
            limits.burst,
            tokens,
            now,
        ));
        self.limits = Some(limits);
    }

    /// A new connection with these limits, which has counted `used`
    /// lines of ours so far (its login's).
    pub fn restart(&mut self, limits: Limits, used: u32, now: Instant) {
        self.used = used;
        self.learn(limits, now);
    }

    /// The room's limit if the server would refuse `line` as too long,
    /// with `cost` more bytes added to it on the way (a label).
    pub fn too_long(&self, line: &str, cost: usize) -> Option<usize> {
        let max = self.limits.unwrap_or(FALLBACK).max_line_bytes;
        let room = max.saturating_sub(cost);
        (line.len() > room).then_some(room)
    }

    /// The next thing typed; a line no sooner than the server takes it.
    /// Cancel-safe: a line taken and still waiting is kept for the next call.
    pub async fn next(&mut self) -> Option<Typed> {
        if self.held.is_none() {
            self.held = Some(self.typed.next().await?);
        }
        if let Some(Typed::Line(line)) = &self.held {
            // The server ignores blank lines; they cost nothing.
            if !line.bytes().all(|b| b.is_ascii_whitespace()) {
                loop {
                    let wait = self.wait(Instant::now());
                    if wait.is_zero() {
                        break;
                    }
                    runtime::sleep(wait).await;
                }
                if let Some(bucket) = &mut self.bucket {
                    bucket.allow(Instant::now());
                }
            }
        }
        self.held.take()
    }

    /// How long until a line may go.
    fn wait(&mut self, now: Instant) -> Duration {
        if self.bucket.is_none() && now >= self.give_up {
            self.learn(UNSTATED, now);
        }
        match &mut self.bucket {
            Some(bucket) => bucket.wait(now),
            None => self.give_up.saturating_duration_since(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paced() -> Paced {
        let (_tx, typed) = mpsc::channel(1);
        Paced::new(typed, 0, Instant::now())
    }

    #[test]
    fn a_label_counts_against_the_rooms_line_limit() {
        let mut paced = paced();
        let limits = Limits {
            max_line_bytes: 100,
            ..FALLBACK
        };
        paced.restart(limits, 3, Instant::now());
        assert_eq!(paced.too_long(&"x".repeat(100), 0), None);
        assert_eq!(paced.too_long(&"x".repeat(83), 18), Some(82));
        assert_eq!(paced.too_long(&"x".repeat(82), 18), None);
    }

    #[test]
    fn a_new_connection_starts_from_what_its_login_used() {
        let mut paced = paced();
        let limits = Limits {
            rate: 1,
            burst: 4,
            max_line_bytes: 100,
        };
        let now = Instant::now();
        paced.restart(limits, 4, now);
        assert!(!paced.wait(now).is_zero(), "the login used the whole burst");
        paced.restart(limits, 1, now);
        assert!(paced.wait(now).is_zero());
    }
}
