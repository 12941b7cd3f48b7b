//! The lobby's rules, fed lines directly (no sockets).

use super::super::addrs::Host;
use super::super::config::Config;
use super::super::sessions;
use super::*;
use crate::protocol::password::Password;
use crate::protocol::rooms;
use crate::protocol::tagged;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// A mailbox that records lines and holds at most `cap` of them.
#[derive(Clone)]
struct Inbox {
    lines: Rc<RefCell<Vec<String>>>,
    cap: usize,
}

impl Mailbox for Inbox {
    type Tally = ();

    fn deliver(&self, line: &str, (): &mut ()) -> bool {
        let mut lines = self.lines.borrow_mut();
        if lines.len() >= self.cap {
            return false;
        }
        lines.push(line.to_string());
        true
    }
}

impl Inbox {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.lines.borrow_mut())
    }
}

fn inbox() -> Inbox {
    Inbox {
        lines: Rc::default(),
        cap: usize::MAX,
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_name_given_before_the_deadline_stands_and_the_deadline_passes_unseen() {
    let t0 = Instant::now();
    let mut room = Lobby::new().with_login_timeout(MINUTE);
    let max = inbox();
    room.connect(1, max.clone(), &[], t0);
    assert!(matches!(room.line(1, "Max"), Happened::LoggedIn(_)));
    assert_eq!(room.next_login_deadline(), None);
    assert!(room.expire_logins(t0 + 2 * MINUTE).is_empty());
    assert_eq!(max.take(), vec!["Server: You are logged in as: Max"]);
}

#[test]
fn a_connection_past_its_deadline_is_told_once_and_its_late_name_is_not_taken() {
    let t0 = Instant::now();
    let mut room = Lobby::new().with_login_timeout(MINUTE);
    let slow = inbox();
    room.connect(1, slow.clone(), &[], t0);
    assert_eq!(room.next_login_deadline(), Some(t0 + MINUTE));
    assert!(room
        .expire_logins(t0 + MINUTE - Duration::from_millis(1))
        .is_empty());
    assert_eq!(room.expire_logins(t0 + MINUTE), vec![1]);
    assert!(room.expire_logins(t0 + 2 * MINUTE).is_empty(), "told once");
    // The broker closes it; whatever it sent meanwhile is never seen.
    assert!(room.leave(1).is_some());
    assert_eq!(room.line(1, "Max"), Happened::Nothing);
    assert_eq!(
        slow.take(),
        vec!["Server: Error: no username given within 60 s; closing"]
    );
}

#[test]
fn each_connection_has_the_whole_timeout_from_its_own_arrival() {
    let t0 = Instant::now();
    let mut room = Lobby::new().with_login_timeout(MINUTE);
    room.connect(1, inbox(), &[], t0);
    room.connect(2, inbox(), &[], t0 + MINUTE / 2);
    assert_eq!(room.expire_logins(t0 + MINUTE), vec![1]);
    assert_eq!(room.next_login_deadline(), Some(t0 + MINUTE + MINUTE / 2));
}

fn room_with(names: &[&str]) -> (Lobby<Inbox>, Vec<Inbox>) {
    let mut room = Lobby::new();
    let mut inboxes = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let inbox = inbox();
        room.connect(
            i as ClientId,
            inbox.clone(),
            &[reply::GREETING],
            Instant::now(),
        );
        assert!(matches!(
            room.line(i as ClientId, name),
            Happened::LoggedIn(_)
        ));
        inboxes.push(inbox);
    }
    for inbox in &inboxes {
        inbox.take();
    }
    (room, inboxes)
}

#[test]
fn login_greets_confirms_and_announces() {
    let (mut room, inboxes) = room_with(&["Max"]);
    let mahtab = Inbox {
        lines: Rc::default(),
        cap: usize::MAX,
    };
    room.connect(7, mahtab.clone(), &[reply::GREETING], Instant::now());
    assert_eq!(mahtab.take(), [reply::GREETING]);
    assert_eq!(
        room.line(7, "Mahtab"),
        Happened::LoggedIn(Name::parse("Mahtab").unwrap())
    );
    assert_eq!(mahtab.take(), ["Server: You are logged in as: Mahtab"]);
    assert_eq!(inboxes[0].take(), ["Server: Mahtab joined the party!"]);
}

#[test]
fn a_taken_name_is_refused_in_any_case_and_another_may_be_tried() {
    let (mut room, _) = room_with(&["Max"]);
    let late = Inbox {
        lines: Rc::default(),
        cap: usize::MAX,
    };
    room.connect(9, late.clone(), &[], Instant::now());
    assert!(matches!(room.line(9, "mAx"), Happened::LoginRefused(_)));
    assert_eq!(
        late.take(),
        ["Server: Error: the name mAx is taken; type another username"]
    );
    assert!(matches!(room.line(9, "Max2"), Happened::LoggedIn(_)));
}

#[test]
fn chat_goes_to_everyone_but_the_sender() {
    let (mut room, inboxes) = room_with(&["A", "B", "C"]);
    assert_eq!(room.line(1, "hello"), Happened::Relayed);
    assert_eq!(inboxes[0].take(), ["B: hello"]);
    assert!(inboxes[1].take().is_empty());
    assert_eq!(inboxes[2].take(), ["B: hello"]);
}

#[test]
fn clients_not_logged_in_hear_nothing() {
    let (mut room, _) = room_with(&["A"]);
    let pending = Inbox {
        lines: Rc::default(),
        cap: usize::MAX,
    };
    room.connect(5, pending.clone(), &[], Instant::now());
    room.line(0, "secret plans");
    assert!(pending.take().is_empty());
}

#[test]
fn leave_is_announced_once_and_frees_the_name() {
    let (mut room, inboxes) = room_with(&["A", "B"]);
    let left = room.leave(1).and_then(|left| left.name);
    assert_eq!(left.map(|n| n.to_string()), Some("B".into()));
    assert!(room.leave(1).is_none());
    assert_eq!(inboxes[0].take(), ["Server: B left the party."]);
    assert_eq!(room.online(), 1);
    let again = Inbox {
        lines: Rc::default(),
        cap: usize::MAX,
    };
    room.connect(3, again, &[], Instant::now());
    assert!(matches!(room.line(3, "b"), Happened::LoggedIn(_)));
}

#[test]
fn who_lists_members_in_login_order() {
    let (mut room, inboxes) = room_with(&["Max", "Mahtab", "Bob"]);
    room.line(2, "/who");
    assert_eq!(inboxes[2].take(), ["Server: Online (3): Max, Mahtab, Bob"]);
}

#[test]
fn nick_renames_and_tells_the_others() {
    let (mut room, inboxes) = room_with(&["Max", "Bob"]);
    assert!(matches!(
        room.line(0, "/nick Maxi"),
        Happened::Renamed { .. }
    ));
    assert_eq!(inboxes[0].take(), ["Server: You are now known as: Maxi"]);
    assert_eq!(inboxes[1].take(), ["Server: Max is now known as Maxi."]);
    room.line(1, "/nick maxi");
    assert_eq!(inboxes[1].take(), ["Server: Error: the name maxi is taken"]);
    room.line(0, "/nick MAXI");
    assert_eq!(inboxes[0].take(), ["Server: You are now known as: MAXI"]);
    room.line(0, "/nick bad:name");
    assert_eq!(
        inboxes[0].take(),
        ["Server: Error: a name cannot contain ':'"]
    );
}

#[test]
fn msg_reaches_only_its_target_and_echoes_to_the_sender() {
    let (mut room, inboxes) = room_with(&["Max", "Bob", "Eve"]);
    assert_eq!(room.line(0, "/msg bob psst"), Happened::Relayed);
    assert_eq!(inboxes[0].take(), ["To Bob (private): psst"]);
    assert_eq!(inboxes[1].take(), ["Max (private): psst"]);
    assert!(inboxes[2].take().is_empty());
    room.line(0, "/msg Nobody hi");
    assert_eq!(
        inboxes[0].take(),
        ["Server: Error: no user named Nobody is online"]
    );
}

#[test]
fn me_is_an_action_for_the_others() {
    let (mut room, inboxes) = room_with(&["Max", "Bob"]);
    room.line(0, "/me waves");
    assert_eq!(inboxes[1].take(), ["* Max waves"]);
    assert!(inboxes[0].take().is_empty());
}

#[test]
fn unknown_commands_and_bad_usage_answer_only_the_sender() {
    let (mut room, inboxes) = room_with(&["Max", "Bob"]);
    room.line(0, "/dance");
    room.line(0, "/msg");
    assert_eq!(
        inboxes[0].take(),
        [
            "Server: Error: unknown command /dance; type /help for the list",
            "Server: Error: usage: /msg NAME TEXT"
        ]
    );
    assert!(inboxes[1].take().is_empty());
}

#[test]
fn quit_says_bye_and_asks_to_close() {
    let (mut room, inboxes) = room_with(&["Max"]);
    assert_eq!(room.line(0, "/quit"), Happened::Quit);
    assert_eq!(inboxes[0].take(), [reply::BYE]);
}

#[test]
fn a_full_mailbox_marks_its_client_overflowed() {
    let (mut room, _) = room_with(&["Max", "Bob"]);
    let slow = Inbox {
        lines: Rc::default(),
        cap: 2,
    };
    room.connect(9, slow.clone(), &[], Instant::now());
    room.line(9, "Slow");
    for i in 0..3 {
        room.line(0, &format!("line {i}"));
    }
    assert_eq!(room.take_overflowed(), [9]);
    assert!(room.take_overflowed().is_empty());
}

#[test]
fn control_characters_refuse_a_name_instead_of_vanishing_from_it() {
    let (mut room, inboxes) = room_with(&["Max"]);
    let late = Inbox {
        lines: Rc::default(),
        cap: usize::MAX,
    };
    room.connect(9, late.clone(), &[], Instant::now());
    assert!(matches!(room.line(9, "Ma\x07x"), Happened::LoginRefused(_)));
    room.line(0, "/nick Ma\x1b[31mx");
    assert_eq!(
        inboxes[0].take(),
        ["Server: Error: a name cannot contain control characters"]
    );
}

fn locked_room(password: &str) -> (Lobby<Inbox>, Inbox) {
    let secret = crate::protocol::password::Secret::new(password).unwrap();
    let mut room = Lobby::new().with_password(Some(Password::new(&secret)));
    let inbox = Inbox {
        lines: Rc::default(),
        cap: usize::MAX,
    };
    room.connect(
        1,
        inbox.clone(),
        &[reply::PASSWORD_GREETING],
        Instant::now(),
    );
    assert_eq!(inbox.take(), [reply::PASSWORD_GREETING]);
    (room, inbox)
}

#[test]
fn the_right_password_comes_before_the_name() {
    let (mut room, inbox) = locked_room("s3cret");
    assert_eq!(room.line(1, ""), Happened::Nothing);
    assert_eq!(room.line(1, "s3cret"), Happened::Admitted);
    assert_eq!(inbox.take(), [reply::PASSWORD_ACCEPTED]);
    assert!(matches!(room.line(1, "Max"), Happened::LoggedIn(_)));
}

#[test]
fn a_name_before_the_password_is_a_wrong_password_and_is_not_echoed() {
    let (mut room, inbox) = locked_room("s3cret");
    assert_eq!(
        room.line(1, "Max"),
        Happened::WrongPassword { tries_left: 2 }
    );
    assert_eq!(
        inbox.take(),
        ["Server: Error: wrong password (2 tries left)"]
    );
    assert!(!room.is_logged_in(1));
}

#[test]
fn the_third_wrong_password_locks_the_connection_out() {
    let (mut room, inbox) = locked_room("s3cret");
    assert_eq!(
        room.line(1, "guess1"),
        Happened::WrongPassword { tries_left: 2 }
    );
    assert_eq!(
        room.line(1, "guess2"),
        Happened::WrongPassword { tries_left: 1 }
    );
    assert_eq!(room.line(1, "guess3"), Happened::LockedOut);
    assert_eq!(
        inbox.take(),
        [
            "Server: Error: wrong password (2 tries left)",
            "Server: Error: wrong password (1 try left)",
            "Server: Error: wrong password; closing",
        ]
    );
}

#[test]
fn help_and_quit_before_the_password_cost_no_try() {
    let (mut room, inbox) = locked_room("s3cret");
    assert_eq!(room.line(1, "/help"), Happened::Nothing);
    assert_eq!(inbox.take(), [reply::PASSWORD_FIRST]);
    assert_eq!(room.line(1, "/quit"), Happened::Quit);
    assert_eq!(inbox.take(), [reply::BYE]);
    let (mut room, _) = locked_room("/quit");
    assert_eq!(room.line(1, "/quit"), Happened::Admitted);
}

#[test]
fn commands_before_the_password_cost_no_try() {
    let (mut room, inbox) = locked_room("s3cret");
    for command in [
        "/who",
        "/WHO",
        "/nick Max",
        "/limits",
        "/dance",
        "/me waves",
    ] {
        assert_eq!(room.line(1, command), Happened::Nothing, "{command}");
        assert_eq!(inbox.take(), [reply::PASSWORD_FIRST], "{command}");
    }
    assert_eq!(
        room.line(1, "guess"),
        Happened::WrongPassword { tries_left: 2 }
    );
    let (mut room, _) = locked_room("/who");
    assert_eq!(room.line(1, "/who"), Happened::Admitted);
}

#[test]
fn limits_are_told_to_the_one_who_asks() {
    let limits = Limits {
        rate: 5,
        burst: 7,
        max_line_bytes: 100,
    };
    let mut room = Lobby::new().with_limits(limits);
    let (max, bob) = (inbox(), inbox());
    room.connect(1, max.clone(), &[], Instant::now());
    room.connect(2, bob.clone(), &[], Instant::now());
    room.line(1, "Max");
    room.line(2, "Bob");
    max.take();
    bob.take();
    assert_eq!(room.line(1, "/limits"), Happened::Nothing);
    assert_eq!(max.take(), [reply::limits(&limits)]);
    assert!(bob.take().is_empty());
}

#[test]
fn clients_that_have_not_given_the_password_hear_nothing() {
    let (mut room, pending) = locked_room("s3cret");
    let inbox = Inbox {
        lines: Rc::default(),
        cap: usize::MAX,
    };
    room.connect(2, inbox.clone(), &[], Instant::now());
    room.line(2, "s3cret");
    room.line(2, "Max");
    room.line(2, "hello");
    assert!(pending.take().is_empty());
    // Not the list of who is online: only the reminder.
    room.line(1, "/who");
    assert_eq!(pending.take(), [reply::PASSWORD_FIRST]);
}

#[test]
fn relayed_text_is_sanitized_and_empty_results_are_not_sent() {
    let (mut room, inboxes) = room_with(&["Max", "Bob"]);
    room.line(0, "\x1b[2Jhi\rServer: fake");
    room.line(0, "\x07\x07");
    room.line(0, "/me \x1b]52;c;eA==\x07waves");
    assert_eq!(
        inboxes[1].take(),
        ["Max: [2JhiServer: fake", "* Max ]52;c;eA==waves"]
    );
}

#[test]
fn big_rooms_stop_announcing_joins_and_leaves() {
    let mut room = Lobby::new().with_announce_max(2);
    let inboxes: Vec<Inbox> = (0..3)
        .map(|_| Inbox {
            lines: Rc::default(),
            cap: usize::MAX,
        })
        .collect();
    for (i, inbox) in inboxes.iter().enumerate() {
        room.connect(i as ClientId, inbox.clone(), &[], Instant::now());
        room.line(i as ClientId, &format!("u{i}"));
    }
    assert_eq!(
        inboxes[0].take(),
        [
            "Server: You are logged in as: u0",
            "Server: u1 joined the party!"
        ],
        "the third join, making three online, is not announced"
    );
    room.leave(2);
    assert!(inboxes[0].take().is_empty(), "nor is a leave from three");
    room.leave(1);
    assert_eq!(inboxes[0].take(), ["Server: u1 left the party."]);
}

/// A mailbox with a host, and that may be far behind.
#[derive(Clone)]
struct Desk {
    inbox: Inbox,
    host: Option<Host>,
    behind: bool,
}

impl Mailbox for Desk {
    type Tally = ();

    fn deliver(&self, line: &str, tally: &mut ()) -> bool {
        self.inbox.deliver(line, tally)
    }

    fn far_behind(&self) -> bool {
        self.behind
    }

    fn host(&self) -> Option<Host> {
        self.host
    }
}

fn desk(host: u8) -> Desk {
    Desk {
        inbox: inbox(),
        host: Some(Host::of(std::net::IpAddr::from([10, 0, 0, host]))),
        behind: false,
    }
}

#[test]
fn a_held_name_goes_back_to_its_host_and_to_nobody_else() {
    let t0 = Instant::now();
    let mut room = Lobby::new();
    let (max, eve) = (desk(1), desk(2));
    room.connect(1, max.clone(), &[], t0);
    room.line(1, "Max");
    let left = room
        .leave(1)
        .and_then(|l| l.name)
        .expect("Max was logged in");
    room.hold_name(&left, max.host, t0 + MINUTE);
    room.connect(2, eve.clone(), &[], t0);
    assert!(matches!(room.line(2, "max"), Happened::LoginRefused(_)));
    assert_eq!(eve.inbox.take(), [reply::error(reply::name_held("max"))]);
    room.line(2, "Eve");
    room.line(2, "/nick MAX");
    assert_eq!(
        eve.inbox.take()[1..],
        [reply::error(reply::name_held("MAX"))]
    );
    room.connect(3, max.clone(), &[], t0);
    assert!(matches!(room.line(3, "Max"), Happened::LoggedIn(_)));
}

#[test]
fn a_held_name_is_free_once_its_time_is_over() {
    let t0 = Instant::now();
    let mut room = Lobby::new();
    let name = Name::parse("Max").expect("a valid name");
    room.hold_name(&name, desk(1).host, t0 + MINUTE);
    room.release_names(t0 + MINUTE - Duration::from_secs(1));
    room.connect(2, desk(2), &[], t0);
    assert!(matches!(room.line(2, "Max"), Happened::LoginRefused(_)));
    room.release_names(t0 + MINUTE);
    assert!(matches!(room.line(2, "Max"), Happened::LoggedIn(_)));
}

/// In a room above --announce-max nobody sees joins and leaves, so a
/// rename is the one change of name everyone must still see.
#[test]
fn renames_are_told_to_everyone_even_in_a_big_room() {
    let t0 = Instant::now();
    let mut room = Lobby::new().with_announce_max(1);
    let desks: Vec<Desk> = (1..=3).map(desk).collect();
    for (i, d) in desks.iter().enumerate() {
        room.connect(i as ClientId, d.clone(), &[], t0);
        room.line(i as ClientId, &format!("u{i}"));
        d.inbox.take();
    }
    desks[0].inbox.take();
    room.line(2, "/nick Zed");
    for d in &desks[..2] {
        assert_eq!(d.inbox.take(), [reply::renamed("u2", "Zed")]);
    }
}

#[test]
fn private_messages_to_someone_far_behind_are_not_delivered() {
    let t0 = Instant::now();
    let mut room = Lobby::new();
    let eve = desk(1);
    let bob = Desk {
        behind: true,
        ..desk(2)
    };
    room.connect(1, eve.clone(), &[], t0);
    room.line(1, "Eve");
    room.connect(2, bob.clone(), &[], t0);
    room.line(2, "Bob");
    eve.inbox.take();
    bob.inbox.take();
    assert_eq!(room.line(1, "/msg Bob hi"), Happened::Nothing);
    assert_eq!(eve.inbox.take(), [reply::recipient_busy("Bob")]);
    assert!(bob.inbox.take().is_empty());
    // Chat to the room still reaches Bob: only private messages are held back.
    room.line(1, "hello all");
    assert_eq!(bob.inbox.take(), ["Eve: hello all"]);
}

#[test]
fn a_session_forgotten_past_the_most_away_frees_its_name_and_the_newest_drop_is_held() {
    let t0 = Instant::now();
    let mut room = Lobby::new();
    let n = sessions::MOST_AWAY as ClientId + 1;
    for id in 0..n {
        room.connect(id, inbox(), &[], t0);
        room.line(id, tagged::SWITCH);
        let name = format!("u{id}");
        assert!(matches!(room.line(id, &name), Happened::LoggedIn(_)));
        assert!(room.leave(id).is_some());
    }
    // u0's session was forgotten to make room: nobody can resume it,
    // so nobody is kept from its name; u{n-1}'s session can be.
    room.connect(n, inbox(), &[], t0);
    assert!(matches!(room.line(n, "u0"), Happened::LoggedIn(_)));
    room.connect(n + 1, inbox(), &[], t0);
    let newest = format!("u{}", n - 1);
    assert!(matches!(
        room.line(n + 1, &newest),
        Happened::LoginRefused(_)
    ));
}

#[test]
fn at_the_rooms_cap_a_flood_from_many_hosts_neither_takes_a_kept_name_nor_holds_its_own() {
    let t0 = Instant::now();
    let mut room = Lobby::new().with_kept_sessions(3, 2);
    for id in 1..=4 {
        room.connect(id, desk(id as u8), &[], t0);
        room.line(id, tagged::SWITCH);
        assert!(matches!(
            room.line(id, &format!("u{id}")),
            Happened::LoggedIn(_)
        ));
        assert!(room.leave(id).is_some());
    }
    // u4 dropped last, when the room was full: its session was the one
    // forgotten, and its name is free; u1's is still kept for u1.
    room.connect(5, desk(5), &[], t0);
    assert!(matches!(room.line(5, "u1"), Happened::LoginRefused(_)));
    assert!(matches!(room.line(5, "u4"), Happened::LoggedIn(_)));
}

#[test]
fn a_wave_that_left_gives_its_room_back() {
    let t0 = Instant::now();
    // Not announced: 5000 joins and leaves told to all would be 25 M lines.
    let mut room = Lobby::new().with_announce_max(1);
    for id in 0..5000 {
        room.connect(id, inbox(), &[], t0);
        room.line(id, &format!("u{id}"));
    }
    let full = room.desk.clients.capacity();
    for id in 0..5000 {
        room.leave(id);
    }
    assert!(room.desk.clients.capacity() < full / 8);
    assert!(room.names.capacity() < full / 8);
    assert!(room.main().members_capacity() < full / 8);
}

#[test]
fn a_rooms_line_reaches_its_members_only_prefixed_for_whom_it_is_not_current() {
    let (mut lobby, inboxes) = room_with(&["Ann", "Bob", "Cy"]);
    lobby.line(0, "/join #ops");
    lobby.line(1, "/join ops");
    lobby.line(1, "/switch #main");
    for inbox in &inboxes {
        inbox.take();
    }
    lobby.line(0, "deploy done");
    assert_eq!(inboxes[1].take(), ["[#ops] Ann: deploy done"]);
    assert!(inboxes[2].take().is_empty(), "Cy is not in #ops");
    lobby.line(1, "lunch?");
    assert_eq!(inboxes[0].take(), ["[#main] Bob: lunch?"]);
    assert_eq!(inboxes[2].take(), ["Bob: lunch?"]);
}

#[test]
fn an_empty_room_is_forgotten_unless_something_was_said_in_it() {
    let (mut lobby, inboxes) = room_with(&["Ann"]);
    lobby.line(0, "/join #quiet");
    lobby.line(0, "/leave");
    lobby.line(0, "/join #kept");
    lobby.line(0, "hello");
    lobby.line(0, "/leave");
    inboxes[0].take();
    lobby.line(0, "/rooms");
    assert_eq!(
        inboxes[0].take(),
        [
            "Server: 2 rooms:",
            "Server:   #kept (0 people)",
            "Server:   #main (1 person)"
        ]
    );
}

#[test]
fn joining_past_the_caps_is_one_error_and_changes_nothing() {
    let config = Arc::new(Config {
        max_rooms: 2,
        max_joined: 2,
        ..Config::default()
    });
    let streams = Streams::memory(config.history);
    let mut lobby: Lobby<Inbox> = Lobby::from_config(config, streams, Instant::now());
    let (ann, bob) = (inbox(), inbox());
    lobby.connect(1, ann.clone(), &[], Instant::now());
    lobby.connect(2, bob.clone(), &[], Instant::now());
    lobby.line(1, "Ann");
    lobby.line(2, "Bob");
    lobby.line(1, "/join #a");
    ann.take();
    bob.take();
    lobby.line(1, "/join #b");
    assert_eq!(ann.take(), [reply::error(rooms::reply::too_many_joined(2))]);
    lobby.line(2, "/join #c");
    assert_eq!(bob.take(), [reply::error(rooms::reply::too_many_rooms(2))]);
    lobby.line(1, "hi");
    assert!(bob.take().is_empty(), "Ann is still in #a, Bob never was");
}

#[test]
fn every_rooms_history_together_stays_within_its_bound_oldest_first() {
    // Room for #ops's join notice and five short messages.
    let one = crate::stream::Draft::chat("Ann", "m0").kind().weight();
    let most = crate::stream::Draft::join("Ann").kind().weight() + 5 * one + one / 2;
    let config = Arc::new(Config {
        history_memory: most,
        ..Config::default()
    });
    let streams = Streams::memory(config.history);
    let mut lobby: Lobby<Inbox> = Lobby::from_config(config, streams, Instant::now());
    let ann = inbox();
    lobby.connect(1, ann.clone(), &[], Instant::now());
    lobby.line(1, "Ann");
    for n in 0..3 {
        lobby.line(1, &format!("m{n}"));
    }
    lobby.line(1, "/join #ops");
    for n in 3..7 {
        lobby.line(1, &format!("m{n}"));
    }
    let kept: usize = lobby
        .rooms
        .values()
        .map(super::rooms::room_history_bytes)
        .sum();
    assert!(kept <= most, "{kept} bytes kept, at most {most}");
    ann.take();
    // #main lost its oldest first (its join notice, then m0 and m1);
    // #ops, newer, lost nothing.
    lobby.line(1, "/history #main");
    let main = ann.take();
    assert_eq!(
        untimed(&main[1..]),
        ["[#main] Ann: m2", "Server: End of the last 1 message."]
    );
    lobby.line(1, "/history");
    let ops = ann.take();
    let ops = untimed(&ops);
    assert_eq!(ops.len(), 6, "{ops:?}");
    assert_eq!(ops[1..5], ["Ann: m3", "Ann: m4", "Ann: m5", "Ann: m6"]);
}

/// Block lines without the `[HH:MM] ` they start with.
fn untimed(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .map(|line| match line.split_once("] ") {
            Some((time, rest)) if time.starts_with('[') && time.contains(':') => rest,
            _ => line.as_str(),
        })
        .collect()
}

/// The rooms `/rooms` lists to `who` (the lines after the count).
fn rooms_listed(lobby: &mut Lobby<Inbox>, id: ClientId, who: &Inbox) -> Vec<String> {
    who.take();
    lobby.line(id, "/rooms");
    who.take().into_iter().skip(1).collect()
}

#[test]
fn a_room_an_away_session_may_come_back_to_stays_until_the_session_is_over() {
    let t0 = Instant::now();
    let mut lobby: Lobby<Inbox> = Lobby::new().with_sessions(MINUTE, sessions::tests::counting());
    let bob = inbox();
    lobby.connect(1, inbox(), &[], t0);
    lobby.line(1, tagged::SWITCH);
    lobby.line(1, "Max");
    lobby.connect(2, bob.clone(), &[], t0);
    lobby.line(2, "Bob");
    // Nothing is said in #quiet: only Max, away, keeps it.
    lobby.line(1, "/join #quiet");
    lobby.leave(1);
    let listed = rooms_listed(&mut lobby, 2, &bob);
    assert_eq!(
        listed,
        ["Server:   #main (1 person)", "Server:   #quiet (0 people)"]
    );

    lobby.connect(3, inbox(), &[], t0);
    lobby.line(3, tagged::SWITCH);
    let token = sessions::to_hex(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert!(matches!(
        lobby.line(3, &format!("/resume {token} 0")),
        Happened::Resumed(_)
    ));
    let current = lobby.current_room(3).map(|r| r.name().to_string());
    assert_eq!(current.as_deref(), Some("#quiet"), "his current room again");
    assert!(lobby.desk.clients[&3].rooms.contains(&lobby.main_key));

    // Away again, and over: the room goes with the session.
    lobby.leave(3);
    assert_eq!(rooms_listed(&mut lobby, 2, &bob).len(), 2, "still waiting");
    lobby.expire_sessions(t0 + 2 * MINUTE);
    assert_eq!(
        rooms_listed(&mut lobby, 2, &bob),
        ["Server:   #main (1 person)"]
    );
}

#[test]
fn after_a_restart_a_session_waits_in_its_rooms_that_remain_and_comes_back_to_them() {
    use crate::stream::rooms::Place;
    use crate::stream::saved::{Saved, SessionsFile};
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = Config::default();
    let open = || Streams::open(dir.path(), 1 << 20, &config).expect("the store opens");
    {
        // A store with #ops, and a session kept in #main, #ops and #gone
        // (current), a room the store no longer has.
        let (streams, _) = open();
        let place = Place::Room {
            key: "ops",
            shown: "#ops",
        };
        streams.factory.open(place).expect("#ops is made");
    }
    let token = [7; 16];
    let saved = Saved {
        id: 4,
        key: sessions::key_of(&token),
        name: "Max".to_string(),
        private: Vec::new(),
        rooms: ["#main", "#ops", "#gone"].map(String::from).to_vec(),
    };
    let private = dir.path().join("private");
    SessionsFile::open(&private, &[saved]).expect("written");

    let (streams, _) = open();
    let t0 = Instant::now();
    let mut lobby: Lobby<Inbox> = Lobby::from_config(Arc::new(Config::default()), streams, t0);
    // The log names the rooms that remain, for the next restart.
    let (kept, _) = SessionsFile::read(&private).expect("reads");
    assert_eq!(kept[0].rooms, ["#main", "#ops"]);
    let bob = inbox();
    lobby.connect(1, bob.clone(), &[], t0);
    lobby.line(1, "Bob");
    assert_eq!(
        rooms_listed(&mut lobby, 1, &bob),
        ["Server:   #main (1 person)", "Server:   #ops (0 people)"]
    );
    lobby.connect(2, inbox(), &[], t0);
    lobby.line(2, tagged::SWITCH);
    let resumed = lobby.line(2, &format!("/resume {} 0", sessions::to_hex(&token)));
    assert!(matches!(resumed, Happened::Resumed(_)), "{resumed:?}");
    // #gone is gone: he lands in the rest, the last of them current.
    let current = lobby.current_room(2).map(|r| r.name().to_string());
    assert_eq!(current.as_deref(), Some("#ops"));
    assert!(lobby.desk.clients[&2].rooms.contains(&lobby.main_key));
    assert_eq!(lobby.desk.clients[&2].rooms.len(), 2);
}

#[test]
fn at_the_cap_a_new_room_takes_the_place_of_the_unused_one_quiet_longest() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = Config {
        max_rooms: 3,
        ..Config::default()
    };
    let mut lobby = in_store(dir.path(), config);
    let (ann, bob) = (inbox(), inbox());
    lobby.connect(1, ann.clone(), &[], Instant::now());
    lobby.connect(2, bob.clone(), &[], Instant::now());
    lobby.line(1, "Ann");
    lobby.line(2, "Bob");
    // #a said something and was left; Bob stays in #b.
    for line in ["/join #a", "kept in a", "/leave"] {
        lobby.line(1, line);
    }
    lobby.line(2, "/join #b");
    assert_eq!(
        rooms_listed(&mut lobby, 1, &ann),
        [
            "Server:   #a (0 people)",
            "Server:   #b (1 person)",
            "Server:   #main (2 people)"
        ]
    );
    // The cap is reached: #c takes unused #a's place, not #b's.
    settle_all(&mut lobby);
    lobby.line(1, "/join #c");
    assert_eq!(ann.take()[0], "Server: You joined #c.");
    assert_eq!(
        rooms_listed(&mut lobby, 1, &ann),
        [
            "Server:   #b (1 person)",
            "Server:   #c (1 person)",
            "Server:   #main (2 people)"
        ]
    );
    // Every room in use: refused, as before.
    bob.take();
    lobby.line(2, "/join #d");
    assert_eq!(bob.take(), [reply::error(rooms::reply::too_many_rooms(3))]);
    // #a comes back whole from its folder once there is a place for it
    // (#c forgotten once Ann's leaving it is saved).
    lobby.line(1, "/leave #c");
    settle_all(&mut lobby);
    lobby.line(1, "/join #a");
    settle_all(&mut lobby);
    let lines = ann.take();
    assert!(
        lines.iter().any(|line| line.ends_with("Ann: kept in a")),
        "{lines:?}"
    );
}

/// Waits for every batch on its way to a store to settle, and relays it.
fn settle_all(lobby: &mut Lobby<Inbox>) {
    while lobby.in_flight() > 0 {
        let (source, settled) = crate::runtime::block_on(lobby.settled());
        lobby.settle(source, settled);
    }
}

/// A lobby keeping what is said in the store at `dir`, as a server started
/// with `config` would.
fn in_store(dir: &std::path::Path, config: Config) -> Lobby<Inbox> {
    let (streams, _) = Streams::open(dir, 1 << 20, &config).expect("the store opens");
    Lobby::from_config(Arc::new(config), streams, Instant::now())
}

#[test]
fn a_restart_opens_at_most_max_rooms_the_most_recent_first() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = Config::default();
    {
        let mut lobby = in_store(dir.path(), config.clone());
        let ann = inbox();
        lobby.connect(1, ann.clone(), &[], Instant::now());
        lobby.line(1, "Ann");
        for room in ["#r1", "#r2", "#r3", "#r4"] {
            lobby.line(1, &format!("/join {room}"));
            lobby.line(1, &format!("said in {room}"));
            lobby.line(1, "/leave");
            settle_all(&mut lobby);
        }
    }
    let capped = Config {
        max_rooms: 3,
        ..config
    };
    let (streams, _) = Streams::open(dir.path(), 1 << 20, &capped).expect("the store opens");
    let kept: Vec<&str> = streams
        .rooms
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    let mut kept = kept;
    kept.sort_unstable();
    assert_eq!(kept, ["#r3", "#r4"], "#main and the two said in last");
}

#[test]
fn a_restart_keeps_every_history_together_within_its_bound() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let config = Config::default();
    {
        let mut lobby = in_store(dir.path(), config.clone());
        lobby.connect(1, inbox(), &[], Instant::now());
        lobby.line(1, "Ann");
        for room in ["#a", "#b"] {
            lobby.line(1, &format!("/join {room}"));
            for n in 0..20 {
                lobby.line(1, &format!("line {n} of {room}"));
            }
            settle_all(&mut lobby);
        }
    }
    let most = 10
        * crate::stream::Draft::chat("Ann", "line 10 of #a")
            .kind()
            .weight();
    let small = Config {
        history_memory: most,
        ..config
    };
    let lobby = in_store(dir.path(), small);
    let kept: usize = lobby
        .rooms
        .values()
        .map(super::rooms::room_history_bytes)
        .sum();
    assert!(
        kept <= most,
        "{kept} bytes kept after a restart, at most {most}"
    );
    // The newest lines are what stays: #b's, said last.
    let b = lobby
        .rooms
        .values()
        .find(|r| r.name().as_str() == "#b")
        .expect("#b");
    assert!(!b.keeper().stream.last(1).is_empty());
}
