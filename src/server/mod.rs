//! `sockchat serve`: the accept loop and graceful shutdown ([`run`]), with
//! the limits in [`Config`]. Start-up (flags, files, signals, the banner) is
//! the application's, in `app::serve`.
//!
//! Tasks: one accept loop (here), one broker ([`broker`]) that owns the
//! [`lobby`] (connections, logins, names, sessions, private messages) and
//! through it every [`room`], and per connection a reader and a writer
//! ([`peer`]). Each line is read once, into a [`command::Command`]. In a
//! TLS room each connection's task first does its own handshake
//! ([`handshake`]), so a slow or hostile one never holds up the accept loop.

pub mod addrs;
mod away;
mod backoff;
mod blocks;
pub mod broker;
pub mod client_id;
pub mod command;
mod config;
mod deadline;
mod desk;
mod handshake;
mod kept;
pub mod lobby;
pub mod log;
pub mod mailbox;
mod meters;
pub mod outbox;
pub mod peer;
pub mod room;
mod sessions;
mod status_line;
pub mod throttle;
pub mod trim;

pub use config::{defaults, Config};
pub use lobby::Streams;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::{self, Either};
use futures::FutureExt;

use crate::protocol::message::reply;
use crate::runtime::{self, FinOnClose, TcpListener, TcpStream, WriteExt};
use addrs::{AddrTable, Notice, Refusal};
use broker::{broker_loop, Event};
use log::Log;
use outbox::Backlog;
use peer::LINGER;

/// What every connection task shares.
pub struct Shared {
    /// Read once at start; every part borrows it.
    pub config: Arc<Config>,
    /// Unsent bytes in the whole room (see [`Backlog`]).
    pub backlog: Arc<Backlog>,
    /// Tells the accept loop, which keeps the per-address counts, what
    /// became of a connection. Unbounded, yet bounded in practice: each
    /// connection sends at most three notices in its life.
    pub notices: async_channel::Sender<Notice>,
}

/// Bytes of lines that may wait for the broker, from all connections
/// together. When the queue is full, readers wait, and TCP pushes back on
/// the clients. Counted in lines of the longest length allowed, so it
/// holds 1024 lines at the default `--max-line-bytes` (4 KiB).
const EVENT_QUEUE_BYTES: usize = 4 << 20;

/// The event queue's length: [`EVENT_QUEUE_BYTES`] of the longest lines.
fn event_queue(max_line_bytes: usize) -> usize {
    (EVENT_QUEUE_BYTES / max_line_bytes.max(1)).clamp(4, 1024)
}

/// The most time shutdown spends flushing queued lines to clients: as
/// long as a closing connection lingers for its client to close.
const SHUTDOWN_FLUSH: Duration = LINGER;

/// How long to back off when `accept` fails (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Refusals told inside TLS at once (each costs a handshake); past this,
/// a refused TLS connection is closed without a word.
const TLS_REFUSALS: usize = 64;

/// Hosts the per-address table remembers beyond `--max-clients`.
const SPARE_HOSTS: usize = 4096;

/// What woke the accept loop.
enum Woke {
    Accepted(io::Result<(TcpStream, SocketAddr)>),
    Notice(Notice),
    Shutdown,
}

/// Serves the room on `listener` until `shutdown` resolves, then tells every
/// client, flushes for a bounded time and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    log: Log,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let streams = Streams::memory(config.history);
    run_with(listener, config, streams, log, shutdown).await
}

/// [`run`], keeping what is said in `streams` (a store, say; a lone
/// stream is `#main`'s).
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    streams: impl Into<Streams>,
    log: Log,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let backlog = Arc::new(Backlog::new(throttle::DEFAULT.high / 2, config.send_budget));
    let (notices, notices_in) = async_channel::unbounded();
    let config = Arc::new(config);
    let limits = addr_limits(&config);
    let shared = Arc::new(Shared {
        config: Arc::clone(&config),
        backlog: backlog.clone(),
        notices: notices.clone(),
    });
    // A channel whose capacity is exact: futures' mpsc adds a slot for
    // every sender, and every connection holds one.
    let (events, broker_events) = async_channel::bounded(event_queue(shared.config.max_line_bytes));
    let broker = runtime::spawn(broker_loop(
        broker_events,
        config,
        streams.into(),
        backlog,
        notices,
        log.clone(),
    ));
    // Every connection task holds a clone of `alive`; when the last is
    // dropped, `all_done` closes. That is how shutdown waits for them.
    // (An async-channel sender's clone is a count, not an allocation.)
    let (alive, all_done) = async_channel::bounded::<()>(1);
    let mut acceptor = Acceptor {
        table: AddrTable::new(limits),
        wave: trim::Wave::new(trim::LEAST_PEAK),
        connections: Arc::new(AtomicUsize::new(0)),
        tls_refusals: Arc::new(AtomicUsize::new(0)),
        next_id: 0,
        accept_failing: false,
        events,
        alive,
        shared,
        log,
    };

    acceptor.serve(&listener, &notices_in, shutdown).await;
    acceptor
        .log
        .warn("Server: shutting down (Ctrl-C again to quit at once)");

    // Shutdown, in order: stop accepting (drop the listener); the broker
    // tells everyone and ends every outbox; each writer flushes, sends FIN
    // and closes; then the connection tasks end. Wait for them, bounded.
    drop(listener);
    let Acceptor { events, alive, .. } = acceptor;
    // Fails only if the broker already ended: then there is no one to tell.
    let _ = events.send(Event::Shutdown).await;
    drop(events);
    broker.await;
    drop(alive);
    // Bounded: a connection still open after this is cut off when we exit.
    let _ = runtime::timeout(SHUTDOWN_FLUSH + Duration::from_millis(500), all_done.recv()).await;
    Ok(())
}

/// The limits per address, as the accept loop applies them.
fn addr_limits(config: &Config) -> addrs::Limits {
    addrs::Limits {
        per_host: config.max_per_addr,
        pending_per_host: config.max_pending_per_addr,
        connect_rate: config.connect_rate,
        connect_burst: config.connect_burst,
        handshakes_per_host: config.max_handshakes_per_addr,
        handshakes: config.max_handshakes,
        burst: config.burst,
        login_lines: if config.password.is_some() { 2 } else { 1 },
        hosts: config.max_clients + SPARE_HOSTS,
    }
}

/// The accept loop's state: what it lets in, and what it counts to decide.
struct Acceptor {
    /// Connections and handshakes per address (only this loop touches it).
    table: AddrTable,
    /// When a crowd has left, so that its memory is given back.
    wave: trim::Wave,
    /// Connections open now, for `--max-clients`.
    connections: Arc<AtomicUsize>,
    /// Refusals being told inside TLS now (see [`TLS_REFUSALS`]).
    tls_refusals: Arc<AtomicUsize>,
    /// The last connection's id.
    next_id: client_id::ClientId,
    /// Whether `accept` failed last time, so a streak is logged once.
    accept_failing: bool,
    events: async_channel::Sender<Event>,
    /// Held by every connection task; see `run`.
    alive: async_channel::Sender<()>,
    shared: Arc<Shared>,
    log: Log,
}

impl Acceptor {
    /// Accepts connections and reads notices until `shutdown` resolves.
    async fn serve(
        &mut self,
        listener: &TcpListener,
        notices_in: &async_channel::Receiver<Notice>,
        shutdown: impl Future<Output = ()>,
    ) {
        futures::pin_mut!(shutdown);
        loop {
            let woke = {
                let accept = listener.accept();
                let notice = notices_in.recv();
                futures::pin_mut!(accept, notice);
                // Notices first: a connection that logged in (and was told so)
                // must no longer count as pending when the same host's next
                // connection is judged.
                match future::select(future::select(notice, accept), shutdown.as_mut()).await {
                    Either::Left((Either::Left((Ok(notice), _)), _)) => Woke::Notice(notice),
                    // Never: the acceptor itself holds a sender (in `shared`).
                    Either::Left((Either::Left((Err(_), _)), _)) => Woke::Shutdown,
                    Either::Left((Either::Right((accepted, _)), _)) => Woke::Accepted(accepted),
                    Either::Right(((), _)) => Woke::Shutdown,
                }
            };
            match woke {
                Woke::Accepted(Ok((stream, addr))) => self.accepted(stream, addr),
                Woke::Accepted(Err(e)) => {
                    self.failed(&e);
                    runtime::sleep(ACCEPT_BACKOFF).await;
                }
                Woke::Notice(notice) => self.notice(notice),
                Woke::Shutdown => break,
            }
        }
    }

    /// A connection came in: refuse it with a reason, or start its task.
    fn accepted(&mut self, stream: TcpStream, addr: SocketAddr) {
        let config = &self.shared.config;
        let log = &self.log;
        if self.accept_failing {
            log.good("Server: accepting connections again");
            self.accept_failing = false;
        }
        self.next_id += 1;
        let id = self.next_id;
        if self.connections.load(Ordering::Relaxed) >= config.max_clients {
            log.warn(format!(
                "Server: refused {addr}: room full ({} connections)",
                config.max_clients
            ));
            let line = reply::room_full(config.max_clients);
            refuse(stream, line, config.tls.clone(), &self.tls_refusals);
            return;
        }
        let trusted = config.trusted.iter().any(|net| net.contains(addr.ip()));
        let now = std::time::Instant::now();
        let tls = config.tls.is_some();
        let tokens = match self.table.admit(id, addr.ip(), trusted, tls, now) {
            Ok(tokens) => tokens,
            Err(refusal) => {
                log.warn(format!("Server: refused {addr}: {refusal}"));
                let line = refusal_line(refusal);
                refuse(stream, line, config.tls.clone(), &self.tls_refusals);
                return;
            }
        };
        log.good(format!("Server: Connection from {addr}"));
        tune(&stream, config.socket_send_buffer, log);
        let done = Done {
            id,
            count: Counted::new(self.connections.clone()),
            gone: self.shared.notices.clone(),
            alive: self.alive.clone(),
        };
        let arrival = Arrival {
            id,
            addr,
            tokens,
            trusted,
        };
        let task = connection(
            arrival,
            stream,
            self.events.clone(),
            self.shared.clone(),
            log.clone(),
        );
        runtime::spawn(done.after(task));
    }

    /// `accept` failed: out of descriptors, say. The connection waits in
    /// the kernel's queue until one is free. Said once per streak.
    fn failed(&mut self, e: &io::Error) {
        if !self.accept_failing {
            self.log.error(format!(
                "Server: accept failed: {}; retrying",
                crate::words::io_error(e)
            ));
            self.accept_failing = true;
        }
    }

    /// What became of a connection, for the per-address counts.
    fn notice(&mut self, notice: Notice) {
        self.table.notice(notice, std::time::Instant::now());
        let live = self.connections.load(Ordering::Relaxed);
        if matches!(notice, Notice::Gone(_)) && self.wave.note(live) {
            trim::give_back();
        }
    }
}

/// A connection the accept loop let in.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// The connection's id, for its whole life.
    pub id: client_id::ClientId,
    /// Where it comes from.
    pub addr: SocketAddr,
    /// The message tokens its reader starts with (see [`AddrTable::admit`]).
    pub tokens: u32,
    /// Whether it comes from a trusted network (`--trust-addr`).
    pub trusted: bool,
}

/// Serves one accepted connection: as it is, or over TLS once the
/// handshake (done here, in the connection's own task) has succeeded.
async fn connection(
    arrival: Arrival,
    stream: TcpStream,
    events: async_channel::Sender<Event>,
    shared: Arc<Shared>,
    log: Log,
) {
    let Some(tls) = shared.config.tls.clone() else {
        let (reader, writer) = (stream.clone(), FinOnClose(stream.clone()));
        peer::connection(arrival, reader, writer, stream, events, shared).await;
        return;
    };
    // Boxed: a TLS session's state is several KB. Inline, it would make
    // every connection's task that large, TLS or not (S4: 3 KB -> 7.6 KB
    // per idle plain client).
    Box::pin(handshake::tls_connection(
        arrival, tls, stream, events, shared, log,
    ))
    .await;
}

/// The line a connection refused for `refusal` is sent.
fn refusal_line(refusal: Refusal) -> String {
    match refusal {
        Refusal::TooMany(n) => reply::too_many_from_address(n),
        Refusal::TooManyPending(n) => reply::too_many_logging_in(n),
        Refusal::TooFast => reply::CONNECTING_TOO_FAST.to_string(),
        Refusal::TooManyHandshakes(_) | Refusal::HandshakesFull(_) => {
            reply::TOO_MANY_HANDSHAKES.to_string()
        }
    }
}

/// Nagle off: lines go out as soon as the writer has them (the writer
/// batches by itself). Keepalive on: a peer that vanished without a FIN is
/// found and its connection cleaned up. The kernel's send buffer capped
/// (`--socket-send-buffer`): left to itself it grows to 4 MiB for a client
/// that does not read, and 500 such clients pinned 1.4 GiB of the host's
/// memory that the server's own limits never saw.
fn tune(stream: &TcpStream, send_buffer: usize, log: &Log) {
    if let Err(e) = stream.set_nodelay(true) {
        log.error(format!(
            "Server: could not set TCP_NODELAY: {}",
            crate::words::io_error(&e)
        ));
    }
    if send_buffer > 0 {
        if let Err(e) = runtime::set_send_buffer(stream, send_buffer) {
            log.error(format!(
                "Server: could not cap the socket send buffer: {}",
                crate::words::io_error(&e)
            ));
        }
    }
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(5);
    if let Err(e) = runtime::set_keepalive(stream, &keepalive) {
        log.error(format!(
            "Server: could not enable TCP keepalive: {}",
            crate::words::io_error(&e)
        ));
    }
}

/// Tells a connection over a limit why (inside TLS in a TLS room, so that
/// `join --tls` can say it), and closes it. At most [`TLS_REFUSALS`] TLS
/// refusals at once: past that, the connection is just closed.
fn refuse(
    stream: TcpStream,
    line: String,
    tls: Option<Arc<futures_rustls::rustls::ServerConfig>>,
    tls_refusals: &Arc<AtomicUsize>,
) {
    let Some(tls) = tls else {
        runtime::spawn(refuse_plain(stream, line));
        return;
    };
    if tls_refusals.load(Ordering::Relaxed) >= TLS_REFUSALS {
        // Dropping the stream closes it.
        return;
    }
    let count = Counted::new(tls_refusals.clone());
    runtime::spawn(async move {
        Box::pin(handshake::refuse_in_tls(tls, stream, line)).await;
        drop(count);
    });
}

/// [`refuse`] in plain text.
async fn refuse_plain(mut stream: TcpStream, line: String) {
    let line = format!("{line}\n");
    // Best effort: the connection is refused either way.
    let _ = runtime::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// What a connection's task does once the connection is over.
struct Done {
    id: client_id::ClientId,
    count: Counted,
    gone: async_channel::Sender<Notice>,
    alive: async_channel::Sender<()>,
}

impl Done {
    /// `task`, then the accept loop told it is gone. `map`, not `async
    /// move { task.await; … }`: an async block holds the future it awaits
    /// twice (captured, and as awaited), which made every connection's
    /// task twice the connection's state (S4: 2.55 KB an idle client, 1.91
    /// KB with `map`).
    fn after(self, task: impl Future<Output = ()>) -> impl Future<Output = ()> {
        task.map(move |()| {
            let Done {
                id,
                count,
                gone,
                alive,
            } = self;
            // Uncounted first, so that the accept loop sees it gone from
            // the count when it reads the notice.
            drop(count);
            // Fails only once the accept loop has ended: nothing to count.
            let _ = gone.try_send(Notice::Gone(id));
            drop(alive);
        })
    }
}

/// Counts a live connection for as long as it is held.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Counted(count)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection's task is as large as the largest state of its
    /// future; thousands of idle clients make that the server's memory.
    /// (A TLS session inline made it 7.6 KB per plain client, not 3 KB.)
    /// Its reader's state is most of it (see `peer`'s size test).
    #[test]
    fn a_connection_task_stays_small() {
        runtime::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("local addr");
            let stream = TcpStream::connect(addr).await.expect("connect");
            let (events, _broker) = async_channel::bounded(1);
            let shared = Arc::new(Shared {
                config: Arc::new(Config::default()),
                backlog: Arc::new(Backlog::new(0, usize::MAX)),
                notices: async_channel::unbounded().0,
            });
            let arrival = Arrival {
                id: 1,
                addr,
                tokens: 42,
                trusted: true,
            };
            let task = connection(arrival, stream, events, shared, Log::silent());
            let size = std::mem::size_of_val(&task);
            assert!(size <= 640, "a connection's future is {size} bytes");
            // What is spawned is no more than the connection and its
            // bookkeeping (not the connection twice over).
            let done = Done {
                id: 1,
                count: Counted::new(Arc::new(AtomicUsize::new(0))),
                gone: async_channel::unbounded().0,
                alive: async_channel::bounded(1).0,
            };
            let spawned = std::mem::size_of_val(&done.after(task));
            assert!(
                spawned <= size + 64,
                "a connection's task is {spawned} bytes for a {size}-byte connection"
            );
        });
    }
}
