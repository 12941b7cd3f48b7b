//! Sessions, as the lobby's rules see them: a tagged client's login opens
//! one; `/resume TOKEN LAST` in place of a name takes it back, name and
//! all, closing a half-open ghost without a word and replaying what was
//! missed (its rooms' and its private messages); a dropped connection
//! leaves it resumable for the window.

use std::sync::Arc;

use crate::protocol::message::reply;
use crate::protocol::name::Name;
use crate::protocol::rooms::{parse_cursor, Cursor, CursorStream};
use crate::protocol::tagged::Reply;
use crate::stream::{Ahead, Draft, Id, PackedRecord, SessionId};

use super::super::blocks::{self, Shown};
use super::super::client_id::ClientId;
use super::super::desk::Client;
use super::super::mailbox::Mailbox;
use super::super::sessions::from_hex;
use super::{Happened, Lobby};

/// What was kept after an id: records of every stream, in id order (each
/// with its room's key; None: a private message), and how many are no
/// longer kept.
#[derive(Default)]
struct Gap {
    records: Vec<(PackedRecord, Option<Arc<str>>)>,
    missed: u64,
}

impl<M: Mailbox> Lobby<M> {
    /// `/resume TOKEN CURSOR` from connection `id`, not logged in.
    pub(super) fn resume(&mut self, id: ClientId, args: &str) -> Happened {
        let mut words = args.split_whitespace();
        let token = words.next().and_then(from_hex);
        let last = words.next().and_then(parse_cursor);
        let (Some(token), Some(last), None) = (token, last, words.next()) else {
            return self.refuse_resume(id);
        };
        let Some(session) = self.sessions.resumable(&token, self.now).cloned() else {
            return self.refuse_resume(id);
        };
        let name = session.name.clone();
        // The name must be free, held for this session, or the session's
        // own ghost's.
        let ghost = match self.names.get(name.key()) {
            Some(&owner) if Some(owner) == session.client && owner != id => Some(owner),
            Some(_) => return self.refuse_resume(id),
            None => {
                let held_for = self.holds.held.get(name.key()).map(|h| h.session);
                if held_for.is_some_and(|s| s != Some(session.id)) {
                    return self.refuse_resume(id);
                }
                self.holds.held.remove(name.key());
                None
            }
        };
        let waited = self.stop_waiting(session.id);
        let wanted = match ghost {
            Some(ghost) => self.close_ghost(ghost, &name),
            None => waited,
        };
        self.names.insert(name.shared_key(), id);
        self.desk.by_session.insert(session.id, id);
        self.sessions.resumed(session.id, id);
        let Some(client) = self.desk.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        client.name = Some(name.clone());
        client.session = session.id;
        client.resumable = true;
        let rooms = self.enter_again(id, wanted.clone());
        // None wanted is `#main` (a file from before rooms, or every room
        // gone, which the start noted already).
        if !wanted.is_empty() && rooms != wanted {
            // A room it was in is gone: the log says where it is now.
            let names = self.shown_names(&rooms);
            self.sessions.moved(session.id, &names);
        }
        self.tell_login(id, &token, true, &reply::logged_in(name.as_str()));
        let gap = self.missed(&last, session.id, &rooms);
        let header = reply::resume_header(gap.records.len(), gap.missed);
        self.block_of(id, (&header, reply::RESUME_END), gap, None);
        // Whoever saw it leave sees it come back; a ghost never left.
        if ghost.is_none() {
            self.announce_return(id, &name, &rooms);
        }
        Happened::Resumed(name)
    }

    /// Takes a resumed connection back into the rooms its session was in
    /// (the current one last) that still exist, or `#main` if none does.
    fn enter_again(&mut self, id: ClientId, rooms: Vec<Arc<str>>) -> Vec<Arc<str>> {
        let mut rooms: Vec<Arc<str>> = rooms
            .into_iter()
            .filter_map(|key| Some(Arc::clone(self.rooms.get_key_value(&key)?.0)))
            .collect();
        if rooms.is_empty() {
            rooms.push(Arc::clone(&self.main_key));
        }
        for key in &rooms {
            self.enter(id, key);
        }
        rooms
    }

    /// Each room of `rooms` is told `name` is back.
    fn announce_return(&mut self, id: ClientId, name: &Name, rooms: &[Arc<str>]) {
        let meta = self.meta_by(id);
        for key in rooms {
            let announces = self.rooms.get(key).map(|r| self.announces(r.online()));
            if let (Some(room), Some(true)) = (self.rooms.get_mut(key), announces) {
                room.keep(Draft::join(name.as_str()), meta.clone());
            }
        }
    }

    /// What a resumed session missed in `rooms` and its private messages,
    /// after where `cursor` says its client left off.
    fn missed(&self, cursor: &Cursor, session: SessionId, rooms: &[Arc<str>]) -> Gap {
        let items = match cursor {
            // One sequence of ids: the last one seen, in any stream.
            Cursor::Bare(last) => {
                return self
                    .gap(*last, Some(session), rooms, true)
                    .unwrap_or_default();
            }
            Cursor::Streams(items) => items,
        };
        let after = |wanted: &CursorStream| {
            let item = items.iter().find(|(stream, _)| match (stream, wanted) {
                (CursorStream::Room(a), CursorStream::Room(b)) => a.key() == b.key(),
                (a, b) => a == b,
            });
            item.map(|&(_, id)| id)
        };
        let mut gap = Gap::default();
        let private = after(&CursorStream::Private).unwrap_or(Id::ZERO);
        let parts = rooms
            .iter()
            .filter_map(|key| {
                let name = self.rooms.get(key)?.name().clone();
                let last = after(&CursorStream::Room(name))?;
                Some((last, std::slice::from_ref(key), false))
            })
            .chain(std::iter::once((private, &[][..], true)));
        for (last, keys, with_private) in parts {
            if let Ok(part) = self.gap(last, Some(session), keys, with_private) {
                gap.missed = gap.missed.max(part.missed);
                gap.records.extend(part.records);
            }
        }
        gap.records.sort_by_key(|(r, _)| r.id());
        gap
    }

    /// `/history [ROOM] after ID`: everything kept after it in the room of
    /// `key`, for `id` (and its private messages, for its current room).
    pub(super) fn history_after(&mut self, id: ClientId, key: &Arc<str>, private: bool, after: Id) {
        let session = Some(self.desk.session_of(id)).filter(|&s| s != 0);
        match self.gap(after, session, std::slice::from_ref(key), private) {
            Ok(gap) => {
                let n = gap.records.len();
                let header = reply::after_header(n, after, gap.missed);
                let footer = reply::after_footer(n, after);
                // A block of one room says which (a resume's spans rooms).
                let room = self.rooms.get(key).map(|r| r.name().as_str().to_string());
                self.block_of(id, (&header, &footer), gap, room.as_deref());
            }
            Err(ahead) => self.desk.tell(id, &reply::error(ahead)),
        }
    }

    /// What was kept after `after` in the rooms of `rooms` and, for
    /// `session` (if `private`), in the private stream, merged in id
    /// order. Ids come from one sequence: an id newer than one stream's
    /// newest is not ahead unless it is newer than all.
    fn gap(
        &self,
        after: Id,
        session: Option<SessionId>,
        rooms: &[Arc<str>],
        private: bool,
    ) -> Result<Gap, Ahead> {
        let newest = self.newest();
        if after > newest {
            return Err(Ahead { newest });
        }
        let mut gap = Gap::default();
        let streams = rooms
            .iter()
            .filter_map(|key| Some((&self.rooms.get(key)?.keeper().stream, Some(key))))
            .chain(private.then_some((&self.private.stream, None)));
        for (stream, key) in streams {
            if let Ok(replay) = stream.after(after, session) {
                gap.missed = gap.missed.max(replay.missed);
                let key = key.cloned();
                let records = replay.records.into_iter().map(|r| {
                    let room = key.clone().filter(|_| r.is_room());
                    (r, room)
                });
                gap.records.extend(records);
            }
        }
        gap.records.sort_by_key(|(r, _)| r.id());
        gap.records.dedup_by_key(|(r, _)| r.id());
        Ok(gap)
    }

    /// A block of `gap` for `id`: each line with its room (prefixed if not
    /// the current one), each private message as `id`'s session saw it.
    fn block_of(
        &mut self,
        id: ClientId,
        (header, footer): (&str, &str),
        gap: Gap,
        room: Option<&str>,
    ) {
        let viewer = self.desk.session_of(id);
        let current = self.current_key(id);
        let private = &self.private.stream;
        let mut shown = Vec::with_capacity(gap.records.len());
        for (record, key) in gap.records {
            // Which private messages the viewer sent, asked now: the writer
            // that makes the lines has no history to ask.
            let sent = !record.is_room()
                && (private.history().sent_by(viewer, record.id())
                    || self
                        .main()
                        .keeper()
                        .stream
                        .history()
                        .sent_by(viewer, record.id()));
            let of_room = key.as_ref().and_then(|k| self.rooms.get(k));
            shown.push(Shown {
                record,
                sent,
                room: of_room.map(|r| Arc::from(r.name().as_str())),
                current: key.is_some() && key == current,
            });
        }
        blocks::block(
            &mut self.desk,
            id,
            (header, footer),
            shown,
            gap.missed,
            room,
        );
    }

    fn refuse_resume(&mut self, id: ClientId) -> Happened {
        self.desk
            .tell_as(id, reply::RESUME_REFUSED, Reply::NotResumed);
        Happened::LoginRefused("a session could not be resumed".to_string())
    }

    /// Takes a ghost out without a leave notice: its session goes on, on
    /// a new connection. The owner closes it. Returns its rooms, the
    /// current one last.
    fn close_ghost(&mut self, ghost: ClientId, name: &Name) -> Vec<Arc<str>> {
        let Some(client) = self.desk.clients.remove(&ghost) else {
            return Vec::new();
        };
        if client.tagged {
            self.desk.tagged_count -= 1;
        }
        self.names.remove(name.key());
        let rooms = client.rooms.to_vec();
        for key in &rooms {
            if let Some(room) = self.rooms.get_mut(key) {
                room.exit(ghost);
            }
        }
        self.ghosts.push((ghost, client.mailbox));
        rooms
    }

    /// Connections taken over by a resume, for their owner to close.
    pub fn take_ghosts(&mut self) -> Vec<(ClientId, M)> {
        std::mem::take(&mut self.ghosts)
    }

    /// A logged-in connection left: a resumable session that did not
    /// `/quit` waits for its client for the window (its name held for
    /// it); any other ends, and its private messages are forgotten.
    pub(super) fn session_left(&mut self, client: &Client<M>, name: &Name) {
        if client.session == 0 {
            return;
        }
        self.desk.by_session.remove(&client.session);
        if !client.resumable || client.quitting {
            self.end_session(client.session);
            return;
        }
        let until = self.now + self.sessions.window();
        let host = client.mailbox.host();
        // Forgotten first: a session nobody can resume holds no name,
        // and its hold's place goes to this one.
        let trusted = client.mailbox.trusted();
        let away = self.sessions.away(client.session, self.now, host, trusted);
        // At the server's cap the one forgotten may be this one: then
        // its name is held no longer than any dropped connection's.
        let kept = !away.contains(&client.session);
        for forgotten in away {
            self.forget(forgotten);
            self.holds
                .held
                .retain(|_, hold| hold.session != Some(forgotten));
        }
        if kept {
            self.holds.hold(name, host, Some(client.session), until);
            self.wait_in(client.session, client.rooms.to_vec());
        }
    }

    /// Session `session`, away, may come back to the rooms of `keys` (the
    /// current one last): each keeps a place for it until it does or is
    /// over (see [`Room::wait`](super::super::room::Room::wait)).
    pub(super) fn wait_in(&mut self, session: SessionId, keys: Vec<Arc<str>>) {
        self.stop_waiting(session);
        for key in &keys {
            if let Some(room) = self.rooms.get_mut(key) {
                room.wait();
            }
        }
        self.away_rooms.insert(session, keys);
    }

    /// The rooms session `session` was waiting to come back to, which no
    /// longer wait for it (none if it was not away).
    fn stop_waiting(&mut self, session: SessionId) -> Vec<Arc<str>> {
        let keys = self.away_rooms.remove(&session).unwrap_or_default();
        for key in &keys {
            if let Some(room) = self.rooms.get_mut(key) {
                room.stop_waiting();
            }
        }
        keys
    }

    /// The session a name is held for while its client is away, if any.
    pub(super) fn away_session(&self, name: &str) -> Option<(SessionId, Name)> {
        let key = Name::parse(name).ok()?;
        let session = self.holds.held.get(key.key())?.session?;
        let name = self.sessions.away_name(session)?.clone();
        Some((session, name))
    }

    /// Ends a session for good.
    fn end_session(&mut self, session: SessionId) {
        self.sessions.end(session);
        self.forget(session);
    }

    /// Drops a session's private messages, wherever they are kept.
    fn forget(&mut self, session: SessionId) {
        // Its rooms no longer wait for it: one that keeps nothing else goes.
        for key in self.stop_waiting(session) {
            self.forget_if_idle(&key);
        }
        self.private.stream.forget(session);
        // An older store kept private messages in `#main`'s stream.
        self.main_mut().keeper_mut().stream.forget(session);
    }

    /// When the next dropped session's window ends.
    pub fn next_session_expiry(&mut self) -> Option<std::time::Instant> {
        self.sessions.next_expiry()
    }

    /// Ends the sessions whose window has passed.
    pub fn expire_sessions(&mut self, now: std::time::Instant) {
        self.now = now;
        for session in self.sessions.expire(now) {
            self.forget(session);
        }
    }
}
