//! One room: its members, its stream (ids, history, batches, the store),
//! its relay and its notices. The lobby owns the rooms and the
//! connections; a room borrows the lobby's [`Desk`] to reach its members.
//! Adding a room is making a value.

use std::sync::Arc;

use crate::protocol::message::reply;
use crate::protocol::tagged::Tags;
use crate::stream::{Draft, Record, RoomStream, Settled};

use super::blocks;
use super::client_id::ClientId;
use super::desk::Desk;
use super::kept::{Done, Keeper, Meta};
use super::mailbox::Mailbox;

/// How many messages `/history` shows when not told.
pub const HISTORY_ASK: usize = 20;

/// One room. See the module's comment.
pub struct Room {
    /// Its name as shown (`#main`).
    name: Arc<str>,
    /// Logged-in members, in the order they came (the order of `/who`).
    members: Vec<ClientId>,
    /// What the room keeps.
    keeper: Keeper,
}

impl Room {
    pub fn new(name: &str, stream: RoomStream) -> Room {
        Room {
            name: name.into(),
            members: Vec::new(),
            keeper: Keeper::new(stream),
        }
    }

    /// Its name as shown.
    pub fn name(&self) -> &str {
        &self.name
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
    /// (everything, in memory).
    pub fn commit<M: Mailbox>(&mut self, desk: &mut Desk<M>) {
        if let Some(done) = self.keeper.commit(&mut desk.next_id, &mut desk.waits) {
            self.finish(done, desk);
        }
        while let Some(done) = self.keeper.try_settled(&mut desk.waits) {
            if let Some(done) = done {
                self.finish(done, desk);
            }
        }
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
    /// plain ones, one for the tagged ones, the echo to its sender.
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
        if *tagged_count == 0 {
            // A room of `nc`-style clients only: the loop it had before
            // there were tags (this is the server's hottest loop).
            for &id in &self.members {
                let Some(client) = clients.get(&id).filter(|_| id != except) else {
                    continue;
                };
                if !client.mailbox.deliver_shared(&plain, tally) {
                    overflowed.push(id);
                }
            }
            return;
        }
        let tagged = Arc::new(Tags::kept(record.id, record.time).line(&plain));
        for &id in &self.members {
            let Some(client) = clients.get(&id) else {
                continue;
            };
            let delivered = if id == except {
                if !client.tagged {
                    continue;
                }
                // The echo: the sender's own message, with its id.
                let echo = Tags::kept(record.id, record.time)
                    .answering(label)
                    .line(&plain);
                client.mailbox.deliver(&echo, tally)
            } else if client.tagged {
                client.mailbox.deliver_shared(&tagged, tally)
            } else {
                client.mailbox.deliver_shared(&plain, tally)
            };
            if !delivered {
                overflowed.push(id);
            }
        }
    }

    /// The store could not save what `meta` describes: its sender is told
    /// and nothing is relayed, except a notice, which is shown without an id.
    fn unsaved<M: Mailbox>(&self, meta: &Meta, why: &str, desk: &mut Desk<M>) {
        let author = blocks::author(desk, meta);
        if let Some(kind) = &meta.notice {
            let plain = blocks::room_line(kind);
            let now = desk.now();
            for &id in self.members.iter().filter(|&&id| Some(id) != author) {
                desk.send_untagged_kept(id, &plain, now);
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
        let sent = vec![false; n];
        blocks::block(desk, id, (&header, &footer), records, sent, 0);
    }

    /// `/history [N]`: the last N messages people said here.
    pub fn history_last<M: Mailbox>(&self, id: ClientId, n: Option<usize>, desk: &mut Desk<M>) {
        let records = self.keeper.stream.last_said(n.unwrap_or(HISTORY_ASK));
        let n = records.len();
        let (header, footer) = (reply::last_header(n), reply::last_footer(n));
        let sent = vec![false; n];
        blocks::block(desk, id, (&header, &footer), records, sent, 0);
    }

    /// Whether the room keeps any history at all (`--history 0`: none).
    pub fn keeps_history(&self) -> bool {
        self.keeper.stream.history().limits().room.count > 0
    }
}
