//! Rooms over real TCP, as `nc` users see them: `/join`, `/leave`,
//! `/switch`, `/rooms`, `/who ROOM`, `/topic`, `/history ROOM`; lines of
//! a room that is not yours come prefixed `[#room] `; notices go to the
//! rooms concerned; every bad request is one error line; the limits; and
//! a client that never uses rooms sees what it always saw.

use std::path::Path;

use sockchat::protocol::room::RoomName;
use sockchat::protocol::rooms::MOST_TOPIC_BYTES;
use sockchat::server::Config;
use sockchat::stream::rooms::encode_key;

use crate::support::{run, Client, Serve, Tagged, TestServer};

/// Ann, Bob and Cy logged in, each having seen the others arrive.
async fn three(server: &TestServer) -> [Client; 3] {
    server.logins(["Ann", "Bob", "Cy"]).await
}

/// `who` enters `room` (new or not, with nothing said in it yet).
async fn join(who: &mut Client, room: &str) {
    who.send(&format!("/join {room}")).await;
    who.expect_line(&format!("Server: You joined {room}."))
        .await;
}

#[test]
fn a_line_in_a_room_reaches_its_members_only_and_others_see_their_rooms_prefixed() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann, mut bob, mut cy] = three(&server).await;
        join(&mut ann, "#ops").await;
        // Typed without its '#', in another case: the same room.
        bob.send("/join OPS").await;
        bob.expect_line("Server: You joined #ops.").await;
        ann.expect_line("Server: Bob joined the party!").await;
        ann.send("in ops").await;
        bob.expect_line("Ann: in ops").await;
        // Bob talks in #main again; Ann, still in #ops, sees it prefixed.
        bob.send("/switch #MAIN").await;
        bob.expect_line("Server: You are now talking in #main.")
            .await;
        bob.send("marker").await;
        // Cy's next line is the marker: nothing of #ops reached him.
        cy.expect_line("Bob: marker").await;
        ann.expect_line("[#main] Bob: marker").await;
        ann.send("/me waves").await;
        bob.expect_line("[#ops] * Ann waves").await;
        cy.send("second marker").await;
        bob.expect_line("Cy: second marker").await;
        ann.expect_line("[#main] Cy: second marker").await;
    });
}

#[test]
fn join_leave_and_rename_notices_go_to_each_room_concerned() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann, mut bob, mut cy] = three(&server).await;
        join(&mut ann, "#ops").await;
        join(&mut bob, "#ops").await;
        ann.expect_line("Server: Bob joined the party!").await;
        // A rename is told in every room Bob is in: twice to Ann, once to Cy.
        bob.send("/nick Bobby").await;
        bob.expect_line("Server: You are now known as: Bobby").await;
        let mut heard = vec![ann.line().await, ann.line().await];
        heard.sort();
        assert_eq!(
            heard,
            [
                Some("Server: Bob is now known as Bobby.".to_string()),
                Some("[#main] Server: Bob is now known as Bobby.".to_string()),
            ]
        );
        cy.expect_line("Server: Bob is now known as Bobby.").await;
        bob.send("/leave").await;
        bob.expect_line("Server: You left #ops.").await;
        bob.expect_line("Server: You are now talking in #main.")
            .await;
        ann.expect_line("Server: Bobby left the party.").await;
        // Disconnecting tells each room left: Ann sees it from #main.
        drop(bob);
        ann.expect_line("[#main] Server: Bobby left the party.")
            .await;
        cy.expect_line("Server: Bobby left the party.").await;
    });
}

#[test]
fn rooms_lists_every_room_and_who_room_and_topic_answer_for_the_room() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann, mut bob, _cy] = three(&server).await;
        join(&mut ann, "#Ops").await;
        ann.send("/topic the plan for today").await;
        ann.expect_line("Server: Ann set the topic: the plan for today")
            .await;
        ann.send("/topic").await;
        ann.expect_line("Server: The topic of #Ops is: the plan for today")
            .await;
        bob.send("/rooms").await;
        bob.expect_line("Server: 2 rooms:").await;
        bob.expect_line("Server:   #main (3 people)").await;
        bob.expect_line("Server:   #Ops (1 person): the plan for today")
            .await;
        bob.send("/who #ops").await;
        bob.expect_line("[#Ops] Server: Online (1): Ann").await;
        bob.send("/who").await;
        bob.expect_line("Server: Online (3): Ann, Bob, Cy").await;
        // The topic is shown on joining, as the room's creator spelled it.
        bob.send("/join #0PS").await;
        bob.expect_line("Server: You joined #Ops. Topic: the plan for today")
            .await;
        ann.expect_line("Server: Bob joined the party!").await;
        bob.send("/topic next").await;
        ann.expect_line("Server: Bob set the topic: next").await;
        bob.expect_line("Server: Bob set the topic: next").await;
    });
}

#[test]
fn every_bad_room_request_is_one_error_line_and_the_connection_stays() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann] = server.logins(["Ann"]).await;
        let long_topic = format!("/topic {}", "x".repeat(MOST_TOPIC_BYTES + 1));
        let bad: &[(&str, &str)] = &[
            ("/join", "usage: /join ROOM (one room name, such as #ops)"),
            (
                "/join #a #b",
                "usage: /join ROOM (one room name, such as #ops)",
            ),
            ("/join #a]b", "#a]b: a room name cannot contain ']'"),
            ("/join #a,b", "#a,b: a room name cannot contain ','"),
            (
                "/join #",
                "#: a room name needs at least one character after '#'",
            ),
            ("/join #main", "you are already in #main"),
            (
                "/leave",
                "you cannot leave your last room; /join another first, or /quit",
            ),
            ("/leave #ops", "you are not in #ops"),
            ("/leave #a #b", "usage: /leave [ROOM]"),
            ("/switch #ops", "you are not in #ops"),
            ("/switch", "usage: /switch ROOM"),
            ("/who #ops", "there is no room #ops"),
            ("/who #a #b", "usage: /who [ROOM]"),
            ("/rooms all", "usage: /rooms"),
            ("/history #ops 3", "there is no room #ops"),
            ("/history ＃ops 3", "there is no room #ops"),
            (&long_topic, "a topic is at most 300 bytes"),
        ];
        for (line, why) in bad {
            ann.send(line).await;
            ann.expect_line(&format!("Server: Error: {why}")).await;
        }
        // Still connected, and nothing more came: the next line answers this.
        ann.send("/who").await;
        ann.expect_line("Server: Online (1): Ann").await;
    });
}

#[test]
fn the_server_caps_rooms_in_all_and_per_person_and_forgets_an_empty_room() {
    run(async {
        let config = Config {
            max_rooms: 2,
            max_joined: 2,
            ..Config::default()
        };
        let server = TestServer::with(config).await;
        let [mut ann, mut bob] = server.logins(["Ann", "Bob"]).await;
        join(&mut ann, "#a").await;
        ann.send("/join #b").await;
        ann.expect_line("Server: Error: you are in as many rooms as you may (2); /leave one first")
            .await;
        bob.send("/join #c").await;
        bob.expect_line(
            "Server: Error: the server has as many rooms as it may (2); join one of /rooms",
        )
        .await;
        // Empty and with nothing said, #a is forgotten: there is room for #c.
        ann.send("/leave #a").await;
        ann.expect_line("Server: You left #a.").await;
        ann.expect_line("Server: You are now talking in #main.")
            .await;
        join(&mut bob, "#c").await;
        bob.send("kept").await;
        bob.send("/leave").await;
        bob.expect_line("Server: You left #c.").await;
        bob.expect_line("Server: You are now talking in #main.")
            .await;
        // #c has something said: it stays, empty.
        bob.send("/rooms").await;
        bob.expect_line("Server: 2 rooms:").await;
        bob.expect_line("Server:   #c (0 people)").await;
        bob.expect_line("Server:   #main (2 people)").await;
    });
}

#[test]
fn history_is_per_room_for_history_and_for_a_late_joiner() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann, mut bob] = server.logins(["Ann", "Bob"]).await;
        ann.send("said in main").await;
        bob.expect_line("Ann: said in main").await;
        join(&mut ann, "#ops").await;
        ann.send("said in ops").await;
        ann.send("/history").await;
        let block = ann.lines_until("Server: End of the last 1 message.").await;
        assert!(block[1].ends_with(" Ann: said in ops"), "{block:?}");
        assert!(
            !block.iter().any(|l| l.contains("said in main")),
            "{block:?}"
        );
        ann.send("/history #main 5").await;
        let block = ann.lines_until("Server: End of the last 1 message.").await;
        assert!(block[1].ends_with("[#main] Ann: said in main"), "{block:?}");
        bob.send("/join #ops").await;
        bob.expect_line("Server: You joined #ops.").await;
        let block = bob.lines_until("Server: End of the last 1 message.").await;
        assert!(block[1].ends_with(" Ann: said in ops"), "{block:?}");
        assert!(
            !block.iter().any(|l| l.contains("said in main")),
            "{block:?}"
        );
    });
}

#[test]
fn an_nc_client_that_never_uses_rooms_sees_exactly_what_it_saw_before_rooms() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann, mut cy] = server.logins(["Ann", "Cy"]).await;
        join(&mut ann, "#ops").await;
        ann.send("not for cy").await;
        ann.send("/switch #main").await;
        ann.expect_line("Server: You are now talking in #main.")
            .await;
        ann.send("for everyone").await;
        ann.send("/msg Cy psst").await;
        ann.expect_line("To Cy (private): psst").await;
        cy.send("/who").await;
        cy.send("/history 1").await;
        cy.send("/quit").await;
        let mut seen = Vec::new();
        cy.read_until_gone(|line| seen.push(line)).await;
        let history_line = seen.get(4).cloned().unwrap_or_default();
        assert!(history_line.ends_with(" Ann: for everyone"), "{seen:?}");
        assert_eq!(
            seen,
            [
                "Ann: for everyone",
                "Ann (private): psst",
                "Server: Online (2): Ann, Cy",
                "Server: The last 1 message (times UTC):",
                history_line.as_str(),
                "Server: End of the last 1 message.",
                "Server: Bye!",
            ]
        );
    });
}

#[test]
fn tagged_lines_carry_their_room_and_private_ones_the_flag_pm() {
    run(async {
        let server = TestServer::start().await;
        let [mut bob] = server.logins(["Bob"]).await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        bob.expect_line("Server: Max joined the party!").await;
        max.send("/join #ops").await;
        let joined = max.line().await;
        assert_eq!(joined.text, "Server: You joined #ops.");
        assert_eq!(joined.get("room"), Some("#ops"));
        assert_eq!(joined.get("reply"), Some("join"));
        assert!(joined.get("last").is_some(), "{joined:?}");
        // Its own join, echoed as every kept line of a tagged client is.
        let echo = max.line().await;
        assert_eq!(echo.text, "Server: Max joined the party!");
        assert_eq!(echo.get("room"), Some("#ops"));
        bob.send("in main").await;
        let line = max.line().await;
        assert_eq!(
            (line.text.as_str(), line.get("room")),
            ("Bob: in main", Some("#main"))
        );
        bob.send("/msg Max psst").await;
        let line = max.line().await;
        assert_eq!(line.text, "Bob (private): psst");
        assert!(line.has("pm") && line.get("room").is_none(), "{line:?}");
        // A topic says what it is, who set it and where.
        max.send("/topic the plan").await;
        let line = max.line().await;
        assert_eq!(line.text, "Server: Max set the topic: the plan");
        let tags = (line.get("kind"), line.get("from"), line.get("room"));
        assert_eq!(tags, (Some("topic"), Some("Max"), Some("#ops")));
        // What the room commands did is in their replies' tags.
        max.send("/rooms").await;
        let header = max.line().await;
        assert_eq!(
            (header.get("reply"), header.get("count")),
            (Some("rooms"), Some("2"))
        );
        let mut listed = Vec::new();
        for _ in 0..2 {
            let entry = max.line().await;
            assert_eq!(entry.get("reply"), Some("room"), "{entry:?}");
            listed.push((
                entry.get("name").map(str::to_string),
                entry.get("count").map(str::to_string),
            ));
        }
        let people = |name: &str, n: &str| (Some(name.to_string()), Some(n.to_string()));
        assert_eq!(listed, [people("#main", "2"), people("#ops", "1")]);
        max.send("/switch main").await;
        let switched = max.line().await;
        assert_eq!(
            (switched.get("reply"), switched.get("room")),
            (Some("switch"), Some("#main"))
        );
        max.send("/leave ops").await;
        let left = max.line().await;
        assert_eq!(
            (left.get("reply"), left.get("room")),
            (Some("leave"), Some("#ops"))
        );
    });
}

/// A server keeping its rooms in `dir`.
fn serve_store(dir: &Path) -> Serve {
    let dir = dir.to_str().expect("a UTF-8 temp path");
    Serve::new().args(&["--store", dir])
}

#[test]
fn with_a_store_each_room_keeps_its_history_in_its_folder_and_comes_back_after_a_restart() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path()).start();
    run(async {
        let mut ann = Client::login(server.addr, "Ann").await;
        join(&mut ann, "#Ops").await;
        ann.send("kept in ops").await;
        ann.send("/switch #main").await;
        ann.expect_line("Server: You are now talking in #main.")
            .await;
    });
    let stopped = server.stop_to_end();
    assert!(stopped.status.success(), "{stopped:?}");
    let ops = RoomName::parse("#Ops").expect("a room name");
    let folder = dir.path().join(encode_key(ops.key()));
    let name = std::fs::read_to_string(folder.join("name")).expect("the room's name file");
    assert_eq!(name, "#Ops\n");
    let server = serve_store(dir.path()).start();
    run(async {
        let mut bob = Client::login(server.addr, "Bob").await;
        bob.send("/rooms").await;
        bob.expect_line("Server: 2 rooms:").await;
        bob.expect_line("Server:   #main (1 person)").await;
        bob.expect_line("Server:   #Ops (0 people)").await;
        bob.send("/join #ops").await;
        bob.expect_line("Server: You joined #Ops.").await;
        let block = bob.lines_until("Server: End of the last 1 message.").await;
        assert!(block[1].ends_with(" Ann: kept in ops"), "{block:?}");
    });
}

/// Ann, in #ops (her current room) and #main, sees Max leave both (in
/// either order: rooms are told one after another).
async fn max_left_both(ann: &mut Client) {
    let mut left = vec![ann.line().await, ann.line().await];
    left.sort();
    assert_eq!(
        left,
        [
            Some("Server: Max left the party.".to_string()),
            Some("[#main] Server: Max left the party.".to_string()),
        ]
    );
}

#[test]
fn a_resumed_session_is_back_in_its_rooms_and_its_block_covers_them() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann] = server.logins(["Ann"]).await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        ann.expect_line("Server: Max joined the party!").await;
        max.send("/join #ops").await;
        assert_eq!(max.line().await.text, "Server: You joined #ops.");
        join(&mut ann, "#ops").await;
        let Tagged {
            client,
            token,
            last,
            ..
        } = max;
        client.reset();
        // Told in each room he was in.
        max_left_both(&mut ann).await;
        ann.send("said in ops while away").await;

        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {token} {last}")).await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Max");
        let header = back.line().await;
        let block = back.rest_of_block(header).await;
        let said = block
            .iter()
            .find(|l| l.text == "Ann: said in ops while away")
            .expect("the line said in #ops while away");
        assert_eq!(said.get("room"), Some("#ops"), "{block:?}");
        // Back in #ops, his current room: what he says goes there.
        back.send("back in ops").await;
        loop {
            let line = ann.line().await.expect("Ann is still connected");
            if line == "Max: back in ops" {
                break;
            }
            assert!(line.contains("Max joined the party!"), "{line:?}");
        }
    });
}

#[test]
fn a_resume_cursor_names_its_streams_and_a_room_left_out_missed_nothing() {
    run(async {
        let server = TestServer::start().await;
        let [mut ann] = server.logins(["Ann"]).await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        ann.expect_line("Server: Max joined the party!").await;
        max.send("/join #ops").await;
        assert_eq!(max.line().await.text, "Server: You joined #ops.");
        join(&mut ann, "#ops").await;
        let Tagged {
            client,
            token,
            last,
            ..
        } = max;
        client.reset();
        max_left_both(&mut ann).await;
        ann.send("said in ops").await;
        ann.send("/switch #main").await;
        ann.expect_line("Server: You are now talking in #main.")
            .await;
        ann.send("said in main").await;
        ann.send("/msg Max psst").await;
        ann.lines_until("To Max (private): psst").await;

        let mut back = Tagged::connect(server.addr).await;
        // #main left out: nothing missed there; private messages: all.
        back.send(&format!("/resume {token} #OPS={last}")).await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Max");
        let header = back.line().await;
        let block = back.rest_of_block(header).await;
        let texts: Vec<&str> = block.iter().map(|l| l.text.as_str()).collect();
        assert!(texts.contains(&"Ann: said in ops"), "{texts:?}");
        assert!(texts.contains(&"Ann (private): psst"), "{texts:?}");
        assert!(!texts.contains(&"Ann: said in main"), "{texts:?}");
    });
}

/// Asks `/rooms` until its header is `header` (the state a store reaches
/// once its batches are synced); fails if it is not within 10 s.
async fn rooms_until(who: &mut Client, header: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        who.send("/rooms").await;
        let first = who.line().await.expect("still connected");
        let n: usize = first
            .trim_start_matches("Server: ")
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a /rooms header: {first:?}"));
        let mut lines = vec![first];
        for _ in 0..n {
            lines.push(who.line().await.expect("still connected"));
        }
        if lines[0] == header {
            return lines;
        }
        assert!(std::time::Instant::now() < deadline, "{lines:?}");
    }
}

#[test]
fn with_a_store_a_room_joined_and_left_at_once_is_forgotten_as_in_memory() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path())
        .args(&["--rate", "0", "--output-rate", "0"])
        .start();
    run(async {
        let mut ann = Client::login(server.addr, "Ann").await;
        // One write: each /leave comes while the join before it syncs.
        let burst: String = (0..20).map(|i| format!("/join #r{i}\n/leave\n")).collect();
        ann.send_raw(burst.as_bytes()).await;
        for i in 0..20 {
            ann.expect_line(&format!("Server: You joined #r{i}.")).await;
            ann.expect_line(&format!("Server: You left #r{i}.")).await;
            ann.expect_line("Server: You are now talking in #main.")
                .await;
        }
        // Nothing was said in them: once synced, all are forgotten.
        let listed = rooms_until(&mut ann, "Server: 1 room:").await;
        assert_eq!(listed[1], "Server:   #main (1 person)");
    });
}

#[test]
fn with_a_store_a_restart_brings_back_rooms_with_something_said_not_those_only_passed_through() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path()).start();
    run(async {
        let mut ann = Client::login(server.addr, "Ann").await;
        join(&mut ann, "#kept").await;
        ann.send("said in kept").await;
        join(&mut ann, "#passed").await;
        ann.send("/leave").await;
        ann.expect_line("Server: You left #passed.").await;
        ann.expect_line("Server: You are now talking in #kept.")
            .await;
    });
    let stopped = server.stop_to_end();
    assert!(stopped.status.success(), "{stopped:?}");
    let server = serve_store(dir.path())
        .args(&["--rate", "0", "--output-rate", "0"])
        .start();
    run(async {
        let mut bob = Client::login(server.addr, "Bob").await;
        let listed = rooms_until(&mut bob, "Server: 2 rooms:").await;
        assert_eq!(
            listed[1..],
            ["Server:   #kept (0 people)", "Server:   #main (1 person)"]
        );
    });
}

#[test]
fn with_a_store_a_room_it_cannot_keep_is_refused_in_plain_words_without_the_servers_paths() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path()).start();
    run(async {
        let mut ann = Client::login(server.addr, "Ann").await;
        // 32 characters, 3 bytes each: a folder name too long for the disk.
        let long = format!("#{}", "中".repeat(32));
        ann.send(&format!("/join {long}")).await;
        let line = ann.line().await.expect("still connected");
        assert!(line.starts_with("Server: Error: "), "{line:?}");
        let root = dir.path().to_str().expect("a UTF-8 temp path");
        assert!(!line.contains(root) && !line.contains('%'), "{line:?}");
        ann.send("/who").await;
        ann.expect_line("Server: Online (1): Ann").await;
    });
}

#[test]
fn a_tagged_client_is_told_which_room_it_talks_in_after_leaving_its_current_one() {
    run(async {
        let server = TestServer::start().await;
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        for room in ["#a", "#b"] {
            max.send(&format!("/join {room}")).await;
            assert_eq!(max.line().await.text, format!("Server: You joined {room}."));
            assert_eq!(max.line().await.text, "Server: Max joined the party!");
        }
        // #main was current after #b: leaving #b puts him back there,
        // not in #a, the room he joined last.
        for room in ["#main", "#b"] {
            max.send(&format!("/switch {room}")).await;
            let switched = max.line().await;
            assert_eq!(
                switched.text,
                format!("Server: You are now talking in {room}.")
            );
            assert_eq!(
                (switched.get("reply"), switched.get("room")),
                (Some("switch"), Some(room))
            );
        }
        max.send("/leave").await;
        assert_eq!(max.line().await.text, "Server: You left #b.");
        let now = max.line().await;
        assert_eq!(now.text, "Server: You are now talking in #main.");
        assert_eq!(
            (now.get("reply"), now.get("room")),
            (Some("switch"), Some("#main"))
        );
    });
}

#[test]
fn with_a_store_many_folders_of_rooms_people_only_passed_through_do_not_stop_a_restart() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path())
        .args(&["--rate", "0", "--output-rate", "0"])
        .start();
    let (last_join, _connected) = run(async {
        let mut ann = Client::login(server.addr, "Ann").await;
        // Each new name makes a folder, which stays once the room is gone.
        let burst: String = (0..80).map(|i| format!("/join #p{i}\n/leave\n")).collect();
        ann.send_raw(burst.as_bytes()).await;
        ann.lines_until("Server: You left #p79.").await;
        // The newest ids of all are in a folder that will be left closed.
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        max.send("/join #last").await;
        assert_eq!(max.line().await.text, "Server: You joined #last.");
        let join = max.line().await;
        assert_eq!(join.text, "Server: Max joined the party!");
        max.send("/leave").await;
        assert_eq!(max.line().await.text, "Server: You left #last.");
        // Both stay connected to the end: no leave in #main comes after.
        (join.id().expect("a join has an id"), (ann, max))
    });
    let stopped = server.stop_to_end();
    assert!(stopped.status.success(), "{stopped:?}");
    // Three open files a room: 81 rooms opened at once would need 243.
    let server = serve_store(dir.path())
        .args(&["--output-rate", "0"])
        .max_open_files(100)
        .start();
    run(async {
        let (mut bob, _) = Tagged::login(server.addr, "Bob").await;
        // No id is given twice, though the newest was in a closed folder.
        assert!(bob.last > last_join, "{} after {last_join}", bob.last);
        bob.send("/rooms").await;
        assert_eq!(bob.line().await.text, "Server: 1 room:");
        assert_eq!(bob.line().await.text, "Server:   #main (1 person)");
        // A folder left closed opens again on a /join.
        bob.send("/join #p3").await;
        assert_eq!(bob.line().await.text, "Server: You joined #p3.");
    });
}

#[test]
fn with_a_store_a_room_nothing_was_said_in_waits_through_a_restart_for_a_session_in_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let server = serve_store(dir.path()).start();
    let (token, last) = run(async {
        let (mut max, _) = Tagged::login(server.addr, "Max").await;
        max.send("/join #quiet").await;
        assert_eq!(max.line().await.text, "Server: You joined #quiet.");
        let join = max.line().await;
        assert_eq!(join.text, "Server: Max joined the party!");
        (max.token.clone(), join.id().expect("a join has an id"))
    });
    let killed = server.kill();
    assert!(!killed.status.success(), "{killed:?}");
    let server = serve_store(dir.path()).start();
    run(async {
        let mut back = Tagged::connect(server.addr).await;
        back.send(&format!("/resume {token} {last}")).await;
        let login = back.line().await;
        assert_eq!(login.text, "Server: You are logged in as: Max");
        let header = back.line().await;
        back.rest_of_block(header).await;
        back.send("/who #quiet").await;
        let who = loop {
            let line = back.line().await;
            if line.has("reply") || line.has("error") {
                break line;
            }
        };
        assert_eq!(who.text, "Server: Online (1): Max");
    });
}
