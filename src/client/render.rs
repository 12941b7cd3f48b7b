//! How a server line looks on the person's screen. Pure: the caller says
//! whether colour is wanted. Every line goes through the same text rules as
//! the server's chat text ([`visible_bytes`]), so a hostile server or peer
//! cannot move the cursor, recolour or retitle the terminal, write to the
//! clipboard, reorder text, split a line or pad a forged one onto a row of
//! its own; a control character it sent is shown as caret text (`^[`).

use yansi::{Color, Paint, Style};

use crate::protocol::message::{classify, ServerLine};
use crate::protocol::sanitize::visible_bytes;

/// Colours for people's names. Green (server), red (errors) and magenta
/// (private messages) are kept for their own meaning.
const NAME_COLORS: [Color; 8] = [
    Color::Cyan,
    Color::Yellow,
    Color::Blue,
    Color::BrightCyan,
    Color::BrightYellow,
    Color::BrightBlue,
    Color::Fixed(208), // orange
    Color::Fixed(141), // lavender
];

/// The colour of a name: the same in every session and for every case
/// (FNV-1a of the lower-cased name: stable, unlike std's hasher).
pub fn name_color(name: &str) -> Color {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.to_lowercase().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    NAME_COLORS[hash as usize % NAME_COLORS.len()]
}

/// Renders one raw line from the server for display.
pub fn render(raw: &[u8], color: bool) -> String {
    let line = visible_bytes(raw);
    if !color {
        return line.into_owned();
    }
    let server = Style::new().green();
    let private = Style::new().magenta();
    let name = |n: &str| n.paint(Style::new().fg(name_color(n)).bold()).to_string();
    match classify(&line) {
        ServerLine::LoggedIn(_)
        | ServerLine::Notice(_)
        | ServerLine::PasswordWanted(_)
        | ServerLine::PasswordAccepted(_) => line.paint(server).to_string(),
        ServerLine::Error(_) | ServerLine::PasswordRefused(_) => {
            line.paint(Style::new().red().bold()).to_string()
        }
        ServerLine::Chat { from, text } => format!("{}: {text}", name(from)),
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
            let italic = Style::new().italic();
            format!("{} {} {}", "*".paint(italic), name(who), text.paint(italic))
        }
        ServerLine::Other(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_color_the_line_is_shown_as_sent() {
        assert_eq!(render(b"Max: hello", false), "Max: hello");
        assert_eq!(
            render(b"Server: Max joined the party!", false),
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
            assert!(!render(line, false).contains('\x1b'));
        }
    }

    #[test]
    fn server_notices_are_green_and_errors_red() {
        let notice = render(b"Server: Max joined the party!", true);
        assert!(notice.starts_with("\x1b[32m"), "{notice:?}");
        let error = render(b"Server: Error: no such user", true);
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
        let line = render(b"Max: hello", true);
        assert!(line.starts_with("\x1b["), "{line:?}");
        assert!(line.ends_with(": hello"), "{line:?}");
        assert!(line.contains("Max"));
    }

    #[test]
    fn private_and_action_lines_are_styled_apart_from_chat() {
        let private = render(b"Max (private): psst", true);
        assert!(private.contains("\x1b[35"), "magenta: {private:?}");
        let sent = render(b"To Bob (private): psst", true);
        assert!(sent.contains("\x1b[35"), "magenta: {sent:?}");
        let action = render(b"* Max waves", true);
        assert!(action.contains("\x1b[3m"), "italic: {action:?}");
    }

    #[test]
    fn a_name_keeps_its_colour_in_any_case() {
        assert_eq!(name_color("Max"), name_color("max"));
        let colors: std::collections::HashSet<String> = ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .map(|n| format!("{:?}", name_color(n)))
            .collect();
        assert!(colors.len() > 1, "names spread over several colours");
    }

    #[test]
    fn hostile_server_escapes_are_stripped_even_with_color() {
        let attack = b"Server: \x1b]52;c;ZXZpbA==\x07hi\x1b[2J\r\x9b31m";
        for color in [true, false] {
            let shown = render(attack, color);
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
            render(attack, false),
            "Max: ^[[2J^[]0;pwned^Ghi^H^?<U+009B>31m"
        );
        assert!(render(attack, true).contains("^[[2J^[]0;pwned^Ghi^H^?<U+009B>31m"));
    }

    #[test]
    fn a_forged_line_inside_a_line_stays_on_its_row() {
        let padded = format!("Eve:{}Server: Max left the party.", " ".repeat(75));
        assert_eq!(
            render(padded.as_bytes(), false),
            "Eve:    Server: Max left the party."
        );
        let split = "Eve: hi\u{2028}Server: Max left the party.";
        assert_eq!(
            render(split.as_bytes(), false),
            "Eve: hi Server: Max left the party."
        );
        let reordered = "Eve: \u{202E}olleh";
        assert_eq!(render(reordered.as_bytes(), false), "Eve: olleh");
    }
}
