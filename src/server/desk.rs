//! The lobby's front desk: every connection and how to reach it, and
//! what the lobby and its rooms share while they deliver (the tally of
//! bytes queued, who overflowed, the label being answered, the clock,
//! the id sequence and who waits for what being saved). Rooms borrow it
//! to relay; only the lobby owns it.

use std::collections::HashMap;

use crate::protocol::message::reply;
use crate::protocol::name::Name;
use crate::protocol::tagged::{Reply, Tags};
use std::sync::Arc;

use crate::stream::{Id, Millis, SessionId};

use super::client_id::ClientId;
use super::kept::Waits;
use super::mailbox::Mailbox;

/// One connection, as the lobby knows it.
pub struct Client<M> {
    pub mailbox: M,
    /// None until the client has logged in.
    pub name: Option<Name>,
    /// Whether it has given the server's password (always, when there is none).
    pub admitted: bool,
    /// Wrong passwords it has given.
    pub wrong: u32,
    /// Whether it asked for tagged lines (our own client does).
    pub tagged: bool,
    /// Its session once logged in (0 before): what its private messages
    /// are kept under.
    pub session: SessionId,
    /// Whether its session may be resumed (it has a token).
    pub resumable: bool,
    /// Whether it said `/quit`: its session ends with the connection.
    pub quitting: bool,
    /// The rooms it is in.
    pub rooms: Rooms,
}

impl<M> Client<M> {
    /// Whether the room of `key` is its current room.
    pub fn is_current(&self, key: &Arc<str>) -> bool {
        self.rooms.is_current(key)
    }
}

/// The rooms one person is in, by key (the very `Arc`s the rooms hold).
/// Most people are in one room: that costs one pointer, and no list.
#[derive(Debug, Default, Clone)]
pub struct Rooms {
    /// The current room: where what it types goes; lines of its other
    /// rooms reach it prefixed.
    current: Option<Arc<str>>,
    /// The others, the most recently current last; None while there are
    /// none. Boxed on purpose: one pointer in every client's entry, where
    /// a `Vec` would be three, for the few in more than one room.
    #[allow(clippy::box_collection)]
    others: Option<Box<Vec<Arc<str>>>>,
}

impl Rooms {
    pub fn current(&self) -> Option<&Arc<str>> {
        self.current.as_ref()
    }

    pub fn is_current(&self, key: &Arc<str>) -> bool {
        self.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, key))
    }

    pub fn len(&self) -> usize {
        usize::from(self.current.is_some()) + self.others.as_ref().map_or(0, |o| o.len())
    }

    pub fn contains(&self, key: &str) -> bool {
        self.iter().any(|r| &**r == key)
    }

    /// Every room, the current one last.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<str>> {
        let others = self.others.iter().flat_map(|o| o.iter());
        others.chain(self.current.iter())
    }

    /// Every room, the current one last (where a resume puts it back).
    pub fn to_vec(&self) -> Vec<Arc<str>> {
        self.iter().cloned().collect()
    }

    /// Enters the room of `key`, which becomes the current one.
    pub fn enter(&mut self, key: Arc<str>) {
        if let Some(old) = self.current.replace(key) {
            self.others.get_or_insert_with(Box::default).push(old);
        }
    }

    /// Makes the room of `key`, one of these, the current one; false if
    /// it is not one of them.
    pub fn switch(&mut self, key: &str) -> bool {
        if self.current.as_deref() == Some(key) {
            return true;
        }
        let Some(others) = self.others.as_mut() else {
            return false;
        };
        let Some(at) = others.iter().position(|r| &**r == key) else {
            return false;
        };
        let room = others.remove(at);
        self.enter(room);
        self.tidy();
        true
    }

    /// Leaves the room of `key`; if it was the current one, the most
    /// recently current of the others takes its place. Whether it was.
    pub fn leave(&mut self, key: &str) -> bool {
        if self.current.as_deref() == Some(key) {
            self.current = self.others.as_mut().and_then(|o| o.pop());
            self.tidy();
            return true;
        }
        if let Some(others) = self.others.as_mut() {
            others.retain(|r| &**r != key);
        }
        self.tidy();
        false
    }

    /// No list once there are no others.
    fn tidy(&mut self) {
        if self.others.as_ref().is_some_and(|o| o.is_empty()) {
            self.others = None;
        }
    }
}

/// Every connection, and what deliveries share. See the module's comment.
pub struct Desk<M: Mailbox> {
    pub clients: HashMap<ClientId, Client<M>>,
    /// Clients whose mailbox was full during the last event.
    pub overflowed: Vec<ClientId>,
    /// What deliveries added since the owner last took it.
    pub tally: M::Tally,
    /// The connection whose line is being handled, and its label: what
    /// is told to it meanwhile answers that label.
    pub answering: Option<(ClientId, Option<Box<str>>)>,
    /// Server time for tags; injected by tests.
    pub clock: Box<dyn FnMut() -> Millis + Send>,
    /// Connections in tagged mode.
    pub tagged_count: usize,
    /// The id the next kept record gets, in whichever stream: one
    /// sequence for them all, so that a client's one "last id seen"
    /// orders every line it got (rooms and private messages alike).
    /// None while no stream counts its ids (a shared log gives its own).
    pub next_id: Option<Id>,
    /// Who waits for which batches to be saved.
    pub waits: Waits,
    /// Each session's connection, while it has one.
    pub by_session: HashMap<SessionId, ClientId>,
    /// Messages people said that were relayed (saved first, with a store).
    pub relayed: u64,
    /// Bytes of history blocks sent since the owner last took them, and to
    /// whom: what their output meters are charged.
    pub blocks_sent: Vec<(ClientId, usize)>,
}

impl<M: Mailbox> Desk<M> {
    pub fn new() -> Self {
        Desk {
            clients: HashMap::new(),
            overflowed: Vec::new(),
            tally: M::Tally::default(),
            answering: None,
            clock: Box::new(crate::stream::now),
            tagged_count: 0,
            next_id: None,
            waits: Waits::default(),
            by_session: HashMap::new(),
            relayed: 0,
            blocks_sent: Vec::new(),
        }
    }

    /// The time tagged lines carry now.
    pub fn now(&mut self) -> Millis {
        (self.clock)()
    }

    pub fn is_tagged(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.tagged)
    }

    /// The session connection `id` is logged in under (0: none).
    pub fn session_of(&self, id: ClientId) -> SessionId {
        self.clients.get(&id).map_or(0, |c| c.session)
    }

    /// Sends one line to one connection: to a tagged one with the time and,
    /// while its line is being handled, the label it answers.
    pub fn tell(&mut self, id: ClientId, line: &str) {
        self.tell_as(id, line, meaning_of(line));
    }

    /// [`Desk::tell`], with what the line means for a tagged client (the
    /// client reads that, never the words).
    pub fn tell_as(&mut self, id: ClientId, line: &str, meaning: Reply<'_>) {
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        if client.tagged {
            let line = Tags::at((self.clock)())
                .answering(self.label_for(id))
                .reply(meaning)
                .line(line);
            self.send(id, &line);
        } else {
            self.send(id, line);
        }
    }

    /// The label of the line being handled, if it is `id`'s.
    pub fn label_for(&self, id: ClientId) -> Option<&str> {
        match &self.answering {
            Some((current, label)) if *current == id => label.as_deref(),
            _ => None,
        }
    }

    /// Queues `line` for `id` as it is.
    pub fn send(&mut self, id: ClientId, line: &str) {
        if let Some(client) = self.clients.get(&id) {
            if !client.mailbox.deliver(line, &mut self.tally) {
                self.overflowed.push(id);
            }
        }
    }
}

/// What a line told with no stated meaning means: every error, whatever
/// its words, is flagged as one.
pub fn meaning_of(line: &str) -> Reply<'static> {
    match line.starts_with(reply::ERROR_PREFIX) {
        true => Reply::Error,
        false => Reply::Plain,
    }
}

impl<M: Mailbox> Default for Desk<M> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Arc<str> {
        Arc::from(name)
    }

    #[test]
    fn the_room_entered_last_is_current_and_leaving_it_goes_back_to_the_one_before() {
        let mut rooms = Rooms::default();
        let (main, ops, dev) = (key("main"), key("ops"), key("dev"));
        rooms.enter(Arc::clone(&main));
        assert!(rooms.others.is_none(), "one room: no list");
        rooms.enter(Arc::clone(&ops));
        rooms.enter(Arc::clone(&dev));
        assert!(rooms.is_current(&dev) && rooms.len() == 3);
        assert!(rooms.switch("ops"));
        assert!(rooms.is_current(&ops));
        assert!(!rooms.switch("nowhere"));
        assert!(rooms.leave("ops"), "it was current");
        assert!(
            rooms.is_current(&dev),
            "the most recently current before it"
        );
        assert!(!rooms.leave("main"));
        assert_eq!(rooms.to_vec(), [dev]);
        assert!(rooms.others.is_none());
    }
}
