//! Private messages: `/msg`, kept in the lobby's own stream (not a
//! room's), relayed to the two people once settled, and kept for their
//! sessions so that a resume replays them.

use crate::protocol::message::reply;
use crate::protocol::name::Name;
use crate::stream::{Draft, Kind, Record, SessionId, Settled};

use super::super::blocks;
use super::super::client_id::ClientId;
use super::super::kept::{Done, Meta};
use super::super::mailbox::Mailbox;
use super::{Happened, Lobby};

impl<M: Mailbox> Lobby<M> {
    /// `/msg TO TEXT` from `id`, logged in as `from`.
    pub(super) fn private(&mut self, id: ClientId, from: &Name, to: &str, text: &str) -> Happened {
        let target = Name::parse(to)
            .ok()
            .and_then(|n| self.names.get(n.key()).copied());
        let Some(target) = target else {
            if let Some(away) = self.away_session(to) {
                return self.private_to_away(id, from, away, text);
            }
            let error = reply::error(format!("no user named {to} is online"));
            self.desk.tell(id, &error);
            return Happened::Nothing;
        };
        let to_name = self.name_of(target).map(|n| n.as_str().to_string());
        let to_name = to_name.unwrap_or_else(|| to.to_string());
        // A few senders aiming at one person must not push them out as
        // "too slow": private messages get at most half of their queue.
        if target != id && self.mailbox(target).is_some_and(M::far_behind) {
            self.desk.tell(id, &reply::recipient_busy(&to_name));
            return Happened::Nothing;
        }
        let sessions = [self.desk.session_of(id), self.desk.session_of(target)];
        let draft = Draft::private(from.as_str(), &to_name, text, sessions);
        let meta = self.meta_by(id).to(sessions[1]);
        self.private.keep(draft, meta);
        Happened::Relayed
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
        self.desk
            .tell(id, &reply::recipient_away(to.as_str(), minutes));
        let sessions = [self.desk.session_of(id), session];
        let draft = Draft::private(from.as_str(), to.as_str(), text, sessions);
        let meta = self.meta_by(id).to(session);
        self.private.keep(draft, meta);
        Happened::Relayed
    }

    /// Appends the private messages the event kept; relays what settled.
    pub(super) fn commit_private(&mut self) {
        let desk = &mut self.desk;
        if let Some(done) = self.private.commit(&mut desk.next_id, &mut desk.waits) {
            self.finish_private(done);
        }
        while let Some(done) = self.private.try_settled(&mut self.desk.waits) {
            if let Some(done) = done {
                self.finish_private(done);
            }
        }
    }

    /// A batch of the private stream settled.
    pub(super) fn settle_private(&mut self, settled: Settled) {
        if let Some(done) = self.private.settle(settled, &mut self.desk.waits) {
            self.finish_private(done);
        }
    }

    fn finish_private(&mut self, done: Done) {
        match done.outcome {
            Ok(records) => {
                for (record, meta) in records.iter().zip(&done.metas) {
                    self.relay_private(record, meta);
                }
            }
            Err(why) => {
                for meta in &done.metas {
                    let author = blocks::author(&self.desk, meta);
                    blocks::tell_unsaved(&mut self.desk, meta, author, &why);
                }
            }
        }
    }

    /// Sends a settled private message to its receiver and its sender's
    /// copy back, and notes it for their sessions.
    fn relay_private(&mut self, record: &Record, meta: &Meta) {
        let Kind::Private { from, to, text } = &record.kind else {
            return;
        };
        self.desk.relayed += 1;
        // Noted for the sessions that may resume after a restart.
        if let Some(to) = meta.to_session {
            self.sessions.kept_private(to, record.id, false);
        }
        if let Some(by) = meta.by_session.filter(|&by| Some(by) != meta.to_session) {
            self.sessions.kept_private(by, record.id, true);
        }
        let author = blocks::author(&self.desk, meta);
        let label = blocks::label_of(meta, author);
        let receiver = meta
            .to_session
            .and_then(|s| self.desk.by_session.get(&s).copied());
        if let Some(receiver) = receiver {
            let line = reply::private_from(from, text);
            self.send_kept(receiver, record, None, &line);
        }
        if let Some(author) = author {
            let line = reply::private_to(to, text);
            self.send_kept(author, record, label, &line);
        }
    }

    /// A kept line to one connection: tagged with its id if it is tagged.
    fn send_kept(&mut self, id: ClientId, record: &Record, label: Option<&str>, line: &str) {
        match self.desk.is_tagged(id) {
            true => {
                let line = blocks::kept_tags(record)
                    .flag("pm")
                    .answering(label)
                    .line(line);
                self.desk.send(id, &line);
            }
            false => self.desk.send(id, line),
        }
    }
}
