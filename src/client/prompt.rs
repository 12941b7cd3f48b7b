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

use futures::channel::oneshot;

use super::terminal::{self, Mode};
use crate::protocol::name::Name;

/// A prompt on the terminal, being answered on its own thread.
pub struct Prompt {
    /// The answer: the line typed (without its line end), or None for
    /// Ctrl-D on an empty line (at the password prompt).
    answer: oneshot::Receiver<std::io::Result<Option<String>>>,
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
        let (tx, answer) = oneshot::channel();
        std::thread::spawn(move || {
            // The login may have stopped waiting (it is exiting): nobody to tell.
            let _ = tx.send(ask());
        });
        Prompt { answer }
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
        terminal::abandon_prompt();
        eprintln!();
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
    // Not a terminal (no echo to turn off): the line is read all the same.
    let _quiet = terminal::enter(Mode::Quiet);
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
