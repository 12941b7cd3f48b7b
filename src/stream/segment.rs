//! Reading one segment of the transcript back, line by line, and the
//! rules every line of it must keep. Shared by recovery (which stops at
//! the first broken rule) and `sockchat store check` (which notes each
//! one and reads on).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::record::{Id, Record, LAST_ID};

/// The longest line a segment may hold: far above any record the room
/// makes (a line is at most 1 MiB of text, which JSON at most doubles).
pub const MAX_LINE: usize = 4 << 20;

/// One line as read.
pub enum Line<'a> {
    /// A line with its `\n` (not included).
    Whole(&'a [u8]),
    /// The file's last bytes, with no `\n` after them: a write cut short.
    Torn { bytes: u64 },
    /// A line over [`MAX_LINE`]; it was skipped, up to its `\n`.
    TooLong,
}

/// A segment's lines, in order, each read into one bounded buffer.
pub struct Lines {
    reader: BufReader<File>,
    line: Vec<u8>,
    /// The number of the line read last, counting from 1.
    number: u64,
    /// The length of the whole lines read so far.
    pub whole_len: u64,
}

impl Lines {
    pub fn open(path: &Path) -> io::Result<Lines> {
        Ok(Lines {
            reader: BufReader::new(File::open(path)?),
            line: Vec::new(),
            number: 0,
            whole_len: 0,
        })
    }

    /// Lines read so far.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The next line and its number (counting from 1); None at the end
    /// of the file.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.line.clear();
        let read = (&mut self.reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.line)?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.line.last() == Some(&b'\n') {
            self.whole_len += read as u64;
            let end = self.line.len() - 1;
            return Ok(Some((self.number, Line::Whole(&self.line[..end]))));
        }
        if self.line.len() <= MAX_LINE {
            return Ok(Some((self.number, Line::Torn { bytes: read as u64 })));
        }
        // Past the cap: the rest of it is skipped, not buffered.
        let rest = self.reader.skip_until(b'\n')?;
        self.whole_len += (read + rest) as u64;
        Ok(Some((self.number, Line::TooLong)))
    }
}

/// What each line of a segment must be, given the ids its name and the
/// next segment's name allow.
pub struct Rules {
    /// The first id the file's name gives.
    first: Id,
    /// The next segment's first id, if there is one.
    before: Option<Id>,
    /// The id of the last good line.
    pub last: Option<Id>,
    /// Whether a line before had a checksum: then every later one must.
    checksummed: bool,
}

impl Rules {
    /// The rules for a file whose name gives `first`, or why that name is
    /// damage: ids could not go on from it.
    pub fn new(first: Id, before: Option<Id>) -> Result<Rules, String> {
        if first > LAST_ID {
            return Err(format!(
                "its name gives first id {first}, past the last id there can be ({LAST_ID})"
            ));
        }
        Ok(Rules {
            first,
            before,
            last: None,
            checksummed: false,
        })
    }

    /// The record on `line` (without its `\n`), or why it breaks a rule.
    /// A broken line leaves the rules as they were, so a reader that
    /// goes on checks the next line against the last good one.
    pub fn check(&mut self, line: &[u8]) -> Result<Record, String> {
        let record = Record::decode(line).map_err(|e| e.to_string())?;
        let has_checksum = Record::has_checksum(line);
        if self.checksummed && !has_checksum {
            return Err("the line has no checksum, though lines before it do".into());
        }
        let id = record.id;
        if let Some(prev) = self.last.filter(|&prev| id <= prev) {
            return Err(format!("id {id} is not after the line before's ({prev})"));
        }
        if id == Id::ZERO {
            return Err(format!("id {id} is not a record id"));
        }
        if id > LAST_ID {
            return Err(format!(
                "id {id} is past the last id there can be ({LAST_ID})"
            ));
        }
        if id < self.first {
            return Err(format!(
                "id {id} is below this file's first id ({}, from its name)",
                self.first
            ));
        }
        if let Some(next) = self.before.filter(|&next| id >= next) {
            return Err(format!(
                "id {id} is not below the next file's first id ({next})"
            ));
        }
        self.last = Some(id);
        self.checksummed |= has_checksum;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::record::Kind;

    fn line(id: u64) -> Vec<u8> {
        let record = Record {
            id: Id::new(id),
            time: 1,
            kind: Kind::Join { from: "Max".into() },
        };
        let mut out = Vec::new();
        record.encode(&mut out);
        out.pop();
        out
    }

    #[test]
    fn ids_must_increase_within_the_files_range() {
        let mut rules = Rules::new(Id::new(5), Some(Id::new(10))).expect("a first id");
        assert!(rules.check(&line(5)).is_ok());
        assert_eq!(
            rules.check(&line(5)),
            Err("id 5 is not after the line before's (5)".into())
        );
        assert!(rules.check(&line(9)).is_ok());
        assert_eq!(
            rules.check(&line(10)),
            Err("id 10 is not below the next file's first id (10)".into())
        );
        let mut rules = Rules::new(Id::new(5), None).expect("a first id");
        assert_eq!(
            rules.check(&line(4)),
            Err("id 4 is below this file's first id (5, from its name)".into())
        );
    }

    #[test]
    fn an_id_past_the_last_one_is_damage_in_a_name_or_a_line() {
        assert_eq!(
            Rules::new(Id::new(u64::MAX), None).err(),
            Some(format!(
                "its name gives first id {}, past the last id there can be ({LAST_ID})",
                Id::new(u64::MAX)
            ))
        );
        let mut rules = Rules::new(LAST_ID, None).expect("the last first id");
        assert!(rules.check(&line(LAST_ID.get())).is_ok());
        let mut rules = Rules::new(Id::new(1), None).expect("a first id");
        assert_eq!(
            rules.check(&line(LAST_ID.next().get())),
            Err(format!(
                "id {} is past the last id there can be ({LAST_ID})",
                LAST_ID.next()
            ))
        );
    }

    #[test]
    fn once_a_line_has_a_checksum_every_later_one_must() {
        let old = br#"{"id":1,"time":1,"kind":"join","from":"Max"}"#;
        let mut rules = Rules::new(Id::new(1), None).expect("a first id");
        assert!(rules.check(old).is_ok(), "a line from before checksums");
        assert!(rules.check(&line(2)).is_ok());
        let stripped = br#"{"id":3,"time":1,"kind":"join","from":"Max"}"#;
        assert_eq!(
            rules.check(stripped),
            Err("the line has no checksum, though lines before it do".into())
        );
    }
}
