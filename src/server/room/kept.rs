//! What the room keeps: every chat, action, private message and notice
//! goes to the room's stream first and reaches anyone only once the
//! stream has settled it (at once in memory; once synced with a store).
//! Batches settle in the order they were appended, so everyone sees kept
//! messages in id order. Also here: the history blocks built from what is
//! kept (a late joiner's, `/history`'s).

use std::sync::Arc;

use crate::protocol::message::{reply, HistoryAsk};
use crate::protocol::stamp::stamp;
use crate::protocol::tagged::{Kept, Reply, Tags};
use crate::stream::record::RECORD_OVERHEAD;
use crate::stream::{Draft, Kind, Record, SessionId, Settled, Ticket};

use super::{ClientId, Mailbox, Room, HISTORY_ASK};

/// A history line's bytes beyond its record's text and names, as charged
/// to the output meter: the time in front (`[MM-DD HH:MM] `) or a tagged
/// line's id and time, and the line's punctuation.
const SHOWN_OVERHEAD: usize = 32;

/// Who a kept message is from and for, beside what it says.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The connection whose line it was (its echo goes there, nobody
    /// else's); None for a leave notice.
    by: Option<ClientId>,
    /// That connection's session, to find it again after a resume.
    by_session: Option<SessionId>,
    /// The label of the line, which its echo or error answers.
    label: Option<Box<str>>,
    /// A private message's receiver.
    to_session: Option<SessionId>,
    /// Whether the sender waits for an answer to it (an echo or a private
    /// message's copy): then its next lines wait until it settles.
    answers: bool,
    /// A notice (join, leave, rename) keeps what it says: if the store
    /// cannot save it, it is still shown (without an id), for the room's
    /// list of who is here must stay right.
    notice: Option<Kind>,
}

impl Meta {
    /// A notice not caused by a line of `by`'s own (a leave).
    pub fn notice(by: Option<ClientId>) -> Meta {
        Meta {
            by,
            ..Meta::default()
        }
    }

    /// A private message's meta, for the receiver's session.
    pub fn to(mut self, session: SessionId) -> Meta {
        self.to_session = Some(session);
        self.answers = true;
        self
    }
}

/// A batch appended to the stream and not settled yet.
pub struct Batch {
    ticket: Ticket,
    /// One for each draft, in order.
    metas: Vec<Meta>,
    /// The client whose answers wait for it, if any.
    owner: Option<ClientId>,
    /// Otherwise the client whose line it is, if any: only its
    /// `/history` waits for it.
    sender: Option<ClientId>,
}

impl<M: Mailbox> Room<M> {
    /// What a kept message from `id`'s current line carries.
    pub(super) fn meta_by(&self, id: ClientId) -> Meta {
        let client = self.clients.get(&id);
        Meta {
            by: Some(id),
            by_session: client.map(|c| c.session).filter(|&s| s != 0),
            label: self.label_for(id).map(Box::from),
            to_session: None,
            answers: client.is_some_and(|c| c.tagged),
            notice: None,
        }
    }

    /// Keeps `draft` once the event is over (see [`Room::commit`]).
    pub(super) fn keep(&mut self, draft: Draft, mut meta: Meta) {
        if !draft.kind().is_room() || draft.kind().is_said() {
            meta.notice = None;
        } else {
            meta.notice = Some(draft.kind().clone());
        }
        self.kept.push((draft, meta));
    }

    /// Appends what the event kept to the stream as one batch; whatever
    /// has settled meanwhile (everything, in memory) is relayed now.
    pub(super) fn commit(&mut self) {
        if !self.kept.is_empty() {
            let (drafts, metas): (Vec<Draft>, Vec<Meta>) = self.kept.drain(..).unzip();
            let owner = metas.iter().find(|m| m.answers).and_then(|m| m.by);
            let sender = match owner {
                Some(_) => None,
                None => metas.iter().find_map(|m| m.by),
            };
            match self.stream.append(drafts) {
                Ok(ticket) => {
                    if let Some(owner) = owner {
                        *self.busy.entry(owner).or_default() += 1;
                    }
                    if let Some(sender) = sender {
                        *self.unsettled.entry(sender).or_default() += 1;
                    }
                    self.in_flight.push_back(Batch {
                        ticket,
                        metas,
                        owner,
                        sender,
                    });
                }
                Err(backlog) => {
                    let why = backlog.to_string();
                    for meta in &metas {
                        self.unsaved(meta, &why);
                    }
                }
            }
        }
        while let Some(settled) = self.stream.try_settled() {
            self.settle(settled);
        }
    }

    /// Relays a settled batch, or tells its senders it was not saved.
    /// Returns the client whose lines waited for it.
    pub fn settle(&mut self, settled: Settled) -> Option<ClientId> {
        let at = self
            .in_flight
            .iter()
            .position(|b| Some(b.ticket) == settled.ticket)?;
        let batch = self.in_flight.remove(at)?;
        match settled.outcome {
            Ok(records) => {
                for (record, meta) in records.iter().zip(&batch.metas) {
                    self.relay(record, meta);
                }
            }
            Err(err) => {
                let why = err.to_string();
                for meta in &batch.metas {
                    self.unsaved(meta, &why);
                }
            }
        }
        if let Some(sender) = batch.sender {
            if let Some(count) = self.unsettled.get_mut(&sender) {
                *count -= 1;
                if *count == 0 {
                    self.unsettled.remove(&sender);
                    self.unblocked.push(sender);
                }
            }
        }
        let owner = batch.owner?;
        if let Some(count) = self.busy.get_mut(&owner) {
            *count -= 1;
            if *count == 0 {
                self.busy.remove(&owner);
                self.unblocked.push(owner);
            }
        }
        Some(owner)
    }

    /// Clients no longer busy since the last call (whatever settled their
    /// last batch: the owner's wait, or a later commit that found it done).
    pub fn take_unblocked(&mut self) -> Vec<ClientId> {
        std::mem::take(&mut self.unblocked)
    }

    /// Whether `id` waits for a batch of its own to settle: its next lines
    /// must wait too, or their answers would overtake that one's.
    pub fn is_busy(&self, id: ClientId) -> bool {
        self.busy.contains_key(&id)
    }

    /// Whether a client that waits for no answers (a plain one) has lines
    /// of its own not settled yet: its `/history` waits for them.
    pub fn has_unsettled(&self, id: ClientId) -> bool {
        self.unsettled.contains_key(&id)
    }

    /// Batches appended and not settled yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The room's stream (to wait for batches to settle).
    pub fn stream_mut(&mut self) -> &mut crate::stream::RoomStream {
        &mut self.stream
    }

    /// The connection a meta's sender has now (it may have resumed on
    /// another one).
    fn author(&self, meta: &Meta) -> Option<ClientId> {
        match meta.by_session {
            Some(session) => self.by_session.get(&session).copied(),
            None => meta.by,
        }
    }

    /// The label an answer to `meta`'s line carries on `author`'s
    /// connection: none on a connection other than the one the line came
    /// on (a resume happened meanwhile), where that label means nothing.
    fn label_of<'m>(&self, meta: &'m Meta, author: Option<ClientId>) -> Option<&'m str> {
        meta.label
            .as_deref()
            .filter(|_| author.is_some() && author == meta.by)
    }

    /// Sends a settled record to whoever it is for.
    fn relay(&mut self, record: &Record, meta: &Meta) {
        if record.kind.is_said() || !record.kind.is_room() {
            self.relayed += 1;
        }
        let author = self.author(meta);
        let label = self.label_of(meta, author);
        if let Kind::Private { from, to, text } = &record.kind {
            // Noted for the sessions that may resume after a restart.
            if let Some(to) = meta.to_session {
                self.sessions.kept_private(to, record.id, false);
            }
            if let Some(by) = meta.by_session.filter(|&by| Some(by) != meta.to_session) {
                self.sessions.kept_private(by, record.id, true);
            }
            let receiver = meta
                .to_session
                .and_then(|s| self.by_session.get(&s).copied());
            if let Some(receiver) = receiver {
                let line = reply::private_from(from, text);
                self.send_kept(receiver, record, None, &line);
            }
            if let Some(author) = author {
                let line = reply::private_to(to, text);
                self.send_kept(author, record, label, &line);
            }
            return;
        }
        let plain = Arc::new(room_line(&record.kind));
        let except = author.unwrap_or(ClientId::MAX);
        if self.tagged_count == 0 {
            // A room of `nc`-style clients only: the loop it had before
            // there were tags (this is the room's hottest loop).
            for (&id, client) in &self.clients {
                if id == except || client.name.is_none() {
                    continue;
                }
                if !client.mailbox.deliver_shared(&plain, &mut self.tally) {
                    self.overflowed.push(id);
                }
            }
            return;
        }
        let tagged = Arc::new(kept_tags(record).line(&plain));
        for (&id, client) in &self.clients {
            if client.name.is_none() {
                continue;
            }
            let delivered = if id == except {
                if !client.tagged {
                    continue;
                }
                // The echo: the sender's own message, with its id.
                let echo = kept_tags(record).answering(label).line(&plain);
                client.mailbox.deliver(&echo, &mut self.tally)
            } else if client.tagged {
                client.mailbox.deliver_shared(&tagged, &mut self.tally)
            } else {
                client.mailbox.deliver_shared(&plain, &mut self.tally)
            };
            if !delivered {
                self.overflowed.push(id);
            }
        }
    }

    /// A kept line to one connection: tagged with its id if it is tagged.
    fn send_kept(&mut self, id: ClientId, record: &Record, label: Option<&str>, line: &str) {
        match self.clients.get(&id) {
            Some(client) if client.tagged => {
                let line = kept_tags(record).answering(label).line(line);
                self.send(id, &line);
            }
            Some(_) => self.send(id, line),
            None => {}
        }
    }

    /// The store could not save what `meta` describes: its sender is told
    /// and nothing is relayed, except a notice, which is shown without an id.
    fn unsaved(&mut self, meta: &Meta, why: &str) {
        let author = self.author(meta);
        if let Some(kind) = &meta.notice {
            let plain = room_line(kind);
            let now = (self.clock)();
            let ids: Vec<ClientId> = self
                .clients
                .iter()
                .filter(|(&id, c)| c.name.is_some() && Some(id) != author)
                .map(|(&id, _)| id)
                .collect();
            for id in ids {
                if self.is_tagged(id) {
                    self.send(id, &Tags::at(now).line(&plain));
                } else {
                    self.send(id, &plain);
                }
            }
            return;
        }
        let Some(author) = author else { return };
        let error = reply::error(why);
        if self.is_tagged(author) {
            let line = Tags::at((self.clock)())
                .reply(Reply::Error)
                .answering(self.label_of(meta, Some(author)))
                .line(&error);
            self.send(author, &line);
        } else {
            self.send(author, &error);
        }
    }

    /// The login line of a tagged client: its session's token and the
    /// newest id it can know of.
    pub(super) fn tell_login(
        &mut self,
        id: ClientId,
        token: &super::sessions::Token,
        resumed: bool,
        line: &str,
    ) {
        let name = self.name_of(id).map(|n| n.as_str().to_string());
        let name = name.unwrap_or_default();
        let mut tags = Tags::at((self.clock)())
            .reply(Reply::LoggedIn { name: &name })
            .with("session", super::sessions::to_hex(token))
            .with("last", self.stream.history().newest());
        if resumed {
            tags = tags.flag("resumed");
        }
        let line = tags.answering(self.label_for(id)).line(line);
        self.send(id, &line);
    }

    /// A late joiner's block: the last messages before it came.
    pub(super) fn joiner_block(&mut self, id: ClientId) {
        if self.replay == 0 {
            return;
        }
        let records = self.stream.last_said(self.replay);
        if records.is_empty() {
            return;
        }
        let n = records.len();
        self.block(
            id,
            &reply::joiner_header(n),
            &reply::last_footer(n),
            records,
            0,
        );
    }

    /// `/history`: the last N messages, or everything after an id.
    pub(super) fn history(&mut self, id: ClientId, ask: HistoryAsk) {
        if self.stream.history().limits().room.count == 0 {
            self.tell(id, reply::NO_HISTORY);
            return;
        }
        // A script may ask many times in one write, faster than its writer
        // sends the blocks: that is no reason to cut it off as too slow.
        if self.mailbox(id).is_some_and(M::blocks_full) {
            self.tell(id, reply::HISTORY_BUSY);
            return;
        }
        match ask {
            HistoryAsk::Last(n) => {
                let records = self.stream.last_said(n.unwrap_or(HISTORY_ASK));
                let n = records.len();
                self.block(
                    id,
                    &reply::last_header(n),
                    &reply::last_footer(n),
                    records,
                    0,
                );
            }
            HistoryAsk::After(after) => {
                let session = Some(self.session_of(id)).filter(|&s| s != 0);
                match self.stream.after(after, session) {
                    Ok(replay) => {
                        let n = replay.records.len();
                        let header = reply::after_header(n, after, replay.missed);
                        let footer = reply::after_footer(n, after);
                        self.block(id, &header, &footer, replay.records, replay.missed);
                    }
                    Err(ahead) => self.tell(id, &reply::error(ahead)),
                }
            }
        }
    }

    /// A block of kept messages: a header that says how many, each one as
    /// it was relayed (with its time in front for a plain client; tagged
    /// `h`, with its id and time, for a tagged one), and a footer. Queued
    /// as one whole, its lines made as the client's writer gets to them
    /// (see [`Mailbox::deliver_block`]): a block larger than the client's
    /// queue reaches a client that reads it, and live lines come after it.
    pub(super) fn block(
        &mut self,
        id: ClientId,
        header: &str,
        footer: &str,
        records: Vec<Arc<Record>>,
        missed: u64,
    ) {
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        let tagged = client.tagged;
        let viewer = client.session;
        let history = self.stream.history();
        // Which private messages the viewer sent, asked now: the writer
        // that makes the lines has no history to ask.
        let sent: Vec<bool> = records
            .iter()
            .map(|r| matches!(r.kind, Kind::Private { .. }) && history.sent_by(viewer, r.id))
            .collect();
        // What the block costs its address's output meter, counted before
        // its lines are made (they are made as the writer reaches them):
        // each record's text and names, and a share for its time and its
        // shape (`[HH:MM] `, `: `, a tagged line's tags).
        let body: usize = records
            .iter()
            .map(|r| r.weight() - RECORD_OVERHEAD + SHOWN_OVERHEAD)
            .sum();
        let bytes = body + header.len() + footer.len();
        self.blocks_sent.push((id, bytes));
        let now = (self.clock)();
        let (head, foot) = match tagged {
            true => {
                let label = self.label_for(id);
                let head = Tags::at(now)
                    .with("history", records.len())
                    .with("missed", missed)
                    .answering(label)
                    .line(header);
                let foot = Tags::at(now)
                    .with("history", "end")
                    .answering(label)
                    .line(footer);
                (head, foot)
            }
            false => (header.to_string(), footer.to_string()),
        };
        let body = records.into_iter().zip(sent).map(move |(record, sent)| {
            let text = viewed(&record, sent);
            match tagged {
                true => kept_tags(&record).flag("h").line(&text),
                false => format!("{}{text}", stamp(record.time, now)),
            }
        });
        let lines = std::iter::once(head)
            .chain(body)
            .chain(std::iter::once(foot));
        if !client
            .mailbox
            .deliver_block(Box::new(lines), &mut self.tally)
        {
            self.overflowed.push(id);
        }
    }

    /// Messages people said that reached the room (what the status line
    /// counts): a line the store could not save is not one.
    pub fn relayed(&self) -> u64 {
        self.relayed
    }
}

/// A room message as everyone saw it.
fn room_line(kind: &Kind) -> String {
    match kind {
        Kind::Chat { from, text } => reply::chat(from, text),
        Kind::Action { from, text } => reply::action(from, text),
        Kind::Join { from } => reply::joined(from),
        Kind::Leave { from } => reply::left(from),
        Kind::Rename { from, new } => reply::renamed(from, new),
        Kind::Private { from, text, .. } => reply::private_from(from, text),
    }
}

/// The tags of a kept message: its id, its time and what it is.
fn kept_tags(record: &Record) -> Tags {
    let kept = match &record.kind {
        Kind::Chat { from, .. } => Kept::Chat { from },
        Kind::Action { from, .. } => Kept::Action { from },
        Kind::Join { from } => Kept::Join { from },
        Kind::Leave { from } => Kept::Leave { from },
        Kind::Rename { from, new } => Kept::Rename { from, new },
        Kind::Private { from, to, .. } => Kept::Private { from, to },
    };
    Tags::kept(record.id, record.time).kept_as(kept)
}

/// A kept message as its viewer saw it: a private message it `sent` is
/// its `To …` copy.
fn viewed(record: &Record, sent: bool) -> String {
    match &record.kind {
        Kind::Private { to, text, .. } if sent => reply::private_to(to, text),
        kind => room_line(kind),
    }
}
