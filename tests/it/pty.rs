//! `sockchat join` on a real pseudo-terminal, as a person uses it: the
//! name prompt, colour, a half-typed line surviving incoming messages, and
//! the terminal handed back as it was found on every way out. And
//! `sockchat serve` on one: coloured log lines under a live status line.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::Expect;

use crate::binary::{sockchat, Nc, Output, Server};
use crate::password::echo_is_on;
use crate::util::WAIT;

pub(crate) const PROMPT: &str = "Please enter your username";
/// The line editor's prompt: once it shows, keys go to the editor.
pub(crate) const EDITOR_PROMPT: &str = "> ";
pub(crate) const CTRL_C: &str = "\x03";
const CTRL_D: &str = "\x04";
pub(crate) const ENTER: &str = "\r";

/// `sockchat join` running on a pty.
pub(crate) struct Pty {
    pub(crate) session: OsSession,
    /// What the terminal shows, escapes included.
    pub(crate) screen: Output,
}

impl Pty {
    pub(crate) fn join(server: &Server, extra: &[&str], env: &[(&str, &str)]) -> Pty {
        let mut command = server.join(extra);
        command.envs(env.iter().copied());
        Pty::spawn(command)
    }

    /// `sockchat join` with stdin and stderr on the pty but stdout piped,
    /// as in `sockchat join | tee chat.log`.
    fn join_piped_out(server: &Server) -> Pty {
        let command = server.join(&[]);
        let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg("\"$0\" \"$@\" | cat")
            .arg(command.get_program());
        shell.args(args);
        for (var, value) in command.get_envs() {
            match value {
                Some(value) => shell.env(var, value),
                None => shell.env_remove(var),
            };
        }
        Pty::spawn(shell)
    }

    /// `sockchat serve --host 127.0.0.1 --port 0` with stdout and stderr
    /// on the pty, and the address it listens on.
    fn serve(env: &[(&str, &str)]) -> (Pty, SocketAddr) {
        let mut command = sockchat(["serve", "--host", "127.0.0.1", "--port", "0"]);
        command.envs(env.iter().copied());
        // SAFETY: as in `spawn`: only tcgetattr and tcsetattr after fork.
        unsafe { command.pre_exec(keep_output_on_interrupt) };
        let mut pty = Pty::spawn(command);
        pty.screen.expect("Server is running on: ");
        let line = pty.screen.expect("\n");
        let addr = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("unexpected banner: {line:?}"));
        (pty, addr)
    }

    pub(crate) fn spawn(mut command: Command) -> Pty {
        if !command.get_envs().any(|(var, _)| var == "TERM") {
            command.env("TERM", "xterm");
        }
        // SAFETY: the hook runs between fork and exec and makes only
        // async-signal-safe calls (tcgetattr, tcsetattr).
        unsafe { command.pre_exec(like_a_login_terminal) };
        let session = OsSession::spawn(command).expect("start sockchat on a pty");
        let master = session
            .get_process()
            .get_raw_handle()
            .expect("a second handle on the pty");
        Pty {
            screen: Output::read("the terminal", master),
            session,
        }
    }

    /// Waits for the login, then for the line editor: from then on, keys
    /// go to the editor (typed earlier, the terminal would take them).
    pub(crate) fn expect_logged_in(&mut self, name: &str) {
        self.screen
            .expect(&format!("Server: You are logged in as: {name}"));
        self.screen.expect(EDITOR_PROMPT);
    }

    pub(crate) fn type_keys(&mut self, keys: &str) {
        self.session.send(keys).expect("type on the pty");
    }

    /// Waits for the end of the output and for the exit; the exit code.
    pub(crate) fn exit_code(&mut self) -> i32 {
        self.screen.expect_end();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            match self.session.get_process().status().expect("waitpid") {
                WaitStatus::Exited(_, code) => return code,
                WaitStatus::StillAlive => {}
                other => panic!("sockchat did not exit normally: {other:?}"),
            }
            assert!(
                std::time::Instant::now() < deadline,
                "sockchat did not exit"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Asserts the terminal is back in line mode with echo, as a shell
    /// expects it (the pty outlives the process, so its settings can still
    /// be read from our side).
    pub(crate) fn assert_terminal_restored(&self) {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut termios: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: the descriptor is the pty master, open while `session` lives.
        let read = unsafe { libc::tcgetattr(self.session.as_raw_fd(), &mut termios) };
        assert_eq!(read, 0, "tcgetattr on the pty");
        let lflag = termios.c_lflag;
        assert!(lflag & libc::ICANON != 0, "left without ICANON (raw mode)");
        assert!(lflag & libc::ECHO != 0, "left without ECHO");
        // The editor turns bracketed paste on; it must be off again.
        let screen = self.screen.text();
        let on = screen.rfind("\x1b[?2004h");
        let off = screen.rfind("\x1b[?2004l");
        assert!(
            on.is_none() || off > on,
            "bracketed paste left on: {screen:?}"
        );
    }
}

/// ptyprocess starts the child with echo off; a person's terminal has it on.
pub(crate) fn like_a_login_terminal() -> std::io::Result<()> {
    // SAFETY: termios is plain data; fd 0 is the pty by now.
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut termios) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        termios.c_lflag |= libc::ECHO | libc::ICANON;
        if libc::tcsetattr(0, libc::TCSANOW, &termios) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A Ctrl-C typed on a terminal makes it throw away the output not yet
/// read (unless NOFLSH). A server with no one online exits so fast after
/// it that its last words would often be thrown away with the rest before
/// the test reads them; a person would have seen them by then.
fn keep_output_on_interrupt() -> std::io::Result<()> {
    // SAFETY: termios is plain data; fd 0 is the pty by now.
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut termios) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        termios.c_lflag |= libc::NOFLSH;
        if libc::tcsetattr(0, libc::TCSANOW, &termios) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// SGR ("colour") escapes in `text`, such as `\x1b[32m`.
fn sgr_escapes(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices("\x1b[") {
        let rest = &text[at + 2..];
        let params = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(rest.len());
        if rest[params..].starts_with('m') {
            found.push(format!("\\x1b[{}m", &rest[..params]));
        }
    }
    found
}

#[test]
fn the_name_prompt_repeats_until_the_name_is_valid() {
    let server = Server::start();
    let mut pty = Pty::join(&server, &[], &[]);
    pty.screen.expect(PROMPT);
    pty.type_keys(ENTER);
    pty.screen.expect(PROMPT);
    pty.type_keys("   ");
    pty.type_keys(ENTER);
    pty.screen.expect("a name cannot be empty");
    pty.screen.expect(PROMPT);
    pty.type_keys("Max");
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
    let mut pty = Pty::join(&server, &["--name", "max"], &[]);
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
    let mut pty = Pty::join(&server, &["--name", "Max"], &[("NO_COLOR", "1")]);
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
    let mut pty = Pty::join(&server, &["--name", "Max"], &[]);
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
    let mut pty = Pty::join(&server, &["--name", "Max"], &[]);
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
    let mut pty = Pty::join(&server, &["--name", "Max"], &[]);
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
    let mut pty = Pty::join_piped_out(&server);
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
    let mut pty = Pty::join(&server, &["--name", "Max"], &[]);
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
fn serve_on_a_terminal_logs_in_colour_under_a_live_status_line() {
    let (mut pty, addr) = Pty::serve(&[]);
    let mut max = Nc::login(addr, "Max");
    pty.screen
        .expect("\x1b[32mServer: Connection from 127.0.0.1:");
    pty.screen.expect("\x1b[32mServer: Max joined the party!");
    pty.screen
        .expect("1 online · 0 messages relayed · Ctrl-C stops");
    let mut bob = Nc::login(addr, "Bob");
    max.expect_line("Server: Bob joined the party!");
    pty.screen.expect("\x1b[32mServer: Bob joined the party!");
    pty.screen.expect("2 online · 0 messages relayed");
    // One message, to one other person: one relayed.
    max.send("hi");
    bob.expect_line("Max: hi");
    pty.screen.expect("2 online · 1 messages relayed");
    drop(bob);
    pty.screen.expect("\x1b[33mServer: Bob left the party.");
    pty.screen.expect("1 online · 1 messages relayed");
    drop(max);
    pty.screen.expect("\x1b[33mServer: Max left the party.");
    pty.screen.expect("0 online · 1 messages relayed");
    pty.type_keys(CTRL_C);
    pty.screen.expect("Server: shutting down");
    assert_eq!(pty.exit_code(), 0);
}

#[test]
fn serve_on_a_terminal_with_no_color_logs_plainly() {
    let (mut pty, addr) = Pty::serve(&[("NO_COLOR", "1")]);
    let max = Nc::login(addr, "Max");
    pty.screen.expect("Server: Max joined the party!");
    // The status line is still there: NO_COLOR is about colour only.
    pty.screen.expect("1 online");
    drop(max);
    pty.screen.expect("Server: Max left the party.");
    pty.screen.expect("0 online");
    pty.type_keys(CTRL_C);
    assert_eq!(pty.exit_code(), 0);
    let screen = pty.screen.text();
    assert_eq!(sgr_escapes(&screen), Vec::<String>::new(), "{screen:?}");
}

/// The password prompt turns echo off; Ctrl-C there must put it back (and
/// end with 130, as a program stopped by Ctrl-C does).
#[test]
fn ctrl_c_at_the_password_prompt_gives_the_terminal_back() {
    let server = Server::start_with("127.0.0.1", 0, &["--password", "s3cret-words"]);
    let mut pty = Pty::join(&server, &["--name", "Max"], &[]);
    pty.screen.expect("This room has a password");
    // Interrupt only once the prompt reads (echo off), as a person would.
    let deadline = std::time::Instant::now() + WAIT;
    while echo_is_on(&pty.session) {
        assert!(std::time::Instant::now() < deadline, "echo never went off");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    pty.type_keys("\x03");
    assert_eq!(pty.exit_code(), 130);
    pty.assert_terminal_restored();
}
