//! Sessions and resume: a dropped connection takes its name back and
//! misses nothing, and `join` reconnects by itself.
//!
//! - the resume token: replayed gap, ghost connections closed, refused
//!   tokens alike, private messages kept for their session only;
//! - `join` after a cut connection or a server restart (with and without
//!   `--store`): nothing lost or doubled, lines typed while away sent
//!   once, the catch-up marker, times and the bell, piped and on a pty.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockchat::server::Config;

use crate::support::proxy::Proxy;
use crate::support::tagged::{inside, Line};
use crate::support::{
    join_command, once_in_order, run, Client, Nc, Running, Serve, Server, Tagged, TestServer,
};

// ---------------------------------------------------------------------------
// Sessions resumed by their token

/// A config with the resume window given.
fn resuming_within(window: Duration) -> Config {
    Config {
        resume_window: window,
        ..Config::default()
    }
}

/// Reads lines (updating `max.last` with every id) until one has `text`.
async fn read_until(max: &mut Tagged, text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    loop {
        let line = max.line().await;
        if let Some(id) = line.id() {
            max.last = max.last.max(id);
        }
        let done = line.text == text;
        lines.push(line);
        if done {
            return lines;
        }
    }
}

#[test]
fn a_resume_over_a_half_open_ghost_replays_exactly_what_was_missed_and_closes_the_ghost() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann] = server.logins(["Ann"]).await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        ann.expect_line("Server: Max joined the party!").await;
        ann.send("before the blink").await;
        read_until(&mut max, "Ann: before the blink").await;

        // Max's Wi-Fi blinks: the server still thinks the old connection
        // is fine and sends to it; nothing of it reaches Max's client.
        ann.send("during one").await;
        ann.send("/me during two").await;
        ann.send("/msg Max private while away").await;
        ann.expect_line("To Max (private): private while away")
            .await;

        let mut back = Tagged::connect(server.addr).await;
        let label = back
            .send(&format!("/resume {} {}", max.token, max.last))
            .await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Max");
        assert!(login.has("resumed"));
        assert_eq!(login.answers(), Some(label.as_str()));
        assert_eq!(login.get("session"), Some(max.token.as_str()));
        let header = back.line().await;
        assert_eq!(header.text, "Server: 3 messages since you left:");
        assert_eq!(header.get("missed"), Some("0"));
        let block = back.rest_of_block(header).await;
        let texts = inside(&block);
        assert_eq!(
            texts,
            [
                "Ann: during one",
                "* Ann during two",
                "Ann (private): private while away"
            ]
        );
        assert!(block.iter().filter_map(Line::id).all(|id| id > max.last));

        // Live lines after the block, none twice; the ghost is closed, and
        // Ann saw neither a leave nor a join.
        ann.send("welcome back").await;
        let live = back.line().await;
        assert_eq!(live.text, "Ann: welcome back");
        let mut ghost_lines = 0;
        while let Some(_line) = max.client.line().await {
            ghost_lines += 1;
            assert!(ghost_lines < 100, "the ghost was not closed");
        }
        ann.send("/who").await;
        ann.expect_line("Server: Online (2): Ann, Max").await;
    });
}

#[test]
fn a_connection_whose_session_is_resumed_elsewhere_is_told_so_and_closed() {
    run(async {
        let server = TestServer::start().await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {} {}", max.token, max.last))
            .await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Max");
        // The old connection's last line says why it ends, and it ends.
        let mut last = None;
        while let Some(line) = max.client.line().await {
            last = Some(line);
        }
        assert_eq!(
            last.as_deref(),
            Some(sockchat::protocol::message::reply::RESUMED_ELSEWHERE)
        );
    });
}

/// Ann in the room, and tagged Max, whose connection then drops (a reset):
/// Ann has seen him come and go. Returns Ann, and Max's token and last id.
async fn ann_sees_max_drop(server: &TestServer) -> (Client, String, u64) {
    let [mut ann] = server.logins(["Ann"]).await;
    let (max, _) = Tagged::login(server.addr, "Max").await;
    ann.expect_line("Server: Max joined the party!").await;
    let Tagged {
        client,
        token,
        last,
        ..
    } = max;
    client.reset();
    ann.expect_line("Server: Max left the party.").await;
    (ann, token, last)
}

#[test]
fn a_resume_after_a_dropped_connection_takes_the_name_back_and_replays_the_gap() {
    run(async {
        let server = TestServer::start().await;
        let (mut ann, token, last) = ann_sees_max_drop(&server).await;
        ann.send("while you were out").await;

        // Someone else may not take the name meanwhile.
        let mut eve = Client::connect(server.addr).await;
        eve.expect_line(sockchat::protocol::message::reply::GREETING)
            .await;
        eve.send("Max").await;
        let refused = eve.line().await.unwrap_or_default();
        assert!(
            refused.starts_with("Server: Error: the name Max is kept"),
            "{refused:?}"
        );

        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {token} {last}")).await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Max");
        let header = back.line().await;
        let block = back.rest_of_block(header).await;
        let texts: Vec<&str> = block.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts[1..texts.len() - 1],
            ["Server: Max left the party.", "Ann: while you were out"]
        );
        // The room saw the leave, so it sees an ordinary join.
        ann.expect_line("Server: Max joined the party!").await;
        let echo = back.line().await;
        assert_eq!(echo.text, "Server: Max joined the party!");
    });
}

#[test]
fn a_wrong_expired_or_malformed_token_is_refused_in_the_same_words() {
    run(async {
        let server = TestServer::with(resuming_within(Duration::ZERO)).await;
        let (max, _) = Tagged::login(server.addr, "Max").await;
        let Tagged { client, token, .. } = max;
        client.reset();
        let mut ann = server.login("Ann").await;
        // Max's reset and Ann's login come on two connections: the server
        // may see Ann first. Asked until Max is gone (his leave may come
        // in between), so his session is over before it is tried.
        let mut gone = false;
        for _ in 0..1000 {
            ann.send("/who").await;
            let mut answer = ann.line().await.expect("Ann is connected");
            if answer == "Server: Max left the party." {
                answer = ann.line().await.expect("Ann is connected");
            }
            if answer == "Server: Online (1): Ann" {
                gone = true;
                break;
            }
        }
        assert!(gone, "the server never saw Max's connection reset");

        let refusal =
            "Server: Error: that session cannot be resumed (unknown or expired); type a username";
        for attempt in [
            format!("/resume {token} 0"),
            format!("/resume {} 0", "0".repeat(32)),
            "/resume nonsense".to_string(),
            "/resume".to_string(),
        ] {
            let mut who = Tagged::connect(server.addr).await;
            let label = who.send(&attempt).await;
            let answer = who.line().await;
            // A bare `/resume` is a name attempt (and no valid name).
            if attempt == "/resume" {
                assert!(answer.text.starts_with("Server: Error: "), "{answer:?}");
                continue;
            }
            assert_eq!(answer.text, refusal, "for {attempt:?}");
            assert_eq!(answer.answers(), Some(label.as_str()));
            // Then a name logs in as usual.
            who.send("Someone").await;
            let login = who.line().await;
            assert_eq!(login.text, "Server: You are logged in as: Someone");
            who.client.send("/quit").await;
        }
    });
}

#[test]
fn private_messages_are_kept_for_their_session_only_never_for_the_next_owner_of_the_name() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann] = server.logins(["Ann"]).await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        ann.send("/msg Max for Max's eyes only").await;
        read_until(&mut max, "Ann (private): for Max's eyes only").await;
        max.send("/quit").await;
        read_until(&mut max, "Server: Bye!").await;
        let token = max.token.clone();

        // The quit session is over: its token no longer works…
        let mut again = Tagged::connect(server.addr).await;
        again.send(&format!("/resume {token} 0")).await;
        let refused = again.line().await;
        assert!(refused
            .text
            .starts_with("Server: Error: that session cannot be resumed"));
        // …and whoever takes the name next sees the room, not the private line.
        again.send("Max").await;
        let login = again.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Max");
        again.send("/history after 0").await;
        let header = loop {
            let line = again.line().await;
            if line.has("history") && line.text.contains("after id 0") {
                break line;
            }
        };
        let block = again.rest_of_block(header).await;
        assert!(
            block.iter().all(|l| !l.text.contains("eyes only")),
            "{block:?}"
        );
        assert!(block
            .iter()
            .any(|l| l.text == "Server: Max joined the party!"));
    });
}

#[test]
fn a_resume_from_before_the_history_kept_is_told_how_many_messages_it_missed() {
    run(async {
        let config = Config {
            history: sockchat::stream::HistoryLimits {
                room: sockchat::stream::Limits {
                    count: 2,
                    bytes: 1 << 20,
                },
                ..Default::default()
            },
            ..Config::default()
        };
        let server = TestServer::with(config).await;
        let (mut ann, token, last) = ann_sees_max_drop(&server).await;
        for i in 1..=5 {
            ann.send(&format!("missed {i}")).await;
        }
        ann.send("/who").await;
        ann.expect_line("Server: Online (1): Ann").await;

        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {token} {last}")).await;
        back.line().await;
        let header = back.line().await;
        // The leave and five lines came after `last`; two are kept.
        assert_eq!(header.get("missed"), Some("4"), "{header:?}");
        assert_eq!(
            header.text,
            "Server: 2 messages since you left (4 more are no longer kept):"
        );
        let block = back.rest_of_block(header).await;
        assert_eq!(block[1].text, "Ann: missed 4");
        assert_eq!(block[2].text, "Ann: missed 5");
    });
}

#[test]
fn a_private_message_sent_before_a_rename_is_replayed_as_sent_not_as_from_whoever_has_the_old_name()
{
    run(async {
        let server = TestServer::start().await;
        let [mut ann] = server.logins(["Ann"]).await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        ann.expect_line("Server: Max joined the party!").await;
        let before = max.last;
        max.send("/msg Ann meet at noon").await;
        read_until(&mut max, "To Ann (private): meet at noon").await;
        ann.expect_line("Max (private): meet at noon").await;
        max.send("/nick Maxi").await;
        read_until(&mut max, "Server: Max is now known as Maxi.").await;
        ann.expect_line("Server: Max is now known as Maxi.").await;
        // Someone else takes the old name.
        let mut eve = Client::connect(server.addr).await;
        eve.log_in("Max").await;
        ann.expect_line("Server: Max joined the party!").await;

        // Maxi's connection blinks; it asks for everything since before
        // its private message.
        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {} {before}", max.token)).await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Maxi");
        let header = back.line().await;
        let block = back.rest_of_block(header).await;
        let texts = inside(&block);
        assert_eq!(
            texts,
            [
                "To Ann (private): meet at noon",
                "Server: Max is now known as Maxi.",
                "Server: Max joined the party!"
            ],
            "the new Max never wrote to Maxi"
        );
    });
}

#[test]
fn a_private_message_to_someone_away_is_kept_for_their_resume_and_the_sender_is_told() {
    run(async {
        let server = TestServer::start().await;
        let (mut ann, token, last) = ann_sees_max_drop(&server).await;

        ann.send("/msg Max call me when you are back").await;
        ann.expect_line(
            "Server: Max is away: your message is kept for them if they come back within 10 min",
        )
        .await;
        ann.expect_line("To Max (private): call me when you are back")
            .await;
        // Nobody else gets it, and a name nobody holds is still refused.
        ann.send("/msg Nobody hello").await;
        ann.expect_line("Server: Error: no user named Nobody is online")
            .await;

        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {token} {last}")).await;
        assert_eq!(back.line().await.text, "Server: You are logged in as: Max");
        let header = back.line().await;
        let block = back.rest_of_block(header).await;
        let texts: Vec<&str> = block.iter().map(|l| l.text.as_str()).collect();
        assert!(
            texts.contains(&"Ann (private): call me when you are back"),
            "{texts:?}"
        );
    });
}

// ---------------------------------------------------------------------------
// `join` reconnects

/// A piped `join --name Max --reconnect EXTRA…` to `addr`, stdin held open.
fn piped_max(addr: SocketAddr, extra: &[&str]) -> Running {
    let mut command = join_command(addr, &["--name", "Max", "--reconnect"]);
    command.args(extra).env("TZ", "UTC");
    Running::spawn("Max", command)
}

/// Max (piped, `--reconnect`, through `via`) and Bob (at `nc`, on
/// `server`) in one room, each having seen the other arrive.
fn max_and_bob(via: SocketAddr, server: SocketAddr, extra: &[&str]) -> (Running, Nc) {
    let mut max = piped_max(via, extra);
    max.stdout.expect("Server: You are logged in as: Max\n");
    let bob = Nc::login(server, "Bob");
    max.stdout.expect("Server: Bob joined the party!\n");
    (max, bob)
}

/// Cuts Max's link and keeps it down (new connections refused) until
/// Max says it is reconnecting.
fn cut_off(proxy: &Proxy, max: &mut Running) {
    proxy.refuse(true);
    proxy.cut();
    max.stderr.expect("reconnecting to");
}

/// Ends Max's input, waits for the end, and checks `lines` were shown
/// exactly once each, in order.
fn each_once(mut max: Running, lines: &[&str]) -> String {
    max.close_stdin();
    max.wait();
    let out = max.stdout.text();
    once_in_order(&out, lines);
    out
}

#[test]
fn a_cut_connection_is_resumed_and_nothing_said_meanwhile_is_lost_or_doubled() {
    let server = Server::start();
    let proxy = Proxy::to(server.addr);
    let (mut max, mut bob) = max_and_bob(proxy.addr, server.addr, &[]);
    bob.send("before the cut");
    max.stdout.expect("Bob: before the cut\n");

    cut_off(&proxy, &mut max);
    for n in 1..=3 {
        bob.send(&format!("while away {n}"));
    }
    max.type_in("typed while away\n");
    proxy.refuse(false);
    max.stderr.expect("the session was resumed");
    // The line typed while away is sent after the resume, under the same name.
    bob.lines_until("Max: typed while away");
    bob.send("live again");
    max.stdout.expect("Bob: live again\n");
    let out = each_once(
        max,
        &[
            "Bob: before the cut",
            "Bob: while away 1",
            "Bob: while away 2",
            "Bob: while away 3",
            "Bob: live again",
        ],
    );
    // The three lines and the notice of Max's leave (the server announced it).
    assert!(out.contains("\n── 4 new since "), "{out}");
}

/// A resume block far larger than the server's send queue (2.4 MB said
/// while away; the queue is 1 MiB): streamed to the client as it reads,
/// it arrives whole, and every line is shown once, in order (issue 17:
/// it was cut off, with holes, and then called complete).
#[test]
fn a_resume_after_megabytes_said_while_away_shows_every_line_once_in_order() {
    // No flood or output limits: the test is about the block's size.
    let server = Serve::new()
        .args(&["--rate", "0", "--output-rate", "0"])
        .start();
    let proxy = Proxy::to(server.addr);
    let (mut max, mut bob) = max_and_bob(proxy.addr, server.addr, &[]);
    cut_off(&proxy, &mut max);
    let said: Vec<String> = (1..=600)
        .map(|n| format!("{n:04} {}", "x".repeat(4000)))
        .collect();
    for line in &said {
        bob.send(line);
    }
    proxy.refuse(false);
    max.stderr.expect("the session was resumed");
    bob.send("live again");
    max.stdout.expect("Bob: live again\n");
    let mut lines: Vec<String> = said.iter().map(|l| format!("Bob: {l}")).collect();
    lines.push("Bob: live again".into());
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = each_once(max, &lines);
    assert!(
        out.contains("── 601 new since "),
        "the marker counts what was shown"
    );
    assert!(!out.contains("no longer kept"), "nothing was lost");
}

#[test]
fn a_line_lost_on_the_way_is_sent_again_and_one_that_arrived_is_not() {
    let server = Server::start();
    let proxy = Proxy::to(server.addr);
    let (mut max, mut bob) = max_and_bob(proxy.addr, server.addr, &[]);
    // The room gets this one, but its echo is lost with the link.
    proxy.lose_down(true);
    max.type_in("arrived\n");
    bob.lines_until("Max: arrived");
    // This one never reaches the room.
    proxy.lose_up(true);
    max.type_in("lost on the way\n");
    bob.send("marker");
    // Max cannot see the marker (nothing comes down): Bob's own order proves
    // "lost on the way" has not arrived by the time of the cut.
    cut_off(&proxy, &mut max);
    proxy.lose_up(false);
    proxy.lose_down(false);
    proxy.refuse(false);
    max.stderr.expect("the session was resumed");
    let seen = bob.lines_until("Max: lost on the way");
    bob.send("done");
    max.stdout.expect("Bob: done\n");
    assert!(!seen.iter().any(|l| l == "Max: arrived"), "{seen:?}");
    // "arrived" is in the replay (so shown once, dimmed on a terminal) and
    // was not sent again; Bob saw it once, before the cut.
    each_once(max, &["Max: arrived", "Bob: marker", "Bob: done"]);
}

#[test]
fn a_rename_whose_answer_was_lost_does_not_make_a_line_that_arrived_go_twice() {
    let server = Server::start();
    let proxy = Proxy::to(server.addr);
    let (mut max, mut bob) = max_and_bob(proxy.addr, server.addr, &[]);
    // The room takes both, but their answers are lost with the link.
    proxy.lose_down(true);
    max.type_in("/nick Maxi\nas maxi\n");
    bob.lines_until("Maxi: as maxi");
    cut_off(&proxy, &mut max);
    proxy.lose_down(false);
    proxy.refuse(false);
    max.stderr.expect("the session was resumed");
    // Anything sent again goes before this, in order.
    max.type_in("after\n");
    let seen = bob.lines_until("Maxi: after");
    assert!(!seen.iter().any(|l| l == "Maxi: as maxi"), "{seen:?}");
    each_once(max, &["Maxi: as maxi"]);
}

#[test]
fn a_script_that_ends_while_away_has_its_last_lines_sent_once_back() {
    let server = Server::start();
    let proxy = Proxy::to(server.addr);
    let (mut max, mut bob) = max_and_bob(proxy.addr, server.addr, &[]);
    cut_off(&proxy, &mut max);
    max.type_in("last words\n");
    max.close_stdin();
    proxy.refuse(false);
    bob.lines_until("Max: last words");
    assert_eq!(max.wait().code(), Some(0));
}

/// Lines typed while away go at the room's pace once back, as any other:
/// far more than the room's burst all reach it, in order.
#[test]
fn lines_typed_while_away_reach_the_room_at_its_pace_once_back() {
    let server = Serve::new()
        .args(&["--rate", "100", "--burst", "20"])
        .start();
    let proxy = Proxy::to(server.addr);
    let (mut max, mut bob) = max_and_bob(proxy.addr, server.addr, &[]);
    cut_off(&proxy, &mut max);
    let lines: Vec<String> = (1..=100).map(|n| format!("away {n}")).collect();
    max.type_in(&format!("{}\n", lines.join("\n")));
    proxy.refuse(false);
    let last = "Max: away 100";
    let mut got: Vec<String> = bob
        .lines_until(last)
        .into_iter()
        .filter(|line| line.starts_with("Max: "))
        .collect();
    got.push(last.to_string());
    let want: Vec<String> = lines.iter().map(|l| format!("Max: {l}")).collect();
    assert!(got == want, "lost or reordered: {got:#?}");
    max.close_stdin();
    assert_eq!(max.wait().code(), Some(0));
}

#[test]
fn a_piped_join_without_reconnect_still_ends_when_the_connection_drops() {
    let server = Server::start();
    let proxy = Proxy::to(server.addr);
    let mut command = join_command(proxy.addr, &["--name", "Max"]);
    command.env("TZ", "UTC");
    let mut max = Running::spawn("Max", command);
    max.stdout.expect("Server: You are logged in as: Max\n");
    proxy.cut();
    max.stdout.expect("Server left.\n");
    assert_eq!(max.wait().code(), Some(1));
}

#[test]
fn a_tls_room_with_a_password_is_resumed_with_the_password_kept_in_memory() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = crate::support::write_file(dir.path(), "password", "hunter2\n");
    let file = file.to_str().expect("a UTF-8 path");
    let mut server = Serve::new()
        .args(&["--tls-self-signed", "--password-file", file])
        .start();
    let pin = server.banner_line("TLS: self-signed certificate with SHA-256 fingerprint ");
    let proxy = Proxy::to(server.addr);
    let private = |addr: SocketAddr, name: &str| {
        let mut command = join_command(
            addr,
            &["--name", name, "--reconnect", "--tls-fingerprint", &pin],
        );
        command.env("TZ", "UTC").env("SOCKCHAT_PASSWORD", "hunter2");
        Running::spawn(name, command)
    };
    let mut ann = private(server.addr, "Ann");
    ann.stdout.expect("Server: You are logged in as: Ann\n");
    let mut max = private(proxy.addr, "Max");
    max.stdout.expect("Server: You are logged in as: Max\n");
    ann.stdout.expect("Server: Max joined the party!\n");

    cut_off(&proxy, &mut max);
    max.type_in("through TLS again\n");
    proxy.refuse(false);
    max.stderr.expect("the session was resumed");
    ann.stdout.expect("Max: through TLS again\n");
    ann.type_in("welcome back\n");
    max.stdout.expect("Ann: welcome back\n");
}

/// The server comes back with a new self-signed key: the pinned
/// certificate has changed, and no number of tries will change it back.
#[test]
fn a_pinned_certificate_that_changed_ends_the_reconnect_in_one_line() {
    let mut server = Serve::new().args(&["--tls-self-signed"]).start();
    let pin = server.banner_line("TLS: self-signed certificate with SHA-256 fingerprint ");
    let mut max = piped_max(server.addr, &["--tls-fingerprint", &pin]);
    max.stdout.expect("Server: You are logged in as: Max\n");
    let mut server = restart(server, &["--tls-self-signed"]);
    let new = server.banner_line("TLS: self-signed certificate with SHA-256 fingerprint ");
    max.stderr.expect("reconnecting to");
    let status = max.wait();
    assert_eq!(status.code(), Some(1));
    let stderr = max.stderr.expect_end();
    let after: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.contains("reconnecting to"))
        .skip(1)
        .collect();
    let expected = format!(
        "sockchat: TLS handshake with {} failed: the server's certificate was refused: \
         its SHA-256 fingerprint is {new}, not the pinned {pin}",
        server.addr
    );
    assert_eq!(after, [expected.as_str()], "{stderr}");
}

/// Kills the server at `addr` at once (no goodbye) and starts another on
/// the same port with `args`.
fn restart(server: Server, args: &[&str]) -> Server {
    let port = server.addr.port();
    server.process.signal(libc::SIGKILL);
    drop(server);
    Serve::new().at("127.0.0.1", port).args(args).start()
}

#[test]
fn after_a_restart_with_a_store_the_gap_is_filled_from_the_history() {
    let store = tempfile::tempdir().expect("a temp dir");
    let dir = store.path().to_str().expect("a UTF-8 path");
    let server = Serve::new().args(&["--store", dir]).start();
    let (mut max, mut bob) = max_and_bob(server.addr, server.addr, &[]);
    bob.send("before the crash");
    max.stdout.expect("Bob: before the crash\n");
    max.type_in("max was here\n");
    bob.lines_until("Max: max was here");

    // A window of 0: the store keeps the session, but it is over by the
    // time Max is back, so he logs in again and the history fills the gap.
    let server = restart(server, &["--store", dir, "--resume-window", "0"]);
    max.stderr.expect("reconnecting to");
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("after the restart");
    max.stderr.expect("you logged in again as Max");
    bob.send("live again");
    max.stdout.expect("Bob: live again\n");
    each_once(
        max,
        &[
            "Bob: before the crash",
            "Bob: after the restart",
            "Bob: live again",
        ],
    );
}

#[test]
fn after_a_restart_without_a_store_the_new_room_is_shown_once() {
    let server = Server::start();
    let (mut max, mut bob) = max_and_bob(server.addr, server.addr, &[]);
    bob.send("one");
    max.stdout.expect("Bob: one\n");

    let server = restart(server, &[]);
    max.stderr.expect("reconnecting to");
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("two");
    max.stderr
        .expect("what was said before the restart is lost");
    bob.send("three");
    max.stdout.expect("Bob: three\n");
    each_once(max, &["Bob: one", "Bob: two", "Bob: three"]);
}

#[test]
fn logging_in_again_after_a_restart_neither_shows_nor_counts_your_own_arrival() {
    let server = Server::start();
    let (mut max, _bob) = max_and_bob(server.addr, server.addr, &[]);
    let server = restart(server, &[]);
    max.stderr.expect("reconnecting to");
    max.stderr
        .expect("what was said before the restart is lost");
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("back");
    max.stdout.expect("Bob: back\n");
    let out = each_once(max, &["Bob: back"]);
    // Live, your own arrival is not shown; in the catch-up it was, as "1 new".
    assert!(!out.contains("Server: Max joined the party!"), "{out}");
    assert!(!out.contains("── 1 new"), "{out}");
}

/// `HH:MM` now, in UTC, and a minute later (a test may cross a minute).
fn utc_minutes() -> [String; 2] {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    [0, 60].map(|later| {
        let minutes = (now.as_secs() + later) / 60;
        format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
    })
}

#[test]
fn piped_output_has_times_only_when_asked() {
    let server = Server::start();
    let mut plain = piped_max(server.addr, &[]);
    plain.stdout.expect("Server: You are logged in as: Max\n");
    let mut command = join_command(server.addr, &["--name", "Ann", "--timestamps"]);
    command.env("TZ", "UTC");
    let mut stamped = Running::spawn("Ann", command);
    stamped.stdout.expect("Server: You are logged in as: Ann\n");
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("what time is it");
    plain.stdout.expect("\nBob: what time is it\n");
    let line = stamped.stdout.expect("Bob: what time is it\n");
    let line = line.lines().last().unwrap_or_default().to_string();
    let minutes = utc_minutes();
    assert!(
        minutes
            .iter()
            .any(|hhmm| line == format!("{hhmm} Bob: what time is it")),
        "{line:?}, {minutes:?}"
    );
}

#[test]
fn the_catch_up_marker_counts_what_came_before_and_what_mentions_you() {
    let server = Server::start();
    let mut ann = Nc::login(server.addr, "Ann");
    let mut bob = Nc::login(server.addr, "Bob");
    ann.send("morning all");
    // In this order in the room: Bob answers what he has seen.
    bob.lines_until("Ann: morning all");
    bob.send("has anyone seen max?");
    ann.lines_until("Bob: has anyone seen max?");
    let mut max = piped_max(server.addr, &[]);
    let block = max.stdout.expect("Bob: has anyone seen max?\n");
    // Ann's and Bob's two lines (this server replays no join notices to a
    // late joiner); one of them names Max.
    let marker = block
        .lines()
        .find(|l| l.starts_with("── "))
        .unwrap_or_else(|| panic!("no marker in {block:?}"));
    // What was said before Max came is not news "since" anything.
    assert_eq!(
        marker, "── the last 2 messages, 1 mentions you ──",
        "{block:?}"
    );
    let after: Vec<&str> = block
        .lines()
        .skip_while(|l| !l.starts_with("── "))
        .collect();
    assert_eq!(
        after,
        [marker, "Ann: morning all", "Bob: has anyone seen max?",]
    );
    // Piped: no bell for the mention.
    assert!(!max.stdout.text().contains('\x07'));
}

mod on_a_terminal {
    use super::*;
    use crate::support::terminal::{screen_rows, Pty};

    const ROWS: u16 = 40;
    const COLS: u16 = 100;

    /// `join --name Max EXTRA…` on a pty of [`ROWS`]×[`COLS`], in UTC,
    /// without colours (the rows are compared as text).
    fn max(addr: SocketAddr, extra: &[&str]) -> Pty {
        let mut command = join_command(addr, &["--name", "Max"]);
        command.args(extra).env("TZ", "UTC").env("NO_COLOR", "1");
        Pty::spawn_sized(command, COLS, ROWS)
    }

    #[test]
    fn a_restart_with_a_store_keeps_the_screen_the_half_typed_line_and_every_line_once() {
        let store = tempfile::tempdir().expect("a temp dir");
        let dir = store.path().to_str().expect("a UTF-8 path");
        let server = Serve::new().args(&["--store", dir]).start();
        let mut pty = max(server.addr, &[]);
        pty.expect_logged_in("Max");
        let mut bob = Nc::login(server.addr, "Bob");
        bob.send("before the crash");
        pty.screen.expect("Bob: before the crash");
        pty.type_keys("half a thought");
        pty.screen.expect("half a thought");

        let server = restart(server, &["--store", dir]);
        pty.screen.expect("Reconnecting to 127.0.0.1:");
        let mut bob = Nc::login(server.addr, "Bob");
        bob.send("while you were away");
        // The store kept the session: it is resumed, name and all.
        pty.screen.expect("the session was resumed");
        bob.send("live again");
        pty.screen.expect("Bob: live again");
        // The half-typed line survived: finished and sent, under the same name.
        pty.type_keys(" finished\r");
        bob.lines_until("Max: half a thought finished");
        pty.screen.expect("Max: half a thought finished");
        pty.type_keys("\x04");
        assert_eq!(pty.exit_code(), 0);
        pty.assert_terminal_restored();

        let rows = screen_rows(pty.screen.bytes(), ROWS, COLS);
        // Each row starts with its time: `HH:MM `.
        let text: Vec<String> = rows
            .iter()
            .map(|row| match row.as_bytes().get(5) {
                Some(b' ') if row.as_bytes()[2] == b':' => row[6..].to_string(),
                _ => row.clone(),
            })
            .collect();
        once_in_order(
            &text.join("\n"),
            &[
                "Bob: before the crash",
                "Bob: while you were away",
                "Bob: live again",
                "Max: half a thought finished",
            ],
        );
    }

    /// While away, types `line`, sees it counted as waiting, and leaves
    /// with Ctrl-D: exit 0, told it was not sent, the terminal restored.
    fn leave_with_a_line_waiting(mut pty: Pty, line: &str) {
        pty.type_keys(&format!("{line}\r"));
        pty.screen.expect("1 line waiting");
        pty.type_keys("\x04");
        pty.screen.expect("1 line you typed was not sent");
        assert_eq!(pty.exit_code(), 0);
        pty.assert_terminal_restored();
    }

    #[test]
    fn leaving_while_away_keeps_the_terminal_and_says_what_was_not_sent() {
        let server = Server::start();
        let mut pty = max(server.addr, &[]);
        pty.expect_logged_in("Max");
        assert!(server.stop().success());
        pty.screen.expect("Reconnecting to 127.0.0.1:");
        leave_with_a_line_waiting(pty, "never sent");
    }

    #[test]
    fn a_server_that_takes_the_connection_but_never_answers_does_not_stop_leaving() {
        let mut server = Server::start();
        let proxy = Proxy::to(server.addr);
        let mut pty = max(proxy.addr, &[]);
        pty.expect_logged_in("Max");
        let log = &mut server.process.stderr;
        log.expect("Max joined the party!");
        // The network half works: connections are taken, nothing comes back.
        proxy.lose_down(true);
        proxy.cut();
        pty.screen.expect("Reconnecting to 127.0.0.1:");
        // An attempt is under way: it waits for a greeting that never comes.
        log.expect("Max left the party.");
        log.expect("Connection from 127.0.0.1:");
        // Counted while an attempt waits for its answer, not after it.
        leave_with_a_line_waiting(pty, "typed while stuck");
    }

    #[test]
    fn a_mention_rings_the_bell_and_no_bell_keeps_it_quiet() {
        let server = Server::start();
        let mut rings = max(server.addr, &[]);
        rings.expect_logged_in("Max");
        let mut quiet = {
            let mut command = join_command(server.addr, &["--name", "Ann", "--no-bell"]);
            command.env("TZ", "UTC");
            Pty::spawn(command)
        };
        quiet.expect_logged_in("Ann");
        let mut bob = Nc::login(server.addr, "Bob");
        bob.send("no bell for this");
        rings.screen.expect("no bell for this");
        bob.send("hey @max and ann, look");
        let shown = rings.screen.expect("look");
        let rest = rings.screen.expect("\x07");
        assert!(
            !shown.contains('\x07') && rest.len() < 20,
            "{shown:?} {rest:?}"
        );
        bob.send("after");
        let quiet_screen = quiet.screen.expect("after");
        assert!(quiet_screen.contains("look"), "{quiet_screen:?}");
        assert!(!quiet_screen.contains('\x07'), "{quiet_screen:?}");
        // A private message rings too.
        bob.send("/msg Max psst");
        rings.screen.expect("psst");
        rings.screen.expect("\x07");
    }

    #[test]
    fn a_terminal_shows_times_unless_told_not_to() {
        let server = Server::start();
        let mut stamped = max(server.addr, &[]);
        stamped.expect_logged_in("Max");
        let mut plain = {
            let mut command = join_command(server.addr, &["--name", "Ann"]);
            command
                .env("TZ", "UTC")
                .env("NO_COLOR", "1")
                .env("SOCKCHAT_TIMESTAMPS", "false");
            Pty::spawn(command)
        };
        plain.expect_logged_in("Ann");
        let mut bob = Nc::login(server.addr, "Bob");
        bob.send("tick");
        stamped.screen.expect("Bob: tick");
        plain.screen.expect("Bob: tick");
        let row = |pty: &Pty| {
            let rows = screen_rows(pty.screen.bytes(), 24, 80);
            rows.into_iter()
                .find(|r| r.contains("Bob: tick"))
                .expect("the row")
        };
        let minutes = utc_minutes();
        let stamped_row = row(&stamped);
        assert!(
            minutes
                .iter()
                .any(|hhmm| stamped_row == format!("{hhmm} Bob: tick")),
            "{stamped_row:?}"
        );
        assert_eq!(row(&plain), "Bob: tick");
    }
}
