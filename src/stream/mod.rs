//! A room's stream: what the room keeps, in order. It gives every kept
//! message its id and time (through its backend), keeps the history in
//! memory and, with a store, makes each batch durable before it counts as
//! said.
//!
//! The broker talks to it through [`RoomStream`] alone:
//!
//! 1. [`RoomStream::append`] a batch of [`Draft`]s (what the room rules
//!    decided to keep for one event); it returns a [`Ticket`].
//! 2. Wait for [`RoomStream::settled`] (or poll [`RoomStream::try_settled`]):
//!    batches settle in the order they were appended, each with its
//!    records (now in the history) or with why they were not saved. Only
//!    then does the broker relay them, or tell the sender they were lost.
//!    With a log other servers append to, their records settle here too,
//!    in the log's order, as batches with no ticket (see [`backend`]).
//! 3. Ask for the past with [`RoomStream::last`] and [`RoomStream::after`].
//!
//! Where records are kept is the [`Backend`]'s business alone: memory (a
//! batch settles at once), the file store (it settles when the writer
//! thread has synced it), or a shared log (it settles when the log has
//! it). Ids come from the backend and are opaque outside this module
//! ([`Id`]): compared within one stream, printed, parsed, nothing else.
//!
//! One stream per room, and one for private messages; [`rooms`] makes
//! them, in memory or each in its folder of a store (`DIR/main/` for
//! `#main`, as before rooms).

pub mod access;
pub mod backend;
pub mod check;
pub mod files;
pub mod history;
pub mod id;
pub mod packed;
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

pub use backend::{Backend, SharedLog};
pub use history::{Ahead, History, HistoryLimits, Limits, Replay, SessionId};
pub use packed::PackedRecord;
pub use record::{Id, Kind, Millis, Record, LAST_ID};
pub use store::{Notice, OpenError, Store, StoreConfig, Torn, WriteError};

use backend::Event;

/// Keeps the room histories of `streams` together within `most` bytes:
/// the oldest message kept in any of them goes first, as if they were
/// one history (ordered by time, then by id: one server's streams draw
/// ids from one sequence). Each drop costs a heap step, not a pass over
/// every stream, so a restart that finds far more than `most` kept is
/// cut down at once.
pub fn bound_histories(streams: &mut [&mut RoomStream], most: usize) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut total: usize = streams.iter().map(|s| s.history().room_bytes()).sum();
    if total <= most {
        return;
    }
    let mut oldest: BinaryHeap<Reverse<((Millis, Id), usize)>> = streams
        .iter()
        .enumerate()
        .filter_map(|(at, s)| Some(Reverse((s.history().oldest()?, at))))
        .collect();
    while total > most {
        let Some(Reverse((_, at))) = oldest.pop() else {
            break;
        };
        let stream = &mut streams[at];
        total -= stream.drop_oldest();
        if let Some(next) = stream.history().oldest() {
            oldest.push(Reverse((next, at)));
        }
    }
}

/// `#main`'s folder in a store (see [`rooms`]).
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
    /// What `append` returned for it; None for records another writer
    /// of a shared log appended (see [`backend`]).
    pub ticket: Option<Ticket>,
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

/// A room's stream. See the module's comment.
pub struct RoomStream {
    /// The ticket the next batch gets.
    next_ticket: Ticket,
    /// What has settled.
    history: History,
    /// Where records are kept, and who gives their ids.
    backend: Backend,
    /// Server time now; injected by tests.
    clock: Box<dyn FnMut() -> Millis + Send>,
    /// Batches appended and not settled yet, oldest first.
    in_flight: VecDeque<InFlight>,
    /// The sum of their weights.
    in_flight_bytes: usize,
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
        RoomStream::new(limits, Backend::memory(Id::new(1)), Id::ZERO)
    }

    /// A stream on `backend` that starts with an empty history (a writer
    /// of a [`SharedLog`], say).
    pub fn with_backend(limits: HistoryLimits, backend: Backend) -> RoomStream {
        RoomStream::new(limits, backend, Id::ZERO)
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
        let backend = Backend::files(store, recovered.next_id);
        let mut stream = RoomStream::new(limits, backend, recovered.trimmed_to);
        for record in recovered.records {
            stream.history.push(&record, None);
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
                    stream.history.restore_private(session.id, record, sent);
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

    fn new(limits: HistoryLimits, backend: Backend, trimmed_to: Id) -> RoomStream {
        RoomStream {
            next_ticket: 0,
            history: History::new(limits, trimmed_to),
            backend,
            clock: Box::new(now),
            in_flight: VecDeque::new(),
            in_flight_bytes: 0,
            sessions: None,
        }
    }

    /// A store's sessions, left for [`RoomStream::take_sessions`].
    pub fn sessions(&self) -> Option<&SavedSessions> {
        self.sessions.as_ref()
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
        let bytes: usize = drafts.iter().map(|d| d.kind.weight()).sum();
        // One batch is always taken when nothing waits, however big.
        if self.in_flight_bytes > 0 && self.in_flight_bytes + bytes > MAX_IN_FLIGHT {
            return Err(NotKept::Backlog);
        }
        let (kinds, sessions): (Vec<Kind>, Vec<_>) =
            drafts.into_iter().map(|d| (d.kind, d.sessions)).unzip();
        let ticket = self.next_ticket;
        let records = self.backend.append(ticket, kinds, (self.clock)())?;
        self.next_ticket += 1;
        self.in_flight_bytes += bytes;
        self.in_flight.push_back(InFlight {
            ticket,
            records,
            sessions,
            bytes,
        });
        Ok(ticket)
    }

    /// Waits for the next batch to settle (this stream's own, or records
    /// another writer appended); with nothing to come, waits for ever (it
    /// is meant for a `select`). Dropping the future loses nothing.
    pub async fn settled(&mut self) -> Settled {
        let event = self.backend.event().await;
        self.settle(event)
    }

    /// The next settled batch if one is ready.
    pub fn try_settled(&mut self) -> Option<Settled> {
        let event = self.backend.try_event()?;
        Some(self.settle(event))
    }

    fn settle(&mut self, event: Event) -> Settled {
        let (ticket, result) = match event {
            Event::Settled(ticket, result) => (ticket, result),
            Event::Arrived(records) => return self.arrived(records),
        };
        // Batches settle in the order they were appended: the backend
        // works through them in turn.
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
                ticket: Some(ticket),
                outcome: Ok(Vec::new()),
            };
        };
        self.in_flight_bytes -= batch.bytes;
        let outcome = match result {
            // The records as the backend kept them: a shared log's ids
            // may be known only now.
            Ok(records) => {
                for (record, sessions) in records.iter().zip(batch.sessions) {
                    self.history.push(record, sessions);
                }
                Ok(records)
            }
            Err(err) => {
                if let Some(last) = batch.records.last() {
                    self.history.skip_to(last.id);
                }
                Err(err)
            }
        };
        Settled {
            ticket: Some(ticket),
            outcome,
        }
    }

    /// Takes in records another writer appended: into the history, in
    /// the log's order, and on to whoever relays settled batches. A
    /// private one is kept for no session here (its sessions are the
    /// other server's) but still counts as seen.
    fn arrived(&mut self, records: Vec<Arc<Record>>) -> Settled {
        for record in &records {
            match record.kind {
                Kind::Private { .. } => self.history.skip_to(record.id),
                _ => self.history.push(record, None),
            }
        }
        Settled {
            ticket: None,
            outcome: Ok(records),
        }
    }

    /// The last `k` room messages settled, oldest first.
    pub fn last(&self, k: usize) -> Vec<PackedRecord> {
        self.history.last(k)
    }

    /// The last `k` room messages people said, oldest first (see
    /// [`History::last_said`]).
    pub fn last_said(&self, k: usize) -> Vec<PackedRecord> {
        self.history.last_said(k)
    }

    /// Whether anything people said is kept (see [`History::has_said`]).
    pub fn has_said(&self) -> bool {
        self.history.has_said()
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

    /// Drops the oldest room message kept; returns its bytes (0: none).
    pub fn drop_oldest(&mut self) -> usize {
        self.history.drop_oldest()
    }

    /// The history itself (its size, for figures).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Makes the next record's id at least `id`, when the backend counts
    /// (a shared log gives its own): one server's streams (its rooms, its
    /// private messages) then draw from one sequence, so that a client's
    /// one "last id seen" orders everything it got.
    pub fn skip_ids(&mut self, id: Id) {
        self.backend.skip_ids(id);
    }

    /// The id the next record appended here will get, when the backend
    /// counts (not with a shared log, which others append to).
    pub fn next_id(&self) -> Option<Id> {
        self.backend.next_id()
    }

    /// Bytes of records appended and not settled yet.
    pub fn waiting_bytes(&self) -> usize {
        self.in_flight_bytes
    }

    /// Whether records are kept on disk.
    pub fn is_durable(&self) -> bool {
        self.backend.is_durable()
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
