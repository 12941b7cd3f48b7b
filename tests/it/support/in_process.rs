//! The server in the test's own process: `sockchat::server::run` on
//! 127.0.0.1:0 with a config of the test's choosing and a silent log.

use std::net::SocketAddr;
use std::time::Instant;

use async_std::net::TcpListener;
use futures::channel::oneshot;
use futures::FutureExt;
use sockchat::protocol::message::reply::GREETING;
use sockchat::server::{self, log::Log, Config};
use sockchat::stream::RoomStream;

use super::{Client, WAIT};

/// An in-process server; stops when dropped (or via `stop`).
pub struct TestServer {
    pub addr: SocketAddr,
    /// Asks `run` for a graceful shutdown.
    stop: Option<oneshot::Sender<()>>,
    /// The task running `run`.
    done: Option<async_std::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with(Config::default()).await
    }

    pub async fn with(config: Config) -> TestServer {
        let stream = RoomStream::memory(config.history);
        Self::with_stream(config, stream).await
    }

    /// A server whose room keeps what is said in `stream` (a store, say).
    pub async fn with_stream(config: Config, stream: RoomStream) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = stopped.map(|_| ());
        let run = server::run_with(listener, config, stream, Log::silent(), shutdown);
        let done = async_std::task::spawn(run);
        TestServer {
            addr,
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Asks for a graceful shutdown and waits for `run` to return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            // Fails only if `run` already ended; waiting below tells how.
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

    /// A client that has connected and read the greeting.
    pub async fn connect_greeted(&self) -> Client {
        let mut client = self.connect().await;
        client.expect_line(GREETING).await;
        client
    }

    /// A client that has logged in as `name` (the login lines are consumed).
    pub async fn login(&self, name: &str) -> Client {
        Client::login(self.addr, name).await
    }

    /// Clients logged in as `names`, in that order, with nothing left to
    /// read: the notices of the later ones joining have been consumed.
    pub async fn logins<const N: usize>(&self, names: [&str; N]) -> [Client; N] {
        let mut clients: Vec<Client> = Vec::with_capacity(N);
        for name in names {
            let client = self.login(name).await;
            let joined = format!("Server: {name} joined the party!");
            for earlier in &mut clients {
                earlier.expect_line(&joined).await;
            }
            clients.push(client);
        }
        match clients.try_into() {
            Ok(clients) => clients,
            Err(_) => unreachable!("one client was made per name"),
        }
    }

    /// Connects as soon as the server has room, retrying while it answers
    /// that the room is full; the greeting has been read. With a small
    /// `max_clients` this is how a test knows that a closed connection has
    /// been wholly dealt with: its slot is freed only after the room has
    /// processed its disconnect, so anything this client does comes later.
    pub async fn connect_when_there_is_room(&self) -> Client {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut client = self.connect().await;
            match client.line().await.as_deref() {
                Some(GREETING) => return client,
                Some(line) if line.starts_with("Server: Error: the room is full") => {}
                other => panic!("expected the greeting or `the room is full`, got {other:?}"),
            }
            assert!(Instant::now() < deadline, "no room within {WAIT:?}");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // Fails only if `run` already ended: nothing left to stop.
            let _ = stop.send(());
        }
    }
}

/// Default limits but no rate limit, for tests that send many lines.
pub fn no_rate_limit() -> Config {
    Config {
        rate: 0,
        ..Config::default()
    }
}
