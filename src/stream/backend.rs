//! The one seam between a [`RoomStream`](super::RoomStream) and where its
//! records are kept: memory, the file store, or a log that other servers
//! append to as well. [`RoomStream`](super::RoomStream) drives a
//! [`Backend`] with three things only:
//!
//! 1. **Append a batch** ([`Backend::append`]): the backend gives the
//!    records their ids (it alone knows how: a counter here, the log's
//!    own ids in a shared one) or refuses the batch without using any;
//!    it reports later, as an [`Event::Settled`], when the batch is
//!    durable or why it is not.
//! 2. **Recover on open**: [`Backend::files`] takes a store opened and
//!    recovered by [`Store::open`] and goes on from its next id;
//!    [`Backend::shared`] joins a log at its end (what is in it already
//!    is the log's history, read by whoever opens it).
//! 3. **Take in what someone else appended** ([`Event::Arrived`]): with a
//!    shared log, records other writers append reach this stream as
//!    events too, **in the log's order, interleaved with this stream's
//!    own settled batches**. One queue of events, never two: a stream
//!    that drains it in order keeps its history in id order, and its
//!    subscribers (the broker, through `settled`) see others' records as
//!    settled batches with no ticket, exactly where the log put them.
//!    A private message that arrives is not in this server's sessions, so
//!    it is handed on but kept in no history list.
//!
//! Memory and the file store are written by this stream alone, so they
//! never produce `Arrived`. [`SharedLog`] is a log in memory that several
//! streams (as if on several servers) append to: it is what a backend on
//! a Redis stream has to do, and it is how the tests check the seam.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc;
use futures::StreamExt;

use super::record::{Kind, Millis, Record};
use super::store::{Store, WriteError};
use super::{Id, NotKept, Ticket, LAST_ID};

/// What a backend tells its stream, in the log's order.
#[derive(Debug)]
pub enum Event {
    /// A batch this stream appended: its records as the log keeps them
    /// (with their ids), or why they were not kept.
    Settled(Ticket, Result<Vec<Arc<Record>>, WriteError>),
    /// Records another writer appended to the same log.
    Arrived(Vec<Arc<Record>>),
}

/// Where a stream's records are kept. See the module's comment.
pub struct Backend {
    place: Place,
    /// Events that came about at once (memory): no channel, no thread.
    ready: VecDeque<Event>,
    /// Where the store's writer thread, or the shared log, reports.
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
}

enum Place {
    Memory { next_id: Id },
    Files { store: Store, next_id: Id },
    Shared { log: SharedLog, me: usize },
}

impl Backend {
    /// Memory only: a batch is kept as soon as it is appended.
    pub fn memory(next_id: Id) -> Backend {
        Backend::at(Place::Memory { next_id })
    }

    /// The file store `store`, recovered, whose next record gets `next_id`.
    pub fn files(store: Store, next_id: Id) -> Backend {
        Backend::at(Place::Files { store, next_id })
    }

    /// A writer of `log`, which others write to as well; it hears of
    /// every record appended from now on.
    pub fn shared(log: &SharedLog) -> Backend {
        let (events_tx, events) = mpsc::unbounded();
        let me = log.subscribe(events_tx.clone());
        Backend {
            place: Place::Shared {
                log: log.clone(),
                me,
            },
            ready: VecDeque::new(),
            events_tx,
            events,
        }
    }

    fn at(place: Place) -> Backend {
        let (events_tx, events) = mpsc::unbounded();
        Backend {
            place,
            ready: VecDeque::new(),
            events_tx,
            events,
        }
    }

    /// Gives `kinds` their ids and `time` and starts keeping them as the
    /// batch `ticket`; an [`Event::Settled`] tells how that went. Refused,
    /// using no ids, past [`LAST_ID`].
    pub fn append(
        &mut self,
        ticket: Ticket,
        kinds: Vec<Kind>,
        time: Millis,
    ) -> Result<Vec<Arc<Record>>, NotKept> {
        match &mut self.place {
            Place::Memory { next_id } => {
                let records = number(next_id, kinds, time)?;
                let event = Event::Settled(ticket, Ok(records.clone()));
                self.ready.push_back(event);
                Ok(records)
            }
            Place::Files { store, next_id } => {
                let records = number(next_id, kinds, time)?;
                let tx = self.events_tx.clone();
                let kept = records.clone();
                store.submit(
                    records.clone(),
                    Box::new(move |result| {
                        // Fails only once the stream is gone: nobody to tell.
                        let _ = tx.unbounded_send(Event::Settled(ticket, result.map(|()| kept)));
                    }),
                );
                Ok(records)
            }
            Place::Shared { log, me } => log.append(*me, ticket, kinds, time),
        }
    }

    /// The next event if one is ready.
    pub fn try_event(&mut self) -> Option<Event> {
        self.ready
            .pop_front()
            .or_else(|| self.events.try_recv().ok())
    }

    /// Waits for the next event; for ever if none can come (it is meant
    /// for a `select`). Dropping the future loses nothing.
    pub async fn event(&mut self) -> Event {
        if let Some(event) = self.ready.pop_front() {
            return event;
        }
        match self.events.next().await {
            Some(event) => event,
            // `self` holds a sender, so the channel never ends.
            None => futures::future::pending().await,
        }
    }

    /// The id the next record appended here would get, if this backend
    /// gives ids by counting (not a shared log's: others append too).
    pub fn next_id(&self) -> Option<Id> {
        match &self.place {
            Place::Memory { next_id } | Place::Files { next_id, .. } => Some(*next_id),
            Place::Shared { .. } => None,
        }
    }

    /// Makes the next id this backend counts out at least `id` (a
    /// shared log gives its own ids: nothing to do).
    pub fn skip_ids(&mut self, id: Id) {
        match &mut self.place {
            Place::Memory { next_id } | Place::Files { next_id, .. } => {
                *next_id = (*next_id).max(id);
            }
            Place::Shared { .. } => {}
        }
    }

    /// Whether records outlive the process.
    pub fn is_durable(&self) -> bool {
        matches!(self.place, Place::Files { .. })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Place::Shared { log, me } = &self.place {
            log.unsubscribe(*me);
        }
    }
}

/// Gives `kinds` the ids from `next_id` on, and `time`; refused, using no
/// ids, if they would pass [`LAST_ID`].
fn number(next_id: &mut Id, kinds: Vec<Kind>, time: Millis) -> Result<Vec<Arc<Record>>, NotKept> {
    let end = (next_id.get())
        .checked_add(kinds.len() as u64)
        .filter(|&end| end <= LAST_ID.get() + 1)
        .ok_or(NotKept::NoIdsLeft)?;
    let records = (next_id.get()..end)
        .zip(kinds)
        .map(|(n, kind)| {
            let id = Id::new(n);
            Arc::new(Record { id, time, kind })
        })
        .collect();
    *next_id = Id::new(end);
    Ok(records)
}

/// A log in memory that several streams append to, as servers sharing a
/// Redis stream would: it gives the ids, keeps every record, and tells
/// each writer of its own batches and of everyone else's, in log order.
#[derive(Clone, Default)]
pub struct SharedLog {
    inner: Arc<Mutex<Shared>>,
}

#[derive(Default)]
struct Shared {
    next_id: u64,
    records: Vec<Arc<Record>>,
    /// Each writer's events, by the number it was given.
    writers: Vec<(usize, mpsc::UnboundedSender<Event>)>,
    /// The number the next writer gets.
    next_writer: usize,
}

impl SharedLog {
    pub fn new() -> SharedLog {
        SharedLog::default()
    }

    /// Everything appended so far, in log order.
    pub fn records(&self) -> Vec<Arc<Record>> {
        self.lock().records.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A writer that panicked mid-append left whole records or none.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn subscribe(&self, events: mpsc::UnboundedSender<Event>) -> usize {
        let mut shared = self.lock();
        let me = shared.next_writer;
        shared.next_writer += 1;
        shared.writers.push((me, events));
        me
    }

    fn unsubscribe(&self, me: usize) {
        self.lock().writers.retain(|(writer, _)| *writer != me);
    }

    /// Appends for writer `me`: one lock, so every writer hears of every
    /// batch in the same order.
    fn append(
        &self,
        me: usize,
        ticket: Ticket,
        kinds: Vec<Kind>,
        time: Millis,
    ) -> Result<Vec<Arc<Record>>, NotKept> {
        let mut shared = self.lock();
        let mut next = Id::new(shared.next_id.max(1));
        let records = number(&mut next, kinds, time)?;
        shared.next_id = next.get();
        shared.records.extend(records.iter().cloned());
        for (writer, events) in &shared.writers {
            let event = match *writer == me {
                true => Event::Settled(ticket, Ok(records.clone())),
                false => Event::Arrived(records.clone()),
            };
            // A writer gone is unsubscribed by its drop.
            let _ = events.unbounded_send(event);
        }
        Ok(records)
    }
}
