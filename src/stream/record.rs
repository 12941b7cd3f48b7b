//! One kept message, and its shape on disk: one JSON object a line, fields
//! in a fixed order, so `jq` and `grep` read a transcript as it is:
//!
//! ```text
//! {"id":7,"time":1764583200123,"kind":"chat","from":"Max","text":"hi all"}
//! {"id":8,"time":1764583201456,"kind":"action","from":"Max","text":"waves"}
//! {"id":9,"time":1764583202000,"kind":"rename","from":"Max","new":"Maxi"}
//! {"id":10,"time":1764583203000,"kind":"private","from":"Maxi","to":"Ann","text":"psst"}
//! {"id":11,"time":1764583204000,"kind":"join","from":"Bob"}
//! {"id":12,"time":1764583205000,"kind":"leave","from":"Bob"}
//! ```
//!
//! `from` is always whoever acted (for a rename, the old name), so
//! `jq 'select(.from=="Max")'` finds everything Max did. Decoding is
//! strict: an unknown kind, a missing or extra field, or a field that does
//! not belong to the kind is an error that says which.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A message's place in its room's stream: increasing, never given twice
/// by one store (or, without a store, by one server process).
pub type Id = u64;

/// Server time: milliseconds since 1970-01-01 00:00 UTC.
pub type Millis = u64;

/// A kept message: its id, when the server took it, and what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its place in the room's stream.
    pub id: Id,
    /// When the server took it.
    pub time: Millis,
    /// What it says.
    pub kind: Kind,
}

/// What a kept message says. Names are as the room shows them; text is as
/// relayed (already sanitized by the room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Chat {
        from: String,
        text: String,
    },
    /// `/me waves`: `text` is `waves`.
    Action {
        from: String,
        text: String,
    },
    Join {
        from: String,
    },
    Leave {
        from: String,
    },
    Rename {
        from: String,
        new: String,
    },
    /// Kept for its two sessions only, never replayed to a name.
    Private {
        from: String,
        to: String,
        text: String,
    },
}

impl Kind {
    /// Whether a person said it to the room (chat or `/me`), not a notice.
    pub fn is_said(&self) -> bool {
        matches!(self, Kind::Chat { .. } | Kind::Action { .. })
    }

    /// Whether everyone in the room saw it (everything but private ones).
    pub fn is_room(&self) -> bool {
        !matches!(self, Kind::Private { .. })
    }

    fn tag(&self) -> Tag {
        match self {
            Kind::Chat { .. } => Tag::Chat,
            Kind::Action { .. } => Tag::Action,
            Kind::Join { .. } => Tag::Join,
            Kind::Leave { .. } => Tag::Leave,
            Kind::Rename { .. } => Tag::Rename,
            Kind::Private { .. } => Tag::Private,
        }
    }
}

/// What a record costs in memory, for the history's byte bound: its text
/// and names plus a fixed share for the record, its `Arc`'s counts and
/// its slot in a list (checked by a test).
pub const RECORD_OVERHEAD: usize = 112;

impl Record {
    /// The bytes this record is counted as in memory.
    pub fn weight(&self) -> usize {
        let strings = match &self.kind {
            Kind::Chat { from, text } | Kind::Action { from, text } => from.len() + text.len(),
            Kind::Join { from } | Kind::Leave { from } => from.len(),
            Kind::Rename { from, new } => from.len() + new.len(),
            Kind::Private { from, to, text } => from.len() + to.len() + text.len(),
        };
        RECORD_OVERHEAD + strings
    }

    /// Appends this record's line, with its `\n`, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (from, to, new, text) = match &self.kind {
            Kind::Chat { from, text } | Kind::Action { from, text } => {
                (from, None, None, Some(text))
            }
            Kind::Join { from } | Kind::Leave { from } => (from, None, None, None),
            Kind::Rename { from, new } => (from, None, Some(new), None),
            Kind::Private { from, to, text } => (from, Some(to), None, Some(text)),
        };
        let line = Line {
            id: self.id,
            time: self.time,
            kind: self.kind.tag(),
            from: from.as_str().into(),
            to: to.map(|s| s.as_str().into()),
            new: new.map(|s| s.as_str().into()),
            text: text.map(|s| s.as_str().into()),
        };
        // Writing to a Vec cannot fail, and every field is a plain string
        // or number, which JSON always represents.
        serde_json::to_writer(&mut *out, &line).expect("a record always encodes");
        out.push(b'\n');
    }

    /// Reads one line (without its `\n`).
    pub fn decode(line: &[u8]) -> Result<Record, DecodeError> {
        let line: Line<'_> =
            serde_json::from_slice(line).map_err(|e| DecodeError::Json(e.to_string()))?;
        let Line {
            id,
            time,
            kind,
            from,
            to,
            new,
            text,
        } = line;
        if from.is_empty() {
            return Err(DecodeError::EmptyName("from"));
        }
        // Which of the optional fields each kind has: (to, new, text).
        let wants = match kind {
            Tag::Chat | Tag::Action => [false, false, true],
            Tag::Join | Tag::Leave => [false, false, false],
            Tag::Rename => [false, true, false],
            Tag::Private => [true, false, true],
        };
        let fields = [("to", &to), ("new", &new), ("text", &text)];
        for ((field, value), wanted) in fields.into_iter().zip(wants) {
            match (wanted, value) {
                (true, None) => return Err(DecodeError::Missing(kind, field)),
                (false, Some(_)) => return Err(DecodeError::Extra(kind, field)),
                (true, Some(name)) if field != "text" && name.is_empty() => {
                    return Err(DecodeError::EmptyName(field))
                }
                _ => {}
            }
        }
        // Checked above: what the kind takes is there.
        let own = |value: Option<Cow<'_, str>>| value.map(Cow::into_owned).unwrap_or_default();
        let from = from.into_owned();
        let kind_value = match kind {
            Tag::Chat => Kind::Chat {
                from,
                text: own(text),
            },
            Tag::Action => Kind::Action {
                from,
                text: own(text),
            },
            Tag::Join => Kind::Join { from },
            Tag::Leave => Kind::Leave { from },
            Tag::Rename => Kind::Rename {
                from,
                new: own(new),
            },
            Tag::Private => Kind::Private {
                from,
                to: own(to),
                text: own(text),
            },
        };
        Ok(Record {
            id,
            time,
            kind: kind_value,
        })
    }
}

/// The `kind` field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tag {
    Chat,
    Action,
    Join,
    Leave,
    Rename,
    Private,
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Tag::Chat => "chat",
            Tag::Action => "action",
            Tag::Join => "join",
            Tag::Leave => "leave",
            Tag::Rename => "rename",
            Tag::Private => "private",
        };
        f.write_str(name)
    }
}

/// A line as JSON has it: flat, so the file reads plainly, and checked
/// against its kind after parsing.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    id: Id,
    time: Millis,
    kind: Tag,
    #[serde(borrow)]
    from: Cow<'a, str>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    to: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    new: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    text: Option<Cow<'a, str>>,
}

/// Why a line is not a record; the text says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not JSON, or a field missing, unknown or of the wrong type
    /// (serde_json's own words, with the column).
    Json(String),
    /// The kind needs this field.
    Missing(Tag, &'static str),
    /// This field does not belong to the kind.
    Extra(Tag, &'static str),
    /// This name field is empty.
    EmptyName(&'static str),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Json(why) => write!(f, "not a record: {why}"),
            DecodeError::Missing(kind, field) => write!(f, "a {kind} record needs `{field}`"),
            DecodeError::Extra(kind, field) => write!(f, "a {kind} record has no `{field}`"),
            DecodeError::EmptyName(field) => write!(f, "`{field}` is empty"),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(record: &Record) -> String {
        let mut out = Vec::new();
        record.encode(&mut out);
        String::from_utf8(out).expect("JSON is UTF-8")
    }

    fn decode(text: &str) -> Result<Record, String> {
        Record::decode(text.as_bytes()).map_err(|e| e.to_string())
    }

    fn s(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn every_kind_has_the_documented_line_and_reads_back() {
        let cases = [
            (
                Kind::Chat {
                    from: s("Max"),
                    text: s("hi all"),
                },
                r#"{"id":7,"time":1764583200123,"kind":"chat","from":"Max","text":"hi all"}"#,
            ),
            (
                Kind::Action {
                    from: s("Max"),
                    text: s("waves"),
                },
                r#"{"id":7,"time":1764583200123,"kind":"action","from":"Max","text":"waves"}"#,
            ),
            (
                Kind::Rename {
                    from: s("Max"),
                    new: s("Maxi"),
                },
                r#"{"id":7,"time":1764583200123,"kind":"rename","from":"Max","new":"Maxi"}"#,
            ),
            (
                Kind::Private {
                    from: s("Maxi"),
                    to: s("Ann"),
                    text: s("psst"),
                },
                r#"{"id":7,"time":1764583200123,"kind":"private","from":"Maxi","to":"Ann","text":"psst"}"#,
            ),
            (
                Kind::Join { from: s("Bob") },
                r#"{"id":7,"time":1764583200123,"kind":"join","from":"Bob"}"#,
            ),
            (
                Kind::Leave { from: s("Bob") },
                r#"{"id":7,"time":1764583200123,"kind":"leave","from":"Bob"}"#,
            ),
        ];
        for (kind, expected) in cases {
            let record = Record {
                id: 7,
                time: 1_764_583_200_123,
                kind,
            };
            assert_eq!(line(&record), format!("{expected}\n"));
            assert_eq!(decode(expected), Ok(record));
        }
    }

    #[test]
    fn text_that_looks_like_json_or_has_quotes_stays_on_one_line() {
        let text = "a \"quote\", a \\ and }{\"id\":1} and ünïcode";
        let record = Record {
            id: 1,
            time: 2,
            kind: Kind::Chat {
                from: s("Max"),
                text: s(text),
            },
        };
        let encoded = line(&record);
        assert_eq!(encoded.matches('\n').count(), 1);
        assert!(encoded.ends_with('\n'));
        assert_eq!(decode(encoded.trim_end()), Ok(record));
    }

    #[test]
    fn a_line_that_is_not_json_says_so() {
        let err = decode("{\"id\":1,").expect_err("refused");
        assert!(err.starts_with("not a record: "), "{err}");
    }

    #[test]
    fn two_objects_a_repeated_field_or_a_fractional_time_are_refused() {
        let err = decode(r#"{"id":1,"time":2,"kind":"join","from":"Max"} {"id":2}"#)
            .expect_err("refused");
        assert!(err.contains("trailing characters"), "{err}");
        let err =
            decode(r#"{"id":1,"id":2,"time":2,"kind":"join","from":"Max"}"#).expect_err("refused");
        assert!(err.contains("duplicate field `id`"), "{err}");
        let err = decode(r#"{"id":1,"time":2.5,"kind":"join","from":"Max"}"#).expect_err("refused");
        assert!(err.starts_with("not a record: invalid type"), "{err}");
    }

    #[test]
    fn an_unknown_kind_is_refused() {
        let err = decode(r#"{"id":1,"time":2,"kind":"shout","from":"Max","text":"hi"}"#)
            .expect_err("refused");
        assert!(err.contains("shout"), "{err}");
    }

    #[test]
    fn an_unknown_field_is_refused_by_name() {
        let err = decode(r#"{"id":1,"time":2,"kind":"join","from":"Max","mood":"happy"}"#)
            .expect_err("refused");
        assert!(err.contains("mood"), "{err}");
    }

    #[test]
    fn a_missing_id_or_a_negative_one_is_refused() {
        let err = decode(r#"{"time":2,"kind":"join","from":"Max"}"#).expect_err("refused");
        assert!(err.contains("`id`"), "{err}");
        let err = decode(r#"{"id":-1,"time":2,"kind":"join","from":"Max"}"#).expect_err("refused");
        assert!(err.starts_with("not a record"), "{err}");
    }

    #[test]
    fn a_field_the_kind_needs_or_does_not_have_is_named() {
        assert_eq!(
            decode(r#"{"id":1,"time":2,"kind":"chat","from":"Max"}"#),
            Err(s("a chat record needs `text`"))
        );
        assert_eq!(
            decode(r#"{"id":1,"time":2,"kind":"private","from":"Max","text":"x"}"#),
            Err(s("a private record needs `to`"))
        );
        assert_eq!(
            decode(r#"{"id":1,"time":2,"kind":"chat","from":"Max","to":"Ann","text":"x"}"#),
            Err(s("a chat record has no `to`"))
        );
        assert_eq!(
            decode(r#"{"id":1,"time":2,"kind":"join","from":"Max","text":"x"}"#),
            Err(s("a join record has no `text`"))
        );
    }

    #[test]
    fn empty_names_are_refused() {
        assert_eq!(
            decode(r#"{"id":1,"time":2,"kind":"join","from":""}"#),
            Err(s("`from` is empty"))
        );
        assert_eq!(
            decode(r#"{"id":1,"time":2,"kind":"rename","from":"Max","new":""}"#),
            Err(s("`new` is empty"))
        );
    }

    #[test]
    fn the_fixed_share_covers_a_record_in_an_arc_in_a_list() {
        let arc_counts = 2 * std::mem::size_of::<usize>();
        let slot = std::mem::size_of::<std::sync::Arc<Record>>();
        assert!(RECORD_OVERHEAD >= std::mem::size_of::<Record>() + arc_counts + slot);
    }

    #[test]
    fn weight_counts_text_and_names() {
        let record = Record {
            id: 1,
            time: 2,
            kind: Kind::Private {
                from: s("ab"),
                to: s("cde"),
                text: s("fghij"),
            },
        };
        assert_eq!(record.weight(), RECORD_OVERHEAD + 10);
    }
}
