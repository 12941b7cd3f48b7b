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
//! (Each line also ends in `"crc":"…"`, left out above: see [`CHECKSUM`].)
//!
//! `from` is always whoever acted (for a rename, the old name), so
//! `jq 'select(.from=="Max")'` finds everything Max did. Decoding is
//! strict: an unknown kind, a missing or extra field, or a field that does
//! not belong to the kind is an error that says which, and so is a
//! checksum that does not match the line.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use super::id::{Id, LAST_ID};

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

/// Every line ends in `,"crc":"<8 hex digits>"}`: the CRC-32C (Castagnoli,
/// as iSCSI and ext4 use it) of the line's bytes before `,"crc"`, so a
/// character changed anywhere in a record is caught on read, while `jq`
/// still reads the line as one object. Lines written before checksums
/// have none and are read as before.
pub const CHECKSUM: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// What follows a line's checksummed bytes: `,"crc":"` and, after the 8
/// digits, `"}`.
const CRC_OPEN: &[u8] = b",\"crc\":\"";
const CRC_CLOSE: &[u8] = b"\"}";
const CRC_TAIL: usize = CRC_OPEN.len() + 8 + CRC_CLOSE.len();

/// The checksum at the end of `line` and the bytes it covers; None when
/// the line does not end in one.
fn split_checksum(line: &[u8]) -> Option<(&[u8], u32)> {
    let body = line.len().checked_sub(CRC_TAIL)?;
    let (covered, tail) = line.split_at(body);
    let digits = tail.strip_prefix(CRC_OPEN)?.strip_suffix(CRC_CLOSE)?;
    if !digits
        .iter()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    // Eight lowercase hex digits, checked above.
    let digits = std::str::from_utf8(digits).ok()?;
    Some((covered, u32::from_str_radix(digits, 16).ok()?))
}

/// What a record costs in memory, for the history's byte bound: its text
/// and names plus a fixed share for its packing (see
/// [`super::packed::PACKING_MOST`], checked by a test) and its part of
/// its chunk's own costs.
pub const RECORD_OVERHEAD: usize = 40;

impl Kind {
    /// The bytes a record of this kind is counted as in memory (see
    /// [`Record::weight`]): known before the record has its id.
    pub fn weight(&self) -> usize {
        let strings: usize = self.strings().iter().flatten().map(|s| s.len()).sum();
        RECORD_OVERHEAD + strings
    }

    /// Its names and text, in the order a record holds them (`from`
    /// first), as many as its kind has.
    pub fn strings(&self) -> [Option<&str>; 3] {
        match self {
            Kind::Chat { from, text } | Kind::Action { from, text } => {
                [Some(from), Some(text), None]
            }
            Kind::Join { from } | Kind::Leave { from } => [Some(from), None, None],
            Kind::Rename { from, new } => [Some(from), Some(new), None],
            Kind::Private { from, to, text } => [Some(from), Some(to), Some(text)],
        }
    }
}

impl Record {
    /// The bytes this record is counted as in memory.
    pub fn weight(&self) -> usize {
        self.kind.weight()
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
            crc: None,
        };
        let start = out.len();
        // Writing to a Vec cannot fail, and every field is a plain string
        // or number, which JSON always represents.
        serde_json::to_writer(&mut *out, &line).expect("a record always encodes");
        // The object's closing brace gives way to the checksum.
        out.pop();
        let crc = CHECKSUM.checksum(&out[start..]);
        out.extend_from_slice(CRC_OPEN);
        out.extend_from_slice(format!("{crc:08x}").as_bytes());
        out.extend_from_slice(CRC_CLOSE);
        out.push(b'\n');
    }

    /// Whether `line` (without its `\n`) carries a checksum, matching or
    /// not: a store that has them has one on every line.
    pub fn has_checksum(line: &[u8]) -> bool {
        split_checksum(line).is_some()
    }

    /// Reads one line (without its `\n`).
    pub fn decode(line: &[u8]) -> Result<Record, DecodeError> {
        let checksum = split_checksum(line);
        if let Some((covered, stored)) = checksum {
            let computed = CHECKSUM.checksum(covered);
            if computed != stored {
                return Err(DecodeError::Checksum { stored, computed });
            }
        }
        let parsed: Line<'_> =
            serde_json::from_slice(line).map_err(|e| DecodeError::Json(e.to_string()))?;
        let Line {
            id,
            time,
            kind,
            from,
            to,
            new,
            text,
            crc,
        } = parsed;
        // A `crc` that is not the line's last field, or not 8 lowercase hex
        // digits, was not written by us.
        if crc.is_some() && checksum.is_none() {
            return Err(DecodeError::MisplacedChecksum);
        }
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
    /// Read only to be refused where it does not belong: the real one is
    /// checked as bytes (see [`CHECKSUM`]), and written by `encode`.
    #[serde(borrow, default, skip_serializing)]
    crc: Option<Cow<'a, str>>,
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
    /// The line's checksum does not match its bytes: it was changed.
    Checksum { stored: u32, computed: u32 },
    /// A `crc` field that is not the line's last, or not 8 hex digits.
    MisplacedChecksum,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Json(why) => write!(f, "not a record: {why}"),
            DecodeError::Missing(kind, field) => write!(f, "a {kind} record needs `{field}`"),
            DecodeError::Extra(kind, field) => write!(f, "a {kind} record has no `{field}`"),
            DecodeError::EmptyName(field) => write!(f, "`{field}` is empty"),
            DecodeError::Checksum { stored, computed } => write!(
                f,
                "the checksum does not match (the line says {stored:08x}, its bytes give \
                 {computed:08x}): the line was changed after it was written"
            ),
            DecodeError::MisplacedChecksum => {
                write!(f, "`crc` is not 8 hex digits at the end of the line")
            }
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
                id: Id::new(7),
                time: 1_764_583_200_123,
                kind,
            };
            let written = line(&record);
            let body = &expected[..expected.len() - 1];
            let crc = CHECKSUM.checksum(body.as_bytes());
            assert_eq!(written, format!("{body},\"crc\":\"{crc:08x}\"}}\n"));
            assert_eq!(decode(written.trim_end()), Ok(record.clone()));
            // A line written before checksums reads as before.
            assert_eq!(decode(expected), Ok(record));
        }
    }

    #[test]
    fn the_checksum_is_crc32c() {
        // The check value of CRC-32C (RFC 3720, B.4).
        assert_eq!(CHECKSUM.checksum(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn a_character_changed_anywhere_in_a_line_is_caught() {
        let record = Record {
            id: Id::new(7),
            time: 1_764_583_200_123,
            kind: Kind::Chat {
                from: s("Max"),
                text: s("pay Ann 100"),
            },
        };
        let written = line(&record);
        let written = written.trim_end();
        assert!(Record::has_checksum(written.as_bytes()));
        // Text, a name, the id, the checksum itself: each still parses as
        // JSON but is refused.
        for (from, to) in [("100", "900"), ("Max", "Mox"), ("7", "8")] {
            let changed = written.replacen(from, to, 1);
            let err = decode(&changed).expect_err(&changed);
            assert!(err.starts_with("the checksum does not match"), "{err}");
        }
        let digits = written.len() - 3;
        let mut changed = written.as_bytes().to_vec();
        changed[digits] = if changed[digits] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(changed).expect("ASCII");
        let err = decode(&changed).expect_err("a changed checksum");
        assert!(err.starts_with("the checksum does not match"), "{err}");
    }

    #[test]
    fn a_crc_field_out_of_place_or_not_hex_is_refused() {
        let moved = r#"{"id":1,"crc":"00000000","time":2,"kind":"join","from":"Max"}"#;
        assert_eq!(
            decode(moved),
            Err(s("`crc` is not 8 hex digits at the end of the line"))
        );
        let not_hex = r#"{"id":1,"time":2,"kind":"join","from":"Max","crc":"0000000g"}"#;
        assert!(decode(not_hex).is_err());
        assert!(!Record::has_checksum(not_hex.as_bytes()));
    }

    #[test]
    fn text_that_looks_like_json_or_has_quotes_stays_on_one_line() {
        let text = "a \"quote\", a \\ and }{\"id\":1} and ünïcode";
        let record = Record {
            id: Id::new(1),
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
    fn weight_counts_text_and_names() {
        let record = Record {
            id: Id::new(1),
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
