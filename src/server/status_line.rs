//! The server console's status line: one line at the bottom of the
//! terminal, redrawn in place, with log lines printed above it.
//!
//! It never reaches the terminal's last two columns: the terminal echoes
//! Ctrl-C as `^C` where the cursor is, and if that wrapped, the status line
//! would be left behind, stale, above `Server: shutting down`. It is cut to
//! fit (the width is read again at every draw, so a resize is followed).

use std::io::Write;

/// Back to the start of the line, and clear it.
const CLEAR: &str = "\r\x1b[K";

/// The status line on stderr (a terminal); the cursor stays on it.
pub struct StatusLine {
    /// What is drawn now (already cut and styled), if anything.
    shown: Option<String>,
}

impl StatusLine {
    pub fn new() -> StatusLine {
        StatusLine { shown: None }
    }

    /// Draws `text`, cut to fit, styled by `paint` after cutting.
    pub fn draw(&mut self, text: &str, paint: impl Fn(&str) -> String) {
        let line = paint(&fit(text, columns()));
        let mut err = std::io::stderr().lock();
        // A closed stderr must not take the server down with it.
        let _ = write!(err, "{CLEAR}{line}");
        let _ = err.flush();
        self.shown = Some(line);
    }

    /// Prints `line` above the status line, which is drawn again below it.
    pub fn print_above(&mut self, line: &str) {
        let mut err = std::io::stderr().lock();
        // As in `draw`: stderr failing is no reason to stop.
        let _ = match &self.shown {
            Some(shown) => write!(err, "{CLEAR}{line}\n{shown}"),
            None => writeln!(err, "{line}"),
        };
        let _ = err.flush();
    }

    /// Removes the status line, leaving the cursor at the start of its row.
    pub fn clear(&mut self) {
        if self.shown.take().is_some() {
            let mut err = std::io::stderr().lock();
            // As in `draw`.
            let _ = write!(err, "{CLEAR}");
            let _ = err.flush();
        }
    }
}

/// `text` cut to leave the last two of `columns` free (room for `^C`),
/// with `…` where it was cut.
pub fn fit(text: &str, columns: usize) -> String {
    let room = columns.saturating_sub(2);
    if text.chars().count() <= room {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(room.saturating_sub(1)).collect();
    if room > 0 {
        cut.push('…');
    }
    cut
}

/// The width of the terminal on stderr; 80 if it cannot be told.
fn columns() -> usize {
    // SAFETY: winsize is plain data; TIOCGWINSZ fills it or fails.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: stderr is open for the life of the process; the ioctl only
    // writes into `size`.
    let read = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
    match (read, size.ws_col) {
        (0, cols @ 1..) => usize::from(cols),
        _ => 80,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_fits_is_left_whole_with_two_columns_free() {
        assert_eq!(fit("3 online", 80), "3 online");
        assert_eq!(fit("3 online", 10), "3 online");
        assert_eq!(fit("3 online", 9), "3 onli…");
    }

    #[test]
    fn a_narrow_terminal_gets_a_cut_line_never_a_wrapped_one() {
        let text = "12 online · 345 messages relayed · Ctrl-C stops";
        for columns in 0..60 {
            let cut = fit(text, columns);
            assert!(
                cut.chars().count() + 2 <= columns.max(2),
                "{columns}: {cut}"
            );
        }
    }
}
