//! Bytes from a terminal in raw mode → keys. Pure: the driver feeds it
//! whatever each read returned, however the bytes were split, and gets the
//! keys in order. Bracketed paste (`ESC[200~`…`ESC[201~`) is text: its
//! line ends are Enters and its other control bytes are not commands.

/// One key, or one line end of pasted or fast-typed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Backspace,
    Delete,
    Left,
    Right,
    /// Ctrl-Left, Alt-Left or Alt-b: back to the start of a word.
    WordLeft,
    /// Ctrl-Right, Alt-Right or Alt-f: on to the end of a word.
    WordRight,
    /// Alt-d: deletes to the end of the word.
    DeleteWordRight,
    /// Alt-Backspace: deletes back to the start of the word.
    DeleteWordLeft,
    Home,
    End,
    Up,
    Down,
    Tab,
    /// Ctrl and a letter (lower case) not given a key of its own above.
    Ctrl(char),
}

/// The longest escape sequence kept; longer ones are dropped whole.
const MAX_ESCAPE: usize = 32;

/// Turns raw bytes into [`Key`]s; holds what a read cut in half.
#[derive(Debug, Default)]
pub struct Decoder {
    /// An escape sequence begun but not finished (starts with ESC).
    escape: Vec<u8>,
    /// The first bytes of a UTF-8 character not yet complete.
    utf8: Vec<u8>,
    /// Inside a bracketed paste.
    pasting: bool,
    /// The last byte was a CR: a LF right after it ends no second line.
    after_cr: bool,
    /// An escape sequence grew past [`MAX_ESCAPE`]: skip to its end.
    skipping: bool,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Decodes `bytes`, appending the keys they complete to `keys`.
    pub fn feed(&mut self, bytes: &[u8], keys: &mut Vec<Key>) {
        for &byte in bytes {
            self.byte(byte, keys);
        }
    }

    fn byte(&mut self, byte: u8, keys: &mut Vec<Key>) {
        if !self.escape.is_empty() || self.skipping {
            return self.escape_byte(byte, keys);
        }
        let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
        if byte >= 0x80 || !self.utf8.is_empty() {
            return self.utf8_byte(byte, keys);
        }
        match byte {
            0x1b => self.escape.push(byte),
            b'\r' => keys.push(Key::Enter),
            b'\n' if after_cr => {}
            b'\n' => keys.push(Key::Enter),
            // Pasted text is text: a tab is a space, other controls nothing.
            b'\t' if self.pasting => keys.push(Key::Char(' ')),
            _ if self.pasting && (byte < 0x20 || byte == 0x7f) => {}
            b'\t' => keys.push(Key::Tab),
            0x7f | 0x08 => keys.push(Key::Backspace),
            0x01..=0x1a => keys.push(Key::Ctrl(char::from(b'a' + byte - 1))),
            0x00 | 0x1c..=0x1f => {}
            _ => keys.push(Key::Char(char::from(byte))),
        }
    }

    fn utf8_byte(&mut self, byte: u8, keys: &mut Vec<Key>) {
        if byte < 0x80 {
            // A character cut short by a plain byte: drop the pieces.
            self.utf8.clear();
            return self.byte(byte, keys);
        }
        self.utf8.push(byte);
        match std::str::from_utf8(&self.utf8) {
            Ok(text) => {
                keys.extend(text.chars().map(Key::Char));
                self.utf8.clear();
            }
            Err(e) if e.error_len().is_some() => {
                keys.push(Key::Char(char::REPLACEMENT_CHARACTER));
                self.utf8.clear();
            }
            // Incomplete: wait for the rest.
            Err(_) => {}
        }
    }

    fn escape_byte(&mut self, byte: u8, keys: &mut Vec<Key>) {
        if self.skipping {
            // Over-long: drop everything up to its final byte.
            self.skipping = !(0x40..=0x7e).contains(&byte);
            return;
        }
        self.escape.push(byte);
        let sequence = &self.escape[1..];
        let done = match sequence {
            [b'['] | [b'O'] => false,
            [b'[', .., last] => (0x40..=0x7e).contains(last),
            [b'O', _] => true,
            // ESC and anything else (Alt-key): the ESC is dropped.
            [_] => true,
            _ => true,
        };
        if !done {
            if self.escape.len() >= MAX_ESCAPE {
                self.escape.clear();
                self.skipping = true;
            }
            return;
        }
        let escape = std::mem::take(&mut self.escape);
        match &escape[1..] {
            [b'[' | b'O', rest @ ..] => self.sequence(rest, keys),
            // Alt and a key readline moves or deletes words with (a
            // terminal sends Alt-key as ESC and the key).
            [b'b'] if !self.pasting => keys.push(Key::WordLeft),
            [b'f'] if !self.pasting => keys.push(Key::WordRight),
            [b'd'] if !self.pasting => keys.push(Key::DeleteWordRight),
            [0x7f | 0x08] if !self.pasting => keys.push(Key::DeleteWordLeft),
            [other] => {
                // Another Alt-key or a lone ESC: the key itself still counts.
                if *other != 0x1b {
                    self.byte(*other, keys);
                } else {
                    self.escape.push(0x1b);
                }
            }
            _ => {}
        }
    }

    /// A CSI or SS3 sequence without its `ESC[` or `ESCO`.
    fn sequence(&mut self, rest: &[u8], keys: &mut Vec<Key>) {
        match rest {
            b"200~" => self.pasting = true,
            b"201~" => self.pasting = false,
            // Inside a paste, no sequence is a key.
            _ if self.pasting => {}
            b"A" => keys.push(Key::Up),
            b"B" => keys.push(Key::Down),
            b"C" => keys.push(Key::Right),
            b"D" => keys.push(Key::Left),
            b"H" | b"1~" | b"7~" => keys.push(Key::Home),
            b"F" | b"4~" | b"8~" => keys.push(Key::End),
            b"3~" => keys.push(Key::Delete),
            b"1;5C" | b"1;3C" => keys.push(Key::WordRight),
            b"1;5D" | b"1;3D" => keys.push(Key::WordLeft),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(chunks: &[&[u8]]) -> Vec<Key> {
        let mut decoder = Decoder::new();
        let mut keys = Vec::new();
        for chunk in chunks {
            decoder.feed(chunk, &mut keys);
        }
        keys
    }

    fn text(s: &str) -> Vec<Key> {
        s.chars().map(Key::Char).collect()
    }

    #[test]
    fn type_ahead_in_one_read_is_every_line_in_order() {
        let mut want = text("first1");
        want.push(Key::Enter);
        want.extend(text("second1"));
        want.push(Key::Enter);
        assert_eq!(keys(&[b"first1\rsecond1\r"]), want);
        // LF, or CR LF, ends a line just once.
        assert_eq!(keys(&[b"first1\nsecond1\r\n"]), want);
        assert_eq!(keys(&[b"first1\r", b"\nsecond1\r"]), want);
    }

    #[test]
    fn a_character_split_across_reads_is_one_key() {
        let bytes = "é漢".as_bytes();
        assert_eq!(keys(&[&bytes[..1], &bytes[1..3], &bytes[3..]]), text("é漢"));
        assert_eq!(
            keys(&[b"\xffa"]),
            vec![Key::Char(char::REPLACEMENT_CHARACTER), Key::Char('a')]
        );
    }

    #[test]
    fn arrows_and_editing_keys_are_recognized_even_split() {
        assert_eq!(
            keys(&[
                b"\x1b",
                b"[A\x1b[B\x1bOC\x1b[D\x1b[1~\x1b[4~\x1b[3~\x1b[H\x1b[F"
            ]),
            vec![
                Key::Up,
                Key::Down,
                Key::Right,
                Key::Left,
                Key::Home,
                Key::End,
                Key::Delete,
                Key::Home,
                Key::End
            ]
        );
        assert_eq!(
            keys(&[b"\x01\x05\x0b\x15\x17\x12\x7f\t\x03\x04\x1a"]),
            vec![
                Key::Ctrl('a'),
                Key::Ctrl('e'),
                Key::Ctrl('k'),
                Key::Ctrl('u'),
                Key::Ctrl('w'),
                Key::Ctrl('r'),
                Key::Backspace,
                Key::Tab,
                Key::Ctrl('c'),
                Key::Ctrl('d'),
                Key::Ctrl('z'),
            ]
        );
    }

    #[test]
    fn a_bracketed_paste_is_text_and_its_lines_are_enters() {
        let got = keys(&[b"\x1b[200~a\tb\r\nc\x03\x1b[A\rd\x1b[201~\x03"]);
        let mut want = text("a b");
        want.push(Key::Enter);
        want.push(Key::Char('c'));
        want.push(Key::Enter);
        want.push(Key::Char('d'));
        want.push(Key::Ctrl('c'));
        assert_eq!(got, want);
    }

    #[test]
    fn unknown_and_endless_escapes_are_dropped() {
        assert_eq!(keys(&[b"\x1b[99;99Xa"]), text("a"));
        let mut endless = b"\x1b[".to_vec();
        endless.extend(std::iter::repeat_n(b'1', 1000));
        endless.extend(b"~b");
        assert_eq!(keys(&[&endless]), text("b"));
        // Alt-x: the x still counts.
        assert_eq!(keys(&[b"\x1bx"]), text("x"));
    }

    #[test]
    fn alt_b_f_d_and_backspace_are_readlines_word_keys_even_split() {
        assert_eq!(
            keys(&[b"\x1b", b"b\x1bf\x1b", b"d\x1b\x7f\x1b\x08"]),
            vec![
                Key::WordLeft,
                Key::WordRight,
                Key::DeleteWordRight,
                Key::DeleteWordLeft,
                Key::DeleteWordLeft,
            ]
        );
        // Pasted, ESC b is no key: the b is text.
        assert_eq!(keys(&[b"\x1b[200~\x1bb\x1b[201~"]), text("b"));
    }
}
