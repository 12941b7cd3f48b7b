//! One room: its members, its stream (ids, history, batches, the store),
//! its relay and its notices. The lobby owns the rooms and the
//! connections; a room borrows the lobby's [`Desk`] to reach its members.
//! Adding a room is making a value.

use std::sync::Arc;

use crate::protocol::message::reply;
use crate::protocol::room::RoomName;
use crate::protocol::rooms;
use crate::protocol::tagged::{Kept, Reply, Tags};
use crate::stream::{Draft, PackedRecord, Record, RoomStream, Settled};

use super::blocks::{self, Shown};
use super::client_id::ClientId;
use super::desk::{meaning_of, Desk};
use super::kept::{Done, Keeper, Meta};
use super::mailbox::Mailbox;

/// How many messages `/history` shows when not told.
pub const HISTORY_ASK: usize = 20;

/// One room. See the module's comment.
pub struct Room {
    /// Its name as its creator spelled it (`#main`).
    name: RoomName,
    /// Its folded key (what the lobby finds it by): members' current
    /// room is this very `Arc`, so "is it theirs?" is a pointer compare.
    key: Arc<str>,
    /// The name as shown, shared by the lines that carry it.
    shown: Arc<str>,
    /// The topic, if one was set (at most [`rooms::MOST_TOPIC_BYTES`]).
    pub topic: Option<String>,
    /// Logged-in members, in the order they came (the order of `/who`).
    members: Vec<ClientId>,
    /// What the room keeps.
    keeper: Keeper,
    /// Sessions away that were in it and may resume (members in waiting):
    /// while there are any, the room is not forgotten, so that a resume
    /// finds it, and its lines since, again.
    waiting: u32,
}

impl Room {
    pub fn new(name: RoomName, stream: RoomStream) -> Room {
        Room {
            key: name.shared_key(),
            shown: name.as_str().into(),
            name,
            topic: None,
            members: Vec::new(),
            keeper: Keeper::new(stream),
            waiting: 0,
        }
    }

    /// Its name as shown.
    pub fn name(&self) -> &RoomName {
        &self.name
    }

    /// Its name as shown, shared (the lines that carry it hold it too).
    pub fn shown(&self) -> &Arc<str> {
        &self.shown
    }

    /// Its key, the one the lobby and its members hold.
    pub fn key(&self) -> &Arc<str> {
        &self.key
    }

    /// Whether `id` is a member.
    pub fn has(&self, id: ClientId) -> bool {
        self.members.contains(&id)
    }

    /// Whether nobody uses it: nobody in it or waiting to come back, and
    /// nothing on its way. Such a room may be set aside for a new one.
    pub fn is_unused(&self) -> bool {
        self.members.is_empty() && self.waiting == 0 && self.keeper.in_flight() == 0
    }

    /// Whether nothing would be lost if the room were forgotten: nobody
    /// in it or waiting to come back, nothing on its way, nothing said
    /// kept, no topic.
    pub fn is_idle(&self) -> bool {
        self.members.is_empty()
            && self.waiting == 0
            && self.keeper.in_flight() == 0
            && self.topic.is_none()
            && !self.keeper.stream.has_said()
    }

    pub fn online(&self) -> usize {
        self.members.len()
    }

    pub fn members(&self) -> &[ClientId] {
        &self.members
    }

    /// What the member list holds room for (a wave that left must give it back).
    #[cfg(test)]
    pub fn members_capacity(&self) -> usize {
        self.members.capacity()
    }

    pub fn keeper(&self) -> &Keeper {
        &self.keeper
    }

    pub fn keeper_mut(&mut self) -> &mut Keeper {
        &mut self.keeper
    }

    /// `id` is a member from now on.
    pub fn enter(&mut self, id: ClientId) {
        self.members.push(id);
    }

    /// One more session away may come back to the room.
    pub fn wait(&mut self) {
        self.waiting += 1;
    }

    /// A session that could have come back no longer waits (it came
    /// back, or it is over).
    pub fn stop_waiting(&mut self) {
        self.waiting = self.waiting.saturating_sub(1);
    }

    /// `id` is a member no more (nothing is told).
    pub fn exit(&mut self, id: ClientId) {
        self.members.retain(|&m| m != id);
        // A list keeps its room when emptied: a wave of 15,000 left
        // megabytes behind. Halved once mostly empty.
        if self.members.capacity() > 64 && self.members.len() < self.members.capacity() / 4 {
            self.members.shrink_to(self.members.capacity() / 2);
        }
    }

    /// Keeps `draft` once the event is over.
    pub fn keep(&mut self, draft: Draft, meta: Meta) {
        self.keeper.keep(draft, meta);
    }

    /// Appends what the event kept; relays whatever settled meanwhile
    /// (everything, in memory). Whether a batch appended before settled
    /// (the room may have become idle: see [`Room::is_idle`]).
    pub fn commit<M: Mailbox>(&mut self, desk: &mut Desk<M>) -> bool {
        if let Some(done) = self.keeper.commit(&mut desk.next_id, &mut desk.waits) {
            self.finish(done, desk);
        }
        let mut settled = false;
        while self.keeper.in_flight() > 0 {
            match self.keeper.try_settled(&mut desk.waits) {
                Some(Some(done)) => self.finish(done, desk),
                Some(None) => {}
                None => break,
            }
            settled = true;
        }
        settled
    }

    /// A batch of this room's stream settled: relay it.
    pub fn settle<M: Mailbox>(&mut self, settled: Settled, desk: &mut Desk<M>) {
        if let Some(done) = self.keeper.settle(settled, &mut desk.waits) {
            self.finish(done, desk);
        }
    }

    fn finish<M: Mailbox>(&self, done: Done, desk: &mut Desk<M>) {
        match done.outcome {
            Ok(records) => {
                for (record, meta) in records.iter().zip(&done.metas) {
                    self.relay(record, meta, desk);
                }
            }
            Err(why) => {
                for meta in &done.metas {
                    self.unsaved(meta, &why, desk);
                }
            }
        }
    }

    /// Sends a settled record to every member: one shared line for the
    /// plain members whose current room this is, one with the room's
    /// name in front for the other plain ones, one tagged (with the
    /// room's name in a tag) for the tagged ones, and the echo to its
    /// sender.
    fn relay<M: Mailbox>(&self, record: &Record, meta: &Meta, desk: &mut Desk<M>) {
        if record.kind.is_said() {
            desk.relayed += 1;
        }
        let author = blocks::author(desk, meta);
        let label = blocks::label_of(meta, author);
        let plain = Arc::new(blocks::room_line(&record.kind));
        let except = author.unwrap_or(ClientId::MAX);
        let Desk {
            clients,
            tally,
            overflowed,
            tagged_count,
            ..
        } = desk;
        let mut prefixed: Option<Arc<String>> = None;
        let tagged = (*tagged_count > 0).then(|| Arc::new(self.tags(record).line(&plain)));
        for &id in &self.members {
            let Some(client) = clients.get(&id) else {
                continue;
            };
            let delivered = match (&tagged, client.tagged) {
                (Some(_), true) if id == except => {
                    // The echo: the sender's own message, with its id.
                    let echo = self.tags(record).answering(label).line(&plain);
                    client.mailbox.deliver(&echo, tally)
                }
                (Some(tagged), true) => client.mailbox.deliver_shared(tagged, tally),
                _ if id == except => continue,
                _ if client.is_current(&self.key) => client.mailbox.deliver_shared(&plain, tally),
                _ => {
                    let line = prefixed.get_or_insert_with(|| {
                        Arc::new(rooms::reply::prefixed(&self.shown, &plain))
                    });
                    client.mailbox.deliver_shared(line, tally)
                }
            };
            if !delivered {
                overflowed.push(id);
            }
        }
    }

    /// A kept record's tags: its id, time and room.
    fn tags(&self, record: &Record) -> Tags {
        blocks::kept_tags(record).with("room", rooms::tag_value(&self.shown))
    }

    /// The store could not save what `meta` describes: its sender is told
    /// and nothing is relayed, except a notice, which is shown without an id.
    fn unsaved<M: Mailbox>(&self, meta: &Meta, why: &str, desk: &mut Desk<M>) {
        let author = blocks::author(desk, meta);
        if let Some(kind) = &meta.notice {
            let plain = blocks::room_line(kind);
            for &id in self.members.iter().filter(|&&id| Some(id) != author) {
                self.tell(desk, id, &plain);
            }
            return;
        }
        blocks::tell_unsaved(desk, meta, author, why);
    }

    /// The names of the members, in the order they came.
    pub fn names<'d, M: Mailbox>(&self, desk: &'d Desk<M>) -> Vec<&'d str> {
        self.members
            .iter()
            .filter_map(|m| desk.clients.get(m)?.name.as_ref())
            .map(|n| n.as_str())
            .collect()
    }

    /// [`Room::names`], owned: what a `/who` answer tells while it
    /// borrows the desk to send.
    pub fn owned_names<M: Mailbox>(&self, desk: &Desk<M>) -> Vec<String> {
        self.names(desk).into_iter().map(String::from).collect()
    }

    /// Bytes a `/who` of this room sends now (what it is charged).
    pub fn who_bytes<M: Mailbox>(&self, desk: &Desk<M>) -> usize {
        let names: usize = self.names(desk).iter().map(|n| n.len() + 2).sum();
        let lines = self.members.len() / reply::WHO_PER_LINE + 1;
        names + lines * "Server: Online, continued: \n".len()
    }

    /// A late joiner's block: the last `replay` messages before it came.
    pub fn joiner_block<M: Mailbox>(&self, id: ClientId, replay: usize, desk: &mut Desk<M>) {
        if replay == 0 {
            return;
        }
        let records = self.keeper.stream.last_said(replay);
        if records.is_empty() {
            return;
        }
        let n = records.len();
        let (header, footer) = (reply::joiner_header(n), reply::last_footer(n));
        let shown = self.shown_to(desk, id, records);
        blocks::block(desk, id, (&header, &footer), shown, 0, Some(&self.shown));
    }

    /// `/history [N]`: the last N messages people said here.
    pub fn history_last<M: Mailbox>(&self, id: ClientId, n: Option<usize>, desk: &mut Desk<M>) {
        let records = self.keeper.stream.last_said(n.unwrap_or(HISTORY_ASK));
        let n = records.len();
        let (header, footer) = (reply::last_header(n), reply::last_footer(n));
        let shown = self.shown_to(desk, id, records);
        blocks::block(desk, id, (&header, &footer), shown, 0, Some(&self.shown));
    }

    /// `records` of this room, as a block shows them to `id`.
    pub fn shown_to<M: Mailbox>(
        &self,
        desk: &Desk<M>,
        id: ClientId,
        records: Vec<PackedRecord>,
    ) -> Vec<Shown> {
        let current = desk
            .clients
            .get(&id)
            .is_some_and(|c| c.is_current(&self.key));
        records
            .into_iter()
            .map(|record| Shown {
                record,
                sent: false,
                room: Some(Arc::clone(&self.shown)),
                current,
            })
            .collect()
    }

    /// Tells `id` a line of this room that is not kept (a topic, a notice
    /// the store could not save): prefixed or tagged as the room's lines are.
    pub fn tell<M: Mailbox>(&self, desk: &mut Desk<M>, id: ClientId, line: &str) {
        self.tell_as(desk, id, line, meaning_of(line));
    }

    /// [`Room::tell`], with what the line means for a tagged client.
    pub fn tell_as<M: Mailbox>(
        &self,
        desk: &mut Desk<M>,
        id: ClientId,
        line: &str,
        meaning: Reply<'_>,
    ) {
        let Some(client) = desk.clients.get(&id) else {
            return;
        };
        if client.tagged {
            let now = desk.now();
            let line = Tags::at(now)
                .with("room", rooms::tag_value(&self.shown))
                .answering(desk.label_for(id))
                .reply(meaning)
                .line(line);
            desk.send(id, &line);
        } else if client.is_current(&self.key) {
            desk.send(id, line);
        } else {
            desk.send(id, &rooms::reply::prefixed(&self.shown, line));
        }
    }

    /// Tells every member `line` (see [`Room::tell`]).
    pub fn tell_all<M: Mailbox>(&self, desk: &mut Desk<M>, line: &str) {
        for &id in &self.members {
            self.tell(desk, id, line);
        }
    }

    /// Tells every member the topic `by` set: `line` as any line of the
    /// room, tagged `kind=topic,from=BY` for a tagged member (a topic is
    /// not a kept record: it has no id).
    pub fn tell_topic<M: Mailbox>(&self, desk: &mut Desk<M>, by: &str, line: &str) {
        for &id in &self.members {
            if !desk.is_tagged(id) {
                self.tell(desk, id, line);
                continue;
            }
            let line = Tags::at(desk.now())
                .kept_as(Kept::Topic { from: by })
                .with("room", rooms::tag_value(&self.shown))
                .answering(desk.label_for(id))
                .line(line);
            desk.send(id, &line);
        }
    }

    /// Whether the room keeps any history at all (`--history 0`: none).
    pub fn keeps_history(&self) -> bool {
        self.keeper.stream.history().limits().room.count > 0
    }
}
