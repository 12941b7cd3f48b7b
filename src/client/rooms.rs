//! The rooms the client is in, its current one (what the prompt shows and
//! where typed lines go), and the rooms it knows of (for Tab), all learned
//! from tags, never from the server's words: `reply=join|leave|switch`
//! with `room=`, `reply=room` with `name=` (a `/rooms` answer), and any
//! line's `room=`. A server whose answers lack those replies is followed
//! by the label: a room command of ours that the server answered without
//! an error did what it says, in the room its answer's `room=` names (or
//! the one typed). Pure.

use std::collections::VecDeque;

use super::tags::{Reply, Tags};
use crate::protocol::room::RoomName;

/// Rooms known for Tab, at most.
const MOST_KNOWN: usize = 2000;

/// Room commands of ours awaiting their answer, at most.
const MOST_ASKED: usize = 64;

/// A room: its name as the server shows it, and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Room {
    shown: String,
    key: String,
}

impl Room {
    fn of(shown: &str) -> Option<Room> {
        let name = RoomName::parse(shown).ok()?;
        Some(Room {
            key: name.key().to_string(),
            shown: name.as_str().to_string(),
        })
    }

    fn main() -> Room {
        let main = RoomName::main();
        Room {
            key: main.key().to_string(),
            shown: main.as_str().to_string(),
        }
    }
}

/// A room command of ours, as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    Join(Room),
    Switch(Room),
    /// `/leave`, of the room named or (None) the current one.
    Leave(Option<Room>),
}

/// `/join ROOM`, `/switch ROOM` or `/leave [ROOM]`, as the server takes
/// them (one well-formed name, the command in any case); else None.
fn asked(line: &str) -> Option<Asked> {
    let mut words = line.split_whitespace();
    let command = words.next()?.to_lowercase();
    let room = words.next().map(Room::of);
    if words.next().is_some() {
        return None;
    }
    match (command.as_str(), room) {
        ("/join", Some(Some(room))) => Some(Asked::Join(room)),
        ("/switch", Some(Some(room))) => Some(Asked::Switch(room)),
        ("/leave", None) => Some(Asked::Leave(None)),
        ("/leave", Some(Some(room))) => Some(Asked::Leave(Some(room))),
        _ => None,
    }
}

/// The client's rooms.
#[derive(Debug)]
pub struct Rooms {
    /// The rooms it is in, in the order entered (`#main` first at login).
    joined: Vec<Room>,
    /// Where typed lines go.
    current: Room,
    /// Rooms seen, for Tab, in the order first seen.
    known: Vec<Room>,
    /// Our room commands by label, oldest first.
    asked: VecDeque<(String, Asked)>,
    /// Counts the changes to what the prompt and Tab show.
    changes: u64,
}

impl Default for Rooms {
    fn default() -> Rooms {
        Rooms {
            joined: vec![Room::main()],
            current: Room::main(),
            known: vec![Room::main()],
            asked: VecDeque::new(),
            changes: 0,
        }
    }
}

impl Rooms {
    /// The current room, as shown.
    pub fn current(&self) -> &str {
        &self.current.shown
    }

    /// What the prompt shows: None while `#main` is the only room (the
    /// prompt of a client that never uses rooms is today's `> `).
    pub fn prompt(&self) -> Option<&str> {
        match self.joined.as_slice() {
            [only] if *only == Room::main() && self.current == Room::main() => None,
            _ => Some(&self.current.shown),
        }
    }

    /// The rooms it is in, in the order entered.
    pub fn joined(&self) -> impl Iterator<Item = &str> {
        self.joined.iter().map(|r| r.shown.as_str())
    }

    /// The rooms it knows of, for Tab.
    pub fn known(&self) -> Vec<String> {
        self.known.iter().map(|r| r.shown.clone()).collect()
    }

    /// Whether `room` (as a line's `room=` says it) is the current room.
    /// A name that is not a room's is not.
    pub fn is_current(&self, room: &str) -> bool {
        room == self.current.shown || Room::of(room).is_some_and(|r| r.key == self.current.key)
    }

    /// The room a tag names: one known as shown so (most lines), else
    /// checked as a room name.
    fn named(&self, shown: &str) -> Option<Room> {
        match self.known.iter().find(|r| r.shown == shown) {
            Some(known) => Some(known.clone()),
            None => Room::of(shown),
        }
    }

    /// Our `line` went out as `label`: if it is a room command, its answer
    /// is awaited.
    pub fn sent(&mut self, label: &str, line: &str) {
        let Some(asked) = asked(line) else {
            return;
        };
        if self.asked.len() >= MOST_ASKED {
            self.asked.pop_front();
        }
        self.asked.push_back((label.to_string(), asked));
    }

    /// Learns from the tags of one line; true if the rooms it is in or
    /// the current one changed (the prompt and Tab to be told).
    pub fn heard(&mut self, tags: &Tags) -> bool {
        let before = self.changes;
        let room = tags.room.as_deref().and_then(|shown| self.named(shown));
        if let Some(room) = &room {
            self.know(room);
        }
        if let Some(Reply::Room { name }) = &tags.reply {
            if let Some(room) = Room::of(name) {
                self.know(&room);
            }
        }
        let answered = self.answered(tags);
        match (&tags.reply, room, answered) {
            (Some(Reply::Join), Some(room), _) => self.entered(room),
            (Some(Reply::Switch), Some(room), _) => self.switched(&room),
            (Some(Reply::Leave), Some(room), _) => self.left(&room),
            (_, room, Some(Asked::Join(typed))) => self.entered(room.unwrap_or(typed)),
            (_, room, Some(Asked::Switch(typed))) => self.switched(&room.unwrap_or(typed)),
            (_, room, Some(Asked::Leave(typed))) => {
                let current = self.current.clone();
                self.left(&typed.or(room).unwrap_or(current));
            }
            _ => {}
        }
        self.changes != before
    }

    /// The room command of ours that `tags` answer without an error, if
    /// any: taken off the list (its further answers change nothing).
    fn answered(&mut self, tags: &Tags) -> Option<Asked> {
        let re = tags.re.as_deref()?;
        let at = self.asked.iter().position(|(label, _)| label == re)?;
        let (_, asked) = self.asked.remove(at)?;
        tags.error.is_none().then_some(asked)
    }

    fn know(&mut self, room: &Room) {
        let seen = self.known.iter().position(|r| r.key == room.key);
        match seen {
            Some(at) if self.known[at].shown == room.shown => return,
            // As shown now (the one who made it again may spell it anew).
            Some(at) => self.known[at] = room.clone(),
            None if self.known.len() >= MOST_KNOWN => return,
            None => self.known.push(room.clone()),
        }
        self.changes += 1;
    }

    /// In `room`, now the current one.
    fn entered(&mut self, room: Room) {
        self.know(&room);
        if !self.joined.iter().any(|r| r.key == room.key) {
            self.joined.push(room.clone());
        }
        self.current = room;
        self.changes += 1;
    }

    fn switched(&mut self, room: &Room) {
        if let Some(joined) = self.joined.iter().find(|r| r.key == room.key) {
            self.current = joined.clone();
            self.changes += 1;
        }
    }

    /// Out of `room`; if it was the current one, the last entered of those
    /// left is (as the server does; its `reply=switch` says so anyway).
    fn left(&mut self, room: &Room) {
        if self.joined.len() <= 1 {
            return;
        }
        self.joined.retain(|r| r.key != room.key);
        self.changes += 1;
        if self.current.key == room.key {
            if let Some(last) = self.joined.last() {
                self.current = last.clone();
            }
        }
    }

    /// A fresh login: in `#main` alone again (the rooms it was in are kept
    /// by the caller, to join again).
    pub fn logged_in_again(&mut self) {
        self.joined = vec![Room::main()];
        self.current = Room::main();
        self.asked.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::tags::{split, Error};

    fn tags(raw: &str) -> Tags {
        split(raw.as_bytes()).unwrap().unwrap().0
    }

    fn joined(rooms: &Rooms) -> Vec<&str> {
        rooms.joined().collect()
    }

    #[test]
    fn a_client_that_never_uses_rooms_is_in_main_with_todays_prompt() {
        let rooms = Rooms::default();
        assert_eq!(rooms.current(), "#main");
        assert_eq!(rooms.prompt(), None);
        assert!(rooms.is_current("#MAIN"));
        assert!(!rooms.is_current("#ops"));
    }

    #[test]
    fn the_servers_room_replies_move_the_client_whatever_their_words() {
        let mut rooms = Rooms::default();
        assert!(rooms.heard(&tags("~t=1,reply=join,room=#Ops,last=4 x")));
        assert_eq!((rooms.current(), rooms.prompt()), ("#Ops", Some("#Ops")));
        assert!(rooms.heard(&tags("~t=1,reply=join,room=#lunch,last=4 x")));
        assert!(rooms.heard(&tags("~t=1,reply=switch,room=#ops x")));
        assert_eq!(rooms.current(), "#Ops", "as the room is shown");
        assert!(rooms.heard(&tags("~t=1,reply=leave,room=#ops x")));
        assert_eq!(joined(&rooms), ["#main", "#lunch"]);
        assert_eq!(rooms.current(), "#lunch");
        assert!(rooms.heard(&tags("~t=1,reply=switch,room=#main x")));
        assert!(rooms.heard(&tags("~t=1,reply=leave,room=#lunch x")));
        assert_eq!(rooms.prompt(), None, "back to #main alone");
    }

    #[test]
    fn leaving_the_current_room_lands_where_the_servers_switch_line_says() {
        let mut rooms = Rooms::default();
        for (label, line, answer) in [
            ("1", "/join #a", "~t=1,room=#a,last=3,re=1 x"),
            ("2", "/join #b", "~t=1,room=#b,last=4,re=2 x"),
            ("3", "/switch #main", "~t=1,reply=switch,room=#main,re=3 x"),
            ("4", "/switch #b", "~t=1,reply=switch,room=#b,re=4 x"),
        ] {
            rooms.sent(label, line);
            rooms.heard(&tags(answer));
        }
        rooms.sent("5", "/leave");
        rooms.heard(&tags("~t=1,re=5 x"));
        // The server puts it back in #main (current before #b), not in
        // #a (joined last), and says so.
        assert!(rooms.heard(&tags("~t=1,reply=switch,room=#main,re=5 x")));
        assert_eq!(rooms.current(), "#main");
        assert_eq!(joined(&rooms), ["#main", "#a"]);
    }

    #[test]
    fn without_room_replies_our_answered_command_did_what_it_says() {
        let mut rooms = Rooms::default();
        rooms.sent("4", "/JOIN ops");
        rooms.sent("5", "hello");
        assert!(!rooms.heard(&tags("~t=1,re=4,error x")), "refused");
        assert_eq!(rooms.current(), "#main");
        rooms.sent("6", "/join ops");
        assert!(rooms.heard(&tags("~t=1,room=#Ops,last=3,re=6 x")));
        assert_eq!(rooms.current(), "#Ops", "spelled as the server shows it");
        rooms.sent("7", "/join #lunch");
        assert!(rooms.heard(&tags("~t=1,re=7 x")));
        assert_eq!(rooms.current(), "#lunch", "as typed, with no room=");
        rooms.sent("8", "/switch 0ps");
        assert!(rooms.heard(&tags("~t=1,re=8 x")));
        assert_eq!(rooms.current(), "#Ops");
        rooms.sent("9", "/leave");
        assert!(rooms.heard(&tags("~t=1,re=9 x")));
        assert_eq!(joined(&rooms), ["#main", "#lunch"]);
        assert_eq!(rooms.current(), "#lunch");
        assert!(
            !rooms.heard(&tags("~t=1,re=9,room=#main x")),
            "answered once"
        );
    }

    #[test]
    fn lines_that_are_not_room_commands_are_not_awaited() {
        for line in [
            "/join",
            "/join a b",
            "/join a]b",
            "/switch",
            "hi /join ops",
            "/leave a b",
        ] {
            assert_eq!(asked(line), None, "{line:?}");
        }
        assert_eq!(asked("/leave"), Some(Asked::Leave(None)));
    }

    #[test]
    fn the_last_room_is_never_left_and_an_error_changes_nothing() {
        let mut rooms = Rooms::default();
        rooms.sent("1", "/leave");
        assert!(!rooms.heard(&tags("~t=1,re=1 x")));
        assert_eq!(joined(&rooms), ["#main"]);
        let refused = Tags {
            re: Some("2".into()),
            error: Some(Error::Other),
            ..Tags::default()
        };
        rooms.sent("2", "/switch ops");
        assert!(!rooms.heard(&refused));
    }

    #[test]
    fn rooms_are_known_from_room_tags_and_rooms_answers_bounded() {
        let mut rooms = Rooms::default();
        rooms.heard(&tags("~t=1,id=3,room=#ops Ann: hi"));
        rooms.heard(&tags("~t=1,reply=room,name=#lunch x"));
        rooms.heard(&tags("~t=1,reply=room,name=#a%5Db x"));
        assert_eq!(rooms.known(), ["#main", "#ops", "#lunch"]);
        for i in 0..MOST_KNOWN + 5 {
            rooms.heard(&tags(&format!("~t=1,reply=room,name=#r{i} x")));
        }
        assert_eq!(rooms.known().len(), MOST_KNOWN);
    }
}
