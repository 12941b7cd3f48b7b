//! What a child writes to a pipe or a pty, read on a thread of its own:
//! the child never blocks on a full pipe, and every wait for its output has
//! a deadline.

use std::io::Read;
use std::sync::mpsc;
use std::time::Instant;

use super::WAIT;

/// A stream (stdout, stderr, a pty) and everything it has given so far.
pub struct Output {
    chunks: mpsc::Receiver<Vec<u8>>,
    /// Everything read so far.
    seen: Vec<u8>,
    /// Where the next `expect` starts looking.
    from: usize,
    /// Whether the stream has ended (the reading thread is done).
    ended: bool,
    /// For failure messages: "Max's stdout".
    label: String,
}

impl Output {
    /// Starts reading `reader` on a thread until it ends.
    pub fn read(label: impl Into<String>, mut reader: impl Read + Send + 'static) -> Output {
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // A pty master reports the end with EIO, a pipe with Ok(0).
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Output {
            chunks,
            seen: Vec::new(),
            from: 0,
            ended: false,
            label: label.into(),
        }
    }

    /// Everything read so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Everything read so far, as bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.seen
    }

    /// Waits until `needle` appears after the previous match; returns the
    /// text between them, the match included. Panics after [`WAIT`].
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        // Where a match may still start: each chunk is searched once (with
        // the needle's length before it), not everything again, so that
        // megabytes of output are not searched hundreds of times.
        let mut unsearched = self.from;
        loop {
            if let Some(at) = find(&self.seen[unsearched..], needle.as_bytes()) {
                let end = unsearched + at + needle.len();
                let got = String::from_utf8_lossy(&self.seen[self.from..end]).into_owned();
                self.from = end;
                return got;
            }
            let overlap = needle.len().saturating_sub(1);
            unsearched = self.seen.len().saturating_sub(overlap).max(self.from);
            if !self.more(deadline) {
                self.never_showed(&format!("{needle:?}"));
            }
        }
    }

    /// Waits until `done` holds for everything read so far (asked again
    /// after each chunk). Panics after [`WAIT`], saying it waited for `what`.
    pub fn expect_that(&mut self, what: &str, mut done: impl FnMut(&[u8]) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.seen) {
            if !self.more(deadline) {
                self.never_showed(what);
            }
        }
    }

    fn never_showed(&self, what: &str) -> ! {
        panic!(
            "{} never showed {what} ({}); it showed:\n{:?}",
            self.label,
            if self.ended { "it ended" } else { "timed out" },
            self.text()
        );
    }

    /// Waits for the end of the stream and returns everything it gave.
    pub fn expect_end(&mut self) -> String {
        self.expect_end_by(Instant::now() + WAIT)
    }

    /// Waits for the end of the stream until `deadline`.
    pub fn expect_end_by(&mut self, deadline: Instant) -> String {
        while self.more(deadline) {}
        assert!(
            self.ended,
            "{} did not end in time; it showed:\n{:?}",
            self.label,
            self.text()
        );
        self.text()
    }

    /// Reads one more chunk; false at the end or at the deadline.
    fn more(&mut self, deadline: Instant) -> bool {
        if self.ended {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match self.chunks.recv_timeout(left) {
            Ok(chunk) => {
                self.seen.extend_from_slice(&chunk);
                true
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.ended = true;
                false
            }
            Err(mpsc::RecvTimeoutError::Timeout) => false,
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
