//! What a stream keeps, on its way: every chat, action, private message
//! and notice goes to a stream first and reaches anyone only once the
//! stream has settled it (at once in memory; once synced with a store).
//! A [`Keeper`] is one stream with the batches appended to it and not
//! settled yet; each room has one, and the lobby one for private
//! messages. Batches settle in the order they were appended, so
//! everyone sees a stream's messages in id order.
//!
//! [`Waits`] is who waits for what: a tagged client's later lines wait
//! until its earlier ones are saved (in whichever stream), a plain
//! client's `/history` until its own lines are.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::stream::{Draft, Id, Kind, Record, RoomStream, SessionId, Settled, Ticket, WriteError};

use super::client_id::ClientId;

/// Who a kept message is from and for, beside what it says.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The connection whose line it was (its echo goes there, nobody
    /// else's); None for a leave notice.
    pub by: Option<ClientId>,
    /// That connection's session, to find it again after a resume.
    pub by_session: Option<SessionId>,
    /// The label of the line, which its echo or error answers.
    pub label: Option<Box<str>>,
    /// A private message's receiver.
    pub to_session: Option<SessionId>,
    /// Whether the sender waits for an answer to it (an echo or a private
    /// message's copy): then its next lines wait until it settles.
    pub answers: bool,
    /// A notice (join, leave, rename) keeps what it says: if the store
    /// cannot save it, it is still shown (without an id), for the room's
    /// list of who is here must stay right.
    pub notice: Option<Kind>,
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
struct Batch {
    ticket: Ticket,
    /// One for each draft, in order.
    metas: Vec<Meta>,
    /// The client whose answers wait for it, if any.
    owner: Option<ClientId>,
    /// Otherwise the client whose line it is, if any: only its
    /// `/history` waits for it.
    sender: Option<ClientId>,
}

/// What became of a batch: its records, in the history now, each with
/// its meta; or why it was not saved.
pub struct Done {
    pub metas: Vec<Meta>,
    pub outcome: Result<Vec<Arc<Record>>, String>,
}

/// Who waits for batches to be saved. See the module's comment.
#[derive(Default)]
pub struct Waits {
    /// Unsettled batches whose answers a client waits for, per client.
    busy: HashMap<ClientId, usize>,
    /// Unsettled batches of a client that waits for no answers.
    unsettled: HashMap<ClientId, usize>,
    /// Clients whose last unsettled batch settled since the owner looked.
    unblocked: Vec<ClientId>,
    /// Why the store's last write failed, while it fails. Kept here, where
    /// every settled batch passes (the broker's wake-up and a commit that
    /// finds its batch synced already), so no change of state goes unseen.
    failing: Option<String>,
    /// What the log is to say of the store since the owner looked.
    store_news: Vec<StoreNews>,
}

/// A change in whether the store saves, for the server's log: said once
/// when it starts failing and once when it saves again, not once a line
/// (a full disk under a flood would fill the log too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreNews {
    /// It cannot save, for this reason.
    Failing(String),
    SavesAgain,
    /// A new room could not be given a folder: why, paths and all (its
    /// joiner is told the cause alone: a path is the operator's business).
    RoomNotKept(String),
}

impl Waits {
    /// Notes what a settled batch says of the store.
    fn saw<T>(&mut self, outcome: &Result<T, WriteError>) {
        match (outcome, &self.failing) {
            (Err(err), None) => {
                self.failing = Some(err.cause.clone());
                self.store_news.push(StoreNews::Failing(err.cause.clone()));
            }
            (Ok(_), Some(_)) => {
                self.failing = None;
                self.store_news.push(StoreNews::SavesAgain);
            }
            _ => {}
        }
    }

    /// Notes `news` for the log.
    pub fn note(&mut self, news: StoreNews) {
        self.store_news.push(news);
    }

    /// What changed for the store since the last call.
    pub fn take_store_news(&mut self) -> Vec<StoreNews> {
        std::mem::take(&mut self.store_news)
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

    /// Clients no longer busy since the last call.
    pub fn take_unblocked(&mut self) -> Vec<ClientId> {
        std::mem::take(&mut self.unblocked)
    }

    fn count(&mut self, batch: &Batch) {
        if let Some(owner) = batch.owner {
            *self.busy.entry(owner).or_default() += 1;
        }
        if let Some(sender) = batch.sender {
            *self.unsettled.entry(sender).or_default() += 1;
        }
    }

    fn uncount(&mut self, batch: &Batch) {
        let pairs = [
            (batch.sender, &mut self.unsettled),
            (batch.owner, &mut self.busy),
        ];
        for (who, counts) in pairs {
            let Some(who) = who else { continue };
            if let Some(count) = counts.get_mut(&who) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&who);
                    self.unblocked.push(who);
                }
            }
        }
    }
}

/// One stream and its batches on their way. See the module's comment.
pub struct Keeper {
    pub stream: RoomStream,
    /// What the event being handled keeps, not yet appended.
    kept: Vec<(Draft, Meta)>,
    /// Batches appended and not settled yet, oldest first.
    in_flight: VecDeque<Batch>,
}

impl Keeper {
    pub fn new(stream: RoomStream) -> Keeper {
        Keeper {
            stream,
            kept: Vec::new(),
            in_flight: VecDeque::new(),
        }
    }

    /// Keeps `draft` once the event is over (see [`Keeper::commit`]).
    pub fn keep(&mut self, draft: Draft, mut meta: Meta) {
        let kind = draft.kind();
        meta.notice = (kind.is_room() && !kind.is_said()).then(|| kind.clone());
        self.kept.push((draft, meta));
    }

    /// Appends what the event kept as one batch, its ids from `next_id`
    /// on. Some(Done) when the stream refused it at once.
    pub fn commit(&mut self, next_id: &mut Option<Id>, waits: &mut Waits) -> Option<Done> {
        if self.kept.is_empty() {
            return None;
        }
        let (drafts, metas): (Vec<Draft>, Vec<Meta>) = self.kept.drain(..).unzip();
        let owner = metas.iter().find(|m| m.answers).and_then(|m| m.by);
        let sender = match owner {
            Some(_) => None,
            None => metas.iter().find_map(|m| m.by),
        };
        if let Some(next) = *next_id {
            self.stream.skip_ids(next);
        }
        match self.stream.append(drafts) {
            Ok(ticket) => {
                *next_id = (*next_id).max(self.stream.next_id());
                let batch = Batch {
                    ticket,
                    metas,
                    owner,
                    sender,
                };
                waits.count(&batch);
                self.in_flight.push_back(batch);
                None
            }
            Err(refused) => Some(Done {
                metas,
                outcome: Err(refused.to_string()),
            }),
        }
    }

    /// A settled batch of this stream, and what became of it. Records
    /// another writer of a shared log appended (no ticket) are relayed
    /// as nobody's.
    pub fn settle(&mut self, settled: Settled, waits: &mut Waits) -> Option<Done> {
        waits.saw(&settled.outcome);
        let Some(ticket) = settled.ticket else {
            let outcome = settled.outcome.map_err(|err| err.to_string());
            let metas = outcome.as_ref().map_or(0, Vec::len);
            return Some(Done {
                metas: vec![Meta::default(); metas],
                outcome,
            });
        };
        let at = self.in_flight.iter().position(|b| b.ticket == ticket)?;
        let batch = self.in_flight.remove(at)?;
        waits.uncount(&batch);
        Some(Done {
            metas: batch.metas,
            outcome: settled.outcome.map_err(|err| err.to_string()),
        })
    }

    /// The next batch settled already, if one is (every one, in memory).
    pub fn try_settled(&mut self, waits: &mut Waits) -> Option<Option<Done>> {
        let settled = self.stream.try_settled()?;
        Some(self.settle(settled, waits))
    }

    /// Batches appended and not settled yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}
