//! The smaller defects of issue 10, each with a test that failed before:
//! a `/quit` past the burst, a full TLS room refusing in plain text, a
//! KeyUpdate flood logged as a failed handshake, a piped `join` hanging
//! on a server that stopped reading, and the kernel's send queue of a
//! client that does not read growing without bound.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures_rustls::rustls;
use sockchat::protocol::message::reply::{self, GREETING};
use sockchat::server::Config;
use sockchat::tls;

use crate::per_addr::{connect_from, tcp_from};
use crate::support::pki::Pki;
use crate::support::{finish, join_command as join, run, Client, Serve, TestServer, WAIT};

#[test]
fn quit_past_the_burst_is_not_dropped() {
    run(async {
        // One token a second: none comes back while the burst is read.
        let server = TestServer::with(Config {
            rate: 1,
            ..Config::default()
        })
        .await;
        let mut max = server.login("Max").await;
        let mut burst = String::new();
        for i in 0..50 {
            burst.push_str(&format!("line {i}\n"));
        }
        burst.push_str("/quit\n");
        max.send_raw(burst.as_bytes()).await;
        max.expect_line(&reply::too_fast(1, 40)).await;
        max.expect_line(&reply::dropped(10)).await;
        max.expect_line(reply::BYE).await;
        max.expect_closed().await;
    });
}

#[test]
fn a_full_tls_room_says_so_inside_tls() {
    run(async {
        let pki = Pki::new();
        let server = TestServer::with(Config {
            tls: Some(pki.good.server_config()),
            max_clients: 1,
            ..Config::default()
        })
        .await;
        let _first =
            Client::login_tls(server.addr, pki.client_config(), GREETING, &[], "Max").await;
        let mut second = Client::connect_tls(server.addr, pki.client_config())
            .await
            .expect("the handshake of a refused connection completes");
        second.expect_line(&reply::room_full(1)).await;
        second.expect_closed().await;
        // And `join --tls` says the room is full, not that TLS is missing.
        let ca = pki.ca.to_string_lossy().into_owned();
        let finished = finish(join(server.addr, &["--tls-ca", &ca, "--name", "Eve"]), "").await;
        let said = format!("{}{}", finished.stdout, finished.stderr);
        assert!(said.contains("room is full"), "{said}");
        assert!(!said.contains("does not speak TLS"), "{said}");
    });
}

#[test]
fn a_key_update_flood_is_logged_as_what_it_is() {
    let pki = Pki::new();
    let cert = pki.good.cert.to_string_lossy().into_owned();
    let key = pki.good.key.to_string_lossy().into_owned();
    let serve = Serve::new()
        .args(&["--tls-cert", &cert, "--tls-key", &key])
        .start();
    let name = tls::server_name("127.0.0.1").expect("server name");
    let mut session =
        rustls::ClientConnection::new(pki.client_config(), name).expect("a client session");
    let mut tcp = std::net::TcpStream::connect(serve.addr).expect("connect");
    tcp.set_read_timeout(Some(WAIT))
        .expect("set a read timeout");
    tcp.set_write_timeout(Some(WAIT))
        .expect("set a write timeout");
    while session.is_handshaking() {
        session.complete_io(&mut tcp).expect("handshake");
    }
    for _ in 0..40 {
        session.refresh_traffic_keys().expect("queue a key update");
    }
    while session.wants_write() {
        session.write_tls(&mut tcp).expect("send the key updates");
    }
    // The server closes the connection: read until then.
    let mut sink = [0u8; 4096];
    while matches!(tcp.read(&mut sink), Ok(n) if n > 0) {}
    let stderr = serve.stop_to_end().stderr;
    assert!(stderr.contains(tls::KEY_UPDATE_FLOOD), "{stderr}");
    assert!(!stderr.contains("TLS handshake with"), "{stderr}");
}

/// A server that greets, logs the client in, then never reads again.
fn server_that_stops_reading() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    // Small, so that the client's writes fill it soon.
    socket.set_recv_buffer_size(4096).expect("set SO_RCVBUF");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    socket.bind(&any.into()).expect("bind");
    socket.listen(1).expect("listen");
    let listener: TcpListener = socket.into();
    let addr = listener.local_addr().expect("local addr");
    let thread = std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let _ = writeln!(stream, "{GREETING}");
        let mut name = [0u8; 64];
        let _ = stream.read(&mut name);
        let _ = writeln!(stream, "{}", reply::logged_in("Max"));
        // Hold the connection open, unread, until the client goes.
        std::thread::sleep(Duration::from_secs(60));
    });
    (addr, thread)
}

#[test]
fn a_piped_join_gives_up_on_a_server_that_stopped_reading() {
    let (addr, _server) = server_that_stops_reading();
    let mut child = join(addr, &["--name", "Max"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start join");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Far more than the socket buffers hold, then the end of the input.
    std::thread::spawn(move || {
        let line = format!("{}\n", "x".repeat(3000));
        for _ in 0..10_000 {
            if stdin.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let limit = Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for join") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("join still waits on a server that stopped reading after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "join reported success");
}

/// `Slow`, logged in with a 4 KiB receive buffer, which the tests then
/// never read; and its address, to find its socket in /proc/net/tcp.
async fn never_reading(server: SocketAddr) -> (Client, SocketAddr) {
    let mut slow = connect_from("127.0.0.1", server, Some(4096));
    slow.expect_line(GREETING).await;
    slow.send("Slow").await;
    slow.expect_line(&reply::logged_in("Slow")).await;
    let addr = slow.tcp().local_addr().expect("local addr");
    (slow, addr)
}

/// The bytes the kernel holds unsent on the server's side of the
/// connection from `client` to `server` (`tx_queue` in /proc/net/tcp).
fn tx_queue(server: SocketAddr, client: SocketAddr) -> Option<usize> {
    let row = crate::support::proc_net::tcp_row(server, client)?;
    usize::try_from(crate::support::proc_net::first_hex(row.get(4)?)?).ok()
}

/// 500 clients that never read pinned 1,451 MiB of kernel memory: each
/// socket's send buffer grew to megabytes. Capped, one such client costs
/// the kernel at most about twice `--socket-send-buffer`.
#[test]
fn the_kernel_send_queue_of_a_client_that_does_not_read_is_bounded() {
    run(async {
        let server = TestServer::with(Config {
            rate: 0,
            ..Config::default()
        })
        .await;
        let (slow, slow_addr) = never_reading(server.addr).await;
        let mut max = server.login("Max").await;
        let line = "y".repeat(3000);
        let mut sent = 0;
        for _ in 0..250 {
            max.send(&line).await;
            sent += line.len();
        }
        max.send("/who").await;
        while !max
            .line()
            .await
            .expect("an answer")
            .starts_with("Server: Online")
        {}
        let mut most = 0;
        let until = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < until {
            most = most.max(tx_queue(server.addr, slow_addr).expect("the server's socket"));
            async_std::task::sleep(Duration::from_millis(50)).await;
        }
        assert!(sent > 700_000);
        let cap = 2 * sockchat::server::defaults::SOCKET_SEND_BUFFER as usize;
        assert!(
            most <= cap,
            "the kernel held {most} bytes for a client that does not read"
        );
        drop(slow);
    });
}

/// What the kernel holds unsent for a client counts against its
/// `--send-queue`: a client that does not read is cut off once the two
/// together pass it, not only once the queue alone does (which would let
/// the kernel hold another full queue's worth first).
#[test]
fn what_the_kernel_holds_for_a_client_counts_against_its_queue() {
    const QUEUE: usize = 64 << 10;
    run(async {
        let server = TestServer::with(Config {
            rate: 0,
            send_queue: QUEUE,
            socket_send_buffer: 64 << 10,
            ..Config::default()
        })
        .await;
        let (slow, slow_addr) = never_reading(server.addr).await;
        let mut max = server.login("Max").await;
        let line = "z".repeat(3000);
        let (mut relayed, mut held) = (0, 0);
        let cut = 'lines: {
            for _ in 0..400 {
                max.send(&line).await;
                max.send("/who").await;
                loop {
                    let got = max.line().await.expect("an answer");
                    if got == reply::left("Slow") {
                        break 'lines true;
                    }
                    if got.starts_with("Server: Online") {
                        break;
                    }
                }
                relayed += line.len() + "Max: \n".len();
                if let Some(now) = tx_queue(server.addr, slow_addr) {
                    held = held.max(now);
                }
            }
            false
        };
        assert!(cut, "a client that does not read was never cut off");
        // The client's own receive buffer takes a few KB, and a line or
        // two can be in flight; a whole queue more means the kernel's
        // bytes were not counted.
        assert!(
            relayed < held + QUEUE / 2,
            "{relayed} bytes were relayed to it while the kernel held at most {held}"
        );
        drop(slow);
    });
}

/// Past its descriptor limit a server's new clients wait unanswered; it
/// now raises the soft limit to the hard one and warns when that is still
/// below `--max-clients`.
#[test]
fn serve_warns_when_max_clients_is_more_than_its_descriptors_allow() {
    let mut serve = Serve::new()
        .args(&["--max-clients", "10000"])
        .max_open_files(512)
        .start();
    let warning = serve.process.stderr.expect("ulimit -n");
    assert!(warning.contains("only 512 files"), "{warning}");
}

/// 9,000 unfinished ClientHellos took 637 MB: now an address may hold
/// only a few unfinished handshakes, and is told so inside TLS past them,
/// while another host completes its own.
#[test]
fn unfinished_tls_handshakes_are_limited_per_address() {
    run(async {
        let pki = Pki::new();
        let server = TestServer::with(Config {
            tls: Some(pki.good.server_config()),
            max_handshakes_per_addr: 1,
            ..crate::per_addr::untrusting()
        })
        .await;
        // The first byte of a ClientHello, and then nothing.
        let mut stuck = connect_from("127.0.0.2", server.addr, None);
        stuck.send_raw(&[0x16]).await;
        let refused = tcp_from("127.0.0.2", server.addr, None);
        let name = tls::server_name("127.0.0.1").expect("server name");
        let connector = futures_rustls::TlsConnector::from(pki.client_config());
        let mut session = async_std::future::timeout(WAIT, connector.connect(name, refused))
            .await
            .expect("handshake in time")
            .expect("the refusal's handshake completes");
        let mut said = String::new();
        let read = futures::AsyncReadExt::read_to_string(&mut session, &mut said);
        // Ends with close_notify, or with the connection shut down.
        let _ = async_std::future::timeout(WAIT, read).await;
        assert_eq!(said, format!("{}\n", reply::TOO_MANY_HANDSHAKES));
        let _other =
            Client::login_tls(server.addr, pki.client_config(), GREETING, &[], "Max").await;
    });
}
