//! Rooms as the lobby runs them: entering and leaving (with the notices
//! each room's members get), the current room, the room commands, the
//! limits (`--max-rooms`, `--max-joined`), and forgetting an empty room
//! that keeps nothing.

use std::sync::Arc;

use crate::protocol::message::{reply, HistoryAsk};
use crate::protocol::name::Name;
use crate::protocol::room::{RoomName, TYPED_SIGILS};
use crate::protocol::rooms::{self, reply as said, RoomInput, MOST_TOPIC_BYTES};
use crate::protocol::tagged::{Reply, Tags};
use crate::stream::rooms::Place;
use crate::stream::{bound_histories, Draft, RoomStream};

use super::super::client_id::ClientId;
use super::super::kept::{Meta, StoreNews};
use super::super::mailbox::Mailbox;
use super::super::room::Room;
use super::{Happened, Lobby};

impl<M: Mailbox> Lobby<M> {
    /// The key of `id`'s current room.
    pub(super) fn current_key(&self, id: ClientId) -> Option<Arc<str>> {
        self.desk.clients.get(&id)?.rooms.current().cloned()
    }

    /// `id`'s current room.
    pub(super) fn current_room(&self, id: ClientId) -> Option<&Room> {
        let client = self.desk.clients.get(&id)?;
        self.rooms.get(client.rooms.current()?)
    }

    /// Whether `id` is in the room of `key`.
    fn is_in(&self, id: ClientId, key: &str) -> bool {
        let client = self.desk.clients.get(&id);
        client.is_some_and(|c| c.rooms.contains(key))
    }

    /// One error line to `id`.
    fn refuse(&mut self, id: ClientId, why: impl std::fmt::Display) -> Happened {
        self.desk.tell(id, &reply::error(why));
        Happened::Nothing
    }

    /// A room command of a logged-in client.
    pub(super) fn room_command(&mut self, id: ClientId, input: RoomInput<'_>) -> Happened {
        match input {
            RoomInput::Join(room) => self.join(id, room),
            RoomInput::Leave(room) => self.leave_room(id, room),
            RoomInput::Switch(room) => self.switch(id, room),
            RoomInput::Rooms => self.list_rooms(id),
            RoomInput::Who(room) => self.who_in(id, room),
            RoomInput::Topic(topic) => self.topic(id, topic),
            RoomInput::History(room, ask) => self.history_of(id, room, ask),
            RoomInput::Usage(usage) => self.refuse(id, usage),
        }
    }

    /// A room name as typed, checked; Err: the error line's words.
    fn room_name(typed: &str) -> Result<RoomName, String> {
        RoomName::parse(typed).map_err(|why| said::bad_room(typed, why))
    }

    /// The key of an existing room named `typed`; Err: why not.
    fn existing(&self, typed: &str) -> Result<Arc<str>, String> {
        let name = Self::room_name(typed)?;
        match self.rooms.get_key_value(name.key()) {
            Some((key, _)) => Ok(Arc::clone(key)),
            None => Err(said::no_room(name.as_str())),
        }
    }

    /// `/join ROOM`: made on first join; becomes the current room.
    fn join(&mut self, id: ClientId, typed: &str) -> Happened {
        let name = match Self::room_name(typed) {
            Ok(name) => name,
            Err(why) => return self.refuse(id, why),
        };
        if let Some(room) = self.rooms.get(name.key()).filter(|r| r.has(id)) {
            let shown = room.name().to_string();
            return self.refuse(id, said::already_in(&shown));
        }
        let joined = self.desk.clients.get(&id).map_or(0, |c| c.rooms.len());
        let most = self.config.max_joined;
        if joined >= most {
            return self.refuse(id, said::too_many_joined(most));
        }
        let key = match self.rooms.get_key_value(name.key()) {
            Some((key, _)) => Arc::clone(key),
            None => match self.make_room(name) {
                Ok(key) => key,
                Err(why) => return self.refuse(id, why),
            },
        };
        self.enter(id, &key);
        let Some(room) = self.rooms.get(&key) else {
            return Happened::Nothing;
        };
        let line = said::joined_room(room.name().as_str(), room.topic.as_deref());
        self.confirm_entry(id, &key, &line);
        self.welcome(id, &key);
        self.note_rooms(id);
        Happened::Nothing
    }

    /// Notes `id`'s rooms (the current one last) in its session's log, if
    /// a store keeps one: a resume after a restart takes it back into them.
    fn note_rooms(&mut self, id: ClientId) {
        let Some(client) = self.desk.clients.get(&id) else {
            return;
        };
        if client.session != 0 {
            let (session, keys) = (client.session, client.rooms.to_vec());
            self.sessions.moved(session, &self.shown_names(&keys));
        }
    }

    /// The names as shown of the rooms of `keys` (what a session's log
    /// keeps: a name reads back to its room whatever the key is made of,
    /// and a person reading the file knows it).
    pub(super) fn shown_names(&self, keys: &[Arc<str>]) -> Vec<Arc<str>> {
        let rooms = keys.iter().filter_map(|key| self.rooms.get(key));
        rooms.map(|room| Arc::clone(room.shown())).collect()
    }

    /// The keys of the rooms named in `names` (a saved session's, the
    /// current one last) that exist, each once, at most `--max-joined` of
    /// them (the most recently current kept): a room gone since is left
    /// out, and a session left in none comes back to `#main`.
    pub(super) fn rooms_named(&self, names: &[String]) -> Vec<Arc<str>> {
        let mut keys: Vec<Arc<str>> = Vec::new();
        for name in names.iter().rev() {
            if keys.len() >= self.config.max_joined {
                break;
            }
            let Ok(name) = RoomName::parse(name) else {
                continue;
            };
            let Some((key, _)) = self.rooms.get_key_value(name.key()) else {
                continue;
            };
            if !keys.contains(key) {
                keys.push(Arc::clone(key));
            }
        }
        keys.reverse();
        keys
    }

    /// Makes the room `name` (its stream from the store, with one), if
    /// the server may have one more.
    fn make_room(&mut self, name: RoomName) -> Result<Arc<str>, String> {
        let most = self.config.max_rooms;
        let set_aside = match self.rooms.len() >= most {
            true => Some(
                self.quietest_unused_room()
                    .ok_or_else(|| said::too_many_rooms(most))?,
            ),
            false => None,
        };
        let place = Place::Room {
            key: name.key(),
            shown: name.as_str(),
        };
        let (stream, _) = match self.factory.open(place) {
            Ok(opened) => opened,
            Err(err) => {
                let news = format!("the room {name} cannot be kept: {err}");
                self.desk.waits.note(StoreNews::RoomNotKept(news));
                return Err(said::not_kept(name.as_str(), &err.cause));
            }
        };
        // Only once the new room is made: a failure gives up nothing.
        if let Some(key) = set_aside {
            self.rooms.remove(&key);
        }
        Ok(self.add_room(Room::new(name, stream)))
    }

    /// At `--max-rooms`, a new room takes the place of the unused room
    /// (nobody in it, nobody away who may come back to it) quiet the
    /// longest, so that rooms people passed through cannot take every
    /// place for good. With a store its folder stays, and joining it
    /// again brings back what it kept (not its topic, which lives in
    /// memory); without one, what it kept is gone, as after a restart.
    /// None when every room is in use.
    fn quietest_unused_room(&self) -> Option<Arc<str>> {
        let main = &self.main_key;
        self.rooms
            .iter()
            .filter(|(key, room)| *key != main && room.is_unused())
            .min_by_key(|(_, room)| room.keeper().stream.history().newest())
            .map(|(key, _)| Arc::clone(key))
    }

    /// Adds `room` to the lobby; its key.
    pub(super) fn add_room(&mut self, room: Room) -> Arc<str> {
        let key = Arc::clone(room.key());
        self.rooms.insert(Arc::clone(&key), room);
        key
    }

    /// `id` is in the room of `key` from now on, and it is its current
    /// room (nothing is told: see [`Lobby::welcome`]).
    pub(super) fn enter(&mut self, id: ClientId, key: &Arc<str>) {
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        room.enter(id);
        if let Some(client) = self.desk.clients.get_mut(&id) {
            client.rooms.enter(Arc::clone(key));
        }
    }

    /// The line telling `id` it entered the room of `key`: tagged, with
    /// the room and the newest id there.
    fn confirm_entry(&mut self, id: ClientId, key: &Arc<str>, line: &str) {
        let last = self.newest().to_string();
        self.tell_of(id, key, line, Reply::Joined { last: &last });
    }

    /// What comes after entering: the room's history block, then its
    /// notice to everyone in it.
    pub(super) fn welcome(&mut self, id: ClientId, key: &Arc<str>) {
        let Some(name) = self.name_of(id).cloned() else {
            return;
        };
        let meta = self.meta_by(id);
        let replay = self.config.replay;
        let announces = self.rooms.get(key).map(|r| self.announces(r.online()));
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        room.joiner_block(id, replay, &mut self.desk);
        if announces == Some(true) {
            room.keep(Draft::join(name.as_str()), meta);
        }
    }

    /// `id` leaves every room of `keys` (it is gone, or a ghost); the
    /// members are told `name` left, if given.
    pub(super) fn exit_rooms(&mut self, id: ClientId, keys: &[Arc<str>], name: Option<&Name>) {
        for key in keys {
            let online = self.rooms.get(key).map_or(0, Room::online);
            let announces = self.announces(online);
            let Some(room) = self.rooms.get_mut(key) else {
                continue;
            };
            room.exit(id);
            if let Some(name) = name.filter(|_| announces) {
                room.keep(Draft::leave(name.as_str()), Meta::notice(None));
            }
            self.forget_if_idle(key);
        }
    }

    /// Forgets the room of `key` if it is not `#main` and keeps nothing
    /// (see [`Room::is_idle`]): an empty room with nothing said is gone.
    pub(super) fn forget_if_idle(&mut self, key: &Arc<str>) {
        if Arc::ptr_eq(key, &self.main_key) || **key == *self.main_key {
            return;
        }
        if self.rooms.get(key).is_some_and(Room::is_idle) {
            self.rooms.remove(key);
        }
    }

    /// Keeps every room's history together within `--history-memory`:
    /// the oldest message kept in any room goes first, whichever room it
    /// is, as if the server had one history. Each room's own bounds
    /// (`--history`, 4 MiB) still hold; this one is what a thousand rooms
    /// cost at most.
    pub(super) fn bound_history(&mut self) {
        let most = self.config.history_memory;
        let total: usize = self.rooms.values().map(room_history_bytes).sum();
        if total <= most {
            return;
        }
        let mut streams: Vec<&mut RoomStream> = self
            .rooms
            .values_mut()
            .map(|room| &mut room.keeper_mut().stream)
            .collect();
        bound_histories(&mut streams, most);
    }

    /// `/leave [ROOM]`: the current room unless named; never the last.
    fn leave_room(&mut self, id: ClientId, typed: Option<&str>) -> Happened {
        let key = match typed {
            Some(typed) => match Self::room_name(typed) {
                Ok(name) if self.is_in(id, name.key()) => self.existing(typed),
                Ok(name) => Err(said::not_in(name.as_str())),
                Err(why) => Err(why),
            },
            None => self
                .current_key(id)
                .ok_or_else(|| said::LAST_ROOM.to_string()),
        };
        let key = match key {
            Ok(key) => key,
            Err(why) => return self.refuse(id, why),
        };
        let Some(client) = self.desk.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        if client.rooms.len() <= 1 {
            return self.refuse(id, said::LAST_ROOM);
        }
        let was_current = client.rooms.leave(&key);
        let name = client.name.clone();
        self.note_rooms(id);
        let shown = self.rooms.get(&key).map(|r| r.name().to_string());
        let line = said::left_room(shown.as_deref().unwrap_or(""));
        self.tell_of(id, &key, &line, Reply::Leave);
        if was_current {
            self.tell_current(id);
        }
        self.exit_rooms(id, &[key], name.as_ref());
        Happened::Nothing
    }

    /// Tells `id` which room it now talks in (a tagged client by its
    /// tags: after leaving its current room, it cannot tell which).
    fn tell_current(&mut self, id: ClientId) {
        let Some(key) = self.current_key(id) else {
            return;
        };
        if let Some(room) = self.rooms.get(&key) {
            let line = said::switched(room.name().as_str());
            self.tell_of(id, &key, &line, Reply::Switch);
        }
    }

    /// One line to `id` about the room of `key`, never prefixed: a tagged
    /// client gets the room in `room=` and what the line means.
    fn tell_of(&mut self, id: ClientId, key: &str, line: &str, meaning: Reply<'_>) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        if !self.desk.is_tagged(id) {
            self.desk.send(id, line);
            return;
        }
        let line = Tags::at(self.desk.now())
            .with("room", rooms::tag_value(room.name().as_str()))
            .answering(self.desk.label_for(id))
            .reply(meaning)
            .line(line);
        self.desk.send(id, &line);
    }

    /// `/switch ROOM`: one of `id`'s rooms becomes its current one.
    fn switch(&mut self, id: ClientId, typed: &str) -> Happened {
        let key = match Self::room_name(typed) {
            Ok(name) if self.is_in(id, name.key()) => self.existing(typed),
            Ok(name) => Err(said::not_in(name.as_str())),
            Err(why) => Err(why),
        };
        let key = match key {
            Ok(key) => key,
            Err(why) => return self.refuse(id, why),
        };
        if let Some(client) = self.desk.clients.get_mut(&id) {
            client.rooms.switch(&key);
        }
        self.note_rooms(id);
        self.tell_current(id);
        Happened::Nothing
    }

    /// `/rooms`: every room, by name, with how many are in it and its topic.
    fn list_rooms(&mut self, id: ClientId) -> Happened {
        let mut list: Vec<&Room> = self.rooms.values().collect();
        list.sort_by_cached_key(|room| room.name().as_str().to_lowercase());
        let header = said::rooms_header(list.len());
        let entries: Vec<(String, usize, String)> = list
            .iter()
            .map(|room| {
                let name = room.name().to_string();
                let line = said::room_entry(&name, room.online(), room.topic.as_deref());
                (name, room.online(), line)
            })
            .collect();
        let count = entries.len();
        self.desk.tell_as(id, &header, Reply::Rooms { count });
        for (name, people, line) in &entries {
            let meaning = Reply::RoomEntry {
                name,
                people: *people,
            };
            self.desk.tell_as(id, line, meaning);
        }
        Happened::Nothing
    }

    /// `/who ROOM`: who is in another room (or this one, named).
    fn who_in(&mut self, id: ClientId, typed: &str) -> Happened {
        let key = match self.existing(typed) {
            Ok(key) => key,
            Err(why) => return self.refuse(id, why),
        };
        let Some(room) = self.rooms.get(&key) else {
            return Happened::Nothing;
        };
        let names = room.owned_names(&self.desk);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for (line, meaning) in reply::who(&names).iter().zip(reply::who_tags(&names)) {
            room.tell_as(&mut self.desk, id, line, meaning);
        }
        Happened::Nothing
    }

    /// `/topic [TEXT]`: shows the current room's topic, or sets it (told
    /// to its members).
    fn topic(&mut self, id: ClientId, topic: Option<&str>) -> Happened {
        let Some(key) = self.current_key(id) else {
            return Happened::Nothing;
        };
        let by = self.name_of(id).map(|n| n.as_str().to_string());
        let Some(room) = self.rooms.get_mut(&key) else {
            return Happened::Nothing;
        };
        let Some(topic) = topic else {
            let line = said::topic_is(room.name().as_str(), room.topic.as_deref());
            room.tell(&mut self.desk, id, &line);
            return Happened::Nothing;
        };
        if topic.len() > MOST_TOPIC_BYTES {
            return self.refuse(id, said::topic_too_long(MOST_TOPIC_BYTES));
        }
        room.topic = Some(topic.to_string());
        let by = by.unwrap_or_default();
        let line = said::topic_set(&by, topic);
        room.tell_topic(&mut self.desk, &by, &line);
        Happened::Nothing
    }

    /// `/history ROOM …`. A word without `#` that names no room is read
    /// as a count gone wrong (`/history two`), and answered as before rooms.
    fn history_of(&mut self, id: ClientId, typed: &str, ask: HistoryAsk) -> Happened {
        match self.existing(typed) {
            Ok(key) => {
                self.history(id, Some(key), ask);
                Happened::Nothing
            }
            Err(_) if !typed.starts_with(TYPED_SIGILS) => self.refuse(id, reply::HISTORY_USAGE),
            Err(why) => self.refuse(id, why),
        }
    }
}

/// The bytes of a room's history.
pub(super) fn room_history_bytes(room: &Room) -> usize {
    room.keeper().stream.history().room_bytes()
}
