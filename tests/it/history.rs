//! The room remembers: ids and times, the late joiner's block, `/history`,
//! tagged mode beside plain clients, and sessions resumed after a drop.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sockchat::protocol::message::reply;
use sockchat::stream::{HistoryLimits, Limits};

use sockchat::server::Config;

use crate::support::tagged::{parse, Line};
use crate::support::{run, Client, Tagged, TestServer};

/// A config with the resume window given.
fn resuming_within(window: Duration) -> Config {
    Config {
        resume_window: window,
        ..Config::default()
    }
}

fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `[HH:MM] ` (a time of today, UTC) in front of `rest`.
fn assert_stamped(line: &str, rest: &str) {
    let (stamp, after) = line.split_at(line.len().min(8));
    let digits = stamp.as_bytes();
    let shaped = stamp.len() == 8
        && digits[0] == b'['
        && digits[3] == b':'
        && digits[6] == b']'
        && digits[7] == b' '
        && [1, 2, 4, 5].iter().all(|&i| digits[i].is_ascii_digit());
    assert!(shaped && after == rest, "{line:?} is not [HH:MM] {rest:?}");
}

#[test]
fn a_late_joiner_reads_the_last_messages_with_their_times_then_the_live_room() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann, mut bob] = server.logins(["Ann", "Bob"]).await;
        ann.send("good morning").await;
        ann.send("/me brings coffee").await;
        bob.expect_line("Ann: good morning").await;
        bob.expect_line("* Ann brings coffee").await;
        bob.send("thanks!").await;
        ann.expect_line("Bob: thanks!").await;

        let mut cid = Client::connect(server.addr).await;
        cid.log_in("Cid").await;
        cid.expect_line("Server: The last 3 messages before you came (times UTC):")
            .await;
        for said in ["Ann: good morning", "* Ann brings coffee", "Bob: thanks!"] {
            let line = cid.line().await.unwrap_or_default();
            assert_stamped(&line, said);
        }
        cid.expect_line("Server: End of the last 3 messages.").await;
        ann.send("hi Cid").await;
        cid.expect_line("Ann: hi Cid").await;
    });
}

#[test]
fn replay_0_sends_no_block_and_history_0_keeps_nothing() {
    run(async {
        let config = Config {
            replay: 0,
            ..Config::default()
        };
        let server = TestServer::with(config).await;
        let [mut ann] = server.logins(["Ann"]).await;
        ann.send("said before").await;
        ann.send("/who").await;
        ann.expect_line("Server: Online (1): Ann").await;
        let mut bob = Client::connect(server.addr).await;
        bob.log_in("Bob").await;
        // The next line is live: no block came first.
        ann.send("live").await;
        bob.expect_line("Ann: live").await;
        // /history still works.
        bob.send("/history 1").await;
        bob.expect_line("Server: The last 1 message (times UTC):")
            .await;
        let line = bob.line().await.unwrap_or_default();
        assert_stamped(&line, "Ann: live");
        bob.expect_line("Server: End of the last 1 message.").await;

        let config = Config {
            history: sockchat::stream::HistoryLimits {
                room: sockchat::stream::Limits {
                    count: 0,
                    bytes: 1 << 20,
                },
                ..Default::default()
            },
            ..Config::default()
        };
        let server = TestServer::with(config).await;
        let [mut ann, mut bob] = server.logins(["Ann", "Bob"]).await;
        ann.send("gone at once").await;
        bob.expect_line("Ann: gone at once").await;
        bob.send("/history").await;
        bob.expect_line("Server: Error: this room keeps no history")
            .await;
    });
}

#[test]
fn history_shows_the_last_n_or_everything_after_an_id_and_refuses_nonsense() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann] = server.logins(["Ann"]).await;
        for i in 1..=5 {
            ann.send(&format!("line {i}")).await;
        }
        // Answered once her lines are in.
        ann.send("/who").await;
        ann.expect_line("Server: Online (1): Ann").await;
        let (mut tina, block) = Tagged::login(server.addr, "Tina").await;
        // The late joiner's block, tagged: ids increasing, each with `h`.
        let ids: Vec<u64> = block.iter().filter_map(Line::id).collect();
        assert_eq!(ids.len(), 5);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        let third = ids[2];
        ann.expect_line("Server: Tina joined the party!").await;

        ann.send(&format!("/history after {third}")).await;
        ann.expect_line(&format!("Server: 3 messages after id {third} (times UTC):"))
            .await;
        assert_stamped(&ann.line().await.unwrap_or_default(), "Ann: line 4");
        assert_stamped(&ann.line().await.unwrap_or_default(), "Ann: line 5");
        // Tina's join is after line 5 too, but /history shows what was
        // said; `after` shows everything kept.
        let join = ann.line().await.unwrap_or_default();
        assert_stamped(&join, "Server: Tina joined the party!");
        ann.expect_line(&format!("Server: End of the 3 messages after id {third}."))
            .await;

        ann.send("/history 2").await;
        ann.expect_line("Server: The last 2 messages (times UTC):")
            .await;
        assert_stamped(&ann.line().await.unwrap_or_default(), "Ann: line 4");
        assert_stamped(&ann.line().await.unwrap_or_default(), "Ann: line 5");
        ann.expect_line("Server: End of the last 2 messages.").await;

        for nonsense in ["/history two", "/history after", "/history after x"] {
            ann.send(nonsense).await;
            ann.expect_line("Server: Error: usage: /history [N], or /history after ID")
                .await;
        }
        ann.send("/history after 999999").await;
        let ahead = ann.line().await.unwrap_or_default();
        assert!(
            ahead.starts_with("Server: Error: that id is newer than anything in this room"),
            "{ahead:?}"
        );

        // A tagged /history answers its label and marks every line `h`.
        let label = tina.send("/history 1").await;
        let header = tina.line().await;
        assert_eq!(header.answers(), Some(label.as_str()));
        let lines = tina.rest_of_block(header).await;
        assert_eq!(lines[1].text, "Ann: line 5");
        assert_eq!(lines[2].answers(), Some(label.as_str()));
    });
}

#[test]
fn tagged_mode_gives_ids_times_echoes_labels_and_limits_while_plain_clients_see_todays_bytes() {
    run(async {
        let server = TestServer::start().await;
        let mut plain = Client::connect(server.addr).await;
        plain.log_in("Pat").await;

        let before = now_millis();
        let mut tina = Tagged::connect(server.addr).await;
        // (The answer to /tagged was read by `connect`; ask again to see
        // its limits: a second /tagged is refused, with the label.)
        let label = tina.send("/tagged").await;
        let late = tina.line().await;
        assert_eq!(late.answers(), Some(label.as_str()));
        assert!(late
            .text
            .starts_with("Server: Error: /tagged must be the first line"));

        let name_label = tina.send("Tina").await;
        let login = tina.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Tina");
        assert_eq!(login.answers(), Some(name_label.as_str()));
        let token = login.get("session").unwrap_or_default();
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(login.time() >= before && login.time() <= now_millis());
        // Her own join comes back with its id, answering her name's label.
        let join = tina.line().await;
        assert_eq!(join.text, "Server: Tina joined the party!");
        assert_eq!(join.answers(), Some(name_label.as_str()));
        let join_id = join.id().expect("a join notice has an id");
        assert!(
            join_id
                > login
                    .get("last")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(u64::MAX)
        );
        plain.expect_line("Server: Tina joined the party!").await;

        // A chat line: echoed to her with its id, plain to Pat.
        let label = tina.send("~tilde first, then words").await;
        let echo = tina.line().await;
        assert_eq!(echo.text, "Tina: ~tilde first, then words");
        assert_eq!(echo.answers(), Some(label.as_str()));
        assert!(echo.id() > Some(join_id));
        plain.expect_line("Tina: ~tilde first, then words").await;

        // Pat's line reaches her with an id and no label.
        plain.send("hello Tina").await;
        let heard = tina.line().await;
        assert_eq!(heard.text, "Pat: hello Tina");
        assert_eq!(heard.answers(), None);
        assert!(heard.id() > echo.id());

        // Replies and errors answer the line that caused them.
        let label = tina.send("/who").await;
        let who = tina.line().await;
        assert!(who.text.starts_with("Server: Online (2)"), "{who:?}");
        assert_eq!(who.answers(), Some(label.as_str()));
        assert_eq!(who.id(), None, "a reply is not kept");
        let label = tina.send("/nope").await;
        let error = tina.line().await;
        assert!(error
            .text
            .starts_with("Server: Error: unknown command /nope"));
        assert_eq!(error.answers(), Some(label.as_str()));

        // A private message: ids for both, her copy answers her label.
        let label = tina.send("/msg Pat psst").await;
        plain.expect_line("Tina (private): psst").await;
        let copy = tina.line().await;
        assert_eq!(copy.text, "To Pat (private): psst");
        assert_eq!(copy.answers(), Some(label.as_str()));
        assert!(copy.id() > heard.id());

        // Pat's bytes, all along, were exactly today's: no tag anywhere.
        plain.send("/who").await;
        plain.expect_line("Server: Online (2): Pat, Tina").await;
    });
}

#[test]
fn the_limits_come_with_tagged_mode() {
    run(async {
        let config = Config {
            rate: 3,
            burst: 7,
            max_line_bytes: 1000,
            ..Config::default()
        };
        let server = TestServer::with(config).await;
        let mut client = Client::connect(server.addr).await;
        client
            .expect_line(sockchat::protocol::message::reply::GREETING)
            .await;
        client.send("/tagged").await;
        let on = parse(&client.line().await.unwrap_or_default());
        assert_eq!(on.text, "Server: Tagged mode on.");
        assert_eq!(
            (on.get("rate"), on.get("burst"), on.get("max")),
            (Some("3"), Some("7"), Some("1000"))
        );
    });
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

/// The texts of a block's lines between its header and its footer.
fn inside(block: &[Line]) -> Vec<&str> {
    block[1..block.len() - 1]
        .iter()
        .map(|l| l.text.as_str())
        .collect()
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
        ann.send("/who").await;
        ann.expect_line("Server: Online (1): Ann").await;

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

/// A room of 1000 messages of 4 KB (4 MB kept, four times the 1 MiB send
/// queue), without flood or output limits: the test is about the size.
async fn a_room_of_4_mb() -> (TestServer, Client, Vec<String>) {
    let server = TestServer::with(Config {
        rate: 0,
        output_rate: 0,
        replay: 0,
        history: HistoryLimits {
            // Room for the joins beside the 1000.
            room: Limits {
                count: 1010,
                bytes: 8 << 20,
            },
            ..HistoryLimits::default()
        },
        ..Config::default()
    })
    .await;
    let [mut ann] = server.logins(["Ann"]).await;
    let said: Vec<String> = (1..=1000)
        .map(|n| format!("{n:04} {}", "y".repeat(4000)))
        .collect();
    for line in &said {
        ann.send(line).await;
    }
    // A marker: every line above is kept.
    ann.send("/who").await;
    ann.expect_line("Server: Online (1): Ann").await;
    (server, ann, said)
}

/// `/history 1000` of 4 KB lines is streamed as the client reads it: a
/// client at `nc` that reads as it comes gets it whole, in order, then
/// the live room (issue 17: it was cut off as too slow).
#[test]
fn a_history_block_larger_than_the_send_queue_reaches_a_reader_that_keeps_up() {
    run(async {
        let (server, mut ann, said) = a_room_of_4_mb().await;
        let mut cid = Client::connect(server.addr).await;
        cid.log_in("Cid").await;
        cid.send("/history 1000").await;
        ann.expect_line("Server: Cid joined the party!").await;
        cid.expect_line("Server: The last 1000 messages (times UTC):")
            .await;
        // Said while the block is being sent (4 MB, of which the kernel
        // holds at most its capped buffers): after it, not inside it. Said
        // only once the block began, as two connections' lines reach the
        // room in no set order.
        ann.send("live").await;
        for line in &said {
            let got = cid.line().await.unwrap_or_default();
            assert_stamped(&got, &format!("Ann: {line}"));
        }
        cid.expect_line("Server: End of the last 1000 messages.")
            .await;
        cid.expect_line("Ann: live").await;
    });
}

/// A client that asks for a block far larger than its queue and stops
/// reading holds only its queue: once live lines fill it, it is cut off
/// as any reader that stops is, and the others go on.
#[test]
fn a_reader_that_stops_in_a_big_block_is_still_cut_off_at_its_queue() {
    run(async {
        let (server, mut ann, _) = a_room_of_4_mb().await;
        let mut stuck = Client::connect_with_rcvbuf(server.addr, 4096);
        stuck.log_in("Stuck").await;
        ann.expect_line("Server: Stuck joined the party!").await;
        stuck.send("/history 1000").await;
        // Its marker, after the block in its queue: the block is queued.
        stuck.send("/msg Ann asked").await;
        ann.expect_line("Stuck (private): asked").await;
        let line = "z".repeat(4000);
        let mut sent = 0usize;
        'talk: loop {
            // The queue (1 MiB) and the kernel's buffers, with room to spare.
            assert!(
                sent < 3 << 20,
                "not cut off after {sent} bytes of live lines"
            );
            for _ in 0..20 {
                ann.send(&line).await;
            }
            sent += 20 * 4001;
            while let Ok(Some(notice)) = ann.line_within(Duration::from_millis(1)).await {
                if notice == "Server: Stuck left the party." {
                    break 'talk;
                }
            }
        }
        ann.send("/who").await;
        ann.expect_line("Server: Online (1): Ann").await;
    });
}

/// A server whose sockets hold little unsent (`SO_SNDBUF` 4 KiB), for a
/// client that holds little unread too: blocks of `LONG_LINE` pile up in
/// the outbox while the kernel's buffers are full, whatever the timing.
fn narrow() -> Config {
    Config {
        socket_send_buffer: 4096,
        ..Config::default()
    }
}

/// The text of the one kept line each `/history 1` pulls: 3 KB.
fn long_line() -> String {
    format!("hello {}", "x".repeat(3000))
}

/// A script that sent 10 `/history 1` in one write was cut off as "too
/// far behind reading": more blocks waited unsent than may. Now each one
/// past that is refused in one line, and the connection stays.
#[test]
fn many_history_requests_in_one_write_are_answered_or_refused_never_cut_off() {
    run(async {
        let server = TestServer::with(narrow()).await;
        let mut cid = Client::connect_with_rcvbuf(server.addr, 4096);
        cid.log_in("Cid").await;
        cid.send(&long_line()).await;
        // A marker: the line above is kept.
        cid.send("/who").await;
        cid.lines_until("Server: Online (1): Cid").await;
        let asks = "/history 1\n".repeat(20) + "/who\n";
        cid.send_raw(asks.as_bytes()).await;
        let answers = cid.lines_until("Server: Online (1): Cid").await;
        let mut answers = answers.iter();
        let (mut blocks, mut refused) = (0, 0);
        while let Some(line) = answers.next() {
            if *line == reply::last_header(1) {
                let kept = answers.next().map_or("", |l| l);
                assert_stamped(kept, &format!("Cid: {}", long_line()));
                assert_eq!(answers.next(), Some(&reply::last_footer(1)));
                blocks += 1;
            } else {
                assert_eq!(line, reply::HISTORY_BUSY);
                refused += 1;
            }
        }
        assert_eq!(blocks + refused, 20, "{blocks} blocks, {refused} refused");
        assert!(blocks >= 1, "the first is always sent");
        cid.send("/who").await;
        cid.expect_line("Server: Online (1): Cid").await;
    });
}

/// The same for our own client: each refusal answers the label of the
/// line it refuses, as any other reply does.
#[test]
fn a_refused_history_request_answers_its_label() {
    run(async {
        let server = TestServer::with(narrow()).await;
        let client = Client::connect_with_rcvbuf(server.addr, 4096);
        let (mut tina, _) = Tagged::login_over(client, "Tina").await;
        let said = tina.send(&long_line()).await;
        assert_eq!(tina.line().await.answers(), Some(said.as_str()));
        let asks: String = (1..=20).map(|n| format!("~q{n} /history 1\n")).collect();
        tina.client
            .send_raw(format!("{asks}~w /who\n").as_bytes())
            .await;
        let (mut answered, mut refused) = (Vec::new(), 0);
        loop {
            let line = tina.line().await;
            let label = line.answers().map(str::to_string);
            if label.as_deref() == Some("w") {
                assert_eq!(line.text, "Server: Online (1): Tina");
                break;
            }
            if line.has("history") {
                drop(tina.rest_of_block(line).await);
            } else {
                assert_eq!(line.text, reply::HISTORY_BUSY);
                refused += 1;
            }
            answered.push(label.unwrap_or_default());
        }
        assert!(refused > 0, "the outbox never had its fill of blocks");
        answered.sort_by_key(|label| label[1..].parse::<u32>().unwrap_or(0));
        let asked: Vec<String> = (1..=20).map(|n| format!("q{n}")).collect();
        assert_eq!(answered, asked);
    });
}
