//! `sockchat join` as a person (or a bot) meets it: prompts that do not
//! outlive their connection, pastes and pipes paced so nothing is dropped,
//! one's own lines in the transcript, errors in plain words, a self-signed
//! certificate trusted the way openssl makes it, and the small things.

use std::process::Command;

use sockchat::protocol::message::reply;

use crate::support::terminal::{local_flags, Pty};
use crate::support::{finish_blocking, sockchat, Nc, Running, Serve, Server};

const NAME_PROMPT: &str = "Please enter your username: ";
const PASSWORD_PROMPT: &str = "This room has a password: ";

/// Whether the terminal seen from `pty` echoes what is typed.
fn echoes(pty: &Pty) -> bool {
    local_flags(&pty.session) & libc::ECHO != 0
}

/// `join` on a pty, with a 256-colour TERM.
fn join_on_pty(server: &Server, extra: &[&str]) -> Pty {
    let mut command = server.join(extra);
    command.env("TERM", "xterm-256color");
    Pty::spawn(command)
}

// 3. No prompt outlives its connection.

#[test]
fn a_name_typed_after_the_servers_login_timeout_still_logs_in() {
    let mut server = Serve::new().args(&["--login-timeout", "1"]).start();
    let mut pty = join_on_pty(&server, &[]);
    pty.screen.expect(NAME_PROMPT);
    // The server gives up on the idle connection while the person thinks.
    server.process.stderr.expect("no username within 1 s");
    pty.type_keys("Max\r");
    pty.screen.expect("Server: You are logged in as: Max");
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("/who");
    bob.expect_line("Server: Online (2): Max, Bob");
}

#[test]
fn a_password_and_name_typed_slowly_are_both_given_again() {
    let mut server = Serve::new()
        .args(&["--login-timeout", "1", "--password", "s3cret"])
        .start();
    let mut pty = join_on_pty(&server, &[]);
    pty.screen.expect(PASSWORD_PROMPT);
    pty.wait_for_echo_off();
    server.process.stderr.expect("no username within 1 s");
    pty.type_keys("s3cret\r");
    pty.screen.expect(NAME_PROMPT);
    server.process.stderr.expect("no username within 1 s");
    pty.type_keys("Max\r");
    pty.screen.expect("Server: You are logged in as: Max");
}

#[test]
fn a_server_that_shuts_down_during_the_name_prompt_is_reported_at_once() {
    let server = Server::start();
    let mut pty = join_on_pty(&server, &[]);
    pty.screen.expect(NAME_PROMPT);
    assert!(server.stop().success());
    // Nothing typed: the client sees the connection end and says so.
    pty.screen
        .expect("the server shut down while waiting for your username");
    assert_eq!(pty.exit_code(), 1);
    assert!(echoes(&pty), "the terminal was left without echo");
}

#[test]
fn at_the_password_prompt_help_explains_an_empty_enter_asks_again_and_quit_leaves() {
    let server = Serve::new().args(&["--password", "s3cret"]).start();
    let mut pty = join_on_pty(&server, &[]);
    pty.screen.expect(PASSWORD_PROMPT);
    pty.wait_for_echo_off();
    pty.type_keys("\r");
    pty.type_keys("/help\r");
    let shown = pty.screen.expect("/quit or Ctrl-D leaves.");
    // The empty Enter printed nothing: no second prompt before the help.
    assert!(!shown.contains(PASSWORD_PROMPT), "{shown:?}");
    pty.screen.expect(PASSWORD_PROMPT);
    pty.wait_for_echo_off();
    pty.type_keys("/quit\r");
    assert_eq!(pty.exit_code(), 0);
    assert!(echoes(&pty), "the terminal was left without echo");
}

#[test]
fn commands_before_the_password_cost_an_nc_user_no_try() {
    let server = Serve::new().args(&["--password", "s3cret"]).start();
    crate::support::run(async {
        let mut nc = crate::support::Client::connect(server.addr).await;
        nc.expect_line(reply::PASSWORD_GREETING).await;
        for command in ["/help", "/who", "/nick Max"] {
            nc.send(command).await;
            nc.expect_line(reply::PASSWORD_FIRST).await;
        }
        nc.send("guess").await;
        nc.expect_line("Server: Error: wrong password (2 tries left)")
            .await;
    });
}

// 4. Pastes and bots arrive whole.

/// Twice the default rate, to keep it short; the burst as by default, so a
/// stalled server (a busy machine) has the usual second of slack before its
/// own bucket would overflow.
#[test]
fn a_piped_file_past_the_burst_arrives_whole_and_in_order() {
    let server = Serve::new()
        .args(&["--rate", "40", "--burst", "40"])
        .start();
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
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert!(!done.stdout.contains("Error"), "{done:?}");
}

/// The README's bot recipe, run twice in a row: the first run's end of
/// input leaves as `/quit` does, so its name is free for the second (a
/// session kept for `--resume-window` would hold it).
#[test]
fn the_readme_bot_recipe_runs_twice_in_a_row() {
    let server = Server::start();
    let mut watcher = Nc::login(server.addr, "watcher");
    for _ in 0..2 {
        let run = finish_blocking(server.join(&[]), "deploybot\nBuild 142 is green\n");
        assert_eq!(run.code(), Some(0), "{run:?}");
        watcher.expect_line("Server: deploybot joined the party!");
        watcher.expect_line("deploybot: Build 142 is green");
        watcher.expect_line("Server: deploybot left the party.");
    }
}

/// A server that takes the connection and then says nothing: a piped
/// `join` gives up in the time it was given (here `--login-timeout 1`;
/// 10 s by default), with one line on stderr.
#[test]
fn a_piped_join_to_a_server_that_never_answers_gives_up_in_one_line() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = silent.local_addr().expect("its address");
    // Never accepted: the kernel completes the connection into the
    // listener's queue, and nothing is ever said on it.
    let command = crate::support::join_command(addr, &["--login-timeout", "1"]);
    let run = finish_blocking(command, "deploybot\nBuild 142 is green\n");
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "sockchat: the server accepted the connection but said nothing within 1 s\n"
    );
    assert_eq!(run.stdout, "");
    drop(silent);
}

#[test]
fn limits_are_told_to_whoever_asks() {
    let server = Serve::new()
        .args(&["--rate", "7", "--burst", "9", "--max-line-bytes", "300"])
        .start();
    let mut max = Nc::login(server.addr, "Max");
    max.send("/limits");
    max.expect_line("Server: Limits: 7 messages a second, bursts of 9, lines up to 300 bytes");
    max.send("/help");
    let mut help = Vec::new();
    for _ in reply::HELP {
        help.push(max.line());
    }
    assert!(help.iter().any(|l| l.contains("/help: ")), "{help:?}");
    assert!(help.iter().any(|l| l.contains("/limits: ")), "{help:?}");
}

#[test]
fn a_piped_bot_whose_lines_were_refused_says_how_many_and_fails() {
    let server = Server::start();
    let long = "x".repeat(5000);
    let input = format!("bot\n/msg nobody hi\n{long}\nfine\n");
    let run = finish_blocking(server.join(&[]), &input);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stdout
            .contains("/msg nobody hi (not sent: no user named nobody is online)"),
        "{run:?}"
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert_eq!(last, "sockchat: the server refused 2 lines of the input");
}

#[test]
fn a_piped_line_too_long_to_read_is_counted_as_not_sent() {
    let server = Server::start();
    let huge = "x".repeat(70 * 1024);
    let input = format!("bot\n{huge}\nfine\n");
    let run = finish_blocking(server.join(&[]), &input);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("sockchat: a line was not sent: it is longer than 65536 bytes"),
        "{run:?}"
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert_eq!(last, "sockchat: the server refused 1 line of the input");
}

// 5. A transcript that reads right.

#[test]
fn in_logger_mode_your_own_lines_go_to_the_log_as_the_room_sees_them() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let log = crate::support::write_file(dir.path(), "room.log", "");
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
    let mut pty = Pty::spawn(shell);
    let mut bob = Nc::login(server.addr, "Bob");
    bob.expect_line("Server: Max joined the party!");
    pty.type_keys("hello all\n/me waves\n/msg Bob psst\n");
    bob.expect_line("Max: hello all");
    bob.expect_line("* Max waves");
    bob.expect_line("Max (private): psst");
    pty.type_keys("\x04");
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

#[test]
fn on_a_terminal_your_own_lines_read_as_the_room_sees_them() {
    let server = Server::start();
    let mut pty = join_on_pty(&server, &["--name", "Max"]);
    pty.expect_logged_in("Max");
    let mut bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("Bob joined the party!");
    pty.type_keys("hello there\r");
    bob.expect_line("Max: hello there");
    let shown = pty.screen.expect("Max\x1b[0m: hello there");
    // In Max's colour (256 colours here), not left as typed after the prompt.
    assert!(shown.contains("38;5;"), "{shown:?}");
    assert!(!shown.contains("> hello there"), "{shown:?}");
    pty.type_keys("/msg Bobb hi\r");
    pty.screen
        .expect("(not sent: no user named Bobb is online)");
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
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
        let mut join = sockchat(["join"]);
        join.env(var, value);
        let run = finish_blocking(join, "");
        assert_ne!(run.code(), Some(0), "{var}={value}: {run:?}");
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.contains(named), "{var}={value}: {first}");
        assert!(!first.contains("--"), "{var}={value} names a flag: {first}");
    }
}

#[test]
fn a_host_that_does_not_resolve_is_said_without_debug_output() {
    let run = finish_blocking(
        sockchat(["join", "--host", "nosuch.invalid", "--name", "Max"]),
        "",
    );
    assert_eq!(run.code(), Some(1));
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
    let dir = tempfile::tempdir().expect("a temp dir");
    let cert = dir.path().join("chat.crt");
    let key = dir.path().join("chat.key");
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
    let mut serve = Serve::new()
        .args(&["--tls-cert", cert, "--tls-key", key])
        .start();
    let port = serve.port();
    // With the certificate file itself as the CA.
    let join = sockchat([
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
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(run.stdout.contains("You are logged in as: Max"), "{run:?}");
    // The banner's own join line works too (it pins the fingerprint).
    let line = serve.banner_line("Join with: ");
    assert!(line.contains("--tls-fingerprint "), "{line}");
    let mut join = sockchat(line.split_whitespace().skip(1));
    join.args(["--name", "Bob"]);
    let run = finish_blocking(join, "");
    assert_eq!(run.code(), Some(0), "{run:?}");
    serve.stop();
}

// 9. Small things.

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

#[test]
fn a_piped_bot_sees_its_private_messages_confirmed_but_not_its_chat_echoed() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let run = finish_blocking(server.join(&["--name", "bot"]), "hello\n/msg Bob psst\n");
    bob.lines_until("bot (private): psst");
    assert_eq!(run.code(), Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.contains(&"To Bob (private): psst"), "{run:?}");
    assert!(!lines.contains(&"bot: hello"), "{run:?}");
    assert!(!lines.contains(&"Server: bot joined the party!"), "{run:?}");
}

#[test]
fn history_asked_for_is_shown_and_a_later_line_does_not_count_it_as_dropped() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("earlier");
    // Kept by then: Bob's next line is answered after it.
    bob.send("/who");
    bob.lines_until("Server: Online (1): Bob");
    let run = finish_blocking(server.join(&["--name", "bot"]), "/history\nafter it\n");
    bob.lines_until("bot: after it");
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(!run.stdout.contains("not sent"), "{run:?}");
    assert!(
        run.stdout.contains("Server: The last 1 message:\n"),
        "{run:?}"
    );
    // Its lines carry local times (or none), not the UTC a plain client reads.
    assert!(!run.stdout.contains("UTC"), "{run:?}");
}
