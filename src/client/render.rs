//! How a server line looks on the person's screen. Pure: the caller says
//! whether colour is wanted. Every line goes through the same text rules as
//! the server's chat text ([`visible_bytes`]), so a hostile server or peer
//! cannot move the cursor, recolour or retitle the terminal, write to the
//! clipboard, reorder text, split a line or pad a forged one onto a row of
//! its own; a control character it sent is shown as caret text (`^[`).

use yansi::{Paint, Style};

pub use super::palette::Colors;
use super::palette::Palette;
use crate::protocol::message::{classify, ServerLine};
use crate::protocol::sanitize::visible_bytes;

/// How a line stands out from the live room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Emphasis {
    /// Replayed history: dimmed.
    pub history: bool,
    /// It names the person, or is a private message to them: the sender
    /// is highlighted (black on yellow).
    pub mention: bool,
}

/// Renders one raw line from the server for display, out of a session
/// (names get the colours they would first get in one).
pub fn render(raw: &[u8], colors: Colors) -> String {
    styled(raw, &mut Palette::new(colors), Emphasis::default())
}

/// Renders one raw line from the server with `emphasis`, names in the
/// session's `palette`.
pub fn styled(raw: &[u8], palette: &mut Palette, emphasis: Emphasis) -> String {
    let line = visible_bytes(raw);
    if !palette.colors().on() {
        return line.into_owned();
    }
    let tone = |style: Style| match emphasis.history {
        true => style.dim(),
        false => style,
    };
    let server = tone(Style::new().green());
    let private = tone(Style::new().magenta());
    let mut name = |n: &str| match emphasis.mention {
        true => n.paint(Style::new().black().on_yellow().bold()).to_string(),
        false => n.paint(tone(palette.style(n))).to_string(),
    };
    let plain = tone(Style::new());
    match classify(&line) {
        ServerLine::LoggedIn(_)
        | ServerLine::Notice(_)
        | ServerLine::PasswordWanted(_)
        | ServerLine::PasswordAccepted(_) => line.paint(server).to_string(),
        ServerLine::Error(_) | ServerLine::PasswordRefused(_) => {
            line.paint(tone(Style::new().red().bold())).to_string()
        }
        ServerLine::Chat { from, text } => format!("{}: {}", name(from), text.paint(plain)),
        ServerLine::PrivateFrom { from, text } => format!(
            "{} {} {}",
            name(from),
            "(private):".paint(private.bold()),
            text.paint(private)
        ),
        ServerLine::PrivateTo { to, text } => format!(
            "{} {} {} {}",
            "To".paint(private),
            name(to),
            "(private):".paint(private.bold()),
            text.paint(private)
        ),
        ServerLine::Action { name: who, text } => {
            let italic = tone(Style::new().italic());
            format!("{} {} {}", "*".paint(italic), name(who), text.paint(italic))
        }
        ServerLine::Other(other) => other.paint(plain).to_string(),
    }
}

/// The room of a line that is not of the current room, before it:
/// `[#ops] `, the name in the room's own colour (dimmed in history),
/// plain without colours. The name is made visible as any server text.
pub fn room(room: &str, palette: &mut Palette, history: bool) -> String {
    let room = crate::protocol::sanitize::visible(room);
    if !palette.colors().on() {
        return format!("[{room}] ");
    }
    let style = match history {
        true => palette.stable(&room).dim(),
        false => palette.stable(&room),
    };
    format!("[{}] ", room.paint(style))
}

/// Text of our own making (a time, the day, the catch-up marker): dimmed
/// on a terminal, plain otherwise.
pub fn faint(text: &str, colors: Colors) -> String {
    match colors.on() {
        true => text.paint(Style::new().dim()).to_string(),
        false => text.to_string(),
    }
}

/// The most characters of a refused line that are shown again: a line
/// refused for its length is not printed back whole (4 000 bytes were 50
/// struck-through rows).
const MOST_SHOWN_REFUSED: usize = 60;

/// One of the person's own lines that the server refused: the line
/// (shortened with `…` past `MOST_SHOWN_REFUSED` characters), struck
/// through and dimmed, then why it was not sent.
pub fn not_sent(mine: &str, why: &str, colors: Colors) -> String {
    let mine = crate::protocol::sanitize::visible(mine);
    let mine = match mine.char_indices().nth(MOST_SHOWN_REFUSED) {
        Some((cut, _)) => format!("{}…", &mine[..cut]),
        None => mine.into_owned(),
    };
    let why = crate::protocol::sanitize::visible(why);
    if !colors.on() {
        return format!("{mine} (not sent: {why})");
    }
    format!(
        "{} {}",
        mine.paint(Style::new().dim().strike()),
        format!("(not sent: {why})").paint(Style::new().red())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_of_another_room_is_prefixed_with_the_room_in_its_colour() {
        let mut plain = Palette::new(Colors::Off);
        assert_eq!(room("#ops", &mut plain, false), "[#ops] ");
        let mut palette = Palette::new(Colors::True);
        let shown = room("#ops", &mut palette, false);
        let style = palette.stable("#ops");
        assert_eq!(shown, format!("[{}] ", "#ops".paint(style)));
        assert_ne!(shown, "[#ops] ", "in colour");
        assert_eq!(room("#a\x1b[2Jb", &mut plain, false), "[#a^[[2Jb] ");
    }

    #[test]
    fn a_refused_line_is_marked_as_not_sent() {
        assert_eq!(
            not_sent("/msg Bobb hi", "no user named Bobb is online", Colors::Off),
            "/msg Bobb hi (not sent: no user named Bobb is online)"
        );
        let marked = not_sent("/msg Bobb hi", "no user", Colors::Basic);
        assert!(
            marked.contains("\x1b[2;9m") || marked.contains("\x1b[9;2m"),
            "{marked:?}"
        );
    }

    #[test]
    fn a_long_refused_line_is_shown_shortened_with_its_reason() {
        let long = "é".repeat(5000);
        let shown = not_sent(&long, "longer than the room's 4078 bytes", Colors::Off);
        let kept = "é".repeat(MOST_SHOWN_REFUSED);
        assert_eq!(
            shown,
            format!("{kept}… (not sent: longer than the room's 4078 bytes)")
        );
        let exact = "x".repeat(MOST_SHOWN_REFUSED);
        assert_eq!(
            not_sent(&exact, "why", Colors::Off),
            format!("{exact} (not sent: why)")
        );
    }

    #[test]
    fn history_is_dimmed_and_a_mention_highlights_its_sender() {
        let history = Emphasis {
            history: true,
            mention: false,
        };
        let old = styled(b"Ann: hi", &mut Palette::new(Colors::Extended), history);
        assert!(
            old.contains("\x1b[2;") || old.contains(";2m") || old.contains("\x1b[2m"),
            "{old:?}"
        );
        let mention = Emphasis {
            history: false,
            mention: true,
        };
        let called = styled(b"Ann: hi Max", &mut Palette::new(Colors::Basic), mention);
        assert!(called.contains("43"), "yellow background: {called:?}");
        for emphasis in [history, mention] {
            assert_eq!(
                styled(b"Ann: hi Max", &mut Palette::new(Colors::Off), emphasis),
                "Ann: hi Max"
            );
        }
    }

    #[test]
    fn without_color_the_line_is_shown_as_sent() {
        assert_eq!(render(b"Max: hello", Colors::Off), "Max: hello");
        assert_eq!(
            render(b"Server: Max joined the party!", Colors::Off),
            "Server: Max joined the party!"
        );
    }

    #[test]
    fn without_color_no_escape_byte_is_printed() {
        for line in [
            &b"Max: hi"[..],
            b"Server: Error: x",
            b"* Max waves",
            b"Max (private): p",
        ] {
            assert!(!render(line, Colors::Off).contains('\x1b'));
        }
    }

    #[test]
    fn server_notices_are_green_and_errors_red() {
        let notice = render(b"Server: Max joined the party!", Colors::Extended);
        assert!(notice.starts_with("\x1b[32m"), "{notice:?}");
        let error = render(b"Server: Error: no such user", Colors::Extended);
        // Bold and red in one SGR sequence (yansi writes `\x1b[1;31m`).
        let params = error
            .strip_prefix("\x1b[")
            .and_then(|rest| rest.split_once('m'))
            .map(|(params, _)| params);
        assert!(
            params.is_some_and(|p| p.split(';').any(|n| n == "31")),
            "{error:?}"
        );
    }

    #[test]
    fn chat_names_are_coloured_and_text_is_not() {
        let line = render(b"Max: hello", Colors::Extended);
        assert!(line.starts_with("\x1b["), "{line:?}");
        assert!(line.ends_with(": hello"), "{line:?}");
        assert!(line.contains("Max"));
    }

    #[test]
    fn people_talking_in_a_session_get_colours_of_their_own() {
        for colors in [Colors::Basic, Colors::Extended, Colors::True] {
            let mut palette = Palette::new(colors);
            let lines: std::collections::HashSet<String> = ["Alice", "Bob", "Max"]
                .iter()
                .map(|name| {
                    let line = styled(
                        format!("{name}: hi").as_bytes(),
                        &mut palette,
                        Emphasis::default(),
                    );
                    line.split(name).next().unwrap_or_default().to_string()
                })
                .collect();
            assert_eq!(lines.len(), 3, "{colors:?}: {lines:?}");
        }
    }

    #[test]
    fn private_and_action_lines_are_styled_apart_from_chat() {
        let private = render(b"Max (private): psst", Colors::Extended);
        assert!(private.contains("\x1b[35"), "magenta: {private:?}");
        let sent = render(b"To Bob (private): psst", Colors::Extended);
        assert!(sent.contains("\x1b[35"), "magenta: {sent:?}");
        let action = render(b"* Max waves", Colors::Extended);
        assert!(action.contains("\x1b[3m"), "italic: {action:?}");
    }

    #[test]
    fn hostile_server_escapes_are_stripped_even_with_color() {
        let attack = b"Server: \x1b]52;c;ZXZpbA==\x07hi\x1b[2J\r\x9b31m";
        for colors in [Colors::Extended, Colors::Basic, Colors::Off] {
            let shown = render(attack, colors);
            let styling_removed = shown.replace("\x1b[32m", "").replace("\x1b[0m", "");
            assert!(!styling_removed.contains('\x1b'), "{shown:?}");
            assert!(
                !shown.contains('\x07') && !shown.contains('\r'),
                "{shown:?}"
            );
        }
    }

    #[test]
    fn a_hostile_escape_is_shown_as_caret_text_not_debris() {
        let attack = "Max: \x1b[2J\x1b]0;pwned\x07hi\x08\x7f\u{9b}31m".as_bytes();
        assert_eq!(
            render(attack, Colors::Off),
            "Max: ^[[2J^[]0;pwned^Ghi^H^?<U+009B>31m"
        );
        assert!(render(attack, Colors::Extended).contains("^[[2J^[]0;pwned^Ghi^H^?<U+009B>31m"));
    }

    #[test]
    fn a_forged_line_inside_a_line_stays_on_its_row() {
        let padded = format!("Eve:{}Server: Max left the party.", " ".repeat(75));
        assert_eq!(
            render(padded.as_bytes(), Colors::Off),
            "Eve:    Server: Max left the party."
        );
        let split = "Eve: hi\u{2028}Server: Max left the party.";
        assert_eq!(
            render(split.as_bytes(), Colors::Off),
            "Eve: hi Server: Max left the party."
        );
        let reordered = "Eve: \u{202E}olleh";
        assert_eq!(render(reordered.as_bytes(), Colors::Off), "Eve: olleh");
    }
}
