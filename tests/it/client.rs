//! The terminal client: `sockchat join` as a person or a bot meets it, on a
//! real pseudo-terminal (checked on a parsed screen) and in pipes.
//!
//! - prompts, colours, Ctrl-C / Ctrl-D / Ctrl-Z, resizes, a dumb terminal,
//!   the line editor (type-ahead, pastes, Tab completion, Alt keys);
//! - piped joins: bots, pacing past the burst, counts of refused lines,
//!   the server leaving or stopping to read;
//! - `join` against a fake, hostile server: nothing but sanitized text
//!   reaches the terminal and the client never waits forever.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use async_std::net::TcpListener;
use sockchat::protocol::message::reply::{self, GREETING};

use crate::support::terminal::{
    local_flags, physical_rows, screen_rows, sgr_escapes, size, Pty, CTRL_C, EDITOR_PROMPT,
};
use crate::support::{
    finish_blocking, join_command, run, sockchat, Nc, Running, Serve, Server, ESC, WAIT,
};

// ---------------------------------------------------------------------------
// The client on a terminal

const PROMPT: &str = "Please enter your username";

const CTRL_D: &str = "\x04";
const ENTER: &str = "\r";
const LEFT: &str = "\x1b[D";

/// `sockchat join` with stdin and stderr on the pty but stdout piped,
/// as in `sockchat join | tee chat.log`.
fn join_piped_out(server: &Server) -> Pty {
    join_in_shell(server, &[], "\"$0\" \"$@\" | cat")
}

/// `sockchat join` with `extra` arguments run by `sh -c script` on the
/// pty, the script naming it `"$0" "$@"`.
fn join_in_shell(server: &Server, extra: &[&str], script: &str) -> Pty {
    let command = server.join(extra);
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut shell = Command::new("sh");
    shell.arg("-c").arg(script).arg(command.get_program());
    shell.args(args);
    // The shell passes on the binary's scrubbed environment.
    for (var, value) in command.get_envs() {
        match value {
            Some(value) => shell.env(var, value),
            None => shell.env_remove(var),
        };
    }
    Pty::spawn(shell)
}

#[test]
fn the_name_prompt_repeats_until_the_name_is_valid() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &[], &[]);
    pty.screen.expect(PROMPT);
    pty.type_keys(ENTER);
    pty.screen.expect(PROMPT);
    pty.type_keys("   ");
    pty.type_keys(ENTER);
    pty.screen.expect("a name cannot be empty");
    pty.screen.expect(PROMPT);
    // The server's rules are checked before sending: the reason at once.
    pty.type_keys("Max Power");
    pty.type_keys(ENTER);
    pty.screen.expect("a name cannot contain spaces");
    pty.screen.expect(PROMPT);
    // dialoguer edits the line: Left moves back over the `x`.
    pty.type_keys("Mx");
    pty.type_keys(LEFT);
    pty.type_keys("a");
    pty.type_keys(ENTER);
    // On a terminal, server lines are green.
    pty.screen
        .expect("\x1b[32mServer: You are logged in as: Max");
    pty.screen.expect(EDITOR_PROMPT);
    let _bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("\x1b[32mServer: Bob joined the party!");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

#[test]
fn a_taken_name_on_a_terminal_asks_for_another() {
    let server = Server::start();
    let _max = Nc::login(server.addr, "Max");
    let mut pty = Pty::join(server.addr, &["--name", "max"], &[]);
    pty.screen.expect("the name max is taken");
    pty.screen.expect(PROMPT);
    pty.type_keys("Maxi");
    pty.type_keys(ENTER);
    pty.expect_logged_in("Maxi");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn no_color_keeps_the_chat_plain_on_a_terminal() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[("NO_COLOR", "1")]);
    pty.expect_logged_in("Max");
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("hi");
    pty.screen.expect("Bob: hi");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
    let screen = pty.screen.text();
    assert_eq!(sgr_escapes(&screen), Vec::<String>::new(), "{screen:?}");
}

#[test]
fn an_incoming_message_keeps_the_half_typed_line() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
    pty.expect_logged_in("Max");
    let mut bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("Bob joined the party!");
    pty.type_keys("hel");
    // Echoed: the editor holds the keys before Bob speaks.
    pty.screen.expect("hel");
    bob.send("incoming");
    pty.screen.expect(": incoming");
    // Printed above the prompt, which is drawn again with the keys typed.
    pty.screen.expect(&format!("{EDITOR_PROMPT}hel"));
    pty.type_keys("lo");
    pty.type_keys(ENTER);
    bob.expect_line("Max: hello");
    // A key typed before the editor asks again would go to the terminal.
    pty.screen.expect(EDITOR_PROMPT);
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

#[test]
fn the_server_leaving_hands_the_terminal_back() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &["--name", "Max", "--no-reconnect"], &[]);
    pty.expect_logged_in("Max");
    pty.type_keys("half a thought");
    pty.screen.expect("half a thought");
    assert!(server.stop().success());
    // The server's last words are shown, in order, before the client's.
    pty.screen.expect("Server: shutting down");
    pty.screen.expect("Server left.");
    assert_eq!(pty.exit_code(), 1);
    pty.assert_terminal_restored();
}

#[test]
fn quit_hands_the_terminal_back() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
    pty.expect_logged_in("Max");
    pty.type_keys("/quit");
    pty.type_keys(ENTER);
    pty.screen.expect("Server: Bye!");
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

#[test]
fn a_terminal_with_piped_output_still_prompts_for_the_name() {
    let server = Server::start();
    let mut pty = join_piped_out(&server);
    pty.screen.expect(PROMPT);
    pty.type_keys("Max");
    pty.type_keys(ENTER);
    pty.screen.expect("Server: You are logged in as: Max");
    let mut bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("Server: Bob joined the party!");
    // No line editor: the terminal reads the line, with the usual Enter.
    pty.type_keys("hello\n");
    bob.expect_line("Max: hello");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn ctrl_c_at_the_prompt_leaves_cleanly() {
    let mut server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
    pty.type_keys(CTRL_C);
    // A goodbye, not a dropped connection: the server logs no failure.
    bob.expect_line("Server: Max left the party.");
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
    assert!(!pty.screen.text().contains("Server left."));
    let log = server.process.stderr.expect("Server: Max left the party.");
    assert!(!log.contains("failed"), "{log}");
}

#[test]
fn keys_typed_ahead_of_the_name_prompt_and_after_enter_are_kept() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = Pty::join(server.addr, &[], &[]);
    // All typed at once, before the prompt shows: the name, then a line
    // for the chat, which waits for the editor.
    pty.type_keys("Max\rhello\r");
    bob.expect_line("Server: Max joined the party!");
    bob.expect_line("Max: hello");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
    pty.assert_terminal_restored();
}

/// dialoguer ignores Ctrl-D; Ctrl-C leaves with 130, as programs stopped
/// by it do, and the terminal as it was.
#[test]
fn ctrl_c_leaves_the_name_prompt_and_ctrl_d_does_not() {
    let server = Server::start();
    let mut pty = Pty::join(server.addr, &[], &[]);
    pty.screen.expect(PROMPT);
    // dialoguer reads keys in raw mode (echo off), so Ctrl-D is a key.
    pty.wait_for_echo_off();
    pty.type_keys(CTRL_D);
    pty.type_keys("Max");
    pty.screen.expect("Max");
    pty.type_keys(CTRL_C);
    assert_eq!(pty.exit_code(), 130);
    pty.assert_terminal_restored();
    assert!(!pty.screen.text().contains("logged in"));
}

#[test]
fn piped_stdin_on_a_terminal_is_never_prompted_for() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join_in_shell(&server, &[], "printf 'Max\\nhello\\n' | \"$0\" \"$@\"");
    bob.expect_line("Server: Max joined the party!");
    bob.expect_line("Max: hello");
    assert_eq!(pty.exit_code(), 0);
    let screen = pty.screen.text();
    assert!(!screen.contains(PROMPT), "{screen:?}");
}

/// How many times the abandon test gives up on a prompt being typed at:
/// a few by default, to keep the suite quick; more to measure, with
/// `SOCKCHAT_ABANDON_RUNS=100`.
fn abandon_runs() -> usize {
    std::env::var("SOCKCHAT_ABANDON_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(3)
}

/// The server goes away while the person is typing their name: `join`
/// gives up on the prompt (its thread, mid-key, cannot be stopped) and
/// the terminal is left exactly as `stty -a` saw it before.
#[test]
fn abandoning_the_name_prompt_leaves_the_terminal_exactly_as_it_was() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let before = dir.path().join("before");
    let after = dir.path().join("after");
    let script = format!(
        "stty -a > '{}'; \"$0\" \"$@\"; echo \"exit $?\"; stty -a > '{}'; echo stty done",
        before.display(),
        after.display()
    );
    for run in 0..abandon_runs() {
        let server = Server::start();
        let mut pty = join_in_shell(&server, &[], &script);
        pty.screen.expect(PROMPT);
        let stop = std::thread::spawn(move || server.stop());
        let deadline = std::time::Instant::now() + crate::support::WAIT;
        // Typing (a key, and rubbing it out) until the client gives up.
        let mut keys = ["a", "\x7f"].iter().cycle();
        while !pty.screen.shows_now("while waiting for your username") {
            assert!(std::time::Instant::now() < deadline, "never gave up");
            pty.type_keys(keys.next().unwrap_or(&"a"));
            // A fast typist's pace, so the pty's input queue never fills.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(stop.join().expect("the server's stop").success());
        pty.screen.expect("exit 1");
        pty.screen.expect("stty done");
        let read = |path: &std::path::Path| std::fs::read_to_string(path).expect("stty's output");
        assert_eq!(read(&after), read(&before), "run {run}");
    }
}

/// Ctrl-C and Ctrl-D leave as `/quit` does: the name is free at once,
/// for the next `join` (only a lost connection keeps the session).
#[test]
fn leaving_with_ctrl_c_or_ctrl_d_frees_the_name_at_once() {
    let server = Server::start();
    for key in [CTRL_C, CTRL_D, CTRL_D] {
        let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
        pty.expect_logged_in("Max");
        pty.type_keys(key);
        assert_eq!(pty.exit_code(), 0);
        pty.assert_terminal_restored();
    }
}

/// The password prompt turns echo off; Ctrl-C there must put it back (and
/// end with 130, as a program stopped by Ctrl-C does).
#[test]
fn ctrl_c_at_the_password_prompt_gives_the_terminal_back() {
    let server = Serve::new().args(&["--password", "s3cret-words"]).start();
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[]);
    pty.screen.expect("This room has a password");
    // Interrupt only once the prompt reads (echo off), as a person would.
    pty.wait_for_echo_off();
    pty.type_keys("\x03");
    assert_eq!(pty.exit_code(), 130);
    pty.assert_terminal_restored();
}

/// Eight people talk; on Max's screen each name has a colour of its own
/// (read from the parsed screen's cells). Alice, Bob and Max once shared
/// one, as did others: a hash alone spreads names, it does not part them.
/// On a 16-colour terminal only the styles differ (some share a hue, one
/// underlined), so `hues` says whether the colours alone must.
fn eight_people_get_eight_colours(env: &[(&str, &str)], hues: bool) {
    const NAMES: [&str; 7] = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace"];
    let server = Server::start();
    let mut command = server.join(&["--name", "Max", "--no-timestamps"]);
    command.envs(env.iter().copied());
    let mut pty = Pty::spawn_sized(command, 80, 40);
    pty.expect_logged_in("Max");
    let mut others: Vec<Nc> = NAMES.iter().map(|n| Nc::login(server.addr, n)).collect();
    for (name, nc) in NAMES.iter().zip(&mut others) {
        nc.send(&format!("hi, {name} here"));
        pty.screen.expect(&format!("{name} here"));
    }
    pty.type_keys("and Max here\r");
    pty.screen.expect("and Max here");
    let mut parser = vt100::Parser::new(size(40), size(80), 0);
    parser.process(pty.screen.bytes());
    let screen = parser.screen();
    let mut colours = std::collections::HashMap::new();
    for (row, text) in screen.rows(0, 80).enumerate() {
        let Some((name, _)) = text.split_once(": ") else {
            continue;
        };
        if name == "Max" || NAMES.contains(&name) {
            let row = u16::try_from(row).expect("a row of 40");
            let cell = screen.cell(row, 0).expect("a cell");
            let colour = format!("{:?}", cell.fgcolor());
            let style = format!(
                "{colour} on {:?}, bold {}, underlined {}",
                cell.bgcolor(),
                cell.bold(),
                cell.underline()
            );
            colours.insert(name.to_string(), if hues { colour } else { style });
        }
    }
    assert_eq!(colours.len(), 8, "every name on the screen: {colours:?}");
    let distinct: std::collections::HashSet<&String> = colours.values().collect();
    assert_eq!(distinct.len(), 8, "{env:?}: {colours:#?}");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn eight_people_get_eight_colours_on_a_24_bit_terminal() {
    let env = [("TERM", "xterm-256color"), ("COLORTERM", "truecolor")];
    eight_people_get_eight_colours(&env, true);
}

#[test]
fn eight_people_get_eight_colours_on_a_256_colour_terminal() {
    eight_people_get_eight_colours(&[("TERM", "xterm-256color")], true);
}

#[test]
fn eight_people_get_eight_styles_on_a_16_colour_terminal() {
    eight_people_get_eight_colours(&[("TERM", "xterm")], false);
}

/// `/nick` is told to the renamer once, not as an answer and again as the
/// room's notice.
#[test]
fn a_rename_is_told_to_the_renamer_once() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = Pty::join(server.addr, &["--name", "Max"], &[("NO_COLOR", "1")]);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
    pty.type_keys("/nick Maxi\r");
    bob.expect_line("Server: Max is now known as Maxi.");
    // A marker after it: everything about the rename is on the screen by then.
    bob.send("marker");
    pty.screen.expect("Bob: marker");
    let rows = screen_rows(pty.screen.bytes(), 24, 80);
    let told: Vec<&String> = rows.iter().filter(|row| row.contains("Maxi")).collect();
    assert_eq!(told.len(), 1, "{rows:#?}");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}

/// `/limits` and the refusal of a longer line say the same longest line,
/// the one a person can type; the refused line is shown shortened on one
/// row, not printed back whole.
#[test]
fn the_line_limit_is_told_alike_and_a_long_line_is_refused_on_one_row() {
    let server = Serve::new().args(&["--max-line-bytes", "200"]).start();
    let mut pty = Pty::join(
        server.addr,
        &["--name", "Max", "--no-timestamps"],
        &[("NO_COLOR", "1")],
    );
    pty.expect_logged_in("Max");
    pty.type_keys("/limits\r");
    pty.screen.expect("lines up to ");
    let told = pty.screen.expect(" bytes");
    let max: usize = told.trim_end_matches(" bytes").parse().expect("a number");
    let long = "x".repeat(1000);
    pty.type_keys(&format!("{long}\r"));
    pty.screen
        .expect(&format!("(not sent: longer than the room's {max} bytes)"));
    // Exactly `max` bytes pass.
    let mut bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("Bob joined the party!");
    let longest = "y".repeat(max);
    pty.type_keys(&format!("{longest}\r"));
    bob.expect_line(&format!("Max: {longest}"));
    let rows = screen_rows(pty.screen.bytes(), 24, 80);
    let refused: Vec<&String> = rows.iter().filter(|row| row.contains("xxxxx")).collect();
    assert_eq!(refused.len(), 1, "{rows:#?}");
    assert!(refused[0].contains("x… (not sent: "), "{rows:#?}");
    pty.type_keys(CTRL_D);
    assert_eq!(pty.exit_code(), 0);
}

// ---------------------------------------------------------------------------
// The line editor

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

// ---------------------------------------------------------------------------
// Prompts, pastes, bots and the transcript

const NAME_PROMPT: &str = "Please enter your username: ";
const PASSWORD_PROMPT: &str = "This room has a password: ";

/// Whether the terminal seen from `pty` echoes what is typed.
fn echoes(pty: &Pty) -> bool {
    local_flags(&pty.session) & libc::ECHO != 0
}

/// `join` on a pty, with a 256-colour TERM.
fn join_on_pty(server: &Server, extra: &[&str]) -> Pty {
    let mut command = server.join(extra);
    command.env("TERM", "xterm-256color");
    Pty::spawn(command)
}

// No prompt outlives its connection.

#[test]
fn a_name_typed_after_the_servers_login_timeout_still_logs_in() {
    let mut server = Serve::new().args(&["--login-timeout", "1"]).start();
    let mut pty = join_on_pty(&server, &[]);
    pty.screen.expect(NAME_PROMPT);
    // The server gives up on the idle connection while the person thinks.
    server.process.stderr.expect("no username within 1 s");
    pty.type_keys("Max\r");
    pty.screen.expect("Server: You are logged in as: Max");
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("/who");
    bob.expect_line("Server: Online (2): Max, Bob");
}

#[test]
fn a_password_and_name_typed_slowly_are_both_given_again() {
    let mut server = Serve::new()
        .args(&["--login-timeout", "1", "--password", "s3cret"])
        .start();
    let mut pty = join_on_pty(&server, &[]);
    pty.screen.expect(PASSWORD_PROMPT);
    pty.wait_for_echo_off();
    server.process.stderr.expect("no username within 1 s");
    pty.type_keys("s3cret\r");
    pty.screen.expect(NAME_PROMPT);
    server.process.stderr.expect("no username within 1 s");
    pty.type_keys("Max\r");
    pty.screen.expect("Server: You are logged in as: Max");
}

#[test]
fn a_server_that_shuts_down_during_the_name_prompt_is_reported_at_once() {
    let server = Server::start();
    let mut pty = join_on_pty(&server, &[]);
    pty.screen.expect(NAME_PROMPT);
    assert!(server.stop().success());
    // Nothing typed: the client sees the connection end and says so.
    pty.screen
        .expect("the server shut down while waiting for your username");
    assert_eq!(pty.exit_code(), 1);
    assert!(echoes(&pty), "the terminal was left without echo");
}

#[test]
fn at_the_password_prompt_help_explains_an_empty_enter_asks_again_and_quit_leaves() {
    let server = Serve::new().args(&["--password", "s3cret"]).start();
    let mut pty = join_on_pty(&server, &[]);
    pty.screen.expect(PASSWORD_PROMPT);
    pty.wait_for_echo_off();
    pty.type_keys("\r");
    pty.type_keys("/help\r");
    let shown = pty.screen.expect("/quit or Ctrl-D leaves.");
    // The empty Enter printed nothing: no second prompt before the help.
    assert!(!shown.contains(PASSWORD_PROMPT), "{shown:?}");
    pty.screen.expect(PASSWORD_PROMPT);
    pty.wait_for_echo_off();
    pty.type_keys("/quit\r");
    assert_eq!(pty.exit_code(), 0);
    assert!(echoes(&pty), "the terminal was left without echo");
}

// Pastes and bots arrive whole.

/// Twice the default rate, to keep it short; the burst as by default, so a
/// stalled server (a busy machine) has the usual second of slack before its
/// own bucket would overflow.
#[test]
fn a_piped_file_past_the_burst_arrives_whole_and_in_order() {
    let server = Serve::new()
        .args(&["--rate", "40", "--burst", "40"])
        .start();
    let mut watcher = Nc::login(server.addr, "watcher");
    let lines: Vec<String> = (1..=200).map(|n| n.to_string()).collect();
    let input = format!("bot\n{}\n", lines.join("\n"));
    let bot = std::thread::spawn({
        let command = server.join(&[]);
        move || finish_blocking(command, &input)
    });
    watcher.expect_line("Server: bot joined the party!");
    for line in &lines {
        watcher.expect_line(&format!("bot: {line}"));
    }
    watcher.expect_line("Server: bot left the party.");
    let done = bot.join().expect("the bot's thread");
    assert_eq!(done.code(), Some(0), "{done:?}");
    assert!(!done.stdout.contains("Error"), "{done:?}");
}

/// The README's bot recipe, run twice in a row: the first run's end of
/// input leaves as `/quit` does, so its name is free for the second (a
/// session kept for `--resume-window` would hold it).
#[test]
fn the_readme_bot_recipe_runs_twice_in_a_row() {
    let server = Server::start();
    let mut watcher = Nc::login(server.addr, "watcher");
    for _ in 0..2 {
        let run = finish_blocking(server.join(&[]), "deploybot\nBuild 142 is green\n");
        assert_eq!(run.code(), Some(0), "{run:?}");
        watcher.expect_line("Server: deploybot joined the party!");
        watcher.expect_line("deploybot: Build 142 is green");
        watcher.expect_line("Server: deploybot left the party.");
    }
}

/// A server that takes the connection and then says nothing: a piped
/// `join` gives up in the time it was given (here `--login-timeout 1`;
/// 10 s by default), with one line on stderr.
#[test]
fn a_piped_join_to_a_server_that_never_answers_gives_up_in_one_line() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = silent.local_addr().expect("its address");
    // Never accepted: the kernel completes the connection into the
    // listener's queue, and nothing is ever said on it.
    let command = crate::support::join_command(addr, &["--login-timeout", "1"]);
    let run = finish_blocking(command, "deploybot\nBuild 142 is green\n");
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert_eq!(
        run.stderr,
        "sockchat: the server accepted the connection but said nothing within 1 s\n"
    );
    assert_eq!(run.stdout, "");
    drop(silent);
}

#[test]
fn a_piped_bot_whose_lines_were_refused_says_how_many_and_fails() {
    let server = Server::start();
    let long = "x".repeat(5000);
    let input = format!("bot\n/msg nobody hi\n{long}\nfine\n");
    let run = finish_blocking(server.join(&[]), &input);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stdout
            .contains("/msg nobody hi (not sent: no user named nobody is online)"),
        "{run:?}"
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert_eq!(last, "sockchat: the server refused 2 lines of the input");
}

#[test]
fn a_piped_line_too_long_to_read_is_counted_as_not_sent() {
    let server = Server::start();
    let huge = "x".repeat(70 * 1024);
    let input = format!("bot\n{huge}\nfine\n");
    let run = finish_blocking(server.join(&[]), &input);
    assert_eq!(run.code(), Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("sockchat: a line was not sent: it is longer than 65536 bytes"),
        "{run:?}"
    );
    let last = run.stderr.lines().last().unwrap_or_default();
    assert_eq!(last, "sockchat: the server refused 1 line of the input");
}

// A transcript that reads right.

#[test]
fn in_logger_mode_your_own_lines_go_to_the_log_as_the_room_sees_them() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let log = crate::support::write_file(dir.path(), "room.log", "");
    let join = server.join(&["--name", "Max"]);
    let mut shell = Command::new("sh");
    shell
        .arg("-c")
        .arg("\"$0\" \"$@\" > \"$LOG\"")
        .arg(join.get_program())
        .args(join.get_args())
        .env("LOG", &log);
    for (var, value) in join.get_envs() {
        match value {
            Some(value) => shell.env(var, value),
            None => shell.env_remove(var),
        };
    }
    let mut pty = Pty::spawn(shell);
    let mut bob = Nc::login(server.addr, "Bob");
    bob.expect_line("Server: Max joined the party!");
    pty.type_keys("hello all\n/me waves\n/msg Bob psst\n");
    bob.expect_line("Max: hello all");
    bob.expect_line("* Max waves");
    bob.expect_line("Max (private): psst");
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
    let written = std::fs::read_to_string(&log).expect("read the log");
    let mine: Vec<&str> = written
        .lines()
        .filter(|l| !l.starts_with("Server: ") && !l.starts_with("Connected to: "))
        .collect();
    assert_eq!(
        mine,
        ["Max: hello all", "* Max waves", "To Bob (private): psst"],
        "{written:?}"
    );
}

#[test]
fn on_a_terminal_your_own_lines_read_as_the_room_sees_them() {
    let server = Server::start();
    let mut pty = join_on_pty(&server, &["--name", "Max"]);
    pty.expect_logged_in("Max");
    let mut bob = Nc::login(server.addr, "Bob");
    pty.screen.expect("Bob joined the party!");
    pty.type_keys("hello there\r");
    bob.expect_line("Max: hello there");
    let shown = pty.screen.expect("Max\x1b[0m: hello there");
    // In Max's colour (256 colours here), not left as typed after the prompt.
    assert!(shown.contains("38;5;"), "{shown:?}");
    assert!(!shown.contains("> hello there"), "{shown:?}");
    pty.type_keys("/msg Bobb hi\r");
    pty.screen
        .expect("(not sent: no user named Bobb is online)");
    pty.type_keys("\x04");
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn a_host_that_does_not_resolve_is_said_without_debug_output() {
    let run = finish_blocking(
        sockchat(["join", "--host", "nosuch.invalid", "--name", "Max"]),
        "",
    );
    assert_eq!(run.code(), Some(1));
    assert!(
        run.stderr
            .starts_with("sockchat: cannot connect to nosuch.invalid:3000: cannot find the host"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("(\""), "{}", run.stderr);
}

#[test]
fn a_piped_bot_whose_name_is_taken_is_not_told_to_type_another() {
    let server = Server::start();
    let _max = Nc::login(server.addr, "Max");
    let mut bot = Running::spawn("join", server.join(&[]));
    bot.type_in("max\nhello\n");
    bot.close_stdin();
    let status = bot.wait();
    assert_eq!(status.code(), Some(1));
    let said = bot.stderr.text();
    assert_eq!(
        said,
        "sockchat: the server refused the name max: the name max is taken\n"
    );
}

#[test]
fn a_piped_bot_sees_its_private_messages_confirmed_but_not_its_chat_echoed() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let run = finish_blocking(server.join(&["--name", "bot"]), "hello\n/msg Bob psst\n");
    bob.lines_until("bot (private): psst");
    assert_eq!(run.code(), Some(0), "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.contains(&"To Bob (private): psst"), "{run:?}");
    assert!(!lines.contains(&"bot: hello"), "{run:?}");
    assert!(!lines.contains(&"Server: bot joined the party!"), "{run:?}");
}

#[test]
fn history_asked_for_is_shown_and_a_later_line_does_not_count_it_as_dropped() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    bob.send("earlier");
    // Kept by then: Bob's next line is answered after it.
    bob.send("/who");
    bob.lines_until("Server: Online (1): Bob");
    let run = finish_blocking(server.join(&["--name", "bot"]), "/history\nafter it\n");
    bob.lines_until("bot: after it");
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert!(!run.stdout.contains("not sent"), "{run:?}");
    assert!(
        run.stdout.contains("Server: The last 1 message:\n"),
        "{run:?}"
    );
    // Its lines carry local times (or none), not the UTC a plain client reads.
    assert!(!run.stdout.contains("UTC"), "{run:?}");
}

// ---------------------------------------------------------------------------
// Piped joins

#[test]
fn two_piped_clients_chat_without_color() {
    let server = Server::start();
    let mut max = Running::spawn("Max", server.join(&["--name", "Max"]));
    max.stdout.expect("Server: You are logged in as: Max\n");

    // Bob's first line is his name; the rest is what he says.
    let mut bob = Running::spawn("Bob", server.join(&[]));
    bob.type_in("Bob\nhello\n");
    bob.close_stdin();
    max.stdout.expect("Server: Bob joined the party!\n");
    max.stdout.expect("Bob: hello\n");
    assert!(bob.wait().success(), "{}", bob.stderr.text());
    let bob_out = bob.stdout.text();
    assert!(
        bob_out.contains("Server: You are logged in as: Bob\n"),
        "{bob_out:?}"
    );
    max.stdout.expect("Server: Bob left the party.\n");

    max.close_stdin();
    assert!(max.wait().success(), "{}", max.stderr.text());
    for (who, out) in [("Max", max.stdout.text()), ("Bob", bob_out)] {
        assert!(
            !out.contains(ESC),
            "{who}'s piped stdout has an escape: {out:?}"
        );
    }
}

#[test]
fn piped_join_with_a_taken_name_fails_clearly() {
    let server = Server::start();
    let _max = Nc::login(server.addr, "Max");
    let mut late = Running::spawn("late", server.join(&[]));
    late.type_in("max\nhello\n");
    late.close_stdin();
    let status = late.wait();
    assert_eq!(status.code(), Some(1), "{}", late.stderr.text());
    let stderr = late.stderr.text();
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.contains("max") && stderr.contains("taken"),
        "{stderr:?}"
    );
}

#[test]
fn piped_join_without_a_name_fails_clearly() {
    let server = Server::start();
    let mut nameless = Running::spawn("nameless", server.join(&[]));
    nameless.close_stdin();
    assert_eq!(nameless.wait().code(), Some(1));
    let stderr = nameless.stderr.text();
    assert!(stderr.contains("no username"), "{stderr:?}");
}

#[test]
fn the_server_leaving_ends_a_piped_join() {
    let server = Server::start();
    let mut max = Running::spawn("Max", server.join(&["--name", "Max"]));
    max.stdout.expect("Server: You are logged in as: Max\n");
    assert!(server.stop().success());
    max.stdout.expect("Server: shutting down\nServer left.\n");
    assert_eq!(max.wait().code(), Some(1), "{}", max.stderr.text());
}

#[test]
fn quit_with_words_after_it_is_a_clean_leave() {
    let server = Server::start();
    let mut max = Running::spawn("Max", server.join(&["--name", "Max"]));
    max.stdout.expect("Server: You are logged in as: Max\n");
    // stdin stays open: only the server's close after /quit ends the run.
    max.type_in("/QUIT see you all\n");
    max.stdout.expect("Server: Bye!\n");
    assert_eq!(max.wait().code(), Some(0), "{}", max.stderr.text());
    assert!(!max.stdout.text().contains("Server left."));
}

// ---------------------------------------------------------------------------
// A server that stops reading

/// A server that greets, logs the client in, then never reads again.
fn server_that_stops_reading() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    // Small, so that the client's writes fill it soon.
    socket.set_recv_buffer_size(4096).expect("set SO_RCVBUF");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    socket.bind(&any.into()).expect("bind");
    socket.listen(1).expect("listen");
    let listener: std::net::TcpListener = socket.into();
    let addr = listener.local_addr().expect("local addr");
    let thread = std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let _ = writeln!(stream, "{GREETING}");
        let mut name = [0u8; 64];
        let _ = stream.read(&mut name);
        let _ = writeln!(stream, "{}", reply::logged_in("Max"));
        // Hold the connection open, unread, until the client goes.
        std::thread::sleep(Duration::from_secs(60));
    });
    (addr, thread)
}

#[test]
fn a_piped_join_gives_up_on_a_server_that_stopped_reading() {
    let (addr, _server) = server_that_stops_reading();
    let mut child = join_command(addr, &["--name", "Max"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start join");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Far more than the socket buffers hold, then the end of the input.
    std::thread::spawn(move || {
        let line = format!("{}\n", "x".repeat(3000));
        for _ in 0..10_000 {
            if stdin.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    let started = Instant::now();
    let limit = Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for join") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("join still waits on a server that stopped reading after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "join reported success");
}

// ---------------------------------------------------------------------------
// Against a hostile server

/// The line the client prints for a line over its 64 KiB cap is short and
/// says why; this is the part the test relies on.
const TOO_LONG_HINT: &str = "too long";

/// `sockchat join --name Max EXTRA…` run against `port`, stdin held open.
fn join_port(port: u16, extra: &[&str]) -> Running {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut command = join_command(addr, &["--name", "Max"]);
    command.args(extra);
    Running::spawn("join", command)
}

/// The fake server's listening socket on 127.0.0.1, any free port.
fn listen() -> (TcpListener, u16) {
    let listener = run(TcpListener::bind("127.0.0.1:0")).expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local addr").port();
    (listener, port)
}

/// Accepts the client's connection (waiting at most `WAIT`) and greets it.
fn accept(listener: &TcpListener) -> Nc {
    let accepted = run(async_std::future::timeout(WAIT, listener.accept()));
    let (stream, _) = accepted
        .expect("the client did not connect")
        .expect("accept failed");
    let mut server = Nc::from_tcp(stream);
    // `join` waits for the greeting before it gives a name.
    server.send(GREETING);
    server
}

/// `join --name Max` logged in to the fake server: the client, the
/// server's end, and the listener (kept for as long as the test runs).
fn logged_in_max() -> (Running, Nc, TcpListener) {
    let (listener, port) = listen();
    let mut client = join_port(port, &[]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    server.send(LOGGED_IN);
    client.stdout.expect("Server: You are logged in as: Max\n");
    // The rooms, asked for Tab as it logs in (unanswered here).
    assert_eq!(next_line(&mut server), "/rooms");
    (client, server, listener)
}

/// The client's next line that is not empty, without its label: `join`
/// sends an empty line first (a probe for TLS servers), then `/tagged`,
/// which this fake server answers as ours does, with no limits.
fn next_line(server: &mut Nc) -> String {
    loop {
        let line = server.line();
        if line == sockchat::protocol::tagged::SWITCH {
            server.send(TAGGED_ON);
            continue;
        }
        if !line.is_empty() {
            let (_, text) = sockchat::protocol::tagged::split_label(&line);
            return text.to_string();
        }
    }
}

/// Tagged mode on, with no limits, as this fake server says it.
const TAGGED_ON: &str = "~t=1000,rate=0,burst=0,max=4096 Server: Tagged mode on.";

/// Max's login, as this fake server says it.
const LOGGED_IN: &str = "~t=1000,reply=login,name=Max Server: You are logged in as: Max";

/// Deterministic pseudo-random bytes (xorshift), every value included.
fn garbage(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes: Vec<u8> = (0..=255).collect();
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// Fails unless `out` is UTF-8 whose only control character is `\n`.
fn assert_terminal_safe(what: &str, out: &[u8]) {
    let text = std::str::from_utf8(out).unwrap_or_else(|e| panic!("{what} is not UTF-8: {e}"));
    for (i, c) in text.char_indices() {
        assert!(
            c == '\n' || !c.is_control(),
            "{what} has control character {c:?} at byte {i}: {:?}",
            &text[i.saturating_sub(40)..(i + 40).min(text.len())]
        );
    }
}

/// Attack lines (without `\n`) and what the client must print for each:
/// control characters as caret text, not half-stripped debris, and the
/// chat-text rules applied.
const ATTACKS: &[(&[u8], &str)] = &[
    (b"Max: \x1b[31mred\x1b[0m", "Max: ^[[31mred^[[0m"),
    (b"Bob: \x1b[2J\x1b[Hcleared", "Bob: ^[[2J^[[Hcleared"),
    (
        b"Server: \x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07copied",
        "Server: ^[]52;c;Y3VybCBldmlsLnNoIHwgc2g=^Gcopied",
    ),
    (b"\x1b]0;pwned\x1b\\title", "^[]0;pwned^[\\title"),
    (
        b"Bob: hi\rServer: admin joined",
        "Bob: hi^MServer: admin joined",
    ),
    ("Bob: a\u{9b}31mb".as_bytes(), "Bob: a<U+009B>31mb"),
    ("Bob: \u{85}next".as_bytes(), "Bob: <U+0085>next"),
    (b"Bob: ding\x07\x07", "Bob: ding^G^G"),
    (
        b"Bob: bad \xff\xfe utf8 \xc3",
        "Bob: bad \u{fffd}\u{fffd} utf8 \u{fffd}",
    ),
    (
        b"Bob: nul\x00 del\x7f bs\x08 vt\x0b ff\x0c",
        "Bob: nul^@ del^? bs^H vt^K ff^L",
    ),
    (b"Bob: tab\there", "Bob: tab here"),
    (b"Bob: crlf\r", "Bob: crlf"),
    (
        "Bob: hi\u{2028}Server: admin joined".as_bytes(),
        "Bob: hi Server: admin joined",
    ),
    (
        "Bob: \u{202E}nimda".as_bytes(),
        "Bob: nimda",
    ),
    (
        b"Bob:                                                                           Server: admin joined",
        "Bob:    Server: admin joined",
    ),
];

#[test]
fn a_hostile_server_cannot_reach_the_terminal() {
    let (listener, port) = listen();
    let mut client = join_port(port, &[]);
    let mut server = accept(&listener);
    // Lines before the login answer are not shown at all.
    server.send_raw(b"Server: \x1b[2J\x1b]0;hi\x07Welcome, type a name\n");
    assert_eq!(next_line(&mut server), "Max");
    server.send(LOGGED_IN);
    client.stdout.expect("Server: You are logged in as: Max\n");

    let mut attack = Vec::new();
    for (raw, _) in ATTACKS {
        attack.extend_from_slice(raw);
        attack.push(b'\n');
    }
    server.send_raw(&attack);
    // 1 MiB without a line end, in pieces, then the line end.
    let mib = vec![b'A'; 64 * 1024];
    for _ in 0..16 {
        server.send_raw(&mib);
    }
    server.send_raw(b"\nafter the long line\n");
    server.send_raw(&garbage(16 * 1024));
    server.send_raw(b"\nend of garbage\n");
    client.stdout.expect("end of garbage\n");
    server.shutdown();
    drop(server);

    let status = client.wait();
    let stderr = client.stderr.bytes().to_vec();
    let out = client.stdout.bytes().to_vec();
    assert_eq!(
        status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&stderr)
    );
    assert_terminal_safe("stdout", &out);
    assert_terminal_safe("stderr", &stderr);

    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], format!("Connected to: 127.0.0.1:{port}"));
    assert_eq!(lines[1], "Server: You are logged in as: Max");
    assert!(!text.contains("Welcome"), "a pre-login line was shown");
    for (i, (raw, shown)) in ATTACKS.iter().enumerate() {
        assert_eq!(
            lines[2 + i],
            *shown,
            "attack {:?}",
            String::from_utf8_lossy(raw)
        );
    }
    let skipped = lines[2 + ATTACKS.len()];
    assert!(
        skipped.contains(TOO_LONG_HINT) && skipped.len() < 200,
        "expected a short notice for the 1 MiB line, got {:?}",
        &skipped[..skipped.len().min(200)]
    );
    assert_eq!(lines[3 + ATTACKS.len()], "after the long line");
    assert!(
        lines.iter().all(|l| l.len() < 20_000),
        "no part of the 1 MiB line may be shown"
    );
    assert_eq!(lines[lines.len() - 2], "end of garbage");
    assert_eq!(lines[lines.len() - 1], "Server left.");
}

#[test]
fn a_refused_login_exits_with_the_sanitized_reason() {
    let (listener, port) = listen();
    let mut client = join_port(port, &[]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    server.send_raw(b"~t=1000,error=name Server: Error: \x1b[31mname \x9b\xc2\x9btaken\x07\r\n");

    let status = client.wait();
    let stderr = client.stderr.bytes().to_vec();
    let out = client.stdout.bytes().to_vec();
    assert_eq!(status.code(), Some(1));
    assert_terminal_safe("stdout", &out);
    assert_terminal_safe("stderr", &stderr);
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(
        stderr.contains("refused the name Max: [31mname \u{fffd}taken"),
        "{stderr:?}"
    );
}

#[test]
fn a_server_that_hangs_up_during_login_ends_the_client() {
    let (listener, port) = listen();
    let mut client = join_port(port, &[]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    drop(server);

    let status = client.wait();
    assert_eq!(status.code(), Some(1));
    let stderr = client.stderr.text();
    assert!(
        stderr.contains("closed the connection while logging in"),
        "{stderr:?}"
    );
}

/// How long these tests let the client wait for a login answer.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(1);

#[test]
fn a_server_that_never_answers_the_login_is_given_up_on() {
    let (listener, port) = listen();
    let mut client = join_port(port, &["--login-timeout", "1"]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    let asked = Instant::now();
    let status = client.wait();
    assert_eq!(status.code(), Some(1));
    assert!(asked.elapsed() >= LOGIN_TIMEOUT - Duration::from_millis(100));
    let stderr = client.stderr.text();
    assert!(
        stderr.contains("did not answer the login within 1 s"),
        "{stderr:?}"
    );
    drop(server);
}

#[test]
fn a_server_that_trickles_lines_instead_of_answering_is_given_up_on() {
    let (listener, port) = listen();
    let mut client = join_port(port, &["--login-timeout", "1"]);
    let mut server = accept(&listener);
    assert_eq!(next_line(&mut server), "Max");
    let asked = Instant::now();
    // A line every 300 ms: a timeout restarted by each line would never fire.
    while asked.elapsed() < WAIT && client.is_running() {
        if server.try_send_raw(b"Server: still thinking\n").is_err() {
            break;
        }
        // Pacing, not waiting for anything: the loop ends when the client does.
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        !client.is_running(),
        "the client still waits for a login answer after {:?}",
        asked.elapsed()
    );
    assert_eq!(client.wait().code(), Some(1));
}

/// How long the client waits, once it has stopped sending, for the server
/// to close (`CLOSE_TIMEOUT` in `src/client/mod.rs`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn a_server_that_stops_answering_cannot_hold_the_client_at_exit() {
    let (mut client, mut server, _listener) = logged_in_max();

    // From here on the server neither sends nor closes.
    client.type_in("hello\nlast words\n");
    client.close_stdin();
    let ended = Instant::now();
    assert_eq!(next_line(&mut server), "hello");
    assert_eq!(next_line(&mut server), "last words");
    // Then the client leaves as `/quit` does and says it is done sending
    // (FIN), and waits for a close that never comes, but only for so long.
    assert_eq!(next_line(&mut server), "/quit");
    server.expect_closed();
    let status = client.exit_within(CLOSE_TIMEOUT + Duration::from_secs(2));
    let status = status.unwrap_or_else(|| {
        panic!(
            "the client is still running after {:?}; stderr:\n{}",
            ended.elapsed(),
            client.stderr.text()
        )
    });
    let stderr = client.stderr.expect_end();
    assert_eq!(
        status.code(),
        Some(0),
        "after {:?}: {stderr}",
        ended.elapsed()
    );
    let out = client.stdout.expect_end();
    assert!(!out.contains("Server left."), "{out:?}");
    drop(server);
}

/// The next line the client sends that is not empty.
fn next_sent(server: &mut Nc) -> String {
    loop {
        let line = server.line();
        if !line.is_empty() {
            return line;
        }
    }
}

/// A server whose catch-up block comes short (its header promises three
/// lines, two come, then the footer, as from a server that dropped lines
/// from a block's middle): the client does not call it complete, but
/// asks for the last three again (ids are opaque: there is no "the id
/// before it"), and shows each line once, in the server's order.
#[test]
fn a_short_catch_up_block_is_asked_for_again_before_it_is_called_complete() {
    let (listener, port) = listen();
    let mut client = join_port(port, &[]);
    let mut server = accept(&listener);
    assert_eq!(next_sent(&mut server), sockchat::protocol::tagged::SWITCH);
    server.send("~t=1000,rate=0,burst=0,max=4096 Server: Tagged mode on.");
    let name = next_sent(&mut server);
    assert!(name.ends_with("Max"), "{name:?}");
    let token = "0123456789abcdef0123456789abcdef";
    server.send(&format!(
        "~t=1000,reply=login,name=Max,session={token},last=11 Server: You are logged in as: Max"
    ));
    for line in [
        "~t=1000,history=3,missed=0 Server: The last 3 messages before you came (times UTC):",
        "~id=7,t=1000,h Ann: one",
        "~id=9,t=1000,h Ann: three",
        "~t=1000,history=end Server: End of the last 3 messages.",
        "~id=11,t=1000,kind=join,from=Max Server: Max joined the party!",
    ] {
        server.send(line);
    }
    // The rooms, asked for Tab as it logged in (unanswered here).
    assert!(next_sent(&mut server).ends_with(" /rooms"));
    let asked = next_sent(&mut server);
    let (label, text) = asked
        .strip_prefix('~')
        .and_then(|rest| rest.split_once(' '))
        .unwrap_or_else(|| panic!("not a labeled line: {asked:?}"));
    assert_eq!(text, "/history 3");
    for line in [
        format!("~t=1000,history=3,missed=0,re={label} Server: The last 3 messages (times UTC):"),
        "~id=7,t=1000,h Ann: one".to_string(),
        "~id=8,t=1000,h Ann: two".to_string(),
        "~id=9,t=1000,h Ann: three".to_string(),
        format!("~t=1000,history=end,re={label} Server: End of the last 3 messages."),
        "~id=12,t=2000 Ann: live".to_string(),
    ] {
        server.send(&line);
    }
    client.stdout.expect("Ann: live\n");
    client.close_stdin();
    // The end of input leaves as `/quit` does, then closes.
    let quit = next_sent(&mut server);
    assert!(quit.ends_with("/quit"), "{quit:?}");
    server.expect_closed();
    drop(server);
    let status = client.exit_within(WAIT).expect("the client exits");
    let out = client.stdout.expect_end();
    assert_eq!(status.code(), Some(0), "{}", client.stderr.text());
    let shown: Vec<&str> = out.lines().filter(|l| l.starts_with("Ann: ")).collect();
    assert_eq!(
        shown,
        ["Ann: one", "Ann: two", "Ann: three", "Ann: live"],
        "{out}"
    );
    assert!(out.contains("── the last 3 messages ──"), "{out}");
    assert!(!out.contains("did not arrive"), "{out}");
}
