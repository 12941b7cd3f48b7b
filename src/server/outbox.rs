//! One client's outgoing lines: the bounded queue between the broker, which
//! only ever appends without waiting, and that client's writer task, which
//! takes everything queued and writes it to the socket in as few writes as
//! it can. Batching here is what makes the relay fast: one `write` per
//! wake-up instead of one per line. The lock is held for a push or a swap,
//! never across an await or a socket write.
//!
//! A line is queued as a [`Line`], a shared pointer: a message relayed to
//! 200 clients that are behind is held once, not 200 times, which is most
//! of what a burst costs in memory. Its bytes are copied only into the
//! writer's chunk on the way to the socket.
//!
//! A history or resume block is queued as [`BlockLines`], lines made only
//! as the writer gets to them: a block may be far larger than the queue's
//! limit (it is bounded by the history's own cap), and a client reading
//! it as fast as it can must get all of it. What is queued behind a block
//! waits for its end, so the order is kept; and what is queued or unsent,
//! the block's lines being written included, still counts against the
//! limit, so a client that stops reading is still cut off.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;

/// One line to send, without its `\n` (the writer adds it), shared by
/// every queue it is in. An `Arc<String>` rather than an `Arc<str>`: a
/// thin pointer, 8 bytes a queued line instead of 16.
pub type Line = Arc<String>;

/// Lines a queue reserves room for when one arrives for an idle client.
const FIRST_BATCH: usize = 8;

/// The most lines a queue keeps room for between batches; a larger one
/// (left by a burst) is given back rather than held by every busy client.
const KEEP_BATCH: usize = 1024;

/// A block's lines, made one by one as the writer drains the queue.
pub type BlockLines = Box<dyn Iterator<Item = String> + Send>;

/// Bytes of a block the writer makes at once (at least one line): half a
/// fair share. Within a fair share, so that a client that stops reading in
/// a block holds no more than the room's budget allows one already behind
/// (see [`Backlog`]), however many do; and well under it, so that a reader
/// keeping up mid-block (a chunk, a line more, and the live lines behind
/// it) does not count as already behind and is not cut off when the room
/// is over its budget.
const BLOCK_CHUNK: usize = FAIR_SHARE / 2;

/// Blocks that may wait unsent for one client; one more is refused like
/// a line past the limit (the room refuses a `/history` that would be
/// one more first, see [`Outbox::blocks_full`]). Each holds its messages
/// (shared with the history while it keeps them), so a client asking
/// again and again without reading must not pile them up.
const MOST_BLOCKS: usize = 8;

use super::throttle::{fair_share, FAIR_SHARE};

/// The bounded line queue for one client.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
    /// The writer task, parked while the queue is empty.
    waker: AtomicWaker,
    /// The room's total, which this outbox's share is part of.
    backlog: Arc<Backlog>,
}

#[derive(Debug, Default)]
struct State {
    /// Lines not yet taken by the writer.
    queued: Vec<Line>,
    /// Their bytes as sent, a `\n` after each (u32, as the limit is).
    queued_bytes: u32,
    /// Bytes the writer took and has not finished writing.
    writing: u32,
    /// The unsent bytes (see [`State::unsent`]) as the backlog last
    /// counted them, so that a change can be applied as a difference
    /// (u32, as the limit is: unsent bytes are at most the limit and one
    /// block chunk).
    accounted: u32,
    end: Option<End>,
    /// The connection's reader has finished: the client closed its side.
    reader_done: bool,
    /// A push was refused: the client is being cut off, and nothing more
    /// is queued, so that no line is sent after a hole (a block's footer
    /// after some of its lines were refused).
    refused: bool,
    /// Bytes the kernel held unsent for this client when the writer last
    /// looked: they count against the limit too (u32: a socket buffer is
    /// far smaller, and it fits beside the flags).
    in_kernel: u32,
    /// Most bytes that may wait: queued, being written or in the kernel.
    /// (Here rather than beside the lock: it fits the padding, and every
    /// idle connection has an outbox.)
    limit: u32,
    /// Blocks waiting their turn after `queued`, oldest first; boxed, so
    /// that an idle connection holds no room for them.
    #[expect(
        clippy::box_collection,
        reason = "a pointer (8 bytes) in every connection's outbox, not a VecDeque (32)"
    )]
    blocks: Option<Box<VecDeque<Pending>>>,
}

/// A block not yet sent whole, and what was queued behind it.
struct Pending {
    /// Its lines not made yet; None while the writer makes a chunk.
    lines: Option<BlockLines>,
    /// Lines queued after it, sent once it ends.
    behind: Vec<Line>,
    /// Their bytes as sent (as `queued_bytes`).
    behind_bytes: u32,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("behind", &self.behind.len())
            .finish_non_exhaustive()
    }
}

impl State {
    /// Whether nothing waits to be taken by the writer.
    fn is_idle(&self) -> bool {
        self.queued.is_empty() && self.blocks.is_none()
    }

    /// Bytes of lines queued, before blocks and behind them.
    fn waiting(&self) -> usize {
        let behind = self.blocks.iter().flat_map(|b| b.iter());
        self.queued_bytes as usize + behind.map(|b| b.behind_bytes as usize).sum::<usize>()
    }

    /// Bytes queued or being written.
    fn unsent(&self) -> usize {
        self.waiting() + self.writing as usize
    }

    /// The block whose turn is next, if one waits.
    fn front_block(&mut self) -> Option<&mut Pending> {
        self.blocks.as_mut().and_then(|b| b.front_mut())
    }

    /// The first block was made whole: what was queued behind it is next.
    fn finish_block(&mut self) {
        let Some(blocks) = self.blocks.as_mut() else {
            return;
        };
        if let Some(done) = blocks.pop_front() {
            // `queued` is empty: the block was made only once it was.
            self.queued = done.behind;
            self.queued_bytes = done.behind_bytes;
        }
        if blocks.is_empty() {
            self.blocks = None;
        }
    }

    /// This outbox's share of the backlog after a change: its unsent bytes,
    /// and those up to the fair share. Returns the change to apply.
    fn recount(&mut self) -> Tally {
        let unsent = self.unsent();
        let counted = u32::try_from(unsent).unwrap_or(u32::MAX);
        let before = std::mem::replace(&mut self.accounted, counted);
        Tally::between(before as usize, counted as usize)
    }
}

/// A change to the [`Backlog`] not yet applied. The broker adds up what
/// its pushes for one event add (one per recipient) and applies the sum
/// once, after the event: the two shared counters are then touched once
/// per event rather than once per recipient, and the writers on the other
/// core are spared that cache line bouncing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "a tally must be settled into its backlog"]
pub struct Tally {
    counted: isize,
    unsent: isize,
}

impl Tally {
    /// The change when a client's unsent bytes go from `before` to `after`.
    fn between(before: usize, after: usize) -> Tally {
        Tally {
            counted: fair_share(after) as isize - fair_share(before) as isize,
            unsent: after as isize - before as isize,
        }
    }

    fn add(&mut self, other: Tally) {
        self.counted += other.counted;
        self.unsent += other.unsent;
    }
}

/// The bytes the whole room has yet to write, each client counted up to
/// [`FAIR_SHARE`]: what the broker's [`Throttle`](super::throttle::Throttle)
/// looks at, and what bounds the room's memory.
#[derive(Debug)]
pub struct Backlog {
    /// Unsent bytes, each client's counted up to the fair share. Signed:
    /// the broker's additions are applied once per event (see [`Tally`]),
    /// so a writer's subtraction may come first.
    bytes: AtomicIsize,
    /// Unsent bytes, all of them (signed, likewise).
    unsent: AtomicIsize,
    /// The broker, while it waits for the backlog to go down.
    waker: AtomicWaker,
    /// The broker, pausing, is woken when the backlog falls to this.
    low: usize,
    /// Above this many unsent bytes in all, a client already a fair share
    /// behind takes no more: it is disconnected as too slow.
    budget: usize,
}

impl Backlog {
    pub fn new(low: usize, budget: usize) -> Self {
        Backlog {
            bytes: AtomicIsize::new(0),
            unsent: AtomicIsize::new(0),
            waker: AtomicWaker::new(),
            low,
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

    /// Applies what the broker's pushes added (see [`Tally`]).
    pub fn settle(&self, tally: Tally) {
        self.apply(tally);
    }

    /// Resolves once the backlog is down to the low mark.
    pub async fn drained(&self) {
        futures::future::poll_fn(|cx| {
            if self.bytes() <= self.low {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.bytes() <= self.low {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await
    }

    fn apply(&self, delta: Tally) {
        if delta.unsent != 0 {
            self.unsent.fetch_add(delta.unsent, Ordering::Relaxed);
        }
        if delta.counted != 0 {
            let before = self.bytes.fetch_add(delta.counted, Ordering::Relaxed);
            let after = before + delta.counted;
            let low = self.low as isize;
            if before > low && after <= low {
                self.waker.wake();
            }
        }
    }
}

/// How the connection is to end once the writer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Send what is queued, then close.
    Flush,
    /// Cut off for not reading: drop what is queued, send the notice
    /// saying so if the socket takes it, close.
    Drop,
    /// Taken over: its session was resumed on another connection. Like
    /// `Drop` (the new connection gets what was queued), with its own notice.
    TakenOver,
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
        let state = State {
            // Counted in u32s: 2 GiB for one client is no limit anyway, and
            // half of a u32 leaves room for a block's chunk on top.
            limit: limit.min(u32::MAX as usize / 2) as u32,
            ..State::default()
        };
        Outbox {
            state: Mutex::new(state),
            waker: AtomicWaker::new(),
            backlog,
        }
    }

    /// Queues `line` (a `\n` follows it on the wire), unless that would
    /// pass the limit. Never waits: the broker calls this for every
    /// recipient of every message. What it adds to the room's backlog is
    /// added to `tally`.
    pub fn push(&self, line: &Line, tally: &mut Tally) -> Result<(), Full> {
        let mut state = self.lock();
        if state.end.is_some() {
            // The connection is closing: what it misses no longer matters.
            return Ok(());
        }
        let size = line.len() + 1;
        let unsent = state.unsent();
        let over = unsent + state.in_kernel as usize + size > state.limit as usize
            // The room's memory is bounded too: past its budget, a client
            // that is already behind is cut off rather than allowed to
            // fall further.
            || (unsent >= FAIR_SHARE && self.backlog.over_budget(size));
        if over || state.refused {
            state.refused = true;
            return Err(Full);
        }
        let was_idle = state.is_idle();
        let state_ref = &mut *state;
        // Behind the last block waiting, if one does: after it, in order.
        let (queue, bytes) = match state_ref.blocks.as_mut().and_then(|b| b.back_mut()) {
            Some(block) => (&mut block.behind, &mut block.behind_bytes),
            None => (&mut state_ref.queued, &mut state_ref.queued_bytes),
        };
        if queue.capacity() == 0 {
            // First line after idling: room for a few, rather than growing
            // from nothing line by line.
            queue.reserve(FIRST_BATCH);
        }
        queue.push(Arc::clone(line));
        // Within the limit, which fits a u32 (see `new`).
        *bytes += size as u32;
        tally.add(state.recount());
        drop(state);
        // The writer only sleeps with nothing to send, so only that needs a wake.
        if was_idle {
            self.waker.wake();
        }
        Ok(())
    }

    /// Queues a block whose lines are made as the writer gets to them
    /// (see the module's comment): they count against the limit only
    /// once made. Refused, like a line past the limit, when
    /// [`MOST_BLOCKS`] already wait. Never waits.
    pub fn push_block(&self, lines: BlockLines) -> Result<(), Full> {
        let mut state = self.lock();
        if state.end.is_some() {
            return Ok(());
        }
        let waiting = state.blocks.as_ref().map_or(0, |b| b.len());
        if waiting >= MOST_BLOCKS || state.refused {
            state.refused = true;
            return Err(Full);
        }
        let was_idle = state.is_idle();
        state.blocks.get_or_insert_default().push_back(Pending {
            lines: Some(lines),
            behind: Vec::new(),
            behind_bytes: 0,
        });
        drop(state);
        if was_idle {
            self.waker.wake();
        }
        Ok(())
    }

    /// Whether [`MOST_BLOCKS`] wait unsent, so that another would be refused.
    pub fn blocks_full(&self) -> bool {
        self.lock()
            .blocks
            .as_ref()
            .is_some_and(|b| b.len() >= MOST_BLOCKS)
    }

    /// Queues a line for this client alone (see [`Outbox::push`]).
    pub fn push_own(&self, line: &str, tally: &mut Tally) -> Result<(), Full> {
        self.push(&Line::new(line.to_owned()), tally)
    }

    /// Asks the writer to close the connection (the first request wins).
    pub fn end(&self, end: End) {
        let mut state = self.lock();
        if state.end.is_none() {
            if end != End::Flush {
                state.queued = Vec::new();
                state.blocks = None;
                state.queued_bytes = 0;
                self.backlog.apply(state.recount());
            }
            state.end = Some(end);
        }
        drop(state);
        self.waker.wake();
    }

    /// The writer saw the kernel hold `bytes` unsent for this client.
    pub fn set_in_kernel(&self, bytes: usize) {
        self.lock().in_kernel = u32::try_from(bytes).unwrap_or(u32::MAX);
    }

    /// The writer's socket is full with `left` bytes of its batch still to
    /// write, and the kernel holds `in_kernel`: the part of the batch the
    /// kernel took is counted there, so it no longer counts as being
    /// written too.
    pub fn blocked(&self, left: usize, in_kernel: usize) {
        let mut state = self.lock();
        state.writing = state.writing.min(u32::try_from(left).unwrap_or(u32::MAX));
        state.in_kernel = u32::try_from(in_kernel).unwrap_or(u32::MAX);
        // Under the lock, as in `written`: this outbox's changes reach the
        // total in order.
        self.backlog.apply(state.recount());
    }

    /// Bytes not yet sent: queued here, being written, or held by the kernel.
    pub fn unsent(&self) -> usize {
        let state = self.lock();
        state.unsent() + state.in_kernel as usize
    }

    /// The most bytes that may wait for this client.
    pub fn limit(&self) -> usize {
        self.lock().limit as usize
    }

    /// Bytes of lines waiting to be taken by the writer (a block's
    /// lines not made yet are not counted).
    pub fn queued(&self) -> usize {
        self.lock().waiting()
    }

    /// Waits until there is something to do. On [`Next::Write`] the queued
    /// lines have been swapped into `batch` (which must be written out), so
    /// both allocations are reused while the client is busy.
    pub async fn next(&self, batch: &mut Batch) -> Next {
        futures::future::poll_fn(|cx| {
            if let Some(next) = self.try_next(batch) {
                return Poll::Ready(next);
            }
            self.waker.register(cx.waker());
            // Look again: a push between the check and the register would
            // otherwise be missed.
            match self.try_next(batch) {
                Some(next) => Poll::Ready(next),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Resolves once the connection is to end, either way, so that a write
    /// stuck on a client that does not read can be cut short. (The writer
    /// task alone polls this and [`Outbox::next`], so they share one waker.)
    pub fn poll_ending(&self, cx: &mut Context<'_>) -> Poll<End> {
        if let Some(end) = self.lock().end {
            return Poll::Ready(end);
        }
        self.waker.register(cx.waker());
        match self.lock().end {
            Some(end) => Poll::Ready(end),
            None => Poll::Pending,
        }
    }

    /// The connection's reader saw the end of the client's stream (or an
    /// error): a closing writer need not wait for it any longer.
    pub fn reader_done(&self) {
        self.lock().reader_done = true;
        self.waker.wake();
    }

    /// Resolves once [`Outbox::reader_done`] was called. (Polled by the
    /// writer task alone, like [`Outbox::next`], with which it shares a waker.)
    pub async fn reader_finished(&self) {
        futures::future::poll_fn(|cx| {
            if self.lock().reader_done {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            if self.lock().reader_done {
                return Poll::Ready(());
            }
            Poll::Pending
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

    fn try_next(&self, batch: &mut Batch) -> Option<Next> {
        debug_assert!(batch.is_empty(), "a batch is written out before the next");
        let mut state = self.lock();
        loop {
            if !state.queued.is_empty() {
                batch.start();
                std::mem::swap(&mut state.queued, &mut batch.lines);
                state.writing = std::mem::take(&mut state.queued_bytes);
                batch.left = state.writing as usize;
                // The writer's last batch becomes the queue's room: kept for
                // the next batch unless a burst made it large. Hundreds of
                // busy clients each holding their largest batch twice was
                // most of the server's memory in a burst.
                if state.queued.capacity() > KEEP_BATCH {
                    state.queued = Vec::new();
                }
                return Some(Next::Write);
            }
            // Everything queued before the first block is sent: its turn.
            let Some(mut lines) = state.front_block().and_then(|b| b.lines.take()) else {
                break;
            };
            // A quarter of the limit at most, so that a reader keeping up is
            // never near it for the chunk alone.
            let chunk = (state.limit as usize / 4).clamp(1, BLOCK_CHUNK);
            // Made outside the lock: the broker may push meanwhile (behind
            // the block, which stays in its place) without waiting for it.
            drop(state);
            batch.start();
            let made = make(&mut lines, chunk, &mut batch.lines);
            state = self.lock();
            if let Some(end) = state.end.filter(|&end| end != End::Flush) {
                // Cut off or taken over meanwhile: the queue was dropped,
                // and this with it.
                batch.lines.clear();
                return Some(Next::End(end));
            }
            match made {
                Made::More(_) => {
                    if let Some(front) = state.front_block() {
                        front.lines = Some(lines);
                    }
                }
                Made::Last(_) => state.finish_block(),
            }
            let bytes = made.bytes();
            if bytes > 0 {
                // Within the limit's u32, as a chunk is far smaller.
                state.writing = u32::try_from(bytes).unwrap_or(u32::MAX);
                batch.left = bytes;
                self.backlog.apply(state.recount());
                return Some(Next::Write);
            }
            // An empty block: on to what follows it.
        }
        if state.end.is_none() {
            // Going idle: give both back, so that thousands of quiet
            // connections hold no memory for traffic they once had. Under
            // load the queue is rarely empty here and both are reused.
            state.queued = Vec::new();
            batch.lines = Vec::new();
        }
        state.end.map(Next::End)
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
        self.backlog
            .apply(Tally::between(state.accounted as usize, 0));
    }
}

/// How far a block's lines were made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    /// A chunk of this many bytes; more lines follow.
    More(usize),
    /// The block's last lines, this many bytes.
    Last(usize),
}

impl Made {
    fn bytes(self) -> usize {
        match self {
            Made::More(bytes) | Made::Last(bytes) => bytes,
        }
    }
}

/// Makes the next lines of a block into `out`, about `chunk` bytes of
/// them (at least one line, however long).
fn make(lines: &mut BlockLines, chunk: usize, out: &mut Vec<Line>) -> Made {
    let mut bytes = 0;
    while bytes < chunk {
        let Some(line) = lines.next() else {
            return Made::Last(bytes);
        };
        bytes += line.len() + 1;
        out.push(Line::new(line));
    }
    Made::More(bytes)
}

/// The lines a writer took, and how far it got writing them.
#[derive(Debug, Default)]
pub struct Batch {
    lines: Vec<Line>,
    /// The first line not wholly written.
    next: usize,
    /// Bytes of that line (its `\n` included) already written.
    sent: usize,
    /// Bytes not written yet, in all.
    left: usize,
}

impl Batch {
    /// Empties it for the next lines taken.
    fn start(&mut self) {
        self.lines.clear();
        self.next = 0;
        self.sent = 0;
    }

    /// Whether every line was written.
    pub fn is_empty(&self) -> bool {
        self.next >= self.lines.len()
    }

    /// Bytes not written yet.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Copies the next unwritten bytes, lines with their `\n`, into
    /// `chunk`, as many as fit; returns how many.
    pub fn fill(&self, chunk: &mut [u8]) -> usize {
        let mut filled = 0;
        // Where to start in the first line: past what was written of it.
        let mut at = self.sent;
        for line in self.lines.get(self.next..).unwrap_or_default() {
            let text = line.as_bytes();
            if at < text.len() {
                let take = (text.len() - at).min(chunk.len() - filled);
                chunk[filled..filled + take].copy_from_slice(&text[at..at + take]);
                filled += take;
                at += take;
            }
            if at == text.len() && filled < chunk.len() {
                chunk[filled] = b'\n';
                filled += 1;
                at += 1;
            }
            if at <= text.len() {
                break; // the chunk is full
            }
            at = 0;
        }
        filled
    }

    /// Marks the first `written` bytes of what [`Batch::fill`] gave as sent.
    pub fn consume(&mut self, mut written: usize) {
        self.left = self.left.saturating_sub(written);
        while written > 0 {
            let Some(line) = self.lines.get(self.next) else {
                return;
            };
            let left = line.len() + 1 - self.sent;
            if written < left {
                self.sent += written;
                return;
            }
            written -= left;
            self.next += 1;
            self.sent = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    fn outbox(limit: usize) -> Outbox {
        Outbox::new(limit, Arc::new(Backlog::new(0, usize::MAX)))
    }

    /// Pushes one line and settles it at once, as the broker does per event.
    fn push(outbox: &Outbox, line: &[u8]) -> Result<(), Full> {
        let mut tally = Tally::default();
        let line = std::str::from_utf8(line).expect("test lines are UTF-8");
        let pushed = outbox.push_own(line, &mut tally);
        outbox.backlog.settle(tally);
        pushed
    }

    /// Everything in `batch`, written out in small chunks as a socket
    /// that takes a few bytes at a time would.
    fn drain(batch: &mut Batch) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 3];
        while !batch.is_empty() {
            let n = batch.fill(&mut chunk);
            assert!(n > 0, "a batch with lines left fills something");
            // Take one byte fewer than offered when we can, as a partial write.
            let taken = if n > 1 { n - 1 } else { n };
            out.extend_from_slice(&chunk[..taken]);
            batch.consume(taken);
        }
        out
    }

    #[test]
    fn a_batch_is_written_whole_whatever_the_chunks() {
        let outbox = outbox(1 << 20);
        for line in ["", "a", "bc", "", "héllo wörld", "xyz"] {
            push(&outbox, line.as_bytes()).unwrap();
        }
        let mut batch = Batch::default();
        assert_eq!(block_on(outbox.next(&mut batch)), Next::Write);
        let mut whole = [0u8; 64];
        let n = batch.fill(&mut whole);
        assert_eq!(&whole[..n], "\na\nbc\n\nhéllo wörld\nxyz\n".as_bytes());
        assert_eq!(
            drain(&mut batch),
            "\na\nbc\n\nhéllo wörld\nxyz\n".as_bytes()
        );
        assert_eq!(batch.fill(&mut whole), 0);
    }

    #[test]
    fn what_the_kernel_took_of_a_blocked_batch_is_counted_once() {
        let outbox = outbox(1 << 20);
        push(&outbox, &[b'a'; 99]).unwrap();
        push(&outbox, &[b'b'; 99]).unwrap();
        let mut batch = Batch::default();
        assert_eq!(block_on(outbox.next(&mut batch)), Next::Write);
        assert_eq!(batch.left(), 200);
        // The socket took 150 bytes, which the kernel now holds, then filled.
        let mut chunk = [0u8; 150];
        let n = batch.fill(&mut chunk);
        batch.consume(n);
        outbox.blocked(batch.left(), 150);
        assert_eq!(
            outbox.unsent(),
            200,
            "50 still to write and 150 in the kernel"
        );
        assert_eq!(outbox.backlog.bytes(), 50);
    }

    #[test]
    fn a_line_relayed_to_many_is_held_once() {
        let outboxes: Vec<Outbox> = (0..100).map(|_| outbox(1 << 20)).collect();
        let line = Line::new("Max: hello everyone".to_owned());
        for outbox in &outboxes {
            let mut tally = Tally::default();
            outbox.push(&line, &mut tally).unwrap();
            outbox.backlog.settle(tally);
            assert_eq!(
                outbox.queued(),
                line.len() + 1,
                "each counts the bytes it will send"
            );
        }
        assert_eq!(Arc::strong_count(&line), 101, "shared, not copied");
    }

    #[test]
    fn the_backlog_counts_unsent_bytes_up_to_a_fair_share() {
        let backlog = Arc::new(Backlog::new(100, usize::MAX));
        let a = Outbox::new(1 << 20, backlog.clone());
        let b = Outbox::new(1 << 20, backlog.clone());
        push(&a, &[b'x'; 99]).unwrap();
        assert_eq!(backlog.bytes(), 100);
        for _ in 0..1000 {
            push(&b, &[b'y'; 99]).unwrap();
        }
        assert_eq!(
            backlog.bytes(),
            100 + FAIR_SHARE,
            "b weighs its fair share only"
        );
        let mut buf = Batch::default();
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
    fn the_brokers_pushes_count_once_settled() {
        let backlog = Arc::new(Backlog::new(0, usize::MAX));
        let outbox = Outbox::new(1 << 20, backlog.clone());
        let mut tally = Tally::default();
        outbox.push_own("abc", &mut tally).unwrap();
        outbox.push_own("de", &mut tally).unwrap();
        assert_eq!(backlog.bytes(), 0, "nothing counted before the settle");
        backlog.settle(tally);
        assert_eq!(backlog.bytes(), 7);
    }

    #[test]
    fn a_writer_that_finishes_before_the_settle_leaves_the_backlog_at_zero() {
        let backlog = Arc::new(Backlog::new(0, usize::MAX));
        let outbox = Outbox::new(1 << 20, backlog.clone());
        let mut tally = Tally::default();
        outbox.push_own("abc", &mut tally).unwrap();
        let mut buf = Batch::default();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::Write);
        outbox.written();
        backlog.settle(tally);
        assert_eq!(backlog.bytes(), 0);
        assert!(!backlog.over_budget(0));
    }

    #[test]
    fn lines_are_batched_into_one_take() {
        let outbox = outbox(1024);
        push(&outbox, b"a").unwrap();
        push(&outbox, b"bc").unwrap();
        let mut buf = Batch::default();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::Write);
        assert_eq!(drain(&mut buf), b"a\nbc\n");
        assert_eq!(outbox.queued(), 0);
    }

    #[test]
    fn a_push_past_the_limit_is_refused_and_nothing_is_queued() {
        let outbox = outbox(8);
        push(&outbox, b"1234567").unwrap();
        assert_eq!(push(&outbox, b"x"), Err(Full));
        assert_eq!(outbox.queued(), 8);
    }

    #[test]
    fn flush_delivers_what_is_queued_before_ending() {
        let outbox = outbox(64);
        push(&outbox, b"last words").unwrap();
        outbox.end(End::Flush);
        let mut buf = Batch::default();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::Write);
        drain(&mut buf);
        assert_eq!(block_on(outbox.next(&mut buf)), Next::End(End::Flush));
    }

    #[test]
    fn drop_discards_the_queue() {
        let outbox = outbox(64);
        push(&outbox, b"stale").unwrap();
        outbox.end(End::Drop);
        let mut buf = Batch::default();
        assert_eq!(block_on(outbox.next(&mut buf)), Next::End(End::Drop));
        assert!(
            push(&outbox, b"more").is_ok(),
            "pushes after the end are ignored"
        );
        assert_eq!(outbox.queued(), 0);
    }

    /// A block of `n` lines `{tag}{i}` padded to 99 bytes (100 with the `\n`).
    fn block(tag: &'static str, n: usize) -> BlockLines {
        Box::new((0..n).map(move |i| format!("{tag}{i:0>98}")))
    }

    /// Everything the writer takes until it would wait, as text.
    fn drain_all(outbox: &Outbox) -> String {
        let mut out = Vec::new();
        let mut batch = Batch::default();
        while let Some(Next::Write) = outbox.try_next(&mut batch) {
            out.extend(drain(&mut batch));
            outbox.written();
        }
        String::from_utf8(out).expect("test lines are UTF-8")
    }

    #[test]
    fn a_block_larger_than_the_limit_reaches_a_reader_that_keeps_up() {
        let outbox = outbox(1000);
        push(&outbox, b"before").unwrap();
        outbox.push_block(block("b", 100)).unwrap();
        push(&outbox, b"after").unwrap();
        let sent = drain_all(&outbox);
        let lines: Vec<&str> = sent.lines().collect();
        assert_eq!(lines.len(), 102, "{} bytes", sent.len());
        assert_eq!(lines[0], "before");
        assert_eq!(lines[1], format!("b{:0>98}", 0));
        assert_eq!(lines[100], format!("b{:0>98}", 99));
        assert_eq!(lines[101], "after", "live lines come after the block");
        assert_eq!(outbox.unsent(), 0);
        assert_eq!(outbox.backlog.bytes(), 0);
    }

    #[test]
    fn lines_queued_while_a_block_is_written_wait_for_its_end() {
        let outbox = outbox(1000);
        outbox.push_block(block("a", 10)).unwrap();
        let mut batch = Batch::default();
        assert_eq!(outbox.try_next(&mut batch), Some(Next::Write));
        // Lines up to a quarter of the limit are made; the rest waits.
        assert_eq!(batch.left(), 300);
        push(&outbox, b"live").unwrap();
        outbox.push_block(block("c", 2)).unwrap();
        push(&outbox, b"later").unwrap();
        let mut sent = String::from_utf8(drain(&mut batch)).unwrap();
        outbox.written();
        sent.push_str(&drain_all(&outbox));
        let firsts: Vec<String> = sent.lines().map(|l| l[..1].to_string()).collect();
        let want = "aaaaaaaaaalccl";
        assert_eq!(firsts.concat(), want, "{sent}");
    }

    #[test]
    fn a_reader_that_stops_in_a_block_is_still_cut_off_at_the_limit() {
        let outbox = outbox(1000);
        outbox.push_block(block("a", 1000)).unwrap();
        let mut batch = Batch::default();
        assert_eq!(outbox.try_next(&mut batch), Some(Next::Write));
        // The writer waits on a full socket with its chunk; live lines pile up.
        let mut taken = 0;
        while push(&outbox, &[b'x'; 99]).is_ok() {
            taken += 1;
            assert!(taken < 100, "never refused");
        }
        assert_eq!(taken, 7, "the limit less the chunk being written");
        assert_eq!(outbox.unsent(), 1000);
    }

    #[test]
    fn a_refused_line_leaves_no_hole_for_later_lines_to_pass() {
        let outbox = outbox(100);
        push(&outbox, &[b'a'; 49]).unwrap();
        assert_eq!(push(&outbox, &[b'b'; 60]), Err(Full));
        // This one would fit, but after a refused line it would be sent
        // with a hole before it (a block's footer after lost lines).
        assert_eq!(push(&outbox, b"footer"), Err(Full));
        assert_eq!(outbox.queued(), 50);
    }

    #[test]
    fn a_client_asking_for_block_after_block_without_reading_is_refused() {
        let outbox = outbox(1000);
        for _ in 0..MOST_BLOCKS {
            outbox.push_block(block("a", 1000)).unwrap();
        }
        assert_eq!(outbox.push_block(block("a", 1)), Err(Full));
        assert_eq!(push(&outbox, b"x"), Err(Full));
    }

    #[test]
    fn a_reader_mid_block_is_not_counted_behind_when_the_room_is_over_budget() {
        // Every push finds the room over its budget.
        let outbox = Outbox::new(1 << 20, Arc::new(Backlog::new(0, 0)));
        outbox.push_block(block("a", 1000)).unwrap();
        let mut batch = Batch::default();
        assert_eq!(outbox.try_next(&mut batch), Some(Next::Write));
        assert!(batch.left() >= BLOCK_CHUNK, "a full chunk is being written");
        assert_eq!(
            push(&outbox, b"said meanwhile"),
            Ok(()),
            "a reader that keeps up is not already behind"
        );
    }

    #[test]
    fn a_chunk_made_while_the_session_was_taken_over_is_not_sent() {
        let outbox = Arc::new(outbox(1000));
        let resumer = Arc::clone(&outbox);
        // The resume comes while the writer makes the chunk, outside the lock.
        let lines = block("a", 10).enumerate().map(move |(i, line)| {
            if i == 1 {
                resumer.end(End::TakenOver);
            }
            line
        });
        outbox.push_block(Box::new(lines)).unwrap();
        let mut batch = Batch::default();
        assert_eq!(outbox.try_next(&mut batch), Some(Next::End(End::TakenOver)));
        assert!(batch.is_empty(), "{} bytes left to write", batch.left());
        assert_eq!(outbox.unsent(), 0);
    }

    #[test]
    fn a_parked_writer_is_woken_by_a_push_from_another_thread() {
        let outbox = Arc::new(outbox(64));
        let pusher = outbox.clone();
        let mut buf = Batch::default();
        let woken = crate::runtime::block_on(async {
            let mut next = std::pin::pin!(outbox.next(&mut buf));
            // Parked first (its waker registered), then the push comes.
            assert!(futures::poll!(next.as_mut()).is_pending());
            let handle = std::thread::spawn(move || push(&pusher, b"hi"));
            let woken = crate::runtime::timeout(std::time::Duration::from_secs(5), next).await;
            assert_eq!(handle.join().ok(), Some(Ok(())));
            woken
        });
        assert_eq!(
            woken.ok(),
            Some(Next::Write),
            "the parked writer was never woken"
        );
        assert_eq!(drain(&mut buf), b"hi\n");
    }
}
