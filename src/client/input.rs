//! What the person types, and where incoming lines are printed. On a
//! terminal a line editor (history with Up/Down) runs on a thread of its
//! own, and incoming lines are printed above the line being typed, which
//! is redrawn intact. Otherwise stdin is read line by line (scripts, bots,
//! heredocs) and lines are printed as they come.

use std::io::{Read, Write};
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::channel::mpsc;
use futures::executor::block_on;
use futures::SinkExt;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Editor, ExternalPrinter};

use super::terminal;
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
    Editor(EditorScreen),
    /// Straight to stdout.
    Plain,
}

impl Screen {
    pub fn print(&mut self, line: &str) {
        match self {
            Screen::Editor(editor) => {
                if editor.printer.print(format!("{line}\n")).is_err() {
                    // The editor is gone (exiting): print directly instead.
                    println_plain(line);
                }
            }
            Screen::Plain => println_plain(line),
        }
    }

    /// Ends the session's output: everything printed before is on the
    /// screen, then `last`, if any; the cursor is left at the start of a
    /// fresh line and the terminal as it was. Call it before exiting.
    pub fn finish(self, last: Option<&str>) {
        if let Screen::Editor(editor) = self {
            if !editor.stop() {
                // The editor did not stop: it may still be in raw mode with
                // its prompt drawn. Put the terminal back and erase the prompt.
                terminal::restore();
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

/// The line editor running on its thread, seen from the session.
///
/// rustyline offers no way to end `readline` from another thread
/// (rustyline#780), and its printer only queues a line for the editor's
/// thread to draw. Exiting while the editor waits for a key would lose the
/// last lines queued and leave the terminal in raw mode with the prompt
/// drawn; [`EditorScreen::stop`] ends it properly instead.
pub struct EditorScreen {
    printer: Box<dyn ExternalPrinter + Send>,
    /// Tells the editor's thread to stop instead of reading another line.
    stop: Arc<AtomicBool>,
    /// Whether a SIGINT outside `readline` exits the process, as usual.
    sigint_exits: Arc<AtomicBool>,
    thread: JoinHandle<()>,
    /// Disconnected once the editor's thread has ended.
    ended: std_mpsc::Receiver<()>,
}

/// Printed only to find out when every line before it has been drawn: it
/// goes up a line and comes back, so on the screen nothing changes.
const FLUSH_MARK: &str = "\x1b[A\n";

/// How often, and how long each time, to interrupt the editor before
/// giving up on it (it can miss a signal in a narrow window, see `stop`).
const STOP_ATTEMPTS: u32 = 20;
const STOP_WAIT: Duration = Duration::from_millis(50);

impl EditorScreen {
    /// Ends the editor once every line printed so far is on the screen. The
    /// editor then puts the terminal back itself and leaves the cursor on a
    /// fresh line. False if it did not end in time.
    fn stop(self) -> bool {
        if self.has_ended() {
            return true;
        }
        let mut printer = self.printer;
        // Flush: the printer hands lines over through a channel that holds
        // one, so a print returns only once the line before it has been
        // taken, and the editor draws a line it took before it reads
        // anything else. After this print every real line has been drawn
        // or is being drawn. (If it fails, the editor is ending anyway.)
        let _ = printer.print(FLUSH_MARK.to_string());
        // Interrupt: while rustyline waits for a key it turns SIGINT into
        // Ctrl-C and returns from `readline`. A SIGINT landing anywhere
        // else in the editor's loop is ignored now, and the loop checks
        // `stop` before it reads again; only between that check and
        // `readline` can a signal be missed, hence the retries.
        self.sigint_exits.store(false, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.as_pthread_t();
        for _ in 0..STOP_ATTEMPTS {
            // SAFETY: the thread has not been joined or detached (we hold its
            // JoinHandle), so its id is valid even if it has ended.
            unsafe { libc::pthread_kill(thread, libc::SIGINT) };
            match self.ended.recv_timeout(STOP_WAIT) {
                Err(std_mpsc::RecvTimeoutError::Timeout) => continue,
                Ok(()) | Err(std_mpsc::RecvTimeoutError::Disconnected) => return true,
            }
        }
        false
    }

    fn has_ended(&self) -> bool {
        matches!(
            self.ended.try_recv(),
            Err(std_mpsc::TryRecvError::Disconnected)
        )
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
    // While `readline` waits, rustyline installs its own SIGINT handler and
    // puts this one back after. Outside it, SIGINT exits as by default,
    // until `EditorScreen::stop` disarms it to interrupt the editor.
    let sigint_exits = Arc::new(AtomicBool::new(true));
    signal_hook::flag::register_conditional_shutdown(libc::SIGINT, 130, sigint_exits.clone())?;
    let stop = Arc::new(AtomicBool::new(false));
    let (ended_tx, ended) = std_mpsc::channel::<()>();
    let (mut tx, rx) = mpsc::channel(INPUT_QUEUE);
    let stopping = stop.clone();
    let thread = std::thread::spawn(move || {
        // Dropped when this thread ends, which `EditorScreen::stop` waits for.
        let _ended = ended_tx;
        while !stopping.load(Ordering::SeqCst) {
            let typed = match editor.readline("> ") {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        // History is a convenience: a failure to add is harmless.
                        let _ = editor.add_history_entry(line.as_str());
                    }
                    Typed::Line(line)
                }
                // Interrupted by `EditorScreen::stop`, not by a key.
                Err(_) if stopping.load(Ordering::SeqCst) => return,
                Err(ReadlineError::Interrupted) => Typed::Interrupted,
                Err(_) => Typed::Eof,
            };
            let last = !matches!(typed, Typed::Line(_));
            if block_on(tx.send(typed)).is_err() || last {
                return;
            }
        }
    });
    let screen = EditorScreen {
        printer: Box::new(printer),
        stop,
        sigint_exits,
        thread,
        ended,
    };
    Ok((Screen::Editor(screen), rx))
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
