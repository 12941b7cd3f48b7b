//! The login clock: each connection must log in within a time limit of
//! its arrival. Every connection gets the same limit, so deadlines come
//! due in arrival order and a queue is enough, with one timer for the
//! whole room (the broker's) instead of one per connection. Pure: the
//! caller passes the time and says who is still waiting.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::client_id::ClientId;

/// Connections that have yet to log in, oldest first.
#[derive(Debug)]
pub struct LoginDeadlines {
    /// How long a connection has to log in.
    limit: Duration,
    /// Deadlines in the order they come due. Connections that logged in
    /// or left stay until they reach the front or the queue is compacted.
    queue: VecDeque<(Instant, ClientId)>,
}

impl LoginDeadlines {
    pub fn new(limit: Duration) -> Self {
        LoginDeadlines {
            limit,
            queue: VecDeque::new(),
        }
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// A connection arrived at `now`.
    pub fn start(&mut self, id: ClientId, now: Instant) {
        self.queue.push_back((now + self.limit, id));
    }

    /// The next deadline of a connection that is still `waiting`.
    pub fn next(&mut self, waiting: impl Fn(ClientId) -> bool) -> Option<Instant> {
        while let Some(&(at, id)) = self.queue.front() {
            if waiting(id) {
                return Some(at);
            }
            self.queue.pop_front();
        }
        // Empty: give the memory of a wave of logins back.
        self.queue = VecDeque::new();
        None
    }

    /// Takes the connections still `waiting` whose deadline is past at `now`.
    pub fn expired(&mut self, now: Instant, waiting: impl Fn(ClientId) -> bool) -> Vec<ClientId> {
        let mut late = Vec::new();
        while let Some(&(at, id)) = self.queue.front() {
            if at > now {
                break;
            }
            self.queue.pop_front();
            if waiting(id) {
                late.push(id);
            }
        }
        late
    }

    /// Drops the entries of connections no longer waiting once they are
    /// most of the queue, so that its memory follows the connections that
    /// really wait (at most twice as many), not the rate of arrivals.
    pub fn compact(&mut self, still_waiting: usize, waiting: impl Fn(ClientId) -> bool) {
        if self.queue.len() > 64 && self.queue.len() > 2 * still_waiting {
            self.queue.retain(|&(_, id)| waiting(id));
        }
    }

    /// Entries held (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn deadlines_come_due_in_arrival_order() {
        let t0 = Instant::now();
        let mut clock = LoginDeadlines::new(10 * S);
        clock.start(1, t0);
        clock.start(2, t0 + S);
        assert_eq!(clock.next(|_| true), Some(t0 + 10 * S));
        assert!(clock.expired(t0 + 9 * S, |_| true).is_empty());
        assert_eq!(clock.expired(t0 + 10 * S, |_| true), vec![1]);
        assert_eq!(clock.next(|_| true), Some(t0 + 11 * S));
        assert_eq!(clock.expired(t0 + 60 * S, |_| true), vec![2]);
        assert_eq!(clock.next(|_| true), None);
    }

    #[test]
    fn a_connection_that_logged_in_before_its_deadline_never_expires() {
        let t0 = Instant::now();
        let mut clock = LoginDeadlines::new(10 * S);
        clock.start(1, t0);
        clock.start(2, t0);
        let logged_in = 1;
        assert_eq!(clock.expired(t0 + 10 * S, |id| id != logged_in), vec![2]);
    }

    #[test]
    fn the_next_deadline_skips_those_no_longer_waiting() {
        let t0 = Instant::now();
        let mut clock = LoginDeadlines::new(10 * S);
        clock.start(1, t0);
        clock.start(2, t0 + 3 * S);
        assert_eq!(clock.next(|id| id == 2), Some(t0 + 13 * S));
        assert_eq!(clock.next(|_| false), None);
        assert_eq!(clock.held(), 0);
    }

    #[test]
    fn compaction_keeps_the_queue_near_the_number_still_waiting() {
        let t0 = Instant::now();
        let mut clock = LoginDeadlines::new(10 * S);
        let waiting: HashSet<ClientId> = (0..10).collect();
        for id in 0..1000 {
            clock.start(id, t0);
        }
        clock.compact(waiting.len(), |id| waiting.contains(&id));
        assert_eq!(clock.held(), 10);
        let mut late = clock.expired(t0 + 10 * S, |id| waiting.contains(&id));
        late.sort_unstable();
        assert_eq!(late, (0..10).collect::<Vec<_>>());
    }
}
