//! The server's console: coloured log lines on stderr and, on a terminal, a
//! live status line below them.
//!
//! Everything that touches stderr happens on one thread of its own, fed by
//! a bounded queue: a slow or stalled stderr (a terminal paused with
//! Ctrl-S, a pipe nobody reads) must never stop the broker, and a flood of
//! peer-made log lines can cost at most the queue. Lines that do not fit
//! are counted and the count is logged. Log lines are printed with the
//! status line suspended, so the two never garble each other; the status
//! line is redrawn at most ten times a second, and only after something
//! changed: an idle server does no work for it.
//!
//! Without a status line (stderr is a file, a pipe or a journal), each log
//! line starts with the time it was logged, in RFC 3339 UTC with
//! milliseconds (`2026-12-07T03:41:07.123Z`), so an operator can match it
//! with a client's report. A terminal's log is watched as it happens and
//! keeps its lines short.

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use yansi::{Paint, Style};

use super::status_line::StatusLine;

/// Log lines waiting for the console thread.
const QUEUE: usize = 4096;

/// The least time between two redraws of the status line.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// How long `finish` waits for the console thread to clear the status line.
const FINISH_WAIT: Duration = Duration::from_secs(1);

/// A handle on the console; clones share it. `Log::silent()` prints nothing.
#[derive(Clone, Default)]
pub struct Log {
    console: Option<Arc<Console>>,
}

struct Console {
    color: bool,
    /// Whether there is a status line to keep up to date.
    status: bool,
    /// Whether each line starts with the time (when there is no status line).
    times: bool,
    to_thread: SyncSender<Entry>,
    /// Figures for the status line.
    online: AtomicUsize,
    relayed: AtomicU64,
    /// Set when the figures changed and the thread was told; cleared by it.
    dirty: AtomicBool,
    /// Lines that did not fit in the queue since the last one that did.
    dropped: AtomicU64,
}

/// What the console thread is asked to do.
enum Entry {
    Line(String),
    /// The status figures changed.
    Changed,
    /// Clear the status line and stop; answer when done.
    Finish(mpsc::Sender<()>),
}

const GREEN: Style = Style::new().green();
const YELLOW: Style = Style::new().yellow();
const RED: Style = Style::new().red();
const BOLD: Style = Style::new().bold();

impl Log {
    /// A log that prints nothing (tests, benchmarks).
    pub fn silent() -> Log {
        Log::default()
    }

    /// Logs to stderr, coloured when `color`; with a live status line when
    /// `status` (stderr is a terminal), and with times on the lines when not.
    pub fn console(color: bool, status: bool) -> Log {
        let (to_thread, from_log) = mpsc::sync_channel(QUEUE);
        let console = Arc::new(Console {
            color,
            status,
            times: !status,
            to_thread,
            online: AtomicUsize::new(0),
            relayed: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        });
        let bar = status.then(StatusLine::new);
        let weak = Arc::downgrade(&console);
        std::thread::spawn(move || console_thread(from_log, bar, weak));
        console.changed();
        Log {
            console: Some(console),
        }
    }

    /// A connection, a login: green.
    pub fn good(&self, text: impl Display) {
        self.line(GREEN, text);
    }
    /// Someone left, a connection was refused: yellow.
    pub fn warn(&self, text: impl Display) {
        self.line(YELLOW, text);
    }
    /// Something failed: red.
    pub fn error(&self, text: impl Display) {
        self.line(RED, text);
    }

    /// New figures for the status line.
    pub fn status(&self, online: usize, relayed: u64) {
        let Some(console) = &self.console else { return };
        console.online.store(online, Ordering::Relaxed);
        console.relayed.store(relayed, Ordering::Relaxed);
        console.changed();
    }

    /// Prints what is queued, removes the status line (at exit).
    pub fn finish(&self) {
        let Some(console) = &self.console else { return };
        let (done, finished) = mpsc::channel();
        if console.to_thread.send(Entry::Finish(done)).is_ok() {
            // Bounded: a stalled stderr must not hold the exit either.
            let _ = finished.recv_timeout(FINISH_WAIT);
        }
    }

    fn line(&self, style: Style, text: impl Display) {
        let Some(console) = &self.console else { return };
        let text = text.to_string();
        let text = if console.color {
            text.paint(style).to_string()
        } else {
            text
        };
        // The time it happened, not the time the console thread got to it.
        let line = match console.times {
            true => timed(Timestamp::now(), &text),
            false => text,
        };
        if let Err(TrySendError::Full(_)) = console.to_thread.try_send(Entry::Line(line)) {
            console.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Console {
    /// Tells the thread the figures changed, once until it has redrawn.
    fn changed(&self) {
        if self.status && !self.dirty.swap(true, Ordering::AcqRel) {
            // Full: lines are queued, and the redraw after them will come.
            let _ = self.to_thread.try_send(Entry::Changed);
        }
    }

    /// Draws the figures as they are now on `line`.
    fn draw_status(&self, line: &mut StatusLine) {
        self.dirty.store(false, Ordering::Release);
        let online = self.online.load(Ordering::Relaxed);
        let relayed = self.relayed.load(Ordering::Relaxed);
        let messages = if relayed == 1 { "message" } else { "messages" };
        let text = format!("{online} online · {relayed} {messages} relayed · Ctrl-C stops");
        line.draw(&text, |cut| match self.color {
            true => cut.paint(BOLD).to_string(),
            false => cut.to_string(),
        });
    }
}

/// A log line after its time: RFC 3339, UTC, to the millisecond.
fn timed(at: Timestamp, text: &str) -> String {
    format!("{at:.3} {text}")
}

/// The one place that writes to stderr: log lines above the status line,
/// and the status line at most every [`REDRAW_EVERY`] after a change.
fn console_thread(
    entries: mpsc::Receiver<Entry>,
    mut bar: Option<StatusLine>,
    console: std::sync::Weak<Console>,
) {
    // The first status line is drawn at once.
    let mut redraw_at = bar.as_ref().map(|_| Instant::now());
    loop {
        let entry = match redraw_at {
            Some(at) => entries.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => entries.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match entry {
            Ok(Entry::Line(line)) => {
                let dropped = console
                    .upgrade()
                    .map_or(0, |c| c.dropped.swap(0, Ordering::Relaxed));
                let mut lines = Vec::with_capacity(2);
                if dropped > 0 {
                    let text =
                        format!("Server: ({dropped} log lines dropped: logging fell behind)");
                    // Timed as the other lines are: when there is no status line.
                    lines.push(match bar.is_none() {
                        true => timed(Timestamp::now(), &text),
                        false => text,
                    });
                }
                lines.push(line);
                for line in lines {
                    match &mut bar {
                        Some(bar) => bar.print_above(&line),
                        None => {
                            // A closed stderr must not take the server down with it.
                            let _ = writeln!(std::io::stderr().lock(), "{line}");
                        }
                    }
                }
            }
            Ok(Entry::Changed) => {
                redraw_at.get_or_insert_with(|| Instant::now() + REDRAW_EVERY);
            }
            Ok(Entry::Finish(done)) => {
                if let Some(bar) = &mut bar {
                    bar.clear();
                }
                let _ = done.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                redraw_at = None;
                if let (Some(bar), Some(console)) = (&mut bar, console.upgrade()) {
                    console.draw_status(bar);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(bar) = &mut bar {
                    bar.clear();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_starts_with_its_time_in_utc_to_the_millisecond() {
        let at: Timestamp = "2026-12-07T03:41:07.123456Z".parse().expect("a time");
        assert_eq!(
            timed(at, "Server: Connection from 127.0.0.1:5000"),
            "2026-12-07T03:41:07.123Z Server: Connection from 127.0.0.1:5000"
        );
        let whole: Timestamp = "2026-12-07T03:41:07Z".parse().expect("a time");
        assert_eq!(timed(whole, "x"), "2026-12-07T03:41:07.000Z x");
    }
}
