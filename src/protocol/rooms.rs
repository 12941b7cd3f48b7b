//! Room commands and the lines that answer them: `/join`, `/leave`,
//! `/rooms`, `/who ROOM`, `/topic`, `/switch`, `/history ROOM`. Read
//! before [`crate::protocol::message::parse_input`]: a line that is not a
//! room command (`/who` alone, `/history 5`) is left to it.

use crate::protocol::message::{parse_input, HistoryAsk, Input};
use crate::protocol::room::RoomName;
use crate::stream::Id;

/// The longest topic, in bytes.
pub const MOST_TOPIC_BYTES: usize = 300;

/// A room command, its room names as typed (checked by the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomInput<'a> {
    /// `/join ROOM`.
    Join(&'a str),
    /// `/leave [ROOM]` (None: the current room).
    Leave(Option<&'a str>),
    /// `/rooms`.
    Rooms,
    /// `/who ROOM`.
    Who(&'a str),
    /// `/topic [TEXT]` (None: show it).
    Topic(Option<&'a str>),
    /// `/switch ROOM`.
    Switch(&'a str),
    /// `/history ROOM [N | after ID]`.
    History(&'a str, HistoryAsk),
    /// A room command used wrongly; the text says how to use it.
    Usage(&'static str),
}

pub const JOIN_USAGE: &str = "usage: /join ROOM (one room name, such as #ops)";
pub const LEAVE_USAGE: &str = "usage: /leave [ROOM]";
pub const SWITCH_USAGE: &str = "usage: /switch ROOM";
pub const ROOMS_USAGE: &str = "usage: /rooms";
pub const WHO_USAGE: &str = "usage: /who [ROOM]";
pub const HISTORY_USAGE: &str = "usage: /history [ROOM] [N], or /history [ROOM] after ID";

/// Reads a room command from a (sanitized) line; None if it is not one.
pub fn parse_room_input(line: &str) -> Option<RoomInput<'_>> {
    let command = line.strip_prefix('/')?;
    let (word, rest) = match command.split_once(' ') {
        Some((word, rest)) => (word, rest.trim()),
        None => (command, ""),
    };
    let words: Vec<&str> = rest.split_whitespace().collect();
    let input = match word.to_ascii_lowercase().as_str() {
        "join" => match words[..] {
            [room] => RoomInput::Join(room),
            _ => RoomInput::Usage(JOIN_USAGE),
        },
        "leave" => match words[..] {
            [] => RoomInput::Leave(None),
            [room] => RoomInput::Leave(Some(room)),
            _ => RoomInput::Usage(LEAVE_USAGE),
        },
        "switch" => match words[..] {
            [room] => RoomInput::Switch(room),
            _ => RoomInput::Usage(SWITCH_USAGE),
        },
        "rooms" if words.is_empty() => RoomInput::Rooms,
        "rooms" => RoomInput::Usage(ROOMS_USAGE),
        "topic" if rest.is_empty() => RoomInput::Topic(None),
        "topic" => RoomInput::Topic(Some(rest)),
        "who" => match words[..] {
            [] => return None,
            [room] => RoomInput::Who(room),
            _ => RoomInput::Usage(WHO_USAGE),
        },
        "history" => return history(rest),
        _ => return None,
    };
    Some(input)
}

/// `/history …` naming a room: its first word is neither a count nor
/// `after` (those are `/history` of the current room).
fn history(rest: &str) -> Option<RoomInput<'_>> {
    let (room, ask) = match rest.split_once(' ') {
        Some((room, ask)) => (room, ask.trim()),
        None => (rest, ""),
    };
    if room.is_empty() || room.parse::<usize>().is_ok() || room.eq_ignore_ascii_case("after") {
        return None;
    }
    let line = format!("/history {ask}");
    Some(match parse_input(&line) {
        Input::History(ask) => RoomInput::History(room, ask),
        _ => RoomInput::Usage(HISTORY_USAGE),
    })
}

/// A stream a resume cursor names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorStream {
    /// A room (`#main=41`).
    Room(RoomName),
    /// The private messages (`@=7`).
    Private,
}

/// Where a resumed session's client left off (`/resume TOKEN CURSOR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// A bare id (the form before rooms): the last id seen, whatever its
    /// stream (one server's streams share one sequence of ids).
    Bare(Id),
    /// `STREAM=ID` items: the last id seen in each stream named. A stream
    /// left out: the private messages from the session's start; a room,
    /// nothing missed.
    Streams(Vec<(CursorStream, Id)>),
}

/// Reads a resume cursor: a bare id, or comma-separated `STREAM=ID`
/// items, STREAM a room name or `@`, split at the last `=` (a room name
/// may hold one). None if any part is malformed.
pub fn parse_cursor(text: &str) -> Option<Cursor> {
    if let Ok(id) = text.parse() {
        return Some(Cursor::Bare(id));
    }
    let mut items = Vec::new();
    for item in text.split(',') {
        let (stream, id) = item.rsplit_once('=')?;
        let stream = match stream {
            "@" => CursorStream::Private,
            room if room.starts_with('#') => CursorStream::Room(RoomName::parse(room).ok()?),
            _ => return None,
        };
        items.push((stream, id.parse().ok()?));
    }
    Some(Cursor::Streams(items))
}

/// A room's name as a tag's value: `%`, `,`, `=`, `+`, space and control
/// bytes as `%XX` (a room name holds no space, `,` or control byte, but
/// may hold the others).
pub fn tag_value(room: &str) -> std::borrow::Cow<'_, str> {
    let escaped = |c: char| matches!(c, '%' | ',' | '=' | '+' | ' ') || c.is_control();
    if !room.contains(escaped) {
        return std::borrow::Cow::Borrowed(room);
    }
    let mut out = String::with_capacity(room.len() + 8);
    for c in room.chars() {
        match escaped(c) {
            true => {
                let mut buf = [0; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
            false => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The lines that answer room commands (each without its `\n`).
pub mod reply {
    /// The joiner's confirmation, with the room's topic if it has one.
    pub fn joined_room(room: &str, topic: Option<&str>) -> String {
        match topic {
            Some(topic) => format!("Server: You joined {room}. Topic: {topic}"),
            None => format!("Server: You joined {room}."),
        }
    }
    pub fn left_room(room: &str) -> String {
        format!("Server: You left {room}.")
    }
    pub fn switched(room: &str) -> String {
        format!("Server: You are now talking in {room}.")
    }
    /// One line of `/rooms`: the room, how many are in it, its topic.
    pub fn room_entry(room: &str, people: usize, topic: Option<&str>) -> String {
        let people = match people {
            1 => "1 person".to_string(),
            n => format!("{n} people"),
        };
        match topic {
            Some(topic) => format!("Server:   {room} ({people}): {topic}"),
            None => format!("Server:   {room} ({people})"),
        }
    }
    pub fn rooms_header(n: usize) -> String {
        match n {
            1 => "Server: 1 room:".to_string(),
            n => format!("Server: {n} rooms:"),
        }
    }
    pub fn topic_is(room: &str, topic: Option<&str>) -> String {
        match topic {
            Some(topic) => format!("Server: The topic of {room} is: {topic}"),
            None => format!("Server: {room} has no topic."),
        }
    }
    /// Told to the room's members (the setter too).
    pub fn topic_set(by: &str, topic: &str) -> String {
        format!("Server: {by} set the topic: {topic}")
    }
    pub fn topic_cleared(by: &str) -> String {
        format!("Server: {by} cleared the topic.")
    }
    /// The `[#ops] ` in front of a line of a room that is not the
    /// recipient's current one.
    pub fn prefixed(room: &str, line: &str) -> String {
        format!("[{room}] {line}")
    }

    // Why a room command is refused (after `Server: Error: `).
    pub fn bad_room(name: &str, why: impl std::fmt::Display) -> String {
        format!("{name}: {why}")
    }
    pub fn already_in(room: &str) -> String {
        format!("you are already in {room}")
    }
    pub fn not_in(room: &str) -> String {
        format!("you are not in {room}")
    }
    pub fn no_room(room: &str) -> String {
        format!("there is no room {room}")
    }
    /// The store cannot give the room a folder: why, in plain words
    /// (never a path of the server's).
    pub fn not_kept(room: &str, cause: &str) -> String {
        format!("the room {room} cannot be kept: {cause}")
    }
    pub fn too_many_rooms(most: usize) -> String {
        format!("the server has as many rooms as it may ({most}); join one of /rooms")
    }
    pub fn too_many_joined(most: usize) -> String {
        format!("you are in as many rooms as you may ({most}); /leave one first")
    }
    pub const LAST_ROOM: &str = "you cannot leave your last room; /join another first, or /quit";
    pub fn topic_too_long(most: usize) -> String {
        format!("a topic is at most {most} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tab completes what COMMANDS lists: each must be one the server
    /// reads, as a room command or otherwise (the check lives here, where
    /// both readers are in reach, since this module reads lines first).
    #[test]
    fn every_listed_command_is_a_command() {
        for command in crate::protocol::message::COMMANDS {
            let room = parse_room_input(command);
            let other = parse_input(command);
            assert!(
                room.is_some() || !matches!(other, Input::Unknown(_) | Input::Chat(_)),
                "{command}"
            );
        }
    }

    #[test]
    fn room_commands_take_exactly_their_words() {
        assert_eq!(
            parse_room_input("/join #ops"),
            Some(RoomInput::Join("#ops"))
        );
        assert_eq!(
            parse_room_input("/join ops now"),
            Some(RoomInput::Usage(JOIN_USAGE))
        );
        assert_eq!(
            parse_room_input("/join"),
            Some(RoomInput::Usage(JOIN_USAGE))
        );
        assert_eq!(parse_room_input("/LEAVE"), Some(RoomInput::Leave(None)));
        assert_eq!(parse_room_input("/who"), None);
        assert_eq!(parse_room_input("/who ops"), Some(RoomInput::Who("ops")));
        assert_eq!(
            parse_room_input("/topic  the plan "),
            Some(RoomInput::Topic(Some("the plan")))
        );
        assert_eq!(parse_room_input("hello /join x"), None);
    }

    #[test]
    fn a_cursor_is_a_bare_id_or_streams_split_at_their_last_equals_sign() {
        let id = |n: &str| n.parse::<Id>().expect("an id");
        assert_eq!(parse_cursor("41"), Some(Cursor::Bare(id("41"))));
        let ops = RoomName::parse("#a=b").expect("a room name");
        assert_eq!(
            parse_cursor("#main=41,@=7,#a=b=9"),
            Some(Cursor::Streams(vec![
                (CursorStream::Room(RoomName::main()), id("41")),
                (CursorStream::Private, id("7")),
                (CursorStream::Room(ops), id("9")),
            ]))
        );
        for bad in ["", "x", "#main=", "main=4", "@=x", "#a]b=3", "41,"] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn history_of_a_room_is_told_from_history_of_this_one() {
        assert_eq!(parse_room_input("/history"), None);
        assert_eq!(parse_room_input("/history 5"), None);
        assert_eq!(parse_room_input("/history after 3"), None);
        assert_eq!(
            parse_room_input("/history #ops 5"),
            Some(RoomInput::History("#ops", HistoryAsk::Last(Some(5))))
        );
        assert_eq!(
            parse_room_input("/history ops after 7"),
            Some(RoomInput::History(
                "ops",
                HistoryAsk::After("7".parse().expect("an id"))
            ))
        );
        assert_eq!(
            parse_room_input("/history ops x"),
            Some(RoomInput::Usage(HISTORY_USAGE))
        );
    }
}
