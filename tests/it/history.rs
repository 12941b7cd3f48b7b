//! History and the store: the room remembers, and `--store` keeps it
//! across a `kill -9`.
//!
//! - ids and times, the late joiner's block, `/history`, `replay 0`,
//!   tagged mode beside plain clients, big blocks and their queue;
//! - the store: what anyone saw or acked survives `kill -9`, torn or
//!   damaged lines, a full disk or file size limit, the owner-only
//!   permissions, `store check`.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_std::future::timeout;
use async_std::task;
use futures::AsyncWriteExt;
use sockchat::protocol::message::reply;
use sockchat::protocol::tagged;
use sockchat::server::Config;
use sockchat::stream::{HistoryLimits, Limits};

use crate::support::store::{Saved, TinyDisk, Transcript};
use crate::support::tagged::{parse, Line};
use crate::support::{finish_blocking, run, untimed, Client, Serve, Tagged, TestServer, WAIT};

// ---------------------------------------------------------------------------
// History, its block and tagged mode

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
            // The queue (1 MiB) and the kernel's buffers, with room to
            // spare: Ann's send buffer and the server's receive buffer grow
            // to megabytes the server has not read yet on a loaded machine
            // (3 MiB was passed there), so this bounds the test, not the
            // queue, whose bound the outbox's unit tests check.
            assert!(
                sent < 24 << 20,
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

// ---------------------------------------------------------------------------
// The store

/// A server keeping its transcript in `dir`, with `extra` flags. Its
/// history holds more than any test here says, so `/history after 0`
/// shows everything, unthrottled.
fn serve_store(dir: &Path, extra: &[&str]) -> Serve {
    let dir = dir.to_str().expect("a UTF-8 temp path");
    Serve::new()
        .args(&["--store", dir, "--history", "100000", "--output-rate", "0"])
        .args(extra)
}

/// A record as every client saw it live (what the plain line says).
fn shown(record: &Saved) -> String {
    let text = record.text.as_deref().unwrap_or_default();
    match record.kind.as_str() {
        "chat" => reply::chat(&record.from, text),
        "action" => reply::action(&record.from, text),
        "join" => reply::joined(&record.from),
        "leave" => reply::left(&record.from),
        other => panic!("no record of kind {other} is made here"),
    }
}

/// The chat texts of a transcript, in order.
fn said(transcript: &Transcript) -> Vec<String> {
    transcript
        .records
        .iter()
        .filter(|r| r.kind == "chat")
        .filter_map(|r| r.text.clone())
        .collect()
}

/// `/history after 0` on a tagged connection: each line of the block
/// with its id.
async fn history_after_0(client: &mut Tagged) -> Vec<(u64, String)> {
    let label = client.send("/history after 0").await;
    let header = client.line().await;
    assert_eq!(header.answers(), Some(label.as_str()), "{header:?}");
    assert_eq!(header.get("missed"), Some("0"), "{header:?}");
    let block = client.rest_of_block(header).await;
    let lines = &block[1..block.len() - 1];
    lines
        .iter()
        .map(|line| (line.id().expect("kept"), line.text.clone()))
        .collect()
}

/// The flooding clients; the first two plain, the others tagged.
const FLOODERS: [&str; 4] = ["plain0", "plain1", "tagged0", "tagged1"];
/// Lines each flooding client sends (it is killed long before the end).
const FLOOD: usize = 5000;
/// The server is killed once some client has seen this many lines of
/// each flooding client (a tagged one's own echoes count).
const KILL_AFTER: usize = 100;

/// How many lines of each flooding client (by its place in `FLOODERS`)
/// have been seen; says on `kill` when each has reached `KILL_AFTER`.
struct Progress {
    seen: [AtomicUsize; FLOODERS.len()],
    kill: async_channel::Sender<()>,
}

impl Progress {
    /// Counts `line` if it is a flood line.
    fn count(&self, line: &str) {
        let Some((from, _)) = line.split_once(": flood ") else {
            return;
        };
        let Some(at) = FLOODERS.iter().position(|&name| name == from) else {
            return;
        };
        let now = self.seen[at].fetch_add(1, Ordering::Relaxed) + 1;
        if now == KILL_AFTER
            && self
                .seen
                .iter()
                .all(|n| n.load(Ordering::Relaxed) >= KILL_AFTER)
        {
            // The first to see it sends it; the channel has room for one.
            let _ = self.kill.try_send(());
        }
    }
}

/// What one flooding client saw: each kept line with its id when the
/// client is tagged (its own lines' echoes among them: those it had acked).
type Seen = Vec<(Option<u64>, String)>;

/// Floods the room as `name` with `FLOOD` lines from a second handle on
/// the socket, while reading until the server is gone.
async fn flood(mut client: Client, name: String, is_tagged: bool, progress: Arc<Progress>) -> Seen {
    let mut writer = client.tcp().clone();
    let sender = {
        let name = name.clone();
        task::spawn(async move {
            let mut batch = String::new();
            for n in 0..FLOOD {
                if is_tagged {
                    batch.push_str(&format!("~{n} "));
                }
                batch.push_str(&format!("flood {name} {n}\n"));
                if batch.len() >= 2048 || n + 1 == FLOOD {
                    // The server is killed mid-flood: then writes fail.
                    match timeout(WAIT, writer.write_all(batch.as_bytes())).await {
                        Ok(Ok(())) => batch.clear(),
                        _ => return,
                    }
                }
            }
        })
    };
    let mut seen = Seen::new();
    client
        .read_until_gone(|line| {
            if is_tagged {
                let got = tagged::parse(&line).unwrap_or_else(|| panic!("untagged: {line}"));
                progress.count(got.line);
                if let Some(id) = got.number("id") {
                    if let Some(label) = got.get("re") {
                        // An echo answers the line it labels.
                        assert_eq!(
                            got.line,
                            reply::chat(&name, &format!("flood {name} {label}"))
                        );
                    }
                    seen.push((Some(id), got.line.to_string()));
                }
            } else if !line.starts_with("Server: ") || line.ends_with(" joined the party!") {
                progress.count(&line);
                seen.push((None, line));
            }
        })
        .await;
    sender.await;
    seen
}

/// With a store, a plain client's line and its `/history` in one write:
/// the line was still being synced when the `/history` was answered, so
/// the answer left it out. A plain client's `/history` now waits for its
/// own lines to settle (its chat does not: it has no answer to wait for).
#[test]
fn a_plain_clients_history_shows_the_line_it_sent_just_before() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path(), &["--replay", "0"]).start();
    run(async {
        let mut ann = Client::login(server.addr, "Ann").await;
        for round in 0..5 {
            let said = format!("line {round}");
            ann.send_raw(format!("{said}\n/history 1\n").as_bytes())
                .await;
            ann.expect_line(&reply::last_header(1)).await;
            let got = ann.line().await.unwrap_or_default();
            assert_stamped(&got, &format!("Ann: {said}"));
            ann.expect_line(&reply::last_footer(1)).await;
        }
    });
}

#[test]
fn whatever_anyone_saw_or_had_acked_survives_kill_9() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path(), &["--rate", "0", "--replay", "0"]).start();
    let names = FLOODERS;
    let seen: Vec<Seen> = run(async {
        let (kill, killed) = async_channel::bounded(1);
        let progress = Arc::new(Progress {
            seen: Default::default(),
            kill,
        });
        let mut clients = Vec::new();
        for name in names {
            let is_tagged = name.starts_with("tagged");
            let client = if is_tagged {
                Tagged::login(server.addr, name).await.0.client
            } else {
                Client::login(server.addr, name).await
            };
            clients.push((client, name.to_string(), is_tagged));
        }
        let clients: Vec<_> = clients
            .into_iter()
            .map(|(client, name, is_tagged)| {
                let flood = flood(client, name, is_tagged, progress.clone());
                task::spawn(flood)
            })
            .collect();
        timeout(WAIT, killed.recv())
            .await
            .expect("the flood reached the server's clients")
            .expect("a client says when");
        let crashed = server.kill();
        assert_eq!(crashed.status.code(), None, "killed by a signal");
        let mut seen = Vec::new();
        for client in clients {
            seen.push(
                timeout(WAIT, client)
                    .await
                    .expect("each client sees the end"),
            );
        }
        seen
    });

    let before = Transcript::read(dir.path());
    let flooded = said(&before).len();
    assert!(
        flooded > 0 && flooded < names.len() * FLOOD,
        "killed mid-flood: {flooded} lines"
    );
    let restarted = serve_store(dir.path(), &["--replay", "0"]);
    let mut restarted = restarted.start();
    let (join_id, history, after) = run(async {
        let (mut late, _) = Tagged::login(restarted.addr, "late").await;
        let join_id = late.last;
        let history = history_after_0(&mut late).await;
        // Read while `late` is still here: its leave would be kept too.
        (join_id, history, Transcript::read(dir.path()))
    });
    if before.torn > 0 {
        restarted
            .process
            .stderr
            .expect("dropped an incomplete last line");
    }

    // The id counter came back: new ids continue above the old.
    assert!(
        join_id > before.newest(),
        "{join_id} after {}",
        before.newest()
    );
    // On disk: what was there before, and the newcomer's join; ids
    // strictly increasing, each line once.
    assert_eq!(after.torn, 0);
    assert_eq!(&after.records[..before.records.len()], &before.records[..]);
    assert_eq!(after.ids().last(), Some(&join_id));
    assert!(after.ids().windows(2).all(|w| w[0] < w[1]), "ids increase");
    let texts = said(&after);
    assert_eq!(
        texts.iter().collect::<HashSet<_>>().len(),
        texts.len(),
        "no duplicates"
    );
    // `/history after 0` shows exactly what is on disk.
    let on_disk: Vec<(u64, String)> = after.records.iter().map(|r| (r.id, shown(r))).collect();
    assert_eq!(history, on_disk);

    // Every line any client saw (or got its echo for) is there.
    let by_id: HashMap<u64, &String> = on_disk.iter().map(|(id, line)| (*id, line)).collect();
    let lines: HashSet<&String> = on_disk.iter().map(|(_, line)| line).collect();
    let mut checked = 0;
    for (name, seen) in names.iter().zip(&seen) {
        for (id, line) in seen {
            match id {
                Some(id) => assert_eq!(by_id.get(id), Some(&line), "{name} saw id {id}"),
                None => assert!(lines.contains(line), "{name} saw {line:?}, not kept"),
            }
            checked += 1;
        }
    }
    assert!(
        checked >= KILL_AFTER * names.len(),
        "only {checked} lines were seen"
    );
}

/// A chat line long enough to need a page of its own on a tmpfs (a full
/// one cannot give it one), within the default line limit.
fn long(word: &str) -> String {
    format!("{word} {}", "x".repeat(3900))
}

/// Ann (tagged) and Bob (plain) in a room whose store is in `dir`; Ann
/// says `before` and both see it settle.
async fn ann_and_bob(server: &crate::support::Server) -> (Tagged, Client) {
    let (mut ann, _) = Tagged::login(server.addr, "Ann").await;
    let mut bob = Client::login(server.addr, "Bob").await;
    assert_eq!(ann.line().await.text, reply::joined("Bob"));
    let label = ann.send("before").await;
    let echo = ann.line().await;
    assert_eq!(
        (echo.text.as_str(), echo.answers()),
        ("Ann: before", Some(label.as_str()))
    );
    bob.expect_line("Ann: before").await;
    (ann, bob)
}

/// Ann and Bob each send a line the store cannot save: each is told,
/// with `cause`, and (as the next lines prove) nobody else sees it.
async fn unsaved(ann: &mut Tagged, bob: &mut Client, cause: &str) {
    let error = reply::error(format!("not saved: {cause}"));
    let label = ann.send(&long("lost")).await;
    let told = ann.line().await;
    assert_eq!(
        (told.text.as_str(), told.answers()),
        (error.as_str(), Some(label.as_str()))
    );
    assert_eq!(told.id(), None, "an unsaved line has no id");
    bob.send(&long("lost too")).await;
    bob.expect_line(&error).await;
}

/// Writes succeed again: Ann's next line reaches Bob, with nothing before
/// it (so neither lost line was relayed).
async fn chat_resumes(ann: &mut Tagged, bob: &mut Client) {
    let label = ann.send("back").await;
    let echo = ann.line().await;
    assert_eq!(
        (echo.text.as_str(), echo.answers()),
        ("Ann: back", Some(label.as_str()))
    );
    assert!(echo.id().is_some());
    bob.expect_line("Ann: back").await;
}

#[test]
fn a_full_disk_costs_only_the_lines_it_could_not_save_and_chat_resumes_when_it_has_room() {
    let Some(disk) = TinyDisk::mount(256) else {
        return;
    };
    let dir = disk.path().join("store");
    let server = serve_store(&dir, &["--replay", "0"]).start();
    run(async {
        let (mut ann, mut bob) = ann_and_bob(&server).await;
        disk.fill();
        unsaved(&mut ann, &mut bob, "the disk is full").await;
        // The room keeps running: a newcomer logs in and is announced.
        let _carl = Client::login(server.addr, "Carl").await;
        assert_eq!(ann.line().await.text, reply::joined("Carl"));
        bob.expect_line(&reply::joined("Carl")).await;
        disk.resize(1024);
        chat_resumes(&mut ann, &mut bob).await;
    });
    let stopped = server.stop_to_end();
    assert!(stopped.status.success());
    assert_logged_once(&stopped.stderr, "the disk is full");
    assert_eq!(said(&Transcript::read(&dir)), ["before", "back"]);
}

#[test]
fn a_file_size_limit_costs_only_the_lines_past_it_and_lifting_it_lets_chat_resume() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut server = serve_store(dir.path(), &["--replay", "0"]).start();
    run(async {
        let (mut ann, mut bob) = ann_and_bob(&server).await;
        let newest = Transcript::read(dir.path()).files.pop().expect("a file");
        let size = std::fs::metadata(&newest).expect("its size").len();
        // Not one byte more: SIGXFSZ would kill a server that did not
        // ignore it; this one gets EFBIG.
        server.process.limit_file_size(Some(size));
        unsaved(&mut ann, &mut bob, "file too large").await;
        server.process.limit_file_size(None);
        chat_resumes(&mut ann, &mut bob).await;
    });
    assert!(server.process.is_running());
    let stopped = server.stop_to_end();
    assert!(stopped.status.success());
    assert_logged_once(&stopped.stderr, "file too large");
    assert_eq!(said(&Transcript::read(dir.path())), ["before", "back"]);
}

/// The log says once that the store failed and why, and once that it
/// saves again: not once a line.
fn assert_logged_once(log: &str, cause: &str) {
    let failed = format!("Server: the store cannot save: {cause};");
    let count = |text: &str| log.lines().filter(|l| l.contains(text)).count();
    assert_eq!(count(&failed), 1, "{log}");
    assert_eq!(count("Server: the store saves again"), 1, "{log}");
}

/// The first segment's name in a room's folder.
const FIRST: &str = "sockchat-00000000000000000001.jsonl";

/// A store in a temp dir whose one file holds `contents`.
fn store_with(contents: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let room = private_room(dir.path());
    let file = private_file(&room, FIRST, contents.as_bytes());
    (dir, file)
}

/// `store/main`, made as the server makes it: its owner's alone.
fn private_room(store: &Path) -> std::path::PathBuf {
    private_folder(store, "main")
}

/// `store/NAME`, its owner's alone.
fn private_folder(store: &Path, name: &str) -> std::path::PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let room = store.join(name);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&room)
        .expect("the room's folder");
    room
}

/// A file in `room` written by hand, its owner's alone (as the server
/// would refuse it otherwise).
fn private_file(room: &Path, name: &str, contents: &[u8]) -> std::path::PathBuf {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = room.join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(contents))
        .expect("write a store file");
    path
}

const TWO_LINES: &str = concat!(
    r#"{"id":1,"time":1764583200000,"kind":"chat","from":"Ann","text":"hi"}"#,
    "\n",
    r#"{"id":2,"time":1764583201000,"kind":"chat","from":"Bob","text":"yo"}"#,
    "\n",
);

#[test]
fn a_torn_last_line_is_dropped_and_reported_and_ids_go_on_from_the_last_whole_one() {
    let torn = r#"{"id":3,"time":1764583202000,"kind":"ch"#;
    let (dir, file) = store_with(&format!("{TWO_LINES}{torn}"));
    let mut server = serve_store(dir.path(), &["--replay", "0"]).start();
    let report = format!(
        "Server: {} line 3: dropped an incomplete last line ({} bytes): the server stopped while writing it\n",
        file.display(),
        torn.len()
    );
    let log = server.process.stderr.expect(&report);
    assert_eq!(untimed(&log), report, "the report is the log's first line");
    assert_eq!(std::fs::read_to_string(&file).expect("the file"), TWO_LINES);
    let history = run(async {
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        assert_eq!(max.last, 3, "the torn line's id was never given out");
        history_after_0(&mut max).await
    });
    let shown = [
        (1, "Ann: hi"),
        (2, "Bob: yo"),
        (3, "Server: Max joined the party!"),
    ];
    let shown: Vec<_> = shown.iter().map(|&(id, s)| (id, s.to_string())).collect();
    assert_eq!(history, shown);
}

#[test]
fn a_damaged_line_before_the_last_stops_the_start_with_one_line_naming_file_line_and_cause() {
    let missing_text = r#"{"id":3,"time":1764583202000,"kind":"chat","from":"Ann"}"#;
    let last = r#"{"id":4,"time":1764583203000,"kind":"join","from":"Cy"}"#;
    let contents = format!("{TWO_LINES}{missing_text}\n{last}\n");
    let (dir, file) = store_with(&contents);
    let finished = finish_blocking(serve_store(dir.path(), &[]).command(), "");
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert_eq!(finished.stdout, "", "no banner: it never listened");
    assert_eq!(
        finished.stderr,
        format!(
            "sockchat: {} line 3: a chat record needs `text`\n",
            file.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("the file"),
        contents,
        "left as it was"
    );
}

#[test]
fn a_session_outlives_kill_9_with_a_store_its_name_held_and_its_private_messages_replayed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path(), &["--replay", "0"]).start();
    let (token, last) = run(async {
        let mut ann = Client::login(server.addr, "Ann").await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        assert_eq!(
            ann.line().await.as_deref(),
            Some("Server: Max joined the party!")
        );
        // A rename, so the session's name in the file is its latest.
        let label = max.send("/nick Maxi").await;
        let echo = loop {
            let line = max.line().await;
            if line.answers() == Some(label.as_str()) && line.id().is_some() {
                break line;
            }
        };
        assert_eq!(echo.text, "Server: Max is now known as Maxi.");
        max.last = echo.id().unwrap_or(max.last);
        ann.expect_line("Server: Max is now known as Maxi.").await;
        // Private messages both ways that Maxi's client never reads (its
        // connection is as good as gone): the resume must bring them.
        max.send("/msg Ann from maxi").await;
        ann.expect_line("Maxi (private): from maxi").await;
        ann.send("/msg Maxi psst").await;
        ann.expect_line("To Maxi (private): psst").await;
        (max.token.clone(), max.last)
    });
    server.kill();
    let server = serve_store(dir.path(), &["--replay", "0"]).start();
    run(async {
        // While Maxi's client is away, the name is held for the session:
        // not even a login from the same address takes it.
        let mut eve = Client::connect(server.addr).await;
        eve.expect_line(reply::GREETING).await;
        eve.send("Maxi").await;
        let refused = eve.line().await.unwrap_or_default();
        assert!(
            refused.starts_with("Server: Error: the name Maxi is kept"),
            "{refused:?}"
        );
        eve.send("Eve").await;
        eve.expect_line("Server: You are logged in as: Eve").await;
        eve.send("said while Maxi was away").await;
        eve.send("/who").await;
        eve.expect_line("Server: Online (1): Eve").await;

        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {token} {last}")).await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Maxi");
        assert!(login.has("resumed"));
        let header = back.line().await;
        let block = back.rest_of_block(header).await;
        let texts: Vec<&str> = block.iter().map(|l| l.text.as_str()).collect();
        assert!(
            texts.contains(&"Eve: said while Maxi was away"),
            "{texts:?}"
        );
        // Its private messages too, each as it was shown to Maxi.
        assert!(texts.contains(&"To Ann (private): from maxi"), "{texts:?}");
        assert!(texts.contains(&"Ann (private): psst"), "{texts:?}");
        assert!(
            !texts.iter().any(|t| t.contains("now known as")),
            "nothing twice: {texts:?}"
        );
    });
    // The file keeps keys, never tokens.
    let kept = std::fs::read_to_string(dir.path().join("private/sessions.jsonl"))
        .expect("a sessions file");
    assert!(!kept.contains(&token), "{kept}");
}

/// Sends `text` as `who` and reads on to the line answering it that
/// `done` accepts (a kept line's echo has an id once it is saved);
/// returns that line.
async fn answered(who: &mut Tagged, text: &str, done: impl Fn(&Line) -> bool) -> Line {
    let label = who.send(text).await;
    loop {
        let line = who.line().await;
        if line.answers() == Some(label.as_str()) && done(&line) {
            return line;
        }
    }
}

/// The echo of a kept line: it has its id once saved.
fn saved(line: &Line) -> bool {
    line.id().is_some()
}

#[test]
fn a_session_outlives_kill_9_with_a_store_in_its_rooms_its_block_covering_each_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path(), &["--replay", "0"]).start();
    let (token, last) = run(async {
        // Max in #main and #ops, #ops his current room, when the server dies.
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        let joined = answered(&mut max, "/join #ops", saved).await;
        assert_eq!(joined.text, "Server: Max joined the party!");
        assert_eq!(joined.get("room"), Some("#ops"));
        let last = joined.id().expect("saved");
        (max.token.clone(), last)
    });
    server.kill();
    let server = serve_store(dir.path(), &["--replay", "0"]).start();
    run(async {
        // Ann comes after the restart, says a line in #ops and one in
        // #main, each saved (echoed with its id) before Max is back.
        let (mut ann, _) = Tagged::login(server.addr, "Ann").await;
        answered(&mut ann, "/join #ops", saved).await;
        let in_ops = answered(&mut ann, "said in ops", saved).await;
        assert_eq!(in_ops.get("room"), Some("#ops"));
        let now_main = |l: &Line| l.text == "Server: You are now talking in #main.";
        answered(&mut ann, "/switch #main", now_main).await;
        let in_main = answered(&mut ann, "said in main", saved).await;
        assert_eq!(in_main.get("room"), Some("#main"));

        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {token} #main={last},#ops={last}"))
            .await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Max");
        assert!(login.has("resumed"), "{login:?}");
        let header = back.line().await;
        let block = back.rest_of_block(header).await;
        let once = |text: &str, room: &str| {
            let found: Vec<&Line> = block.iter().filter(|l| l.text == text).collect();
            assert_eq!(found.len(), 1, "{text:?} not once in {block:?}");
            assert_eq!(found[0].get("room"), Some(room), "{block:?}");
        };
        once("Ann: said in ops", "#ops");
        once("Ann: said in main", "#main");
        let ids: Vec<u64> = block.iter().filter_map(Line::id).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "in id order: {block:?}"
        );

        // Back in #ops, his current room: what he types goes there.
        let echo = answered(&mut back, "max is back", saved).await;
        assert_eq!(echo.get("room"), Some("#ops"), "{echo:?}");
        // And #ops reaches him live, nothing of the block again.
        answered(&mut ann, "/switch #ops", |l| l.text.contains("#ops")).await;
        answered(&mut ann, "live in ops", saved).await;
        loop {
            let line = back.line().await;
            assert!(
                line.text != "Ann: said in ops" && line.text != "Ann: said in main",
                "twice: {line:?}"
            );
            if line.text == "Ann: live in ops" {
                assert_eq!(line.get("room"), Some("#ops"), "{line:?}");
                break;
            }
        }
    });
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_store_is_its_owners_alone_whatever_the_umask_and_its_folder_is_made_and_said() {
    for mask in [0o022, 0o000] {
        let root = tempfile::tempdir().expect("a temp dir");
        let store = root.path().join("store");
        let mut server = serve_store(&store, &[]).umask(mask).start();
        server.process.stderr.expect(&format!(
            "Server: created {} for --store\n",
            store.display()
        ));
        run(async {
            // A session (sessions.jsonl) and a private message (a segment).
            let (mut max, _) = Tagged::login(server.addr, "Max").await;
            let mut ann = Client::login(server.addr, "Ann").await;
            max.send("/msg Ann psst").await;
            ann.expect_line("Max (private): psst").await;
        });
        let stopped = server.stop_to_end();
        assert!(stopped.status.success(), "{stopped:?}");
        let room = store.join("main");
        assert_eq!(
            (mode(&store), mode(&room)),
            (0o700, 0o700),
            "umask {mask:03o}"
        );
        let mut files: Vec<_> = std::fs::read_dir(&room)
            .expect("the room's folder")
            .map(|entry| entry.expect("an entry").path())
            .collect();
        files.sort();
        let names: Vec<_> = files.iter().filter_map(|f| f.file_name()).collect();
        assert_eq!(
            names,
            [
                "sessions.jsonl",
                "sockchat-00000000000000000001.jsonl",
                "sockchat.lock"
            ]
        );
        for file in &files {
            assert_eq!(
                mode(file),
                0o600,
                "{} under umask {mask:03o}",
                file.display()
            );
        }
    }
}

#[test]
fn a_store_other_users_may_read_is_refused_with_one_line() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, file) = store_with(TWO_LINES);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let finished = finish_blocking(serve_store(dir.path(), &[]).command(), "");
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert_eq!(
        finished.stderr,
        format!(
            "sockchat: {}: other users may read it (mode 0644), and the store holds private \
             messages: `chmod go=` it first\n",
            file.display()
        )
    );
    let room = dir.path().join("main");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::set_permissions(&room, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let finished = finish_blocking(serve_store(dir.path(), &[]).command(), "");
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert!(
        finished.stderr.starts_with(&format!(
            "sockchat: {}: other users may read it (mode 0755)",
            room.display()
        )),
        "{finished:?}"
    );
}

#[test]
fn store_check_fails_on_a_store_serve_would_refuse_for_its_modes() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, file) = store_with(&segment_lines(1..=2));
    let room = dir.path().join("main");
    std::fs::set_permissions(&room, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let checked = store_check(dir.path());
    assert_eq!(checked.code(), Some(1), "{checked:?}");
    assert_eq!(
        checked.stdout,
        format!(
            "{0}: other users may read it (mode 0755), and the store holds private messages: \
             `chmod -R go=` it first (`serve` refuses to start on it)\n\
             {0}: 1 file, 2 records, 0 damaged lines, refused by `serve` as others may read it\n",
            room.display()
        )
    );
    std::fs::set_permissions(&room, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let checked = store_check(dir.path());
    assert_eq!(checked.code(), Some(1), "{checked:?}");
    assert!(
        checked.stdout.starts_with(&format!(
            "{}: other users may read it (mode 0644)",
            file.display()
        )),
        "{checked:?}"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(store_check(dir.path()).code(), Some(0));
}

#[test]
fn a_store_path_that_will_not_do_is_named_as_given_and_only_its_last_folder_is_made() {
    let root = tempfile::tempdir().expect("a temp dir");
    let file = crate::support::write_file(root.path(), "passwd", "root:x:0:0\n");
    let finished = finish_blocking(serve_store(&file, &[]).command(), "");
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert_eq!(
        finished.stderr,
        format!("sockchat: --store {}: not a directory\n", file.display())
    );
    let deep = root.path().join("nonexistent/dir/x");
    let finished = finish_blocking(serve_store(&deep, &[]).command(), "");
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert_eq!(
        finished.stderr,
        format!(
            "sockchat: --store {}: {} does not exist (only the store's own folder is created)\n",
            deep.display(),
            root.path().join("nonexistent/dir").display()
        )
    );
    assert!(
        !root.path().join("nonexistent").exists(),
        "nothing was made"
    );
}

/// A segment's lines as the server writes them (with their checksums),
/// ids `ids`, each saying `line ID`.
fn segment_lines(ids: std::ops::RangeInclusive<u64>) -> String {
    let mut out = Vec::new();
    for id in ids {
        let kind = sockchat::stream::Kind::Chat {
            from: "Ann".into(),
            text: format!("line {id}"),
        };
        sockchat::stream::Record {
            // Ids are opaque outside the stream: made from their text.
            id: id.to_string().parse().expect("a store's id"),
            time: 1_764_583_200_000,
            kind,
        }
        .encode(&mut out);
    }
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// `sockchat store check DIR`, run to its end.
fn store_check(dir: &Path) -> crate::support::Finished {
    let dir = dir.to_str().expect("a UTF-8 temp path");
    finish_blocking(crate::support::sockchat(["store", "check", dir]), "")
}

#[test]
fn a_character_changed_in_an_old_file_is_found_by_store_check_and_by_a_start_that_reads_it() {
    let (dir, _) = store_with(&segment_lines(1..=3));
    let room = dir.path().join("main");
    let clean = store_check(dir.path());
    assert_eq!(clean.code(), Some(0), "{clean:?}");
    assert_eq!(
        clean.stdout,
        format!("{}: 1 file, 3 records, 0 damaged lines\n", room.display())
    );
    // The old file gets a character changed in its second line; a newer
    // file follows.
    let old = room.join(FIRST);
    let text = std::fs::read_to_string(&old).expect("the old file");
    std::fs::write(&old, text.replacen("line 2", "line 9", 1)).expect("changed");
    private_file(
        &room,
        "sockchat-00000000000000000004.jsonl",
        segment_lines(4..=6).as_bytes(),
    );

    let found = store_check(dir.path());
    assert_eq!(found.code(), Some(1), "{found:?}");
    let lines: Vec<&str> = found.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{found:?}");
    assert!(
        lines[0].starts_with(&format!(
            "{} line 2: the checksum does not match (the line says ",
            old.display()
        )),
        "{found:?}"
    );
    assert_eq!(
        lines[1],
        format!("{}: 2 files, 5 records, 1 damaged line", room.display())
    );

    // A start whose history reaches the old file refuses it, naming it.
    let finished = finish_blocking(serve_store(dir.path(), &[]).command(), "");
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert!(
        finished.stderr.starts_with(&format!(
            "sockchat: {} line 2: the checksum does not match",
            old.display()
        )),
        "{finished:?}"
    );
    // One whose history does not reach it starts: only `store check`
    // reads every file (as the README says).
    let server = Serve::new()
        .args(&[
            "--store",
            dir.path().to_str().expect("UTF-8"),
            "--history",
            "3",
        ])
        .start();
    assert!(server.stop_to_end().status.success());

    // A store that cannot be read at all.
    let missing = store_check(&dir.path().join("missing"));
    assert_eq!(missing.code(), Some(2), "{missing:?}");
    assert_eq!(missing.stdout, "");
    assert!(missing.stderr.starts_with("sockchat: "), "{missing:?}");
}

#[test]
fn a_file_named_past_the_last_id_is_damage_to_store_check_and_refused_at_start() {
    let (dir, _) = store_with(&segment_lines(1..=2));
    let room = dir.path().join("main");
    // Empty, named for the last u64: ids could not go on from it.
    let huge = private_file(&room, "sockchat-18446744073709551615.jsonl", b"");
    let cause = "its name gives first id 18446744073709551615, past the last id there can \
                 be (9223372036854775807)";
    let checked = store_check(dir.path());
    assert_eq!(checked.code(), Some(1), "{checked:?}");
    assert!(
        checked
            .stdout
            .starts_with(&format!("{}: {cause}\n", huge.display())),
        "{checked:?}"
    );
    let finished = finish_blocking(serve_store(dir.path(), &[]).command(), "");
    assert_eq!(finished.code(), Some(1), "{finished:?}");
    assert_eq!(
        finished.stderr,
        format!("sockchat: {}: {cause}\n", huge.display())
    );
}

#[test]
fn an_emptied_newest_file_is_logged() {
    let (dir, _) = store_with(&segment_lines(1..=2));
    let room = dir.path().join("main");
    let newest = private_file(&room, "sockchat-00000000000000000005.jsonl", b"");
    let mut server = serve_store(dir.path(), &["--replay", "0"]).start();
    let report = format!(
        "Server: {}: the newest file is empty (a write to it failed, or it was emptied; any \
         records it held are gone): ids go on from 5\n",
        newest.display()
    );
    let log = server.process.stderr.expect(&report);
    assert_eq!(untimed(&log), report, "the report is the log's first line");
    let checked = store_check(dir.path());
    assert_eq!(checked.code(), Some(0), "not damage: {checked:?}");
    assert!(
        checked.stdout.contains("the newest file is empty"),
        "{checked:?}"
    );
}

#[test]
fn a_sessions_line_torn_inside_a_character_is_skipped_and_the_others_still_resume() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path(), &["--replay", "0"]).start();
    let (token, last) = run(async {
        let (max, _) = Tagged::login(server.addr, "Max").await;
        (max.token.clone(), max.last)
    });
    server.kill();
    // A crash mid-write, inside the `ü` of a name: not UTF-8.
    let sessions = dir.path().join("private/sessions.jsonl");
    let mut bytes = std::fs::read(&sessions).expect("a sessions file");
    bytes.extend_from_slice(
        format!(r#"{{"session":9,"key":"{}","name":"J"#, "ab".repeat(32)).as_bytes(),
    );
    bytes.push(0xc3);
    std::fs::write(&sessions, bytes).expect("written");

    let mut server = serve_store(dir.path(), &["--replay", "0"]).start();
    server
        .process
        .stderr
        .expect("Server: 1 unreadable lines of the store's sessions file were skipped\n");
    run(async {
        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {token} {last}")).await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Max");
        assert!(login.has("resumed"), "{login:?}");
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

/// Everything in the `.jsonl` transcript files of `folder`, as one text.
fn transcripts(folder: &Path) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(folder).expect("the folder") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("sockchat-") {
            text += &std::fs::read_to_string(&path).expect("a transcript");
        }
    }
    text
}

#[test]
fn private_messages_are_kept_in_their_own_folder_not_in_the_rooms() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path(), &[]).start();
    run(async {
        let mut max = Client::login(server.addr, "Max").await;
        let mut ann = Client::login(server.addr, "Ann").await;
        max.expect_line("Server: Ann joined the party!").await;
        max.send("/msg Ann only for ann").await;
        max.expect_line("To Ann (private): only for ann").await;
        // Max's join may reach Ann first: it was being saved as she came.
        while ann.line().await.expect("Ann is still connected") != "Max (private): only for ann" {}
        ann.send("for the room").await;
        max.expect_line("Ann: for the room").await;
    });
    let stopped = server.stop_to_end();
    assert!(stopped.status.success(), "{stopped:?}");
    let private = transcripts(&dir.path().join("private"));
    let main = transcripts(&dir.path().join("main"));
    assert!(private.contains("only for ann"), "{private}");
    assert!(!main.contains("only for ann"), "{main}");
    assert!(main.contains("for the room"), "{main}");
    assert!(std::fs::metadata(dir.path().join("private/sessions.jsonl")).is_ok());
}

/// What each line means is in its tags (the words are for people): kept
/// lines say their kind and who, the login and `/who` say the names, our
/// rename its new name, errors that they are errors (and which kind when
/// a client acts on it); names with a `,` are percent-encoded.
#[test]
fn tagged_lines_say_what_they_mean_in_their_tags() {
    run(async {
        let server = TestServer::start().await;
        let (mut ann, _) = Tagged::login(server.addr, "a,nn").await;
        let (mut bob, _) = Tagged::login(server.addr, "Bob").await;
        let joined = ann.line().await;
        assert_eq!(
            (joined.get("kind"), joined.get("from")),
            (Some("join"), Some("Bob"))
        );
        let label = bob.send("/who").await;
        let who = bob.line().await;
        assert_eq!(who.answers(), Some(label.as_str()));
        assert_eq!(who.get("reply"), Some("who"));
        assert_eq!(who.get("count"), Some("2"));
        assert_eq!(who.get("names"), Some("a%2Cnn+Bob"));
        bob.send("/me waves").await;
        let echo = bob.line().await;
        assert_eq!(echo.get("kind"), Some("action"));
        let waved = ann.line().await;
        assert_eq!(
            (waved.get("kind"), waved.get("from")),
            (Some("action"), Some("Bob"))
        );
        bob.send("/msg a,nn psst").await;
        let private = ann.line().await;
        assert_eq!(private.get("kind"), Some("private"));
        assert_eq!(private.get("to"), Some("a%2Cnn"));
        let copy = bob.line().await;
        assert_eq!(
            (copy.get("kind"), copy.get("from")),
            (Some("private"), Some("Bob"))
        );
        bob.send("/nick Bobby").await;
        let told = bob.line().await;
        assert_eq!(
            (told.get("reply"), told.get("name")),
            (Some("nick"), Some("Bobby"))
        );
        let echo = bob.line().await;
        assert_eq!(echo.get("kind"), Some("rename"));
        let renamed = ann.line().await;
        assert_eq!(renamed.get("kind"), Some("rename"));
        assert_eq!(
            (renamed.get("from"), renamed.get("new")),
            (Some("Bob"), Some("Bobby"))
        );
        bob.send("/msg nobody x").await;
        let refused = bob.line().await;
        assert_eq!(refused.get("error"), Some(""), "a flag: {refused:?}");
        bob.send("/limits").await;
        let limits = bob.line().await;
        assert_eq!(limits.get("reply"), Some("limits"));
        assert!(limits.get("max").is_some());

        // A name refused at login says so, whatever the words.
        let mut late = Tagged::connect(server.addr).await;
        late.send("BOBBY").await;
        let taken = late.line().await;
        assert_eq!(taken.get("error"), Some("name"), "{taken:?}");
        late.send("Cy").await;
        let login = late.line().await;
        assert_eq!(
            (login.get("reply"), login.get("name")),
            (Some("login"), Some("Cy"))
        );
    });
}

#[test]
fn store_check_reads_every_rooms_folder_and_private_and_names_each() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = dir.path();
    for (folder, name) in [
        ("main", None),
        ("#ops", Some("#Ops")),
        ("#%C3%A9t%C3%A9", Some("#été")),
        ("private", None),
    ] {
        let room = private_folder(store, folder);
        private_file(&room, FIRST, segment_lines(1..=3).as_bytes());
        if let Some(name) = name {
            private_file(&room, "name", format!("{name}\n").as_bytes());
        }
    }
    private_folder(store, "lost+found");
    let clean = store_check(store);
    assert_eq!(clean.code(), Some(0), "{clean:?}");
    let at = |folder: &str| store.join(folder).display().to_string();
    assert_eq!(
        clean.stdout,
        format!(
            "{}: not a room's folder (`serve` does not read it): skipped\n\
             {} (#été): 1 file, 3 records, 0 damaged lines\n\
             {} (#Ops): 1 file, 3 records, 0 damaged lines\n\
             {}: 1 file, 3 records, 0 damaged lines\n\
             {}: 1 file, 3 records, 0 damaged lines\n",
            at("lost+found"),
            at("#%C3%A9t%C3%A9"),
            at("#ops"),
            at("main"),
            at("private"),
        )
    );
    // Damage in one room's folder is named there and fails the check.
    let old = store.join("#ops").join(FIRST);
    let text = std::fs::read_to_string(&old).expect("the room's file");
    std::fs::write(&old, text.replacen("line 2", "line 9", 1)).expect("changed");
    let found = store_check(store);
    assert_eq!(found.code(), Some(1), "{found:?}");
    let lines: Vec<&str> = found.stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{found:?}");
    assert!(
        lines[2].starts_with(&format!(
            "{} line 2: the checksum does not match",
            old.display()
        )),
        "{found:?}"
    );
    assert_eq!(
        lines[3],
        format!("{} (#Ops): 1 file, 2 records, 1 damaged line", at("#ops"))
    );
    // So is a private stream that cannot be read.
    std::fs::write(&old, text).expect("mended");
    let private = store.join("private").join(FIRST);
    std::fs::remove_file(&private).expect("removed");
    std::fs::create_dir(&private).expect("a folder where a file should be");
    let unreadable = store_check(store);
    assert_eq!(unreadable.code(), Some(2), "{unreadable:?}");
    assert!(
        unreadable
            .stdout
            .contains(&format!("{}: 1 file, 0 records", at("private"))),
        "{unreadable:?}"
    );
}

#[test]
fn a_tagged_history_after_an_id_of_another_room_names_that_room_in_its_header_and_footer() {
    run(async {
        let server = TestServer::start().await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        answered(&mut max, "/join #ops", saved).await;
        answered(&mut max, "said in ops", saved).await;
        answered(&mut max, "/switch #main", |l| l.text.contains("#main")).await;
        let label = max.send("/history #ops after 0").await;
        let header = max.line().await;
        assert_eq!(header.answers(), Some(label.as_str()), "{header:?}");
        assert_eq!(header.get("room"), Some("#ops"), "{header:?}");
        let block = max.rest_of_block(header).await;
        let footer = block.last().expect("a footer");
        assert_eq!(footer.get("room"), Some("#ops"), "{footer:?}");
        assert!(
            block.iter().any(|l| l.text == "Max: said in ops"),
            "{block:?}"
        );
    });
}
