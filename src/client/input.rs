//! What the person types, and where incoming lines are printed. On a
//! terminal the line editor ([`super::editor`]) owns the screen: incoming
//! lines are printed above the line being typed, which stays intact.
//! Otherwise (a pipe, `| tee`, `> log`, `TERM=dumb`) stdin is read line by
//! line and lines are printed as they come; Ctrl-C (SIGINT) and SIGTERM
//! still leave cleanly.

use std::io::{Read, Write};

use futures::channel::mpsc;
use futures::executor::block_on;
use futures::SinkExt;
use signal_hook::consts::{SIGINT, SIGTERM};

use super::dumb::{self, DumbScreen};
use super::editor::{self, EditorScreen};
use super::terminal;
use crate::protocol::line::{Frame, LineFramer};

/// The longest line read from piped stdin; longer ones are dropped (and
/// counted as not sent).
pub(super) const MAX_INPUT_LINE: usize = 64 * 1024;

pub use super::typed::Typed;
pub(super) use super::typed::INPUT_QUEUE;

/// Where incoming lines are shown.
pub enum Screen {
    /// Above the line editor's input.
    Editor(EditorScreen),
    /// On a terminal that takes no escape codes, above the typed line.
    Dumb(DumbScreen),
    /// Straight to stdout.
    Plain,
}

impl Screen {
    pub fn print(&mut self, line: &str) {
        match self {
            Screen::Editor(editor) => {
                if !editor.print(line) {
                    // The editor is gone (exiting): print directly instead.
                    println_plain(line);
                }
            }
            Screen::Dumb(dumb) => dumb.print(line),
            Screen::Plain => println_plain(line),
        }
    }

    /// The tags of a live line from the server, before it is printed: the
    /// editor learns who is online from them, for Tab.
    pub fn heard(&mut self, tags: &super::tags::Tags) {
        if let Screen::Editor(editor) = self {
            editor.heard(tags);
        }
    }

    /// The current room, for the prompt (None: today's `> `), and the
    /// rooms known, for Tab. Plain output has no prompt.
    pub fn rooms(&mut self, prompt: Option<String>, known: Vec<String>) {
        if let Screen::Editor(editor) = self {
            editor.rooms(prompt, known);
        }
    }

    /// Shows `status` before the prompt (None: clears it). Plain output
    /// has no prompt: the status goes to stderr, once per change of words
    /// that matter (the caller decides).
    pub fn status(&mut self, status: Option<String>) {
        if let Screen::Editor(editor) = self {
            editor.status(status);
        }
    }

    /// Lines held for the room's pace (None: none wait); shown before the
    /// prompt. Plain output has no prompt and shows nothing.
    pub fn sending(&mut self, lines: Option<usize>) {
        if let Screen::Editor(editor) = self {
            editor.sending(lines);
        }
    }

    /// Whether lines go above a line editor (a person at a terminal).
    pub fn is_editor(&self) -> bool {
        matches!(self, Screen::Editor(_))
    }

    /// Ends the session's output: everything printed before is on the
    /// screen, then `last`, if any; the input erased (no prompt left
    /// behind), the cursor at the start of a fresh line and the terminal
    /// as it was. Call it before exiting.
    pub fn finish(self, last: Option<&str>) {
        if let Screen::Dumb(dumb) = self {
            dumb.finish();
        } else if let Screen::Editor(editor) = self {
            if !editor.finish() {
                // The editor did not answer: put the terminal back anyway.
                terminal::put_back();
                let mut out = std::io::stdout().lock();
                // As in `println_plain`: a closed stdout is no reason to fail.
                let _ = out.write_all(ERASE_LINE.as_bytes());
                let _ = out.flush();
            }
        }
        if let Some(line) = last {
            println_plain(line);
        }
    }
}

/// Back to the start of the line, and clear it.
const ERASE_LINE: &str = "\r\x1b[K";

fn println_plain(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) is no reason to fail the chat.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Starts the line editor, which stays in raw mode until `finish`.
/// `reflows`: the terminal reflows wrapped lines on resize.
pub fn start_editor(reflows: bool) -> anyhow::Result<(Screen, mpsc::Receiver<Typed>)> {
    let (screen, typed) = editor::start(reflows)?;
    Ok((Screen::Editor(screen), typed))
}

/// Reads a terminal that takes no escape codes key by key (see
/// `client/dumb.rs`); SIGINT and SIGTERM end the input, as in [`start_stdin_watched`].
pub fn start_dumb() -> std::io::Result<(Screen, mpsc::Receiver<Typed>)> {
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let screen = dumb::start(tx.clone())?;
    Interrupts(tx).watch();
    Ok((Screen::Dumb(screen), rx))
}

/// Reads stdin line by line on its own thread. The [`Interrupts`] can
/// later make SIGINT and SIGTERM end the input too (not yet: during the
/// login they keep their default, exiting at once).
pub fn start_stdin() -> (mpsc::Receiver<Typed>, Interrupts) {
    let (tx, rx) = mpsc::channel(INPUT_QUEUE);
    let interrupts = Interrupts(tx.clone());
    read_lines(tx);
    (rx, interrupts)
}

/// [`start_stdin`] with SIGINT and SIGTERM watched from the start (with
/// stdout redirected, Ctrl-C on the terminal is a SIGINT).
pub fn start_stdin_watched() -> mpsc::Receiver<Typed> {
    let (lines, interrupts) = start_stdin();
    interrupts.watch();
    lines
}

/// Where SIGINT and SIGTERM are to go once watched.
pub struct Interrupts(mpsc::Sender<Typed>);

impl Interrupts {
    /// From now on SIGINT and SIGTERM end the input as Ctrl-C does in the
    /// editor: [`Typed::Interrupted`].
    pub fn watch(self) {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            // Without the handler the signals keep their default: exit at once.
            return;
        };
        let mut tx = self.0;
        std::thread::spawn(move || {
            for _ in signals.forever() {
                if block_on(tx.send(Typed::Interrupted)).is_err() {
                    return;
                }
            }
        });
    }
}

fn read_lines(mut tx: mpsc::Sender<Typed>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut framer = LineFramer::new(MAX_INPUT_LINE);
        let mut buf = vec![0u8; 8192];
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            let mut lines = Vec::new();
            if n == 0 {
                lines.extend(framer.finish().map(typed));
            } else {
                framer.feed(&buf[..n], |frame| lines.push(typed(frame)));
            }
            for line in lines {
                if block_on(tx.send(line)).is_err() {
                    return;
                }
            }
            if n == 0 {
                // The session may be gone already; nothing more to say then.
                let _ = block_on(tx.send(Typed::Eof));
                return;
            }
        }
    });
}

fn typed(frame: Frame<'_>) -> Typed {
    match frame {
        Frame::Line(bytes) => Typed::Line(String::from_utf8_lossy(bytes).into_owned()),
        Frame::TooLong => Typed::TooLong,
    }
}
