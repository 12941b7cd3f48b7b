//! The line editor of `sockchat join` on a real pseudo-terminal: nothing
//! typed is lost or reordered, whatever the speed; Ctrl-C, Ctrl-Z and
//! resizes leave the screen and the terminal right (checked on a parsed
//! screen, scrollback included); a terminal the editor cannot drive still
//! chats; Tab completes commands and names.

use std::num::NonZeroU16;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::terminal::{local_flags, Pty, EDITOR_PROMPT};
use crate::support::{Nc, Running, Server, WAIT};

const PROMPT: &str = "Please enter your username";
const CTRL_C: &str = "\x03";
const ENTER: &str = "\r";

/// The size the tests' terminal starts at.
const ROWS: u16 = 30;
const COLS: u16 = 100;

/// `join` on a pty of [`ROWS`]×[`COLS`], whatever terminal runs the tests.
fn join(server: &Server, extra: &[&str], env: &[(&str, &str)]) -> Pty {
    let mut command = server.join(extra);
    command.envs(env.iter().copied());
    let mut pty = Pty::spawn(command);
    // Before the login is done, so before the editor draws anything that
    // depends on the width (the pty starts at 80×24).
    pty.session
        .get_process_mut()
        .set_window_size(COLS, ROWS)
        .expect("size the pty");
    pty
}

/// Sizes the terminal took, each from a byte of the output on.
struct Resizes(Vec<(usize, u16, u16)>);

impl Resizes {
    fn new() -> Resizes {
        Resizes(Vec::new())
    }

    /// Resizes the pty (the kernel tells sockchat with SIGWINCH). Call it
    /// only once everything sockchat drew so far has been read.
    fn resize(&mut self, pty: &mut Pty, rows: u16, cols: u16) {
        self.0.push((pty.screen.bytes().len(), rows, cols));
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
        let size = |n: u16| NonZeroU16::new(n).expect("a size is not 0");
        let mut parser = vt100::Parser::new(size(ROWS), size(COLS), 10_000);
        let mut from = 0;
        for &(at, rows, cols) in &self.0 {
            parser.process(&bytes[from..at]);
            parser.set_size(size(rows), size(cols));
            from = at;
        }
        parser.process(&bytes[from..]);
        let screen = parser.screen_mut();
        screen.set_scrollback(usize::MAX);
        let back = screen.scrollback();
        let (_, cols) = screen.size();
        let mut all = Vec::new();
        for offset in (1..=back).rev() {
            screen.set_scrollback(offset);
            all.extend(screen.rows(0, cols.get()).next());
        }
        screen.set_scrollback(0);
        all.extend(screen.rows(0, cols.get()));
        while all.last().is_some_and(|row| row.trim().is_empty()) {
            all.pop();
        }
        all
    }
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

/// Rows that are a prompt and nothing else.
fn bare_prompts(rows: &[String]) -> Vec<&String> {
    rows.iter().filter(|row| row.trim() == ">").collect()
}

#[test]
fn type_ahead_and_a_paste_in_one_write_arrive_whole_and_in_order() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join(&server, &["--name", "Max"], &[]);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
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
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join(&server, &["--name", "Max"], &[]);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
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
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join(&server, &["--name", "Max"], &[("NO_COLOR", "1")]);
    pty.expect_logged_in("Max");
    bob.expect_line("Server: Max joined the party!");
    bob.send("before");
    pty.screen.expect("Bob: before");
    pty.screen.expect(EDITOR_PROMPT);
    // 150 characters at 100 columns: the input takes two rows.
    let typed: String = (0..150u8).map(|i| char::from(b'a' + i % 26)).collect();
    pty.type_keys(&typed);
    // A resize must come once the input is drawn whole: the last rows of
    // the parsed screen are the prompt and the 150 characters.
    let input = format!("{EDITOR_PROMPT}{typed}");
    let mut resizes = Resizes::new();
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

#[test]
fn a_dumb_terminal_gets_plain_lines_that_still_chat() {
    let server = Server::start();
    let mut bob = Nc::login(server.addr, "Bob");
    let mut pty = join(
        &server,
        &["--name", "Max"],
        &[("TERM", "dumb"), ("NO_COLOR", "1")],
    );
    pty.screen.expect("Server: You are logged in as: Max");
    bob.expect_line("Server: Max joined the party!");
    // The terminal's own line mode: it echoes, and Enter ends the line.
    wait_for_termios(&pty, "in line mode", is_cooked);
    pty.type_keys("hi from emacs\r");
    bob.expect_line("Max: hi from emacs");
    bob.send("hello dumb");
    pty.screen.expect("Bob: hello dumb");
    pty.type_keys(CTRL_C);
    bob.expect_line("Server: Max left the party.");
    assert_eq!(pty.exit_code(), 0);
    let screen = pty.screen.text();
    assert!(!screen.contains("\x1b[?2004h"), "{screen:?}");
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
    let rows = Resizes::new().rows(&pty);
    assert!(bare_prompts(&rows).is_empty(), "{rows:#?}");
    assert_eq!(rows.last().map(String::as_str), Some("Server: Bye!"));

    let mut pty = join(&server, &["--name", "Max"], &[("NO_COLOR", "1")]);
    pty.expect_logged_in("Max");
    assert!(server.stop().success());
    pty.screen.expect("Server left.");
    assert_eq!(pty.exit_code(), 1);
    let rows = Resizes::new().rows(&pty);
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
