//! TLS and passwords: private rooms, with certificates made in the test
//! and a real `openssl s_client`.
//!
//! - `join` checks the server (CA file, pinned fingerprint, expiry, name)
//!   and fails fast in one line against a plain or foreign server;
//! - `serve` with its own or a self-signed certificate; a full TLS room
//!   says so inside TLS; a KeyUpdate flood logged as such;
//! - `--password`: the greeting, tries counting down, nothing of the room
//!   before it, never printed, given from a file, the environment or a
//!   prompt without echo.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_rustls::rustls;
use sockchat::protocol::message::reply::{
    self, GREETING, PASSWORD_ACCEPTED, PASSWORD_GREETING, TLS_REQUIRED,
};
use sockchat::protocol::password::{Password, Secret};
use sockchat::server::Config;
use sockchat::tls;

use crate::support::pki::{Identity, Pki};
use crate::support::terminal::Pty;
use crate::support::{
    finish, finish_blocking, join_command as join, run, sockchat, write_file, Client, Serve,
    TestServer, WAIT,
};

// ---------------------------------------------------------------------------
// TLS

/// How long a mismatch (plain against TLS, either way) may take to fail.
const FAST: Duration = Duration::from_secs(3);

async fn tls_server(tls: std::sync::Arc<futures_rustls::rustls::ServerConfig>) -> TestServer {
    TestServer::with(Config {
        tls: Some(tls),
        ..Config::default()
    })
    .await
}

// Our own clients, both ends.

#[test]
fn tls_clients_log_in_chat_and_message_each_other() {
    run(async {
        let pki = Pki::new();
        let server = tls_server(pki.good.server_config()).await;
        let config = pki.client_config();
        let mut max = Client::login_tls(server.addr, config.clone(), GREETING, &[], "Max").await;
        let mut eve = Client::login_tls(server.addr, config, GREETING, &[], "Eve").await;
        max.expect_line("Server: Eve joined the party!").await;
        max.send("hello over TLS").await;
        eve.expect_line("Max: hello over TLS").await;
        eve.send("/msg Max just for you").await;
        eve.expect_line("To Max (private): just for you").await;
        max.expect_line("Eve (private): just for you").await;
        max.send("/quit").await;
        max.expect_line("Server: Bye!").await;
        max.expect_closed().await;
        eve.expect_line("Server: Max left the party.").await;
    });
}

#[test]
fn join_checks_the_server_against_a_ca_file_and_chats() {
    run(async {
        let pki = Pki::new();
        let server = tls_server(pki.good.server_config()).await;
        let mut eve =
            Client::login_tls(server.addr, pki.client_config(), GREETING, &[], "Eve").await;
        let ca = pki.ca.to_str().expect("a UTF-8 temp path");
        let done = finish(
            join(server.addr, &["--tls-ca", ca, "--name", "Max"]),
            "hello from join\n",
        )
        .await;
        assert_eq!(done.code(), Some(0), "{done:?}");
        let connected = format!(
            "Connected to: {} (TLS 1.3, certificate verified with {ca})",
            server.addr
        );
        assert!(done.stdout.contains(&connected), "{done:?}");
        assert!(
            done.stdout.contains("Server: You are logged in as: Max"),
            "{done:?}"
        );
        eve.expect_line("Server: Max joined the party!").await;
        eve.expect_line("Max: hello from join").await;
        eve.expect_line("Server: Max left the party.").await;
    });
}

// Pinning a self-signed certificate.

#[test]
fn join_accepts_the_pinned_fingerprint_in_any_case_without_colons() {
    run(async {
        let own = sockchat::tls::self_signed(vec!["localhost".into()]).expect("self-signed");
        let server = tls_server(own.config).await;
        let typed = own.fingerprint.to_string().replace(':', "").to_lowercase();
        let mut command = join(server.addr, &["--name", "Max"]);
        command.env("SOCKCHAT_TLS_FINGERPRINT", &typed);
        let done = finish(command, "").await;
        assert_eq!(done.code(), Some(0), "{done:?}");
        assert!(
            done.stdout
                .contains("certificate matches the pinned fingerprint"),
            "{done:?}"
        );
        assert!(
            done.stdout.contains("Server: You are logged in as: Max"),
            "{done:?}"
        );
    });
}

#[test]
fn join_refuses_a_server_whose_fingerprint_is_not_the_pinned_one() {
    run(async {
        let own = sockchat::tls::self_signed(vec!["localhost".into()]).expect("self-signed");
        let other = sockchat::tls::self_signed(vec!["localhost".into()]).expect("self-signed");
        let server = tls_server(own.config).await;
        let pinned = other.fingerprint.to_string();
        let done = finish(
            join(
                server.addr,
                &["--tls-fingerprint", &pinned, "--name", "Max"],
            ),
            "",
        )
        .await;
        assert_eq!(done.code(), Some(1), "{done:?}");
        let expected = format!(
            "sockchat: TLS handshake with {} failed: the server's certificate was refused: \
             its SHA-256 fingerprint is {}, not the pinned {pinned}\n",
            server.addr, own.fingerprint
        );
        assert_eq!(done.stderr, expected);
        assert!(!done.stdout.contains("logged in"), "{done:?}");
    });
}

// Certificates that do not verify.

async fn refused(identity: &Identity, ca: &std::path::Path) -> String {
    let server = tls_server(identity.server_config()).await;
    let ca = ca.to_str().expect("a UTF-8 temp path");
    let done = finish(join(server.addr, &["--tls-ca", ca, "--name", "Max"]), "").await;
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert!(!done.stdout.contains("logged in"), "{done:?}");
    let prefix = format!(
        "sockchat: TLS handshake with {} failed: the server's certificate was refused: ",
        server.addr
    );
    let why = done.stderr.strip_prefix(&prefix);
    why.unwrap_or_else(|| panic!("unexpected error {:?}", done.stderr))
        .trim_end()
        .to_string()
}

#[test]
fn join_refuses_a_certificate_from_an_unknown_ca() {
    run(async {
        let pki = Pki::new();
        let why = refused(&pki.good, &pki.other_ca).await;
        assert_eq!(
            why,
            format!("it is not signed by the CA in {}", pki.other_ca.display())
        );
    });
}

#[test]
fn join_refuses_an_expired_certificate() {
    run(async {
        let pki = Pki::new();
        assert_eq!(refused(&pki.expired, &pki.ca).await, "it has expired");
    });
}

/// A self-signed certificate given to `--tls-ca` is checked by our own
/// code, not webpki's chain: its names are told all the same.
#[test]
fn join_names_what_a_self_signed_certificate_in_the_ca_file_is_for() {
    run(async {
        let dir = tempfile::tempdir().expect("a temp dir");
        let own = crate::support::pki::self_signed(dir.path(), &["chat.example.org"]);
        let why = refused(&own, &own.cert).await;
        assert_eq!(
            why,
            "it is not valid for 127.0.0.1 (it names chat.example.org)"
        );
    });
}

#[test]
fn join_refuses_a_certificate_for_another_name() {
    run(async {
        let pki = Pki::new();
        let why = refused(&pki.wrong_name, &pki.ca).await;
        assert!(why.starts_with("it is not valid for 127.0.0.1"), "{why}");
        assert!(why.contains("example.org"), "{why}");
    });
}

// Plain and TLS mixed up: fast, clear failures.

#[test]
fn plain_join_to_a_tls_server_fails_fast_and_says_so() {
    run(async {
        let pki = Pki::new();
        let server = tls_server(pki.good.server_config()).await;
        let done = finish(join(server.addr, &["--name", "Max"]), "").await;
        assert_eq!(done.code(), Some(1), "{done:?}");
        assert_eq!(
            done.stderr,
            "sockchat: the server speaks TLS: use --tls (or --tls-fingerprint for a self-signed server)\n"
        );
        // Not connected to anything it can talk to: nothing says it was.
        assert_eq!(done.stdout, "");
        assert!(done.took < FAST, "took {:?}", done.took);
    });
}

#[test]
fn plain_join_to_a_tls_server_that_is_not_ours_fails_fast_and_says_so() {
    run(async {
        // A bare rustls server: no plain-text hint, only what TLS itself
        // does with bytes that are not a handshake (a fatal alert).
        let pki = Pki::new();
        let listener = async_std::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let acceptor = futures_rustls::TlsAcceptor::from(pki.good.server_config());
        let bare = async_std::task::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            acceptor.accept(stream).await.map(|_| ())
        });
        let done = finish(join(addr, &["--name", "Max"]), "").await;
        assert_eq!(done.code(), Some(1), "{done:?}");
        assert_eq!(
            done.stderr,
            "sockchat: the server speaks TLS: use --tls (or --tls-fingerprint for a self-signed server)\n"
        );
        assert!(done.took < FAST, "took {:?}", done.took);
        assert!(bare.await.is_err(), "the handshake cannot have succeeded");
    });
}

#[test]
fn tls_join_to_a_plain_server_fails_fast_and_says_so() {
    run(async {
        let pki = Pki::new();
        let server = TestServer::start().await;
        let ca = pki.ca.to_str().expect("a UTF-8 temp path");
        let done = finish(join(server.addr, &["--tls-ca", ca, "--name", "Max"]), "").await;
        assert_eq!(done.code(), Some(1), "{done:?}");
        let expected = format!(
            "sockchat: TLS handshake with {} failed: the server does not speak TLS \
             (it answered in plain text): drop --tls\n",
            server.addr
        );
        assert_eq!(done.stderr, expected);
        assert!(done.took < FAST, "took {:?}", done.took);
    });
}

#[test]
fn a_plain_text_client_on_a_tls_port_is_told_to_use_tls_and_closed() {
    run(async {
        let pki = Pki::new();
        let server = tls_server(pki.good.server_config()).await;
        let mut nc = server.connect().await;
        nc.send("Max").await;
        nc.expect_line(TLS_REQUIRED).await;
        nc.expect_closed().await;
    });
}

#[test]
fn a_connection_that_never_starts_tls_does_not_hold_up_the_room() {
    run(async {
        let pki = Pki::new();
        let server = TestServer::with(Config {
            tls: Some(pki.good.server_config()),
            login_timeout: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
        let mut silent = server.connect().await;
        let mut max =
            Client::login_tls(server.addr, pki.client_config(), GREETING, &[], "Max").await;
        max.send("/who").await;
        max.expect_line("Server: Online (1): Max").await;
        // Closed when its handshake time (here the login timeout) runs out.
        silent.expect_closed().await;
    });
}

#[test]
fn sockchat_tls_in_the_environment_turns_tls_on_with_the_systems_cas() {
    run(async {
        let pki = Pki::new();
        let server = tls_server(pki.good.server_config()).await;
        let mut command = join(server.addr, &["--name", "Max"]);
        command.env("SOCKCHAT_TLS", "1");
        let done = finish(command, "").await;
        assert_eq!(done.code(), Some(1), "{done:?}");
        // The test CA is in no system store (and a CI machine may have none).
        let untrusted = "it is not signed by a CA this system trusts";
        let no_store = "no CA certificates found on this system";
        assert!(
            done.stderr.contains(untrusted) || done.stderr.contains(no_store),
            "{done:?}"
        );
    });
}

// The real `serve`.

#[test]
fn serve_self_signed_prints_the_fingerprint_and_a_join_command_that_works() {
    run(async {
        let mut serve = Serve::new().args(&["--tls-self-signed"]).start();
        let fingerprint =
            serve.banner_line("TLS: self-signed certificate with SHA-256 fingerprint ");
        let command = serve.banner_line("Join with: ");
        assert_eq!(
            command,
            format!(
                "sockchat join --host 127.0.0.1 --port {} --tls-fingerprint {fingerprint}",
                serve.addr.port()
            )
        );
        let words: Vec<&str> = command.split_whitespace().skip(1).collect();
        let mut join = sockchat(words);
        join.args(["--name", "Max"]);
        let done = finish(join, "").await;
        assert_eq!(done.code(), Some(0), "{done:?}");
        assert!(
            done.stdout.contains("Server: You are logged in as: Max"),
            "{done:?}"
        );
        assert!(serve.stop().success());
    });
}

#[test]
fn serve_refuses_a_key_that_does_not_belong_to_its_certificate() {
    let pki = Pki::new();
    let cert = pki.good.cert.to_str().expect("a UTF-8 temp path");
    let key = pki.expired.key.to_str().expect("a UTF-8 temp path");
    let serve = sockchat(["serve", "--port", "0", "--tls-cert", cert, "--tls-key", key]);
    let done = finish_blocking(serve, "");
    assert_eq!(done.code(), Some(1), "{done:?}");
    let expected = format!(
        "sockchat: cannot use the TLS certificate {cert} with the key {key}: \
         the key does not belong to this certificate (they were not made together)\n"
    );
    assert_eq!(done.stderr, expected);
}

// A TLS client that is not ours.

#[test]
fn openssl_s_client_can_log_in_and_chat() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED openssl_s_client_can_log_in_and_chat: `openssl` is not installed");
        return;
    }
    run(async {
        let pki = Pki::new();
        let secret = Secret::new("s3cret").expect("a valid password");
        let server = TestServer::with(Config {
            tls: Some(pki.good.server_config()),
            password: Some(Password::new(&secret)),
            ..Config::default()
        })
        .await;
        let mut bob = Client::login_tls(
            server.addr,
            pki.client_config(),
            PASSWORD_GREETING,
            &["s3cret"],
            "Bob",
        )
        .await;
        let mut s_client = Command::new("openssl");
        s_client
            .args(["s_client", "-quiet", "-verify_return_error", "-CAfile"])
            .arg(&pki.ca)
            .args(["-connect", &server.addr.to_string()])
            .stderr(Stdio::null());
        // -quiet implies -ign_eof: it keeps the session open after its input.
        let input = "s3cret\nOssl\nhi from openssl\n/msg Bob psst\n";
        let s_client = async_std::task::spawn_blocking(move || finish_blocking(s_client, input));
        bob.expect_line("Server: Ossl joined the party!").await;
        bob.expect_line("Ossl: hi from openssl").await;
        bob.expect_line("Ossl (private): psst").await;
        bob.send("hello openssl").await;
        // The broker takes lines in order: once /who is answered, the chat
        // line has been queued for s_client, and shutdown flushes it.
        bob.send("/who").await;
        bob.expect_line("Server: Online (2): Bob, Ossl").await;
        // A graceful shutdown flushes to every client, then closes: the
        // only way s_client -quiet ends.
        server.stop().await;
        let done = s_client.await;
        let expected = [
            PASSWORD_GREETING,
            "Server: Password accepted. Type a username and press Enter.",
            "Server: You are logged in as: Ossl",
            "To Bob (private): psst",
            "Bob: hello openssl",
            "Server: shutting down",
        ];
        let lines: Vec<&str> = done.stdout.lines().collect();
        assert_eq!(lines, expected, "{done:?}");
    });
}

// ---------------------------------------------------------------------------
// Passwords

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

// ---------------------------------------------------------------------------
// Passwords and certificates as people meet them

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

// TLS the way people make certificates.

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

// ---------------------------------------------------------------------------
// TLS under abuse

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
