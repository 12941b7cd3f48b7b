//! The one task that owns the room. Connection tasks send it [`Event`]s
//! over a bounded channel; it applies them to the [`Room`], whose
//! deliveries append to each recipient's [`Outbox`] without ever waiting.
//! Every line a client receives is queued here, by this task, in the order
//! of the events that caused it: a reply never overtakes the answer to an
//! earlier line. A recipient whose outbox is full is disconnected on the
//! spot, so a slow reader can cost only its own connection, never the
//! room's pace. The broker also keeps the login clock: one timer for the
//! whole room, and the decision (logged in, or out of time) made here
//! alone, so a client is never both.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{self, Either};

use super::log::Log;
use super::outbox::{Backlog, End, Outbox, Tally};
use super::room::{ClientId, Happened, Mailbox, Room};
use super::throttle::{self, Throttle};
use crate::protocol::limits::Limits;
use crate::protocol::message::reply;
use crate::protocol::password::{Password, TRIES};
use crate::runtime::{self, Timer};

/// What connection tasks tell the broker. A connection's events arrive in
/// the order its reader saw the bytes that caused them.
pub enum Event {
    /// A new connection, with the queue its writer drains.
    Connect { id: ClientId, peer: Peer },
    /// One line from the client, decoded (invalid UTF-8 as U+FFFD), not yet sanitized.
    Line { id: ClientId, text: String },
    /// The client sent a line over the length limit; it was dropped unread.
    TooLong { id: ClientId },
    /// The client is sending faster than the rate limit: its lines are
    /// being dropped (sent once, at the first line of a run of drops).
    TooFast { id: ClientId },
    /// A line passed the rate limit again after `count` were dropped; that
    /// line is the next event.
    Dropped { id: ClientId, count: u64 },
    /// The connection is gone; `why` is for the log when it failed.
    Disconnect { id: ClientId, why: Option<String> },
    /// The server is stopping: tell everyone, flush, close.
    Shutdown,
}

/// The broker's handle on one connection.
pub struct Peer {
    pub addr: SocketAddr,
    pub outbox: Arc<Outbox>,
}

impl Mailbox for Peer {
    type Tally = Tally;

    fn deliver(&self, line: &str, tally: &mut Tally) -> bool {
        self.outbox.push(line.as_bytes(), tally).is_ok()
    }
}

/// The room's rules and limits, as the broker applies them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The first line every connection gets.
    pub greeting: &'static str,
    /// Joins and leaves are announced while at most this many are online (0: always).
    pub announce_max: usize,
    pub login_timeout: Duration,
    /// What a connection must give before a name; None: an open room.
    pub password: Option<Password>,
    /// For the replies to what readers drop.
    pub max_line_bytes: usize,
    pub rate: u32,
    pub burst: u32,
    pub throttle: throttle::Settings,
}

/// Runs until a [`Event::Shutdown`] or until every sender is gone.
pub async fn broker_loop(
    events: async_channel::Receiver<Event>,
    settings: Settings,
    backlog: Arc<Backlog>,
    log: Log,
) {
    let mut broker = Broker::new(settings, backlog, log);
    // The login clock's one timer, and the deadline it is set for.
    let mut timer = Timer::never();
    let mut armed: Option<Instant> = None;
    loop {
        let next = broker.room.next_login_deadline();
        if next != armed {
            match next {
                Some(at) => timer.set_at(at),
                None => timer = Timer::never(),
            }
            armed = next;
        }
        let event = {
            let received = events.recv();
            futures::pin_mut!(received);
            match future::select(received, &mut timer).await {
                Either::Left((Ok(event), _)) => Some(event),
                // Every connection and the accept loop are gone.
                Either::Left((Err(async_channel::RecvError), _)) => break,
                Either::Right(_) => None,
            }
        };
        let stop = match event {
            Some(event) => broker.handle(event),
            None => false,
        };
        // Checked after every event too: under a steady stream of events
        // the timer alone might wait its turn.
        if armed.is_some() {
            broker.expire_logins(Instant::now());
        }
        broker.after_event(stop).await;
        if stop {
            break;
        }
    }
}

/// The broker's state: the room and what it takes to keep it.
struct Broker {
    room: Room<Peer>,
    settings: Settings,
    backlog: Arc<Backlog>,
    throttle: Throttle,
    log: Log,
    /// Messages relayed, for the status line.
    relayed: u64,
}

impl Broker {
    fn new(settings: Settings, backlog: Arc<Backlog>, log: Log) -> Self {
        let room = Room::new()
            .with_announce_max(settings.announce_max)
            .with_login_timeout(settings.login_timeout)
            .with_password(settings.password.clone())
            .with_limits(Limits {
                rate: settings.rate,
                burst: settings.burst,
                max_line_bytes: settings.max_line_bytes,
            });
        Broker {
            room,
            throttle: Throttle::new(settings.throttle),
            settings,
            backlog,
            log,
            relayed: 0,
        }
    }

    /// Applies one event; true when the server is to stop.
    fn handle(&mut self, event: Event) -> bool {
        let room = &mut self.room;
        match event {
            Event::Connect { id, peer } => {
                room.connect(id, peer, &[self.settings.greeting], Instant::now());
            }
            Event::Line { id, text } => self.line(id, &text),
            Event::TooLong { id } => {
                room.tell(id, &reply::line_too_long(self.settings.max_line_bytes));
            }
            Event::TooFast { id } => {
                room.tell(
                    id,
                    &reply::too_fast(self.settings.rate, self.settings.burst),
                );
            }
            Event::Dropped { id, count } => room.tell(id, &reply::dropped(count)),
            Event::Disconnect { id, why } => self.leave(id, End::Flush, why),
            Event::Shutdown => {
                room.tell_everyone(reply::SHUTTING_DOWN);
                for peer in room.mailboxes() {
                    peer.outbox.end(End::Flush);
                }
                return true;
            }
        }
        false
    }

    fn line(&mut self, id: ClientId, text: &str) {
        let happened = self.room.line(id, text);
        let addr = self.room.mailbox(id).map(|peer| peer.addr);
        let log = &self.log;
        match (happened, addr) {
            (Happened::Relayed, _) => self.relayed += 1,
            (Happened::Quit, _) => self.leave(id, End::Flush, None),
            (Happened::LoggedIn(name), Some(addr)) => {
                log.good(format!("Server: {name} joined the party! ({addr})"));
            }
            (Happened::LoginRefused(why), Some(addr)) => {
                log.warn(format!("Server: login refused for {addr}: {why}"));
            }
            // The attempt itself is never logged: it may be a near miss.
            (Happened::WrongPassword { tries_left }, Some(addr)) => {
                log.warn(format!(
                    "Server: {addr} gave a wrong password ({tries_left} left)"
                ));
            }
            (Happened::LockedOut, addr) => {
                if let Some(addr) = addr {
                    log.error(format!(
                        "Server: {addr} gave a wrong password {TRIES} times; closed"
                    ));
                }
                self.leave(id, End::Flush, None);
            }
            (Happened::Renamed { old, new }, _) => {
                log.good(format!("Server: {old} is now known as {new}."));
            }
            _ => {}
        }
    }

    /// Closes the connections whose time to log in ran out.
    fn expire_logins(&mut self, now: Instant) {
        let late = self.room.expire_logins(now);
        let secs = self.settings.login_timeout.as_secs();
        for id in late {
            let why = format!("no username within {secs} s");
            self.leave(id, End::Flush, Some(why));
        }
    }

    /// What every event ends with: cut off those whose queue overflowed,
    /// settle the backlog, update the status line and, unless stopping,
    /// give the writers time to catch up if the room is far behind.
    async fn after_event(&mut self, stopping: bool) {
        // Leaving can overflow someone else's queue in turn: repeat until none.
        loop {
            let overflowed = self.room.take_overflowed();
            if overflowed.is_empty() {
                break;
            }
            for id in overflowed {
                let end = End::Drop;
                let why = Some("send queue full: the client is not reading".to_string());
                self.leave(id, end, why);
            }
        }
        self.backlog.settle(self.room.take_tally());
        self.log.status(self.room.online(), self.relayed);
        if stopping {
            return;
        }
        let before = self.backlog.bytes();
        if let Some(pause) = self.throttle.pause(before, Instant::now()) {
            // Ends early once the writers bring the backlog down to the low mark.
            let _ = runtime::timeout(pause, self.backlog.drained()).await;
            self.throttle
                .paused(before, self.backlog.bytes(), Instant::now());
        }
    }

    /// Takes a connection out of the room, ends its writer and logs why.
    fn leave(&mut self, id: ClientId, end: End, why: Option<String>) {
        let Some(left) = self.room.leave(id) else {
            return;
        };
        left.mailbox.outbox.end(end);
        let addr = left.mailbox.addr;
        if let Some(why) = why {
            self.log
                .error(format!("Server: connection {addr} failed: {why}"));
        }
        match left.name {
            Some(name) => self
                .log
                .warn(format!("Server: {name} left the party. ({addr})")),
            None => self
                .log
                .warn(format!("Server: {addr} disconnected before logging in")),
        }
    }
}
