//! Keeping terminals safe. Every byte a peer sends may end up on somebody's
//! screen, so no control character survives: an ESC starts colour changes,
//! cursor moves, OSC 52 clipboard writes and title changes; a bare CR moves
//! the cursor home so a line can be overwritten with a forged `Server:`;
//! C1 U+009B is a one-character CSI on some terminals. Text is otherwise
//! left alone: é, 中文 and emoji pass through.

use std::borrow::Cow;

/// True for the characters that never reach a screen: C0 (U+0000–U+001F),
/// DEL (U+007F) and C1 (U+0080–U+009F).
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// Decodes a line from the wire (invalid UTF-8 becomes U+FFFD) and cleans it:
/// a TAB becomes a space, every other control character is removed.
/// Borrows when the line was already clean.
pub fn sanitize_bytes(line: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(line) {
        Cow::Borrowed(text) => sanitize(text),
        Cow::Owned(text) => Cow::Owned(sanitize(&text).into_owned()),
    }
}

/// Removes control characters from text (a TAB becomes a space).
///
/// ```
/// use sockchat::protocol::sanitize::sanitize;
///
/// // An OSC 52 clipboard write loses its ESC and BEL; text stays as it is.
/// assert_eq!(sanitize("hi\x1b]52;c;ZXZpbA==\x07 é"), "hi]52;c;ZXZpbA== é");
/// ```
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let clean = text
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if is_control(c) => None,
            c => Some(c),
        })
        .collect();
    Cow::Owned(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csi_colour_and_cursor_sequences_lose_their_escape() {
        assert_eq!(sanitize("\x1b[31mred\x1b[0m"), "[31mred[0m");
        assert_eq!(sanitize("\x1b[2J\x1b[Hgone"), "[2J[Hgone");
    }

    #[test]
    fn osc_52_clipboard_write_is_defused() {
        let attack = "\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07";
        let clean = sanitize(attack);
        assert!(!clean.contains('\x1b') && !clean.contains('\x07'));
    }

    #[test]
    fn osc_title_change_with_st_terminator_is_defused() {
        assert_eq!(sanitize("\x1b]0;pwned\x1b\\"), "]0;pwned\\");
    }

    #[test]
    fn bare_cr_cannot_overwrite_the_line_with_a_forged_server_notice() {
        assert_eq!(
            sanitize("hi\rServer: admin joined"),
            "hiServer: admin joined"
        );
    }

    #[test]
    fn c1_csi_is_removed() {
        assert_eq!(sanitize("a\u{9b}31mb"), "a31mb");
        assert_eq!(sanitize("\u{85}next line"), "next line");
    }

    #[test]
    fn del_nul_bell_backspace_vt_ff_are_removed() {
        assert_eq!(sanitize("a\x7fb\x00c\x07d\x08e\x0bf\x0cg"), "abcdefg");
    }

    #[test]
    fn tab_becomes_a_space() {
        assert_eq!(sanitize("a\tb"), "a b");
    }

    #[test]
    fn printable_unicode_is_untouched_and_borrowed() {
        for text in ["héllo", "中文", "👋 🎉", "plain ascii ~!@#$%^&*()"] {
            assert!(matches!(sanitize(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        assert_eq!(sanitize_bytes(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(sanitize_bytes(b"\xc3"), "\u{fffd}");
    }

    #[test]
    fn invalid_utf8_and_escapes_together() {
        assert_eq!(sanitize_bytes(b"\xff\x1b[1m"), "\u{fffd}[1m");
    }
}
