//! TLS end to end, with certificates made in the test: our TLS client and
//! the real `join` against in-process servers, the real `serve`, and
//! `openssl s_client` as a TLS client that is not ours.

use std::process::{Command, Stdio};
use std::time::Duration;

use sockchat::protocol::message::reply::{GREETING, PASSWORD_GREETING, TLS_REQUIRED};
use sockchat::protocol::password::{Password, Secret};
use sockchat::server::Config;

use crate::support::pki::{Identity, Pki};
use crate::support::{
    finish, finish_blocking, join_command as join, run, sockchat, Client, Serve, TestServer,
};

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
