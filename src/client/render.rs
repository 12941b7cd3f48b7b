//! How a server line looks on the person's screen. Pure: the caller says
//! whether colour is wanted. Every line goes through the same text rules as
//! the server's chat text ([`visible_bytes`]), so a hostile server or peer
//! cannot move the cursor, recolour or retitle the terminal, write to the
//! clipboard, reorder text, split a line or pad a forged one onto a row of
//! its own; a control character it sent is shown as caret text (`^[`).

use yansi::{Color, Paint, Style};

use crate::protocol::message::{classify, ServerLine};
use crate::protocol::sanitize::visible_bytes;

/// What colours the terminal shows, decided once by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colors {
    /// None at all (not a terminal, or `NO_COLOR`).
    Off,
    /// The 16 basic colours.
    Basic,
    /// The 256-colour palette.
    Extended,
}

impl Colors {
    pub fn on(self) -> bool {
        self != Colors::Off
    }
}

/// Names' colours on a 256-colour terminal: nine hues, the first eight at
/// least 20° apart, so that eight people look different however the
/// terminal draws bold. Pure green and red are left to server notices and
/// errors.
const EXTENDED_NAMES: [u8; 9] = [
    202, // orange
    220, // gold
    148, // yellow-green
    43,  // teal
    39,  // sky blue
    63,  // indigo
    135, // purple
    170, // orchid
    204, // pink
];

/// Names' styles on a 16-colour terminal: its six hues, then the same six
/// underlined. Never a bright and a normal colour of one hue: many
/// terminals draw bold as bright, which would make such a pair one colour.
const BASIC_HUES: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Green,
    Color::Red,
];

/// How many styles names are spread over in `colors`.
fn name_styles(colors: Colors) -> usize {
    match colors {
        Colors::Extended => EXTENDED_NAMES.len(),
        _ => BASIC_HUES.len() * 2,
    }
}

/// The style of a name: the same in every session and for every case
/// (FNV-1a of the lower-cased name: stable, unlike std's hasher).
pub fn name_style(name: &str, colors: Colors) -> Style {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in name.to_lowercase().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    style_at(hash as usize % name_styles(colors), colors)
}

fn style_at(index: usize, colors: Colors) -> Style {
    match colors {
        Colors::Extended => Style::new().fg(Color::Fixed(EXTENDED_NAMES[index])).bold(),
        _ => {
            let style = Style::new().fg(BASIC_HUES[index % BASIC_HUES.len()]).bold();
            match index < BASIC_HUES.len() {
                true => style,
                false => style.underline(),
            }
        }
    }
}

/// How a line stands out from the live room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Emphasis {
    /// Replayed history: dimmed.
    pub history: bool,
    /// It names the person, or is a private message to them: the sender
    /// is highlighted (black on yellow).
    pub mention: bool,
}

/// Renders one raw line from the server for display.
pub fn render(raw: &[u8], colors: Colors) -> String {
    styled(raw, colors, Emphasis::default())
}

/// Renders one raw line from the server with `emphasis`.
pub fn styled(raw: &[u8], colors: Colors, emphasis: Emphasis) -> String {
    let line = visible_bytes(raw);
    if !colors.on() {
        return line.into_owned();
    }
    let tone = |style: Style| match emphasis.history {
        true => style.dim(),
        false => style,
    };
    let server = tone(Style::new().green());
    let private = tone(Style::new().magenta());
    let name = |n: &str| match emphasis.mention {
        true => n.paint(Style::new().black().on_yellow().bold()).to_string(),
        false => n.paint(tone(name_style(n, colors))).to_string(),
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

/// Text of our own making (a time, the day, the catch-up marker): dimmed
/// on a terminal, plain otherwise.
pub fn faint(text: &str, colors: Colors) -> String {
    match colors.on() {
        true => text.paint(Style::new().dim()).to_string(),
        false => text.to_string(),
    }
}

/// One of the person's own lines that the server refused: the line, struck
/// through and dimmed, then why it was not sent.
pub fn not_sent(mine: &str, why: &str, colors: Colors) -> String {
    let mine = crate::protocol::sanitize::visible(mine);
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
    fn history_is_dimmed_and_a_mention_highlights_its_sender() {
        let history = Emphasis {
            history: true,
            mention: false,
        };
        let old = styled(b"Ann: hi", Colors::Extended, history);
        assert!(
            old.contains("\x1b[2;") || old.contains(";2m") || old.contains("\x1b[2m"),
            "{old:?}"
        );
        let mention = Emphasis {
            history: false,
            mention: true,
        };
        let called = styled(b"Ann: hi Max", Colors::Basic, mention);
        assert!(called.contains("43"), "yellow background: {called:?}");
        for emphasis in [history, mention] {
            assert_eq!(styled(b"Ann: hi Max", Colors::Off, emphasis), "Ann: hi Max");
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
    fn private_and_action_lines_are_styled_apart_from_chat() {
        let private = render(b"Max (private): psst", Colors::Extended);
        assert!(private.contains("\x1b[35"), "magenta: {private:?}");
        let sent = render(b"To Bob (private): psst", Colors::Extended);
        assert!(sent.contains("\x1b[35"), "magenta: {sent:?}");
        let action = render(b"* Max waves", Colors::Extended);
        assert!(action.contains("\x1b[3m"), "italic: {action:?}");
    }

    #[test]
    fn a_name_keeps_its_colour_in_any_case() {
        for colors in [Colors::Basic, Colors::Extended] {
            assert_eq!(name_style("Max", colors), name_style("max", colors));
            let styles: std::collections::HashSet<String> =
                ["a", "b", "c", "d", "e", "f", "g", "h"]
                    .iter()
                    .map(|n| format!("{:?}", name_style(n, colors)))
                    .collect();
            assert!(styles.len() > 1, "names spread over several colours");
        }
    }

    /// The hue, in degrees, of colour `index` of xterm's 6×6×6 cube.
    fn cube_hue(index: u8) -> f64 {
        assert!(
            (16..232).contains(&index),
            "{index} is not in the colour cube"
        );
        let level = |n: u8| {
            if n == 0 {
                0.0
            } else {
                55.0 + 40.0 * f64::from(n)
            }
        };
        let i = index - 16;
        let (r, g, b) = (level(i / 36), level(i / 6 % 6), level(i % 6));
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        assert!(max - min > 40.0, "{index} is nearly grey");
        let hue = if max == r {
            (g - b) / (max - min)
        } else if max == g {
            2.0 + (b - r) / (max - min)
        } else {
            4.0 + (r - g) / (max - min)
        };
        (hue * 60.0).rem_euclid(360.0)
    }

    #[test]
    fn the_first_eight_names_on_a_256_colour_terminal_have_hues_apart() {
        let hues: Vec<f64> = EXTENDED_NAMES.iter().map(|&i| cube_hue(i)).collect();
        for (a, hue_a) in hues.iter().enumerate().take(8) {
            for (b, hue_b) in hues.iter().enumerate().take(8).skip(a + 1) {
                let apart = (hue_a - hue_b).abs();
                let apart = apart.min(360.0 - apart);
                assert!(apart >= 20.0, "colours {a} and {b}: {hue_a}° and {hue_b}°");
            }
        }
        // Neither the server's green (120°) nor the errors' red (0°).
        for hue in &hues {
            assert!(
                (hue - 120.0).abs() > 15.0 && hue.min(360.0 - hue) > 5.0,
                "{hue}"
            );
        }
    }

    #[test]
    fn on_16_colours_no_two_names_are_a_bright_and_normal_pair() {
        let bright = [
            Color::BrightCyan,
            Color::BrightYellow,
            Color::BrightBlue,
            Color::BrightMagenta,
            Color::BrightGreen,
            Color::BrightRed,
        ];
        let styles: Vec<Style> = (0..name_styles(Colors::Basic))
            .map(|i| style_at(i, Colors::Basic))
            .collect();
        assert!(styles.len() >= 8);
        for style in &styles {
            assert!(!bright.contains(&style.foreground.unwrap()), "{style:?}");
        }
        let distinct: std::collections::HashSet<String> =
            styles.iter().map(|s| format!("{s:?}")).collect();
        assert_eq!(distinct.len(), styles.len(), "each name style once");
        let hues: std::collections::HashSet<String> = styles[..6]
            .iter()
            .map(|s| format!("{:?}", s.foreground))
            .collect();
        assert_eq!(hues.len(), 6, "the first six are six hues");
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
