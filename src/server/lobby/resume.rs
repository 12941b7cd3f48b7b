//! Sessions, as the lobby's rules see them: a tagged client's login opens
//! one; `/resume TOKEN LAST` in place of a name takes it back, name and
//! all, closing a half-open ghost without a word and replaying what was
//! missed (its rooms' and its private messages); a dropped connection
//! leaves it resumable for the window.

use std::sync::Arc;

use crate::protocol::message::reply;
use crate::protocol::name::Name;
use crate::stream::{Ahead, Draft, Id, Kind, Record, SessionId};

use super::super::blocks;
use super::super::client_id::ClientId;
use super::super::desk::Client;
use super::super::mailbox::Mailbox;
use super::super::sessions::from_hex;
use super::{Happened, Lobby};

/// What was kept after an id: records of every stream, in id order, and
/// how many are no longer kept.
struct Gap {
    records: Vec<Arc<Record>>,
    missed: u64,
}

impl<M: Mailbox> Lobby<M> {
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
                let held_for = self.holds.held.get(name.key()).map(|h| h.session);
                if held_for.is_some_and(|s| s != Some(session.id)) {
                    return self.refuse_resume(id);
                }
                self.holds.held.remove(name.key());
                None
            }
        };
        if let Some(ghost) = ghost {
            self.close_ghost(ghost, &name);
        }
        self.names.insert(name.shared_key(), id);
        self.main.enter(id);
        self.desk.by_session.insert(session.id, id);
        self.sessions.resumed(session.id, id);
        let Some(client) = self.desk.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        client.name = Some(name.clone());
        client.session = session.id;
        client.resumable = true;
        self.tell_login(id, &token, true, &reply::logged_in(name.as_str()));
        let gap = self.gap(last, Some(session.id)).unwrap_or(Gap {
            records: Vec::new(),
            missed: 0,
        });
        let n = gap.records.len();
        let header = reply::resume_header(n, gap.missed);
        self.block_of(id, (&header, reply::RESUME_END), gap);
        // Whoever saw it leave sees it come back; a ghost never left.
        if ghost.is_none() && self.announces(self.main.online()) {
            let meta = self.meta_by(id);
            self.main.keep(Draft::join(name.as_str()), meta);
        }
        Happened::Resumed(name)
    }

    /// `/history after ID`: everything kept after it, for `id`.
    pub(super) fn history_after(&mut self, id: ClientId, after: Id) {
        let session = Some(self.desk.session_of(id)).filter(|&s| s != 0);
        match self.gap(after, session) {
            Ok(gap) => {
                let n = gap.records.len();
                let header = reply::after_header(n, after, gap.missed);
                let footer = reply::after_footer(n, after);
                self.block_of(id, (&header, &footer), gap);
            }
            Err(ahead) => self.desk.tell(id, &reply::error(ahead)),
        }
    }

    /// What was kept after `after` in `#main` and, for `session`, in the
    /// private stream (and what an older store kept in `#main`'s), merged
    /// in id order. Ids come from one sequence: an id newer than one
    /// stream's newest is not ahead unless it is newer than all.
    fn gap(&self, after: Id, session: Option<SessionId>) -> Result<Gap, Ahead> {
        let newest = self.newest();
        if after > newest {
            return Err(Ahead { newest });
        }
        let mut records = Vec::new();
        let mut missed = 0;
        let streams = [&self.main.keeper().stream, &self.private.stream];
        for stream in streams {
            if let Ok(replay) = stream.after(after, session) {
                missed = missed.max(replay.missed);
                records.extend(replay.records);
            }
        }
        records.sort_by_key(|r| r.id);
        records.dedup_by_key(|r| r.id);
        Ok(Gap { records, missed })
    }

    /// A block of `gap` for `id`, each private message shown as `id`'s
    /// session saw it.
    fn block_of(&mut self, id: ClientId, (header, footer): (&str, &str), gap: Gap) {
        let viewer = self.desk.session_of(id);
        let streams = [&self.main.keeper().stream, &self.private.stream];
        // Which private messages the viewer sent, asked now: the writer
        // that makes the lines has no history to ask.
        let sent: Vec<bool> = gap
            .records
            .iter()
            .map(|r| {
                matches!(r.kind, Kind::Private { .. })
                    && streams.iter().any(|s| s.history().sent_by(viewer, r.id))
            })
            .collect();
        let records = gap.records;
        blocks::block(
            &mut self.desk,
            id,
            (header, footer),
            records,
            sent,
            gap.missed,
        );
    }

    fn refuse_resume(&mut self, id: ClientId) -> Happened {
        self.desk.tell(id, reply::RESUME_REFUSED);
        Happened::LoginRefused("a session could not be resumed".to_string())
    }

    /// Takes a ghost out without a leave notice: its session goes on, on
    /// a new connection. The owner closes it.
    fn close_ghost(&mut self, ghost: ClientId, name: &Name) {
        let Some(client) = self.desk.clients.remove(&ghost) else {
            return;
        };
        if client.tagged {
            self.desk.tagged_count -= 1;
        }
        self.names.remove(name.key());
        self.main.exit(ghost);
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
        }
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
        self.private.stream.forget(session);
        self.main.keeper_mut().stream.forget(session);
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
