//! The real `sockchat join` binary against a fake, hostile server: whatever
//! bytes the server sends, nothing but sanitized text and `\n` reaches the
//! client's stdout, and the client never waits forever. Every wait here has
//! a timeout (see `support`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use async_std::net::TcpListener;
use sockchat::protocol::message::reply::GREETING;

use crate::support::{join_command, run, Nc, Running, WAIT};

/// The line the client prints for a line over its 64 KiB cap is short and
/// says why; this is the part the test relies on.
const TOO_LONG_HINT: &str = "too long";

/// `sockchat join --name Max EXTRA…` run against `port`, stdin held open.
fn join(port: u16, extra: &[&str]) -> Running {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut command = join_command(addr, &["--name", "Max"]);
    command.args(extra);
    Running::spawn("join", command)
}

/// The fake server's listening socket on 127.0.0.1, any free port.
fn listen() -> (TcpListener, u16) {
    let listener = run(TcpListener::bind("127.0.0.1:0")).expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    (listener, port)
}

/// Accepts the client's connection (waiting at most `WAIT`) and greets it.
fn accept(listener: &TcpListener) -> Nc {
    let accepted = run(async_std::future::timeout(WAIT, listener.accept()));
    let (stream, _) = accepted
        .expect("the client did not connect")
        .expect("accept failed");
    let mut server = Nc::from_tcp(stream);
    // `join` waits for the greeting before it gives a name.
    server.send(GREETING);
    server
}

/// `join --name Max` logged in to the fake server: the client, the
/// server's end, and the listener (kept for as long as the test runs).
fn logged_in_max() -> (Running, Nc, TcpListener) {
    let (listener, port) = listen();
    let mut client = join(port, &[]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    server.send_raw(b"Server: You are logged in as: Max\n");
    client.stdout.expect("Server: You are logged in as: Max\n");
    (client, server, listener)
}

/// The client's next line that is not empty: `join` sends an empty line
/// first (a probe for TLS servers), then `/tagged`, which this fake server
/// refuses as a server from before tagged mode does (as a name).
fn next_line(server: &mut Nc) -> String {
    loop {
        let line = server.line();
        if line == sockchat::protocol::tagged::SWITCH {
            server.send(OLD_SERVER_REFUSES_TAGGED);
            continue;
        }
        if !line.is_empty() {
            return line;
        }
    }
}

/// How a server without tagged mode answers `/tagged`: as a bad name.
const OLD_SERVER_REFUSES_TAGGED: &str =
    "Server: Error: a name cannot start with /; type another username";

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

/// Attack lines (without `\n`) and what the client must print for each:
/// control characters as caret text, not half-stripped debris, and the
/// chat-text rules applied.
const ATTACKS: &[(&[u8], &str)] = &[
    (b"Max: \x1b[31mred\x1b[0m", "Max: ^[[31mred^[[0m"),
    (b"Bob: \x1b[2J\x1b[Hcleared", "Bob: ^[[2J^[[Hcleared"),
    (
        b"Server: \x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07copied",
        "Server: ^[]52;c;Y3VybCBldmlsLnNoIHwgc2g=^Gcopied",
    ),
    (b"\x1b]0;pwned\x1b\\title", "^[]0;pwned^[\\title"),
    (
        b"Bob: hi\rServer: admin joined",
        "Bob: hi^MServer: admin joined",
    ),
    ("Bob: a\u{9b}31mb".as_bytes(), "Bob: a<U+009B>31mb"),
    ("Bob: \u{85}next".as_bytes(), "Bob: <U+0085>next"),
    (b"Bob: ding\x07\x07", "Bob: ding^G^G"),
    (
        b"Bob: bad \xff\xfe utf8 \xc3",
        "Bob: bad \u{fffd}\u{fffd} utf8 \u{fffd}",
    ),
    (
        b"Bob: nul\x00 del\x7f bs\x08 vt\x0b ff\x0c",
        "Bob: nul^@ del^? bs^H vt^K ff^L",
    ),
    (b"Bob: tab\there", "Bob: tab here"),
    (b"Bob: crlf\r", "Bob: crlf"),
    (
        "Bob: hi\u{2028}Server: admin joined".as_bytes(),
        "Bob: hi Server: admin joined",
    ),
    (
        "Bob: \u{202E}nimda".as_bytes(),
        "Bob: nimda",
    ),
    (
        b"Bob:                                                                           Server: admin joined",
        "Bob:    Server: admin joined",
    ),
];

#[test]
fn a_hostile_server_cannot_reach_the_terminal() {
    let (listener, port) = listen();
    let mut client = join(port, &[]);
    let mut server = accept(&listener);
    // Lines before the login answer are not shown at all.
    server.send_raw(b"Server: \x1b[2J\x1b]0;hi\x07Welcome, type a name\n");
    assert_eq!(next_line(&mut server), "Max");
    server.send_raw(b"Server: You are logged in as: Max\n");
    client.stdout.expect("Server: You are logged in as: Max\n");

    let mut attack = Vec::new();
    for (raw, _) in ATTACKS {
        attack.extend_from_slice(raw);
        attack.push(b'\n');
    }
    server.send_raw(&attack);
    // 1 MiB without a line end, in pieces, then the line end.
    let mib = vec![b'A'; 64 * 1024];
    for _ in 0..16 {
        server.send_raw(&mib);
    }
    server.send_raw(b"\nafter the long line\n");
    server.send_raw(&garbage(16 * 1024));
    server.send_raw(b"\nend of garbage\n");
    client.stdout.expect("end of garbage\n");
    server.shutdown();
    drop(server);

    let status = client.wait();
    let stderr = client.stderr.bytes().to_vec();
    let out = client.stdout.bytes().to_vec();
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
    let mut client = join(port, &[]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    server.send_raw(b"Server: Error: \x1b[31mname \x9b\xc2\x9btaken\x07\r\n");

    let status = client.wait();
    let stderr = client.stderr.bytes().to_vec();
    let out = client.stdout.bytes().to_vec();
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
    let mut client = join(port, &[]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    drop(server);

    let status = client.wait();
    assert_eq!(status.code(), Some(1));
    let stderr = client.stderr.text();
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
    let mut client = join(port, &["--login-timeout", "1"]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    let asked = Instant::now();
    let status = client.wait();
    assert_eq!(status.code(), Some(1));
    assert!(asked.elapsed() >= LOGIN_TIMEOUT - Duration::from_millis(100));
    let stderr = client.stderr.text();
    assert!(
        stderr.contains("did not answer the login within 1 s"),
        "{stderr:?}"
    );
    drop(server);
}

#[test]
fn a_server_that_trickles_lines_instead_of_answering_is_given_up_on() {
    let (listener, port) = listen();
    let mut client = join(port, &["--login-timeout", "1"]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    let asked = Instant::now();
    // A line every 300 ms: a timeout restarted by each line would never fire.
    while asked.elapsed() < WAIT && client.is_running() {
        if server.try_send_raw(b"Server: still thinking\n").is_err() {
            break;
        }
        // Pacing, not waiting for anything: the loop ends when the client does.
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        !client.is_running(),
        "the client still waits for a login answer after {:?}",
        asked.elapsed()
    );
    assert_eq!(client.wait().code(), Some(1));
}

/// How long the client waits, once it has stopped sending, for the server
/// to close (`CLOSE_TIMEOUT` in `src/client/mod.rs`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn a_server_that_stops_answering_cannot_hold_the_client_at_exit() {
    let (mut client, mut server, _listener) = logged_in_max();

    // From here on the server neither sends nor closes.
    client.type_in("hello\nlast words\n");
    client.close_stdin();
    let ended = Instant::now();
    // The client asks the room's limits first; unanswered, it sends
    // unpaced after a while.
    assert_eq!(next_line(&mut server), "/limits");
    assert_eq!(next_line(&mut server), "hello");
    assert_eq!(next_line(&mut server), "last words");
    // Then the client says it is done sending (FIN), and waits for a close
    // that never comes, but only for so long.
    server.expect_closed();
    let status = client.exit_within(CLOSE_TIMEOUT + Duration::from_secs(2));
    let status = status.unwrap_or_else(|| {
        panic!(
            "the client is still running after {:?}; stderr:\n{}",
            ended.elapsed(),
            client.stderr.text()
        )
    });
    let stderr = client.stderr.expect_end();
    assert_eq!(
        status.code(),
        Some(0),
        "after {:?}: {stderr}",
        ended.elapsed()
    );
    let out = client.stdout.expect_end();
    assert!(!out.contains("Server left."), "{out:?}");
    drop(server);
}

/// An older server that refuses `/limits` and answers only after the
/// client stopped waiting for it: its refusal is still ours, hidden, and
/// never pinned on a command the person typed.
#[test]
fn a_late_refusal_of_limits_is_hidden_and_not_counted_against_the_input() {
    let (mut client, mut server, _listener) = logged_in_max();
    assert_eq!(next_line(&mut server), "/limits");
    client.type_in("/who\n");
    // Past the client's wait for the answer (2 s), it sends unpaced.
    assert_eq!(next_line(&mut server), "/who");
    server.send_raw(b"Server: Error: unknown command /limits; type /help for the list\n");
    server.send_raw(b"Server: Online (1): Max\n");
    client.close_stdin();
    server.expect_closed();
    drop(server);
    let status = client.exit_within(WAIT).expect("the client exits");
    let out = client.stdout.expect_end();
    assert!(!out.contains("unknown command"), "{out:?}");
    assert!(!out.contains("not sent"), "{out:?}");
    assert_eq!(status.code(), Some(0), "{}", client.stderr.text());
}

/// The next line the client sends that is not empty.
fn next_sent(server: &mut Nc) -> String {
    loop {
        let line = server.line();
        if !line.is_empty() {
            return line;
        }
    }
}

/// A server whose catch-up block comes short (its header promises three
/// lines, two come, then the footer, as from a server that dropped lines
/// from a block's middle): the client does not call it complete, but
/// asks `/history after` the id before it, and shows each line once.
#[test]
fn a_short_catch_up_block_is_asked_for_again_before_it_is_called_complete() {
    let (listener, port) = listen();
    let mut client = join(port, &[]);
    let mut server = accept(&listener);
    assert_eq!(next_sent(&mut server), sockchat::protocol::tagged::SWITCH);
    server.send("~t=1000,rate=0,burst=0,max=4096 Server: Tagged mode on.");
    let name = next_sent(&mut server);
    assert!(name.ends_with("Max"), "{name:?}");
    let token = "0123456789abcdef0123456789abcdef";
    server.send(&format!(
        "~t=1000,session={token},last=11 Server: You are logged in as: Max"
    ));
    for line in [
        "~t=1000,history=3,missed=0 Server: The last 3 messages before you came (times UTC):",
        "~id=7,t=1000,h Ann: one",
        "~id=9,t=1000,h Ann: three",
        "~t=1000,history=end Server: End of the last 3 messages.",
        "~id=11,t=1000 Server: Max joined the party!",
    ] {
        server.send(line);
    }
    let asked = next_sent(&mut server);
    let (label, text) = asked
        .strip_prefix('~')
        .and_then(|rest| rest.split_once(' '))
        .unwrap_or_else(|| panic!("not a labeled line: {asked:?}"));
    assert_eq!(text, "/history after 6");
    for line in [
        format!("~t=1000,history=3,missed=0,re={label} Server: 3 messages after id 6 (times UTC):"),
        "~id=7,t=1000,h Ann: one".to_string(),
        "~id=8,t=1000,h Ann: two".to_string(),
        "~id=9,t=1000,h Ann: three".to_string(),
        format!("~t=1000,history=end,re={label} Server: End of the 3 messages after id 6."),
        "~id=12,t=2000 Ann: live".to_string(),
    ] {
        server.send(&line);
    }
    client.stdout.expect("Ann: live\n");
    client.close_stdin();
    server.expect_closed();
    drop(server);
    let status = client.exit_within(WAIT).expect("the client exits");
    let out = client.stdout.expect_end();
    assert_eq!(status.code(), Some(0), "{}", client.stderr.text());
    let shown: Vec<&str> = out.lines().filter(|l| l.starts_with("Ann: ")).collect();
    assert_eq!(
        shown,
        ["Ann: one", "Ann: two", "Ann: three", "Ann: live"],
        "{out}"
    );
    assert!(out.contains("── 3 new"), "{out}");
    assert!(!out.contains("did not arrive"), "{out}");
}
