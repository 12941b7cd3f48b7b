//! Bytes to lines. TCP is a byte stream: one read may hold half a line or
//! fifty of them, so lines are cut at `\n` (a `\r` before it is dropped), and
//! a line longer than the cap is thrown away as it streams past instead of
//! being buffered, so a peer that never sends a newline costs at most `max`
//! bytes of memory.
//!
//! On a plain connection the bytes are first rid of telnet's commands
//! ([`LineFramer::drop_telnet`], see [`super::telnet`]); the framer keeps
//! that filter's state too, so that all a connection's input state is in
//! one place (and fits in the room the framer's flag leaves).

use std::ops::ControlFlow;

use super::telnet::Telnet;

/// Bytes of allocation kept for partial lines between lines.
const KEEP_PARTIAL: usize = 256;

/// What the framer found in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole line without its `\n` / `\r\n`. May hold invalid UTF-8.
    Line(&'a [u8]),
    /// A line longer than the cap ended here; its bytes were discarded.
    TooLong,
}

/// Splits a byte stream into lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineFramer {
    /// The start of a line whose end has not arrived yet (never over `max`).
    partial: Vec<u8>,
    /// The longest line accepted, in bytes, without its line end.
    max: usize,
    /// True while skipping the rest of an over-long line.
    discarding: bool,
    /// Where a plain connection is in telnet's commands; None under TLS.
    telnet: Option<Telnet>,
    /// The unterminated last line, once [`LineFramer::finish`] gave it out.
    last: Vec<u8>,
}

impl LineFramer {
    pub fn new(max: usize) -> Self {
        LineFramer {
            partial: Vec::new(),
            max,
            discarding: false,
            telnet: None,
            last: Vec::new(),
        }
    }

    /// A framer for a plain connection, whose peer may be `telnet`: see
    /// [`LineFramer::drop_telnet`].
    pub fn with_telnet(max: usize) -> Self {
        LineFramer {
            telnet: Some(Telnet::default()),
            ..LineFramer::new(max)
        }
    }

    /// Drops telnet's commands from a read, in place, if this framer was
    /// made [`LineFramer::with_telnet`]; returns how many bytes are left
    /// at the start of `read`, to be fed. Each byte is to pass here once,
    /// when it is read (an escaped FF must not be taken for a command).
    pub fn drop_telnet(&mut self, read: &mut [u8]) -> usize {
        match &mut self.telnet {
            Some(telnet) => telnet.filter(read),
            None => read.len(),
        }
    }

    /// Feeds the bytes of one read and calls `on_frame` for every line that
    /// they complete. Lines that lie wholly inside `data` are passed without
    /// copying.
    pub fn feed(&mut self, data: &[u8], mut on_frame: impl FnMut(Frame<'_>)) {
        self.feed_until(data, |frame| {
            on_frame(frame);
            ControlFlow::Continue(())
        });
    }

    /// As [`LineFramer::feed`], but stops after a frame for which
    /// `on_frame` breaks. Returns how many bytes of `data` were taken: the
    /// rest is to be fed again later, from where it stopped.
    pub fn feed_until(
        &mut self,
        mut data: &[u8],
        mut on_frame: impl FnMut(Frame<'_>) -> ControlFlow<()>,
    ) -> usize {
        let total = data.len();
        while !data.is_empty() {
            let newline = data.iter().position(|&b| b == b'\n');
            let (piece, rest) = match newline {
                Some(i) => (&data[..i], Some(&data[i + 1..])),
                None => (data, None),
            };
            match rest {
                Some(rest) => {
                    let flow = if self.discarding {
                        self.discarding = false;
                        on_frame(Frame::TooLong)
                    } else if self.partial.is_empty() {
                        match self.check(piece) {
                            Some(line) => on_frame(Frame::Line(line)),
                            None => on_frame(Frame::TooLong),
                        }
                    } else if self.partial.len() + piece.len() > self.max + 1 {
                        self.partial.clear();
                        on_frame(Frame::TooLong)
                    } else {
                        self.partial.extend_from_slice(piece);
                        let mut line = std::mem::take(&mut self.partial);
                        let flow = match self.check(&line) {
                            Some(l) => on_frame(Frame::Line(l)),
                            None => on_frame(Frame::TooLong),
                        };
                        // Keep a small allocation for the next partial line;
                        // give a large one back, so that an idle connection
                        // does not hold the room of its longest line.
                        if line.capacity() <= KEEP_PARTIAL {
                            line.clear();
                            self.partial = line;
                        }
                        flow
                    };
                    data = rest;
                    if flow.is_break() {
                        return total - data.len();
                    }
                }
                None => {
                    if !self.discarding {
                        // `max + 1` leaves room for a `\r` whose `\n` is yet to come.
                        if self.partial.len() + piece.len() > self.max + 1 {
                            self.partial.clear();
                            self.discarding = true;
                        } else {
                            self.partial.extend_from_slice(piece);
                        }
                    }
                    data = &[];
                }
            }
        }
        total
    }

    /// Called at end of stream: the unterminated last line, if any. A peer
    /// that closes mid-line still said that line (as `nc` does on Ctrl-D).
    pub fn finish(&mut self) -> Option<Frame<'_>> {
        if self.discarding {
            self.discarding = false;
            return Some(Frame::TooLong);
        }
        if self.partial.is_empty() {
            return None;
        }
        // The line is handed out once: a second call finds nothing.
        self.last = std::mem::take(&mut self.partial);
        let line = strip_cr(&self.last);
        let frame = if line.len() > self.max {
            Frame::TooLong
        } else {
            Frame::Line(line)
        };
        Some(frame)
    }

    /// Bytes held for an unfinished line.
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }

    /// Drops a trailing `\r` and applies the cap to the line's content.
    fn check<'a>(&self, piece: &'a [u8]) -> Option<&'a [u8]> {
        let line = strip_cr(piece);
        (line.len() <= self.max).then_some(line)
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeding_can_stop_after_a_frame_and_resume_from_there() {
        let mut framer = LineFramer::new(16);
        let data = b"one\ntwo\nthree\npart";
        let mut seen = Vec::new();
        let taken = framer.feed_until(data, |frame| {
            seen.push(format!("{frame:?}"));
            ControlFlow::Break(())
        });
        assert_eq!(taken, 4, "stopped after `one\\n`");
        let taken2 = framer.feed_until(&data[taken..], |frame| {
            seen.push(format!("{frame:?}"));
            ControlFlow::Continue(())
        });
        assert_eq!(taken + taken2, data.len());
        assert_eq!(seen.len(), 3);
        assert_eq!(framer.buffered(), 4, "`part` waits for its line end");
    }

    /// Feeds `chunks` one by one and renders every frame as a string.
    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut framer = LineFramer::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            framer.feed(chunk, |f| out.push(render(f)));
        }
        if let Some(f) = framer.finish() {
            out.push(format!("eof:{}", render(f)));
        }
        out
    }

    fn render(frame: Frame<'_>) -> String {
        match frame {
            Frame::Line(l) => String::from_utf8_lossy(l).into_owned(),
            Frame::TooLong => "<too long>".to_string(),
        }
    }

    #[test]
    fn a_line_split_across_reads_is_joined() {
        assert_eq!(frames(100, &[b"he", b"llo wo", b"rld\n"]), ["hello world"]);
    }

    #[test]
    fn many_lines_in_one_read_are_split() {
        assert_eq!(frames(100, &[b"a\nbb\nccc\n"]), ["a", "bb", "ccc"]);
    }

    #[test]
    fn crlf_and_lf_both_end_a_line() {
        assert_eq!(
            frames(100, &[b"one\r\ntwo\nthree\r", b"\n"]),
            ["one", "two", "three"]
        );
    }

    #[test]
    fn a_bare_cr_inside_a_line_is_kept_for_the_sanitizer() {
        assert_eq!(frames(100, &[b"a\rb\n"]), ["a\rb"]);
    }

    #[test]
    fn empty_lines_are_lines() {
        assert_eq!(frames(100, &[b"\n\r\n"]), ["", ""]);
    }

    #[test]
    fn a_line_of_exactly_max_bytes_passes() {
        assert_eq!(frames(4, &[b"abcd\n"]), ["abcd"]);
        assert_eq!(frames(4, &[b"ab", b"cd\r\n"]), ["abcd"]);
    }

    #[test]
    fn an_over_long_line_is_reported_once_and_the_next_line_survives() {
        assert_eq!(frames(4, &[b"abcde\nok\n"]), ["<too long>", "ok"]);
        assert_eq!(
            frames(4, &[b"abc", b"def", b"ghi", b"\nok\n"]),
            ["<too long>", "ok"]
        );
    }

    #[test]
    fn an_endless_line_is_never_buffered_past_the_cap() {
        let mut framer = LineFramer::new(16);
        let chunk = [b'x'; 1000];
        let mut frames = 0;
        for _ in 0..1000 {
            framer.feed(&chunk, |_| frames += 1);
            assert!(framer.buffered() <= 17);
        }
        assert_eq!(frames, 0);
        framer.feed(b"\nafter\n", |f| {
            assert!(matches!(f, Frame::TooLong | Frame::Line(b"after")))
        });
    }

    #[test]
    fn finish_gives_the_last_line_once() {
        let mut framer = LineFramer::new(100);
        framer.feed(b"tail", |_| {});
        assert_eq!(framer.finish(), Some(Frame::Line(b"tail")));
        assert_eq!(framer.finish(), None);
    }

    #[test]
    fn only_a_framer_with_telnet_drops_its_commands() {
        let ctrl_c = b"\xff\xf4\xff\xfd\x06hi\n";
        let mut read = *ctrl_c;
        assert_eq!(LineFramer::new(100).drop_telnet(&mut read), read.len());
        assert_eq!(&read, ctrl_c);
        let mut framer = LineFramer::with_telnet(100);
        let kept = framer.drop_telnet(&mut read);
        let mut lines = Vec::new();
        framer.feed(&read[..kept], |f| lines.push(render(f)));
        assert_eq!(lines, ["hi"]);
    }

    #[test]
    fn an_unterminated_last_line_is_given_at_eof() {
        assert_eq!(frames(100, &[b"a\nb"]), ["a", "eof:b"]);
        assert_eq!(frames(3, &[b"abcdef"]), ["eof:<too long>"]);
        assert_eq!(frames(100, &[b"a\n"]), ["a"]);
    }
}
