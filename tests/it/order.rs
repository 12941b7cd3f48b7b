//! Causal order: every line a client receives is queued by the broker, in
//! the order of the lines that caused it, whether the answer is a room
//! reply or the verdict on a line the reader dropped.

use std::time::{Duration, Instant};

use sockchat::protocol::message::reply;
use sockchat::server::Config;
use sockchat::stream::{RoomStream, MAIN};

use crate::support::{run, Tagged, TestServer};

#[test]
fn a_reply_to_an_earlier_line_comes_before_the_error_for_a_later_too_long_one() {
    run(async {
        let server = TestServer::start().await;
        let [mut max, _bob] = server.logins(["Max", "Bob"]).await;
        // One write: the reader sees both lines in one read.
        let mut bytes = b"/who\n".to_vec();
        bytes.extend(vec![b'x'; 5000]);
        bytes.extend(b"\n/who\n");
        max.send_raw(&bytes).await;
        max.expect_line("Server: Online (2): Max, Bob").await;
        max.expect_line(&reply::line_too_long(4096)).await;
        max.expect_line("Server: Online (2): Max, Bob").await;
    });
}

#[test]
fn the_login_is_confirmed_before_the_rate_error_for_lines_sent_with_the_name() {
    run(async {
        let server = TestServer::with(Config {
            rate: 1,
            burst: 2,
            ..Config::default()
        })
        .await;
        let mut client = server.connect_greeted().await;
        client.send_raw(b"Max\nfirst\nsecond\nthird\n").await;
        client
            .expect_line("Server: You are logged in as: Max")
            .await;
        client.expect_line(&reply::too_fast(1, 2)).await;
    });
}

#[test]
fn the_count_of_dropped_lines_comes_after_replies_to_the_lines_before_them() {
    run(async {
        let server = TestServer::with(Config {
            rate: 1,
            burst: 3,
            ..Config::default()
        })
        .await;
        // The name is free (issue 9): all three tokens are left.
        let mut max = server.login("Max").await;
        max.send_raw(b"/who\n/who\n/who\nlost\nlost\n").await;
        for _ in 0..3 {
            max.expect_line("Server: Online (1): Max").await;
        }
        max.expect_line(&reply::too_fast(1, 3)).await;
        // The next token comes within a second; the line it lets through
        // is preceded by the count of those dropped.
        async_std::task::sleep(Duration::from_millis(1100)).await;
        max.send("/who").await;
        max.expect_line(&reply::dropped(2)).await;
        max.expect_line("Server: Online (1): Max").await;
    });
}

/// A name that reaches the server around the deadline is either taken
/// (and the connection stays) or too late (and the connection is closed),
/// never both: the broker alone decides. Names are sent at spread-out
/// moments around the one-second deadline, so some land on each side.
#[test]
fn a_name_sent_around_the_login_deadline_is_taken_or_refused_never_both() {
    run(async {
        let server = TestServer::with(Config {
            login_timeout: Duration::from_secs(1),
            ..Config::default()
        })
        .await;
        let timeout_line = reply::login_timeout(1);
        let clients = (0..24).map(|i| {
            let server = &server;
            let timeout_line = timeout_line.clone();
            async move {
                let mut client = server.connect_greeted().await;
                let connected = Instant::now();
                // From 940 ms to 1055 ms after connecting, 5 ms apart.
                let at = connected + Duration::from_millis(940 + 5 * i);
                async_std::task::sleep(at.saturating_duration_since(Instant::now())).await;
                let name = format!("late{i}");
                client.send(&name).await;
                let mut lines = Vec::new();
                while let Some(line) = client.line().await {
                    let taken = line == format!("Server: You are logged in as: {name}");
                    lines.push(line);
                    if taken {
                        // Proven still open: it answers a later line (past
                        // the notices of the others coming and going).
                        client.send("/who").await;
                        loop {
                            let next = client.line().await;
                            let Some(next) = next else {
                                panic!("logged in, then closed (all: {lines:?})");
                            };
                            if next.starts_with("Server: Online") {
                                return true;
                            }
                            assert!(
                                next.ends_with(" joined the party!")
                                    || next.ends_with(" left the party."),
                                "logged in, then {next:?} (all: {lines:?})"
                            );
                        }
                    }
                }
                assert_eq!(
                    lines,
                    vec![timeout_line],
                    "a connection closed for its deadline got something else too"
                );
                false
            }
        });
        let taken = futures::future::join_all(clients).await;
        // Not asserted: how many landed on each side depends on the
        // machine's timing. What the test asserts is above.
        let on_time = taken.iter().filter(|&&t| t).count();
        eprintln!("{on_time} of {} names were on time", taken.len());
    });
}

/// A server whose room is kept in a store in a fresh temp dir: every
/// kept line waits for fdatasync before anyone sees it.
async fn stored() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = Config::default();
    let (stream, _) =
        RoomStream::open(dir.path(), MAIN, 1 << 20, config.history).expect("a new store opens");
    (TestServer::with_stream(config, stream).await, dir)
}

#[test]
fn with_a_store_a_tagged_clients_answers_keep_the_order_of_its_lines() {
    run(async {
        let (server, _dir) = stored().await;
        let [mut bob] = server.logins(["Bob"]).await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        bob.expect_line("Server: Max joined the party!").await;
        // One write: the broker gets all four before the first is synced.
        max.client
            .send_raw(b"~a one\n~b /who\n~c two\n~d /msg Bob three\n~e /who\n")
            .await;
        let mut answered = Vec::new();
        while answered.len() < 5 {
            let line = max.line().await;
            answered.push((line.answers().unwrap_or("").to_string(), line.text));
        }
        let labels: Vec<&str> = answered.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["a", "b", "c", "d", "e"], "{answered:?}");
        assert_eq!(answered[0].1, "Max: one");
        assert_eq!(answered[3].1, "To Bob (private): three");
        for said in ["Max: one", "Max: two", "Max (private): three"] {
            bob.expect_line(said).await;
        }
    });
}

#[test]
fn with_a_store_a_plain_clients_private_copy_comes_before_its_next_reply() {
    run(async {
        let (server, _dir) = stored().await;
        let [mut max, mut bob] = server.logins(["Max", "Bob"]).await;
        max.send_raw(b"/msg Bob psst\n/who\n").await;
        max.expect_line("To Bob (private): psst").await;
        max.expect_line("Server: Online (2): Max, Bob").await;
        // Max's join may have been syncing when Bob logged in: then Bob
        // sees it live, just after his own login.
        let before = bob.lines_until("Max (private): psst").await;
        assert!(
            before.iter().all(|l| l == "Server: Max joined the party!"),
            "{before:?}"
        );
    });
}

#[test]
fn with_a_store_many_tagged_clients_pipelining_each_get_every_answer_in_order() {
    run(async {
        let (server, _dir) = stored().await;
        let mut clients = Vec::new();
        for i in 0..6 {
            let (client, _) = Tagged::login(server.addr, &format!("T{i}")).await;
            clients.push(client);
        }
        // Each writes 30 lines at once (under the burst); all are being synced together.
        for client in &mut clients {
            let lines: String = (0..30).map(|n| format!("~{n} line {n}\n")).collect();
            client.client.send_raw(lines.as_bytes()).await;
        }
        for client in &mut clients {
            let mut next = 0;
            while next < 30 {
                let line = client.line().await;
                if let Some(label) = line.answers() {
                    assert_eq!(label, next.to_string(), "{line:?}");
                    next += 1;
                }
            }
        }
    });
}
