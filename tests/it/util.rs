//! Test helpers: a real server on 127.0.0.1:0 (in-process or the real
//! binary) and raw TCP clients that speak literal lines.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use futures::channel::oneshot;
use futures::FutureExt;
use sockchat::server::{self, log::Log, Config};

/// How long any single network wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// An in-process server; stops when dropped (or via `stop`).
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<async_std::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with(Config::default()).await
    }

    pub async fn with(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = stopped.map(|_| ());
        let done = async_std::task::spawn(server::run(listener, config, Log::silent(), shutdown));
        TestServer {
            addr,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Asks for a graceful shutdown and waits for `run` to return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            async_std::future::timeout(WAIT, done)
                .await
                .expect("server did not stop in time")
                .expect("server failed");
        }
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.addr).await
    }

    /// A client that has logged in as `name` (the login lines are consumed).
    pub async fn login(&self, name: &str) -> Client {
        let mut client = self.connect().await;
        client
            .expect_line(sockchat::protocol::message::reply::GREETING)
            .await;
        client.send(name).await;
        client
            .expect_line(&format!("Server: You are logged in as: {name}"))
            .await;
        client
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A raw TCP client reading whole lines.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = async_std::future::timeout(WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends `line` and a `\n`.
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes()).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        async_std::future::timeout(WAIT, self.stream.write_all(bytes))
            .await
            .expect("send timed out")
            .expect("send failed");
    }

    /// The next line without its `\n`; None when the server closed. Panics
    /// after `WAIT`.
    pub async fn line(&mut self) -> Option<String> {
        self.line_within(WAIT)
            .await
            .expect("no line within the time limit")
    }

    /// Like `line`, but Err(()) when nothing complete came within `wait`.
    pub async fn line_within(&mut self, wait: Duration) -> Result<Option<String>, ()> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                let text =
                    String::from_utf8(line[..i].to_vec()).expect("server sent invalid UTF-8");
                return Ok(Some(text));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let mut chunk = [0u8; 4096];
            match async_std::future::timeout(left, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(()),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    assert!(
                        self.buf.is_empty(),
                        "connection closed mid-line: {:?}",
                        self.buf
                    );
                    return Ok(None);
                }
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub async fn expect_line(&mut self, expected: &str) {
        let got = self.line().await;
        assert_eq!(got.as_deref(), Some(expected));
    }

    /// Asserts the server closes the connection (after any lines given).
    pub async fn expect_closed(&mut self) {
        let got = self.line().await;
        assert_eq!(got, None, "expected the server to close the connection");
    }

    /// Asserts that no line arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Ok(line) = self.line_within(wait).await {
            panic!("expected silence, got {line:?}");
        }
    }
}

/// Runs an async test body on the runtime.
pub fn run<F: std::future::Future<Output = ()>>(body: F) {
    async_std::task::block_on(body)
}
