//! Keeping terminals and readers safe. Every byte a peer sends may end up
//! on somebody's screen, in a log or in a bot, so chat text is cleaned:
//!
//! - No control character survives: an ESC starts colour changes, cursor
//!   moves, OSC 52 clipboard writes and title changes; a bare CR moves the
//!   cursor home so a line can be overwritten with a forged `Server:`; C1
//!   U+009B is a one-character CSI on some terminals. A TAB becomes a space.
//! - U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR become a space:
//!   bots and log readers split a line at them, and the second half would
//!   read as a line of its own (`Server: …`).
//! - Bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069)
//!   are removed rather than closed at the end of the message. Closing them
//!   would stop them leaking into the next line, but an override would
//!   still reverse the message's own text on a terminal that does bidi, and
//!   matching closers to openers is easy to get wrong; Arabic and Hebrew
//!   show in the right order without them (the implicit algorithm), so a
//!   chat line loses nothing a person types.
//! - Default-ignorable characters, which a terminal draws as nothing, are
//!   removed: soft hyphens, U+034F, U+17B4/U+17B5, zero-width spaces, word
//!   joiners and invisible operators (U+2060–U+2064), BOMs, tag characters
//!   (U+E0000–U+E0FFF), and the rest. Eighty of them in a row are a message
//!   that shows nothing, or a word that no filter or search finds. Kept are
//!   those that change how text is drawn, one at a time, where they do:
//!   a zero-width joiner inside an emoji sequence (`👨‍👩‍👧`); a joiner or
//!   non-joiner between two letters (Persian `می‌خواهم`, Indic half forms);
//!   and a variation selector right after a letter, digit, symbol or emoji
//!   (`❤️`, a Han variant), the characters variation sequences are made of.
//! - A run of more than [`MAX_BLANK_RUN`] blanks (spaces, other Unicode
//!   spaces, look-alikes such as U+2800, each with any combining marks on
//!   it) becomes [`MAX_BLANK_RUN`] spaces: `Eve:` and 75 spaces would
//!   otherwise wrap on an 80-column terminal so that the next row reads as
//!   a line of its own. Four keeps ordinary spacing and an indented snippet.
//!
//! Text is otherwise left alone: é, 中文 and emoji pass through. [`sanitize`] is the server's rule; [`visible`] is the client's,
//! which shows a control character as caret text (`^[`) instead of
//! removing it, so a hostile peer's escape sequence is plain to see rather
//! than half-stripped debris.

use std::borrow::Cow;

use unicode_properties::{GeneralCategoryGroup, UnicodeEmoji, UnicodeGeneralCategory};

/// The longest run of blanks kept as sent; a longer one is cut to this many
/// spaces.
pub const MAX_BLANK_RUN: usize = 4;

/// True for the characters that never reach a screen: C0 (U+0000–U+001F),
/// DEL (U+007F) and C1 (U+0080–U+009F).
pub fn is_control(c: char) -> bool {
    c.is_control()
}

/// What the rules do with one character.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Shown as it is.
    Keep,
    /// C0, DEL or C1: removed, or shown as caret text.
    Control,
    /// Removed (bidi controls).
    Drop,
    /// Becomes a space and counts as a blank (TAB, line separators).
    Space,
    /// A blank kept as it is while its run is short.
    Blank,
    /// Default ignorable: removed, unless [`keeps_ignorable`] says that it
    /// stands where it changes how text is drawn.
    Ignorable,
}

/// The class of a character: the tables of [`super::unicode`] merged into
/// one (a test checks the two agree on every code point), looked up so that
/// the server's pass over every line costs a few instructions a character.
/// Below U+3200 a bitmap says whether a character is special at all; above,
/// the special ones are in a few blocks.
fn class(c: char) -> Class {
    match u32::from(c) {
        cp @ 0..SPECIAL_BELOW => {
            let word = SPECIAL[(cp / 64) as usize];
            if word >> (cp % 64) & 1 == 0 {
                Class::Keep
            } else {
                class_by_match(c)
            }
        }
        SPECIAL_BELOW..0xFE00 | 0x1_0000..0x1_BCA0 | 0x1_D17B..0xE_0000 | 0xE_1000.. => Class::Keep,
        _ => class_by_match(c),
    }
}

/// The bitmap covers the code points below this.
const SPECIAL_BELOW: u32 = 0x3200;

/// One bit per code point below [`SPECIAL_BELOW`]: set when it is not Keep.
static SPECIAL: [u64; (SPECIAL_BELOW / 64) as usize] = special_bitmap();

const fn special_bitmap() -> [u64; (SPECIAL_BELOW / 64) as usize] {
    let mut bits = [0u64; (SPECIAL_BELOW / 64) as usize];
    let mut cp = 0;
    while cp < SPECIAL_BELOW {
        if let Some(c) = char::from_u32(cp) {
            if !matches!(class_by_match(c), Class::Keep) {
                bits[(cp / 64) as usize] |= 1 << (cp % 64);
            }
        }
        cp += 1;
    }
    bits
}

const fn class_by_match(c: char) -> Class {
    match c {
        '!'..='~' => Class::Keep,
        ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' => {
            Class::Blank
        }
        '\u{2800}' | '\u{3000}' | '\u{3164}' | '\u{FFA0}' | '\u{115F}'..='\u{1160}' => Class::Blank,
        '\t' | '\u{2028}' | '\u{2029}' => Class::Space,
        '\0'..='\u{1F}' | '\u{7F}'..='\u{9F}' => Class::Control,
        '\u{061C}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => Class::Drop,
        '\u{00AD}' | '\u{034F}' | '\u{17B4}'..='\u{17B5}' | '\u{180B}'..='\u{180F}' => {
            Class::Ignorable
        }
        '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2065}' | '\u{206A}'..='\u{206F}' => {
            Class::Ignorable
        }
        '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFF0}'..='\u{FFF8}' => Class::Ignorable,
        '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}' => {
            Class::Ignorable
        }
        _ => Class::Keep,
    }
}

/// Whether the default-ignorable `c` is kept, between `before` (the last
/// character kept) and `after` (the next one in the text): a joiner inside
/// an emoji sequence or between two letters, or a variation selector right
/// after a character variation sequences are made of. A second one in a
/// row never is: the one before it is no letter, emoji or symbol.
// Not inlined: the loops over every character stay small, for the text
// that has no ignorable at all.
#[inline(never)]
fn keeps_ignorable(before: Option<char>, c: char, after: Option<char>) -> bool {
    let Some(before) = before else { return false };
    match c {
        '\u{200C}' | '\u{200D}' if is_letter_or_mark(before) && after.is_some_and(is_letter) => {
            true
        }
        '\u{200D}' => {
            before.is_emoji_char_or_emoji_component()
                && !before.is_ascii()
                && after.is_some_and(|a| a.is_emoji_char() && !a.is_ascii())
        }
        '\u{FE00}'..='\u{FE0F}'
        | '\u{E0100}'..='\u{E01EF}'
        | '\u{180B}'..='\u{180D}'
        | '\u{180F}' => takes_variation_selector(before),
        _ => false,
    }
}

fn is_letter(c: char) -> bool {
    c.general_category_group() == GeneralCategoryGroup::Letter
}

fn is_letter_or_mark(c: char) -> bool {
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter | GeneralCategoryGroup::Mark
    )
}

/// Whether `c` is a combining mark: drawn on the character before it.
/// Asked of the first character after every blank, so it is the
/// normalization tables' hashed lookup, not a search (none is below
/// U+0300, so ASCII and Latin-1 text never asks).
fn is_mark(c: char) -> bool {
    c >= '\u{300}' && unicode_normalization::char::is_combining_mark(c)
}

/// Letters, digits, symbols and emoji (`#` and `*` for keycaps): what the
/// variation sequences of Unicode are made of. Not a mark, a blank, a
/// punctuation sign or another selector.
fn takes_variation_selector(c: char) -> bool {
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number | GeneralCategoryGroup::Symbol
    ) || c.is_emoji_char()
}

/// Whether the rules would leave `text` as it is (for either mode: a
/// control character is changed by both).
fn is_clean(text: &str) -> bool {
    if text.is_ascii() {
        // The usual line: bytes, no decoding.
        let mut blanks = 0;
        for &b in text.as_bytes() {
            if b == b' ' {
                blanks += 1;
                if blanks > MAX_BLANK_RUN {
                    return false;
                }
            } else if b < 0x20 || b == 0x7f {
                return false;
            } else {
                blanks = 0;
            }
        }
        return true;
    }
    let mut blanks = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match class(c) {
            // A mark on a blank is part of it.
            Class::Keep if blanks > 0 && is_mark(c) => {}
            Class::Keep => blanks = 0,
            Class::Control | Class::Drop | Class::Space => return false,
            Class::Blank => {
                blanks += 1;
                if blanks > MAX_BLANK_RUN {
                    return false;
                }
            }
            // Its neighbours are looked up only here: the usual text has
            // no ignorable, and pays nothing for them.
            Class::Ignorable => {
                let rest = chars.as_str();
                // In a run of blanks nothing ignorable is kept.
                let before = match blanks {
                    0 => text[..text.len() - rest.len() - c.len_utf8()]
                        .chars()
                        .next_back(),
                    _ => None,
                };
                if !keeps_ignorable(before, c, rest.chars().next()) {
                    return false;
                }
            }
        }
    }
    true
}

/// What becomes of a control character.
#[derive(Clone, Copy)]
enum Controls {
    Remove,
    Show,
}

/// Applies the rules to text that [`is_clean`] refused.
fn clean(text: &str, controls: Controls) -> String {
    let mut out = String::with_capacity(text.len());
    // The current run of blanks (and zero-width characters among them), held
    // back until its length is known, and how many blanks it has.
    let mut run = String::new();
    let mut blanks = 0;
    let end_run = |out: &mut String, run: &mut String, blanks: &mut usize| {
        if *blanks > MAX_BLANK_RUN {
            out.extend(std::iter::repeat_n(' ', MAX_BLANK_RUN));
        } else {
            out.push_str(run);
        }
        run.clear();
        *blanks = 0;
    };
    for (at, c) in text.char_indices() {
        match class(c) {
            // A mark on a blank: it goes (or stays) with the blank.
            Class::Keep if blanks > 0 && is_mark(c) => run.push(c),
            Class::Keep => {
                end_run(&mut out, &mut run, &mut blanks);
                out.push(c);
            }
            Class::Control => match controls {
                Controls::Remove => {}
                Controls::Show => {
                    end_run(&mut out, &mut run, &mut blanks);
                    push_caret(&mut out, c);
                }
            },
            Class::Drop => {}
            Class::Space => {
                run.push(' ');
                blanks += 1;
            }
            Class::Blank => {
                run.push(c);
                blanks += 1;
            }
            // In a run of blanks nothing ignorable is kept; out of one,
            // what was kept last is at the end of `out`.
            Class::Ignorable if blanks == 0 => {
                let after = text[at + c.len_utf8()..].chars().next();
                if keeps_ignorable(out.chars().next_back(), c, after) {
                    out.push(c);
                }
            }
            Class::Ignorable => {}
        }
    }
    end_run(&mut out, &mut run, &mut blanks);
    out
}

/// A control character as text a terminal shows and does not obey: caret
/// notation for C0 and DEL (`^[` for ESC, `^H` for backspace, `^?` for
/// DEL), the code point for C1 (`<U+009B>`), which has no caret form.
fn push_caret(out: &mut String, c: char) {
    match u8::try_from(c) {
        Ok(b) if b < 0x20 => {
            out.push('^');
            out.push(char::from(b + 0x40));
        }
        Ok(0x7f) => out.push_str("^?"),
        _ => out.push_str(&format!("<U+{:04X}>", u32::from(c))),
    }
}

/// Decodes a line from the wire (invalid UTF-8 becomes U+FFFD) and cleans it
/// with [`sanitize`]. Borrows when the line was already clean.
pub fn sanitize_bytes(line: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(line) {
        Cow::Borrowed(text) => sanitize(text),
        Cow::Owned(text) => Cow::Owned(sanitize(&text).into_owned()),
    }
}

/// Cleans chat text by the rules above: control characters, bidi
/// controls and default-ignorable characters removed, TAB and line
/// separators turned into spaces, long runs of blanks cut. Borrows when
/// the text was already clean.
///
/// ```
/// use sockchat::protocol::sanitize::sanitize;
///
/// // An OSC 52 clipboard write loses its ESC and BEL; text stays as it is.
/// assert_eq!(sanitize("hi\x1b]52;c;ZXZpbA==\x07 é"), "hi]52;c;ZXZpbA== é");
/// // Padding cannot push text onto a row of its own.
/// assert_eq!(sanitize(&format!("{}Server: hi", " ".repeat(75))), "    Server: hi");
/// ```
pub fn sanitize(text: &str) -> Cow<'_, str> {
    if is_clean(text) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(clean(text, Controls::Remove))
}

/// The client's rule for what it prints: the same as [`sanitize`], except
/// that a control character is shown as caret text instead of removed.
///
/// ```
/// use sockchat::protocol::sanitize::visible;
///
/// assert_eq!(visible("\x1b[2Jgone\x7f"), "^[[2Jgone^?");
/// ```
pub fn visible(text: &str) -> Cow<'_, str> {
    if is_clean(text) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(clean(text, Controls::Show))
}

/// [`visible`] for a line from the wire (invalid UTF-8 becomes U+FFFD).
pub fn visible_bytes(line: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(line) {
        Cow::Borrowed(text) => visible(text),
        Cow::Owned(text) => Cow::Owned(visible(&text).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::unicode::{
        is_bidi_control, is_blank, is_default_ignorable, is_line_separator,
    };

    /// The classes written from the character tables, in order of priority.
    fn class_by_the_tables(c: char) -> Class {
        if c == '\t' || is_line_separator(c) {
            Class::Space
        } else if c.is_control() {
            Class::Control
        } else if is_bidi_control(c) {
            Class::Drop
        } else if is_blank(c) {
            Class::Blank
        } else if is_default_ignorable(c) {
            Class::Ignorable
        } else {
            Class::Keep
        }
    }

    #[test]
    fn the_one_match_agrees_with_the_tables_on_every_code_point() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert!(class(c) == class_by_the_tables(c), "U+{:04X}", u32::from(c));
        }
    }

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

    #[test]
    fn line_separator_cannot_split_a_forged_server_notice_off() {
        assert_eq!(
            sanitize("hi\u{2028}Server: Max left the party."),
            "hi Server: Max left the party."
        );
        assert_eq!(sanitize("a\u{2029}b"), "a b");
    }

    #[test]
    fn nel_vt_and_ff_are_removed_as_control_characters() {
        assert_eq!(sanitize("a\u{85}b\x0bc\x0cd"), "abcd");
    }

    #[test]
    fn right_to_left_override_is_removed() {
        assert_eq!(sanitize("\u{202E}txet desrever"), "txet desrever");
    }

    #[test]
    fn every_bidi_control_is_removed_and_none_leaks_past_the_message() {
        let controls = [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
            '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ];
        for c in controls {
            let text = format!("a{c}b");
            assert_eq!(sanitize(&text), "ab", "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn padding_cannot_push_a_forged_notice_onto_the_next_row() {
        let attack = format!("{}Server: Max left the party.", " ".repeat(75));
        assert_eq!(sanitize(&attack), "    Server: Max left the party.");
    }

    #[test]
    fn padding_made_of_other_blanks_and_tabs_is_cut_too() {
        for blank in [
            "\t", "\u{A0}", "\u{3000}", "\u{2003}", "\u{2800}", "\u{3164}",
        ] {
            let attack = format!("x{}Server: hi", blank.repeat(40));
            assert_eq!(sanitize(&attack), "x    Server: hi", "{blank:?}");
        }
    }

    #[test]
    fn zero_width_characters_do_not_break_a_run_of_padding() {
        let attack = format!("x{}Server: hi", " \u{200B}\u{FE0F}".repeat(40));
        assert_eq!(sanitize(&attack), "x    Server: hi");
        // Nor do removed control characters.
        assert_eq!(sanitize("x  \x07  \x07  y"), "x    y");
    }

    #[test]
    fn short_runs_of_blanks_are_kept_as_sent() {
        for text in [
            "a b",
            "a    b",
            "    indented",
            "a\u{A0}\u{A0}b",
            "tail    ",
        ] {
            assert!(
                matches!(sanitize(text), Cow::Borrowed(t) if t == text),
                "{text:?}"
            );
        }
        assert_eq!(sanitize("a     b"), "a    b");
    }

    #[test]
    fn joiners_and_variation_selectors_in_text_are_kept() {
        // A family emoji (ZWJ), a heart in emoji style (FE0F), Persian with a
        // zero-width non-joiner: all ordinary text.
        for text in [
            "👨\u{200D}👩\u{200D}👧",
            "\u{2764}\u{FE0F}",
            "می\u{200C}خواهم",
        ] {
            assert!(
                matches!(sanitize(text), Cow::Borrowed(t) if t == text),
                "{text:?}"
            );
        }
    }

    /// `a`, 80 of `c`, `b`.
    fn eighty(c: char) -> String {
        format!("a{}b", c.to_string().repeat(80))
    }

    #[test]
    fn eighty_soft_hyphens_are_removed() {
        assert_eq!(sanitize(&eighty('\u{AD}')), "ab");
        assert_eq!(sanitize("pass\u{AD}word"), "password");
    }

    #[test]
    fn eighty_combining_grapheme_joiners_u034f_are_removed() {
        assert_eq!(sanitize(&eighty('\u{34F}')), "ab");
    }

    #[test]
    fn eighty_khmer_inherent_vowels_u17b4_u17b5_are_removed() {
        assert_eq!(sanitize(&eighty('\u{17B4}')), "ab");
        assert_eq!(sanitize(&eighty('\u{17B5}')), "ab");
    }

    #[test]
    fn eighty_invisible_times_u2062_and_other_invisible_operators_are_removed() {
        for c in ['\u{2060}', '\u{2061}', '\u{2062}', '\u{2063}', '\u{2064}'] {
            assert_eq!(sanitize(&eighty(c)), "ab", "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn eighty_byte_order_marks_are_removed() {
        assert_eq!(sanitize(&eighty('\u{FEFF}')), "ab");
        assert_eq!(sanitize("\u{FEFF}hello"), "hello");
    }

    #[test]
    fn eighty_zero_width_spaces_are_removed() {
        assert_eq!(sanitize(&eighty('\u{200B}')), "ab");
        assert_eq!(sanitize(&"\u{200B}".repeat(80)), "");
    }

    #[test]
    fn eighty_tag_characters_are_removed() {
        for c in ['\u{E0001}', '\u{E0041}', '\u{E007F}', '\u{E0FFF}'] {
            assert_eq!(sanitize(&eighty(c)), "ab", "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn other_default_ignorables_are_removed() {
        for c in ['\u{180E}', '\u{1D173}', '\u{1BCA0}', '\u{FFF0}', '\u{2065}'] {
            assert_eq!(sanitize(&eighty(c)), "ab", "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn eighty_spaces_each_with_a_combining_accent_are_cut_like_spaces() {
        let attack = format!("{}Server: Max left the party.", " \u{301}".repeat(80));
        assert_eq!(sanitize(&attack), "    Server: Max left the party.");
        let stacked = format!("x{}Server: hi", "\u{3000}\u{301}\u{332}".repeat(40));
        assert_eq!(sanitize(&stacked), "x    Server: hi");
        // A few keep their marks, as a few blanks keep their kind.
        assert!(matches!(sanitize("a \u{301}b"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_run_of_joiners_keeps_one_only_inside_an_emoji_sequence() {
        let family = format!("\u{1F468}{}\u{1F469}", "\u{200D}".repeat(80));
        assert_eq!(sanitize(&family), "\u{1F468}\u{200D}\u{1F469}");
        assert_eq!(
            sanitize(&eighty('\u{200D}')),
            "a\u{200D}b",
            "between letters"
        );
        assert_eq!(sanitize("\u{200D}\u{1F469}"), "\u{1F469}");
        assert_eq!(sanitize("\u{1F468}\u{200D} x"), "\u{1F468} x");
        assert_eq!(sanitize("1\u{200D}2"), "12");
    }

    #[test]
    fn a_run_of_variation_selectors_keeps_one_after_a_character_that_takes_one() {
        let hearts = format!("\u{2764}{}", "\u{FE0F}".repeat(80));
        assert_eq!(sanitize(&hearts), "\u{2764}\u{FE0F}");
        assert_eq!(sanitize(&"\u{FE0F}".repeat(80)), "");
        assert_eq!(sanitize("x \u{FE0F}y"), "x y");
        assert_eq!(sanitize("\u{845B}\u{E0100}\u{E0101}"), "\u{845B}\u{E0100}");
    }

    #[test]
    fn emoji_sequences_and_variants_are_kept_as_sent() {
        for text in [
            "\u{1F469}\u{1F3FD}\u{200D}\u{1F4BB}",
            "\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}",
            "\u{2764}\u{FE0F}\u{200D}\u{1F525}",
            "1\u{FE0F}\u{20E3} #\u{FE0F}\u{20E3}",
            "\u{845B}\u{E0100}",
            "\u{915}\u{94D}\u{200D}\u{937}",
            "\u{2229}\u{FE00}",
        ] {
            assert!(
                matches!(sanitize(text), Cow::Borrowed(t) if t == text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn visible_shows_escape_as_caret_bracket() {
        assert_eq!(visible("\x1b[31mred\x1b[0m"), "^[[31mred^[[0m");
        assert_eq!(visible("\x1b]52;c;ZXZpbA==\x07"), "^[]52;c;ZXZpbA==^G");
    }

    #[test]
    fn visible_shows_backspace_cr_nul_and_del() {
        assert_eq!(visible("a\x08b\rc\x00d\x7f"), "a^Hb^Mc^@d^?");
    }

    #[test]
    fn visible_shows_c1_csi_as_its_code_point() {
        assert_eq!(visible("a\u{9b}31mb\u{85}"), "a<U+009B>31mb<U+0085>");
    }

    #[test]
    fn visible_applies_the_text_rules_too() {
        assert_eq!(visible("a\tb"), "a b");
        assert_eq!(visible("\u{202E}x\u{2028}y"), "x y");
        assert_eq!(
            visible(&format!("Eve:{}Server: hi", " ".repeat(75))),
            "Eve:    Server: hi"
        );
        assert!(matches!(visible("héllo 中文"), Cow::Borrowed("héllo 中文")));
    }

    #[test]
    fn visible_bytes_replaces_invalid_utf8() {
        assert_eq!(visible_bytes(b"\xff\x1b[1m"), "\u{fffd}^[[1m");
    }

    /// Text dense in what the rules act on: controls, blanks, zero-width
    /// characters, bidi controls and line separators among letters.
    fn tricky_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let c = prop_oneof![
            2 => any::<char>(),
            2 => prop::sample::select(vec!['\x1b', '\t', '\r', '\x7f', '\u{9b}', '\u{85}']),
            4 => prop::sample::select(vec![' ', '\u{A0}', '\u{3000}', '\u{2800}', '\u{2028}']),
            2 => prop::sample::select(vec!['\u{200B}', '\u{FE0F}', '\u{202E}', '\u{2066}', '\u{200F}']),
            2 => prop::sample::select(vec!['\u{200D}', '\u{200C}', '\u{AD}', '\u{E0041}', '\u{301}', '👨', '❤']),
            2 => prop::sample::select(vec!['a', 'é', '中', '^', '[']),
        ];
        prop::collection::vec(c, 0..60).prop_map(|chars| chars.into_iter().collect())
    }

    #[test]
    fn marks_are_the_general_category_of_marks() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let mark = c.general_category_group() == GeneralCategoryGroup::Mark;
            assert_eq!(is_mark(c), mark, "U+{:04X}", u32::from(c));
        }
    }

    /// The longest run of blanks, marks on them and zero-width characters
    /// not counting and not ending a run: the rule written the obvious way.
    fn longest_blank_run(text: &str) -> usize {
        let (mut longest, mut run) = (0, 0);
        for c in text.chars() {
            if is_blank(c) {
                run += 1;
                longest = longest.max(run);
            } else if !(is_default_ignorable(c) || run > 0 && is_mark(c)) {
                run = 0;
            }
        }
        longest
    }

    /// Whether `text` holds a default-ignorable character that is not
    /// kept where it stands.
    fn has_an_ignorable_to_remove(text: &str) -> bool {
        let (mut before, mut in_run) = (None, false);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if is_blank(c) || c == '\t' {
                (before, in_run) = (None, true);
            } else if is_default_ignorable(c) && !is_bidi_control(c) {
                if !keeps_ignorable(before, c, chars.peek().copied()) {
                    return true;
                }
                before = Some(c);
            } else if in_run && is_mark(c) {
                before = None;
            } else {
                (before, in_run) = (Some(c), false);
            }
        }
        false
    }

    proptest::proptest! {
        #[test]
        fn no_rule_is_broken_after_either_cleaning(text in tricky_text()) {
            for clean in [sanitize(&text), visible(&text)] {
                proptest::prop_assert!(!clean.chars().any(|c| c.is_control()
                    || is_bidi_control(c) || is_line_separator(c)), "{:?} -> {:?}", text, clean);
                proptest::prop_assert!(longest_blank_run(&clean) <= MAX_BLANK_RUN, "{:?}", clean);
                proptest::prop_assert!(!has_an_ignorable_to_remove(&clean), "{:?}", clean);
                // Cleaning again changes nothing and allocates nothing.
                proptest::prop_assert!(matches!(sanitize(&clean), Cow::Borrowed(t) if *t == *clean));
                proptest::prop_assert!(matches!(visible(&clean), Cow::Borrowed(t) if *t == *clean));
            }
        }

        #[test]
        fn text_that_breaks_no_rule_is_borrowed(text in tricky_text()) {
            let breaks_a_rule = text.chars().any(|c| c.is_control() || c == '\t'
                || is_bidi_control(c) || is_line_separator(c))
                || longest_blank_run(&text) > MAX_BLANK_RUN
                || has_an_ignorable_to_remove(&text);
            proptest::prop_assert_eq!(matches!(sanitize(&text), Cow::Borrowed(_)), !breaks_a_rule);
        }
    }
}
