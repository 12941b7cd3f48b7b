//! A message's id, opaque to everyone but the stream.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A message's place in its stream: increasing, never given twice by one
/// store (or, without a store, by one server process).
///
/// Opaque outside `src/stream`: others may compare two ids of one stream
/// (equal, older, newer), print one (`Display`, the wire's `id=`) and read
/// one back (`FromStr`, `/history after ID`, `/resume`), nothing more. No
/// arithmetic, so a backend whose ids are not counters (a Redis stream's
/// `1712345678901-0`) can take this one's place. The file store counts
/// from 1 and writes the number; that is this module's business alone.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Id(u64);

impl Id {
    /// Before every record: what "after nothing" starts from.
    pub const ZERO: Id = Id(0);

    /// The id numbered `n` (the file store's counter).
    pub(in crate::stream) const fn new(n: u64) -> Id {
        Id(n)
    }

    /// Its number (the file store's counter).
    pub(in crate::stream) const fn get(self) -> u64 {
        self.0
    }

    /// The id after this one (the counter never nears `u64::MAX`: see
    /// [`LAST_ID`]).
    pub(in crate::stream) const fn next(self) -> Id {
        Id(self.0.saturating_add(1))
    }

    /// The id before this one ([`Id::ZERO`] stays itself).
    pub(in crate::stream) const fn prev(self) -> Id {
        Id(self.0.saturating_sub(1))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A text that is not an id of any stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadId;

impl fmt::Display for BadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a message id")
    }
}

impl std::error::Error for BadId {}

impl std::str::FromStr for Id {
    type Err = BadId;

    /// Digits only, at most [`LAST_ID`]: what `Display` writes.
    fn from_str(text: &str) -> Result<Id, BadId> {
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadId);
        }
        match text.parse::<u64>() {
            Ok(n) if n <= LAST_ID.0 => Ok(Id(n)),
            _ => Err(BadId),
        }
    }
}

/// The largest id a record may have. No room gets near it (2^63 lines:
/// 292,000 years at a million a second), so a file name or a record that
/// says more was not written by a server and is damage; stopping here
/// leaves the counter room to go on without wrapping.
pub const LAST_ID: Id = Id(i64::MAX as u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_back_what_it_prints() {
        for id in [Id::ZERO, Id::new(1), Id::new(42), LAST_ID] {
            assert_eq!(id.to_string().parse(), Ok(id));
        }
        assert_eq!(Id::new(42).to_string(), "42");
    }

    #[test]
    fn a_text_that_no_stream_gave_is_not_an_id() {
        for text in [
            "",
            "-1",
            "+1",
            "1.5",
            " 1",
            "1-0",
            "x",
            "9223372036854775808",
        ] {
            assert_eq!(text.parse::<Id>(), Err(BadId), "{text:?}");
        }
    }

    #[test]
    fn ids_of_one_stream_order_as_they_were_given() {
        assert!(Id::new(9) < Id::new(10));
        assert!(Id::ZERO < Id::new(1));
        assert_eq!(Id::new(7).next().prev(), Id::new(7));
        assert_eq!(Id::ZERO.prev(), Id::ZERO);
    }
}
