//! `sockchat join` as a person (or a bot) meets it: prompts that do not
//! outlive their connection, pastes and pipes paced so nothing is dropped,
//! one's own lines in the transcript, errors in plain words, a self-signed
//! certificate trusted the way openssl makes it, and the small things.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::Expect;
use sockchat::protocol::message::reply;

use crate::binary::{run_to_end, Nc, Output, Running, Server};
use crate::password::echo_is_on;
use crate::secure::{finish_blocking, Serve, TempDir};
use crate::util::WAIT;

const NAME_PROMPT: &str = "Please enter your username: ";
const PASSWORD_PROMPT: &str = "This room has a password: ";

/// `command` on a pseudo-terminal, and what it shows.
struct OnPty {
    session: OsSession,
    screen: Output,
}

impl OnPty {
    fn spawn(mut command: Command) -> OnPty {
        command.env("TERM", "xterm-256color");
        // SAFETY: the hook makes only async-signal-safe calls (tcgetattr,
        // tcsetattr) between fork and exec.
        unsafe { command.pre_exec(crate::pty::like_a_login_terminal) };
        let session = OsSession::spawn(command).expect("start sockchat on a pty");
        let master = session
            .get_process()
            .get_raw_handle()
            .expect("a second handle on the pty");
        OnPty {
            screen: Output::read("the terminal", master),
            session,
        }
    }

    fn keys(&mut self, keys: &str) {
        self.session.send(keys).expect("type on the pty");
    }

    /// Waits until the password prompt reads (echo off), as a person would.
    fn wait_for_echo_off(&self) {
        let deadline = Instant::now() + WAIT;
        while echo_is_on(&self.session) {
            assert!(Instant::now() < deadline, "echo never went off");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn exit_code(&mut self) -> i32 {
        self.screen.expect_end();
        let deadline = Instant::now() + WAIT;
        loop {
            match self.session.get_process().status().expect("waitpid") {
                WaitStatus::Exited(_, code) => return code,
                WaitStatus::StillAlive => {}
                other => panic!("sockchat did not exit normally: {other:?}"),
            }
            assert!(Instant::now() < deadline, "sockchat did not exit");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

// 3. No prompt outlives its connection.

#[test]
fn a_name_typed_after_the_servers_login_timeout_still_logs_in() {
    let mut server = Server::start_with("127.0.0.1", 0, &["--login-timeout", "1"]);
    let mut pty = OnPty::spawn(server.join(&[]));
    pty.screen.expect(NAME_PROMPT);
    // The server gives up on the idle connection while the person thinks.
    server.process.stderr.expect("no username within 1 s");
    pty.keys("Max\r");
    pty.screen.expect("Server: You are logged in as: Max");
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("/who");
    bob.expect_line("Server: Online (2): Max, Bob");
}

#[test]
fn a_password_and_name_typed_slowly_are_both_given_again() {
    let mut server = Server::start_with(
        "127.0.0.1",
        0,
        &["--login-timeout", "1", "--password", "s3cret"],
    );
    let mut pty = OnPty::spawn(server.join(&[]));
    pty.screen.expect(PASSWORD_PROMPT);
    pty.wait_for_echo_off();
    server.process.stderr.expect("no username within 1 s");
    pty.keys("s3cret\r");
    pty.screen.expect(NAME_PROMPT);
    server.process.stderr.expect("no username within 1 s");
    pty.keys("Max\r");
    pty.screen.expect("Server: You are logged in as: Max");
}

#[test]
fn a_server_that_shuts_down_during_the_name_prompt_is_reported_at_once() {
    let server = Server::start();
    let mut pty = OnPty::spawn(server.join(&[]));
    pty.screen.expect(NAME_PROMPT);
    assert!(server.stop().success());
    // Nothing typed: the client sees the connection end and says so.
    pty.screen
        .expect("the server shut down while waiting for your username");
    assert_eq!(pty.exit_code(), 1);
    assert!(
        echo_is_on(&pty.session),
        "the terminal was left without echo"
    );
}

#[test]
fn at_the_password_prompt_help_explains_an_empty_enter_asks_again_and_quit_leaves() {
    let server = Server::start_with("127.0.0.1", 0, &["--password", "s3cret"]);
    let mut pty = OnPty::spawn(server.join(&[]));
    pty.screen.expect(PASSWORD_PROMPT);
    pty.wait_for_echo_off();
    pty.keys("\r");
    pty.keys("/help\r");
    let shown = pty.screen.expect("/quit or Ctrl-D leaves.");
    // The empty Enter printed nothing: no second prompt before the help.
    assert!(!shown.contains(PASSWORD_PROMPT), "{shown:?}");
    pty.screen.expect(PASSWORD_PROMPT);
    pty.wait_for_echo_off();
    pty.keys("/quit\r");
    assert_eq!(pty.exit_code(), 0);
    assert!(
        echo_is_on(&pty.session),
        "the terminal was left without echo"
    );
}

#[test]
fn ctrl_d_at_the_name_prompt_leaves_with_a_goodbye() {
    let server = Server::start();
    let mut pty = OnPty::spawn(server.join(&[]));
    pty.screen.expect(NAME_PROMPT);
    pty.keys("\x04");
    pty.screen.expect(reply::BYE);
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn commands_before_the_password_cost_an_nc_user_no_try() {
    let server = Server::start_with("127.0.0.1", 0, &["--password", "s3cret"]);
    let mut nc = server.nc();
    nc.expect_line(reply::PASSWORD_GREETING);
    for command in ["/help", "/who", "/nick Max"] {
        nc.send(command);
        nc.expect_line(reply::PASSWORD_FIRST);
    }
    nc.send("guess");
    nc.expect_line("Server: Error: wrong password (2 tries left)");
}

// 4. Pastes and bots arrive whole.

/// Twice the default rate, to keep it short; the burst as by default, so a
/// stalled server (a busy machine) has the usual second of slack before its
/// own bucket would overflow.
#[test]
fn a_piped_file_past_the_burst_arrives_whole_and_in_order() {
    let server = Server::start_with("127.0.0.1", 0, &["--rate", "40", "--burst", "40"]);
    let mut watcher = Nc::login(server.addr, "watcher");
    let lines: Vec<String> = (1..=200).map(|n| n.to_string()).collect();
    let input = format!("bot\n{}\n", lines.join("\n"));
    let bot = std::thread::spawn({
        let command = server.join(&[]);
        move || finish_blocking(command, &input)
    });
    watcher.expect_line("Server: bot joined the party!");
    for line in &lines {
        watcher.expect_line(&format!("bot: {line}"));
    }
    watcher.expect_line("Server: bot left the party.");
    let done = bot.join().expect("the bot's thread");
    assert_eq!(done.code, Some(0), "{done:?}");
    assert!(!done.stdout.contains("Error"), "{done:?}");
}

#[test]
fn limits_are_told_to_whoever_asks() {
    let server = Server::start_with(
        "127.0.0.1",
        0,
        &["--rate", "7", "--burst", "9", "--max-line-bytes", "300"],
    );
    let mut max = Nc::login(server.addr, "Max");
    max.send("/limits");
    max.expect_line("Server: Limits: 7 messages a second, bursts of 9, lines up to 300 bytes");
    max.send("/help");
    let mut help = Vec::new();
    for _ in reply::HELP {
        help.push(max.line());
    }
    assert!(help.iter().any(|l| l.contains("/help ")), "{help:?}");
    assert!(help.iter().any(|l| l.contains("/limits ")), "{help:?}");
}

#[test]
fn a_piped_bot_whose_lines_were_refused_says_how_many_and_fails() {
    let server = Server::start();
    let long = "x".repeat(5000);
    let input = format!("bot\n/msg nobody hi\n{long}\nfine\n");
    let run = finish_blocking(server.join(&[]), &input);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stdout
            .contains("/msg nobody hi (not sent: no user named nobody is online)"),
        "{run:?}"
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert_eq!(last, "sockchat: the server refused 2 lines of the input");
}

// 5. A transcript that reads right.

#[test]
fn in_logger_mode_your_own_lines_go_to_the_log_as_the_room_sees_them() {
    let server = Server::start();
    let dir = TempDir::new();
    let log = dir.file("room.log", "");
    let join = server.join(&["--name", "Max"]);
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg("\"$0\" \"$@\" > \"$LOG\"")
        .arg(join.get_program())
        .args(join.get_args())
        .env("LOG", &log);
    for (var, value) in join.get_envs() {
        match value {
            Some(value) => shell.env(var, value),
            None => shell.env_remove(var),
        };
    }
    let mut pty = OnPty::spawn(shell);
    let mut bob = Nc::login(server.addr, "Bob");
    bob.expect_line("Server: Max joined the party!");
    pty.keys("hello all\n/me waves\n/msg Bob psst\n");
    bob.expect_line("Max: hello all");
    bob.expect_line("* Max waves");
    bob.expect_line("Max (private): psst");
    pty.keys("\x04");
    assert_eq!(pty.exit_code(), 0);
    let written = std::fs::read_to_string(&log).expect("read the log");
    let mine: Vec<&str> = written
        .lines()
        .filter(|l| !l.starts_with("Server: ") && !l.starts_with("Connected to: "))
        .collect();
    assert_eq!(
        mine,
        ["Max: hello all", "* Max waves", "To Bob (private): psst"],
        "{written:?}"
    );
}

// 7. Errors in plain words.

#[test]
fn a_bad_value_in_the_environment_is_named_by_its_variable() {
    let cases = [
        ("SOCKCHAT_NAME", "two words", "SOCKCHAT_NAME"),
        ("SOCKCHAT_TLS", "maybe", "SOCKCHAT_TLS"),
        ("SOCKCHAT_PORT", "http", "SOCKCHAT_PORT"),
    ];
    for (var, value, named) in cases {
        let mut join = crate::binary::sockchat(["join"]);
        join.env(var, value);
        let run = finish_blocking(join, "");
        assert_ne!(run.code, Some(0), "{var}={value}: {run:?}");
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.contains(named), "{var}={value}: {first}");
        assert!(!first.contains("--"), "{var}={value} names a flag: {first}");
    }
}

#[test]
fn a_host_that_does_not_resolve_is_said_without_debug_output() {
    let run = run_to_end(&["join", "--host", "nosuch.invalid", "--name", "Max"], "");
    assert_eq!(run.status.code(), Some(1));
    assert!(
        run.stderr
            .starts_with("sockchat: cannot connect to nosuch.invalid:3000: cannot find the host"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("(\""), "{}", run.stderr);
}

#[test]
fn a_piped_bot_whose_name_is_taken_is_not_told_to_type_another() {
    let server = Server::start();
    let _max = Nc::login(server.addr, "Max");
    let mut bot = Running::spawn("join", server.join(&[]));
    bot.type_in("max\nhello\n");
    bot.close_stdin();
    let status = bot.wait();
    assert_eq!(status.code(), Some(1));
    let said = bot.stderr.text();
    assert_eq!(
        said,
        "sockchat: the server refused the name max: the name max is taken\n"
    );
}

// 8. TLS the way people make certificates.

#[test]
fn a_certificate_made_by_openssl_req_x509_serves_and_is_trusted_as_its_own_ca() {
    let dir = TempDir::new();
    let cert = dir.file("chat.crt", "");
    let key = dir.file("chat.key", "");
    // The README's recipe, for this machine's names.
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "825"])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    let made = match made {
        Ok(made) => made,
        Err(e) => {
            eprintln!("skipped: cannot run openssl ({e}); .ci/run installs it");
            return;
        }
    };
    assert!(made.status.success(), "openssl: {made:?}");
    let (cert, key) = (cert.to_str().expect("UTF-8"), key.to_str().expect("UTF-8"));
    let serve = Serve::start(&["--tls-cert", cert, "--tls-key", key], &[]);
    let port = serve.addr.port().to_string();
    // With the certificate file itself as the CA.
    let join = crate::binary::sockchat([
        "join",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--tls-ca",
        cert,
        "--name",
        "Max",
    ]);
    let run = finish_blocking(join, "hi\n");
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("You are logged in as: Max"), "{run:?}");
    // The banner's own join line works too (it pins the fingerprint).
    let line = serve
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("Join with: "))
        .unwrap_or_else(|| panic!("no join line in {:?}", serve.banner));
    assert!(line.contains("--tls-fingerprint "), "{line}");
    let mut join = crate::binary::sockchat(line.split_whitespace().skip(1));
    join.args(["--name", "Bob"]);
    let run = finish_blocking(join, "");
    assert_eq!(run.code, Some(0), "{run:?}");
    serve.stop();
}

// 9. Small things.

#[test]
fn the_serve_status_line_is_cut_to_a_narrow_terminal_not_wrapped() {
    let mut serve = crate::binary::sockchat(["serve", "--host", "127.0.0.1", "--port", "0"]);
    serve.env("NO_COLOR", "1");
    let mut pty = OnPty::spawn(serve);
    pty.session
        .get_process_mut()
        .set_window_size(30, 10)
        .expect("resize the pty");
    pty.screen.expect("Server is running on: ");
    let addr = pty.screen.expect("\n");
    let addr = addr.trim().parse().expect("the address serve listens on");
    // A change of figures, drawn at the new width: two columns are left
    // free (the terminal's `^C` echo must not wrap the line).
    let _max = Nc::login(addr, "Max");
    pty.screen.expect("\r\x1b[K1 online · 0 messages relay…");
}
