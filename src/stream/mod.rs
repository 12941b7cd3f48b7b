//! A room's stream: what the room keeps, in order. It gives every kept
//! message its id and time, keeps the history in memory and, with a
//! store, makes each batch durable before it counts as said.
//!
//! The broker talks to it through [`RoomStream`] alone:
//!
//! 1. [`RoomStream::append`] a batch of [`Draft`]s (what the room rules
//!    decided to keep for one event); it returns a [`Ticket`].
//! 2. Wait for [`RoomStream::settled`] (or poll [`RoomStream::try_settled`]):
//!    batches settle in the order they were appended, each with its
//!    records (now in the history) or with why they were not saved. Only
//!    then does the broker relay them, or tell the sender they were lost.
//! 3. Ask for the past with [`RoomStream::last`] and [`RoomStream::after`].
//!
//! Without a store a batch settles at once; with one it settles when the
//! writer thread has synced it. Either way the broker's code is the same,
//! and a stream kept elsewhere (a Redis stream shared by several servers)
//! can take this one's place behind the same calls: ids come back with the
//! settled batch, never from the caller.
//!
//! One stream per room; there is one room, [`MAIN`], for now. Its store
//! lives in `DIR/main/`, so more rooms later are more folders.

pub mod access;
pub mod check;
pub mod history;
pub mod id;
pub mod record;
pub mod retry;
pub mod rooms;
pub mod saved;
pub mod segment;
pub mod store;

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::channel::mpsc;
use futures::StreamExt;

pub use history::{Ahead, History, HistoryLimits, Limits, Replay, SessionId};
pub use record::{Id, Kind, Millis, Record, LAST_ID};
pub use store::{Notice, OpenError, Store, StoreConfig, Torn, WriteError};

/// The one room's name, and its folder in a store.
pub const MAIN: &str = "main";

/// The most record bytes (as [`Record::weight`] counts them) a stream
/// holds waiting for the disk before it refuses more: a stalled disk must
/// not fill the server's memory.
pub const MAX_IN_FLIGHT: usize = 16 << 20;

/// Something to keep, before the stream gives it an id and a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    /// What it says.
    kind: Kind,
    /// The two sessions of a private message; None for a room message.
    sessions: Option<[SessionId; 2]>,
}

impl Draft {
    pub fn chat(from: &str, text: &str) -> Draft {
        Draft::room(Kind::Chat {
            from: from.into(),
            text: text.into(),
        })
    }
    /// `/me …`: `text` without the `/me `.
    pub fn action(from: &str, text: &str) -> Draft {
        Draft::room(Kind::Action {
            from: from.into(),
            text: text.into(),
        })
    }
    pub fn join(name: &str) -> Draft {
        Draft::room(Kind::Join { from: name.into() })
    }
    pub fn leave(name: &str) -> Draft {
        Draft::room(Kind::Leave { from: name.into() })
    }
    pub fn rename(old: &str, new: &str) -> Draft {
        Draft::room(Kind::Rename {
            from: old.into(),
            new: new.into(),
        })
    }
    /// A private message, kept for the sender's and the receiver's
    /// sessions (`[from, to]`).
    pub fn private(from: &str, to: &str, text: &str, sessions: [SessionId; 2]) -> Draft {
        Draft {
            kind: Kind::Private {
                from: from.into(),
                to: to.into(),
                text: text.into(),
            },
            sessions: Some(sessions),
        }
    }

    /// What it says.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    fn room(kind: Kind) -> Draft {
        Draft {
            kind,
            sessions: None,
        }
    }
}

/// Names an appended batch until it settles.
pub type Ticket = u64;

/// A batch that settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// What `append` returned for it.
    pub ticket: Ticket,
    /// Its records, in the history now and safe to relay; or why they
    /// were not saved (their ids are not given again).
    pub outcome: Result<Vec<Arc<Record>>, WriteError>,
}

/// Why a batch was refused at once, without using ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotKept {
    /// Too much is still waiting for the disk.
    Backlog,
    /// Its ids would pass [`LAST_ID`] (a store can only be opened below it).
    NoIdsLeft,
}

impl std::fmt::Display for NotKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotKept::Backlog => "not saved: the store is behind (too much is waiting for the disk)",
            NotKept::NoIdsLeft => "not saved: the room has used up its message ids",
        })
    }
}

impl std::error::Error for NotKept {}

/// A batch given ids and waiting to settle.
struct InFlight {
    ticket: Ticket,
    /// With their ids and time, in id order.
    records: Vec<Arc<Record>>,
    /// Each record's sessions (see [`Draft`]).
    sessions: Vec<Option<[SessionId; 2]>>,
    /// The records' weight, counted against [`MAX_IN_FLIGHT`].
    bytes: usize,
}

/// What a settled batch's result comes back through.
type Outcome = (Ticket, Result<(), WriteError>);

/// A room's stream. See the module's comment.
pub struct RoomStream {
    /// The id the next record gets.
    next_id: Id,
    /// The ticket the next batch gets.
    next_ticket: Ticket,
    /// What has settled.
    history: History,
    /// None: memory only.
    store: Option<Store>,
    /// Server time now; injected by tests.
    clock: Box<dyn FnMut() -> Millis + Send>,
    /// Batches appended and not settled yet, oldest first.
    in_flight: VecDeque<InFlight>,
    /// The sum of their weights.
    in_flight_bytes: usize,
    /// Memory-only batches, settled as soon as appended: no channel, no
    /// thread, so a room without a store pays next to nothing for this.
    ready: VecDeque<Outcome>,
    /// Where the store says a batch is settled; a clone goes with every
    /// batch to the writer thread.
    outcomes_tx: mpsc::UnboundedSender<Outcome>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    /// With a store: its sessions file and the sessions it kept, until
    /// the room takes them (see [`RoomStream::take_sessions`]).
    sessions: Option<SavedSessions>,
}

/// A store's sessions: the file to write them to, those that outlived the
/// restart, and how many lines of the file could not be read.
pub struct SavedSessions {
    pub log: saved::SessionsFile,
    pub saved: Vec<saved::Saved>,
    pub unreadable: usize,
}

impl RoomStream {
    /// A stream in memory only: a restart forgets it.
    pub fn memory(limits: HistoryLimits) -> RoomStream {
        RoomStream::new(limits, None, Id::new(1), Id::ZERO)
    }

    /// A stream kept in `root/<room>/` (see [`store`]), recovered from
    /// what is there; also returns what recovery mended or found odd (a
    /// torn last line it dropped, an empty newest file), for the log.
    pub fn open(
        root: &Path,
        room: &str,
        segment_bytes: u64,
        limits: HistoryLimits,
    ) -> Result<(RoomStream, Vec<Notice>), OpenError> {
        let config = StoreConfig {
            dir: root.join(room),
            segment_bytes,
            history: limits.room,
        };
        let (saved, unreadable) = saved::SessionsFile::read(&config.dir)
            .map_err(|err| OpenError::sessions(&config.dir, &err))?;
        let wanted = saved
            .iter()
            .flat_map(|s| s.private.iter().map(|&(id, _)| id))
            .collect();
        let (store, recovered) = Store::open_keeping(&config, &wanted)?;
        let log = saved::SessionsFile::open(&config.dir, &saved)
            .map_err(|err| OpenError::sessions(&config.dir, &err))?;
        let mut stream =
            RoomStream::new(limits, Some(store), recovered.next_id, recovered.trimmed_to);
        for record in recovered.records {
            stream.history.push(Arc::new(record), None);
        }
        // Each saved session's private messages, as it had them.
        let private: std::collections::HashMap<Id, Arc<Record>> = recovered
            .private
            .into_iter()
            .map(|r| (r.id, Arc::new(r)))
            .collect();
        for session in &saved {
            for &(id, sent) in &session.private {
                if let Some(record) = private.get(&id) {
                    stream
                        .history
                        .restore_private(session.id, Arc::clone(record), sent);
                }
            }
        }
        stream.history.skip_to(recovered.next_id.prev());
        stream.sessions = Some(SavedSessions {
            log,
            saved,
            unreadable,
        });
        let notices = (recovered.torn.map(Notice::Torn).into_iter())
            .chain(recovered.empty.map(Notice::Empty))
            .collect();
        Ok((stream, notices))
    }

    fn new(limits: HistoryLimits, store: Option<Store>, next_id: Id, trimmed_to: Id) -> RoomStream {
        let (outcomes_tx, outcomes) = mpsc::unbounded();
        RoomStream {
            next_id,
            next_ticket: 0,
            history: History::new(limits, trimmed_to),
            store,
            clock: Box::new(now),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            ready: VecDeque::new(),
            outcomes_tx,
            outcomes,
            sessions: None,
        }
    }

    /// A store's sessions (once): none in memory only.
    pub fn take_sessions(&mut self) -> Option<SavedSessions> {
        self.sessions.take()
    }

    /// Uses `clock` for records' times (tests).
    pub fn with_clock(mut self, clock: impl FnMut() -> Millis + Send + 'static) -> RoomStream {
        self.clock = Box::new(clock);
        self
    }

    /// Gives `drafts` ids and the time and starts keeping them; they
    /// settle later (see [`RoomStream::settled`]). Refused, without using
    /// ids, while too much waits for the disk, or past [`LAST_ID`].
    pub fn append(&mut self, drafts: Vec<Draft>) -> Result<Ticket, NotKept> {
        let end = (self.next_id.get())
            .checked_add(drafts.len() as u64)
            .filter(|&end| end <= LAST_ID.get() + 1)
            .ok_or(NotKept::NoIdsLeft)?;
        let time = (self.clock)();
        let mut records = Vec::with_capacity(drafts.len());
        let mut sessions = Vec::with_capacity(drafts.len());
        let mut bytes = 0;
        for (n, draft) in (self.next_id.get()..end).zip(drafts) {
            let record = Arc::new(Record {
                id: Id::new(n),
                time,
                kind: draft.kind,
            });
            bytes += record.weight();
            records.push(record);
            sessions.push(draft.sessions);
        }
        // One batch is always taken when nothing waits, however big.
        if self.in_flight_bytes > 0 && self.in_flight_bytes + bytes > MAX_IN_FLIGHT {
            return Err(NotKept::Backlog);
        }
        self.next_id = Id::new(end);
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        match &self.store {
            Some(store) => {
                let tx = self.outcomes_tx.clone();
                store.submit(
                    records.clone(),
                    Box::new(move |result| {
                        // Fails only once the stream is gone: nobody to tell.
                        let _ = tx.unbounded_send((ticket, result));
                    }),
                );
            }
            None => self.ready.push_back((ticket, Ok(()))),
        }
        self.in_flight_bytes += bytes;
        self.in_flight.push_back(InFlight {
            ticket,
            records,
            sessions,
            bytes,
        });
        Ok(ticket)
    }

    /// Waits for the next batch to settle; with nothing in flight, waits
    /// for ever (it is meant for a `select`). Dropping the future loses
    /// nothing.
    pub async fn settled(&mut self) -> Settled {
        if let Some(outcome) = self.ready.pop_front() {
            return self.settle(outcome);
        }
        match self.outcomes.next().await {
            Some(outcome) => self.settle(outcome),
            // `self` holds a sender, so the channel never ends.
            None => futures::future::pending().await,
        }
    }

    /// The next settled batch if one is ready.
    pub fn try_settled(&mut self) -> Option<Settled> {
        let outcome = match self.ready.pop_front() {
            Some(outcome) => outcome,
            None => self.outcomes.try_recv().ok()?,
        };
        Some(self.settle(outcome))
    }

    fn settle(&mut self, (ticket, result): Outcome) -> Settled {
        // Batches settle in the order they were appended: the writer
        // thread works through them in turn.
        let batch = match self.in_flight.front() {
            Some(front) if front.ticket == ticket => self.in_flight.pop_front(),
            _ => self
                .in_flight
                .iter()
                .position(|b| b.ticket == ticket)
                .and_then(|at| self.in_flight.remove(at)),
        };
        let Some(batch) = batch else {
            return Settled {
                ticket,
                outcome: Ok(Vec::new()),
            };
        };
        self.in_flight_bytes -= batch.bytes;
        let outcome = match result {
            Ok(()) => {
                for (record, sessions) in batch.records.iter().zip(batch.sessions) {
                    self.history.push(Arc::clone(record), sessions);
                }
                Ok(batch.records)
            }
            Err(err) => {
                if let Some(last) = batch.records.last() {
                    self.history.skip_to(last.id);
                }
                Err(err)
            }
        };
        Settled { ticket, outcome }
    }

    /// The last `k` room messages settled, oldest first.
    pub fn last(&self, k: usize) -> Vec<Arc<Record>> {
        self.history.last(k)
    }

    /// The last `k` room messages people said, oldest first (see
    /// [`History::last_said`]).
    pub fn last_said(&self, k: usize) -> Vec<Arc<Record>> {
        self.history.last_said(k)
    }

    /// Everything settled after `id`: room messages and `session`'s
    /// private ones. See [`History::after`].
    pub fn after(&self, id: Id, session: Option<SessionId>) -> Result<Replay, Ahead> {
        self.history.after(id, session)
    }

    /// Drops a session's private messages (its resume window has passed).
    pub fn forget(&mut self, session: SessionId) {
        self.history.forget(session);
    }

    /// The history itself (its size, for figures).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The id the next record will get.
    pub fn next_id(&self) -> Id {
        self.next_id
    }

    /// Bytes of records appended and not settled yet.
    pub fn waiting_bytes(&self) -> usize {
        self.in_flight_bytes
    }

    /// Whether records are kept on disk.
    pub fn is_durable(&self) -> bool {
        self.store.is_some()
    }
}

/// The server's clock, in milliseconds since the Unix epoch (0 for a clock
/// set before 1970).
pub fn now() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

#[cfg(test)]
mod tests;
