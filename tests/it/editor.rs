//! The line editor of `sockchat join` on a real pseudo-terminal: nothing
//! typed is lost or reordered, whatever the speed; Ctrl-C, Ctrl-Z and
//! resizes leave the screen and the terminal right (checked on a parsed
//! screen, scrollback included); a terminal the editor cannot drive still
//! chats; Tab completes commands and names.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::terminal::{local_flags, physical_rows, size, Pty, EDITOR_PROMPT};
use crate::support::{Nc, Running, Serve, Server, WAIT};

const PROMPT: &str = "Please enter your username";
const CTRL_C: &str = "\x03";
const ENTER: &str = "\r";

/// The size the tests' terminal starts at.
const ROWS: u16 = 30;
const COLS: u16 = 100;

/// `join` on a pty of [`ROWS`]×[`COLS`], whatever terminal runs the tests;
/// without timestamps (these tests compare whole rows) and without
/// reconnecting (a server that goes away ends the session).
fn join(server: &Server, extra: &[&str], env: &[(&str, &str)]) -> Pty {
    let mut command = server.join(&["--no-timestamps", "--no-reconnect"]);
    command.args(extra);
    command.envs(env.iter().copied());
    Pty::spawn_sized(command, COLS, ROWS)
}

/// Sizes the terminal took, each from a byte of the output on, and how
/// it took them.
struct Resizes {
    /// Where in the output, and the new rows and columns.
    at: Vec<(usize, u16, u16)>,
    /// Like tmux, VTE or kitty: a line the terminal wrapped is wrapped
    /// again at the new width. Otherwise like xterm: rows are cut or
    /// padded where they are.
    reflows: bool,
}

impl Resizes {
    fn new(reflows: bool) -> Resizes {
        Resizes {
            at: Vec::new(),
            reflows,
        }
    }

    /// Resizes the pty (the kernel tells sockchat with SIGWINCH). Call it
    /// only once everything sockchat drew so far has been read.
    fn resize(&mut self, pty: &mut Pty, rows: u16, cols: u16) {
        self.at.push((pty.screen.bytes().len(), rows, cols));
        pty.session
            .get_process_mut()
            .set_window_size(cols, rows)
            .expect("resize the pty");
    }

    /// The screen as a terminal of these sizes shows what was read: every
    /// row, scrollback first, trailing blank rows left out.
    fn rows(&self, pty: &Pty) -> Vec<String> {
        self.rows_of(pty.screen.bytes())
    }

    /// [`Resizes::rows`] for `bytes`, what the pty gave.
    fn rows_of(&self, bytes: &[u8]) -> Vec<String> {
        let mut parser = vt100::Parser::new(size(ROWS), size(COLS), SCROLLBACK);
        let mut from = 0;
        for &(at, rows, cols) in &self.at {
            parser.process(&bytes[from..at]);
            if self.reflows {
                parser = reflowed(parser, rows, cols);
            } else {
                parser.set_size(size(rows), size(cols));
            }
            from = at;
        }
        parser.process(&bytes[from..]);
        let (mut rows, _) = physical_rows(&mut parser);
        while rows.last().is_some_and(|(row, _)| row.trim().is_empty()) {
            rows.pop();
        }
        rows.into_iter().map(|(row, _)| row).collect()
    }
}

const SCROLLBACK: usize = 10_000;

/// What a reflowing terminal shows after a resize: the lines it wrapped
/// itself joined and wrapped again at the new width, the cursor kept at
/// its place in its line. (ASCII text only, colours dropped: enough for
/// these tests.)
fn reflowed(mut parser: vt100::Parser, rows: u16, cols: u16) -> vt100::Parser {
    let old_cols = usize::from(parser.screen().size().1.get());
    let (physical, (cursor_row, cursor_col)) = physical_rows(&mut parser);
    let keep = physical
        .iter()
        .rposition(|(row, _)| !row.trim().is_empty())
        .map_or(0, |last| last + 1)
        .max(cursor_row + 1);
    let mut lines: Vec<String> = Vec::new();
    let mut cursor = (0, 0);
    let mut continued = false;
    for (i, (row, wrapped)) in physical[..keep].iter().enumerate() {
        if !continued {
            lines.push(String::new());
        }
        let index = lines.len() - 1;
        let line = &mut lines[index];
        if i == cursor_row {
            cursor = (index, line.len() + cursor_col);
        }
        line.push_str(row);
        if *wrapped {
            // A wrapped row is full; the parser trims its trailing blanks.
            let full = line.len().div_ceil(old_cols).max(1) * old_cols;
            line.extend(std::iter::repeat_n(' ', full - line.len()));
        }
        continued = *wrapped;
    }
    let mut new = vt100::Parser::new(size(rows), size(cols), SCROLLBACK);
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            new.process(b"\r\n");
        }
        new.process(line.as_bytes());
    }
    // From the last line's last row to the cursor's place.
    let cols = usize::from(cols);
    let height = |line: &String| line.len().div_ceil(cols).max(1);
    let (at_line, offset) = cursor;
    let row_in_line = (offset / cols).min(height(&lines[at_line]) - 1);
    let below: usize = lines[at_line + 1..].iter().map(height).sum();
    let up = below + height(&lines[at_line]) - 1 - row_in_line;
    let col = offset - row_in_line * cols;
    // (A count of 0 would move by 1.)
    new.process(b"\r");
    if up > 0 {
        new.process(format!("\x1b[{up}A").as_bytes());
    }
    if col > 0 {
        new.process(format!("\x1b[{col}C").as_bytes());
    }
    new
}

/// Waits until `ok` holds for the pty's local modes (read from our side).
fn wait_for_termios(pty: &Pty, what: &str, ok: impl Fn(libc::tcflag_t) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok(local_flags(&pty.session)) {
        assert!(Instant::now() < deadline, "the terminal never was {what}");
        // Polling: a terminal's mode change sends no event to read.
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn is_raw(lflag: libc::tcflag_t) -> bool {
    lflag & (libc::ICANON | libc::ECHO) == 0
}

fn is_cooked(lflag: libc::tcflag_t) -> bool {
    lflag & libc::ICANON != 0 && lflag & libc::ECHO != 0
}

/// The process state letter in /proc (`T`: stopped).
fn state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let after_name = stat.rsplit_once(") ").expect("a stat line").1;
    after_name.chars().next().expect("a state letter")
}

fn pid(pty: &Pty) -> i32 {
    pty.session.get_process().pid().as_raw()
}

fn signal(pty: &Pty, signal: i32) {
    // SAFETY: sending a signal to our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(pid(pty), signal) }, 0, "kill");
}

/// A room with Bob (at `nc`) in it, and Max joined on a pty with `env`,
/// his editor ready.
fn room(env: &[(&str, &str)]) -> (Server, Nc, Pty) {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join(&server, &["--name", "Max"], env);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
    (server, bob, pty)
}

/// Rows that are a prompt and nothing else.
fn bare_prompts(rows: &[String]) -> Vec<&String> {
    rows.iter().filter(|row| row.trim() == ">").collect()
}

#[test]
fn type_ahead_and_a_paste_in_one_write_arrive_whole_and_in_order() {
    let (_server, mut bob, mut pty) = room(&[]);
    // Typed faster than any editor redraws, and a paste from a terminal
    // without bracketed paste: CR, LF and CR LF each end one line.
    pty.type_keys("first1\rsecond1\rline a\nline b\r\nline c\r");
    for line in ["first1", "second1", "line a", "line b", "line c"] {
        bob.expect_line(&format!("Max: {line}"));
    }
    // A bracketed paste of several lines is several lines too.
    pty.type_keys("\x1b[200~pasted 1\npasted 2\x1b[201~\r");
    bob.expect_line("Max: pasted 1");
    bob.expect_line("Max: pasted 2");
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

#[test]
fn keys_typed_with_the_name_reach_the_room_after_login() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join(&server, &[], &[]);
    pty.screen.expect(PROMPT);
    pty.type_keys("Max\rhello early\r");
    bob.expect_line("Server: Max joined the party!");
    bob.expect_line("Max: hello early");
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn ctrl_c_leaves_with_stdout_redirected_to_a_file() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let log = tempfile::NamedTempFile::new().expect("a temp file");
    let join = server.join(&["--name", "logger"]);
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg("exec \"$0\" \"$@\" > \"$LOG\"")
        .arg(join.get_program())
        .args(join.get_args())
        .env("LOG", log.path());
    for (var, value) in join.get_envs() {
        match value {
            Some(value) => shell.env(var, value),
            None => shell.env_remove(var),
        };
    }
    let mut pty = Pty::spawn(shell);
    bob.expect_line("Server: logger joined the party!");
    bob.send("for the log");
    // The log has the line once the client has read it.
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(log.path())
        .expect("read the log")
        .contains("Bob: for the log")
    {
        assert!(Instant::now() < deadline, "the log never got the line");
        // Polling: a file written sends no event to read.
        std::thread::sleep(Duration::from_millis(5));
    }
    pty.type_keys(CTRL_C);
    bob.expect_line("Server: logger left the party.");
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn ctrl_z_hands_the_terminal_back_and_fg_redraws_the_half_typed_line() {
    let (_server, mut bob, mut pty) = room(&[]);
    pty.type_keys("half");
    pty.screen.expect("half");
    wait_for_termios(&pty, "raw", is_raw);
    // As a shell's Ctrl-Z or `kill -TSTP`: stopped, the terminal as found.
    signal(&pty, libc::SIGTSTP);
    wait_for_termios(&pty, "restored", is_cooked);
    let deadline = Instant::now() + WAIT;
    while state(pid(&pty)) != 'T' {
        assert!(Instant::now() < deadline, "sockchat never stopped");
        // Polling: a stop sends the parent no event this test can read.
        std::thread::sleep(Duration::from_millis(5));
    }
    // `fg`: raw mode again, and the line as it was.
    signal(&pty, libc::SIGCONT);
    wait_for_termios(&pty, "raw again", is_raw);
    pty.screen.expect(&format!("{EDITOR_PROMPT}half"));
    // Keys are the editor's again: Left moves, it does not echo `^[[D`.
    pty.type_keys(" way\x1b[D\x1b[D\x1b[D\x1b[Dthe");
    pty.type_keys(ENTER);
    bob.expect_line("Max: halfthe way");
    // The Ctrl-Z key does the same as the signal.
    pty.type_keys("\x1a");
    wait_for_termios(&pty, "restored by Ctrl-Z", is_cooked);
    signal(&pty, libc::SIGCONT);
    wait_for_termios(&pty, "raw after Ctrl-Z", is_raw);
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

#[test]
fn a_resize_keeps_every_message_and_the_wrapped_input_intact() {
    resize_with_a_wrapped_input(false);
}

/// As in tmux, by hand: a terminal that reflows wrapped lines.
#[test]
fn a_resize_in_a_reflowing_terminal_keeps_messages_and_input_intact() {
    resize_with_a_wrapped_input(true);
}

/// Types 150 characters at 100 columns, resizes to 60, a message comes,
/// back to 100, another message: every message is still there once and
/// the input is whole, with no stale piece of it.
fn resize_with_a_wrapped_input(reflows: bool) {
    // VTE's variable tells the editor that this terminal reflows.
    let mut env = vec![("NO_COLOR", "1")];
    if reflows {
        env.push(("VTE_VERSION", "7600"));
    }
    let (_server, mut bob, mut pty) = room(&env);
    bob.send("before");
    pty.screen.expect("Bob: before");
    pty.screen.expect(EDITOR_PROMPT);
    // 150 characters at 100 columns: the input takes two rows.
    let typed: String = (0..150u8).map(|i| char::from(b'a' + i % 26)).collect();
    pty.type_keys(&typed);
    // A resize must come once the input is drawn whole: the last rows of
    // the parsed screen are the prompt and the 150 characters.
    let input = format!("{EDITOR_PROMPT}{typed}");
    let mut resizes = Resizes::new(reflows);
    let expect_input = |pty: &mut Pty, resizes: &Resizes, cols: usize| {
        let n = input.chars().count().div_ceil(cols);
        pty.screen.expect_that("the whole input", |bytes| {
            let rows = resizes.rows_of(bytes);
            rows.len() >= n && rows[rows.len() - n..].concat() == input
        });
    };
    expect_input(&mut pty, &resizes, 100);
    resizes.resize(&mut pty, ROWS, 60);
    expect_input(&mut pty, &resizes, 60);
    bob.send("narrow");
    pty.screen.expect("Bob: narrow");
    expect_input(&mut pty, &resizes, 60);
    resizes.resize(&mut pty, ROWS, COLS);
    expect_input(&mut pty, &resizes, 100);
    bob.send("wide");
    pty.screen.expect("Bob: wide");
    expect_input(&mut pty, &resizes, 100);

    let rows = resizes.rows(&pty);
    let messages: Vec<&String> = rows.iter().filter(|r| r.starts_with("Bob: ")).collect();
    assert_eq!(
        messages,
        ["Bob: before", "Bob: narrow", "Bob: wide"],
        "{rows:#?}"
    );
    // The input is the last two rows, whole; no piece of it anywhere else.
    let input = format!("{}{}", rows[rows.len() - 2], rows[rows.len() - 1]);
    assert_eq!(input, format!("{EDITOR_PROMPT}{typed}"), "{rows:#?}");
    let stale: Vec<&String> = rows[..rows.len() - 2]
        .iter()
        .filter(|row| row.contains("xyzab"))
        .collect();
    assert!(stale.is_empty(), "stale input rows: {rows:#?}");
    pty.type_keys(ENTER);
    bob.expect_line(&format!("Max: {typed}"));
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
}

/// `TERM=dumb` (Emacs' `M-x shell`, a serial line): no escape code at
/// all, and a line that comes while one is half typed goes on a row of
/// its own, the half-typed line whole below it.
#[test]
fn a_dumb_terminal_gets_plain_lines_and_a_half_typed_line_keeps_its_row() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join(&server, &["--name", "Max"], &[("TERM", "dumb")]);
    pty.screen.expect("Server: You are logged in as: Max");
    bob.expect_line("Server: Max joined the party!");
    // Keys are read one by one once the session reads the terminal.
    wait_for_termios(&pty, "read key by key", |lflag| lflag & libc::ICANON == 0);
    pty.type_keys("hel");
    pty.screen.expect("hel");
    bob.send("hi there");
    pty.screen.expect("Bob: hi there");
    pty.type_keys("lo from emacs\r");
    bob.expect_line("Max: hello from emacs");
    pty.screen.expect("Max: hello from emacs");
    pty.type_keys(CTRL_C);
    bob.expect_line("Server: Max left the party.");
    assert_eq!(pty.exit_code(), 0);
    let screen = pty.screen.text();
    assert!(!screen.contains('\x1b'), "{screen:?}");
    let rows = Resizes::new(false).rows(&pty);
    let at = |row: &str| rows.iter().position(|r| r == row);
    let (Some(incoming), Some(typed)) = (at("Bob: hi there"), at("hello from emacs")) else {
        panic!("a row is not whole: {rows:#?}");
    };
    assert_eq!(incoming + 1, typed, "{rows:#?}");
    assert!(is_cooked(local_flags(&pty.session)), "the terminal is back");
}

#[test]
fn tab_completes_a_command_and_a_name_online() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bobby");
    let mut pty = join(&server, &["--name", "Max"], &[]);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
    // Names come from join notices…
    let mut dana = Nc::login(server.addr, "Dana");
    pty.screen.expect("Dana joined the party!");
    bob.expect_line("Server: Dana joined the party!");
    pty.type_keys("da\thi\r");
    dana.expect_line("Max: Dana: hi");
    bob.expect_line("Max: Dana: hi");
    // …and from `/who`, itself completed.
    pty.type_keys("/wh\t\r");
    pty.screen.expect("Online (3): ");
    pty.type_keys("/msg bo\tpsst\r");
    bob.expect_line("Max (private): psst");
    drop(dana);
    pty.screen.expect("Dana left the party.");
    bob.expect_line("Server: Dana left the party.");
    pty.type_keys("da\tx\r");
    bob.expect_line("Max: dax");
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn no_prompt_is_left_behind_after_quit_or_a_shutdown() {
    let server = Server::start();
    let mut pty = join(&server, &["--name", "Max"], &[("NO_COLOR", "1")]);
    pty.expect_logged_in("Max");
    pty.type_keys("/quit\r");
    pty.screen.expect("Server: Bye!");
    assert_eq!(pty.exit_code(), 0);
    let rows = Resizes::new(false).rows(&pty);
    assert!(bare_prompts(&rows).is_empty(), "{rows:#?}");
    assert_eq!(rows.last().map(String::as_str), Some("Server: Bye!"));

    let mut pty = join(&server, &["--name", "Max"], &[("NO_COLOR", "1")]);
    pty.expect_logged_in("Max");
    assert!(server.stop().success());
    pty.screen.expect("Server left.");
    assert_eq!(pty.exit_code(), 1);
    let rows = Resizes::new(false).rows(&pty);
    assert!(bare_prompts(&rows).is_empty(), "{rows:#?}");
    let end: Vec<&str> = rows
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(end, ["Server: shutting down", "Server left."]);
}

#[test]
fn sigint_leaves_a_piped_join_cleanly() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut bot = Running::spawn("the bot", server.join(&["--name", "bot"]));
    bob.expect_line("Server: bot joined the party!");
    bot.type_in("working\n");
    bob.expect_line("bot: working");
    // Ctrl-C on the terminal a pipeline runs in, or `kill -INT`.
    bot.signal(libc::SIGINT);
    bob.expect_line("Server: bot left the party.");
    assert_eq!(bot.wait().code(), Some(0));
}

/// Max, on a pty, in a room served with `serve_args`, and Bob at `nc`.
fn paste_room(serve_args: &[&str]) -> (Server, Nc, Pty) {
    let server = Serve::new().args(serve_args).start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join(&server, &["--name", "Max"], &[("NO_COLOR", "1")]);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
    (server, bob, pty)
}

/// Pastes `n` lines (bracketed); the lines pasted.
fn paste(pty: &mut Pty, n: usize) -> Vec<String> {
    let lines: Vec<String> = (1..=n).map(|i| format!("Max: pasted line {i}")).collect();
    let text: Vec<&str> = lines.iter().map(|l| &l["Max: ".len()..]).collect();
    pty.type_keys(&format!("\x1b[200~{}\x1b[201~\r", text.join("\n")));
    lines
}

/// Bob got `pasted`, every line, in order.
fn assert_all_arrived(bob: &mut Nc, pasted: &[String]) {
    let last = pasted.last().expect("lines were pasted");
    let mut got = bob.lines_until(last);
    got.push(last.clone());
    assert!(got == pasted, "lost or reordered: {got:#?}");
}

/// A paste far past the room's burst: every line reaches the room, whole
/// and in order, while the prompt says how many are still to go. The
/// host is not trusted and has just connected (Bob): its connection gets
/// less than its whole burst, which the client cannot see.
#[test]
fn a_paste_past_the_rooms_burst_reaches_the_room_whole_and_in_order() {
    // 500 lines at 200 a second: about 2.5 s. A burst of a second's worth
    // leaves a stalled server (a busy machine) its usual slack.
    let limits = ["--rate", "200", "--burst", "200", "--trust-addr", "none"];
    let (_server, mut bob, mut pty) = paste_room(&limits);
    let pasted = paste(&mut pty, 500);
    pty.screen.expect("sending… ");
    pty.screen.expect(" more > ");
    assert_all_arrived(&mut bob, &pasted);
    // Once all are sent, the prompt is bare again.
    pty.screen.expect_that("a bare prompt", |bytes| {
        let rows = Resizes::new(false).rows_of(bytes);
        rows.last()
            .is_some_and(|row| row.trim() == EDITOR_PROMPT.trim())
    });
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
}

/// A person who waits before pasting: the client's bucket is full, as is
/// the server's. The server counts a line when it reads it, and the first
/// of a burst (read by a server woken from idle) later than the next ones:
/// a client that spends its whole burst and then one line a token loses a
/// line (the 41st at the default limits) whenever that lag is longer.
#[test]
fn a_paste_after_a_pause_reaches_the_room_whole_and_in_order() {
    // A second's worth of slack for a server slowed by a busy machine.
    let (_server, mut bob, mut pty) = paste_room(&["--rate", "40", "--burst", "80"]);
    // The pause itself, not a wait for something: both buckets are full
    // within a second.
    std::thread::sleep(Duration::from_millis(1500));
    let pasted = paste(&mut pty, 100);
    assert_all_arrived(&mut bob, &pasted);
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
}

/// Alt-b, Alt-f, Alt-d and Alt-Backspace move and delete by word, as in
/// readline (a terminal sends Alt-key as ESC and the key).
#[test]
fn alt_keys_move_and_delete_by_word() {
    let (_server, mut bob, mut pty) = room(&[]);
    pty.type_keys("one two three four");
    // Alt-b, Alt-Backspace: `three ` goes.
    pty.type_keys("\x1bb\x1b\x7f");
    // Alt-b, Alt-d: `two` goes; Alt-f to the end of `four`.
    pty.type_keys("\x1bb\x1bd\x1bf!");
    pty.type_keys(ENTER);
    bob.expect_line("Max: one  four!");
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
}
