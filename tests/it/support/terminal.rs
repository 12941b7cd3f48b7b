//! The binary on a real pseudo-terminal, as a person runs it: the screen
//! read on a thread (every wait has a deadline), keys typed, the terminal's
//! settings read back from our side.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use expectrl::process::unix::WaitStatus;
use expectrl::session::OsSession;
use expectrl::Expect;

use super::serve::{banner_addr, Serve};
use super::{join_command, Output, WAIT};

/// The line editor's prompt: once it shows, keys go to the editor.
pub const EDITOR_PROMPT: &str = "> ";

/// `sockchat` running on a pty.
pub struct Pty {
    pub session: OsSession,
    /// What the terminal shows, escapes included.
    pub screen: Output,
}

impl Pty {
    /// `sockchat join` to `addr` with `extra` arguments and `env` set.
    pub fn join(addr: SocketAddr, extra: &[&str], env: &[(&str, &str)]) -> Pty {
        let mut command = join_command(addr, extra);
        command.envs(env.iter().copied());
        Pty::spawn(command)
    }

    /// `sockchat serve --host 127.0.0.1 --port 0` with stdout and stderr
    /// on the pty, and the address it listens on.
    pub fn serve(env: &[(&str, &str)]) -> (Pty, SocketAddr) {
        let mut serve = Serve::new();
        for (key, value) in env {
            serve = serve.env(key, value);
        }
        let mut command = serve.command();
        // SAFETY: as in `spawn`: only tcgetattr and tcsetattr after fork.
        unsafe { command.pre_exec(keep_output_on_interrupt) };
        let mut pty = Pty::spawn(command);
        let addr = banner_addr(&pty.screen.expect("\n"));
        (pty, addr)
    }

    /// `command` on a fresh pty set up like a login terminal, TERM=xterm
    /// unless `command` sets TERM itself.
    pub fn spawn(mut command: Command) -> Pty {
        if !command
            .get_envs()
            .any(|(var, value)| var == "TERM" && value.is_some())
        {
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

    /// `command` on a pty of `cols`×`rows`, sized before the login is done
    /// (so before the editor draws anything that depends on the width).
    pub fn spawn_sized(command: Command, cols: u16, rows: u16) -> Pty {
        let mut pty = Pty::spawn(command);
        pty.session
            .get_process_mut()
            .set_window_size(cols, rows)
            .expect("size the pty");
        pty
    }

    /// Waits for the login, then for the line editor: from then on, keys
    /// go to the editor (typed earlier, the terminal would take them).
    pub fn expect_logged_in(&mut self, name: &str) {
        self.screen
            .expect(&format!("Server: You are logged in as: {name}"));
        self.screen.expect(EDITOR_PROMPT);
    }

    pub fn type_keys(&mut self, keys: &str) {
        self.session.send(keys).expect("type on the pty");
    }

    /// Waits until the program reading the terminal has turned echo off
    /// (a password prompt is reading): keys typed while the terminal's
    /// mode changes can be dropped by it.
    pub fn wait_for_echo_off(&self) {
        let deadline = Instant::now() + WAIT;
        while echo_is_on(&self.session) {
            assert!(Instant::now() < deadline, "echo never went off");
            // Polling: a terminal's mode change sends no event to read.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the end of the output and for the exit; the exit code.
    pub fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        self.screen.expect_end_by(deadline);
        loop {
            match self.session.get_process().status().expect("waitpid") {
                WaitStatus::Exited(_, code) => return code,
                WaitStatus::StillAlive => {}
                other => panic!("sockchat did not exit normally: {other:?}"),
            }
            assert!(Instant::now() < deadline, "sockchat did not exit");
            // Polling waitpid: there is no wait with a timeout.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Asserts the terminal is back in line mode with echo, as a shell
    /// expects it (the pty outlives the process, so its settings can still
    /// be read from our side).
    pub fn assert_terminal_restored(&self) {
        let lflag = local_flags(&self.session);
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

/// The terminal's local mode flags (ECHO, ICANON, …), read on the master.
pub fn local_flags(pty: &impl AsRawFd) -> libc::tcflag_t {
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is the pty master, open while `pty` lives.
    let read = unsafe { libc::tcgetattr(pty.as_raw_fd(), &mut termios) };
    assert_eq!(read, 0, "tcgetattr on the pty");
    termios.c_lflag
}

/// Whether the terminal on the other side of `pty` echoes what is typed.
fn echo_is_on(pty: &impl AsRawFd) -> bool {
    local_flags(pty) & libc::ECHO != 0
}

/// Sets `flags` in the local modes of the terminal on fd 0 (in the child,
/// between fork and exec: only async-signal-safe calls).
fn set_local_flags(flags: libc::tcflag_t) -> std::io::Result<()> {
    // SAFETY: termios is plain data; fd 0 is the pty by now.
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(0, &mut termios) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        termios.c_lflag |= flags;
        if libc::tcsetattr(0, libc::TCSANOW, &termios) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// ptyprocess starts the child with echo off; a person's terminal has it on.
fn like_a_login_terminal() -> std::io::Result<()> {
    set_local_flags(libc::ECHO | libc::ICANON)
}

/// A Ctrl-C typed on a terminal makes it throw away the output not yet
/// read (unless NOFLSH). A server with no one online exits so fast after
/// it that its last words would often be thrown away with the rest before
/// the test reads them; a person would have seen them by then.
fn keep_output_on_interrupt() -> std::io::Result<()> {
    set_local_flags(libc::NOFLSH)
}

/// A pty's output as a terminal of `rows`×`cols` shows it, every row,
/// scrollback first, trailing blank rows left out.
pub fn screen_rows(bytes: &[u8], rows: u16, cols: u16) -> Vec<String> {
    let mut parser = vt100::Parser::new(size(rows), size(cols), 10_000);
    parser.process(bytes);
    let (mut rows, _) = physical_rows(&mut parser);
    while rows.last().is_some_and(|(row, _)| row.trim().is_empty()) {
        rows.pop();
    }
    rows.into_iter().map(|(row, _)| row).collect()
}

pub fn size(n: u16) -> NonZeroU16 {
    NonZeroU16::new(n).expect("a size is not 0")
}

/// Every row of `parser`, scrollback first, each with whether the
/// terminal wrapped it into the next; and the cursor's row among them and
/// its column.
pub fn physical_rows(parser: &mut vt100::Parser) -> (Vec<(String, bool)>, (usize, usize)) {
    let screen = parser.screen_mut();
    let (row, col) = screen.cursor_position();
    screen.set_scrollback(usize::MAX);
    let back = screen.scrollback();
    let (_, cols) = screen.size();
    let mut all = Vec::new();
    for offset in (1..=back).rev() {
        screen.set_scrollback(offset);
        let top = screen.rows(0, cols.get()).next().unwrap_or_default();
        all.push((top, screen.row_wrapped(0)));
    }
    screen.set_scrollback(0);
    let visible: Vec<String> = screen.rows(0, cols.get()).collect();
    for (i, text) in visible.into_iter().enumerate() {
        let wrapped = u16::try_from(i).is_ok_and(|i| screen.row_wrapped(i));
        all.push((text, wrapped));
    }
    (all, (back + usize::from(row), usize::from(col)))
}

/// Ctrl-C as the terminal sends it.
pub const CTRL_C: &str = "\x03";

/// SGR ("colour") escapes in `text`, such as `\x1b[32m`.
pub fn sgr_escapes(text: &str) -> Vec<String> {
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
