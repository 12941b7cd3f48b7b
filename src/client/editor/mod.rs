//! The line editor of `sockchat join` on a terminal. It stays in raw mode
//! for the whole session, so a key typed at any moment (right after Enter,
//! in a paste, from a script) is read once and in order: nothing goes back
//! to the terminal's own line discipline, which is what loses type-ahead.
//!
//! - [`keys`]: bytes → keys (escape sequences, UTF-8, bracketed paste).
//! - [`line`](mod@line): keys → the line, its history, Ctrl-R and Tab; actions out.
//! - [`roster`]: who is online, from what the server says (for Tab).
//! - [`layout`]: the input rows at a width, and where they went on resize.
//! - this file: the thread that owns all of it and the screen, fed by a
//!   stdin reader thread, a signal thread and the session's prints. Raw
//!   mode and bracketed paste it asks of [`super::terminal`], which owns
//!   the terminal's settings.
//!
//! Why our own: rustyline and reedline leave raw mode between lines (the
//! lost keys above); rustyline-async stays raw but has no Ctrl-R, no
//! completion, no Ctrl-Z and redraws a wrapped line wrongly on resize.

pub mod keys;
pub mod layout;
pub mod line;
pub mod roster;
mod tty;

use std::collections::VecDeque;
use std::io::Write;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use futures::channel::mpsc;
use signal_hook::consts::{SIGCONT, SIGHUP, SIGINT, SIGTERM, SIGTSTP, SIGWINCH};

use super::tags::Tags;
use super::terminal::{self, Mode, RestoreGuard};
use super::typed::{Typed, INPUT_QUEUE};
use keys::Decoder;
use layout::Layout;
use line::{Action, Editor};

pub use tty::{can_drive, reflows, width, REFLOW_VARS};

/// Messages waiting to be drawn; when full, the session waits (and so
/// stops reading the server, which then drops us as too slow, as it should).
const PRINT_QUEUE: usize = 1024;

/// While the session has not taken the lines typed, how often to offer
/// them again.
const RETRY: Duration = Duration::from_millis(10);

/// What the editor's thread hears about.
enum Event {
    /// Bytes read from the terminal; the reader waits for an ack.
    Input(Vec<u8>),
    /// The terminal's input ended (hung up).
    InputEnd,
    /// A line to show above the input.
    Print(String),
    /// The tags of a live server line, for the names online.
    Heard(Box<Tags>),
    /// The current room for the prompt (None: none shown) and the rooms
    /// known, for Tab.
    Rooms(Option<String>, Vec<String>),
    /// A status shown before the prompt (reconnecting…); None: no status.
    Status(Option<String>),
    /// Lines the session holds that wait for the room's pace (None: none).
    Sending(Option<usize>),
    /// A signal caught (SIGWINCH, SIGTSTP, SIGCONT, or one that leaves).
    Signal(i32),
    /// Draw everything printed so far, put the terminal back, then answer.
    Finish(std_mpsc::Sender<()>),
}

/// The editor seen from the session: print above the input, then finish.
pub struct EditorScreen {
    /// To the editor's thread (bounded: a print waits when it is full).
    events: std_mpsc::SyncSender<Event>,
}

/// How long `finish` waits for the editor to put the terminal back.
const FINISH_WAIT: Duration = Duration::from_secs(2);

impl EditorScreen {
    /// Shows `line` above the input.
    pub fn print(&self, line: &str) -> bool {
        self.events.send(Event::Print(line.to_string())).is_ok()
    }

    /// Tells the editor the tags of a line the server sent (for
    /// completing names), when they say something about who is online.
    pub fn heard(&self, tags: &Tags) {
        if tags.kept.is_none() && tags.reply.is_none() {
            return;
        }
        // Completion is a convenience: an editor already gone needs no names.
        let _ = self.events.send(Event::Heard(Box::new(tags.clone())));
    }

    /// The prompt shows `room` (None: `> ` alone); Tab completes `known`
    /// rooms after the room commands.
    pub fn rooms(&self, room: Option<String>, known: Vec<String>) {
        // A prompt is a courtesy: an editor already gone shows nothing.
        let _ = self.events.send(Event::Rooms(room, known));
    }

    /// Shows `status` before the prompt, on the input row (None: none).
    pub fn status(&self, status: Option<String>) {
        // A status is a courtesy: an editor already gone shows nothing.
        let _ = self.events.send(Event::Status(status));
    }

    /// The session holds `lines` waiting for the room's pace (None: it
    /// sends as they come): shown before the prompt with the lines typed
    /// that the session has not taken yet.
    pub fn sending(&self, lines: Option<usize>) {
        // As a status: an editor already gone shows nothing.
        let _ = self.events.send(Event::Sending(lines));
    }

    /// Erases the input, restores the terminal once every line printed is
    /// shown. False if the editor did not answer in time.
    pub fn finish(self) -> bool {
        let (done, finished) = std_mpsc::channel();
        if self.events.send(Event::Finish(done)).is_err() {
            return false;
        }
        finished.recv_timeout(FINISH_WAIT).is_ok()
    }
}

/// Starts the editor: raw mode, the reader and signal threads, the thread
/// that draws. Fails if the terminal cannot be put in raw mode.
pub fn start(reflows: bool) -> anyhow::Result<(EditorScreen, mpsc::Receiver<Typed>)> {
    let raw = terminal::enter(Mode::Raw)?;
    let (events, inbox) = std_mpsc::sync_channel(PRINT_QUEUE);
    let (ack, acked) = std_mpsc::channel();
    let reader = events.clone();
    std::thread::spawn(move || tty::read_loop(reader, acked));
    let mut signals =
        signal_hook::iterator::Signals::new([SIGWINCH, SIGCONT, SIGTSTP, SIGINT, SIGTERM, SIGHUP])?;
    let signalled = events.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signalled.send(Event::Signal(signal)).is_err() {
                return;
            }
        }
    });
    let (typed_tx, typed) = mpsc::channel(INPUT_QUEUE);
    let mut driver = Driver {
        editor: Editor::new(),
        decoder: Decoder::new(),
        _raw: raw,
        width: tty::width(),
        reflows,
        drawn: Layout::default(),
        status: None,
        sending: None,
        on_screen: false,
        leaving: false,
        pending: VecDeque::new(),
        typed: typed_tx,
        ack,
        owe_ack: false,
        out: Vec::new(),
    };
    std::thread::spawn(move || driver.run(inbox));
    Ok((EditorScreen { events }, typed))
}

/// The editor's thread: the only one that writes to the terminal.
struct Driver {
    /// The line, its history and completions.
    editor: Editor,
    /// Bytes read → keys, across reads.
    decoder: Decoder,
    /// Raw mode, put back when the editor's thread ends.
    _raw: RestoreGuard,
    /// Columns of the terminal.
    width: usize,
    /// Whether the terminal reflows lines on resize (see `layout`).
    reflows: bool,
    /// The input as last drawn.
    drawn: Layout,
    /// Shown before the prompt while set (plain text: its width is counted).
    status: Option<String>,
    /// Lines the session holds for the room's pace, while it holds some.
    sending: Option<usize>,
    /// Whether `drawn` is on the screen now.
    on_screen: bool,
    /// Ctrl-D or Ctrl-C: no prompt any more, keys ignored.
    leaving: bool,
    /// What was typed and not yet taken by the session.
    pending: VecDeque<Typed>,
    /// To the session.
    typed: mpsc::Sender<Typed>,
    /// Lets the reader read on.
    ack: std_mpsc::Sender<()>,
    /// The reader waits for `ack`.
    owe_ack: bool,
    /// Bytes for the terminal, written once per batch of events.
    out: Vec<u8>,
}

impl Driver {
    fn run(&mut self, inbox: std_mpsc::Receiver<Event>) {
        self.redraw();
        self.flush();
        loop {
            let first = if self.pending.is_empty() {
                inbox.recv().ok()
            } else {
                match inbox.recv_timeout(RETRY) {
                    Ok(event) => Some(event),
                    Err(std_mpsc::RecvTimeoutError::Timeout) => None,
                    Err(std_mpsc::RecvTimeoutError::Disconnected) => return self.finish(None),
                }
            };
            // The width is read before anything is drawn: a print that
            // came before SIGWINCH must not be laid out at the old width.
            self.resized();
            // Everything already waiting is handled before one redraw.
            let batch = first
                .into_iter()
                .chain(std::iter::from_fn(|| inbox.try_recv().ok()));
            for event in batch {
                if let Event::Finish(done) = event {
                    return self.finish(Some(done));
                }
                self.handle(event);
            }
            self.hand_over();
            self.resized();
            self.redraw();
            self.flush();
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Input(bytes) => {
                self.owe_ack = true;
                let mut keys = Vec::new();
                self.decoder.feed(&bytes, &mut keys);
                for key in keys {
                    self.key(key);
                }
            }
            Event::InputEnd => self.leave(Typed::Eof),
            Event::Print(line) => {
                self.hide();
                self.out.extend_from_slice(line.as_bytes());
                self.out.extend_from_slice(b"\r\n");
            }
            Event::Heard(line) => self.editor.roster.heard(&line),
            Event::Rooms(room, known) => {
                self.hide();
                self.editor.room = room;
                self.editor.rooms = known;
            }
            Event::Status(status) => {
                self.hide();
                self.status = status;
            }
            Event::Sending(lines) => {
                self.hide();
                self.sending = lines;
            }
            // Each batch looks at the width first (`resized`).
            Event::Signal(SIGWINCH) => {}
            Event::Signal(SIGTSTP) => self.suspend(),
            Event::Signal(SIGCONT) => {
                // Back from a stop we did not make (SIGSTOP): raw mode again.
                terminal::resume(Mode::Raw);
                self.hide();
                self.width = tty::width();
            }
            Event::Signal(_) => self.leave(Typed::Interrupted),
            Event::Finish(_) => {}
        }
    }

    fn key(&mut self, key: keys::Key) {
        if self.leaving {
            return;
        }
        self.hide();
        match self.editor.key(key) {
            Action::None => {}
            // Not echoed as typed: the session shows each line as the
            // room sees it (`Max: text`), or marks it as not sent.
            Action::Submit(line) => self.pending.push_back(Typed::Line(line)),
            Action::Eof => self.leave(Typed::Eof),
            Action::Interrupt => self.leave(Typed::Interrupted),
            Action::Suspend => self.suspend(),
        }
    }

    /// Stops typing: the prompt goes and the session is told why.
    fn leave(&mut self, why: Typed) {
        if !self.leaving {
            self.hide();
            self.leaving = true;
            self.pending.push_back(why);
        }
    }

    /// Ctrl-Z: the terminal as it was, stopped as by default; on `fg`,
    /// raw mode and the input again.
    fn suspend(&mut self) {
        self.hide();
        self.flush();
        terminal::put_back();
        // Cannot fail for SIGTSTP (it is not SIGKILL or SIGSTOP).
        let _ = signal_hook::low_level::emulate_default_handler(SIGTSTP);
        terminal::resume(Mode::Raw);
        self.width = tty::width();
    }

    /// If the terminal's width changed, erases the input rows from where
    /// the resize put them.
    fn resized(&mut self) {
        let width = tty::width();
        if width == self.width {
            return;
        }
        if self.on_screen {
            let up = layout::rows_above_after_resize(&self.drawn, width, self.reflows);
            layout::erase(up, &mut self.out);
            self.on_screen = false;
        }
        self.width = width;
    }

    /// Erases the input rows, if drawn; the cursor is then where they began.
    fn hide(&mut self) {
        if self.on_screen {
            layout::erase(self.drawn.cursor.0, &mut self.out);
            self.on_screen = false;
        }
    }

    fn redraw(&mut self) {
        if self.on_screen || self.leaving {
            return;
        }
        let mut view = self.editor.view();
        if let Some(status) = self.status_now() {
            view.prompt = format!("{status} {}", view.prompt);
        }
        self.drawn = Layout::new(&view, self.width);
        self.drawn.draw(&mut self.out);
        self.on_screen = true;
    }

    /// What the status shows now: the reconnect's, else how many lines
    /// are still to go out (the session's and those not handed to it).
    fn status_now(&self) -> Option<String> {
        if let Some(status) = &self.status {
            return Some(status.clone());
        }
        let held = self.sending?;
        let here = self.pending.iter().filter(|t| matches!(t, Typed::Line(_)));
        Some(format!("sending… {} more", held + here.count()))
    }

    /// Gives the session what was typed, as far as it takes it; the reader
    /// reads on only once everything is taken.
    fn hand_over(&mut self) {
        while let Some(typed) = self.pending.pop_front() {
            match self.typed.try_send(typed) {
                Ok(()) => {}
                Err(e) if e.is_full() => {
                    self.pending.push_front(e.into_inner());
                    return;
                }
                // The session is gone; nothing more to give.
                Err(_) => self.pending.clear(),
            }
        }
        if self.owe_ack {
            // A reader gone (end of input) needs no ack.
            let _ = self.ack.send(());
            self.owe_ack = false;
        }
    }

    fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        // A terminal gone (hung up) shows nothing; the reader ends the session.
        let _ = stdout.write_all(&self.out);
        let _ = stdout.flush();
        self.out.clear();
    }

    fn finish(&mut self, done: Option<std_mpsc::Sender<()>>) {
        self.hide();
        self.flush();
        terminal::put_back();
        if let Some(done) = done {
            // The session may have stopped waiting; nothing to tell then.
            let _ = done.send(());
        }
    }
}
