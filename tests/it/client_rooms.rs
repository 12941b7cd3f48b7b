//! The client in rooms: the real `join` on a pseudo-terminal against the
//! real server, read on the parsed screen: `join --room`, the prompt
//! following the current room, Tab completing rooms, a line of another
//! room arriving while typing, and a resume across two rooms.

use std::process::Command;

use crate::support::proxy::Proxy;
use crate::support::terminal::{screen_rows, Pty};
use crate::support::{join_command, once_in_order, Nc, Serve, Server};

/// The size of the tests' terminal: tall, so nothing scrolls away.
const ROWS: u16 = 60;
const COLS: u16 = 100;

/// `join` with `extra` arguments on a pty to `addr`, without times (rows
/// are compared whole).
fn join_at(addr: std::net::SocketAddr, extra: &[&str]) -> Pty {
    let mut command: Command = join_command(addr, &["--no-timestamps"]);
    command.args(extra);
    Pty::spawn_sized(command, COLS, ROWS)
}

/// The rows the terminal shows, scrollback first.
fn rows(bytes: &[u8]) -> Vec<String> {
    screen_rows(bytes, ROWS, COLS)
}

/// Waits until the input row (the last one shown) is `want`.
fn expect_input_row(pty: &mut Pty, want: &str) {
    let what = format!("the input row {want:?}");
    pty.screen.expect_that(&what, |bytes| {
        rows(bytes).last().map(|row| row.trim_end()) == Some(want)
    });
}

/// Waits until a row shows `want`, whatever its colours.
fn expect_row(pty: &mut Pty, want: &str) {
    let what = format!("a row {want:?}");
    pty.screen.expect_that(&what, |bytes| {
        rows(bytes).iter().any(|row| row.trim_end() == want)
    });
}

/// Ann at `nc`, in `#main` and `#ops` (her current room).
fn ann_in_ops(server: &Server) -> Nc {
    let mut ann = Nc::login(server.addr, "Ann");
    ann.send("/join ops");
    ann.expect_line("Server: You joined #ops.");
    ann
}

/// Max on a pty, `join --room ops`, logged in and in `#ops`.
fn max_in_ops(addr: std::net::SocketAddr, extra: &[&str]) -> Pty {
    let mut args = vec!["--name", "Max", "--room", "ops"];
    args.extend_from_slice(extra);
    let mut max = join_at(addr, &args);
    max.screen.expect("Server: You are logged in as: Max");
    expect_input_row(&mut max, "#ops>");
    max
}

#[test]
fn join_room_starts_there_and_the_prompt_follows_the_current_room() {
    let server = Server::start();
    let mut ann = ann_in_ops(&server);
    let mut max = max_in_ops(server.addr, &["--no-reconnect"]);
    ann.expect_line("[#main] Server: Max joined the party!");
    ann.expect_line("Server: Max joined the party!");
    max.type_keys("hello ops\r");
    ann.expect_line("Max: hello ops");
    max.type_keys("/switch main\r");
    expect_input_row(&mut max, "#main>");
    max.type_keys("in main\r");
    ann.expect_line("[#main] Max: in main");
    max.type_keys("/leave ops\r");
    ann.expect_line("Server: Max left the party.");
    // In #main alone again: today's prompt.
    expect_input_row(&mut max, ">");
    max.type_keys("\x04");
    assert_eq!(max.exit_code(), 0);
}

#[test]
fn tab_completes_the_rooms_the_client_knows() {
    let server = Server::start();
    let mut ann = ann_in_ops(&server);
    let mut max = max_in_ops(server.addr, &["--no-reconnect"]);
    max.type_keys("/join lunch\r");
    expect_input_row(&mut max, "#lunch>");
    max.type_keys("/sw\to\t\r");
    expect_input_row(&mut max, "#ops>");
    // `/who` of another room: its answer is of that room, so prefixed.
    max.type_keys("/who ma\t\r");
    expect_row(&mut max, "[#main] Server: Online (2): Ann, Max");
    max.type_keys("/leave #l\t\r");
    expect_row(&mut max, "Server: You left #lunch.");
    max.type_keys("marker\r");
    ann.lines_until("Max: marker");
    max.type_keys("\x04");
    assert_eq!(max.exit_code(), 0);
}

#[test]
fn tab_after_join_offers_the_rooms_others_made_and_asking_for_them_shows_nothing() {
    let server = Server::start();
    let _ann = ann_in_ops(&server);
    let mut max = join_at(server.addr, &["--name", "Max", "--no-reconnect"]);
    max.screen.expect("Server: You are logged in as: Max");
    // The client asked the server's rooms as it logged in: the answer to
    // a later line comes after that one's.
    max.type_keys("/who\r");
    expect_row(&mut max, "Server: Online (2): Ann, Max");
    // Max has seen nothing of #ops, yet Tab offers it.
    max.type_keys("/join o\t");
    expect_input_row(&mut max, "> /join #ops");
    max.type_keys("\r");
    expect_input_row(&mut max, "#ops>");
    let shown = rows(max.screen.bytes());
    assert!(
        !shown
            .iter()
            .any(|row| row.contains("rooms:") || row.contains("(1 person)")),
        "the client's own /rooms was shown: {shown:?}"
    );
    max.type_keys("\x04");
    assert_eq!(max.exit_code(), 0);
}

#[test]
fn a_line_of_another_room_arrives_in_its_colour_while_typing() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut max = max_in_ops(server.addr, &["--no-reconnect"]);
    bob.expect_line("Server: Max joined the party!");
    max.type_keys("half typed");
    expect_input_row(&mut max, "#ops> half typed");
    bob.send("hello main");
    expect_row(&mut max, "[#main] Bob: hello main");
    expect_input_row(&mut max, "#ops> half typed");
    // The room's name is in a colour of its own.
    let raw = max.screen.text();
    assert!(raw.contains("[\x1b["), "no colour on the room: {raw:?}");
    // A mention in another room rings the bell all the same.
    assert!(!raw.contains('\x07'), "a bell before any mention");
    bob.send("max, look");
    expect_row(&mut max, "[#main] Bob: max, look");
    let raw = max.screen.text();
    assert!(raw.contains('\x07'), "no bell: {raw:?}");
    max.type_keys("\r");
    expect_row(&mut max, "Max: half typed");
    // Bob is not in #ops: he never sees it (the marker comes next).
    max.type_keys("/switch main\rmarker\r");
    bob.expect_line("Max: marker");
    max.type_keys("\x04");
    assert_eq!(max.exit_code(), 0);
}

/// Max, in `#main` and `#ops`, loses his connection while Ann speaks in
/// both; back (`said` tells how), he is in both rooms still, `#ops` his
/// current one, and every line of either is shown exactly once, in order,
/// each of `#main` under its name.
fn back_in_two_rooms(server: &Server, said: &str) {
    let proxy = Proxy::to(server.addr);
    let mut ann = ann_in_ops(server);
    let mut max = max_in_ops(proxy.addr, &[]);
    ann.expect_line("[#main] Server: Max joined the party!");
    ann.expect_line("Server: Max joined the party!");
    ann.send("ops before");
    expect_row(&mut max, "Ann: ops before");

    proxy.refuse(true);
    proxy.cut();
    max.screen.expect("Reconnecting to");
    ann.send("ops while away");
    ann.send("/switch main");
    ann.send("main while away");
    ann.send("/switch ops");
    proxy.refuse(false);
    max.screen.expect(said);
    ann.send("ops live");
    expect_row(&mut max, "Ann: ops live");
    expect_input_row(&mut max, "#ops>");
    max.type_keys("back\r");
    ann.lines_until("Max: back");
    expect_row(&mut max, "Max: back");

    // Each room's lines once, in its order (ids are opaque: which room's
    // line came first is not the client's to tell).
    let shown = rows(max.screen.bytes()).join("\n");
    once_in_order(
        &shown,
        &[
            "Ann: ops before",
            "Ann: ops while away",
            "Ann: ops live",
            "Max: back",
        ],
    );
    once_in_order(&shown, &["[#main] Ann: main while away", "Ann: ops live"]);
    assert!(!shown.contains("did not arrive"), "{shown}");
    max.type_keys("\x04");
    assert_eq!(max.exit_code(), 0);
}

#[test]
fn a_resume_across_two_rooms_shows_every_line_once() {
    back_in_two_rooms(&Server::start(), "the session was resumed");
}

/// The session is gone once back (a window of 0): Max logs in again, joins
/// `#ops` again, and asks each room for what he missed.
#[test]
fn logging_in_again_rejoins_both_rooms_and_fills_the_gap_of_each() {
    let server = Serve::new().args(&["--resume-window", "0"]).start();
    back_in_two_rooms(&server, "you logged in again as Max");
}
