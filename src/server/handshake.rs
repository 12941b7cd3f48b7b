//! A TLS room's side of each connection: peek at the first byte (a plain
//! text client is told, in plain text, to use TLS), run the rustls
//! handshake within a time limit, then hand the session's halves to the
//! same reader and writer that serve plain TCP.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::addrs::Notice;
use super::broker::Event;
use super::log::Log;
use super::{peer, Arrival, Shared};
use crate::protocol::message::reply;
use crate::runtime::{self, FinOnClose, ReadExt, TcpStream, WriteExt};
use crate::tls::{self, TlsAcceptor};

/// How long a plain-text client on a TLS port has to read why it is closed.
const HINT_LINGER: Duration = Duration::from_secs(2);

/// [`super::connection`] over TLS: the handshake, then the chat.
pub(super) async fn tls_connection(
    arrival: Arrival,
    tls: Arc<futures_rustls::rustls::ServerConfig>,
    stream: TcpStream,
    events: async_channel::Sender<Event>,
    shared: Arc<Shared>,
    log: Log,
) {
    let addr = arrival.addr;
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
    // Fails only once the accept loop has ended: nothing left to count.
    let _ = shared.notices.try_send(Notice::Handshaken(arrival.id));
    // Reader and writer each take a half; `stream` stays to cut the socket off.
    let (reader, writer) = futures::io::AsyncReadExt::split(session);
    let reader = Truncation(reader);
    peer::connection(arrival, reader, writer, stream, events, shared).await;
}

/// Refuses a connection inside TLS: the handshake (bounded in time), then
/// `line`, then close_notify, so that `join --tls` shows the reason
/// rather than "the server does not speak TLS".
pub(super) async fn refuse_in_tls(
    tls: Arc<futures_rustls::rustls::ServerConfig>,
    stream: TcpStream,
    line: String,
) {
    let refuse = async {
        let mut session = TlsAcceptor::from(tls)
            .accept(FinOnClose(stream.clone()))
            .await?;
        futures::AsyncWriteExt::write_all(&mut session, format!("{line}\n").as_bytes()).await?;
        futures::AsyncWriteExt::close(&mut session).await
    };
    // Best effort: the connection is refused either way.
    let _ = runtime::timeout(HINT_LINGER, refuse).await;
    let _ = stream.shutdown(std::net::Shutdown::Both);
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
                } else if tls::is_key_update_flood(&e) {
                    io::Error::new(e.kind(), tls::KEY_UPDATE_FLOOD)
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
            let why = crate::words::io_error(&e);
            log.error(format!("Server: connection {addr} failed: {why}"));
            return Started::Failed;
        }
    }
    match TlsAcceptor::from(config)
        .accept(FinOnClose(stream.clone()))
        .await
    {
        Ok(session) => Started::Tls(Box::new(session)),
        // A flood of key updates sent with the client's last handshake
        // message ends the accept, but the handshake itself succeeded.
        Err(e) if tls::is_key_update_flood(&e) => {
            let why = tls::KEY_UPDATE_FLOOD;
            log.error(format!("Server: connection {addr} failed: {why}"));
            // Closing either way: a failed shutdown leaves nothing to undo.
            let _ = stream.shutdown(std::net::Shutdown::Both);
            Started::Failed
        }
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
