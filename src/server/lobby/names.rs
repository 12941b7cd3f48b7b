//! Names: who holds which, names kept for whoever dropped them, `/nick`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::protocol::message::reply;
use crate::protocol::name::Name;
use crate::protocol::tagged::Reply;
use crate::stream::{Draft, SessionId};

use super::super::addrs::Host;
use super::super::client_id::ClientId;
use super::super::mailbox::Mailbox;
use super::{Happened, Lobby};

/// Names held at once for owners whose connection dropped; past it a
/// dropped name is free at once, as before.
const MOST_HELD: usize = 10_000;

/// A name held for whoever dropped it.
#[derive(Debug, Clone, Copy)]
pub struct Hold {
    /// The host a plain login may take it back from.
    pub host: Option<Host>,
    /// The session a `/resume` takes it back with.
    pub session: Option<SessionId>,
    pub until: Instant,
}

/// Case-folded names kept for a while for whoever dropped them.
#[derive(Default)]
pub struct Holds {
    pub held: HashMap<Arc<str>, Hold>,
}

impl Holds {
    /// Holds `name` (see [`Lobby::hold_name`]).
    pub fn hold(
        &mut self,
        name: &Name,
        host: Option<Host>,
        session: Option<SessionId>,
        until: Instant,
    ) {
        if let Some(hold) = self.held.get_mut(name.key()) {
            hold.host = host.or(hold.host);
            hold.session = session.or(hold.session);
            hold.until = hold.until.max(until);
            return;
        }
        if self.held.len() < MOST_HELD {
            let hold = Hold {
                host,
                session,
                until,
            };
            self.held.insert(name.shared_key(), hold);
        }
    }
}

impl<M: Mailbox> Lobby<M> {
    /// Keeps `name` for a connection from `host` until `until`: its owner's
    /// connection dropped (reset, timed out), and the person behind it is
    /// to get it back first, not whoever logs in next with that name.
    /// Held names are released (see [`Lobby::release_names`]) before any
    /// line that may take a name; at most [`MOST_HELD`] are held at once
    /// (a name dropped again is held anew even then). A hold its session
    /// already has is kept, and lasts the longer of the two.
    pub fn hold_name(&mut self, name: &Name, host: Option<Host>, until: Instant) {
        self.holds.hold(name, host, None, until);
    }

    /// Frees the names held until `now` or before.
    pub fn release_names(&mut self, now: Instant) {
        self.now = now;
        if !self.holds.held.is_empty() {
            self.holds.held.retain(|_, hold| hold.until > now);
        }
    }

    /// Whether `name` is held for someone other than connection `id`'s host;
    /// if it is held for that host, it is released to it. A name held for
    /// a session is held for its token alone: hosts are shared (a NAT, a
    /// proxy, a campus), a token is not.
    pub(super) fn held_for_another(&mut self, id: ClientId, name: &Name) -> bool {
        let key = name.key();
        let Some(&hold) = self.holds.held.get(key) else {
            return false;
        };
        let host = self.mailbox(id).and_then(Mailbox::host);
        if hold.session.is_none() && hold.host.is_some() && hold.host == host {
            self.holds.held.remove(key);
            return false;
        }
        true
    }

    /// `/nick NEW`: told to its owner, and to the room as a rename.
    pub(super) fn rename(&mut self, id: ClientId, old: Name, new: &str) -> Happened {
        let new = match Name::parse(new) {
            Ok(new) => new,
            Err(why) => {
                self.desk.tell(id, &reply::error(why));
                return Happened::Nothing;
            }
        };
        if new == old {
            self.desk
                .tell_as(id, &reply::renamed_self(new.as_str()), renamed(&new));
            return Happened::Nothing;
        }
        // A change of case only (max → Max) keeps the same key.
        match self.names.get(new.key()) {
            Some(&owner) if owner != id => {
                self.desk
                    .tell(id, &reply::error(format!("the name {new} is taken")));
                return Happened::Nothing;
            }
            _ => {}
        }
        if self.held_for_another(id, &new) {
            self.desk
                .tell(id, &reply::error(reply::name_held(new.as_str())));
            return Happened::Nothing;
        }
        self.names.remove(old.key());
        self.names.insert(new.shared_key(), id);
        if let Some(client) = self.desk.clients.get_mut(&id) {
            client.name = Some(new.clone());
            if client.resumable {
                self.sessions.renamed(client.session, new.clone());
            }
        }
        self.desk
            .tell_as(id, &reply::renamed_self(new.as_str()), renamed(&new));
        // Every room the person is in is told.
        let meta = self.meta_by(id);
        let keys = self.desk.clients.get(&id).map(|c| c.rooms.to_vec());
        for key in keys.unwrap_or_default() {
            if let Some(room) = self.rooms.get_mut(&key) {
                room.keep(Draft::rename(old.as_str(), new.as_str()), meta.clone());
            }
        }
        Happened::Renamed { old, new }
    }
}

/// The meaning of our own rename's answer.
fn renamed(new: &Name) -> Reply<'_> {
    Reply::Renamed { name: new.as_str() }
}
