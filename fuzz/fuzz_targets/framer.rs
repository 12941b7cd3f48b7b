//! Bytes from the network, the whole way to a command: the input is cut
//! into reads, framed into lines, sanitized, then parsed as a client's
//! command and classified as a server line. Checks the invariants that the
//! rest of sockchat relies on.
//!
//! Input layout: byte 0 picks the line cap (bit 7 set: 4096, the server's
//! default; else 0..=63 so that over-long lines are common), bytes 1..=4
//! are the sizes of the successive reads (cycled; 0 is an empty read), and
//! the rest is the byte stream.

#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use sockchat::protocol::line::{Frame, LineFramer};
use sockchat::protocol::message::{classify, parse_input, Input, ServerLine};
use sockchat::protocol::name::Name;
use sockchat::protocol::sanitize::{
    sanitize, sanitize_bytes, visible, visible_bytes, MAX_BLANK_RUN,
};
use sockchat::protocol::unicode::{is_bidi_control, is_line_separator};

#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Line(Vec<u8>),
    TooLong,
}

fn owned(frame: Frame<'_>) -> Owned {
    match frame {
        Frame::Line(line) => Owned::Line(line.to_vec()),
        Frame::TooLong => Owned::TooLong,
    }
}

/// The framer's rules written the obvious way: split on `\n`, drop one
/// trailing `\r`, over `max` bytes is TooLong, a non-empty tail is a line.
fn reference(max: usize, data: &[u8]) -> Vec<Owned> {
    let mut pieces: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if pieces.last().is_some_and(|tail| tail.is_empty()) {
        pieces.pop();
    }
    pieces
        .into_iter()
        .map(|piece| {
            let line = piece.strip_suffix(b"\r").unwrap_or(piece);
            if line.len() <= max {
                Owned::Line(line.to_vec())
            } else {
                Owned::TooLong
            }
        })
        .collect()
}

/// Frames `data` cut into reads of the given sizes (cycled).
fn framed(max: usize, data: &[u8], sizes: &[u8]) -> Vec<Owned> {
    let mut framer = LineFramer::new(max);
    let mut frames = Vec::new();
    let mut rest = data;
    let mut sizes = sizes.iter().cycle();
    let mut empty_reads = 0;
    while !rest.is_empty() {
        let size = sizes.next().map_or(rest.len(), |&s| usize::from(s));
        // Empty reads are allowed, but not forever.
        let size = if size == 0 && empty_reads > 4 {
            rest.len()
        } else {
            size
        };
        empty_reads = if size == 0 { empty_reads + 1 } else { 0 };
        let (read, after) = rest.split_at(size.min(rest.len()));
        framer.feed(read, |frame| frames.push(owned(frame)));
        assert!(
            framer.buffered() <= max + 1,
            "buffered {} bytes with max {max}",
            framer.buffered()
        );
        rest = after;
    }
    frames.extend(framer.finish().map(owned));
    frames
}

fn check_line(raw: &[u8], max: usize) {
    assert!(raw.len() <= max && !raw.contains(&b'\n'));

    let text = sanitize_bytes(raw);
    assert!(!text.chars().any(char::is_control), "{text:?}");
    assert!(
        !text
            .chars()
            .any(|c| is_bidi_control(c) || is_line_separator(c)),
        "{text:?}"
    );
    assert!(!text.contains(&" ".repeat(MAX_BLANK_RUN + 1)), "{text:?}");
    assert!(matches!(sanitize(&text), Cow::Borrowed(t) if t == text));

    // What the client prints: no control character, and stable.
    let shown = visible_bytes(raw);
    assert!(!shown.chars().any(char::is_control), "{shown:?}");
    assert!(matches!(visible(&shown), Cow::Borrowed(t) if *t == *shown));

    // A name, once accepted, is accepted again as shown, with the same key.
    if let Ok(name) = Name::parse(&String::from_utf8_lossy(raw)) {
        assert_eq!(Name::parse(name.as_str()), Ok(name.clone()), "{name:?}");
    }

    match parse_input(&text) {
        Input::Empty => assert!(text.trim().is_empty()),
        Input::Chat(chat) => assert!(text.ends_with(chat) && !chat.trim().is_empty()),
        Input::Nick(arg) | Input::Me(arg) => assert!(!arg.is_empty() && arg.trim() == arg),
        Input::Msg { to, text: said } => {
            assert!(!to.is_empty() && !to.contains(' ') && !said.trim().is_empty());
        }
        Input::Unknown(word) => assert!(text.starts_with('/') && !word.contains(' ')),
        Input::Help | Input::Who | Input::Quit | Input::Usage(_) => {
            assert!(text.starts_with('/'));
        }
    }

    match classify(&text) {
        ServerLine::LoggedIn(rest) | ServerLine::Error(rest) | ServerLine::Notice(rest) => {
            assert!(text.starts_with("Server: ") && text.ends_with(rest));
        }
        ServerLine::Chat { from, text: said }
        | ServerLine::PrivateFrom { from, text: said }
        | ServerLine::PrivateTo {
            to: from,
            text: said,
        }
        | ServerLine::Action {
            name: from,
            text: said,
        } => {
            assert!(!from.is_empty() && !from.contains(':'));
            assert!(text.contains(from) && text.ends_with(said));
        }
        ServerLine::PasswordWanted(line) | ServerLine::PasswordAccepted(line) => {
            assert_eq!(line, &*text);
        }
        ServerLine::PasswordRefused(rest) => {
            assert!(text.starts_with("Server: Error: ") && text.ends_with(rest));
        }
        ServerLine::Other(other) => assert_eq!(other, &*text),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cap, rest)) = data.split_first() else {
        return;
    };
    let max = if cap & 0x80 != 0 {
        4096
    } else {
        usize::from(cap & 0x3f)
    };
    let (sizes, stream) = rest.split_at(rest.len().min(4));

    let expected = reference(max, stream);
    let whole = framed(max, stream, &[]);
    assert_eq!(whole, expected, "fed whole");
    let cut = framed(max, stream, sizes);
    assert_eq!(cut, expected, "fed in reads of {sizes:?}");

    for frame in &expected {
        if let Owned::Line(raw) = frame {
            check_line(raw, max);
        }
    }
});
