//! Where the session stands in each of its streams: the newest id seen of
//! each room (`room=`) and of the private stream (`pm`, written `@`),
//! to resume from (`/resume TOKEN CURSOR`) or ask `/history ROOM after
//! ID`; and the ids seen lately, so that a line is shown once. Ids are
//! opaque: compared for equality only, never as numbers. The server sends
//! each stream in order, so a stream's newest id is the last that came.
//! Pure.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use super::catchup::Same;
use super::tags::Tags;
use crate::protocol::room::RoomName;

/// The private stream, in a cursor.
pub const PRIVATE: &str = "@";

/// The room everyone lands in (and the only one of a server without rooms).
pub const MAIN: &str = "#main";

/// Streams a cursor holds at most (a person is in 50 rooms by default):
/// a server naming rooms without end must not make it grow.
const MOST_STREAMS: usize = 256;

/// Ids remembered as seen, at most (per stream and id): more than a
/// catch-up block overlaps with the live lines after it.
const MOST_RECENT: usize = 4096;

/// The stream a line belongs to: its room, `@` for a private message, or
/// `#main` for a server without rooms (whose lines say no room).
pub fn stream_of(tags: &Tags) -> &str {
    match (&tags.room, tags.pm) {
        (_, true) => PRIVATE,
        (Some(room), false) => room,
        (None, false) => MAIN,
    }
}

/// A line's stream (by key) and id, if it has one.
fn stream_id(tags: &Tags) -> Option<(String, String)> {
    let id = tags.id.as_ref()?;
    Some((key_of(stream_of(tags)), id.clone()))
}

/// What makes a line (`tags`, its raw `line`) the same line again: its
/// stream, its id and its text's hash.
pub fn same(tags: &Tags, line: &[u8]) -> Option<Same> {
    let (stream, id) = stream_id(tags)?;
    Some((stream, id, hash_of(line)))
}

/// A stream's key: a room's folded name (`#OPS` is `#ops`'s), `@` as is.
fn key_of(stream: &str) -> String {
    match stream {
        PRIVATE => PRIVATE.to_string(),
        room => RoomName::parse(room).map_or_else(|_| room.to_lowercase(), |r| r.key().to_string()),
    }
}

/// One stream's newest id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Newest {
    key: String,
    /// As the server showed it (sent back in the cursor).
    shown: String,
    id: String,
}

/// The newest id seen of each stream.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    streams: Vec<Newest>,
}

impl Cursor {
    /// `id` is the newest of `stream` now.
    pub fn set(&mut self, stream: &str, id: &str) {
        let key = key_of(stream);
        let full = self.streams.len() >= MOST_STREAMS;
        match self.streams.iter_mut().find(|s| s.key == key) {
            Some(newest) => id.clone_into(&mut newest.id),
            None if full => {}
            None => self.streams.push(Newest {
                key,
                shown: stream.to_string(),
                id: id.to_string(),
            }),
        }
    }

    /// The newest id of `stream`, if one was seen.
    pub fn of(&self, stream: &str) -> Option<&str> {
        let key = key_of(stream);
        let newest = self.streams.iter().find(|s| s.key == key)?;
        Some(&newest.id)
    }

    /// The rooms with an id, each with its newest (not the private stream).
    pub fn rooms(&self) -> impl Iterator<Item = (&str, &str)> {
        let rooms = self.streams.iter().filter(|s| s.key != PRIVATE);
        rooms.map(|s| (s.shown.as_str(), s.id.as_str()))
    }

    /// Only the streams `keep` keeps (the rooms we are still in, `@`).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.streams.retain(|s| keep(&s.shown));
    }

    /// As `/resume` takes it: `#main=41,#ops=7,@=40`; only `#main`'s id
    /// alone is today's bare `41` (what a server without rooms reads).
    pub fn wire(&self) -> String {
        if let [only] = self.streams.as_slice() {
            if only.key == key_of(MAIN) {
                return only.id.clone();
            }
        }
        let items: Vec<String> = self
            .streams
            .iter()
            .map(|s| format!("{}={}", s.shown, s.id))
            .collect();
        items.join(",")
    }
}

/// What a line's id says about it, against the ids seen lately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// No id, or one not seen lately: a line to show.
    New,
    /// The same id of the same stream with the same text: shown already.
    Again,
    /// The same id with another text: the server gives ids again that it
    /// gave before (it restarted without keeping its history), or the
    /// other copy of a private message to oneself: new all the same.
    Reused,
}

/// The ids seen lately, by stream, each with a hash of its line: a line
/// that comes again (live after the catch-up that showed it, or in a
/// room's block when joining it again) is shown once, and an id given
/// again to another line is noticed (equality only, of ids and of text).
#[derive(Debug, Default)]
pub struct Recent {
    order: VecDeque<(String, String)>,
    seen: HashMap<(String, String), u64>,
}

impl Recent {
    /// Notes the line (`tags`, its raw `line`) as seen; what it was.
    pub fn note(&mut self, tags: &Tags, line: &[u8]) -> Note {
        let Some(item) = stream_id(tags) else {
            return Note::New;
        };
        let text = hash_of(line);
        match self.seen.get(&item) {
            Some(&before) if before == text => return Note::Again,
            Some(_) => {
                self.seen.insert(item, text);
                return Note::Reused;
            }
            None => {}
        }
        if self.order.len() >= MOST_RECENT {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.order.push_back(item.clone());
        self.seen.insert(item, text);
        Note::New
    }
}

fn hash_of(line: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    line.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(room: Option<&str>, pm: bool, id: &str) -> Tags {
        Tags {
            room: room.map(str::to_string),
            pm,
            id: Some(id.to_string()),
            ..Tags::default()
        }
    }

    #[test]
    fn a_cursor_holds_the_last_id_of_each_stream_as_the_spec_writes_it() {
        let mut cursor = Cursor::default();
        cursor.set("#main", "40");
        assert_eq!(cursor.wire(), "40", "only #main: today's bare id");
        cursor.set("#ops", "7");
        cursor.set("@", "x9");
        cursor.set("#OPS", "8");
        cursor.set("#main", "41");
        assert_eq!(cursor.wire(), "#main=41,#ops=8,@=x9");
        assert_eq!(cursor.of("#0ps"), Some("8"), "a look-alike is one room");
        let rooms: Vec<_> = cursor.rooms().collect();
        assert_eq!(rooms, [("#main", "41"), ("#ops", "8")]);
    }

    #[test]
    fn ids_are_compared_for_equality_only_whatever_they_look_like() {
        let mut cursor = Cursor::default();
        cursor.set("#main", "9");
        cursor.set("#main", "10");
        assert_eq!(cursor.of("#main"), Some("10"), "the last to come");
        cursor.set("#main", "2");
        assert_eq!(cursor.of("#main"), Some("2"), "not the largest number");
    }

    #[test]
    fn the_stream_of_a_line_is_its_room_the_private_stream_or_main() {
        assert_eq!(stream_of(&tags(Some("#ops"), false, "1")), "#ops");
        assert_eq!(stream_of(&tags(None, true, "1")), PRIVATE);
        assert_eq!(stream_of(&tags(None, false, "1")), "#main");
    }

    #[test]
    fn a_line_is_new_once_per_stream() {
        let mut recent = Recent::default();
        let hi = b"Ann: hi";
        assert_eq!(recent.note(&tags(Some("#ops"), false, "5"), hi), Note::New);
        assert_eq!(
            recent.note(&tags(Some("#OPS"), false, "5"), hi),
            Note::Again
        );
        let main = tags(Some("#main"), false, "5");
        assert_eq!(recent.note(&main, hi), Note::New, "another stream");
        assert_eq!(recent.note(&Tags::default(), hi), Note::New, "no id");
        assert_eq!(recent.note(&Tags::default(), hi), Note::New, "no id");
    }

    #[test]
    fn an_id_given_again_to_another_line_is_noticed() {
        let mut recent = Recent::default();
        let id = tags(None, false, "3");
        assert_eq!(recent.note(&id, b"Bob: one"), Note::New);
        assert_eq!(recent.note(&id, b"Bob: two"), Note::Reused);
        assert_eq!(recent.note(&id, b"Bob: two"), Note::Again);
    }

    #[test]
    fn recent_ids_and_streams_are_bounded() {
        let mut recent = Recent::default();
        for i in 0..MOST_RECENT + 10 {
            recent.note(&tags(None, false, &i.to_string()), b"x");
        }
        assert_eq!(recent.order.len(), MOST_RECENT);
        let oldest = tags(None, false, "0");
        assert_eq!(
            recent.note(&oldest, b"x"),
            Note::New,
            "the oldest forgotten"
        );
        let mut cursor = Cursor::default();
        for i in 0..MOST_STREAMS + 10 {
            cursor.set(&format!("#r{i}"), "1");
        }
        assert_eq!(cursor.streams.len(), MOST_STREAMS);
    }
}
