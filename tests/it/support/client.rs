//! The line client: literal lines in, literal lines out, as at `nc`, over
//! plain TCP or TLS. Every read and write has a timeout. [`Nc`] is the same
//! client for tests that are not async.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_std::future::timeout;
use async_std::net::TcpStream;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_rustls::client::TlsStream;
use futures_rustls::rustls::ClientConfig;
use futures_rustls::TlsConnector;
use sockchat::protocol::message::reply::GREETING;

use super::{run, WAIT};

/// How much one read may take: large, so that tests that move megabytes
/// (slow readers, floods) read them in few calls.
const CHUNK: usize = 64 << 10;

/// A connection read as whole lines.
pub struct Client<S = TcpStream> {
    stream: S,
    /// Bytes read but not yet handed out as lines.
    buf: Vec<u8>,
    /// How much of `buf` is known to hold no line end.
    scanned: usize,
    /// Where each read lands before it joins `buf`.
    chunk: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(stream: S) -> Client<S> {
        Client {
            stream,
            buf: Vec::new(),
            scanned: 0,
            chunk: vec![0; CHUNK],
        }
    }

    /// Sends `line` and a `\n`.
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    /// Sends `bytes` as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.try_send_raw(bytes).await.expect("send failed");
    }

    /// Sends `bytes`, or says why that failed (the peer is gone, say).
    pub async fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let send = async {
            self.stream.write_all(bytes).await?;
            // A TLS stream holds what it has not sealed into a record yet.
            self.stream.flush().await
        };
        timeout(WAIT, send).await.expect("send timed out")
    }

    /// The next line without its `\n`; None when the peer closed. Panics
    /// after [`WAIT`].
    pub async fn line(&mut self) -> Option<String> {
        self.line_within(WAIT)
            .await
            .expect("no line within the time limit")
    }

    /// Like `line`, but Err(()) when nothing complete came within `wait`
    /// (a line already here is returned even with a zero `wait`).
    pub async fn line_within(&mut self, wait: Duration) -> Result<Option<String>, ()> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(i) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + i;
                let text = String::from_utf8(self.buf[..end].to_vec())
                    .expect("the peer sent invalid UTF-8");
                self.buf.drain(..=end);
                self.scanned = 0;
                return Ok(Some(text));
            }
            self.scanned = self.buf.len();
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.stream.read(&mut self.chunk)).await {
                Err(_) => return Err(()),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    assert!(
                        self.buf.is_empty(),
                        "connection closed mid-line: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    );
                    return Ok(None);
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&self.chunk[..n]),
            }
        }
    }

    pub async fn expect_line(&mut self, expected: &str) {
        let got = self.line().await;
        assert_eq!(got.as_deref(), Some(expected));
    }

    /// Asserts the peer closes the connection (after any lines given).
    pub async fn expect_closed(&mut self) {
        let got = self.line().await;
        assert_eq!(got, None, "expected the peer to close the connection");
    }

    /// Reads lines until one equals `last`; returns the lines before it.
    pub async fn lines_until(&mut self, last: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            match self.line().await {
                Some(line) if line == last => return before,
                Some(line) => before.push(line),
                None => panic!("closed while waiting for {last:?}"),
            }
        }
    }

    /// Reads `greeting`, sends each of `before_name` and reads its answer
    /// (a password, say), then logs in as `name`.
    pub async fn log_in_after(&mut self, greeting: &str, before_name: &[&str], name: &str) {
        self.expect_line(greeting).await;
        for line in before_name {
            self.send(line).await;
            self.line().await;
        }
        self.send(name).await;
        self.expect_line(&format!("Server: You are logged in as: {name}"))
            .await;
    }

    /// Reads the open room's greeting and logs in as `name`.
    pub async fn log_in(&mut self, name: &str) {
        self.log_in_after(GREETING, &[], name).await;
    }

    /// Reads lines until the peer is gone (closed, reset or killed),
    /// handing each whole line to `each`. A last line cut off mid-way (a
    /// peer killed while writing it) is not a line and is dropped. Panics
    /// if nothing comes for [`WAIT`].
    pub async fn read_until_gone(&mut self, mut each: impl FnMut(String)) {
        loop {
            while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let text = String::from_utf8(self.buf[..end].to_vec())
                    .expect("the peer sent invalid UTF-8");
                self.buf.drain(..=end);
                each(text);
            }
            self.scanned = self.buf.len();
            match timeout(WAIT, self.stream.read(&mut self.chunk)).await {
                Err(_) => panic!("the peer was still there after {WAIT:?} of silence"),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.buf.clear();
                    self.scanned = 0;
                    return;
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&self.chunk[..n]),
            }
        }
    }

    /// Reads everything up to the close; returns how many bytes came and
    /// whether the close was a clean EOF (rather than a reset).
    pub async fn read_to_close(&mut self) -> (usize, bool) {
        let mut total = std::mem::take(&mut self.buf).len();
        self.scanned = 0;
        loop {
            match timeout(WAIT, self.stream.read(&mut self.chunk)).await {
                Err(_) => panic!("the connection was not closed within {WAIT:?}"),
                Ok(Ok(0)) => return (total, true),
                Ok(Err(_)) => return (total, false),
                Ok(Ok(n)) => total += n,
            }
        }
    }
}

impl Client<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        Client::new(stream)
    }

    /// Connects with `SO_RCVBUF` set to `bytes` before the handshake (a
    /// small one makes a slow reader; a large one, a reader never behind).
    pub fn connect_with_rcvbuf(addr: SocketAddr, bytes: usize) -> Client {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        socket.connect_timeout(&addr.into(), WAIT).expect("connect");
        let stream: std::net::TcpStream = socket.into();
        Client::new(TcpStream::from(stream))
    }

    /// The other end of an accepted connection (a fake server's side).
    pub fn from_tcp(stream: TcpStream) -> Client {
        Client::new(stream)
    }

    /// Connects and logs in as `name` (the login lines are consumed).
    pub async fn login(addr: SocketAddr, name: &str) -> Client {
        let mut client = Client::connect(addr).await;
        client.log_in(name).await;
        client
    }

    /// The socket, for what the line interface does not cover (options,
    /// addresses, a second handle that writes).
    pub fn tcp(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends `line` and a `\n` one byte per write, with Nagle off so that
    /// each byte leaves in a TCP segment of its own.
    pub async fn send_bytewise(&mut self, line: &str) {
        self.stream.set_nodelay(true).expect("set TCP_NODELAY");
        for byte in line.bytes().chain([b'\n']) {
            self.send_raw(&[byte]).await;
        }
    }

    /// Says it will send no more (FIN) but keeps reading.
    pub fn shutdown_write(&self) {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown the write side");
    }

    /// Drops the connection with a reset (RST) rather than a FIN, as a
    /// crashed client or a broken network does: SO_LINGER 0, then close.
    pub fn reset(self) {
        use std::os::fd::{AsRawFd, BorrowedFd};
        // SAFETY: the descriptor belongs to `self.stream`, which stays open
        // for as long as `fd` is used (it is closed by the drop below).
        let fd = unsafe { BorrowedFd::borrow_raw(self.stream.as_raw_fd()) };
        socket2::SockRef::from(&fd)
            .set_linger(Some(Duration::ZERO))
            .expect("set SO_LINGER 0");
        drop(self);
    }
}

impl Client<TlsStream<TcpStream>> {
    /// Connects and completes the TLS handshake (or says why it failed),
    /// checking the server's certificate for 127.0.0.1.
    pub async fn connect_tls(
        addr: SocketAddr,
        config: Arc<ClientConfig>,
    ) -> std::io::Result<Client<TlsStream<TcpStream>>> {
        let tcp = timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        let name = sockchat::tls::server_name("127.0.0.1").expect("server name");
        let handshake = TlsConnector::from(config).connect(name, tcp);
        let stream = timeout(WAIT, handshake)
            .await
            .expect("TLS handshake timed out")?;
        Ok(Client::new(stream))
    }

    /// Connects over TLS and logs in as in [`Client::log_in_after`].
    pub async fn login_tls(
        addr: SocketAddr,
        config: Arc<ClientConfig>,
        greeting: &str,
        before_name: &[&str],
        name: &str,
    ) -> Client<TlsStream<TcpStream>> {
        let mut client = Client::connect_tls(addr, config)
            .await
            .expect("TLS handshake failed");
        client.log_in_after(greeting, before_name, name).await;
        client
    }
}

/// The line client for tests that are not async: each call runs to its
/// end (with the client's own timeouts) before it returns.
pub struct Nc(Client);

impl Nc {
    /// Connects and logs in as `name`, reading the login lines.
    pub fn login(addr: SocketAddr, name: &str) -> Nc {
        Nc(run(Client::login(addr, name)))
    }

    /// The other end of an accepted connection (a fake server's side).
    pub fn from_tcp(stream: TcpStream) -> Nc {
        Nc(Client::from_tcp(stream))
    }

    pub fn send(&mut self, line: &str) {
        run(self.0.send(line));
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        run(self.0.send_raw(bytes));
    }

    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        run(self.0.try_send_raw(bytes))
    }

    /// The next line without its `\n`; panics after [`WAIT`] or at the end.
    pub fn line(&mut self) -> String {
        run(self.0.line()).expect("the peer closed the connection")
    }

    pub fn expect_line(&mut self, expected: &str) {
        assert_eq!(self.line(), expected);
    }

    /// Reads lines until one equals `last`; returns the lines before it.
    pub fn lines_until(&mut self, last: &str) -> Vec<String> {
        run(self.0.lines_until(last))
    }

    /// Asserts the peer closes the connection (after any lines given).
    pub fn expect_closed(&mut self) {
        run(self.0.expect_closed());
    }

    /// Closes both directions at once.
    pub fn shutdown(&self) {
        self.0
            .tcp()
            .shutdown(std::net::Shutdown::Both)
            .expect("shutdown");
    }
}
