//! Property tests for the pure protocol code: the framer against a reference
//! model under every way TCP may cut a stream, the sanitizer's guarantees,
//! and the command parser / line classifier on arbitrary input. Case counts
//! are kept moderate so the file runs in a couple of seconds.

use std::borrow::Cow;

use proptest::prelude::*;
use proptest::sample::Index;
use sockchat::protocol::line::{Frame, LineFramer};
use sockchat::protocol::message::{classify, parse_input, reply, Input, ServerLine};
use sockchat::protocol::name::Name;
use sockchat::protocol::sanitize::{sanitize, sanitize_bytes, MAX_BLANK_RUN};
use sockchat::protocol::unicode::{
    is_bidi_control, is_blank, is_default_ignorable, is_line_separator,
};
use unicode_normalization::char::is_combining_mark;

/// An owned [`Frame`], so frames can be collected and compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Line(Vec<u8>),
    TooLong,
}

impl From<Frame<'_>> for Owned {
    fn from(frame: Frame<'_>) -> Self {
        match frame {
            Frame::Line(line) => Owned::Line(line.to_vec()),
            Frame::TooLong => Owned::TooLong,
        }
    }
}

/// What the framer should do, written the obvious way: split on `\n`, drop
/// one trailing `\r`, lines over `max` bytes become `TooLong`, and a
/// non-empty unterminated tail is the last line.
fn reference(max: usize, data: &[u8]) -> Vec<Owned> {
    let mut pieces: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let tail = pieces.pop().expect("split yields at least one piece");
    if !tail.is_empty() {
        pieces.push(tail);
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

/// Feeds `chunks` one by one (then ends the stream), checking after every
/// feed that no more than `max + 1` bytes are held.
fn framed<'a>(max: usize, chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<Owned> {
    let mut framer = LineFramer::new(max);
    let mut out = Vec::new();
    for chunk in chunks {
        framer.feed(chunk, |frame| out.push(frame.into()));
        assert!(
            framer.buffered() <= max + 1,
            "buffered {} bytes with max {max}",
            framer.buffered()
        );
    }
    out.extend(framer.finish().map(Owned::from));
    out
}

/// Cuts `data` at the given points (in any order, repeats give empty chunks).
fn split_at<'a>(data: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for point in points {
        chunks.push(&data[start..point]);
        start = point;
    }
    chunks.push(&data[start..]);
    chunks
}

/// Byte streams rich in line ends and `\r`, so that lines are short and
/// `\r\n` split across reads is common.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"ab\xc3\xff".to_vec()),
        2 => Just(b'\n'),
        2 => Just(b'\r'),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..200)
}

/// Streams whose lines are long compared with `max`: runs of `x` between
/// occasional line ends.
fn long_lines() -> impl Strategy<Value = Vec<u8>> {
    let run = (
        0usize..60,
        prop::sample::select(vec![&b"\n"[..], b"\r\n", b"\r", b""]),
    );
    prop::collection::vec(run, 0..12).prop_map(|runs| {
        let mut data = Vec::new();
        for (len, end) in runs {
            data.extend(std::iter::repeat_n(b'x', len));
            data.extend_from_slice(end);
        }
        data
    })
}

/// Text with many control characters (C0, DEL, C1, TAB, CR, ESC) among
/// ordinary and non-ASCII characters.
fn hostile_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => any::<char>(),
        3 => prop::char::range('\0', '\u{a0}'),
        2 => prop::sample::select(vec!['\x1b', '\t', '\r', '\n', '\x07', '\u{9b}', '\u{85}', '\x7f']),
        2 => prop::sample::select(vec!['a', ' ', ':', '/', '[', ']', 'é', '中', '🦀', '\u{fffd}']),
    ];
    prop::collection::vec(c, 0..40).prop_map(|chars| chars.into_iter().collect())
}

/// Valid usernames, built from characters that stress the line shapes.
fn name() -> impl Strategy<Value = Name> {
    let c = prop::sample::select(vec![
        'a', 'Z', '9', '_', '*', '(', ')', '/', '.', 'é', '中', '🦀',
    ]);
    prop::collection::vec(c, 1..10).prop_filter_map("not a valid name", |chars| {
        Name::parse(&chars.into_iter().collect::<String>()).ok()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn framer_matches_the_reference_for_any_split(
        max in 0usize..24,
        data in prop_oneof![stream(), long_lines()],
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let whole = framed(max, [&data[..]]);
        prop_assert_eq!(&whole, &reference(max, &data));
        let chunks = split_at(&data, &cuts);
        prop_assert_eq!(&framed(max, chunks.iter().copied()), &whole, "chunks {:?}", chunks);
    }

    #[test]
    fn framer_fed_byte_by_byte_matches_the_reference(
        max in 0usize..24,
        data in prop_oneof![stream(), long_lines()],
    ) {
        let bytes = framed(max, data.chunks(1));
        prop_assert_eq!(bytes, reference(max, &data));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sanitized_text_has_no_control_character(text in hostile_text()) {
        let clean = sanitize(&text);
        prop_assert!(!clean.chars().any(char::is_control), "{:?} -> {:?}", text, clean);
    }

    #[test]
    fn sanitizing_is_idempotent(text in hostile_text()) {
        let once = sanitize(&text);
        let twice = sanitize(&once);
        prop_assert!(matches!(twice, Cow::Borrowed(_)), "second pass allocated: {:?}", text);
        prop_assert_eq!(&*twice, &*once);
    }

    #[test]
    fn clean_text_is_returned_unchanged_and_borrowed(text in hostile_text()) {
        // Without what is removed (default-ignorable characters are kept
        // only between certain neighbours: leave them out).
        let text: String = text
            .chars()
            .filter(|&c| !c.is_control() && !is_bidi_control(c) && !is_line_separator(c))
            .filter(|&c| is_blank(c) || !is_default_ignorable(c))
            .collect();
        // Runs of more than MAX_BLANK_RUN blanks (with the marks on them)
        // are cut (rare in this text).
        let mut blanks = 0;
        for c in text.chars() {
            if is_blank(c) {
                blanks += 1;
            } else if !(blanks > 0 && is_combining_mark(c)) {
                blanks = 0;
            }
            prop_assume!(blanks <= MAX_BLANK_RUN);
        }
        prop_assert!(matches!(sanitize(&text), Cow::Borrowed(t) if t == text));
        prop_assert!(matches!(sanitize_bytes(text.as_bytes()), Cow::Borrowed(t) if t == text));
    }

    #[test]
    fn sanitize_bytes_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let clean = sanitize_bytes(&bytes);
        prop_assert!(!clean.chars().any(char::is_control));
        // The same as decoding lossily, then sanitizing the text.
        let lossy = String::from_utf8_lossy(&bytes);
        prop_assert_eq!(&*clean, &*sanitize(&lossy));
    }

    #[test]
    fn parse_input_takes_any_line(line in prop_oneof![
        hostile_text(),
        hostile_text().prop_map(|t| format!("/{t}")),
        (prop::sample::select(vec!["nick", "ME", "msg", "who", "quit", "help", "history", "history after", "/"]), hostile_text())
            .prop_map(|(cmd, t)| format!("/{cmd} {t}")),
    ]) {
        let input = parse_input(&line);
        match input {
            Input::Empty => prop_assert!(line.trim().is_empty()),
            Input::Chat(text) => prop_assert!(line.ends_with(text) && !text.trim().is_empty()),
            Input::Nick(arg) | Input::Me(arg) => {
                prop_assert!(!arg.is_empty() && arg.trim() == arg, "{:?}", input);
            }
            Input::Msg { to, text } => {
                prop_assert!(!to.is_empty() && !to.contains(' '), "{:?}", input);
                prop_assert!(!text.trim().is_empty(), "{:?}", input);
            }
            Input::Unknown(word) => prop_assert!(line.starts_with('/') && !word.contains(' ')),
            Input::History(_) => prop_assert!(line.to_ascii_lowercase().starts_with("/history")),
            Input::Help | Input::Who | Input::Limits | Input::Quit | Input::Usage(_) => {
                prop_assert!(line.starts_with('/'));
            }
        }
    }

    #[test]
    fn classify_takes_any_line(line in hostile_text()) {
        let _ = classify(&line);
        let _ = classify(&format!("Server: {line}"));
        let _ = classify(&format!("* {line}"));
    }

    #[test]
    fn every_reply_to_a_valid_name_classifies_as_its_own_kind(
        who in name(),
        other in name(),
        text in hostile_text(),
    ) {
        let (who, other) = (who.as_str(), other.as_str());
        let text = sanitize(&text);
        let text = &*text;
        let logged_in = reply::logged_in(who);
        prop_assert_eq!(classify(&logged_in), ServerLine::LoggedIn(who));
        let chat = reply::chat(who, text);
        prop_assert_eq!(classify(&chat), ServerLine::Chat { from: who, text });
        let private_from = reply::private_from(who, text);
        prop_assert_eq!(classify(&private_from), ServerLine::PrivateFrom { from: who, text });
        let private_to = reply::private_to(who, text);
        prop_assert_eq!(classify(&private_to), ServerLine::PrivateTo { to: who, text });
        let action = reply::action(who, text);
        prop_assert_eq!(classify(&action), ServerLine::Action { name: who, text });
        let error = reply::error(text);
        prop_assert_eq!(classify(&error), ServerLine::Error(text));
        prop_assert!(matches!(classify(&reply::joined(who)), ServerLine::Notice(_)));
        prop_assert!(matches!(classify(&reply::renamed(who, other)), ServerLine::Notice(_)));
    }
}

/// Found by `every_reply_to_a_valid_name_classifies_as_its_own_kind`: `*` is
/// a valid name, and `* (private): psst` starts like an action but is not
/// one; it must still be read as a private message.
#[test]
fn a_private_message_from_a_user_named_star_is_private() {
    assert!(Name::parse("*").is_ok());
    assert_eq!(
        classify(&reply::private_from("*", "psst")),
        ServerLine::PrivateFrom {
            from: "*",
            text: "psst"
        }
    );
}
