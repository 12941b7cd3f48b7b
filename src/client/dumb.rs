//! A terminal that takes no escape codes (`TERM=dumb`, or no `TERM`):
//! plain lines, and yet a line printed while one is half typed goes on a
//! row of its own. In the terminal's line mode the half-typed line is the
//! kernel's and cannot be seen, so an incoming line landed after it
//! (`helBob: hi`). Here the terminal's line mode is off and keys are read
//! as they come: printing a line then goes back to the start of the row
//! (CR, which every terminal has), writes the line over the half-typed one
//! (padded with spaces), and writes the half-typed line again below it.
//! Nothing but CR, LF and spaces is written.
//!
//! The half-typed line is shared by the thread that reads keys and the
//! session that prints: a mutex holds it and is held while writing, so
//! an echoed key never lands inside a printed line.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::channel::mpsc;
use futures::executor::block_on;
use futures::SinkExt;
use unicode_width::UnicodeWidthStr;

use super::terminal::{self, Mode, RestoreGuard};
use super::typed::Typed;

/// Bytes of a half-typed line kept; keys past it are ignored (the server
/// would refuse the line anyway).
const MAX_LINE: usize = 16 * 1024;

/// What was typed and not yet sent.
#[derive(Debug, Default)]
struct Typing {
    /// The half-typed line.
    text: String,
    /// The first bytes of a UTF-8 character not yet complete.
    utf8: Vec<u8>,
    /// The terminal echoed keys (we echo in its place). Emacs' shell
    /// does not: it shows what is typed itself and sends whole lines.
    echo: bool,
}

/// The dumb terminal seen from the session: print above the typed line.
pub struct DumbScreen {
    typing: Arc<Mutex<Typing>>,
    /// Keys one by one until `finish` (or a way out) puts the terminal back.
    _keys: RestoreGuard,
}

impl DumbScreen {
    /// Shows `line` on a row of its own, the half-typed line after it.
    pub fn print(&self, line: &str) {
        let typing = lock(&self.typing);
        let out = printed(line, &typing.text, typing.echo, super::editor::width());
        write_out(out.as_bytes());
    }

    /// Puts the terminal back, the cursor on a fresh row.
    pub fn finish(self) {
        let typing = lock(&self.typing);
        if typing.echo && !typing.text.is_empty() {
            write_out(b"\n");
        }
        // Under the lock, as the reader echoes: no key is echoed twice.
        terminal::put_back();
    }
}

/// Reads keys from the terminal, its line mode and echo off; lines go to
/// `lines`. Fails if the terminal has no settings to change.
pub fn start(lines: mpsc::Sender<Typed>) -> std::io::Result<DumbScreen> {
    // Keys one by one, not echoed by the terminal; Ctrl-C still a signal.
    let keys = terminal::enter(Mode::Keys)?;
    let typing = Arc::new(Mutex::new(Typing {
        echo: terminal::echoed(),
        ..Typing::default()
    }));
    let reading = typing.clone();
    std::thread::spawn(move || read_loop(&reading, lines));
    Ok(DumbScreen {
        typing,
        _keys: keys,
    })
}

/// What a key did.
#[derive(Debug, PartialEq, Eq)]
enum Done {
    /// Nothing to send.
    Nothing,
    /// A line ended.
    Line(String),
    /// Ctrl-D on an empty line.
    Eof,
}

fn read_loop(typing: &Mutex<Typing>, mut lines: mpsc::Sender<Typed>) {
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into a buffer of the length given.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        let Ok(n @ 1..) = usize::try_from(n) else {
            // The end of the terminal's input (hung up), or an error.
            let _ = block_on(lines.send(Typed::Eof));
            return;
        };
        for &byte in &buf[..n] {
            let done = {
                let mut typing = lock(typing);
                let mut echo = String::new();
                let done = typing.key(byte, &mut echo);
                write_out(echo.as_bytes());
                done
            };
            let sent = match done {
                Done::Nothing => continue,
                Done::Line(line) => block_on(lines.send(Typed::Line(line))),
                Done::Eof => {
                    // The session may be gone already; nothing more to say then.
                    let _ = block_on(lines.send(Typed::Eof));
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        }
    }
}

impl Typing {
    /// Applies one byte typed; what to echo goes to `echo`.
    fn key(&mut self, byte: u8, echo: &mut String) -> Done {
        if byte >= 0x80 || !self.utf8.is_empty() {
            self.utf8_byte(byte, echo);
            return Done::Nothing;
        }
        match byte {
            b'\r' | b'\n' => {
                if self.echo {
                    echo.push('\n');
                }
                return Done::Line(std::mem::take(&mut self.text));
            }
            0x04 if self.text.is_empty() => return Done::Eof,
            0x7f | 0x08 => self.erase(echo),
            // Ctrl-U: the whole line goes.
            0x15 => {
                if self.echo {
                    let blank = " ".repeat(self.text.width());
                    echo.push_str(&format!("\r{blank}\r"));
                }
                self.text.clear();
            }
            b'\t' => self.push(' ', echo),
            0x20..=0x7e => self.push(char::from(byte), echo),
            // Other controls are no text.
            _ => {}
        }
        Done::Nothing
    }

    fn utf8_byte(&mut self, byte: u8, echo: &mut String) {
        if byte < 0x80 {
            // A character cut short by a plain byte: drop the pieces.
            self.utf8.clear();
            return;
        }
        self.utf8.push(byte);
        match std::str::from_utf8(&self.utf8) {
            Ok(text) => {
                let text = text.to_string();
                self.utf8.clear();
                text.chars().for_each(|c| self.push(c, echo));
            }
            Err(e) if e.error_len().is_some() => {
                self.utf8.clear();
                self.push(char::REPLACEMENT_CHARACTER, echo);
            }
            // Incomplete: wait for the rest.
            Err(_) => {}
        }
    }

    /// Backspace: the last character goes.
    fn erase(&mut self, echo: &mut String) {
        if self.text.pop().is_some() && self.echo {
            // Back to the row's start, the line shorter by a blank.
            echo.push_str(&format!("\r{} \r{}", self.text, self.text));
        }
    }

    fn push(&mut self, c: char, echo: &mut String) {
        if self.text.len() + c.len_utf8() > MAX_LINE || c.is_control() {
            return;
        }
        self.text.push(c);
        if self.echo {
            echo.push(c);
        }
    }
}

/// What to write for `line` printed while `typed` is half typed (shown
/// when `echo`), on a terminal `cols` wide.
fn printed(line: &str, typed: &str, echo: bool, cols: usize) -> String {
    if !echo || typed.is_empty() {
        return format!("{line}\n");
    }
    let typed_width = typed.width();
    if typed_width >= cols {
        // The typed line took more than a row: CR cannot reach its start.
        return format!("\n{line}\n{typed}");
    }
    let pad = " ".repeat(typed_width.saturating_sub(line.width()));
    format!("\r{line}{pad}\n{typed}")
}

fn lock(typing: &Mutex<Typing>) -> MutexGuard<'_, Typing> {
    // The state stays whole when a holder panics: it is plain text.
    typing.lock().unwrap_or_else(PoisonError::into_inner)
}

fn write_out(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let mut out = std::io::stdout().lock();
    // A terminal gone (hung up) shows nothing; the reader ends the session.
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(bytes: &[u8]) -> (Typing, String, Vec<Done>) {
        let mut typing = Typing {
            echo: true,
            ..Typing::default()
        };
        let mut echo = String::new();
        let done = bytes.iter().map(|&b| typing.key(b, &mut echo)).collect();
        (typing, echo, done)
    }

    #[test]
    fn an_incoming_line_goes_over_the_half_typed_one_which_comes_again_below() {
        assert_eq!(
            printed("Bob: hi there", "hel", true, 80),
            "\rBob: hi there\nhel"
        );
        // A shorter line: spaces wipe what it does not cover.
        assert_eq!(
            printed("Bob: k", "hello there", true, 80),
            "\rBob: k     \nhello there"
        );
        assert_eq!(printed("Bob: hi", "", true, 80), "Bob: hi\n");
        // Emacs shows what is typed itself: nothing to move.
        assert_eq!(printed("Bob: hi", "hel", false, 80), "Bob: hi\n");
        // Longer than a row: on rows of its own.
        let long = "x".repeat(80);
        assert_eq!(
            printed("Bob: hi", &long, true, 80),
            format!("\nBob: hi\n{long}")
        );
    }

    #[test]
    fn keys_make_the_line_and_only_cr_lf_and_text_are_echoed() {
        let (typing, echo, done) = typed("héllo\x7fx\tz\x1b\r".as_bytes());
        assert_eq!(done.last(), Some(&Done::Line("héllx z".into())));
        assert!(typing.text.is_empty());
        assert!(!echo.contains('\x1b') && !echo.contains('\x08'), "{echo:?}");
        assert!(echo.ends_with("héllx z\n"), "{echo:?}");
        let (_, _, done) = typed(b"ab\x04");
        assert_eq!(
            done.last(),
            Some(&Done::Nothing),
            "Ctrl-D after text is no end"
        );
        let (_, _, done) = typed(b"ab\x15\x04");
        assert_eq!(done.last(), Some(&Done::Eof), "Ctrl-U, then Ctrl-D");
    }
}
