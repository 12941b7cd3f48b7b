//! What the person types, and where incoming lines are printed. On a
//! terminal a line editor (history with Up/Down) runs on a thread of its
//! own, and incoming lines are printed above the line being typed, which
//! is redrawn intact. Otherwise stdin is read line by line (scripts, bots,
//! heredocs) and lines are printed as they come.

use std::io::{Read, Write};

use futures::channel::mpsc;
use futures::executor::block_on;
use futures::SinkExt;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Editor, ExternalPrinter};

use crate::protocol::line::{Frame, LineFramer};

/// One event from the person's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    Line(String),
    /// Ctrl-D, or the end of piped input.
    Eof,
    /// Ctrl-C.
    Interrupted,
}

/// The longest line read from piped stdin; longer ones are cut there.
const MAX_INPUT_LINE: usize = 64 * 1024;

/// Typed lines waiting to be sent; when full, reading stdin waits.
const INPUT_QUEUE: usize = 64;

/// Where incoming lines are shown.
pub enum Screen {
    /// Above the line editor's prompt.
    Editor(Box<dyn ExternalPrinter + Send>),
    /// Straight to stdout.
    Plain,
}

impl Screen {
    pub fn print(&mut self, line: &str) {
        match self {
            Screen::Editor(printer) => {
                if printer.print(format!("{line}\n")).is_err() {
                    // The editor is gone (exiting): print directly instead.
                    println_plain(line);
                }
            }
            Screen::Plain => println_plain(line),
        }
    }
}

fn println_plain(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (`| head`) is no reason to fail the chat.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Starts the line editor on its own thread.
pub fn start_editor() -> anyhow::Result<(Screen, mpsc::Receiver<Typed>)> {
    let mut editor: Editor<(), DefaultHistory> = Editor::new()?;
    let printer = editor.create_external_printer()?;
    let (mut tx, rx) = mpsc::channel(INPUT_QUEUE);
    std::thread::spawn(move || loop {
        let typed = match editor.readline("> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    // History is a convenience: a failure to add is harmless.
                    let _ = editor.add_history_entry(line.as_str());
                }
                Typed::Line(line)
            }
            Err(ReadlineError::Interrupted) => Typed::Interrupted,
            Err(_) => Typed::Eof,
        };
        let last = !matches!(typed, Typed::Line(_));
        if block_on(tx.send(typed)).is_err() || last {
            return;
        }
    });
    Ok((Screen::Editor(Box::new(printer)), rx))
}

/// Reads stdin line by line on its own thread.
pub fn start_stdin() -> mpsc::Receiver<Typed> {
    let (mut tx, rx) = mpsc::channel(INPUT_QUEUE);
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
                lines.extend(framer.finish().map(owned));
            } else {
                framer.feed(&buf[..n], |frame| lines.push(owned(frame)));
            }
            for line in lines {
                if block_on(tx.send(Typed::Line(line))).is_err() {
                    return;
                }
            }
            if n == 0 {
                let _ = block_on(tx.send(Typed::Eof));
                return;
            }
        }
    });
    rx
}

fn owned(frame: Frame<'_>) -> String {
    match frame {
        Frame::Line(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        // Sent as an over-long line, the server would refuse it anyway.
        Frame::TooLong => String::new(),
    }
}
