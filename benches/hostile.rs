//! The hostile benchmark (issue 10): starts the release `sockchat serve`
//! and measures what attackers on one host cost it, with and without the
//! limits that bound them. It prints figures; it never fails on one.
//!
//! - stalled N: N logged-in clients that never read while 4 chatters send
//!   4 KB lines at 20 a second for 10 s: the kernel's send queues for the
//!   server's port (the sum of `tx_queue` in /proc/net/tcp), at their peak
//!   and at the end, with `--socket-send-buffer` at its default and at 0
//!   (the kernel's own autotuning, as before).
//! - hellos N: N connections each holding a 60 KB unfinished TLS
//!   ClientHello: the server's RSS before, while they wait, and after they
//!   close, with the default handshake limits and with none.
//! - wave N: N clients log in, then all leave: RSS before, with them, and
//!   after (the server gives memory back after a wave).
//!
//! `cargo bench --bench hostile` runs everything; name scenarios to run
//! only those (`-- stalled hellos wave`), `--quick` for small sizes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_std::io::prelude::BufReadExt;
use async_std::io::{BufReader, ReadExt, WriteExt};
use async_std::net::TcpStream;
use async_std::task;

mod common;
use common::{raise_fd_limit, rss_kib, Server};

/// Any single wait: a stuck run fails instead of hanging.
const WAIT: Duration = Duration::from_secs(60);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let wanted = |name: &str| {
        let named: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        named.is_empty() || named.iter().any(|a| *a == name)
    };
    raise_fd_limit();
    if wanted("stalled") {
        let sizes: &[usize] = if quick { &[50] } else { &[500, 3000] };
        for &n in sizes {
            for cap in [true, false] {
                stalled(n, cap, if quick { 2 } else { 10 });
            }
        }
    }
    if wanted("hellos") {
        let n = if quick { 200 } else { 9000 };
        for limited in [true, false] {
            hellos(n, limited);
        }
    }
    if wanted("wave") {
        wave(if quick { 200 } else { 15_000 });
    }
}

/// What this benchmark reads of the server.
trait Measured {
    fn rss_mib(&self) -> f64;
    fn send_queues(&self) -> (u64, usize);
}

impl Measured for Server {
    fn rss_mib(&self) -> f64 {
        rss_kib(self.pid) as f64 / 1024.0
    }

    /// The bytes the kernel holds unsent on the server's sockets, and how
    /// many of its connections are open.
    fn send_queues(&self) -> (u64, usize) {
        let port = format!(":{:04X}", self.addr.port());
        let mut total = 0;
        let mut open = 0;
        for file in ["tcp", "tcp6"] {
            let path = format!("/proc/{}/net/{file}", self.pid);
            let table = std::fs::read_to_string(path).unwrap_or_default();
            for line in table.lines().skip(1) {
                let fields: Vec<&str> = line.split_whitespace().collect();
                // Established (01) connections whose local end is the server's port.
                if fields.len() < 5 || !fields[1].ends_with(&port) || fields[3] != "01" {
                    continue;
                }
                open += 1;
                let tx = fields[4].split(':').next().unwrap_or("0");
                total += u64::from_str_radix(tx, 16).unwrap_or(0);
            }
        }
        (total, open)
    }
}

/// A client that logged in as `name` (the login lines read).
async fn login(addr: SocketAddr, name: &str) -> BufReader<TcpStream> {
    let stream = async_std::future::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let mut writer = stream.clone();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).await.expect("the greeting");
    writer
        .write_all(format!("{name}\n").as_bytes())
        .await
        .expect("send the name");
    line.clear();
    reader.read_line(&mut line).await.expect("the login line");
    assert!(line.contains("logged in"), "not logged in: {line:?}");
    reader
}

/// Logs `n` clients in, 200 at a time.
fn login_many(addr: SocketAddr, n: usize, prefix: &str) -> Vec<BufReader<TcpStream>> {
    task::block_on(async {
        let mut clients = Vec::with_capacity(n);
        for start in (0..n).step_by(200) {
            let batch: Vec<_> = (start..n.min(start + 200))
                .map(|i| task::spawn(login_owned(addr, format!("{prefix}{i}"))))
                .collect();
            for client in batch {
                clients.push(client.await);
            }
        }
        clients
    })
}

async fn login_owned(addr: SocketAddr, name: String) -> BufReader<TcpStream> {
    login(addr, &name).await
}

fn stalled(n: usize, cap: bool, secs: u64) {
    let extra: &[&str] = if cap {
        &["--rate", "0"]
    } else {
        &["--rate", "0", "--socket-send-buffer", "0"]
    };
    let server = Server::start(&[extra, &["--max-clients", "19000"]].concat());
    let stalled = login_many(server.addr, n, "s");
    let chatters = login_many(server.addr, 4, "c");
    let line = format!("{}\n", "z".repeat(4000));
    let until = Instant::now() + Duration::from_secs(secs);
    let senders: Vec<_> = chatters
        .into_iter()
        .map(|reader| {
            let line = line.clone();
            task::spawn(async move {
                let mut writer = reader.get_ref().clone();
                // Read what comes, so that only the stalled ones stall.
                let drain = task::spawn(async move {
                    let mut reader = reader;
                    let mut sink = vec![0u8; 65536];
                    while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
                });
                while Instant::now() < until {
                    if writer.write_all(line.as_bytes()).await.is_err() {
                        break;
                    }
                    task::sleep(Duration::from_millis(50)).await;
                }
                drop(drain);
            })
        })
        .collect();
    let mut peak = 0;
    let mut peak_rss: f64 = 0.0;
    while Instant::now() < until {
        peak = peak.max(server.send_queues().0);
        peak_rss = peak_rss.max(server.rss_mib());
        std::thread::sleep(Duration::from_millis(250));
    }
    for sender in senders {
        task::block_on(sender);
    }
    let (end, open) = server.send_queues();
    println!(
        "stalled {n:>5} {:<22} kernel send queues: peak {:>8.1} MiB, at the end {:>8.1} MiB; \
         {open:>5} connections open at the end; server RSS peak {peak_rss:.1} MiB",
        if cap {
            "--socket-send-buffer 64K"
        } else {
            "--socket-send-buffer 0"
        },
        peak as f64 / 1048576.0,
        end as f64 / 1048576.0,
    );
    drop(stalled);
}

/// The first 60 KB of a ClientHello that never ends: a handshake message
/// header announcing 65,000 bytes, in TLS records of 16 KB.
fn partial_hello() -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut body = vec![0x01, 0x00, 0xFD, 0xE8];
    body.resize(60_000, 0x42);
    for chunk in body.chunks(16_384) {
        bytes.extend_from_slice(&[0x16, 0x03, 0x01]);
        bytes.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        bytes.extend_from_slice(chunk);
    }
    bytes
}

fn hellos(n: usize, limited: bool) {
    let extra: &[&str] = if limited {
        &["--tls-self-signed"]
    } else {
        &[
            "--tls-self-signed",
            "--max-handshakes",
            "0",
            "--max-handshakes-per-addr",
            "0",
        ]
    };
    let server = Server::start(&[extra, &["--max-clients", "19000"]].concat());
    std::thread::sleep(Duration::from_millis(300));
    let before = server.rss_mib();
    let hello = partial_hello();
    let streams = task::block_on(async {
        let mut streams = Vec::with_capacity(n);
        for _ in 0..n {
            let Ok(Ok(mut stream)) =
                async_std::future::timeout(WAIT, TcpStream::connect(server.addr)).await
            else {
                break;
            };
            // A refused connection may be closed under us: that is the point.
            let _ =
                async_std::future::timeout(Duration::from_secs(1), stream.write_all(&hello)).await;
            streams.push(stream);
        }
        streams
    });
    std::thread::sleep(Duration::from_secs(2));
    let holding = server.rss_mib();
    drop(streams);
    std::thread::sleep(Duration::from_secs(3));
    let after = server.rss_mib();
    println!(
        "hellos {n:>5} {:<22} RSS before {before:>6.1} MiB, holding {holding:>6.1} MiB, after they closed {after:>6.1} MiB",
        if limited { "default limits" } else { "no handshake limits" },
    );
}

fn wave(n: usize) {
    let server = Server::start(&["--max-clients", "19000"]);
    std::thread::sleep(Duration::from_millis(300));
    let before = server.rss_mib();
    let clients = login_many(server.addr, n, "w");
    std::thread::sleep(Duration::from_secs(1));
    let with = server.rss_mib();
    drop(clients);
    std::thread::sleep(Duration::from_secs(4));
    let after = server.rss_mib();
    println!(
        "wave   {n:>5} {:<22} RSS before {before:>6.1} MiB, with them {with:>6.1} MiB, after they left {after:>6.1} MiB",
        "",
    );
}
