//! The fan-out benchmark: starts the release `sockchat serve` and measures
//! it with clients of its own over loopback, in four scenarios like those
//! of the side-by-side peer benchmark (see docs/performance.md):
//!
//! - S1: 50 clients each send 200 lines as fast as they can;
//! - S2: 200 clients × 50 lines;
//! - S3: 100 clients × 5 lines a second (latency under a steady load);
//! - S4: N idle logged-in clients: server memory per connection, time to
//!   log them all in, and how long one broadcast takes to reach them all.
//!
//! S2 and S3 run twice: in memory, then with `--store` (a fresh directory
//! under cargo's target tmp dir, on the project's disk), where every line
//! is fdatasync'd before it is relayed. The store's S2 deliveries/s are
//! printed as a share of memory-only's in the same run (target: 85% or
//! more) and its S3 p99 against the target of 3 ms.
//!
//! Every line carries (sender, sequence, send time), so each receiver checks
//! that it got every other client's lines exactly once, in order, intact.
//! It prints figures and exits 1 if any line was lost, duplicated or
//! mangled; it never fails on a time.
//!
//! `cargo bench --bench fanout` runs the full sizes; `-- --quick` runs tiny
//! ones (CI's smoke test); `-- --s4 5000` sets the idle client count;
//! `-- --only "S2,S3 store"` runs only the scenarios named (S1, S2,
//! S2 store, S3, S3 store, S4).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_std::io::prelude::BufReadExt;
use async_std::io::{BufReader, WriteExt};
use async_std::net::TcpStream;
use async_std::task;
use futures::StreamExt;

mod common;
use common::{raise_fd_limit, rss_kib, status_kib, Server};

/// Payload bytes of each chat line (like the peer benchmark's 64).
const PAYLOAD: usize = 64;
/// Any single wait in the benchmark: a stuck run fails instead of hanging.
const WAIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let s4 = args
        .iter()
        .position(|a| a == "--s4")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(if quick { 50 } else { 10_000 });
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let wanted = |name: &str| only.is_none_or(|only| only.split(',').any(|n| n.trim() == name));
    raise_fd_limit();

    let (s1, s2, s3) = if quick {
        (
            Scenario::load("S1", 10, 20, 0),
            Scenario::load("S2", 20, 5, 0),
            Scenario::load("S3", 10, 5, 5),
        )
    } else {
        (
            Scenario::load("S1", 50, 200, 0),
            Scenario::load("S2", 200, 50, 0),
            Scenario::load("S3", 100, 50, 5),
        )
    };
    let scenarios = [
        s1,
        s2.clone(),
        s2.stored("S2 store"),
        s3.clone(),
        s3.stored("S3 store"),
    ];
    println!(
        "sockchat fan-out benchmark ({} build, 127.0.0.1)",
        profile()
    );
    println!(
        "{:<8} {:>7} {:>6} {:>12} {:>14} {:>9} {:>9} {:>11} {:>8}",
        "",
        "clients",
        "msgs",
        "deliveries",
        "deliveries/s",
        "p50 ms",
        "p99 ms",
        "peak RSS",
        "faults"
    );
    let mut faults = 0;
    let mut figures = HashMap::new();
    for scenario in scenarios.iter().filter(|s| wanted(s.name)) {
        // Lives as long as the server that writes to it.
        let store = scenario
            .store
            .then(|| tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a store directory"));
        let mut args = vec!["--rate", "0"];
        if let Some(dir) = &store {
            args.extend(["--store", dir.path().to_str().expect("a UTF-8 path")]);
        }
        let server = Server::start(&args);
        let result = task::block_on(scenario.run(server.addr));
        faults += result.faults;
        let per_second = result.delivered as f64 / result.wall.as_secs_f64();
        println!(
            "{:<8} {:>7} {:>6} {:>12} {:>14.0} {:>9.2} {:>9.2} {:>8} KiB {:>8}",
            scenario.name,
            scenario.clients,
            scenario.messages,
            result.delivered,
            per_second,
            result.p50_ms,
            result.p99_ms,
            peak_rss_kib(server.pid),
            result.faults
        );
        figures.insert(scenario.name, (per_second, result.p99_ms));
    }
    if let (Some((s2, _)), Some((s2_store, _))) = (figures.get("S2"), figures.get("S2 store")) {
        println!(
            "--store: S2 {:.0}% of memory-only deliveries/s (target >= 85%)",
            100.0 * s2_store / s2
        );
    }
    if let Some((_, s3_p99)) = figures.get("S3 store") {
        println!("--store: S3 p99 {s3_p99:.2} ms (target <= 3 ms)");
    }
    if !wanted("S4") {
        return finish(faults);
    }
    let server = Server::start(&["--rate", "0"]);
    let idle = task::block_on(idle(server.addr, server.pid, s4));
    faults += idle.faults;
    println!(
        "S4       {s4} idle clients: logged in in {:.2} s, {:.0} bytes of server RSS each, \
         one broadcast reached all in {:.1} ms, faults {}",
        idle.login.as_secs_f64(),
        idle.bytes_per_client,
        idle.broadcast.as_secs_f64() * 1000.0,
        idle.faults
    );
    finish(faults)
}

/// Fails the run if any line was lost, duplicated or mangled.
fn finish(faults: u64) -> ExitCode {
    if faults > 0 {
        println!("FAILED: {faults} lines lost, duplicated or mangled");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

#[derive(Clone)]
struct Scenario {
    name: &'static str,
    clients: usize,
    messages: usize,
    /// Lines per second per client; 0 = as fast as possible.
    rate: u32,
    /// Whether the server keeps a store (`--store`).
    store: bool,
}

struct LoadResult {
    delivered: u64,
    wall: Duration,
    p50_ms: f64,
    p99_ms: f64,
    faults: u64,
}

/// What one receiver saw.
#[derive(Default)]
struct Seen {
    /// Next expected sequence number per sender.
    next: HashMap<usize, usize>,
    delivered: u64,
    faults: u64,
    latencies_us: Vec<u32>,
}

impl Scenario {
    fn load(name: &'static str, clients: usize, messages: usize, rate: u32) -> Scenario {
        Scenario {
            name,
            clients,
            messages,
            rate,
            store: false,
        }
    }

    /// The same load on a server with `--store`.
    fn stored(&self, name: &'static str) -> Scenario {
        Scenario {
            name,
            store: true,
            ..self.clone()
        }
    }

    async fn run(&self, addr: SocketAddr) -> LoadResult {
        let epoch = Instant::now();
        let mut conns = Vec::new();
        for i in 0..self.clients {
            conns.push(login(addr, i).await);
        }
        // Joins were announced: let each client drain them before the clock starts.
        let expected = (self.clients - 1) * self.messages;
        let start = Arc::new(futures::lock::Mutex::new(()));
        let gate = start.lock().await;
        let mut tasks = Vec::new();
        for (i, (reader, writer)) in conns.into_iter().enumerate() {
            let start = start.clone();
            let (messages, rate, clients) = (self.messages, self.rate, self.clients);
            tasks.push(task::spawn(async move {
                drop(start.lock().await);
                let sender = task::spawn(send_all(writer, i, clients, messages, rate, epoch));
                let seen = receive(reader, expected, epoch).await;
                sender.await;
                seen
            }));
        }
        let t0 = Instant::now();
        drop(gate);
        let mut total = Seen::default();
        for task in tasks {
            let seen = task.await;
            total.delivered += seen.delivered;
            total.faults += seen.faults + (expected as u64 - seen.delivered.min(expected as u64));
            total.latencies_us.extend(seen.latencies_us);
        }
        let wall = t0.elapsed();
        total.latencies_us.sort_unstable();
        LoadResult {
            delivered: total.delivered,
            wall,
            p50_ms: percentile(&total.latencies_us, 0.50),
            p99_ms: percentile(&total.latencies_us, 0.99),
            faults: total.faults,
        }
    }
}

fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted_us[i]) / 1000.0
}

type Reader = async_std::io::Lines<BufReader<TcpStream>>;

/// Connects as `u{i}` and returns once logged in.
async fn login(addr: SocketAddr, i: usize) -> (Reader, TcpStream) {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.clone();
    let mut lines = BufReader::new(stream).lines();
    writer
        .write_all(format!("u{i}\n").as_bytes())
        .await
        .expect("send name");
    loop {
        let line = async_std::future::timeout(WAIT, lines.next())
            .await
            .expect("login timed out")
            .expect("server closed during login")
            .expect("read");
        if line.starts_with("Server: You are logged in as: ") {
            return (lines, writer);
        }
    }
}

/// Sends `messages` marked lines, as fast as possible or paced at `rate`/s.
async fn send_all(
    mut writer: TcpStream,
    i: usize,
    clients: usize,
    messages: usize,
    rate: u32,
    epoch: Instant,
) {
    let start = Instant::now();
    let mut batch = Vec::new();
    for seq in 0..messages {
        if rate > 0 {
            // Spread the clients evenly over each interval, like the peer benchmark.
            let due =
                Duration::from_secs_f64((i as f64 / clients as f64 + seq as f64) / f64::from(rate));
            let now = start.elapsed();
            if due > now {
                task::sleep(due - now).await;
            }
        }
        let marker = format!("~B{i}.{seq}.{}.", epoch.elapsed().as_nanos());
        let mut line = marker.into_bytes();
        line.resize(PAYLOAD.max(line.len()), b'x');
        line.push(b'\n');
        batch.extend_from_slice(&line);
        if rate > 0 || batch.len() >= 4096 || seq + 1 == messages {
            writer.write_all(&batch).await.expect("send");
            batch.clear();
        }
    }
}

/// Reads until `expected` marked lines came, checking order and integrity.
async fn receive(mut lines: Reader, expected: usize, epoch: Instant) -> Seen {
    let mut seen = Seen::default();
    while seen.delivered < expected as u64 {
        let line = match async_std::future::timeout(WAIT, lines.next()).await {
            Ok(Some(Ok(line))) => line,
            _ => break,
        };
        let Some(at) = line.find("~B") else {
            continue; // join notices and the like
        };
        let now_ns = epoch.elapsed().as_nanos();
        match parse_marker(&line[at + 2..]) {
            Some((sender, seq, sent_ns)) => {
                let next = seen.next.entry(sender).or_insert(0);
                if seq != *next {
                    seen.faults += 1; // lost, duplicated or reordered
                }
                *next = seq + 1;
                seen.delivered += 1;
                let us = (now_ns.saturating_sub(sent_ns) / 1000).min(u128::from(u32::MAX));
                seen.latencies_us.push(us as u32);
            }
            None => seen.faults += 1,
        }
    }
    seen
}

/// `SENDER.SEQ.NANOS.xxxx` → its numbers, or None when mangled.
fn parse_marker(text: &str) -> Option<(usize, usize, u128)> {
    let mut parts = text.splitn(4, '.');
    let sender = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    let padding = parts.next()?;
    padding
        .bytes()
        .all(|b| b == b'x')
        .then_some((sender, seq, sent))
}

struct IdleResult {
    login: Duration,
    bytes_per_client: f64,
    broadcast: Duration,
    faults: u64,
}

/// S4: `n` clients log in and sit; then one line is broadcast to all.
async fn idle(addr: SocketAddr, pid: u32, n: usize) -> IdleResult {
    let before = rss_kib(pid);
    let t0 = Instant::now();
    // Log in with a bounded number of logins in flight.
    let conns = Arc::new(Mutex::new(Vec::with_capacity(n)));
    futures::stream::iter(0..n)
        .for_each_concurrent(64, |i| {
            let conns = conns.clone();
            async move {
                let conn = login(addr, i).await;
                conns.lock().expect("not poisoned").push(conn);
            }
        })
        .await;
    let login = t0.elapsed();
    let conns = std::mem::take(&mut *conns.lock().expect("not poisoned"));
    // Let the server settle (writers drained, buffers released), then read its memory.
    task::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let bytes_per_client = (after.saturating_sub(before) * 1024) as f64 / n as f64;

    let mut conns = conns.into_iter();
    let (_, mut speaker) = conns.next().expect("at least one client");
    let readers: Vec<_> = conns
        .map(|(lines, _writer)| {
            task::spawn(async move {
                let mut lines = lines;
                loop {
                    match async_std::future::timeout(WAIT, lines.next()).await {
                        Ok(Some(Ok(line))) if line.contains("~BROADCAST") => {
                            return (Instant::now(), 0)
                        }
                        Ok(Some(Ok(_))) => continue,
                        _ => return (Instant::now(), 1),
                    }
                }
            })
        })
        .collect();
    let sent = Instant::now();
    speaker
        .write_all(b"~BROADCAST to everyone\n")
        .await
        .expect("send broadcast");
    let mut last = sent;
    let mut faults = 0;
    for reader in readers {
        let (at, fault) = reader.await;
        last = last.max(at);
        faults += fault;
    }
    IdleResult {
        login,
        bytes_per_client,
        broadcast: last - sent,
        faults,
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}
