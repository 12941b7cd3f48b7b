//! The server's console: coloured log lines on stderr and, on a terminal, a
//! live status line below them. Log lines are printed with the status line
//! suspended, so the two never garble each other. The status line is
//! redrawn at most ten times a second, and only after something changed: an
//! idle server does no work for it.

use std::fmt::Display;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use yansi::{Paint, Style};

use crate::runtime;

/// A handle on the console; clones share it. `Log::silent()` prints nothing.
#[derive(Clone, Default)]
pub struct Log {
    console: Option<Arc<Console>>,
}

struct Console {
    color: bool,
    /// The status line, when stderr is a terminal.
    bar: Option<ProgressBar>,
    online: AtomicUsize,
    relayed: AtomicU64,
    /// Pokes the status task; a full channel means a redraw is pending.
    dirty: Option<Mutex<mpsc::Sender<()>>>,
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
    /// `status` (stderr is a terminal).
    pub fn console(color: bool, status: bool) -> Log {
        let (bar, dirty) = if status {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            let (tx, rx) = mpsc::channel(1);
            (Some(bar), Some((tx, rx)))
        } else {
            (None, None)
        };
        let (dirty_tx, dirty_rx) = match dirty {
            Some((tx, rx)) => (Some(tx), Some(rx)),
            None => (None, None),
        };
        let console = Arc::new(Console {
            color,
            bar,
            online: AtomicUsize::new(0),
            relayed: AtomicU64::new(0),
            dirty: dirty_tx.map(Mutex::new),
        });
        if let Some(rx) = dirty_rx {
            runtime::spawn(status_loop(Arc::downgrade(&console), rx));
        }
        console.redraw();
        Log {
            console: Some(console),
        }
    }

    /// A plain line (start-up information).
    pub fn info(&self, text: impl Display) {
        self.line(Style::new(), text);
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
        if let Some(Ok(mut dirty)) = console.dirty.as_ref().map(Mutex::lock) {
            // Full means a redraw is already coming: nothing to add.
            let _ = dirty.try_send(());
        }
    }

    /// Removes the status line (at exit).
    pub fn finish(&self) {
        if let Some(bar) = self.console.as_ref().and_then(|c| c.bar.as_ref()) {
            bar.finish_and_clear();
        }
    }

    fn line(&self, style: Style, text: impl Display) {
        let Some(console) = &self.console else { return };
        let text = text.to_string();
        let line = if console.color {
            text.paint(style).to_string()
        } else {
            text
        };
        let print = || {
            // A closed stderr must not take the server down with it.
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        };
        match &console.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

impl Console {
    fn redraw(&self) {
        let Some(bar) = &self.bar else { return };
        let online = self.online.load(Ordering::Relaxed);
        let relayed = self.relayed.load(Ordering::Relaxed);
        let text = format!("{online} online · {relayed} messages relayed · Ctrl-C stops");
        let text = if self.color {
            text.paint(BOLD).to_string()
        } else {
            text
        };
        bar.set_message(text);
    }
}

/// Redraws the status line after changes, at most every 100 ms; sleeps
/// (no polling) while nothing changes; ends with the console.
async fn status_loop(console: std::sync::Weak<Console>, mut dirty: mpsc::Receiver<()>) {
    while dirty.next().await.is_some() {
        runtime::sleep(Duration::from_millis(100)).await;
        // Every change so far is covered by this one redraw.
        while dirty.try_recv().is_ok() {}
        match console.upgrade() {
            Some(console) => console.redraw(),
            None => return,
        }
    }
}
