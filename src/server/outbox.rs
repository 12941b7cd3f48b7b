//! One client's outgoing bytes: the bounded queue between the broker, which
//! only ever appends without waiting, and that client's writer task, which
//! takes everything queued and writes it to the socket in one go. Batching
//! here is what makes the relay fast: one `write` per wake-up instead of one
//! per line. The lock is held for a `memcpy` or a swap, never across an
//! await or a socket write.

use std::sync::{Mutex, MutexGuard};
use std::task::Poll;

use futures::task::AtomicWaker;

/// Bytes reserved when a line arrives for an idle client.
const FIRST_BATCH: usize = 512;

/// The bounded byte queue for one client.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    /// The writer task, parked while the queue is empty.
    waker: AtomicWaker,
    /// Most bytes that may wait in `state.queued`.
    limit: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Complete lines, each ending in `\n`, not yet taken by the writer.
    queued: Vec<u8>,
    end: Option<End>,
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
    pub fn new(limit: usize) -> Self {
        Outbox {
            state: Mutex::new(State::default()),
            waker: AtomicWaker::new(),
            limit,
        }
    }

    /// Queues `line` plus a `\n`, unless that would pass the limit. Never
    /// waits: the broker calls this for every recipient of every message.
    pub fn push(&self, line: &[u8]) -> Result<(), Full> {
        let mut state = self.lock();
        if state.end.is_some() {
            // The connection is closing: what it misses no longer matters.
            return Ok(());
        }
        if state.queued.len() + line.len() + 1 > self.limit {
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

    /// Resolves once the connection is to be dropped ([`End::Drop`]), so a
    /// write stuck on a client that does not read can be abandoned.
    pub async fn dropped(&self) {
        futures::future::poll_fn(|cx| {
            if matches!(self.lock().end, Some(End::Drop(_))) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if matches!(self.lock().end, Some(End::Drop(_))) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await
    }

    fn try_next(&self, buf: &mut Vec<u8>) -> Option<Next> {
        let mut state = self.lock();
        if !state.queued.is_empty() {
            std::mem::swap(&mut state.queued, buf);
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    #[test]
    fn lines_are_batched_into_one_take() {
        let outbox = Outbox::new(1024);
        outbox.push(b"a").unwrap();
        outbox.push(b"bc").unwrap();
        let mut buf = Vec::new();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::Write);
        assert_eq!(buf, b"a\nbc\n");
        assert_eq!(outbox.queued(), 0);
    }

    #[test]
    fn a_push_past_the_limit_is_refused_and_nothing_is_queued() {
        let outbox = Outbox::new(8);
        outbox.push(b"1234567").unwrap();
        assert_eq!(outbox.push(b"x"), Err(Full));
        assert_eq!(outbox.queued(), 8);
    }

    #[test]
    fn flush_delivers_what_is_queued_before_ending() {
        let outbox = Outbox::new(64);
        outbox.push(b"last words").unwrap();
        outbox.end(End::Flush);
        let mut buf = Vec::new();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::Write);
        buf.clear();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::End(End::Flush));
    }

    #[test]
    fn drop_discards_the_queue() {
        let outbox = Outbox::new(64);
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
        let outbox = std::sync::Arc::new(Outbox::new(64));
        let pusher = outbox.clone();
        let handle = std::thread::spawn(move || pusher.push(b"hi"));
        let mut buf = Vec::new();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::Write);
        assert_eq!(buf, b"hi\n");
        assert_eq!(handle.join().ok(), Some(Ok(())));
    }
}
