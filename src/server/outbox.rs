//! One client's outgoing bytes: the bounded queue between the broker, which
//! only ever appends without waiting, and that client's writer task, which
//! takes everything queued and writes it to the socket in one go. Batching
//! here is what makes the relay fast: one `write` per wake-up instead of one
//! per line. The lock is held for a `memcpy` or a swap, never across an
//! await or a socket write.

use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use futures::task::AtomicWaker;

/// Bytes reserved when a line arrives for an idle client.
const FIRST_BATCH: usize = 512;

/// The most of one client's unsent bytes that count towards the room's
/// [`Backlog`]: a client that stops reading weighs no more than this.
const FAIR_SHARE: usize = 32 * 1024;

/// The bounded byte queue for one client.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    /// The writer task, parked while the queue is empty.
    waker: AtomicWaker,
    /// Most bytes that may wait in `state.queued`.
    limit: usize,
    /// The room's total, which this outbox's share is part of.
    backlog: Arc<Backlog>,
}

#[derive(Debug, Default)]
struct State {
    /// Complete lines, each ending in `\n`, not yet taken by the writer.
    queued: Vec<u8>,
    /// Bytes the writer took and has not finished writing.
    writing: usize,
    /// What this outbox adds to the backlog's fair count now.
    counted: usize,
    /// What this outbox adds to the backlog's unsent bytes now.
    unsent: usize,
    end: Option<End>,
}

impl State {
    /// This outbox's share of the backlog after a change: its unsent bytes,
    /// and those up to the fair share. Returns the change to apply.
    fn recount(&mut self) -> Delta {
        let unsent = self.queued.len() + self.writing;
        let counted = unsent.min(FAIR_SHARE);
        let delta = Delta {
            counted: counted as isize - self.counted as isize,
            unsent: unsent as isize - self.unsent as isize,
        };
        self.counted = counted;
        self.unsent = unsent;
        delta
    }
}

/// A change to the [`Backlog`].
#[derive(Debug, Clone, Copy)]
struct Delta {
    counted: isize,
    unsent: isize,
}

impl Delta {
    const ZERO: Delta = Delta {
        counted: 0,
        unsent: 0,
    };

    fn plus(self, other: Delta) -> Delta {
        Delta {
            counted: self.counted + other.counted,
            unsent: self.unsent + other.unsent,
        }
    }
}

thread_local! {
    /// The broker's additions to the backlog during one event: two shared
    /// atomics touched once per event rather than once per recipient (the
    /// writers on the other core would otherwise bounce that cache line).
    static DEFERRED: Cell<Delta> = const { Cell::new(Delta::ZERO) };
}

/// The bytes the whole room has yet to write, each client counted up to
/// [`FAIR_SHARE`]. The broker, which never waits for any one socket, pauses
/// briefly while this is high, so that in a burst messages wait in the
/// senders' TCP buffers rather than fill the server's memory. A client that
/// does not read weighs at most its fair share, and the pause is bounded,
/// so stalled clients cannot stop the room.
#[derive(Debug)]
pub struct Backlog {
    /// Unsent bytes, each client's counted up to the fair share. Signed:
    /// the broker's additions are applied once per event (see
    /// [`Backlog::settle`]), so a writer's subtraction may come first.
    bytes: AtomicIsize,
    /// Unsent bytes, all of them (signed, likewise).
    unsent: AtomicIsize,
    /// The broker, while it waits for the backlog to go down.
    waker: AtomicWaker,
    /// Above this the broker pauses.
    high: usize,
    /// Above this many unsent bytes in all, a client already a fair share
    /// behind takes no more: it is disconnected as too slow.
    budget: usize,
}

impl Backlog {
    pub fn new(high: usize, budget: usize) -> Self {
        Backlog {
            bytes: AtomicIsize::new(0),
            unsent: AtomicIsize::new(0),
            waker: AtomicWaker::new(),
            high,
            budget,
        }
    }

    /// Whether `more` bytes would take the room past its budget.
    fn over_budget(&self, more: usize) -> bool {
        let unsent = self.unsent.load(Ordering::Relaxed).max(0) as usize;
        unsent + more > self.budget
    }

    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed).max(0) as usize
    }

    /// Applies the additions this thread deferred (see [`Outbox::push_deferred`]).
    /// The broker calls it after each event, before it awaits anything.
    pub fn settle(&self) {
        let delta = DEFERRED.with(|d| d.replace(Delta::ZERO));
        self.apply(delta);
    }

    pub fn is_high(&self) -> bool {
        self.bytes() > self.high
    }

    /// Resolves once the backlog is down to half the high mark.
    pub async fn drained(&self) {
        futures::future::poll_fn(|cx| {
            if self.bytes() <= self.high / 2 {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.bytes() <= self.high / 2 {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await
    }

    fn apply(&self, delta: Delta) {
        if delta.unsent != 0 {
            self.unsent.fetch_add(delta.unsent, Ordering::Relaxed);
        }
        if delta.counted != 0 {
            let before = self.bytes.fetch_add(delta.counted, Ordering::Relaxed);
            let after = before + delta.counted;
            let half = (self.high / 2) as isize;
            if before > half && after <= half {
                self.waker.wake();
            }
        }
    }
}

/// How the connection is to end once the writer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Send what is queued, then close.
    Flush,
    /// Drop what is queued, send this last line if the socket takes it, close.
    Drop(String),
}

/// What the writer is to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Bytes were moved into the writer's buffer: write them.
    Write,
    /// Nothing more will come: close the connection this way.
    End(End),
}

/// Returned by [`Outbox::push`] when the line would pass the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Outbox {
    pub fn new(limit: usize, backlog: Arc<Backlog>) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            waker: AtomicWaker::new(),
            limit,
            backlog,
        }
    }

    /// Queues `line` plus a `\n`, unless that would pass the limit. Never
    /// waits: the broker calls this for every recipient of every message.
    pub fn push(&self, line: &[u8]) -> Result<(), Full> {
        self.push_with(line, |delta| self.backlog.apply(delta))
    }

    /// As [`Outbox::push`], but the change to the backlog waits on this
    /// thread until [`Backlog::settle`]: for the broker's fan-out.
    pub fn push_deferred(&self, line: &[u8]) -> Result<(), Full> {
        self.push_with(line, |delta| DEFERRED.with(|d| d.set(d.get().plus(delta))))
    }

    fn push_with(&self, line: &[u8], account: impl FnOnce(Delta)) -> Result<(), Full> {
        let mut state = self.lock();
        if state.end.is_some() {
            // The connection is closing: what it misses no longer matters.
            return Ok(());
        }
        let unsent = state.queued.len() + state.writing;
        if unsent + line.len() + 1 > self.limit {
            return Err(Full);
        }
        // The room's memory is bounded too: past its budget, a client that
        // is already behind is cut off rather than allowed to fall further.
        if unsent >= FAIR_SHARE && self.backlog.over_budget(line.len() + 1) {
            return Err(Full);
        }
        let was_empty = state.queued.is_empty();
        if state.queued.capacity() == 0 {
            // First line after idling: one allocation big enough for a batch,
            // rather than growing from nothing line by line.
            state.queued.reserve((line.len() + 1).max(FIRST_BATCH));
        }
        state.queued.extend_from_slice(line);
        state.queued.push(b'\n');
        account(state.recount());
        drop(state);
        // The writer only sleeps on an empty queue, so only that needs a wake.
        if was_empty {
            self.waker.wake();
        }
        Ok(())
    }

    /// Asks the writer to close the connection (the first request wins).
    pub fn end(&self, end: End) {
        let mut state = self.lock();
        if state.end.is_none() {
            if matches!(end, End::Drop(_)) {
                state.queued = Vec::new();
                self.backlog.apply(state.recount());
            }
            state.end = Some(end);
        }
        drop(state);
        self.waker.wake();
    }

    /// Bytes waiting to be taken by the writer.
    pub fn queued(&self) -> usize {
        self.lock().queued.len()
    }

    /// Waits until there is something to do. On [`Next::Write`] the queued
    /// bytes have been swapped into `buf` (which must be empty), so both
    /// allocations are reused while the client is busy.
    pub async fn next(&self, buf: &mut Vec<u8>) -> Next {
        futures::future::poll_fn(|cx| {
            if let Some(next) = self.try_next(buf) {
                return Poll::Ready(next);
            }
            self.waker.register(cx.waker());
            // Look again: a push between the check and the register would
            // otherwise be missed.
            match self.try_next(buf) {
                Some(next) => Poll::Ready(next),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Resolves once the connection is to end, either way, so that a write
    /// stuck on a client that does not read can be cut short. (The writer
    /// task alone polls this and [`Outbox::next`], so they share one waker.)
    pub async fn ending(&self) -> End {
        futures::future::poll_fn(|cx| {
            if let Some(end) = self.lock().end.clone() {
                return Poll::Ready(end);
            }
            self.waker.register(cx.waker());
            match self.lock().end.clone() {
                Some(end) => Poll::Ready(end),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// The writer finished writing what it took last: it no longer counts.
    pub fn written(&self) {
        let mut state = self.lock();
        state.writing = 0;
        // Applied under the lock, so that this outbox's changes reach the
        // total in order and it never dips below zero.
        self.backlog.apply(state.recount());
        drop(state);
    }

    fn try_next(&self, buf: &mut Vec<u8>) -> Option<Next> {
        let mut state = self.lock();
        if !state.queued.is_empty() {
            std::mem::swap(&mut state.queued, buf);
            state.writing = buf.len();
            return Some(Next::Write);
        }
        if state.end.is_none() {
            // Going idle: give both buffers back, so that thousands of quiet
            // connections hold no memory for traffic they once had. Under
            // load the queue is rarely empty here and buffers are reused.
            state.queued = Vec::new();
            *buf = Vec::new();
        }
        state.end.clone().map(Next::End)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only a byte buffer behind,
        // which is still consistent: keep going rather than poison the room.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // A connection gone with bytes still unsent no longer weighs on the room.
        let state = self.lock();
        self.backlog.apply(Delta {
            counted: -(state.counted as isize),
            unsent: -(state.unsent as isize),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn outbox(limit: usize) -> Outbox {
        Outbox::new(limit, Arc::new(Backlog::new(usize::MAX, usize::MAX)))
    }

    #[test]
    fn the_backlog_counts_unsent_bytes_up_to_a_fair_share() {
        let backlog = Arc::new(Backlog::new(100, usize::MAX));
        let a = Outbox::new(1 << 20, backlog.clone());
        let b = Outbox::new(1 << 20, backlog.clone());
        a.push(&[b'x'; 99]).unwrap();
        assert_eq!(backlog.bytes(), 100);
        assert!(!backlog.is_high());
        for _ in 0..1000 {
            b.push(&[b'y'; 99]).unwrap();
        }
        assert_eq!(
            backlog.bytes(),
            100 + FAIR_SHARE,
            "b weighs its fair share only"
        );
        assert!(backlog.is_high());
        let mut buf = Vec::new();
        assert_eq!(block_on(b.next(&mut buf)), Next::Write);
        assert_eq!(
            backlog.bytes(),
            100 + FAIR_SHARE,
            "taken but not yet written"
        );
        b.written();
        assert_eq!(backlog.bytes(), 100);
        drop(a);
        assert_eq!(backlog.bytes(), 0, "a closed outbox gives its share back");
        block_on(backlog.drained());
    }

    #[test]
    fn lines_are_batched_into_one_take() {
        let outbox = outbox(1024);
        outbox.push(b"a").unwrap();
        outbox.push(b"bc").unwrap();
        let mut buf = Vec::new();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::Write);
        assert_eq!(buf, b"a\nbc\n");
        assert_eq!(outbox.queued(), 0);
    }

    #[test]
    fn a_push_past_the_limit_is_refused_and_nothing_is_queued() {
        let outbox = outbox(8);
        outbox.push(b"1234567").unwrap();
        assert_eq!(outbox.push(b"x"), Err(Full));
        assert_eq!(outbox.queued(), 8);
    }

    #[test]
    fn flush_delivers_what_is_queued_before_ending() {
        let outbox = outbox(64);
        outbox.push(b"last words").unwrap();
        outbox.end(End::Flush);
        let mut buf = Vec::new();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::Write);
        buf.clear();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::End(End::Flush));
    }

    #[test]
    fn drop_discards_the_queue() {
        let outbox = outbox(64);
        outbox.push(b"stale").unwrap();
        outbox.end(End::Drop("bye".into()));
        let mut buf = Vec::new();
        assert_eq!(
            block_on(outbox.next(&mut buf)),
            Next::End(End::Drop("bye".into()))
        );
        assert!(
            outbox.push(b"more").is_ok(),
            "pushes after the end are ignored"
        );
        assert_eq!(outbox.queued(), 0);
    }

    #[test]
    fn a_parked_writer_is_woken_by_a_push_from_another_thread() {
        let outbox = Arc::new(outbox(64));
        let pusher = outbox.clone();
        let mut buf = Vec::new();
        let woken = crate::runtime::block_on(async {
            let mut next = std::pin::pin!(outbox.next(&mut buf));
            // Parked first (its waker registered), then the push comes.
            assert!(futures::poll!(next.as_mut()).is_pending());
            let handle = std::thread::spawn(move || pusher.push(b"hi"));
            let woken = crate::runtime::timeout(std::time::Duration::from_secs(5), next).await;
            assert_eq!(handle.join().ok(), Some(Ok(())));
            woken
        });
        assert_eq!(
            woken.ok(),
            Some(Next::Write),
            "the parked writer was never woken"
        );
        assert_eq!(buf, b"hi\n");
    }
}
