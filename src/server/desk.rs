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
    /// The keys of the rooms it is in, in the order it joined them.
    pub rooms: Vec<Arc<str>>,
    /// Its current room's key (the very `Arc` the room holds): where
    /// what it types goes; lines of its other rooms reach it prefixed.
    pub current: Option<Arc<str>>,
}

impl<M> Client<M> {
    /// Whether the room of `key` is its current room.
    pub fn is_current(&self, key: &Arc<str>) -> bool {
        self.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, key))
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
