//! The real binary end to end, with pipes: what a script, a bot or a
//! heredoc sees. Exit codes: 0 done, 1 failed, 2 bad arguments (clap).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::support::{
    finish_blocking, sockchat, untimed, Finished, Nc, Running, Serve, Server, WAIT,
};

const ESC: char = '\x1b';

/// Runs `sockchat ARGS…` with `stdin` piped in, to the end.
fn run_to_end(args: &[&str], stdin: &str) -> Finished {
    finish_blocking(sockchat(args), stdin)
}

#[test]
fn two_piped_clients_chat_without_color() {
    let server = Server::start();
    let mut max = Running::spawn("Max", server.join(&["--name", "Max"]));
    max.stdout.expect("Server: You are logged in as: Max\n");

    // Bob's first line is his name; the rest is what he says.
    let mut bob = Running::spawn("Bob", server.join(&[]));
    bob.type_in("Bob\nhello\n");
    bob.close_stdin();
    max.stdout.expect("Server: Bob joined the party!\n");
    max.stdout.expect("Bob: hello\n");
    assert!(bob.wait().success(), "{}", bob.stderr.text());
    let bob_out = bob.stdout.text();
    assert!(
        bob_out.contains("Server: You are logged in as: Bob\n"),
        "{bob_out:?}"
    );
    max.stdout.expect("Server: Bob left the party.\n");

    max.close_stdin();
    assert!(max.wait().success(), "{}", max.stderr.text());
    for (who, out) in [("Max", max.stdout.text()), ("Bob", bob_out)] {
        assert!(
            !out.contains(ESC),
            "{who}'s piped stdout has an escape: {out:?}"
        );
    }
}

#[test]
fn help_names_the_subcommands() {
    let help = run_to_end(&["--help"], "");
    assert_eq!(help.status.code(), Some(0));
    assert!(
        help.stdout.contains("serve") && help.stdout.contains("join"),
        "{}",
        help.stdout
    );
}

#[test]
fn bad_arguments_exit_2() {
    for args in [
        &["--bogus"][..],
        &["join", "--bogus"],
        &["join", "--port", "65536"],
        // A server listens on a port that is not 0; a client has none to join.
        &["join", "--port", "0"],
        &["serve", "--port", "http"],
    ] {
        let run = run_to_end(args, "");
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// A port on 127.0.0.1 that is bound, so nobody else takes it, but not
/// listening, so connecting to it is refused.
fn refusing_port() -> (socket2::Socket, u16) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("address");
    socket.bind(&any.into()).expect("bind 127.0.0.1:0");
    let port = socket
        .local_addr()
        .expect("local address")
        .as_socket()
        .expect("an IP address")
        .port();
    (socket, port)
}

/// A port on 127.0.0.1 that nothing listens on right now, free for a
/// server to take (found by binding port 0 and letting it go again).
fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    probe.local_addr().expect("local address").port()
}

#[test]
fn join_where_nothing_listens_says_so_in_one_line() {
    let (_bound, port) = refusing_port();
    let started = Instant::now();
    let run = run_to_end(
        &["join", "--host", "127.0.0.1", "--port", &port.to_string()],
        "",
    );
    // Without --wait there is no retrying: the refusal ends it at once.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{:?}", run.stderr);
    assert!(lines[0].contains(&format!("127.0.0.1:{port}")), "{lines:?}");
    assert!(lines[0].contains("connection refused"), "{lines:?}");
    assert_eq!(run.stdout, "");
}

#[test]
fn serve_on_a_port_in_use_says_so_in_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = taken.local_addr().expect("local address").port();
    let run = run_to_end(
        &["serve", "--host", "127.0.0.1", "--port", &port.to_string()],
        "",
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{:?}", run.stderr);
    assert!(lines[0].contains(&format!("127.0.0.1:{port}")), "{lines:?}");
    assert!(lines[0].to_lowercase().contains("in use"), "{lines:?}");
}

#[test]
fn a_name_with_a_space_is_refused_before_connecting() {
    let (_bound, port) = refusing_port();
    let run = run_to_end(
        &["join", "--port", &port.to_string(), "--name", "bad name"],
        "",
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "sockchat: invalid --name 'bad name': a name cannot contain spaces\n"
    );
}

#[test]
fn piped_join_with_a_taken_name_fails_clearly() {
    let server = Server::start();
    let _max = Nc::login(server.addr, "Max");
    let mut late = Running::spawn("late", server.join(&[]));
    late.type_in("max\nhello\n");
    late.close_stdin();
    let status = late.wait();
    assert_eq!(status.code(), Some(1), "{}", late.stderr.text());
    let stderr = late.stderr.text();
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.contains("max") && stderr.contains("taken"),
        "{stderr:?}"
    );
}

#[test]
fn piped_join_without_a_name_fails_clearly() {
    let server = Server::start();
    let mut nameless = Running::spawn("nameless", server.join(&[]));
    nameless.close_stdin();
    assert_eq!(nameless.wait().code(), Some(1));
    let stderr = nameless.stderr.text();
    assert!(stderr.contains("no username"), "{stderr:?}");
}

#[test]
fn the_server_leaving_ends_a_piped_join() {
    let server = Server::start();
    let mut max = Running::spawn("Max", server.join(&["--name", "Max"]));
    max.stdout.expect("Server: You are logged in as: Max\n");
    assert!(server.stop().success());
    max.stdout.expect("Server: shutting down\nServer left.\n");
    assert_eq!(max.wait().code(), Some(1), "{}", max.stderr.text());
}

#[test]
fn the_environment_gives_defaults() {
    let server = Server::start();
    let mut command = sockchat(["join"]);
    command
        .env("SOCKCHAT_HOST", "127.0.0.1")
        .env("SOCKCHAT_PORT", server.port())
        .env("SOCKCHAT_NAME", "Envy");
    let mut envy = Running::spawn("Envy", command);
    envy.stdout.expect("Server: You are logged in as: Envy\n");
    envy.close_stdin();
    assert!(envy.wait().success());
}

#[test]
fn join_wait_keeps_trying_until_the_server_starts() {
    let port = free_port();
    let mut max = Running::spawn(
        "Max",
        sockchat([
            "join",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--wait",
            "10",
            "--name",
            "Max",
        ]),
    );
    // Refused for a while (a few attempts with backoff): still trying.
    // Time passing is what is tested, so a sleep is the event here; 600 ms
    // of a 10 s --wait leaves a margin no scheduling delay comes near.
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        max.is_running(),
        "join --wait gave up while it had time left: {}",
        max.stderr.text()
    );
    let _server = Serve::new().at("127.0.0.1", port).start();
    max.stdout.expect("Server: You are logged in as: Max\n");
    max.close_stdin();
    assert!(max.wait().success(), "{}", max.stderr.text());
    assert!(
        !max.stderr.text().contains("cannot connect"),
        "{}",
        max.stderr.text()
    );
}

#[test]
fn join_wait_gives_up_when_its_time_is_over() {
    let (_bound, port) = refusing_port();
    let started = Instant::now();
    let run = run_to_end(
        &[
            "join",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--wait",
            "1",
        ],
        "",
    );
    let took = started.elapsed();
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(took >= Duration::from_millis(900), "gave up after {took:?}");
    assert!(took < WAIT, "still trying after {took:?}");
    // The same one line as without --wait: the spinner leaves nothing behind.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{:?}", run.stderr);
    assert!(lines[0].contains("connection refused"), "{lines:?}");
}

/// This machine's non-loopback IPv4 addresses, sorted, as `serve` lists them.
fn reachable_ipv4() -> Vec<IpAddr> {
    let interfaces = if_addrs::get_if_addrs().expect("list the network interfaces");
    let mut ips: Vec<IpAddr> = interfaces
        .iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .filter(IpAddr::is_ipv4)
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

#[test]
fn serve_on_every_interface_lists_the_addresses_to_join() {
    let mut server = Serve::new().at("0.0.0.0", 0).start();
    assert!(server.addr.ip().is_unspecified(), "{}", server.addr);
    let port = server.addr.port();
    let ips = reachable_ipv4();
    for ip in &ips {
        server
            .process
            .stdout
            .expect(&format!("  sockchat join --host {ip} --port {port}\n"));
    }
    // Served (the accept loop answers) before stopping: see the next test.
    Nc::login(([127, 0, 0, 1], port).into(), "Max");
    let run = server.stop_to_end();
    assert!(run.status.success(), "{:?}: {}", run.status, run.stderr);
    let listed: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|line| line.strip_prefix("  sockchat join --host "))
        .collect();
    let expected: Vec<String> = ips.iter().map(|ip| format!("{ip} --port {port}")).collect();
    assert_eq!(listed, expected, "{}", run.stdout);
    assert!(!run.stdout.contains("127.0.0.1"), "{}", run.stdout);
    if ips.is_empty() {
        assert!(
            run.stdout.contains(&format!(
                "Join from this machine with: sockchat join --port {port}\n"
            )),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn serve_stops_gracefully_when_signalled_right_after_its_banner() {
    // A script that waits for the banner, then stops the server, as a
    // person pressing Ctrl-C at once would.
    for _ in 0..5 {
        let server = Server::start();
        let run = server.stop_to_end();
        assert!(
            run.status.success(),
            "{:?}; stderr: {:?}",
            run.status,
            run.stderr
        );
        assert!(
            run.stderr.contains("Server: shutting down"),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn a_piped_server_logs_timed_plain_lines_and_no_status_line() {
    // Whole seconds: a line's time may be read from a coarser clock.
    let started = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(1);
    let server = Server::start();
    let mut max = Nc::login(server.addr, "Max");
    let mut bob = Nc::login(server.addr, "Bob");
    max.expect_line("Server: Bob joined the party!");
    max.send("hi");
    bob.expect_line("Max: hi");
    drop(bob);
    max.expect_line("Server: Bob left the party.");
    // Nobody left to wait for at shutdown.
    drop(max);
    // On a terminal the status line would be drawn within 100 ms of that.
    // Showing it is absent takes time: three redraw periods. No race: a
    // slow machine can only make this miss a status line, never invent one.
    std::thread::sleep(Duration::from_millis(300));
    let run = server.stop_to_end();
    let stopped = jiff::Timestamp::now();
    assert!(run.status.success(), "{}", run.stderr);
    // Each line starts with its time: RFC 3339, UTC, then a space.
    let mut texts = Vec::new();
    for line in run.stderr.lines() {
        let text = untimed(line);
        let time = line[..line.len() - text.len() - 1].parse::<jiff::Timestamp>();
        assert!(
            time.is_ok_and(|at| started <= at && at <= stopped),
            "not a time of this run at the start of {line:?}"
        );
        texts.push(text);
    }
    for line in [
        "Server: Connection from 127.0.0.1:",
        "Server: Max joined the party! (127.0.0.1:",
        "Server: Bob left the party. (127.0.0.1:",
    ] {
        assert!(
            texts.iter().any(|l| l.starts_with(line)),
            "no line starting {line:?}: {:?}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains(ESC), "{:?}", run.stderr);
    assert!(!run.stderr.contains("online"), "{:?}", run.stderr);
    assert!(!run.stderr.contains('\r'), "{:?}", run.stderr);
}

#[test]
fn serve_refuses_a_send_queue_too_small_for_the_longest_line() {
    let run = run_to_end(
        &[
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--max-line-bytes",
            "1048576",
        ],
        "",
    );
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert_eq!(
        run.stderr,
        "sockchat: --send-queue 1048576 is too small for --max-line-bytes 1048576: \
         it must be at least 2097664\n"
    );
}

#[test]
fn join_wait_is_bounded() {
    let run = run_to_end(&["join", "--wait", "18446744073709551615"], "");
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
}

#[test]
fn quit_with_words_after_it_is_a_clean_leave() {
    let server = Server::start();
    let mut max = Running::spawn("Max", server.join(&["--name", "Max"]));
    max.stdout.expect("Server: You are logged in as: Max\n");
    // stdin stays open: only the server's close after /quit ends the run.
    max.type_in("/QUIT see you all\n");
    max.stdout.expect("Server: Bye!\n");
    assert_eq!(max.wait().code(), Some(0), "{}", max.stderr.text());
    assert!(!max.stdout.text().contains("Server left."));
}
