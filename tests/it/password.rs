//! A room with a password: the protocol at `nc` level, the real `join`
//! giving it (from the environment, a file, a terminal prompt), and the
//! real `serve`, whose every printed byte is checked for the secret.

use std::net::SocketAddr;

use sockchat::protocol::message::reply::{GREETING, PASSWORD_ACCEPTED, PASSWORD_GREETING};
use sockchat::protocol::password::{Password, Secret};
use sockchat::server::Config;

use crate::support::pki::Pki;
use crate::support::terminal::Pty;
use crate::support::{
    finish, finish_blocking, join_command as join, run, sockchat, write_file, Client, Serve,
    TestServer,
};

const SECRET: &str = "s3cret horse";

fn locked() -> Config {
    let secret = Secret::new(SECRET).expect("a valid password");
    Config {
        password: Some(Password::new(&secret)),
        ..Config::default()
    }
}

// The protocol, as `nc` sees it.

#[test]
fn the_greeting_tells_an_nc_user_to_type_the_password() {
    run(async {
        let server = TestServer::with(locked()).await;
        let mut client = server.connect().await;
        client
            .expect_line(
                "Server: Welcome to sockchat! This room has a password: type it and press Enter.",
            )
            .await;
    });
}

#[test]
fn the_right_password_then_a_name_logs_in() {
    run(async {
        let server = TestServer::with(locked()).await;
        let mut client = server.connect().await;
        client.expect_line(PASSWORD_GREETING).await;
        client.send("").await;
        client.send(SECRET).await;
        client
            .expect_line("Server: Password accepted. Type a username and press Enter.")
            .await;
        client.send("Max").await;
        client
            .expect_line("Server: You are logged in as: Max")
            .await;
    });
}

#[test]
fn wrong_passwords_count_down_and_the_third_closes_the_connection() {
    run(async {
        let server = TestServer::with(locked()).await;
        let mut client = server.connect().await;
        client.expect_line(PASSWORD_GREETING).await;
        client.send("Max").await;
        client
            .expect_line("Server: Error: wrong password (2 tries left)")
            .await;
        client.send("s3cret").await;
        client
            .expect_line("Server: Error: wrong password (1 try left)")
            .await;
        client.send("s3cret horse ").await;
        client
            .expect_line("Server: Error: wrong password; closing")
            .await;
        client.expect_closed().await;
    });
}

#[test]
fn a_wrong_password_may_be_followed_by_the_right_one() {
    run(async {
        let server = TestServer::with(locked()).await;
        let mut client = server.connect().await;
        client.expect_line(PASSWORD_GREETING).await;
        client.send("guess").await;
        client
            .expect_line("Server: Error: wrong password (2 tries left)")
            .await;
        client.send(SECRET).await;
        client.expect_line(PASSWORD_ACCEPTED).await;
    });
}

#[test]
fn a_connection_without_the_password_hears_nothing_of_the_room() {
    run(async {
        let server = TestServer::with(locked()).await;
        let mut max = server.connect().await;
        max.expect_line(PASSWORD_GREETING).await;
        max.send(SECRET).await;
        max.expect_line(PASSWORD_ACCEPTED).await;
        max.send("Max").await;
        max.expect_line("Server: You are logged in as: Max").await;
        let mut outsider = server.connect().await;
        outsider.expect_line(PASSWORD_GREETING).await;
        max.send("the plans").await;
        max.send("/who").await;
        max.expect_line("Server: Online (1): Max").await;
        // Anything wrongly sent to the outsider would come before this answer.
        outsider.send("/help").await;
        outsider
            .expect_line("Server: Error: type the room's password first (/quit leaves)")
            .await;
    });
}

#[test]
fn the_password_works_over_tls_too() {
    run(async {
        let pki = Pki::new();
        let server = TestServer::with(Config {
            tls: Some(pki.good.server_config()),
            ..locked()
        })
        .await;
        let config = pki.client_config();
        let mut max = Client::login_tls(
            server.addr,
            config.clone(),
            PASSWORD_GREETING,
            &[SECRET],
            "Max",
        )
        .await;
        let mut eve = Client::connect_tls(server.addr, config)
            .await
            .expect("TLS handshake");
        eve.expect_line(PASSWORD_GREETING).await;
        for _ in 0..3 {
            eve.send("Eve").await;
            eve.line().await;
        }
        eve.expect_closed().await;
        max.send("/who").await;
        max.expect_line("Server: Online (1): Max").await;
    });
}

// The real `join`.

/// A locked room with Eve logged in, to watch what `join` does.
async fn watched_room() -> (TestServer, Client) {
    let server = TestServer::with(locked()).await;
    let mut eve = server.connect().await;
    eve.expect_line(PASSWORD_GREETING).await;
    eve.send(SECRET).await;
    eve.expect_line(PASSWORD_ACCEPTED).await;
    eve.send("Eve").await;
    eve.expect_line("Server: You are logged in as: Eve").await;
    (server, eve)
}

#[test]
fn join_gives_the_password_from_the_environment() {
    run(async {
        let (server, mut eve) = watched_room().await;
        let mut command = join(server.addr, &["--name", "Max"]);
        command.env("SOCKCHAT_PASSWORD", SECRET);
        let done = finish(command, "hello\n").await;
        assert_eq!(done.code(), Some(0), "{done:?}");
        assert!(
            done.stdout.contains("Server: You are logged in as: Max"),
            "{done:?}"
        );
        assert_eq!(done.stderr, "");
        eve.expect_line("Server: Max joined the party!").await;
        eve.expect_line("Max: hello").await;
    });
}

#[test]
fn join_reads_the_password_from_a_file() {
    run(async {
        let (server, mut eve) = watched_room().await;
        let dir = tempfile::tempdir().expect("create a temp dir");
        let file = write_file(dir.path(), "password", &format!("{SECRET}\n"));
        let file = file.to_str().expect("a UTF-8 temp path");
        let done = finish(join(server.addr, &["--password-file", file]), "Max\nhi\n").await;
        assert_eq!(done.code(), Some(0), "{done:?}");
        eve.expect_line("Server: Max joined the party!").await;
        eve.expect_line("Max: hi").await;
    });
}

#[test]
fn join_with_a_wrong_password_fails_with_the_servers_reason() {
    run(async {
        let (server, _eve) = watched_room().await;
        let done = finish(
            join(server.addr, &["--password", "not-it", "--name", "Max"]),
            "",
        )
        .await;
        assert_eq!(done.code(), Some(1), "{done:?}");
        assert_eq!(
            done.stderr,
            "sockchat: the server refused the password: wrong password (2 tries left)\n"
        );
        assert!(!done.stdout.contains("not-it"), "{done:?}");
    });
}

#[test]
fn join_without_a_password_or_a_terminal_says_how_to_give_one() {
    run(async {
        let (server, _eve) = watched_room().await;
        let done = finish(join(server.addr, &["--name", "Max"]), "").await;
        assert_eq!(done.code(), Some(1), "{done:?}");
        assert_eq!(
            done.stderr,
            "sockchat: the room has a password and there is no terminal to ask for it: \
             give it with --password-file FILE or SOCKCHAT_PASSWORD\n"
        );
    });
}

#[test]
fn join_to_an_open_room_does_not_send_the_password() {
    run(async {
        let server = TestServer::start().await;
        let mut eve = server.login("Eve").await;
        let done = finish(
            join(server.addr, &["--password", SECRET, "--name", "Max"]),
            "",
        )
        .await;
        assert_eq!(done.code(), Some(0), "{done:?}");
        assert_eq!(
            done.stderr,
            "sockchat: note: this room asks for no password; yours was not sent\n"
        );
        eve.expect_line("Server: Max joined the party!").await;
        eve.expect_line("Server: Max left the party.").await;
    });
}

#[test]
fn join_on_a_terminal_asks_for_the_password_without_echoing_it() {
    run(async {
        let (server, mut eve) = watched_room().await;
        let addr = server.addr;
        let on_pty = async_std::task::spawn_blocking(move || {
            let mut pty = Pty::join(addr, &["--name", "Max"], &[]);
            pty.screen.expect("This room has a password");
            // Type only once the prompt has turned echo off: keys typed
            // while the terminal's mode changes can be dropped by it.
            pty.wait_for_echo_off();
            pty.type_keys(&format!("{SECRET}\n"));
            let shown = pty.screen.expect("Server: You are logged in as: Max");
            pty.screen.expect("> ");
            pty.type_keys("\x04");
            shown
        });
        eve.expect_line("Server: Max joined the party!").await;
        eve.expect_line("Server: Max left the party.").await;
        let shown = on_pty.await;
        assert!(
            !shown.contains("s3cret"),
            "the password was echoed: {shown:?}"
        );
    });
}

// The real `serve`.

#[test]
fn serve_never_prints_the_password_or_an_attempt() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let file = write_file(dir.path(), "password", "hunter2\n");
    let file = file.to_str().expect("a UTF-8 temp path");
    let serve = Serve::new().args(&["--password-file", file]).start();
    let port = run_sessions(serve.addr);
    let stopped = serve.stop_to_end();
    let (stdout, stderr) = (stopped.stdout, stopped.stderr);
    let everything = format!("{stdout}{stderr}").to_lowercase();
    assert!(
        !everything.contains("hunter2"),
        "the secret or an attempt was printed:\n{stdout}{stderr}"
    );
    let closed = format!("Server: 127.0.0.1:{port} gave a wrong password 3 times; closed");
    assert!(stderr.contains(&closed), "{stderr}");
    assert!(stderr.contains("Server: Max joined the party!"), "{stderr}");
    assert!(stdout.contains("The room has a password"), "{stdout}");
}

/// A right login that chats and asks `/who`, and one that gives three near
/// misses; returns the port the second one came from.
fn run_sessions(addr: SocketAddr) -> u16 {
    let mut port = 0;
    run(async {
        let mut max = Client::connect(addr).await;
        max.expect_line(PASSWORD_GREETING).await;
        max.send("hunter2").await;
        max.expect_line(PASSWORD_ACCEPTED).await;
        max.send("Max").await;
        max.expect_line("Server: You are logged in as: Max").await;
        max.send("/who").await;
        max.expect_line("Server: Online (1): Max").await;
        max.send("hello").await;
        let mut guesser = Client::connect(addr).await;
        port = guesser.tcp().local_addr().expect("local addr").port();
        guesser.expect_line(PASSWORD_GREETING).await;
        for guess in ["hunter2!", "HUNTER2", "xhunter2x"] {
            guesser.send(guess).await;
            guesser.line().await;
        }
        guesser.expect_closed().await;
        max.send("/quit").await;
        max.expect_line("Server: Bye!").await;
        max.expect_closed().await;
    });
    port
}

#[test]
fn help_never_shows_a_password_from_the_environment() {
    for command in ["serve", "join"] {
        let mut help = sockchat([command, "--help"]);
        help.env("SOCKCHAT_PASSWORD", "hunter2");
        let done = finish_blocking(help, "");
        assert_eq!(done.code(), Some(0), "{done:?}");
        assert!(done.stdout.contains("--password"), "{done:?}");
        assert!(!done.stdout.contains("hunter2"), "{done:?}");
    }
}

#[test]
fn serve_refuses_an_empty_password_file() {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let file = write_file(dir.path(), "password", "\n");
    let file = file.to_str().expect("a UTF-8 temp path");
    let done = finish_blocking(
        sockchat(["serve", "--port", "0", "--password-file", file]),
        "",
    );
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert_eq!(
        done.stderr,
        format!("sockchat: cannot use the password file {file}: the password is empty\n")
    );
}

#[test]
fn the_open_room_keeps_its_plain_greeting() {
    run(async {
        let server = TestServer::start().await;
        let mut client = server.connect().await;
        client.expect_line(GREETING).await;
    });
}
