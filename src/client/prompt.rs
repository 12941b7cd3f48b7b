//! The name and password prompts. Each runs on a thread of its own, so that
//! the login can watch the connection while the person types: a server
//! that goes away is reported at once, not after Enter.
//!
//! The name is asked with dialoguer's `Input`, which asks again until the
//! name passes the server's own rules ([`Name::parse`]), showing the reason
//! at once. It switches the terminal to raw mode one key at a time (with
//! `TCSADRAIN`), so keys typed ahead stay queued for whoever reads next. It
//! ignores Ctrl-D; Ctrl-C raises SIGINT, which the prompt guard in
//! `terminal.rs` answers.
//!
//! The password is read by the terminal itself (canonical mode) with echo
//! off: dialoguer's `Password` flushes the input on the way in and out
//! (`TCSAFLUSH`), which would throw away what was typed ahead. Ctrl-D on an
//! empty line there leaves, and an empty Enter asks again in place,
//! printing nothing.

use std::io::{BufRead, Write};
use std::time::Duration;

use futures::channel::oneshot;

use crate::protocol::name::Name;

/// A prompt on the terminal, being answered on its own thread.
pub struct Prompt {
    /// The answer: the line typed (without its line end), or None for
    /// Ctrl-D on an empty line (at the password prompt).
    answer: oneshot::Receiver<std::io::Result<Option<String>>>,
    /// The terminal's settings before the prompt, put back if it is abandoned.
    before: Option<libc::termios>,
}

impl Prompt {
    /// `Please enter your username: `, until the name is one the server's
    /// rules allow.
    pub fn name() -> Prompt {
        Prompt::start(ask_name)
    }

    /// `This room has a password: `, read without echo.
    pub fn password() -> Prompt {
        Prompt::start(ask_password)
    }

    fn start(ask: fn() -> std::io::Result<Option<String>>) -> Prompt {
        let before = termios();
        let (tx, answer) = oneshot::channel();
        std::thread::spawn(move || {
            // The login may have stopped waiting (it is exiting): nobody to tell.
            let _ = tx.send(ask());
        });
        Prompt { answer, before }
    }

    /// The person's answer. Cancel-safe: the answer waits until asked for.
    pub async fn answer(&mut self) -> std::io::Result<Option<String>> {
        match (&mut self.answer).await {
            Ok(answer) => answer,
            Err(oneshot::Canceled) => Err(std::io::Error::other("the prompt stopped")),
        }
    }

    /// Gives up on the prompt (the process is about to exit): what was
    /// half typed is thrown away (the shell must not get it, least of all
    /// half a password), the terminal is put back as it was (echo on) and
    /// the cursor moved to a new line. The thread stays blocked reading; it
    /// ends with the process.
    pub fn abandon(self) {
        if let Some(before) = &self.before {
            fence(before);
        }
        eprintln!();
    }
}

/// How long after the first restore the terminal is restored again.
const SECOND_RESTORE: Duration = Duration::from_millis(10);

/// Puts the terminal back while the prompt's thread may still be switching
/// it to raw mode for its next key (it cannot be cancelled). Measured: a
/// plain restore left the terminal raw in 1–2 of 100 abandons made while
/// typing. dialoguer's terminal layer reads a key from stdin when stdin is
/// a terminal and otherwise opens `/dev/tty`, switching whichever it found
/// to raw mode for that key. So first the process lets go of its
/// controlling terminal (`/dev/tty` then opens nothing), then stdin is
/// pointed at `/dev/null` (the thread's next switch finds no terminal
/// anywhere), and only then are the settings restored, through a
/// duplicate of the terminal's descriptor, and once more a moment later.
/// With only the second restore, a thread held up longer than that moment
/// (a loaded machine) still won about once in 300 abandons.
fn fence(before: &libc::termios) {
    // SAFETY: plain descriptor calls on stdin and on descriptors opened
    // here and closed before returning; `before` was read from stdin.
    unsafe {
        let tty = libc::dup(libc::STDIN_FILENO);
        if tty < 0 {
            return;
        }
        // Letting go of the controlling terminal hangs up our process
        // group if this process leads its session (started without a
        // shell); it is exiting anyway, and must not die of it first.
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        // Fails harmlessly where the terminal is not our controlling one.
        libc::ioctl(tty, libc::TIOCNOTTY);
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null >= 0 {
            libc::dup2(null, libc::STDIN_FILENO);
            libc::close(null);
        }
        // What was half typed is not for the shell, least of all a password.
        libc::tcflush(tty, libc::TCIFLUSH);
        libc::tcsetattr(tty, libc::TCSANOW, before);
        std::thread::sleep(SECOND_RESTORE);
        libc::tcsetattr(tty, libc::TCSANOW, before);
        libc::close(tty);
    }
}

/// Asks for a name with dialoguer until it passes the server's rules.
fn ask_name() -> std::io::Result<Option<String>> {
    let asked = dialoguer::Input::<String>::new()
        .with_prompt("Please enter your username")
        .validate_with(|typed: &String| Name::parse(typed).map(|_| ()))
        .interact_text();
    match asked {
        Ok(name) => Ok(Some(name)),
        Err(dialoguer::Error::IO(e)) => Err(e),
    }
}

/// Asks for the password on stderr and reads it from the terminal, with
/// echo off.
fn ask_password() -> std::io::Result<Option<String>> {
    let mut err = std::io::stderr();
    write!(err, "This room has a password: ")?;
    err.flush()?;
    let _echo_off = EchoOff::start();
    loop {
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            eprintln!();
            return Ok(None);
        }
        let line = line.trim_end_matches(['\n', '\r']).to_string();
        if line.is_empty() {
            continue; // Nothing was echoed, not even the Enter: ask again in place.
        }
        eprintln!(); // The Enter was not echoed either.
        return Ok(Some(line));
    }
}

/// The terminal's settings now, if stdin is one.
fn termios() -> Option<libc::termios> {
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: stdin is open for the life of the process.
    let read = unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut termios) };
    (read == 0).then_some(termios)
}

/// Echo off (lines still read whole) until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn start() -> EchoOff {
        let before = termios();
        if let Some(mut quiet) = before {
            quiet.c_lflag &= !(libc::ECHO | libc::ECHONL);
            // SAFETY: settings read from this descriptor, with echo cleared.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) };
        }
        EchoOff(before)
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(before) = &self.0 {
            // SAFETY: restoring settings read from the same descriptor.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, before) };
        }
    }
}
