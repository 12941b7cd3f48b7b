//! Sessions, as the room's rules see them: a tagged client's login opens
//! one; `/resume TOKEN LAST` in place of a name takes it back, name and
//! all, closing a half-open ghost without a word and replaying what was
//! missed; a dropped connection leaves it resumable for the window.

use crate::protocol::message::reply;
use crate::protocol::name::Name;
use crate::protocol::tagged::Reply;
use crate::stream::{Draft, Id, SessionId};

use super::sessions::from_hex;
use super::{Client, ClientId, Happened, Mailbox, Room};

/// What follows `/resume ` in a line, if it is one.
pub fn strip_command(text: &str) -> Option<&str> {
    let (word, rest) = text.split_once(' ')?;
    word.eq_ignore_ascii_case("/resume").then_some(rest)
}

impl<M: Mailbox> Room<M> {
    /// `/resume TOKEN LAST` from connection `id`, not logged in.
    pub(super) fn resume(&mut self, id: ClientId, args: &str) -> Happened {
        let mut words = args.split_whitespace();
        let token = words.next().and_then(from_hex);
        let last: Option<Id> = words.next().and_then(|w| w.parse().ok());
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
                let held_for = self.held.get(name.key()).map(|h| h.session);
                if held_for.is_some_and(|s| s != Some(session.id)) {
                    return self.refuse_resume(id);
                }
                self.held.remove(name.key());
                None
            }
        };
        if let Some(ghost) = ghost {
            self.close_ghost(ghost, &name);
        }
        self.names.insert(name.shared_key(), id);
        self.members.push(id);
        self.by_session.insert(session.id, id);
        self.sessions.resumed(session.id, id);
        let Some(client) = self.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        client.name = Some(name.clone());
        client.session = session.id;
        client.resumable = true;
        self.tell_login(id, &token, true, &reply::logged_in(name.as_str()));
        let (records, missed) = match self.stream.after(last, Some(session.id)) {
            Ok(replay) => (replay.records, replay.missed),
            Err(_) => (Vec::new(), 0),
        };
        let n = records.len();
        self.block(
            id,
            &reply::resume_header(n, missed),
            reply::RESUME_END,
            records,
            missed,
        );
        // Whoever saw it leave sees it come back; a ghost never left.
        if ghost.is_none() && self.announces(self.members.len()) {
            self.keep(Draft::join(name.as_str()), self.meta_by(id));
        }
        Happened::Resumed(name)
    }

    fn refuse_resume(&mut self, id: ClientId) -> Happened {
        self.tell_as(id, reply::RESUME_REFUSED, Reply::NotResumed);
        Happened::LoginRefused("a session could not be resumed".to_string())
    }

    /// Takes a ghost out of the room without a leave notice: its session
    /// goes on, on a new connection. The owner closes it.
    fn close_ghost(&mut self, ghost: ClientId, name: &Name) {
        let Some(client) = self.clients.remove(&ghost) else {
            return;
        };
        if client.tagged {
            self.tagged_count -= 1;
        }
        self.names.remove(name.key());
        self.members.retain(|&m| m != ghost);
        self.ghosts.push((ghost, client.mailbox));
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
        self.by_session.remove(&client.session);
        if client.resumable && !client.quitting {
            let until = self.now + self.sessions.window();
            let host = client.mailbox.host();
            // Forgotten first: a session nobody can resume holds no name,
            // and its hold's place goes to this one.
            let trusted = client.mailbox.trusted();
            let away = self.sessions.away(client.session, self.now, host, trusted);
            // At the room's cap the one forgotten may be this one: then
            // its name is held no longer than any dropped connection's.
            let kept = !away.contains(&client.session);
            for forgotten in away {
                self.stream.forget(forgotten);
                self.held.retain(|_, hold| hold.session != Some(forgotten));
            }
            if kept {
                self.hold(name, host, Some(client.session), until);
            }
        } else {
            self.end_session(client.session);
        }
    }

    /// The session a name is held for while its client is away, if any.
    pub(super) fn away_session(&self, name: &str) -> Option<(SessionId, Name)> {
        let key = Name::parse(name).ok()?;
        let session = self.held.get(key.key())?.session?;
        let name = self.sessions.away_name(session)?.clone();
        Some((session, name))
    }

    /// A private message to someone whose connection dropped and who may
    /// still resume: kept for their session, replayed when they come back
    /// (and gone with the session if they do not). The sender is told.
    pub(super) fn private_to_away(
        &mut self,
        id: ClientId,
        from: &Name,
        (session, to): (SessionId, Name),
        text: &str,
    ) -> Happened {
        let minutes = self.sessions.window().as_secs().div_ceil(60);
        self.tell(id, &reply::recipient_away(to.as_str(), minutes));
        let sessions = [self.session_of(id), session];
        let draft = Draft::private(from.as_str(), to.as_str(), text, sessions);
        let meta = self.meta_by(id).to(session);
        self.keep(draft, meta);
        Happened::Relayed
    }

    /// Ends a session for good.
    pub(super) fn end_session(&mut self, session: SessionId) {
        self.sessions.end(session);
        self.stream.forget(session);
    }

    /// When the next dropped session's window ends.
    pub fn next_session_expiry(&mut self) -> Option<std::time::Instant> {
        self.sessions.next_expiry()
    }

    /// Ends the sessions whose window has passed.
    pub fn expire_sessions(&mut self, now: std::time::Instant) {
        self.now = now;
        for session in self.sessions.expire(now) {
            self.stream.forget(session);
        }
    }
}
