//! The real `sockchat join` binary against a fake, hostile server: whatever
//! bytes the server sends, nothing but sanitized text and `\n` reaches the
//! client's stdout, and the client never waits forever. Every wait here has
//! a timeout; the child's output is read on threads and handed over through
//! channels.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::WAIT;

/// The line the client prints for a line over its 64 KiB cap is short and
/// says why; this is the part the test relies on.
const TOO_LONG_HINT: &str = "too long";

/// Output of the child, read on a thread of its own.
struct Pipe {
    name: &'static str,
    chunks: Receiver<Vec<u8>>,
    seen: Vec<u8>,
    closed: bool,
}

impl Pipe {
    fn spawn(name: &'static str, mut from: impl Read + Send + 'static) -> Pipe {
        let (tx, chunks) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Pipe {
            name,
            chunks,
            seen: Vec::new(),
            closed: false,
        }
    }

    /// Reads until `done(all output so far)` holds; panics after `within`.
    fn wait_until(&mut self, what: &str, within: Duration, done: impl Fn(&[u8]) -> bool) {
        let deadline = Instant::now() + within;
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Disconnected) => {
                    self.closed = true;
                    panic!(
                        "{} closed before {what}; it holds:\n{}",
                        self.name,
                        String::from_utf8_lossy(&self.seen)
                    );
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no {what} on {} within {within:?}; it holds:\n{}",
                    self.name,
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    fn wait_for_line(&mut self, line: &str) {
        let wanted = format!("{line}\n");
        self.wait_until(&format!("line {line:?}"), WAIT, |seen| {
            seen.windows(wanted.len()).any(|w| w == wanted.as_bytes())
        });
    }

    /// Everything up to the end of the stream (the child exited).
    fn read_to_end(&mut self) -> &[u8] {
        let deadline = Instant::now() + WAIT;
        while !self.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{} still open after {WAIT:?}", self.name)
                }
            }
        }
        &self.seen
    }
}

/// `sockchat join --name Max` run against `port`, stdin held open by us.
struct Joined {
    child: Child,
    /// Kept so that the client's stdin stays open until `close_stdin`.
    stdin: Option<ChildStdin>,
    stdout: Pipe,
    stderr: Pipe,
}

impl Joined {
    fn spawn(port: u16) -> Joined {
        Self::spawn_with(port, &[])
    }

    fn spawn_with(port: u16, extra: &[&str]) -> Joined {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sockchat"));
        command
            .args(["join", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--name", "Max"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("NO_COLOR");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SOCKCHAT_") {
                command.env_remove(key);
            }
        }
        let mut child = command.spawn().expect("start sockchat join");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = Pipe::spawn("stdout", child.stdout.take().expect("piped stdout"));
        let stderr = Pipe::spawn("stderr", child.stderr.take().expect("piped stderr"));
        Joined {
            child,
            stdin: Some(stdin),
            stdout,
            stderr,
        }
    }

    /// Waits for the client to exit; panics (the child is killed on drop)
    /// if it is still running after `within`.
    fn exit_within(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the client is still running after {within:?}; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&self.stdout.seen),
                String::from_utf8_lossy(&self.stderr.seen)
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Writes `text` to the client's stdin, as if piped in.
    fn type_in(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        stdin.write_all(text.as_bytes()).expect("write to stdin");
        stdin.flush().expect("flush stdin");
    }

    /// Ends the client's stdin (EOF).
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Joined {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fake server's listening socket on 127.0.0.1, any free port.
fn listen() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    (listener, port)
}

/// Accepts the client's connection, waiting at most `WAIT`.
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + WAIT;
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                stream.set_read_timeout(Some(WAIT)).expect("read timeout");
                stream.set_write_timeout(Some(WAIT)).expect("write timeout");
                // `join` waits for the greeting before it gives a name.
                let greeting = format!("{}\n", sockchat::protocol::message::reply::GREETING);
                stream.write_all(greeting.as_bytes()).expect("greet");
                return stream;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "the client did not connect");
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept failed: {e}"),
        }
    }
}

/// One line from the client, without its `\n` (read timeout: `WAIT`).
fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => panic!("the client closed mid-line: {line:?}"),
            // `join` sends an empty line first (a probe for TLS servers).
            Ok(_) if byte[0] == b'\n' && line.is_empty() => {}
            Ok(_) if byte[0] == b'\n' => return String::from_utf8(line).expect("UTF-8"),
            Ok(_) => line.push(byte[0]),
            Err(e) => panic!("no line from the client: {e}"),
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), every value included.
fn garbage(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes: Vec<u8> = (0..=255).collect();
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Fails unless `out` is UTF-8 whose only control character is `\n`.
fn assert_terminal_safe(what: &str, out: &[u8]) {
    let text = std::str::from_utf8(out).unwrap_or_else(|e| panic!("{what} is not UTF-8: {e}"));
    for (i, c) in text.char_indices() {
        assert!(
            c == '\n' || !c.is_control(),
            "{what} has control character {c:?} at byte {i}: {:?}",
            &text[i.saturating_sub(40)..(i + 40).min(text.len())]
        );
    }
}

/// Attack lines (without `\n`) and what the client must print for each.
const ATTACKS: &[(&[u8], &str)] = &[
    (b"Max: \x1b[31mred\x1b[0m", "Max: [31mred[0m"),
    (b"Bob: \x1b[2J\x1b[Hcleared", "Bob: [2J[Hcleared"),
    (
        b"Server: \x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07copied",
        "Server: ]52;c;Y3VybCBldmlsLnNoIHwgc2g=copied",
    ),
    (b"\x1b]0;pwned\x1b\\title", "]0;pwned\\title"),
    (
        b"Bob: hi\rServer: admin joined",
        "Bob: hiServer: admin joined",
    ),
    ("Bob: a\u{9b}31mb".as_bytes(), "Bob: a31mb"),
    ("Bob: \u{85}next".as_bytes(), "Bob: next"),
    (b"Bob: ding\x07\x07", "Bob: ding"),
    (
        b"Bob: bad \xff\xfe utf8 \xc3",
        "Bob: bad \u{fffd}\u{fffd} utf8 \u{fffd}",
    ),
    (
        b"Bob: nul\x00 del\x7f bs\x08 vt\x0b ff\x0c",
        "Bob: nul del bs vt ff",
    ),
    (b"Bob: tab\there", "Bob: tab here"),
    (b"Bob: crlf\r", "Bob: crlf"),
];

#[test]
fn a_hostile_server_cannot_reach_the_terminal() {
    let (listener, port) = listen();
    let mut client = Joined::spawn(port);
    let mut server = accept(&listener);
    // Lines before the login answer are not shown at all.
    server
        .write_all(b"Server: \x1b[2J\x1b]0;hi\x07Welcome, type a name\n")
        .unwrap();
    assert_eq!(read_line(&mut server), "Max");
    server
        .write_all(b"Server: You are logged in as: Max\n")
        .unwrap();
    client
        .stdout
        .wait_for_line("Server: You are logged in as: Max");

    let mut attack = Vec::new();
    for (raw, _) in ATTACKS {
        attack.extend_from_slice(raw);
        attack.push(b'\n');
    }
    server.write_all(&attack).unwrap();
    // 1 MiB without a line end, in pieces, then the line end.
    let mib = vec![b'A'; 64 * 1024];
    for _ in 0..16 {
        server.write_all(&mib).unwrap();
    }
    server.write_all(b"\nafter the long line\n").unwrap();
    server.write_all(&garbage(16 * 1024)).unwrap();
    server.write_all(b"\nend of garbage\n").unwrap();
    client.stdout.wait_for_line("end of garbage");
    server.shutdown(Shutdown::Both).unwrap();
    drop(server);

    let status = client.exit_within(WAIT);
    let stderr = client.stderr.read_to_end().to_vec();
    let out = client.stdout.read_to_end().to_vec();
    assert_eq!(
        status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&stderr)
    );
    assert_terminal_safe("stdout", &out);
    assert_terminal_safe("stderr", &stderr);

    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("Connected to: 127.0.0.1:{port}"));
    assert_eq!(lines[1], "Server: You are logged in as: Max");
    assert!(!text.contains("Welcome"), "a pre-login line was shown");
    for (i, (raw, shown)) in ATTACKS.iter().enumerate() {
        assert_eq!(
            lines[2 + i],
            *shown,
            "attack {:?}",
            String::from_utf8_lossy(raw)
        );
    }
    let skipped = lines[2 + ATTACKS.len()];
    assert!(
        skipped.contains(TOO_LONG_HINT) && skipped.len() < 200,
        "expected a short notice for the 1 MiB line, got {:?}",
        &skipped[..skipped.len().min(200)]
    );
    assert_eq!(lines[3 + ATTACKS.len()], "after the long line");
    assert!(
        lines.iter().all(|l| l.len() < 20_000),
        "no part of the 1 MiB line may be shown"
    );
    assert_eq!(lines[lines.len() - 2], "end of garbage");
    assert_eq!(lines[lines.len() - 1], "Server left.");
}

#[test]
fn a_refused_login_exits_with_the_sanitized_reason() {
    let (listener, port) = listen();
    let mut client = Joined::spawn(port);
    let mut server = accept(&listener);
    assert_eq!(read_line(&mut server), "Max");
    server
        .write_all(b"Server: Error: \x1b[31mname \x9b\xc2\x9btaken\x07\r\n")
        .unwrap();

    let status = client.exit_within(WAIT);
    let stderr = client.stderr.read_to_end().to_vec();
    let out = client.stdout.read_to_end().to_vec();
    assert_eq!(status.code(), Some(1));
    assert_terminal_safe("stdout", &out);
    assert_terminal_safe("stderr", &stderr);
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(
        stderr.contains("refused the name Max: [31mname \u{fffd}taken"),
        "{stderr:?}"
    );
}

#[test]
fn a_server_that_hangs_up_during_login_ends_the_client() {
    let (listener, port) = listen();
    let mut client = Joined::spawn(port);
    let mut server = accept(&listener);
    assert_eq!(read_line(&mut server), "Max");
    drop(server);

    let status = client.exit_within(WAIT);
    assert_eq!(status.code(), Some(1));
    let stderr = String::from_utf8_lossy(client.stderr.read_to_end()).into_owned();
    assert!(
        stderr.contains("closed the connection while logging in"),
        "{stderr:?}"
    );
}

/// How long these tests let the client wait for a login answer.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(1);

#[test]
fn a_server_that_never_answers_the_login_is_given_up_on() {
    let (listener, port) = listen();
    let mut client = Joined::spawn_with(port, &["--login-timeout", "1"]);
    let mut server = accept(&listener);
    assert_eq!(read_line(&mut server), "Max");
    let asked = Instant::now();
    let status = client.exit_within(WAIT);
    assert_eq!(status.code(), Some(1));
    assert!(asked.elapsed() >= LOGIN_TIMEOUT - Duration::from_millis(100));
    let stderr = String::from_utf8_lossy(client.stderr.read_to_end()).into_owned();
    assert!(
        stderr.contains("did not answer the login within 1 s"),
        "{stderr:?}"
    );
    drop(server);
}

#[test]
fn a_server_that_trickles_lines_instead_of_answering_is_given_up_on() {
    let (listener, port) = listen();
    let mut client = Joined::spawn_with(port, &["--login-timeout", "1"]);
    let mut server = accept(&listener);
    assert_eq!(read_line(&mut server), "Max");
    let asked = Instant::now();
    // A line every 300 ms: a timeout restarted by each line would never fire.
    while asked.elapsed() < WAIT && client.is_running() {
        if server.write_all(b"Server: still thinking\n").is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(300));
    }
    assert!(
        !client.is_running(),
        "the client still waits for a login answer after {:?}",
        asked.elapsed()
    );
    assert_eq!(client.exit_within(WAIT).code(), Some(1));
}

/// How long the client waits, once it has stopped sending, for the server
/// to close (`CLOSE_TIMEOUT` in `src/client/mod.rs`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn a_server_that_stops_answering_cannot_hold_the_client_at_exit() {
    let (listener, port) = listen();
    let mut client = Joined::spawn(port);
    let mut server = accept(&listener);
    assert_eq!(read_line(&mut server), "Max");
    server
        .write_all(b"Server: You are logged in as: Max\n")
        .unwrap();
    client
        .stdout
        .wait_for_line("Server: You are logged in as: Max");

    // From here on the server neither sends nor closes.
    client.type_in("hello\nlast words\n");
    client.close_stdin();
    let ended = Instant::now();
    // The client asks the room's limits first; unanswered, it assumes
    // serve's defaults after a while.
    assert_eq!(read_line(&mut server), "/limits");
    assert_eq!(read_line(&mut server), "hello");
    assert_eq!(read_line(&mut server), "last words");
    // Then the client says it is done sending (FIN), and waits for a close
    // that never comes, but only for so long.
    let mut more = [0u8; 1];
    assert_eq!(server.read(&mut more).expect("read the client's end"), 0);
    let status = client.exit_within(CLOSE_TIMEOUT + Duration::from_secs(2));
    let stderr = String::from_utf8_lossy(client.stderr.read_to_end()).into_owned();
    assert_eq!(
        status.code(),
        Some(0),
        "after {:?}: {stderr}",
        ended.elapsed()
    );
    let out = String::from_utf8_lossy(client.stdout.read_to_end()).into_owned();
    assert!(!out.contains("Server left."), "{out:?}");
    drop(server);
}
