//! Pacing what is typed or piped so that the server's flood limit never
//! drops a line: a token bucket shaped like the server's own, from the
//! limits the server states (in tagged mode's `Tagged mode on.`, or in
//! answer to `/limits`), with room to spare:
//! - It starts empty when the limits are learned: the server's bucket
//!   then holds at least nothing, and it may hold less than its burst
//!   minus the login's lines (a host that reconnects gets only part of its
//!   burst back, which the client cannot see): a bucket that started full
//!   let a paste run past the server's and lose a line.
//! - It holds half the server's burst. The server counts a line when it
//!   reads it, a little later than it was sent, and the first lines of a
//!   burst later than the rest: a client that spent the whole burst and
//!   then sent a line the moment its own bucket had a token lost it (the
//!   41st of a paste at the default limits). The other half is the slack.
//!
//! So it never holds more than the server's: a line it lets go is a line
//! the server takes. Lines wait, in order; a bounded number is taken from
//! the person's side (to count them for `sending… N more`), the rest waits
//! in its own buffers.

use std::collections::VecDeque;
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

/// Most typed things taken from the person's side to wait here: as many
/// again as that side's queue holds.
const MOST_HELD: usize = super::input::INPUT_QUEUE;

/// What is typed, let through at the pace the server takes it.
pub struct Paced {
    /// The person's side.
    typed: mpsc::Receiver<Typed>,
    /// Taken from `typed`, in order, waiting for their turn (at most
    /// [`MOST_HELD`], and what was put back first).
    held: VecDeque<Typed>,
    /// Shaped like the server's bucket, once its limits are known.
    bucket: Option<RateLimit>,
    /// The limits, once known.
    limits: Option<Limits>,
    /// When to stop waiting for the limits and assume [`UNSTATED`].
    give_up: Instant,
}

impl Paced {
    /// Paces `typed`.
    pub fn new(typed: mpsc::Receiver<Typed>, now: Instant) -> Paced {
        Paced {
            typed,
            held: VecDeque::new(),
            bucket: None,
            limits: None,
            give_up: now + ANSWER_WAIT,
        }
    }

    /// The server's limits, as it stated them (also for a new connection).
    pub fn learn(&mut self, limits: Limits, now: Instant) {
        // Empty, and half the burst: see the module's comment.
        let burst = (limits.burst / 2).max(1);
        let bucket = RateLimit::starting_with(limits.rate, burst, 0, now);
        self.bucket = Some(bucket);
        self.limits = Some(limits);
    }

    /// `items` go before everything held, in their order (lines that
    /// waited for a catch-up; their number is bounded where they waited).
    pub fn first(&mut self, items: Vec<Typed>) {
        for item in items.into_iter().rev() {
            self.held.push_front(item);
        }
    }

    /// Lines taken and not yet let through, when the next has to wait
    /// for its turn at `now` (None: nothing waits).
    pub fn waiting(&mut self, now: Instant) -> Option<usize> {
        self.take_ready();
        let lines = self.held.iter().filter(|t| costs(t)).count();
        (lines > 0 && !self.wait(now).is_zero()).then_some(lines)
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
        self.take_ready();
        if self.held.is_empty() {
            let first = self.typed.next().await?;
            self.held.push_back(first);
        }
        if self.held.front().is_some_and(costs) {
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
        self.held.pop_front()
    }

    /// Takes what the person's side already has, up to [`MOST_HELD`].
    fn take_ready(&mut self) {
        while self.held.len() < MOST_HELD {
            match self.typed.try_recv() {
                Ok(typed) => self.held.push_back(typed),
                // Nothing yet, or the end: `next` finds out.
                Err(_) => break,
            }
        }
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

/// Whether the server counts `typed` against its flood limit: it ignores
/// blank lines.
fn costs(typed: &Typed) -> bool {
    match typed {
        Typed::Line(line) => !line.bytes().all(|b| b.is_ascii_whitespace()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        rate: 10,
        burst: 4,
        max_line_bytes: 100,
    };

    fn paced() -> (mpsc::Sender<Typed>, Paced) {
        let (tx, typed) = mpsc::channel(8);
        (tx, Paced::new(typed, Instant::now()))
    }

    #[test]
    fn a_label_counts_against_the_rooms_line_limit() {
        let (_tx, mut paced) = paced();
        paced.learn(LIMITS, Instant::now());
        assert_eq!(paced.too_long(&"x".repeat(100), 0), None);
        assert_eq!(paced.too_long(&"x".repeat(83), 18), Some(82));
        assert_eq!(paced.too_long(&"x".repeat(82), 18), None);
    }

    /// The server's bucket may hold less than its burst minus the login's
    /// lines (a host reconnecting gets part of its burst), and counts a
    /// burst's lines late: ours starts empty and holds half its burst, so
    /// it never lets go a line the server's would drop.
    #[test]
    fn the_bucket_starts_empty_and_fills_to_half_the_rooms_burst() {
        let (_tx, mut paced) = paced();
        let t0 = Instant::now();
        paced.learn(LIMITS, t0);
        assert_eq!(paced.wait(t0), Duration::from_millis(100));
        let later = t0 + Duration::from_secs(60);
        let bucket = paced.bucket.as_mut().expect("learned");
        assert_eq!((0..10).filter(|_| bucket.allow(later)).count(), 2);
        // The rate is the room's.
        assert!(bucket.allow(later + Duration::from_millis(100)));
    }

    #[test]
    fn lines_waiting_for_their_turn_are_counted() {
        let (mut tx, mut paced) = paced();
        let t0 = Instant::now();
        paced.learn(LIMITS, t0);
        assert_eq!(paced.waiting(t0), None, "nothing typed");
        for line in ["one", "  ", "two", "three"] {
            tx.try_send(Typed::Line(line.into()))
                .expect("room in the queue");
        }
        // Blank lines cost nothing and are not counted.
        assert_eq!(paced.waiting(t0), Some(3));
        // Lines put back go first, in order.
        paced.first(vec![Typed::Line("a".into()), Typed::Line("b".into())]);
        assert_eq!(paced.waiting(t0), Some(5));
        assert_eq!(paced.held.front(), Some(&Typed::Line("a".into())));
        assert_eq!(paced.held.get(1), Some(&Typed::Line("b".into())));
        // Once a token is there, nothing waits.
        assert_eq!(paced.waiting(t0 + Duration::from_millis(100)), None);
    }
}
