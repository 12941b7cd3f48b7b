//! Where the input rows go on the screen. Pure: a [`View`] and a width in,
//! the rows to write and the cursor's place out. The editor breaks rows
//! itself (CR LF, never the terminal's own wrap), so a terminal that
//! reflows lines on resize never joins them, and the rows drawn are known
//! exactly; [`rows_above_after_resize`] says where they went.

use unicode_width::UnicodeWidthChar;

use super::line::View;

/// The input as drawn at one width.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    /// Each screen row, at most `width` columns.
    pub rows: Vec<String>,
    /// The cursor's row and column.
    pub cursor: (usize, usize),
}

impl Layout {
    /// Lays out `view` in rows of at most `width` columns.
    pub fn new(view: &View, width: usize) -> Layout {
        let width = width.max(2);
        let mut rows = vec![String::new()];
        let mut col = 0;
        let mut cursor = None;
        let text = view.text.char_indices().map(|(i, c)| (Some(i), c));
        for (at, c) in view.prompt.chars().map(|c| (None, c)).chain(text) {
            let w = c.width().unwrap_or(0);
            if col + w > width {
                rows.push(String::new());
                col = 0;
            }
            if at == Some(view.cursor) {
                cursor = Some((rows.len() - 1, col));
            }
            if let Some(row) = rows.last_mut() {
                row.push(c);
            }
            col += w;
        }
        let cursor = cursor.unwrap_or_else(|| {
            // At the end; a full last row puts it on a row of its own.
            if col >= width {
                rows.push(String::new());
                (rows.len() - 1, 0)
            } else {
                (rows.len() - 1, col)
            }
        });
        Layout { rows, cursor }
    }

    /// The bytes that draw it, from the start of its first row, leaving
    /// the terminal's cursor at `self.cursor`.
    pub fn draw(&self, out: &mut Vec<u8>) {
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(row.as_bytes());
        }
        // CR also ends the "about to wrap" state of a full row.
        out.push(b'\r');
        let up = self.rows.len() - 1 - self.cursor.0;
        if up > 0 {
            out.extend_from_slice(format!("\x1b[{up}A").as_bytes());
        }
        if self.cursor.1 > 0 {
            out.extend_from_slice(format!("\x1b[{}C", self.cursor.1).as_bytes());
        }
    }
}

/// The bytes that take the cursor from `up` rows below the first input
/// row back to it and clear from there to the end of the screen. What is
/// above (the messages) is untouched.
pub fn erase(up: usize, out: &mut Vec<u8>) {
    out.push(b'\r');
    if up > 0 {
        out.extend_from_slice(format!("\x1b[{up}A").as_bytes());
    }
    out.extend_from_slice(b"\x1b[J");
}

/// How many rows above the cursor the input starts, once the terminal has
/// been resized to `width` under `drawn`. A terminal that keeps rows as
/// they are (xterm) leaves them where they were; one that reflows (tmux,
/// VTE, kitty…) splits each row longer than the new width.
pub fn rows_above_after_resize(drawn: &Layout, width: usize, reflows: bool) -> usize {
    let (row, col) = drawn.cursor;
    if !reflows {
        return row;
    }
    let width = width.max(1);
    let split = |r: &String| row_width(r).div_ceil(width).max(1);
    let above: usize = drawn.rows.iter().take(row).map(split).sum();
    let own = drawn.rows.get(row).map_or(1, split) - 1;
    above + (col / width).min(own)
}

fn row_width(row: &str) -> usize {
    row.chars().map(|c| c.width().unwrap_or(0)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(text: &str, cursor: usize) -> View {
        View {
            prompt: "> ".into(),
            text: text.into(),
            cursor,
        }
    }

    #[test]
    fn a_short_line_is_one_row() {
        let layout = Layout::new(&view("hello", 5), 80);
        assert_eq!(layout.rows, ["> hello"]);
        assert_eq!(layout.cursor, (0, 7));
        let layout = Layout::new(&view("hello", 0), 80);
        assert_eq!(layout.cursor, (0, 2));
    }

    #[test]
    fn a_long_line_breaks_at_the_width_and_a_full_row_moves_the_cursor_down() {
        let layout = Layout::new(&view("abcdefgh", 8), 5);
        assert_eq!(layout.rows, ["> abc", "defgh", ""]);
        assert_eq!(layout.cursor, (2, 0));
        let layout = Layout::new(&view("abcdefgh", 3), 5);
        assert_eq!(layout.rows, ["> abc", "defgh"]);
        assert_eq!(layout.cursor, (1, 0));
    }

    #[test]
    fn wide_characters_never_straddle_two_rows() {
        let layout = Layout::new(&view("ab漢字", "ab漢字".len()), 5);
        assert_eq!(layout.rows, ["> ab", "漢字"]);
        assert_eq!(layout.cursor, (1, 4));
    }

    #[test]
    fn drawing_ends_with_the_cursor_in_place() {
        let mut out = Vec::new();
        Layout::new(&view("abcdefgh", 1), 5).draw(&mut out);
        assert_eq!(out, b"> abc\r\ndefgh\r\x1b[1A\x1b[3C");
        let mut out = Vec::new();
        erase(2, &mut out);
        assert_eq!(out, b"\r\x1b[2A\x1b[J");
    }

    #[test]
    fn after_a_resize_the_input_start_is_found_in_either_kind_of_terminal() {
        // 150 characters typed at 100 columns, cursor at the end.
        let text = "x".repeat(150);
        let drawn = Layout::new(&view(&text, 150), 100);
        assert_eq!(drawn.cursor, (1, 52));
        assert_eq!(rows_above_after_resize(&drawn, 60, false), 1);
        // Reflowed at 60: the 100-column row is two rows, the 52 one.
        assert_eq!(rows_above_after_resize(&drawn, 60, true), 2);
        // Growing never joins rows the editor broke itself.
        assert_eq!(rows_above_after_resize(&drawn, 200, true), 1);
        let drawn = Layout::new(&view(&text, 10), 100);
        assert_eq!(rows_above_after_resize(&drawn, 60, true), 0);
    }
}
