//! `sockchat serve`: the accept loop, and start-up and shutdown around it.
//!
//! Tasks: one accept loop (here), one broker that owns the room
//! ([`broker`]), and per connection a reader and a writer ([`peer`]). In a
//! TLS room each connection's task first does its own handshake, so a slow
//! or hostile one never holds up the accept loop.

pub mod broker;
pub mod log;
pub mod outbox;
pub mod peer;
pub mod rate;
pub mod room;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::channel::mpsc;
use futures::future::{self, Either};
use futures::{SinkExt, StreamExt};

use crate::cli::ServeArgs;
use crate::protocol::message::reply;
use crate::protocol::password::Password;
use crate::runtime::{self, FinOnClose, ReadExt, TcpListener, TcpStream, WriteExt};
use crate::tls::{self, ServerTls, TlsAcceptor};
use broker::{broker_loop, Event};
use log::Log;
use outbox::Backlog;

/// The server's limits (see `sockchat serve --help`).
#[derive(Debug, Clone)]
pub struct Config {
    pub max_line_bytes: usize,
    pub max_clients: usize,
    pub login_timeout: Duration,
    pub send_queue: usize,
    pub rate: u32,
    pub burst: u32,
    /// Joins and leaves are announced while at most this many are online (0: always).
    pub announce_max: usize,
    /// Speak TLS on every connection with this config; None: plain TCP.
    pub tls: Option<Arc<futures_rustls::rustls::ServerConfig>>,
    /// What a connection must give before a name; None: an open room.
    pub password: Option<Password>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line_bytes: 4096,
            max_clients: 10_000,
            login_timeout: Duration::from_secs(60),
            send_queue: 1 << 20,
            rate: 20,
            burst: 40,
            announce_max: 200,
            tls: None,
            password: None,
        }
    }
}

impl From<&ServeArgs> for Config {
    fn from(args: &ServeArgs) -> Self {
        Config {
            max_line_bytes: args.max_line_bytes as usize,
            max_clients: args.max_clients as usize,
            login_timeout: args.login_timeout(),
            send_queue: args.send_queue as usize,
            rate: args.rate,
            burst: args.burst,
            announce_max: args.announce_max as usize,
            // Reading files can fail: `serve` fills these in.
            tls: None,
            password: None,
        }
    }
}

/// What every connection task shares.
pub struct Shared {
    pub config: Config,
    /// Unsent bytes in the whole room (see [`Backlog`]).
    pub backlog: Arc<Backlog>,
}

/// Above this many unsent bytes in the room, the broker pauses briefly
/// before taking the next event (see [`Backlog`]).
const ROOM_BACKLOG: usize = 2 << 20;

/// Lines waiting for the broker, from all connections together. When it is
/// full, readers wait, and TCP pushes back on the clients.
const EVENT_QUEUE: usize = 1024;

/// The most time shutdown spends flushing queued lines to clients.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// How long to back off when `accept` fails (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a plain-text client on a TLS port has to read why it is closed.
const HINT_LINGER: Duration = Duration::from_secs(2);

/// Serves the room on `listener` until `shutdown` resolves, then tells every
/// client, flushes for a bounded time and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    log: Log,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let backlog = Arc::new(Backlog::new(ROOM_BACKLOG));
    let shared = Arc::new(Shared {
        config,
        backlog: backlog.clone(),
    });
    let config = &shared.config;
    let (events, broker_events) = mpsc::channel(EVENT_QUEUE);
    let greeting = match config.password {
        Some(_) => reply::PASSWORD_GREETING,
        None => reply::GREETING,
    };
    let broker = runtime::spawn(broker_loop(
        broker_events,
        vec![greeting.to_string()],
        config.announce_max,
        backlog,
        config.password.clone(),
        log.clone(),
    ));
    // Every connection task holds a clone of `alive`; when the last is
    // dropped, `all_done` ends. That is how shutdown waits for them.
    let (alive, mut all_done) = mpsc::channel::<()>(0);
    let connections = Arc::new(AtomicUsize::new(0));
    let mut next_id = 0;
    let mut accept_failing = false;

    futures::pin_mut!(shutdown);
    loop {
        let accepted = match future::select(Box::pin(listener.accept()), shutdown.as_mut()).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right(((), _)) => break,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, say: the connection waits in the
                // kernel's queue until one is free. Say so once per streak.
                if !accept_failing {
                    log.error(format!("Server: accept failed: {e}; retrying"));
                    accept_failing = true;
                }
                runtime::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if accept_failing {
            log.good("Server: accepting connections again");
            accept_failing = false;
        }
        next_id += 1;
        if connections.load(Ordering::Relaxed) >= config.max_clients {
            log.warn(format!(
                "Server: refused {addr}: room full ({} connections)",
                config.max_clients
            ));
            runtime::spawn(refuse(stream, config.max_clients));
            continue;
        }
        log.good(format!("Server: Connection from {addr}"));
        tune(&stream, &log);
        let count = Counted::new(connections.clone());
        let alive = alive.clone();
        let task = connection(
            next_id,
            stream,
            addr,
            events.clone(),
            shared.clone(),
            log.clone(),
        );
        runtime::spawn(async move {
            task.await;
            drop((count, alive));
        });
    }

    // Shutdown, in order: stop accepting (drop the listener); the broker
    // tells everyone and ends every outbox; each writer flushes, sends FIN
    // and closes; then the connection tasks end. Wait for them, bounded.
    drop(listener);
    let mut events = events;
    let _ = events.send(Event::Shutdown).await;
    drop(events);
    broker.await;
    drop(alive);
    let _ = runtime::timeout(SHUTDOWN_FLUSH + Duration::from_millis(500), all_done.next()).await;
    Ok(())
}

/// Serves one accepted connection: as it is, or over TLS once the
/// handshake (done here, in the connection's own task) has succeeded.
async fn connection(
    id: room::ClientId,
    stream: TcpStream,
    addr: SocketAddr,
    events: mpsc::Sender<Event>,
    shared: Arc<Shared>,
    log: Log,
) {
    let Some(tls) = shared.config.tls.clone() else {
        let (reader, writer) = (stream.clone(), FinOnClose(stream.clone()));
        peer::connection(id, reader, writer, stream, addr, events, shared).await;
        return;
    };
    // Boxed: a TLS session's state is several KB. Inline, it would make
    // every connection's task that large, TLS or not (S4: 3 KB -> 7.6 KB
    // per idle plain client).
    Box::pin(tls_connection(id, tls, stream, addr, events, shared, log)).await;
}

/// [`connection`] over TLS: the handshake, then the chat.
async fn tls_connection(
    id: room::ClientId,
    tls: Arc<futures_rustls::rustls::ServerConfig>,
    stream: TcpStream,
    addr: SocketAddr,
    events: mpsc::Sender<Event>,
    shared: Arc<Shared>,
    log: Log,
) {
    let limit = tls::HANDSHAKE_TIMEOUT.min(shared.config.login_timeout);
    let session = match runtime::timeout(limit, start_tls(tls, &stream, addr, &log)).await {
        Ok(Started::Tls(session)) => session,
        Ok(Started::Failed) => return,
        // Outside the handshake's time limit: the hint has a limit of its own.
        Ok(Started::PlainText) => {
            tell_plain_and_close(stream, reply::TLS_REQUIRED).await;
            return;
        }
        Err(_) => {
            log.warn(format!(
                "Server: {addr} did not finish a TLS handshake within {} s; closed",
                limit.as_secs()
            ));
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
    };
    // Reader and writer each take a half; `stream` stays to cut the socket off.
    let (reader, writer) = futures::io::AsyncReadExt::split(session);
    let reader = Truncation(reader);
    peer::connection(id, reader, writer, stream, addr, events, shared).await;
}

/// Says in plain words when a TLS client hung up without `close_notify`
/// (rustls's own text points to its manual). Still an error: an unfinished
/// last line could have been cut by someone on the path, so it is not relayed.
struct Truncation<R>(R);

impl<R: futures::AsyncRead + Unpin> futures::AsyncRead for Truncation<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0)
            .poll_read(cx, buf)
            .map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    let why =
                        "the client closed the connection without ending TLS (no close_notify)";
                    io::Error::new(io::ErrorKind::UnexpectedEof, why)
                } else {
                    e
                }
            })
    }
}

/// How the start of a TLS connection went.
enum Started {
    /// Boxed: a session is large, and the other outcomes are nothing.
    Tls(Box<futures_rustls::server::TlsStream<FinOnClose>>),
    /// The first byte cannot start a handshake: most likely a person with
    /// `nc` or a plain `sockchat join`, to be told in plain text.
    PlainText,
    /// Gone, or the handshake failed (logged).
    Failed,
}

/// The server's side of a TLS handshake.
async fn start_tls(
    config: Arc<futures_rustls::rustls::ServerConfig>,
    stream: &TcpStream,
    addr: SocketAddr,
    log: &Log,
) -> Started {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) => {
            log.warn(format!("Server: {addr} disconnected before starting TLS"));
            return Started::Failed;
        }
        Ok(_) if !tls::starts_handshake(first[0]) => {
            log.warn(format!(
                "Server: {addr} spoke plain text to this TLS room; told it to use TLS and closed"
            ));
            return Started::PlainText;
        }
        Ok(_) => {}
        Err(e) => {
            log.error(format!("Server: connection {addr} failed: {e}"));
            return Started::Failed;
        }
    }
    match TlsAcceptor::from(config)
        .accept(FinOnClose(stream.clone()))
        .await
    {
        Ok(session) => Started::Tls(Box::new(session)),
        Err(e) => {
            let why = tls::describe_server_error(&e);
            log.warn(format!("Server: TLS handshake with {addr} failed: {why}"));
            let _ = stream.shutdown(std::net::Shutdown::Both);
            Started::Failed
        }
    }
}

/// Sends one plain line, closes our side, and waits (briefly) for the client
/// to close too: closing with its unread bytes pending would reset the
/// connection, and the line could be lost.
async fn tell_plain_and_close(mut stream: TcpStream, line: &str) {
    let line = format!("{line}\n");
    let _ = runtime::timeout(HINT_LINGER, stream.write_all(line.as_bytes())).await;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 1024];
    let drain = async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = runtime::timeout(HINT_LINGER, drain).await;
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Nagle off: lines go out as soon as the writer has them (the writer
/// batches by itself). Keepalive on: a peer that vanished without a FIN is
/// found and its connection cleaned up.
fn tune(stream: &TcpStream, log: &Log) {
    if let Err(e) = stream.set_nodelay(true) {
        log.error(format!("Server: could not set TCP_NODELAY: {e}"));
    }
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(5);
    if let Err(e) = runtime::set_keepalive(stream, &keepalive) {
        log.error(format!("Server: could not enable TCP keepalive: {e}"));
    }
}

/// Tells a connection over the limit why, and closes it.
async fn refuse(mut stream: TcpStream, max: usize) {
    let line = format!("{}\n", reply::room_full(max));
    let _ = runtime::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
    let _ = stream.shutdown(std::net::Shutdown::Both);
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

/// `sockchat serve`: bind, print where the room is, serve until Ctrl-C.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let color = crate::color_allowed(std::io::stderr());
    let status = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let addr = format!("{}:{}", bracket_v6(&args.host), args.port);
    runtime::block_on(async {
        let mut config = Config::from(&args);
        let secret = args.password()?;
        if let Some(secret) = &secret {
            if secret.len() > config.max_line_bytes {
                bail!(
                    "cannot use the password: it is longer than --max-line-bytes ({} bytes)",
                    config.max_line_bytes
                );
            }
        }
        config.password = secret.as_ref().map(Password::new);
        let tls = server_tls(&args)?;
        config.tls = tls.as_ref().map(|tls| tls.config.clone());
        let listener = TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener
            .local_addr()
            .with_context(|| format!("cannot read the address bound for {addr}"))?;
        // Handler first, banner second: a script that stops the server as
        // soon as it sees the banner must get a graceful shutdown.
        let shutdown =
            signals::shutdown_requested().context("cannot install the Ctrl-C handler")?;
        print_banner(local, tls.as_ref(), secret.is_some());
        let log = Log::console(color, status);
        let result = run(listener, config, log.clone(), shutdown).await;
        log.finish();
        result.context("server failed")
    })
}

mod signals {
    //! SIGINT/SIGTERM: the first asks for a graceful shutdown, a second
    //! one exits at once.
    use futures::channel::oneshot;
    use futures::FutureExt;
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    pub fn shutdown_requested() -> std::io::Result<impl std::future::Future<Output = ()>> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let (tx, rx) = oneshot::channel::<()>();
        std::thread::spawn(move || {
            let mut first = Some(tx);
            for _ in signals.forever() {
                match first.take() {
                    Some(tx) => {
                        eprintln!("Server: shutting down (Ctrl-C again to quit at once)");
                        let _ = tx.send(());
                    }
                    None => std::process::exit(130),
                }
            }
        });
        Ok(rx.map(|_| ()))
    }
}

/// `::1` must be written `[::1]` before `:port`.
fn bracket_v6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// The TLS setup `serve` was asked for, if any.
fn server_tls(args: &ServeArgs) -> anyhow::Result<Option<ServerTls>> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        return tls::load_server(cert, key).map(Some);
    }
    if !args.tls_self_signed {
        return Ok(None);
    }
    // Names are for show: clients pin the fingerprint, not a name.
    let mut names = vec!["localhost".to_string()];
    let host = args.host.trim_start_matches('[').trim_end_matches(']');
    let bound: Option<std::net::IpAddr> = host.parse().ok();
    match bound {
        Some(ip) if ip.is_unspecified() => {
            names.extend(["127.0.0.1".to_string(), "::1".to_string()]);
            names.extend(
                addresses::reachable(ip.is_ipv6())
                    .iter()
                    .map(|ip| ip.to_string()),
            );
        }
        _ if host != "localhost" => names.push(host.to_string()),
        _ => {}
    }
    tls::self_signed(names).map(Some)
}

/// Says where the room is; for an all-interfaces bind, the addresses others
/// can use. In a TLS room it prints the certificate's fingerprint, and the
/// join commands carry the TLS flags they need (a self-signed certificate
/// is pinned by its fingerprint).
fn print_banner(local: SocketAddr, tls: Option<&ServerTls>, password: bool) {
    println!("Server is running on: {local}");
    let flags = match tls {
        None => String::new(),
        Some(tls) if tls.self_signed => format!(" --tls-fingerprint {}", tls.fingerprint),
        Some(_) => " --tls".to_string(),
    };
    if let Some(tls) = tls {
        let kind = if tls.self_signed { "self-signed " } else { "" };
        println!(
            "TLS: {kind}certificate with SHA-256 fingerprint {}",
            tls.fingerprint
        );
    }
    if password {
        println!("The room has a password: `join` asks for it (or give it with SOCKCHAT_PASSWORD or --password-file)");
    }
    let port = local.port();
    if local.ip().is_unspecified() {
        let mut any = false;
        for ip in addresses::reachable(local.is_ipv6()) {
            if !any {
                println!("Others can join with:");
                any = true;
            }
            println!("  sockchat join --host {ip} --port {port}{flags}");
        }
        if !any {
            println!("Join from this machine with: sockchat join --port {port}{flags}");
        }
    } else if tls.is_some() {
        let host = local.ip();
        println!("Join with: sockchat join --host {host} --port {port}{flags}");
    }
}

mod addresses {
    //! This machine's addresses, from its network interfaces.
    use std::net::IpAddr;

    /// Non-loopback addresses of the machine (IPv6 ones too when `v6`).
    pub fn reachable(v6: bool) -> Vec<IpAddr> {
        let Ok(interfaces) = if_addrs::get_if_addrs() else {
            return Vec::new();
        };
        let mut ips: Vec<IpAddr> = interfaces
            .iter()
            .filter(|i| !i.is_loopback())
            .map(|i| i.ip())
            .filter(|ip| v6 || ip.is_ipv4())
            .collect();
        ips.sort();
        ips.dedup();
        ips
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection's task is as large as the largest state of its
    /// future; thousands of idle clients make that the server's memory.
    /// (A TLS session inline made it 7.6 KB per plain client, not 3 KB.)
    #[test]
    fn a_connection_task_stays_small() {
        runtime::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("local addr");
            let stream = TcpStream::connect(addr).await.expect("connect");
            let (events, _broker) = mpsc::channel(1);
            let shared = Arc::new(Shared {
                config: Config::default(),
                backlog: Arc::new(Backlog::new(ROOM_BACKLOG)),
            });
            let task = connection(1, stream, addr, events, shared, Log::silent());
            let size = std::mem::size_of_val(&task);
            assert!(size <= 1024, "a connection's future is {size} bytes");
        });
    }
}
