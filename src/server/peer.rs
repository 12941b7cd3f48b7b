//! One connection: its reader (this task) turns bytes into lines for the
//! broker; its writer (a task of its own) drains the connection's outbox
//! into the socket. Errors here end this connection only.

use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::cell::RefCell;
use std::io;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future;
use futures::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::broker::{Event, Peer};
use super::client_id::ClientId;
use super::outbox::{Batch, End, Next, Outbox};
use super::{Arrival, Config, Shared};
use crate::protocol::line::{Frame, LineFramer};
use crate::protocol::message::reply;
use crate::protocol::rate::RateLimit;
use crate::runtime::{self, TcpStream};

/// How long a closing connection waits for the client to close its side
/// after our FIN, so that the last lines are read rather than reset.
pub const LINGER: Duration = Duration::from_secs(2);

/// How long a client being dropped for not reading gets to take the notice.
const DROP_NOTICE_TIME: Duration = Duration::from_millis(100);

/// Bytes read from a socket at once: a few lines at the longest default
/// line length. It is one buffer per executor thread, zeroed and resident
/// for the life of the server, so it is not larger (64 KiB cost 0.1 MiB).
const READ_CHUNK: usize = 16 * 1024;

/// Bytes read at once while the broker's queue is nearly full: what a read
/// brings that the queue cannot take waits in this connection's memory, so
/// it should rather wait in the kernel (and push back on the client).
const READ_WHEN_FULL: usize = 512;

/// The read size for the room left in the broker's queue: lines are
/// usually well over this long, so a read brings about what fits.
fn read_size(events: &async_channel::Sender<Event>) -> usize {
    const BYTES_A_SLOT: usize = 128;
    let free = events
        .capacity()
        .map_or(usize::MAX, |capacity| capacity.saturating_sub(events.len()));
    free.saturating_mul(BYTES_A_SLOT)
        .clamp(READ_WHEN_FULL, READ_CHUNK)
}

thread_local! {
    /// The one read buffer of each executor thread. A read fills it and the
    /// bytes are framed before the poll returns, so an idle connection holds
    /// no read buffer of its own (thousands of idle clients cost little).
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
    /// The one write chunk of each executor thread, likewise: a writer
    /// copies lines into it and writes it within one poll.
    static WRITE_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; WRITE_CHUNK]);
}

/// Serves one accepted connection until it ends. `reader` and `writer` are
/// the two directions of the connection (the socket itself, or the halves of
/// a TLS session over it); `tcp` is the socket, used to cut it off.
pub async fn connection<R, W>(
    arrival: Arrival,
    reader: R,
    writer: W,
    tcp: TcpStream,
    events: async_channel::Sender<Event>,
    shared: Arc<Shared>,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Arrival {
        id,
        addr,
        tokens,
        trusted,
    } = arrival;
    let config = &shared.config;
    let outbox = Arc::new(Outbox::new(config.send_queue, shared.backlog.clone()));
    let peer = Peer {
        addr,
        trusted,
        outbox: outbox.clone(),
    };
    if events.send(Event::Connect { id, peer }).await.is_err() {
        return; // The server is shutting down.
    }
    let writer = runtime::spawn(writer_loop(writer, tcp, outbox.clone()));
    let why = reader_loop(id, reader, &events, config, tokens).await;
    outbox.reader_done();
    // Send fails only when the broker has stopped, and then nobody is left to tell.
    let _ = events.send(Event::Disconnect { id, why }).await;
    writer.await;
}

/// Reads lines until the client leaves; returns why, when it was an error.
/// It only cuts frames and judges them against the length and rate limits:
/// what to answer, and whether the client is still welcome, is the
/// broker's to decide, so everything goes to it as events, in order.
///
/// The rate limit starts with `tokens` (the login lines come on top of the
/// burst; see `AddrTable::admit`), and never drops `/quit`: leaving is not
/// flooding, and a client's last line must not be lost to its burst.
async fn reader_loop<R: AsyncRead + Unpin>(
    id: ClientId,
    mut reader: R,
    events: &async_channel::Sender<Event>,
    config: &Config,
    tokens: u32,
) -> Option<String> {
    // A plain connection may be a person at `telnet`, whose Ctrl-C and
    // option negotiation are dropped before lines are cut; under TLS
    // (every connection of a server with a certificate) bytes are text.
    let mut framer = match config.tls {
        None => LineFramer::with_telnet(config.max_line_bytes),
        Some(_) => LineFramer::new(config.max_line_bytes),
    };
    let mut gate = Gate {
        id,
        events,
        limit: RateLimit::starting_with(config.rate, config.burst, tokens, Instant::now()),
        dropped: 0,
        waiting: Vec::new(),
        broker_gone: false,
    };
    // Bytes read but not framed yet: framing stops while the broker's
    // queue is full, so that what waits is the bytes as they came, not a
    // line and an event for each (a read of 16 KiB may hold hundreds).
    let mut unread: Vec<u8> = Vec::new();
    loop {
        let size = read_size(events);
        let read = read_lines(&mut reader, size, &mut framer, &mut unread, |f| {
            gate.judge(f)
        });
        let n = match read.await {
            Ok(n) => n,
            Err(e) => return Some(crate::words::io_error(&e)),
        };
        // Nothing more is read until the broker has taken it all.
        while !gate.waiting.is_empty() && !gate.broker_gone {
            // Boxed: the rare case, whose state (an event, a listener)
            // would otherwise be part of every idle connection.
            gate.broker_gone = Box::pin(send_waiting(events, &mut gate.waiting))
                .await
                .is_err();
            let taken = framer.feed_until(&unread, |f| gate.judge(f));
            unread.drain(..taken);
        }
        if unread.capacity() > 0 && unread.is_empty() {
            unread = Vec::new();
        }
        if gate.broker_gone || n == 0 {
            return None;
        }
    }
}

/// Whether a line is `/quit` (in any case, with any spaces around).
fn is_quit(bytes: &[u8]) -> bool {
    let text = bytes.trim_ascii();
    text.len() >= 5
        && text[0] == b'/'
        && text[1..5].eq_ignore_ascii_case(b"quit")
        && text[5..].first().is_none_or(|b| *b == b' ')
}

/// The reader's verdict on each frame, passed to the broker in order.
struct Gate<'a> {
    id: ClientId,
    events: &'a async_channel::Sender<Event>,
    limit: RateLimit,
    /// Lines dropped for coming too fast since the last that passed.
    dropped: u64,
    /// Events that found the broker's queue full, in order, to be sent
    /// once it has room (at most the two of one frame). Unallocated but
    /// in a burst: an idle connection holds no buffer for events.
    waiting: Vec<Event>,
    broker_gone: bool,
}

impl Gate<'_> {
    /// Judges one frame as it is cut, before anything is allocated for it:
    /// blank lines mean nothing, and over-long ones and those past the
    /// rate limit are reported without their text. Breaks when the
    /// broker's queue is full (or the broker is gone): framing stops.
    fn judge(&mut self, frame: Frame<'_>) -> ControlFlow<()> {
        let id = self.id;
        match frame {
            Frame::TooLong => self.send(Event::TooLong { id }),
            Frame::Line(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {}
            Frame::Line(bytes) if !is_quit(bytes) && !self.limit.allow(Instant::now()) => {
                self.dropped += 1;
                if self.dropped == 1 {
                    self.send(Event::TooFast { id });
                }
            }
            Frame::Line(bytes) => {
                if self.dropped > 0 {
                    let count = std::mem::take(&mut self.dropped);
                    self.send(Event::Dropped { id, count });
                }
                // Sanitizing is the room's job: it must see control
                // characters to refuse them in names.
                let text = String::from_utf8_lossy(bytes).into_owned();
                self.send(Event::Line { id, text });
            }
        }
        if self.waiting.is_empty() && !self.broker_gone {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    /// Passes an event to the broker without waiting: kept in `waiting` if
    /// the broker's queue is full or others already wait (order is kept).
    fn send(&mut self, event: Event) {
        if !self.waiting.is_empty() {
            self.waiting.push(event);
            return;
        }
        match self.events.try_send(event) {
            Ok(()) => {}
            Err(async_channel::TrySendError::Full(event)) => self.waiting.push(event),
            Err(async_channel::TrySendError::Closed(_)) => self.broker_gone = true,
        }
    }
}

/// Sends the events that found the queue full, waiting for room (TCP then
/// pushes back on the client, whose socket is not read meanwhile). Fails
/// only once the broker is gone.
async fn send_waiting(
    events: &async_channel::Sender<Event>,
    waiting: &mut Vec<Event>,
) -> Result<(), ()> {
    for event in waiting.drain(..) {
        events.send(event).await.map_err(drop)?;
    }
    Ok(())
}

/// Reads once from `reader`, at most `size` bytes (no more than
/// [`READ_CHUNK`]), into this thread's buffer and hands each frame
/// to `on_frame` (at the end of the stream, the unterminated last line).
/// If `on_frame` stops the framing, the rest of the read goes to `unread`.
/// Returns the number of bytes read: 0 at the end.
async fn read_lines<R: AsyncRead + Unpin>(
    reader: &mut R,
    size: usize,
    framer: &mut LineFramer,
    unread: &mut Vec<u8>,
    mut on_frame: impl FnMut(Frame<'_>) -> ControlFlow<()>,
) -> io::Result<usize> {
    future::poll_fn(|cx| {
        READ_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            let n = match Pin::new(&mut *reader).poll_read(cx, &mut buf[..size]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(n)) => n,
            };
            if n == 0 {
                if let Some(frame) = framer.finish() {
                    // The last frame: whether framing would stop matters not.
                    let _ = on_frame(frame);
                }
            } else {
                let text = framer.drop_telnet(&mut buf[..n]);
                let taken = framer.feed_until(&buf[..text], &mut on_frame);
                // Telnet's commands are out of it: it is fed later, as is.
                unread.extend_from_slice(&buf[taken..text]);
            }
            Poll::Ready(Ok(n))
        })
    })
    .await
}

/// Writes whatever is queued, in as few writes as it takes, until the
/// outbox ends.
async fn writer_loop<W: AsyncWrite + Unpin>(mut writer: W, tcp: TcpStream, outbox: Arc<Outbox>) {
    let mut batch = Batch::default();
    let mut kernel = KernelMeter::default();
    loop {
        let end = match outbox.next(&mut batch).await {
            Next::Write => {
                let wrote = future::poll_fn(|cx| {
                    poll_batch(cx, &mut writer, &mut batch, &outbox, &tcp, &mut kernel)
                })
                .await;
                match wrote {
                    Ok(Wrote::All) => {
                        kernel.after_batch(&outbox, &tcp);
                        outbox.written();
                        continue;
                    }
                    // Leaving while a write is stuck (a client that stopped
                    // reading, then quit): finish it if that takes less than
                    // LINGER, else give up, so the connection cannot stay
                    // open (and hold its --max-clients slot) for ever.
                    Ok(Wrote::Stuck(End::Flush)) => {
                        let finish = Box::pin(runtime::timeout(LINGER, async {
                            write_lines(&mut writer, &mut batch).await?;
                            writer.flush().await
                        }));
                        if !matches!(finish.await, Ok(Ok(()))) {
                            let _ = tcp.shutdown(Shutdown::Both);
                            return;
                        }
                        outbox.written();
                        continue;
                    }
                    // Cut off for not reading, or the client is gone: the
                    // reader notices and reports it. A failed shutdown leaves
                    // nothing to undo.
                    Ok(Wrote::Stuck(End::Drop | End::TakenOver)) | Err(_) => {
                        let _ = tcp.shutdown(Shutdown::Both);
                        return;
                    }
                }
            }
            Next::End(end) => end,
        };
        // Boxed: a few hundred bytes of state that would otherwise be part
        // of every idle connection's writer.
        return Box::pin(close(writer, tcp, &outbox, end)).await;
    }
}

/// How writing a batch ended.
enum Wrote {
    /// Every byte went out.
    All,
    /// The socket was full when the connection was told to end this way.
    Stuck(End),
}

/// Writes `batch` and flushes, unless the socket fills while the
/// connection is to end. Flushed too: a TLS session may hold the last
/// bytes of a write (when the socket was full) until it is flushed, and
/// nothing else would send them before the next line.
fn poll_batch<W: AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    writer: &mut W,
    batch: &mut Batch,
    outbox: &Outbox,
    tcp: &TcpStream,
    kernel: &mut KernelMeter,
) -> Poll<io::Result<Wrote>> {
    let progress = match poll_lines(cx, writer, batch) {
        Poll::Ready(Ok(())) => Pin::new(&mut *writer).poll_flush(cx),
        other => other,
    };
    match progress {
        Poll::Ready(Ok(())) => Poll::Ready(Ok(Wrote::All)),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => {
            kernel.blocked(outbox, tcp, batch.left());
            // Waiting on the socket: an end asked meanwhile must wake us.
            match outbox.poll_ending(cx) {
                Poll::Ready(end) => Poll::Ready(Ok(Wrote::Stuck(end))),
                Poll::Pending => Poll::Pending,
            }
        }
    }
}

/// Writes the lines of `batch`, however long it takes.
async fn write_lines<W: AsyncWrite + Unpin>(writer: &mut W, batch: &mut Batch) -> io::Result<()> {
    future::poll_fn(|cx| poll_lines(cx, writer, batch)).await
}

/// Bytes copied from a batch into one write.
const WRITE_CHUNK: usize = 16 * 1024;

/// Writes the lines of `batch` in chunks copied into this thread's write
/// buffer, so a writer holds no buffer of its own while it waits.
fn poll_lines<W: AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    writer: &mut W,
    batch: &mut Batch,
) -> Poll<io::Result<()>> {
    WRITE_BUF.with(|chunk| {
        let mut chunk = chunk.borrow_mut();
        while !batch.is_empty() {
            let filled = batch.fill(&mut chunk);
            match Pin::new(&mut *writer).poll_write(cx, &chunk[..filled]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(written)) => batch.consume(written),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    })
}

/// How often a writer that is keeping up asks the kernel how much it still
/// holds for the client. Asking is a system call; after every batch it was
/// a tenth of the server's time with many small batches.
const KERNEL_RECHECK: Duration = Duration::from_millis(10);

/// What the kernel holds unsent for a client counts against its queue
/// (`--send-queue`). It matters when the socket fills, so it is read when a
/// write has to wait, and otherwise at most every [`KERNEL_RECHECK`].
#[derive(Default)]
struct KernelMeter {
    /// When it was last read.
    read_at: Option<Instant>,
    /// A write of the current batch had to wait: the socket was full.
    blocked: bool,
}

impl KernelMeter {
    /// The socket is full with `left` bytes of the batch to go: read what
    /// the kernel holds now, while the write waits.
    fn blocked(&mut self, outbox: &Outbox, tcp: &TcpStream, left: usize) {
        self.blocked = true;
        self.read_at = Some(Instant::now());
        outbox.blocked(left, runtime::unsent_in_kernel(tcp));
    }

    /// A batch was written: read again if it waited or the last reading is old.
    fn after_batch(&mut self, outbox: &Outbox, tcp: &TcpStream) {
        let now = Instant::now();
        let stale = self
            .read_at
            .is_none_or(|at| now.duration_since(at) >= KERNEL_RECHECK);
        if std::mem::take(&mut self.blocked) || stale {
            self.read(outbox, tcp, now);
        }
    }

    fn read(&mut self, outbox: &Outbox, tcp: &TcpStream, now: Instant) {
        outbox.set_in_kernel(runtime::unsent_in_kernel(tcp));
        self.read_at = Some(now);
    }
}

/// Ends the connection as the broker asked. Every step is bounded in time
/// and best effort: the socket is shut down at the end whatever happened.
async fn close<W: AsyncWrite + Unpin>(mut writer: W, tcp: TcpStream, outbox: &Outbox, end: End) {
    match end {
        End::Flush => {
            // Close our side (TLS: close_notify, then FIN), then let the
            // client close, so that it reads our last lines rather than a reset.
            let _ = runtime::timeout(LINGER, writer.close()).await;
            let _ = runtime::timeout(LINGER, outbox.reader_finished()).await;
        }
        End::Drop | End::TakenOver => {
            let notice = match end {
                End::TakenOver => reply::RESUMED_ELSEWHERE,
                _ => reply::TOO_SLOW,
            };
            let line = format!("{notice}\n");
            let _ = runtime::timeout(DROP_NOTICE_TIME, writer.write_all(line.as_bytes())).await;
            let _ = runtime::timeout(DROP_NOTICE_TIME, writer.flush()).await;
        }
    }
    let _ = tcp.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A writer that, like a TLS session over a full socket, accepts bytes
    /// but sends them only when flushed.
    struct HoldsUntilFlushed {
        held: Vec<u8>,
        sent: Arc<Mutex<Vec<u8>>>,
    }

    impl AsyncWrite for HoldsUntilFlushed {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.held.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> Poll<io::Result<()>> {
            let held = std::mem::take(&mut self.held);
            self.sent.lock().expect("not poisoned").extend(held);
            Poll::Ready(Ok(()))
        }

        fn poll_close(
            self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> Poll<io::Result<()>> {
            self.poll_flush(cx)
        }
    }

    /// A socket connected over loopback (its peer is never accepted).
    async fn loopback() -> TcpStream {
        let listener = runtime::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        TcpStream::connect(addr).await.expect("connect")
    }

    #[test]
    fn each_batch_is_flushed_without_waiting_for_the_next() {
        runtime::block_on(async {
            let tcp = loopback().await;
            let sent = Arc::new(Mutex::new(Vec::new()));
            let writer = HoldsUntilFlushed {
                held: Vec::new(),
                sent: sent.clone(),
            };
            let backlog = Arc::new(super::super::outbox::Backlog::new(0, usize::MAX));
            let outbox = Arc::new(Outbox::new(1024, backlog.clone()));
            let task = runtime::spawn(writer_loop(writer, tcp, outbox.clone()));
            let mut tally = super::super::outbox::Tally::default();
            outbox
                .push_own("hello", &mut tally)
                .expect("room for one line");
            backlog.settle(tally);
            let deadline = Instant::now() + Duration::from_secs(5);
            while sent.lock().expect("not poisoned").as_slice() != b"hello\n" {
                assert!(
                    Instant::now() < deadline,
                    "the line was written but never flushed"
                );
                runtime::sleep(Duration::from_millis(5)).await;
            }
            // No reader to wait for: the writer closes at once.
            outbox.reader_done();
            outbox.end(End::Flush);
            let _ = runtime::timeout(Duration::from_secs(5), task).await;
        });
    }

    /// Every idle connection holds its reader's and its writer's state
    /// and an outbox: thousands of them make the server's memory (S4:
    /// 2.4 KB a connection in all, with these sizes).
    #[test]
    fn an_idle_connections_reader_writer_and_outbox_stay_small() {
        runtime::block_on(async {
            let tcp = loopback().await;
            let backlog = Arc::new(super::super::outbox::Backlog::new(0, usize::MAX));
            let outbox = Arc::new(Outbox::new(1024, backlog));
            let writer = writer_loop(runtime::FinOnClose(tcp.clone()), tcp.clone(), outbox);
            let (events, _broker) = async_channel::bounded(1);
            let config = Config::default();
            let reader = reader_loop(1, tcp, &events, &config, 42);
            let sizes = (
                std::mem::size_of_val(&reader),
                std::mem::size_of_val(&writer),
                std::mem::size_of::<Outbox>(),
            );
            assert!(
                sizes.0 <= 384 && sizes.1 <= 256 && sizes.2 <= 96,
                "reader, writer, outbox: {sizes:?} bytes"
            );
        });
    }
}
