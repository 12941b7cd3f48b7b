//! The name and password prompts. Each runs on a thread of its own, so that
//! the login can watch the connection while the person types: a server
//! that goes away is reported at once, not after Enter.
//!
//! The terminal reads the line in its own (canonical) mode, so the usual
//! editing keys work, Ctrl-D on an empty line is the end of input (the
//! person leaves), and keys typed after Enter stay queued for whoever reads
//! next. The password is read with echo off, and an empty Enter there asks
//! again in place, printing nothing.

use std::io::{BufRead, Write};

use futures::channel::oneshot;

/// A prompt on the terminal, being answered on its own thread.
pub struct Prompt {
    /// The answer: the line typed (without its line end), or None for
    /// Ctrl-D on an empty line.
    answer: oneshot::Receiver<std::io::Result<Option<String>>>,
    /// The terminal's settings before the prompt, put back if it is abandoned.
    before: Option<libc::termios>,
}

impl Prompt {
    /// `Please enter your username: `.
    pub fn name() -> Prompt {
        Prompt::start("Please enter your username", false)
    }

    /// `This room has a password: `, read without echo.
    pub fn password() -> Prompt {
        Prompt::start("This room has a password", true)
    }

    fn start(text: &'static str, hidden: bool) -> Prompt {
        let before = termios();
        let (tx, answer) = oneshot::channel();
        std::thread::spawn(move || {
            // The login may have stopped waiting (it is exiting): nobody to tell.
            let _ = tx.send(ask(text, hidden));
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
            // SAFETY: discarding unread input and restoring settings read
            // from the same descriptor.
            unsafe {
                libc::tcflush(libc::STDIN_FILENO, libc::TCIFLUSH);
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, before);
            }
        }
        eprintln!();
    }
}

/// Asks on stderr and reads one line from the terminal.
fn ask(text: &str, hidden: bool) -> std::io::Result<Option<String>> {
    let mut err = std::io::stderr();
    write!(err, "{text}: ")?;
    err.flush()?;
    let _echo_off = hidden.then(EchoOff::start);
    loop {
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            eprintln!();
            return Ok(None);
        }
        let line = line.trim_end_matches(['\n', '\r']).to_string();
        if hidden && line.is_empty() {
            continue; // Nothing was echoed, not even the Enter: ask again in place.
        }
        if hidden {
            eprintln!(); // The Enter was not echoed either.
        }
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
