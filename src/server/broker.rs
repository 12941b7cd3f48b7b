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

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{self, Either};

use super::addrs::{Host, Notice};
use super::backoff::Backoff;
use super::log::Log;
use super::meters::{OutputMeters, Payer};
use super::outbox::{Backlog, BlockLines, End, Line, Outbox, Tally};
use super::room::{self, ClientId, Happened, Mailbox, Room};
use super::throttle::{self, Throttle};
use crate::protocol::limits::Limits;
use crate::protocol::message::{parse_input, reply, Input};
use crate::protocol::name::Name;
use crate::protocol::password::{Password, TRIES};
use crate::protocol::sanitize::sanitize;
use crate::protocol::tagged::{self, Reply};
use crate::runtime::{self, Timer};
use crate::stream::{RoomStream, Settled};

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

/// Whether `event` is a line asking for history, read as the room runs it.
fn asks_history(event: &Event) -> bool {
    match event {
        Event::Line { text, .. } => {
            matches!(room::decode(text, &sanitize(text)), Input::History(_))
        }
        _ => false,
    }
}

impl Event {
    /// The connection it is about, if one.
    fn client(&self) -> Option<ClientId> {
        match *self {
            Event::Connect { id, .. }
            | Event::Line { id, .. }
            | Event::TooLong { id }
            | Event::TooFast { id }
            | Event::Dropped { id, .. }
            | Event::Disconnect { id, .. } => Some(id),
            Event::Shutdown => None,
        }
    }
}

/// Events held back in all, waiting for their clients' earlier lines to
/// be saved; past it the broker takes no new events until some settle.
const MOST_PARKED: usize = 4096;

/// Events one client may have held back: past it its lines are refused
/// (the disk is far behind, and one client must not take all of
/// [`MOST_PARKED`] and stall the room).
const MOST_PARKED_EACH: usize = 256;

/// Bytes of kept messages that may wait for the disk before the broker
/// takes no new events: a slow disk then slows the senders (their lines
/// wait in the event queue and their sockets), where refusing them (the
/// stream's own, larger bound) would lose what they said. Enough for
/// many group commits in flight.
const MOST_SYNCING: usize = 1 << 20;

/// Settled batches relayed in one pass of the loop, before the throttle.
const SETTLED_A_PASS: usize = 8;

/// How long shutdown waits for what is being saved before it says goodbye.
const SHUTDOWN_SETTLE: Duration = Duration::from_secs(2);

/// The broker's handle on one connection.
pub struct Peer {
    pub addr: SocketAddr,
    /// Whether `addr` is in a trusted network (`--trust-addr`).
    pub trusted: bool,
    pub outbox: Arc<Outbox>,
}

impl Mailbox for Peer {
    type Tally = Tally;

    fn deliver(&self, line: &str, tally: &mut Tally) -> bool {
        self.outbox.push_own(line, tally).is_ok()
    }

    fn deliver_shared(&self, line: &Line, tally: &mut Tally) -> bool {
        self.outbox.push(line, tally).is_ok()
    }

    // Its lines count once the writer makes them: nothing to tally now.
    fn deliver_block(&self, lines: BlockLines, _: &mut Tally) -> bool {
        self.outbox.push_block(lines).is_ok()
    }

    fn far_behind(&self) -> bool {
        self.outbox.unsent() > self.outbox.limit() / 2
    }

    fn blocks_full(&self) -> bool {
        self.outbox.blocks_full()
    }

    fn host(&self) -> Option<Host> {
        Some(Host::of(self.addr.ip()))
    }

    fn trusted(&self) -> bool {
        self.trusted
    }
}

/// How far ahead of its `--output-rate` a client's `/who`s may run.
const OUTPUT_SLACK: Duration = Duration::from_secs(2);

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
    /// How long a name stays its owner's after an unclean drop.
    pub name_hold: Duration,
    /// The longest wait between password attempts from one address.
    pub password_delay_max: Duration,
    /// Bytes a second of `/who` and `/history` one client may pull.
    pub output_rate: u32,
    /// How many of the last messages a late joiner gets.
    pub replay: usize,
    /// How long a dropped session may be resumed.
    pub resume_window: Duration,
    /// Dropped sessions kept resumable at once, in all.
    pub max_kept: usize,
    /// Of those, from one untrusted address (0: no limit).
    pub max_kept_per_addr: usize,
}

/// What woke the broker.
enum Woke {
    Event(Event),
    Settled(Settled),
    Timer,
    /// Every connection and the accept loop are gone.
    Closed,
}

/// Runs until a [`Event::Shutdown`] or until every sender is gone.
pub async fn broker_loop(
    events: async_channel::Receiver<Event>,
    settings: Settings,
    stream: RoomStream,
    backlog: Arc<Backlog>,
    notices: async_channel::Sender<Notice>,
    log: Log,
) {
    let mut broker = Broker::new(settings, stream, backlog, notices, log);
    // The one timer (login deadlines, held password attempts, sessions'
    // windows), and the time it is set for.
    let mut timer = Timer::never();
    let mut armed: Option<Instant> = None;
    loop {
        let next = broker.next_deadline();
        if next != armed {
            match next {
                Some(at) => timer.set_at(at),
                None => timer = Timer::never(),
            }
            armed = next;
        }
        let woke = {
            // Too much held back: only settling (or the clock) may go on.
            let full = broker.parked_count >= MOST_PARKED
                || broker.room.stream_mut().waiting_bytes() > MOST_SYNCING;
            let received = async {
                if full {
                    future::pending::<()>().await;
                }
                events.recv().await
            };
            let settled = broker.room.stream_mut().settled();
            futures::pin_mut!(received, settled);
            match future::select(future::select(received, settled), &mut timer).await {
                Either::Left((Either::Left((Ok(event), _)), _)) => Woke::Event(event),
                Either::Left((Either::Left((Err(async_channel::RecvError), _)), _)) => Woke::Closed,
                Either::Left((Either::Right((settled, _)), _)) => Woke::Settled(settled),
                Either::Right(_) => Woke::Timer,
            }
        };
        broker.room.set_now(Instant::now());
        let stop = match woke {
            Woke::Event(Event::Shutdown) => broker.shut_down().await,
            Woke::Event(event) => broker.handle_or_park(event),
            Woke::Settled(settled) => {
                broker.settled(settled);
                // A few more the same sync settled, in this pass; not all:
                // each is a message for everyone, and the throttle below
                // must see the backlog they make before more pile on.
                for _ in 1..SETTLED_A_PASS {
                    if broker.backlog_is_high() {
                        break;
                    }
                    let Some(settled) = broker.room.stream_mut().try_settled() else {
                        break;
                    };
                    broker.settled(settled);
                }
                false
            }
            Woke::Timer => false,
            Woke::Closed => break,
        };
        // Checked after every event too: under a steady stream of events
        // the timer alone might wait its turn.
        if armed.is_some() {
            let now = Instant::now();
            broker.expire_logins(now);
            broker.release_attempts(now);
            broker.room.expire_sessions(now);
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
    /// The accept loop, told of each login (for its per-address counts).
    notices: async_channel::Sender<Notice>,
    /// Wrong passwords per address, and the waits they earn.
    backoff: Backoff,
    /// Password attempts held until their address may try again: at most
    /// one per connection (more are refused meanwhile), soonest first.
    attempts: Vec<(Instant, ClientId, String)>,
    /// What each address (or trusted connection) has pulled: `/who`,
    /// `/history`, and the blocks a login or a resume was sent.
    meters: OutputMeters,
    /// Events of clients waiting for their earlier lines to be saved, in
    /// order (see [`Room::is_busy`]).
    parked: HashMap<ClientId, VecDeque<Event>>,
    /// How many events are parked in all.
    parked_count: usize,
    /// Why the store's last write failed, while it fails.
    store_failing: Option<String>,
}

impl Broker {
    fn new(
        settings: Settings,
        mut stream: RoomStream,
        backlog: Arc<Backlog>,
        notices: async_channel::Sender<Notice>,
        log: Log,
    ) -> Self {
        let saved = stream.take_sessions();
        let mut room = Room::new()
            .with_stream(stream)
            .with_replay(settings.replay)
            .with_sessions(settings.resume_window, super::sessions::system_tokens())
            .with_kept_sessions(settings.max_kept, settings.max_kept_per_addr);
        if let Some(saved) = saved {
            if saved.unreadable > 0 {
                log.warn(format!(
                    "Server: {} unreadable lines of the store's sessions file were skipped",
                    saved.unreadable
                ));
            }
            room = room.with_saved_sessions(saved, Instant::now());
        }
        let room = room
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
            backoff: Backoff::new(settings.password_delay_max),
            meters: OutputMeters::new(settings.output_rate, OUTPUT_SLACK),
            settings,
            backlog,
            log,
            notices,
            attempts: Vec::new(),
            parked: HashMap::new(),
            parked_count: 0,
            store_failing: None,
        }
    }

    /// Applies `event`, or holds it back while its client waits for an
    /// earlier line of its own to be saved. True when the server is to stop.
    fn handle_or_park(&mut self, event: Event) -> bool {
        if let Some(id) = event.client() {
            if self.waits(id, &event) || self.parked.contains_key(&id) {
                let queue = self.parked.entry(id).or_default();
                if queue.len() >= MOST_PARKED_EACH && matches!(event, Event::Line { .. }) {
                    self.room.tell(id, &reply::error(reply::TOO_MANY_WAITING));
                    return false;
                }
                queue.push_back(event);
                self.parked_count += 1;
                return false;
            }
        }
        let stop = self.handle(event);
        self.unpark();
        stop
    }

    /// Whether `event` must wait for `id`'s lines being saved: every event
    /// of a client that waits for answers (tagged), only a `/history` of
    /// one that does not (a plain client's chat has no answer to keep in
    /// order, but its `/history` must show the line it sent before).
    fn waits(&self, id: ClientId, event: &Event) -> bool {
        self.room.is_busy(id) || (self.room.has_unsettled(id) && asks_history(event))
    }

    /// A batch settled: relay it, then let held events go on. The log
    /// says when the store starts failing and when it saves again (not
    /// once a line: a full disk under a flood would fill the log too).
    fn settled(&mut self, settled: Settled) {
        match (&settled.outcome, &self.store_failing) {
            (Err(err), None) => {
                let cause = &err.cause;
                self.log.error(format!(
                    "Server: the store cannot save: {cause}; senders are told, and nothing unsaved is relayed"
                ));
                self.store_failing = Some(cause.clone());
            }
            (Ok(_), Some(_)) => {
                self.log.good("Server: the store saves again".to_string());
                self.store_failing = None;
            }
            _ => {}
        }
        self.room.settle(settled);
        self.unpark();
    }

    /// Applies the held events of clients that no longer wait, in order,
    /// until each waits again or has none left.
    fn unpark(&mut self) {
        loop {
            let unblocked = self.room.take_unblocked();
            if unblocked.is_empty() {
                return;
            }
            for owner in unblocked {
                loop {
                    let next = self.parked.get(&owner).and_then(|queue| queue.front());
                    if next.is_none_or(|event| self.waits(owner, event)) {
                        break;
                    }
                    let Some(queue) = self.parked.get_mut(&owner) else {
                        break;
                    };
                    let event = queue.pop_front();
                    if queue.is_empty() {
                        self.parked.remove(&owner);
                    }
                    let Some(event) = event else { break };
                    self.parked_count -= 1;
                    self.handle(event);
                }
            }
        }
    }

    /// Stops: what is being saved settles first (for a bounded time),
    /// then everyone is told and every queue flushed.
    async fn shut_down(&mut self) -> bool {
        let until = Instant::now() + SHUTDOWN_SETTLE;
        while self.room.in_flight() > 0 {
            let left = until.saturating_duration_since(Instant::now());
            match runtime::timeout(left, self.room.stream_mut().settled()).await {
                Ok(settled) => self.settled(settled),
                Err(_) => break,
            }
        }
        self.handle(Event::Shutdown)
    }

    /// When the timer must wake the broker: a login deadline or a held
    /// password attempt, whichever comes first.
    fn next_deadline(&mut self) -> Option<Instant> {
        let login = self.room.next_login_deadline();
        let attempt = self.attempts.first().map(|&(at, _, _)| at);
        let session = self.room.next_session_expiry();
        [login, attempt, session].into_iter().flatten().min()
    }

    /// Lets the password attempts whose wait is over be checked.
    fn release_attempts(&mut self, now: Instant) {
        let due = self.attempts.partition_point(|&(at, _, _)| at <= now);
        let released: Vec<_> = self.attempts.drain(..due).collect();
        for (_, id, text) in released {
            self.line(id, &text);
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
                let line = reply::too_fast(self.settings.rate, self.settings.burst);
                room.tell_as(id, &line, Reply::TooFast);
            }
            Event::Dropped { id, count } => {
                room.tell_as(id, &reply::dropped(count), Reply::Dropped(count));
            }
            Event::Disconnect { id, why } => {
                // Dropped, not left: keep the name for its owner a while.
                let hold = why
                    .is_some()
                    .then(|| Instant::now() + self.settings.name_hold);
                let host = self.room.mailbox(id).and_then(Mailbox::host);
                if let Some(Some(name)) = self.leave(id, End::Flush, why) {
                    if let Some(until) = hold.filter(|_| !self.settings.name_hold.is_zero()) {
                        self.room.hold_name(&name, host, until);
                    }
                }
            }
            Event::Shutdown => {
                room.tell_everyone(reply::SHUTTING_DOWN, Reply::ShuttingDown);
                for peer in room.mailboxes() {
                    peer.outbox.end(End::Flush);
                }
                return true;
            }
        }
        false
    }

    fn line(&mut self, id: ClientId, text: &str) {
        let now = Instant::now();
        let Some(addr) = self.room.mailbox(id).map(|peer| peer.addr) else {
            return;
        };
        let host = Host::of(addr.ip());
        // Only a tagged client's line can carry a label: the lookup is
        // skipped for every line that could not be one.
        let (label, bare) = match text.starts_with(tagged::MARK) && self.room.is_tagged(id) {
            true => tagged::split_label(text),
            false => (None, text),
        };
        // Read as the room will run it: a logged-in client's line
        // sanitized first (see `room::decode`), others as typed. The room
        // is handed the cleaned line, so it is cleaned once.
        let clean = self.room.is_logged_in(id).then(|| sanitize(bare));
        let input = match &clean {
            Some(clean) => room::decode(bare, clean),
            None => parse_input(bare),
        };
        if self.settings.password.is_some()
            && !self.room.is_admitted(id)
            && !matches!(input, Input::Quit)
        {
            if self.attempts.iter().any(|&(_, held, _)| held == id) {
                // One attempt waits already; this one would jump the wait.
                let secs = self.backoff.wait(host, now).map_or(1, |w| w.as_secs() + 1);
                self.room.tell(id, &reply::password_wait(secs));
                return;
            }
            if let Some(wait) = self.backoff.wait(host, now) {
                let at = now + wait;
                let i = self.attempts.partition_point(|&(t, _, _)| t <= at);
                self.attempts.insert(i, (at, id, text.to_string()));
                return;
            }
        }
        // What pulls output waits until what the payer pulled before is
        // paid for; a resume too (the client tries again later), or one
        // address could pull the whole history over and over by resuming.
        let logged_in = self.room.is_logged_in(id);
        let pulls = match input {
            Input::Who | Input::History(_) => logged_in,
            _ => {
                !logged_in
                    && self.room.is_admitted(id)
                    && self.room.is_tagged(id)
                    && room::is_resume(bare)
            }
        };
        if pulls {
            let payer = self.payer(id);
            if let Some(wait) = self.meters.wait(payer, now) {
                let refusal = reply::output_limited(wait.as_secs() + 1);
                self.room.answer(id, label, &refusal);
                return;
            }
            if matches!(input, Input::Who) {
                self.meters.charge(payer, self.room.who_bytes(), now);
            }
        }
        if matches!(input, Input::Nick(_)) || !self.room.is_logged_in(id) {
            // This line may take a name: names whose hold ran out are free.
            self.room.release_names(now);
        }
        let happened = self.room.line_cleaned(id, text, clean.as_deref());
        // History blocks (a late joiner's, `/history`'s, a resume's) are
        // charged as they are made.
        for (to, bytes) in self.room.take_blocks_sent() {
            let payer = self.payer(to);
            self.meters.charge(payer, bytes, now);
        }
        let log = &self.log;
        match happened {
            Happened::Quit => {
                self.leave(id, End::Flush, None);
            }
            Happened::Admitted => self.backoff.succeeded(host),
            Happened::LoggedIn(name) => {
                log.good(format!("Server: {name} joined the party! ({addr})"));
                // Fails only once the accept loop has ended.
                let _ = self.notices.try_send(Notice::LoggedIn(id));
            }
            Happened::Resumed(name) => {
                log.good(format!("Server: {name} resumed their session ({addr})"));
                // Fails only once the accept loop has ended.
                let _ = self.notices.try_send(Notice::LoggedIn(id));
            }
            Happened::LoginRefused(why) => {
                log.warn(format!("Server: login refused for {addr}: {why}"));
            }
            // The attempt itself is never logged: it may be a near miss.
            Happened::WrongPassword { tries_left } => {
                log.warn(format!(
                    "Server: {addr} gave a wrong password ({tries_left} left)"
                ));
                self.backoff.failed(host, now);
            }
            Happened::LockedOut => {
                log.error(format!(
                    "Server: {addr} gave a wrong password {TRIES} times; closed"
                ));
                self.backoff.failed(host, now);
                self.leave(id, End::Flush, None);
            }
            Happened::Renamed { old, new } => {
                log.good(format!("Server: {old} is now known as {new}."));
            }
            _ => {}
        }
    }

    /// Who pays for connection `id`'s output: its address, unless trusted.
    fn payer(&self, id: ClientId) -> Payer {
        match self.room.mailbox(id) {
            Some(peer) if !peer.trusted => Payer::Host(Host::of(peer.addr.ip())),
            _ => Payer::Connection(id),
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

    /// Whether what was relayed so far (its tally applied now) puts the
    /// backlog where the throttle would pause: more settled batches wait
    /// for the pause rather than pile on (with a store, one sync can
    /// settle many).
    fn backlog_is_high(&mut self) -> bool {
        self.backlog.settle(self.room.take_tally());
        self.throttle
            .pause(self.backlog.bytes(), Instant::now())
            .is_some()
    }

    /// What every event ends with: cut off those whose queue overflowed,
    /// settle the backlog, update the status line and, unless stopping,
    /// give the writers time to catch up if the room is far behind.
    async fn after_event(&mut self, stopping: bool) {
        for (ghost, peer) in self.room.take_ghosts() {
            self.meters.gone(ghost);
            peer.outbox.end(End::TakenOver);
            self.log.warn(format!(
                "Server: {} closed: its session was resumed on another connection",
                peer.addr
            ));
        }
        // Leaving can overflow someone else's queue in turn: repeat until none.
        loop {
            // A commit outside an event's own handling (a login that ran
            // out, a held password, a leave below) may have settled a busy
            // client's last batch: its held lines go on now, not at some
            // later event that may never come.
            self.unpark();
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
        self.log.status(self.room.online(), self.room.relayed());
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
    /// Returns the name it had, if it was still in the room.
    fn leave(&mut self, id: ClientId, end: End, why: Option<String>) -> Option<Option<Name>> {
        self.meters.gone(id);
        self.attempts.retain(|&(_, held, _)| held != id);
        let left = self.room.leave(id)?;
        left.mailbox.outbox.end(end);
        let addr = left.mailbox.addr;
        if let Some(why) = why {
            self.log
                .error(format!("Server: connection {addr} failed: {why}"));
        }
        match &left.name {
            Some(name) => self
                .log
                .warn(format!("Server: {name} left the party. ({addr})")),
            None => self
                .log
                .warn(format!("Server: {addr} disconnected before logging in")),
        }
        Some(left.name)
    }
}

#[cfg(test)]
mod tests {
    use super::super::outbox::Batch;
    use super::*;
    use crate::stream::{HistoryLimits, MAIN};

    fn settings(login_timeout: Duration) -> Settings {
        Settings {
            greeting: reply::GREETING,
            announce_max: 0,
            login_timeout,
            password: None,
            max_line_bytes: 4096,
            rate: 0,
            burst: 0,
            throttle: throttle::DEFAULT,
            name_hold: Duration::ZERO,
            password_delay_max: Duration::from_secs(1),
            output_rate: 1 << 20,
            replay: 20,
            resume_window: Duration::from_secs(600),
            max_kept: 10_000,
            max_kept_per_addr: 32,
        }
    }

    fn peer(port: u16, backlog: &Arc<Backlog>) -> Peer {
        Peer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            trusted: true,
            outbox: Arc::new(Outbox::new(1 << 20, Arc::clone(backlog))),
        }
    }

    /// Everything queued for `outbox`, as text.
    fn queued(outbox: &Outbox) -> String {
        let mut batch = Batch::default();
        let mut buf = vec![0; 1 << 20];
        let mut filled = 0;
        if outbox.queued() > 0 {
            runtime::block_on(outbox.next(&mut batch));
            filled = batch.fill(&mut buf);
            batch.consume(filled);
        }
        String::from_utf8_lossy(&buf[..filled]).into_owned()
    }

    /// A broker whose room is kept in a new store in a temp dir (kept
    /// alive by the dir returned), and the backlog its outboxes share.
    fn stored(login_timeout: Duration) -> (Broker, Arc<Backlog>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (stream, _) = RoomStream::open(dir.path(), MAIN, 1 << 20, HistoryLimits::default())
            .expect("a new store opens");
        let backlog = Arc::new(Backlog::new(0, usize::MAX));
        // The accept loop's end of the notices is dropped: sends then fail,
        // which the broker allows for.
        let (notices, _) = async_channel::unbounded();
        let log = Log::silent();
        let broker = Broker::new(
            settings(login_timeout),
            stream,
            Arc::clone(&backlog),
            notices,
            log,
        );
        (broker, backlog, dir)
    }

    #[test]
    fn held_lines_go_on_when_their_batch_settles_while_a_login_expires() {
        // Every login expires at once: the clock's own path to a commit.
        let (mut broker, backlog, _dir) = stored(Duration::ZERO);
        let max = peer(1, &backlog);
        let outbox = Arc::clone(&max.outbox);
        broker.handle(Event::Connect { id: 1, peer: max });
        for text in ["/tagged", "~1 Max", "~2 hi"] {
            let line = Event::Line {
                id: 1,
                text: text.into(),
            };
            broker.handle_or_park(line);
        }
        assert_eq!(broker.parked_count, 1, "hi waits for Max's join notice");
        // Connections that never log in expire; each leave commits, and
        // one of those commits finds Max's batch synced and relays it.
        let started = Instant::now();
        let mut port = 2;
        while broker.room.in_flight() > 0 {
            assert!(started.elapsed() < Duration::from_secs(10), "never synced");
            broker.handle(Event::Connect {
                id: u64::from(port),
                peer: peer(port, &backlog),
            });
            broker.expire_logins(Instant::now());
            port += 1;
            std::thread::yield_now();
        }
        runtime::block_on(broker.after_event(false));
        assert_eq!(broker.parked_count, 0, "hi is not held for ever");
        let sent = queued(&outbox);
        assert!(
            sent.contains("re=1 Server: Max joined the party!"),
            "{sent}"
        );
    }

    #[test]
    fn past_its_share_of_held_lines_a_client_is_refused_and_the_rest_wait() {
        let (mut broker, backlog, _dir) = stored(Duration::from_secs(60));
        let max = peer(1, &backlog);
        let outbox = Arc::clone(&max.outbox);
        broker.handle(Event::Connect { id: 1, peer: max });
        let line = |text: String| Event::Line { id: 1, text };
        broker.handle_or_park(line("/tagged".into()));
        // Max's join is being synced (nothing here polls the store), so
        // every later line of his waits.
        broker.handle_or_park(line("~0 Max".into()));
        for n in 1..=MOST_PARKED_EACH + 10 {
            broker.handle_or_park(line(format!("~{n} line {n}")));
        }
        assert_eq!(broker.parked_count, MOST_PARKED_EACH);
        let sent = queued(&outbox);
        let refused = sent
            .lines()
            .filter(|l| l.ends_with(reply::TOO_MANY_WAITING))
            .count();
        assert_eq!(refused, 10, "{sent}");
    }
}
