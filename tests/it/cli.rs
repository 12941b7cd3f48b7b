//! The command line and the house: the real binary's flags, exit codes and
//! messages, and the checks that keep the repository true to it.
//!
//! - arguments, the environment's defaults, `--wait`, ports in `--host`,
//!   errors in one line, `serve`'s banner, log and status line, signals;
//! - completions and man pages that match the CLI;
//! - the docs: every `sockchat` command example parses, the layout lists
//!   `src/`; layers that point one way; no import cycles in `src/`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::CommandFactory;
use sockchat::cli::Cli;
use sockchat::protocol::message::reply::GREETING;

use crate::support::terminal::{sgr_escapes, Pty, CTRL_C};
use crate::support::{
    finish_blocking, run, sockchat, untimed, Client, Finished, Nc, Running, Serve, Server, ESC,
    WAIT,
};

// ---------------------------------------------------------------------------
// Arguments, errors and `serve`'s output

/// Runs `sockchat ARGS…` with `stdin` piped in, to the end.
fn run_to_end(args: &[&str], stdin: &str) -> Finished {
    finish_blocking(sockchat(args), stdin)
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
fn a_bad_room_is_refused_as_a_bad_argument_with_its_reason() {
    let (_bound, port) = refusing_port();
    let port = port.to_string();
    for (room, why) in [
        ("#two words", "a room name cannot contain spaces"),
        ("#", "a room name needs at least one character after '#'"),
        ("ops]", "a room name cannot contain ']'"),
    ] {
        let run = run_to_end(&["join", "--port", &port, "--room", room], "");
        assert_eq!(run.status.code(), Some(2), "{room}: {}", run.stderr);
        let first = run.stderr.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            format!("error: invalid value '{room}' for '--room <NAME>': {why}")
        );
    }
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

// ---------------------------------------------------------------------------
// A port written into `--host`

#[test]
fn serve_and_join_take_the_port_written_into_the_host() {
    // `serve` gets the port twice (the helper adds `--port 0`): the same
    // port twice is no contradiction. `join` below gets it only in --host.
    let server = Serve::new().at("127.0.0.1:0", 0).start();
    let addr = server.addr;
    assert_ne!(addr.port(), 0, "port 0 asks for a free port");
    let mut watcher = Nc::login(addr, "Watcher");

    let host = format!("127.0.0.1:{}", addr.port());
    let joined = run_to_end(&["join", "--host", &host, "--name", "Max"], "hello\n");
    assert_eq!(joined.status.code(), Some(0), "{}", joined.stderr);
    assert!(
        joined.stdout.contains(&format!("Connected to: {host}")),
        "{}",
        joined.stdout
    );
    watcher.expect_line("Server: Max joined the party!");
    watcher.expect_line("Max: hello");
}

#[test]
fn a_port_in_the_host_and_a_different_port_flag_are_refused() {
    let refused = run_to_end(&["join", "--host", "[::1]:4000", "--port", "4001"], "");
    assert_eq!(refused.status.code(), Some(1), "{}", refused.stderr);
    assert_eq!(
        refused.stderr,
        "sockchat: --host [::1]:4000 names port 4000 but --port (or SOCKCHAT_PORT) says 4001: \
         give the port once, as --host [::1] --port 4000\n"
    );
}

// ---------------------------------------------------------------------------
// Signals and exit codes

const SHUTTING_DOWN: &str = "Server: shutting down";

/// The binary with clients connected gets `signal`: each client is told,
/// then sees a clean EOF, and the process exits 0 within 3 s.
fn graceful_shutdown_on(signal: i32) {
    run(async {
        let mut server = Serve::new().start();
        let mut a = Client::connect(server.addr).await;
        a.log_in("A").await;
        let mut b = Client::connect(server.addr).await;
        b.log_in("B").await;
        a.expect_line("Server: B joined the party!").await;
        let mut pending = Client::connect(server.addr).await;
        pending.expect_line(GREETING).await;

        let sent = Instant::now();
        server.process.signal(signal);
        for client in [&mut a, &mut b, &mut pending] {
            client.expect_line(SHUTTING_DOWN).await;
            let (more, eof) = client.read_to_close().await;
            assert_eq!((more, eof), (0, true), "not a clean close after the notice");
        }
        drop((a, b, pending));
        let status = server.process.exit_within(Duration::from_secs(3));
        let status = status.expect("the server did not exit within 3 s");
        eprintln!(
            "signal {signal}: exited {status} after {:?}",
            sent.elapsed()
        );
        assert!(status.success(), "{status}");
    });
}

#[test]
fn sigterm_tells_every_client_closes_them_and_exits_0() {
    graceful_shutdown_on(libc::SIGTERM);
}

#[test]
fn sigint_tells_every_client_closes_them_and_exits_0() {
    graceful_shutdown_on(libc::SIGINT);
}

#[test]
fn a_second_sigint_during_shutdown_exits_at_once() {
    run(async {
        let mut server = Serve::new().start();
        let mut a = Client::login(server.addr, "A").await;
        server.process.signal(libc::SIGINT);
        // Shutdown is under way; A keeps its side open, so it would take
        // the server's full linger time to finish.
        a.expect_line(SHUTTING_DOWN).await;
        let sent = Instant::now();
        server.process.signal(libc::SIGINT);
        let status = server.process.exit_within(Duration::from_millis(1000));
        let status = status.expect("a second SIGINT did not stop the server at once");
        eprintln!("second SIGINT: exited {status} after {:?}", sent.elapsed());
        assert!(!status.success(), "{status}");
    });
}

#[test]
fn serve_on_a_port_in_use_exits_1_with_one_line_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("local addr").port();
    // With a backtrace asked for: an error must still be one plain line.
    let serve = Serve::new()
        .at("127.0.0.1", port)
        .env("RUST_BACKTRACE", "1");
    let done = finish_blocking(serve.command(), "");
    let stderr = &done.stderr;
    assert_eq!(done.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}")),
        "stderr: {stderr}"
    );
    assert!(
        !stderr.contains("acktrace") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(done.stdout, "", "it claimed to run");
    drop(taken);
}

// ---------------------------------------------------------------------------
// `serve` on a terminal

#[test]
fn serve_on_a_terminal_logs_in_colour_under_a_live_status_line() {
    let (mut pty, addr) = Pty::serve(&[]);
    let mut max = Nc::login(addr, "Max");
    pty.screen
        .expect("\x1b[32mServer: Connection from 127.0.0.1:");
    pty.screen.expect("\x1b[32mServer: Max joined the party!");
    pty.screen
        .expect("1 online · 0 messages relayed · Ctrl-C stops");
    let mut bob = Nc::login(addr, "Bob");
    max.expect_line("Server: Bob joined the party!");
    pty.screen.expect("\x1b[32mServer: Bob joined the party!");
    pty.screen.expect("2 online · 0 messages relayed");
    // One message, to one other person: one relayed.
    max.send("hi");
    bob.expect_line("Max: hi");
    pty.screen.expect("2 online · 1 message relayed");
    drop(bob);
    pty.screen.expect("\x1b[33mServer: Bob left the party.");
    pty.screen.expect("1 online · 1 message relayed");
    drop(max);
    pty.screen.expect("\x1b[33mServer: Max left the party.");
    pty.screen.expect("0 online · 1 message relayed");
    pty.type_keys(CTRL_C);
    pty.screen.expect("Server: shutting down");
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn serve_on_a_terminal_with_no_color_logs_plainly() {
    let (mut pty, addr) = Pty::serve(&[("NO_COLOR", "1")]);
    let max = Nc::login(addr, "Max");
    pty.screen.expect("Server: Max joined the party!");
    // The status line is still there: NO_COLOR is about colour only.
    pty.screen.expect("1 online");
    drop(max);
    pty.screen.expect("Server: Max left the party.");
    pty.screen.expect("0 online");
    pty.type_keys(CTRL_C);
    assert_eq!(pty.exit_code(), 0);
    let screen = pty.screen.text();
    assert_eq!(sgr_escapes(&screen), Vec::<String>::new(), "{screen:?}");
}

// ---------------------------------------------------------------------------
// The environment, and `serve` on a narrow terminal

// Errors in plain words.

#[test]
fn a_bad_value_in_the_environment_is_named_by_its_variable() {
    let cases = [
        ("SOCKCHAT_NAME", "two words", "SOCKCHAT_NAME"),
        ("SOCKCHAT_TLS", "maybe", "SOCKCHAT_TLS"),
        ("SOCKCHAT_PORT", "http", "SOCKCHAT_PORT"),
        ("SOCKCHAT_ROOM", "#a,b", "SOCKCHAT_ROOM"),
    ];
    for (var, value, named) in cases {
        let mut join = sockchat(["join"]);
        join.env(var, value);
        let run = finish_blocking(join, "");
        assert_ne!(run.code(), Some(0), "{var}={value}: {run:?}");
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.contains(named), "{var}={value}: {first}");
        assert!(!first.contains("--"), "{var}={value} names a flag: {first}");
    }
}

// Small things.

#[test]
fn the_serve_status_line_is_cut_to_a_narrow_terminal_not_wrapped() {
    let mut pty = Pty::spawn(Serve::new().env("NO_COLOR", "1").command());
    pty.session
        .get_process_mut()
        .set_window_size(30, 10)
        .expect("resize the pty");
    let addr = crate::support::serve::banner_addr(&pty.screen.expect("\n"));
    // A change of figures, drawn at the new width: two columns are left
    // free (the terminal's `^C` echo must not wrap the line).
    let _max = Nc::login(addr, "Max");
    pty.screen.expect("\r\x1b[K1 online · 0 messages relay…");
}

// ---------------------------------------------------------------------------
// Shell completions

/// The command that regenerates every file in `completions/`.
const COMPLETIONS_REFRESH: &str = "completions/refresh.sh";

#[test]
fn committed_completions_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let mut stale = Vec::new();
    for (shell, file) in [
        ("bash", "sockchat.bash"),
        ("zsh", "_sockchat"),
        ("fish", "sockchat.fish"),
        ("elvish", "sockchat.elv"),
        ("powershell", "_sockchat.ps1"),
    ] {
        let output = sockchat(["completions", shell])
            .output()
            .expect("run sockchat completions");
        assert!(
            output.status.success(),
            "sockchat completions {shell} failed"
        );
        let committed = std::fs::read(dir.join(file)).unwrap_or_default();
        if output.stdout != committed {
            stale.push(format!("completions/{file}"));
        }
    }
    assert!(
        stale.is_empty(),
        "stale shell completions: {}\nrefresh them all from the repository root with:\n    {COMPLETIONS_REFRESH}",
        stale.join(", ")
    );
}

#[test]
fn completions_to_a_closed_pipe_are_not_a_crash() {
    let mut fds = [0; 2];
    // Close-on-exec, so that no child spawned by another test meanwhile
    // keeps the reading end open.
    // SAFETY: pipe2() fills two descriptors.
    let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(made, 0, "pipe2");
    // SAFETY: both descriptors were just created and are owned here only.
    let (read, write) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    // Like `sockchat completions bash | head -0`: the reader is gone first.
    drop(read);
    let mut command = sockchat(["completions", "bash"]);
    command.stdout(write);
    let output = command.output().expect("run sockchat");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

/// The install commands the docs give (`docs/client.md`), run as written
/// in a new home (no directories made yet), install a file for each shell.
#[test]
fn the_documented_install_commands_work_in_a_new_home() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/client.md"))
            .expect("read docs/client.md");
    let home = tempfile::tempdir().expect("a temp dir");
    let bin = Path::new(crate::support::command::BIN)
        .parent()
        .expect("the binary's directory");
    for (shell, installed) in [
        ("bash", ".local/share/bash-completion/completions/sockchat"),
        ("zsh", ".zfunc/_sockchat"),
        ("fish", ".config/fish/completions/sockchat.fish"),
        ("elvish", ".config/elvish/rc.elv"),
    ] {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| {shell} | `")))
            .unwrap_or_else(|| panic!("no install row for {shell} in docs/client.md"));
        let command = row.split('`').nth(1).unwrap_or_default();
        let ran = std::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .env("HOME", home.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .expect("run sh");
        let said = String::from_utf8_lossy(&ran.stderr);
        assert!(ran.status.success(), "{shell}: `{command}` failed: {said}");
        let file = std::fs::read(home.path().join(installed)).unwrap_or_default();
        assert!(!file.is_empty(), "{shell}: `{command}` installed nothing");
    }
    assert!(readme.contains("`bash-completion` package"));
}

// ---------------------------------------------------------------------------
// Man pages

/// The command that regenerates every file in `man/`.
const MAN_REFRESH: &str = "man/refresh.sh";

/// Set by `man/refresh.sh`: write the pages instead of comparing them.
const WRITE: &str = "SOCKCHAT_WRITE_MAN";

/// Every page: `sockchat.1`, then one per subcommand (`sockchat-serve.1`…),
/// as `clap_mangen::generate_to` names them, rendered in memory.
fn pages() -> Vec<(String, Vec<u8>)> {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    let mut pending = vec![command];
    while let Some(command) = pending.pop() {
        pending.extend(
            command
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .cloned(),
        );
        let man = clap_mangen::Man::new(command);
        let mut page = Vec::new();
        man.render(&mut page).expect("render a man page in memory");
        pages.push((man.get_filename(), page));
    }
    pages
}

#[test]
fn committed_man_pages_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = pages();
    if std::env::var_os(WRITE).is_some() {
        for (file, page) in &pages {
            std::fs::write(dir.join(file), page).expect("write a man page");
        }
    }
    let mut stale: Vec<String> = pages
        .iter()
        .filter(|(file, page)| std::fs::read(dir.join(file)).ok().as_ref() != Some(page))
        .map(|(file, _)| format!("man/{file} (differs or is missing)"))
        .collect();
    // A page for a subcommand that no longer exists is stale too.
    let committed = std::fs::read_dir(&dir).expect("read man/");
    for entry in committed {
        let file = entry.expect("a man/ entry").file_name();
        let file = file.to_string_lossy();
        if file.ends_with(".1") && !pages.iter().any(|(name, _)| *name == file) {
            stale.push(format!("man/{file} (no such command)"));
        }
    }
    assert!(
        stale.is_empty(),
        "stale man pages: {}\nrefresh them from the repository root with:\n    {MAN_REFRESH}",
        stale.join(", ")
    );
}

#[test]
fn every_subcommand_has_a_page_naming_its_flags() {
    let pages = pages();
    let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
    for wanted in ["sockchat.1", "sockchat-serve.1", "sockchat-join.1"] {
        assert!(names.contains(&wanted), "no {wanted} in {names:?}");
    }
    let (_, serve) = pages
        .iter()
        .find(|(name, _)| name == "sockchat-serve.1")
        .expect("a page for serve");
    let serve = String::from_utf8_lossy(serve);
    // roff escapes each `-` of a flag as `\-`.
    assert!(serve.contains(r"\-\-send\-budget"), "{serve}");
    assert!(serve.contains("SOCKCHAT_PORT"), "{serve}");
}

// ---------------------------------------------------------------------------
// The docs match the program

/// The Markdown files whose examples a person copies.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("docs/ lists").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The lines of every fenced block marked `sh`, with where each stands.
fn shell_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut in_shell = false;
    let mut in_other = false;
    for (number, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            if in_shell || in_other {
                (in_shell, in_other) = (false, false);
            } else if info.trim() == "sh" {
                in_shell = true;
            } else {
                in_other = true;
            }
        } else if in_shell {
            // A line ending in `\` goes on in the next one.
            match lines.last_mut() {
                Some((_, last)) if last.ends_with('\\') => {
                    last.pop();
                    last.push_str(line);
                }
                _ => lines.push((number + 1, line.to_string())),
            }
        }
    }
    lines
}

/// Words that end the arguments of a command in a shell line.
fn ends_command(word: &str) -> bool {
    matches!(word, "|" | "||" | "&&" | ";" | "&")
        || word.starts_with('#')
        || word.starts_with('>')
        || word.starts_with('<')
        || word.starts_with("2>")
}

/// Every `sockchat …` command in one shell line, as its argument vectors.
/// Environment assignments in front (`SOCKCHAT_PORT=0 sockchat serve`) and
/// what follows a pipe, a redirect or a comment are not arguments. A
/// line shlex cannot split (a quote left open) is reported as such.
fn commands(line: &str) -> Result<Vec<Vec<String>>, String> {
    // `$ ` marks a prompt in a transcript-like example.
    let line = line.trim_start().trim_start_matches("$ ");
    // Pipes and the like may touch their neighbours (`a|b` is rare in
    // these docs, but `(…)` groups are common): space them out first.
    let spaced = line
        .replace('(', " ( ")
        .replace(')', " ) ")
        .replace('|', " | ");
    let words = shlex::split(&spaced).ok_or("a quote is left open")?;
    let mut found = Vec::new();
    let mut current: Option<Vec<String>> = None;
    let mut at_start = true;
    for word in words {
        if ends_command(&word) || word == "(" || word == ")" {
            found.extend(current.take());
            at_start = true;
            if word.starts_with('#') {
                break;
            }
            continue;
        }
        if let Some(args) = current.as_mut() {
            args.push(word);
        } else if at_start && word == "sockchat" {
            current = Some(vec![word]);
        } else if at_start && word.contains('=') && !word.starts_with('-') {
            // An environment assignment: the command is still to come.
        } else {
            at_start = false;
        }
    }
    found.extend(current);
    Ok(found)
}

/// An elided value (`3F:9A:…:C2`) stands for a real one: put in a value of
/// the right form, so that the flag itself is what is checked.
fn fill_elided(args: &mut [String]) {
    for i in 1..args.len() {
        if args[i].contains('…') && args[i - 1] == "--tls-fingerprint" {
            args[i] = "AB".repeat(32);
        }
    }
}

#[test]
fn every_sockchat_command_in_the_docs_parses_with_todays_command_line() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for path in documents() {
        let text = std::fs::read_to_string(&path).expect("the document is readable");
        let name = path.file_name().expect("a file").to_string_lossy();
        for (number, line) in shell_lines(&text) {
            let found = match commands(&line) {
                Ok(found) => found,
                Err(why) => {
                    wrong.push(format!("{name}:{number}: {why}: {line}"));
                    continue;
                }
            };
            for mut args in found {
                fill_elided(&mut args);
                checked += 1;
                if let Err(e) = Cli::try_parse_args(&args) {
                    let first = e.to_string();
                    let first = first.lines().next().unwrap_or_default().to_string();
                    wrong.push(format!("{name}:{number}: `{}`: {first}", args.join(" ")));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "examples that no longer parse:\n{}",
        wrong.join("\n")
    );
    // The README alone has a dozen; far fewer means the reader broke.
    assert!(checked >= 30, "only {checked} commands were found");
}

#[test]
fn a_renamed_flag_in_an_example_is_caught() {
    // The checker itself: a wrong flag, a missing subcommand, and what a
    // pipe or a comment hides from it.
    let wrong = commands("sockchat join --hots chat.lan | tee log # --bogus").expect("splits");
    assert_eq!(wrong, [vec!["sockchat", "join", "--hots", "chat.lan"]]);
    assert!(Cli::try_parse_args(&wrong[0]).is_err());
    let env = commands("SOCKCHAT_PORT=0 sockchat serve > log").expect("splits");
    assert_eq!(env, [vec!["sockchat", "serve"]]);
    assert!(commands("cd DIR && ls sockchat-*.jsonl")
        .expect("splits")
        .is_empty());
    let piped = commands("printf 'bot\\nhi\\n' | sockchat join --host h").expect("splits");
    assert_eq!(piped, [vec!["sockchat", "join", "--host", "h"]]);
}

/// The files the layout in `docs/design.md` lists under `src/`.
fn listed_files(design: &str) -> Vec<String> {
    let section = design
        .split("\n## Layout\n")
        .nth(1)
        .expect("docs/design.md has a Layout section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the Layout section starts with a fenced tree");
    // Each entry is indented two spaces a level; a directory ends in `/`
    // and holds the entries indented under it.
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut files = Vec::new();
    for line in block.lines().filter(|l| !l.trim().is_empty()) {
        let indent = line.len() - line.trim_start().len();
        let entry = line.split_whitespace().next().unwrap_or_default();
        while stack.last().is_some_and(|(level, _)| *level >= indent) {
            stack.pop();
        }
        let parent: String = stack.iter().map(|(_, dir)| dir.as_str()).collect();
        if entry.ends_with('/') {
            stack.push((indent, entry.to_string()));
        } else {
            files.push(format!("{parent}{entry}"));
        }
    }
    files
        .into_iter()
        .filter(|file| file.starts_with("src/"))
        .collect()
}

/// Every Rust file under `dir`, as a path from the crate's root.
fn source_files(root: &Path, dir: &Path, into: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("src/ lists").path();
        if path.is_dir() {
            source_files(root, &path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).expect("under the root");
            into.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

#[test]
fn the_layout_in_the_design_notes_lists_exactly_the_files_in_src() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let design = std::fs::read_to_string(root.join("docs/design.md")).expect("readable");
    let listed: BTreeSet<String> = listed_files(&design).into_iter().collect();
    let mut present = Vec::new();
    source_files(root, &root.join("src"), &mut present);
    let present: BTreeSet<String> = present.into_iter().collect();
    let missing: Vec<_> = present.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&present).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/design.md's layout is out of date:\n  not listed: {missing:?}\n  listed but gone: {stale:?}"
    );
}

#[test]
fn the_layout_reader_follows_the_indentation() {
    let design = "x\n## Layout\n\n```\nsrc/\n  a.rs  one\n  b/\n    c.rs  two\n  d.rs  three\ntests/\n  e.rs\n```\n";
    assert_eq!(listed_files(design), ["src/a.rs", "src/b/c.rs", "src/d.rs"]);
}

// ---------------------------------------------------------------------------
// Layers that point one way

/// The core: files and directories under `src/` that must stay free of
/// the command line.
const CORE: &[&str] = &[
    "server",
    "client",
    "protocol",
    "tls.rs",
    "address.rs",
    "runtime.rs",
];

/// Crate modules the core must not use.
const ABOVE_CORE: &[&str] = &["cli", "app"];

#[test]
fn the_core_knows_neither_the_command_line_nor_the_app() {
    let found = scan(CORE, ABOVE_CORE, true);
    assert!(
        found.is_empty(),
        "the core uses a layer above it:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_command_line_does_not_use_the_app() {
    let found = scan(&["cli.rs"], &["app"], false);
    assert!(found.is_empty(), "a circle:\n{}", found.join("\n"));
}

/// Each use of a module in `above` (or of clap, when `no_clap`) in the
/// files and directories `under` src/.
fn scan(under: &[&str], above: &[&str], no_clap: bool) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for entry in under {
        rust_files(&src.join(entry), &mut files);
    }
    assert!(files.len() >= under.len(), "found only {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a source file");
        let name = file.strip_prefix(&src).unwrap_or(file).display();
        for why in upward_uses(&code_of(&text), above, no_clap) {
            found.push(format!("src/{name}: {why}"));
        }
    }
    found
}

#[test]
fn the_scan_sees_every_way_of_naming_them() {
    for code in [
        "use crate::cli::ServeArgs;",
        "use crate::{cli, protocol};",
        "use crate::{protocol::name::Name, app::serve};",
        "use crate::{\n    protocol::{line, name},\n    cli::JoinArgs,\n};",
        "fn f() { let x = crate::app::color_allowed(s); }",
        "use super::super::cli::JoinArgs;",
        "use clap::Parser;",
        "clap_complete::generate(shell, cmd, name, out);",
    ] {
        assert!(
            !upward_uses(code, ABOVE_CORE, true).is_empty(),
            "missed: {code}"
        );
    }
    for code in [
        "use crate::protocol::name::Name;",
        "use crate::{protocol::{app, cli}, server};",
        "use super::connect::{Reader, Writer};",
        "let client = 1; // crate::cli",
        "fn f(cli: u8) { format!(\"{cli}\") }",
        "let application = applied;",
    ] {
        let uses = upward_uses(&code_of(code), ABOVE_CORE, true);
        assert!(uses.is_empty(), "false alarm on {code}: {uses:?}");
    }
}

/// `text` without its `//` comments (doc comments may mention the layers).
fn code_of(text: &str) -> String {
    let lines = text.lines().map(|line| match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    });
    lines.collect::<Vec<_>>().join("\n")
}

/// How `code` reaches up, if it does: a clap crate named (when `no_clap`),
/// or a path whose first segment after `crate` or `super` is in `above`.
fn upward_uses(code: &str, above: &[&str], no_clap: bool) -> Vec<String> {
    let mut uses = Vec::new();
    // Whether the next name is a path's first segment below the root.
    let mut first = false;
    // For each open `{`: whether its members are such first segments
    // (`crate::{cli, app}`) or not (a block, `protocol::{line, name}`).
    let mut groups: Vec<bool> = Vec::new();
    for word in words(code) {
        match word {
            "crate" | "super" => first = true,
            "::" => {}
            "{" => groups.push(first),
            "}" => {
                groups.pop();
            }
            "," => first = groups.last().copied().unwrap_or(false),
            name if no_clap && name.starts_with("clap") => uses.push(format!("names `{name}`")),
            name if first && above.contains(&name) => uses.push(format!("uses `{name}`")),
            _ => first = false,
        }
    }
    uses
}

/// Identifiers and the punctuation that joins paths, in order.
fn words(code: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut rest = code;
    while let Some(c) = rest.chars().next() {
        let len = if c.is_alphanumeric() || c == '_' {
            rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len())
        } else if rest.starts_with("::") {
            2
        } else {
            c.len_utf8()
        };
        let (word, tail) = rest.split_at(len);
        if !word.trim().is_empty() {
            words.push(word);
        }
        rest = tail;
    }
    words
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let entries = std::fs::read_dir(path).expect("read a source directory");
        for entry in entries {
            rust_files(&entry.expect("a directory entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// What changes a terminal's modes: its settings (termios) and the
/// escape codes that switch a mode on or off (bracketed paste, and the
/// cursor keys' and keypad's application modes).
const TERMINAL_MODES: &[&str] = &[
    "tcsetattr",
    "tcgetattr",
    "tcflush",
    "cfmakeraw",
    "TIOCNOTTY",
    "?2004",
    "?1h",
    "?1l",
    "\\x1b=",
    "\\x1b>",
];

#[test]
fn only_client_terminal_changes_the_terminals_modes() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let owner = src.join("client/terminal.rs");
    assert!(files.contains(&owner), "{owner:?} is gone");
    let mut others = Vec::new();
    for file in files.iter().filter(|file| **file != owner) {
        let code = code_of(&std::fs::read_to_string(file).expect("read a source file"));
        for word in TERMINAL_MODES.iter().filter(|word| code.contains(*word)) {
            others.push(format!("{}: {word}", file.display()));
        }
    }
    assert!(
        others.is_empty(),
        "the terminal's modes are src/client/terminal.rs's; ask it:\n{}",
        others.join("\n")
    );
}

// ---------------------------------------------------------------------------
// No import cycles
//
// The rule: module `a` must not use `b` (a `crate::`, `super::` or
// `self::` path in its code, tests included) while `b` uses `a`, directly
// or through others. A module counts with everything below it: an edge
// from `client/editor/tty.rs` to `client/input.rs` is an edge from
// `client::editor` to `client::input`, so two siblings are in a cycle
// when anything inside one uses anything inside the other both ways, and
// the same holds between `client` and `protocol`. A module and its own
// children are one unit for this rule (a child using its parent's types,
// `use super::Event`, is how a module is split into files, not a cycle):
// an edge between a module and something inside it is not counted.

/// Edges left out of the graph for now, each the one edge that closes a
/// cycle that other work on the issue is removing: `from`, `to`, as
/// [`import_cycles`] names them. Remove a pair once it is gone (the test
/// fails while a listed edge no longer exists).
const CYCLES_BEING_REMOVED: &[(&str, &str)] = &[];

#[test]
fn no_module_of_src_is_in_an_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let sources: Vec<(String, String)> = files
        .iter()
        .filter_map(|file| {
            let relative = file.strip_prefix(&src).ok()?.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(file).expect("read a source file");
            Some((relative, text))
        })
        .collect();
    let edges = import_edges(&sources);
    let stale: Vec<_> = CYCLES_BEING_REMOVED
        .iter()
        .filter(|(from, to)| !edges.contains_key(&(from.to_string(), to.to_string())))
        .collect();
    assert!(
        stale.is_empty(),
        "gone, so take them off CYCLES_BEING_REMOVED: {stale:?}"
    );
    let edges = edges
        .into_iter()
        .filter(|((from, to), _)| !CYCLES_BEING_REMOVED.contains(&(from.as_str(), to.as_str())))
        .collect();
    let cycles = on_cycles(&edges);
    assert!(
        cycles.is_empty(),
        "modules that use each other (each edge of a cycle, with where):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_cycle_finder_sees_siblings_children_and_inline_modules() {
    let files = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(path, text)| (path.to_string(), text.to_string()))
            .collect()
    };
    // Siblings, by `super::`, through a grouped `use` and a child file.
    let cycle = import_cycles(&files(&[
        ("lib.rs", "pub mod a; pub mod b;"),
        ("a/mod.rs", "mod deep; use super::b::Thing;"),
        ("a/deep.rs", "fn f() {}"),
        ("b.rs", "use crate::{x::y, a::deep::{self, F}};"),
    ]));
    assert_eq!(cycle.len(), 2, "{cycle:?}");
    assert!(cycle[0].starts_with("a -> b: a/mod.rs"), "{cycle:?}");
    assert!(cycle[1].starts_with("b -> a: b.rs"), "{cycle:?}");
    // Across layers, by a path in code.
    let cycle = import_cycles(&files(&[
        ("p/m.rs", "fn f() { crate::c::g(); }"),
        ("c/n.rs", "use crate::p::m;"),
    ]));
    assert_eq!(cycle.len(), 2, "{cycle:?}");
    // Not cycles: a child using its parent; a test module's `super`; a
    // path in a comment or a string; `pub(crate)`.
    let fine = import_cycles(&files(&[
        ("a/mod.rs", "mod t; use crate::b::X; pub(crate) struct E;"),
        ("a/t.rs", "use super::E; use super::super::b::Y;"),
        (
            "b.rs",
            "// crate::a::E\nfn f() { \"crate::a::{\"; '{'; }\nmod tests { use super::*; fn g<'a>() {} }",
        ),
    ]));
    assert!(fine.is_empty(), "{fine:?}");
}

/// Module `from` uses module `to` (siblings, see [`between_siblings`]),
/// with the first place that shows it.
type Edges = std::collections::BTreeMap<(String, String), String>;

/// Each edge that lies on a cycle, as `from -> to: file uses path`,
/// sorted; `sources` are the files under `src/` (path, text).
fn import_cycles(sources: &[(String, String)]) -> Vec<String> {
    on_cycles(&import_edges(sources))
}

/// Who uses whom among the files `sources` (path under `src/`, text).
fn import_edges(sources: &[(String, String)]) -> Edges {
    // Each file's module and the modules (directories) that hold it.
    let mut modules = BTreeSet::new();
    for (path, _) in sources {
        let module = module_of(path);
        let mut prefix = String::new();
        for segment in module.split("::") {
            prefix = [prefix.as_str(), segment].join(if prefix.is_empty() { "" } else { "::" });
            modules.insert(prefix.clone());
        }
    }
    let mut edges = Edges::new();
    for (path, text) in sources {
        let here = module_of(path);
        for used in used_paths(&here, &bare_code(text)) {
            let target = known_prefix(&used, &modules);
            if let Some((from, to)) = between_siblings(&here, &target) {
                let why = format!("{path} uses {}", used.join("::"));
                edges.entry((from, to)).or_insert(why);
            }
        }
    }
    edges
}

/// The edges of `edges` from which their start can be reached again.
fn on_cycles(edges: &Edges) -> Vec<String> {
    let reaches = |start: &str, goal: &str| {
        let mut seen = BTreeSet::from([start.to_string()]);
        let mut next = vec![start.to_string()];
        while let Some(at) = next.pop() {
            for (_, to) in edges.keys().filter(|(from, _)| *from == at) {
                if to == goal {
                    return true;
                }
                if seen.insert(to.clone()) {
                    next.push(to.clone());
                }
            }
        }
        false
    };
    edges
        .iter()
        .filter(|((from, to), _)| reaches(to, from))
        .map(|((from, to), why)| format!("{from} -> {to}: {why}"))
        .collect()
}

/// The module a file under `src/` is: `client/editor/mod.rs` is
/// `client::editor`, `tls.rs` is `tls`, `lib.rs` the root (empty).
fn module_of(path: &str) -> String {
    let path = path.trim_end_matches(".rs");
    let path = path.strip_suffix("/mod").unwrap_or(path);
    match path {
        "lib" | "main" => String::new(),
        path => path.replace('/', "::"),
    }
}

/// The longest start of `path` (segments from the root) that is a module
/// of a file: an item or an inline module (`message::reply`) counts as
/// its file's.
fn known_prefix(path: &[String], modules: &BTreeSet<String>) -> String {
    (0..=path.len())
        .rev()
        .map(|len| path[..len].join("::"))
        .find(|prefix| modules.contains(prefix))
        .unwrap_or_default()
}

/// `from` and `to`, each taken up to just below the module they share,
/// when neither holds the other: the siblings an edge between them joins.
fn between_siblings(from: &str, to: &str) -> Option<(String, String)> {
    let split = |m: &str| -> Vec<String> {
        m.split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let (from, to) = (split(from), split(to));
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if shared == from.len() || shared == to.len() {
        return None;
    }
    Some((from[..=shared].join("::"), to[..=shared].join("::")))
}

/// `text` with its comments and the insides of its string and character
/// literals blanked out, so only code is left to read paths and braces in.
fn bare_code(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let skip = match rest {
            ['/', '/', ..] => rest.iter().position(|&c| c == '\n').unwrap_or(rest.len()),
            ['/', '*', ..] => (2..rest.len())
                .find(|&j| rest[j - 1] == '*' && rest[j] == '/')
                .map_or(rest.len(), |j| j + 1),
            ['r', '#' | '"', ..] if i == 0 || !is_word(chars[i - 1]) => raw_string_len(rest),
            ['"', ..] => quoted_len(rest, '"'),
            ['\'', '\\', ..] => quoted_len(rest, '\''),
            ['\'', _, '\'', ..] => 3,
            _ => 0,
        };
        if skip == 0 {
            out.push(rest[0]);
            i += 1;
        } else {
            out.push(' ');
            i += skip;
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The length of a literal that starts `rest` with `quote` and ends at
/// the next `quote` not escaped by a backslash.
fn quoted_len(rest: &[char], quote: char) -> usize {
    let mut j = 1;
    while j < rest.len() {
        match rest[j] {
            '\\' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    rest.len()
}

/// The length of `r"…"` or `r#"…"#` at the start of `rest` (1 when it is
/// only an `r`).
fn raw_string_len(rest: &[char]) -> usize {
    let hashes = rest[1..].iter().take_while(|&&c| c == '#').count();
    if rest.get(1 + hashes) != Some(&'"') {
        return 1;
    }
    let end: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    (2 + hashes..rest.len())
        .find(|&j| rest[j..].starts_with(&end))
        .map_or(rest.len(), |j| j + end.len())
}

/// Every path starting with `crate`, `super` or `self` in `code` (the
/// file of module `here`, literals blanked), resolved to segments from
/// the crate's root; a use tree's groups give one path each.
fn used_paths(here: &str, code: &str) -> Vec<Vec<String>> {
    let words = words(code);
    let mut reader = PathReader::default();
    // For each open brace: whether it opens an inline `mod x {`.
    let mut braces: Vec<bool> = Vec::new();
    for (at, &word) in words.iter().enumerate() {
        let inline = braces.iter().filter(|&&m| m).count();
        if reader.reading() && reader.take(word, here, inline) {
            continue;
        }
        match word {
            "crate" | "super" | "self" if words.get(at + 1) == Some(&"::") => {
                reader.start(word);
            }
            "{" => braces.push(at >= 2 && words[at - 2] == "mod"),
            "}" => {
                braces.pop();
            }
            _ => {}
        }
    }
    reader.paths
}

/// Reads one path (or use tree) a word at a time.
#[derive(Default)]
struct PathReader {
    /// The path read so far; empty: not reading.
    path: Vec<String>,
    /// The path of each open `{` of a use tree.
    groups: Vec<Vec<String>>,
    /// After a word that ends this path inside a group (`x as y`): wait
    /// for the `,` or `}`.
    done: bool,
    paths: Vec<Vec<String>>,
}

impl PathReader {
    fn reading(&self) -> bool {
        !self.path.is_empty() || !self.groups.is_empty()
    }

    fn start(&mut self, word: &str) {
        self.path = vec![word.to_string()];
    }

    /// Takes `word` into the path; false when it ends the path outside
    /// any group (the word is then someone else's). `inline` is how deep
    /// in inline modules the path is written.
    fn take(&mut self, word: &str, here: &str, inline: usize) -> bool {
        match word {
            "::" => {}
            "{" => self.groups.push(self.path.clone()),
            "," | "}" => {
                self.finish(here, inline);
                if word == "}" {
                    self.groups.pop();
                }
                self.path = self.groups.last().cloned().unwrap_or_default();
                self.done = false;
            }
            word if !self.done && is_word(word.chars().next().unwrap_or(' ')) => {
                self.path.push(word.to_string());
            }
            _ => {
                self.finish(here, inline);
                self.done = true;
                if self.groups.is_empty() {
                    self.path.clear();
                    self.done = false;
                    return false;
                }
            }
        }
        true
    }

    /// Records the path read, resolved from module `here`.
    fn finish(&mut self, here: &str, inline: usize) {
        if self.path.is_empty() || self.done {
            return;
        }
        let mut at: Vec<String> = here
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let mut supers = 0;
        for (i, segment) in self.path.iter().enumerate() {
            match segment.as_str() {
                "crate" if i == 0 => at.clear(),
                "self" => {}
                "super" => {
                    supers += 1;
                    // The first `super`s of an inline module's path leave
                    // the inline module, not the file's.
                    if supers > inline {
                        at.pop();
                    }
                }
                name => at.push(name.to_string()),
            }
        }
        self.paths.push(at);
        self.path.clear();
    }
}

/// The executor threads of a running server, by the name async-std gives
/// them (truncated to 15 bytes by the kernel), once there are `wanted` of
/// them or a few seconds have passed: a new thread names itself when it
/// first runs, which on a busy machine is a while after it was started.
fn executor_threads(pid: i32, wanted: usize) -> usize {
    let count = || {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server's tasks");
        tasks
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .filter(|name| name.trim_end() == "async-std/runti")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = count();
    while seen != wanted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        seen = count();
    }
    seen
}

#[test]
fn serve_runs_on_one_thread_unless_told_otherwise() {
    let one = Server::start();
    let three = Serve::new().args(&["--threads", "3"]).start();
    // Both serve: a login is answered.
    for server in [&one, &three] {
        let mut nc = Nc::login(server.addr, "Max");
        nc.send("/who");
        nc.expect_line("Server: Online (1): Max");
    }
    assert_eq!(executor_threads(one.process.pid(), 1), 1);
    assert_eq!(executor_threads(three.process.pid(), 3), 3);
}
