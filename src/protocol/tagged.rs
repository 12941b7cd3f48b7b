//! Tagged mode, the opt-in our own client asks for with `/tagged`: every
//! line the server sends it is `~TAGS LINE`, where LINE is exactly what a
//! plain (`nc`) client gets and TAGS are `key[=value]` items joined by
//! `,` (a message's id, the server's time, the label of the line it
//! answers…). Its lines to the server may carry a label, `~LABEL TEXT`,
//! which answers name again. Plain clients never see any of this.
//!
//! Both directions are here, apart from I/O: the server writes tags with
//! [`Tags`] and reads labels with [`split_label`]; the client reads lines
//! with [`parse`].

use std::fmt::Write as _;

/// What a client sends first to switch its connection to tagged mode.
pub const SWITCH: &str = "/tagged";

/// The first byte of a tagged line (and of a labeled client line).
pub const MARK: char = '~';

/// The longest label a client may give.
pub const MAX_LABEL: usize = 16;

/// Whether `label` is one the server takes: 1 to [`MAX_LABEL`] of
/// `A-Z a-z 0-9 _ -`, so it never needs quoting in a tag.
pub fn is_label(label: &str) -> bool {
    (1..=MAX_LABEL).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Splits a tagged client's line into its label and the rest. A line that
/// does not start with `~LABEL ` has no label and is taken whole.
pub fn split_label(line: &str) -> (Option<&str>, &str) {
    let labeled = line
        .strip_prefix(MARK)
        .and_then(|rest| rest.split_once(' '))
        .filter(|(label, _)| is_label(label));
    match labeled {
        Some((label, rest)) => (Some(label), rest),
        None => (None, line),
    }
}

/// The tags of one line, as the server writes them: start with the time,
/// add the rest, then [`Tags::line`].
#[derive(Debug, Clone)]
pub struct Tags {
    text: String,
}

impl Tags {
    /// `~t=MILLIS`: the server's time, which every tagged line carries.
    pub fn at(millis: u64) -> Tags {
        let mut text = String::with_capacity(48);
        // Writing to a String cannot fail.
        let _ = write!(text, "{MARK}t={millis}");
        Tags { text }
    }

    /// `~id=ID,t=MILLIS`: a kept message.
    pub fn kept(id: impl std::fmt::Display, millis: u64) -> Tags {
        let mut text = String::with_capacity(48);
        // Writing to a String cannot fail.
        let _ = write!(text, "{MARK}id={id},t={millis}");
        Tags { text }
    }

    /// Adds `key=value`.
    pub fn with(mut self, key: &str, value: impl std::fmt::Display) -> Tags {
        // Writing to a String cannot fail.
        let _ = write!(self.text, ",{key}={value}");
        self
    }

    /// Adds a key with no value (a flag such as `h`).
    pub fn flag(mut self, key: &str) -> Tags {
        self.text.push(',');
        self.text.push_str(key);
        self
    }

    /// Adds `re=LABEL` if there is a label.
    pub fn answering(self, label: Option<&str>) -> Tags {
        match label {
            Some(label) => self.with("re", label),
            None => self,
        }
    }

    /// The whole line: the tags, a space, `line`.
    pub fn line(mut self, line: &str) -> String {
        self.text.reserve(line.len() + 1);
        self.text.push(' ');
        self.text.push_str(line);
        self.text
    }
}

/// A tagged line from the server, read by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged<'a> {
    /// Every tag, in order: key and value (`None` for a flag).
    pub tags: Vec<(&'a str, Option<&'a str>)>,
    /// The line as a plain client would have it.
    pub line: &'a str,
}

impl<'a> Tagged<'a> {
    /// The value of `key`, if the line has it.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.tags
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|&(_, v)| v)
    }

    /// Whether the line has `key` (with or without a value).
    pub fn has(&self, key: &str) -> bool {
        self.tags.iter().any(|(k, _)| *k == key)
    }

    /// A numeric tag (`id`, `t`, `last`…).
    pub fn number(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }
}

/// Reads a tagged line; None when it is not one (no `~`, no space, or a
/// tag that is not `key[=value]` with a lowercase key).
pub fn parse(line: &str) -> Option<Tagged<'_>> {
    let (tags, rest) = line.strip_prefix(MARK)?.split_once(' ')?;
    let mut parsed = Vec::new();
    for tag in tags.split(',') {
        let (key, value) = match tag.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (tag, None),
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase()) {
            return None;
        }
        parsed.push((key, value));
    }
    Some(Tagged {
        tags: parsed,
        line: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_writes_tags_a_client_reads_back() {
        let line = Tags::kept(42, 1_764_583_200_123)
            .flag("h")
            .answering(Some("7"))
            .line("Max: hi, all");
        assert_eq!(line, "~id=42,t=1764583200123,h,re=7 Max: hi, all");
        let tagged = parse(&line).expect("a tagged line");
        assert_eq!(tagged.number("id"), Some(42));
        assert_eq!(tagged.number("t"), Some(1_764_583_200_123));
        assert!(tagged.has("h"));
        assert_eq!(tagged.get("h"), None);
        assert_eq!(tagged.get("re"), Some("7"));
        assert_eq!(tagged.line, "Max: hi, all");
    }

    #[test]
    fn a_plain_line_or_a_malformed_tag_is_not_a_tagged_line() {
        assert_eq!(parse("Max: hi"), None);
        assert_eq!(parse("~t=1"), None, "no space, no line");
        assert_eq!(parse("~T=1 x"), None, "keys are lowercase");
        assert_eq!(parse("~t=1,,id=2 x"), None, "an empty tag");
    }

    #[test]
    fn a_label_is_split_off_only_when_it_is_one() {
        assert_eq!(split_label("~12 hello"), (Some("12"), "hello"));
        assert_eq!(split_label("~a-b_C ~tilde"), (Some("a-b_C"), "~tilde"));
        assert_eq!(split_label("~ hello"), (None, "~ hello"));
        assert_eq!(split_label("~a.b hello"), (None, "~a.b hello"));
        assert_eq!(split_label("~12345678901234567 x").0, None, "too long");
        assert_eq!(split_label("hello"), (None, "hello"));
        assert_eq!(split_label("~12"), (None, "~12"), "a label needs its text");
    }
}
