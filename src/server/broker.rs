//! The one task that owns the lobby and its rooms: a thin loop. Connection
//! tasks send it [`Event`]s over a bounded channel; it reads each line
//! once (see [`Read`]), applies what it says to the [`Lobby`], whose
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
use super::client_id::ClientId;
use super::command::{Command, Read};
use super::config::Config;
use super::kept::StoreNews;
use super::lobby::{Happened, Lobby, Source, Streams};
use super::log::Log;
use super::mailbox::Mailbox;
use super::meters::{OutputMeters, Payer};
use super::outbox::{Backlog, BlockLines, End, Line, Outbox, Tally};
use super::throttle::{self, Throttle};
use crate::protocol::message::{reply, Input};
use crate::protocol::name::Name;
use crate::protocol::password::TRIES;
use crate::protocol::rooms::RoomInput;
use crate::protocol::tagged::Reply;
use crate::runtime::{self, Timer};
use crate::stream::Settled;

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

/// What woke the broker.
enum Woke {
    Event(Event),
    Settled((Source, Settled)),
    Timer,
    /// Every connection and the accept loop are gone.
    Closed,
}

/// Runs until a [`Event::Shutdown`] or until every sender is gone.
pub async fn broker_loop(
    events: async_channel::Receiver<Event>,
    config: Arc<Config>,
    streams: Streams,
    backlog: Arc<Backlog>,
    notices: async_channel::Sender<Notice>,
    log: Log,
) {
    let mut broker = Broker::new(config, streams, backlog, notices, log);
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
            let full =
                broker.parked_count >= MOST_PARKED || broker.lobby.waiting_bytes() > MOST_SYNCING;
            let received = async {
                if full {
                    future::pending::<()>().await;
                }
                events.recv().await
            };
            let settled = broker.lobby.settled();
            futures::pin_mut!(received, settled);
            match future::select(future::select(received, settled), &mut timer).await {
                Either::Left((Either::Left((Ok(event), _)), _)) => Woke::Event(event),
                Either::Left((Either::Left((Err(async_channel::RecvError), _)), _)) => Woke::Closed,
                Either::Left((Either::Right((settled, _)), _)) => Woke::Settled(settled),
                Either::Right(_) => Woke::Timer,
            }
        };
        broker.lobby.set_now(Instant::now());
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
                    let Some(settled) = broker.lobby.try_settled() else {
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
            broker.lobby.expire_sessions(now);
        }
        broker.after_event(stop).await;
        if stop {
            break;
        }
    }
}

/// The broker's state: the lobby and what it takes to keep it.
struct Broker {
    lobby: Lobby<Peer>,
    /// The server's config, read once; every part borrows it.
    config: Arc<Config>,
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
}

impl Broker {
    fn new(
        config: Arc<Config>,
        streams: Streams,
        backlog: Arc<Backlog>,
        notices: async_channel::Sender<Notice>,
        log: Log,
    ) -> Self {
        let lobby = Lobby::from_config(Arc::clone(&config), streams, Instant::now());
        let unreadable = lobby.unreadable_sessions();
        if unreadable > 0 {
            log.warn(format!(
                "Server: {unreadable} unreadable lines of the store's sessions file were skipped"
            ));
        }
        Broker {
            lobby,
            throttle: Throttle::new(throttle::DEFAULT),
            backoff: Backoff::new(config.password_delay_max),
            meters: OutputMeters::new(config.output_rate, OUTPUT_SLACK),
            config,
            backlog,
            log,
            notices,
            attempts: Vec::new(),
            parked: HashMap::new(),
            parked_count: 0,
        }
    }

    /// Applies `event`, or holds it back while its client waits for an
    /// earlier line of its own to be saved. True when the server is to stop.
    fn handle_or_park(&mut self, event: Event) -> bool {
        if let Some(id) = event.client() {
            if self.waits(id, &event) || self.parked.contains_key(&id) {
                let queue = self.parked.entry(id).or_default();
                if queue.len() >= MOST_PARKED_EACH && matches!(event, Event::Line { .. }) {
                    self.lobby.tell(id, &reply::error(reply::TOO_MANY_WAITING));
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
        self.lobby.is_busy(id) || (self.lobby.has_unsettled(id) && self.asks_history(id, event))
    }

    /// Whether `event` is a line asking for history, read as the lobby
    /// will run it (asked only of a plain client with lines being saved).
    fn asks_history(&self, id: ClientId, event: &Event) -> bool {
        let (Event::Line { text, .. }, Some(stage)) = (event, self.lobby.stage(id)) else {
            return false;
        };
        let read = Read::new(text, self.lobby.is_tagged(id), stage);
        matches!(read.command(), Command::Said(Input::History(_)))
    }

    /// Says when the store starts failing and when it saves again.
    fn log_store_news(&mut self) {
        for news in self.lobby.take_store_news() {
            match news {
                StoreNews::Failing(cause) => self.log.error(format!(
                    "Server: the store cannot save: {cause}; senders are told, and nothing unsaved is relayed"
                )),
                StoreNews::SavesAgain => self.log.good("Server: the store saves again".to_string()),
                StoreNews::RoomNotKept(why) => self.log.error(format!("Server: {why}")),
            }
        }
    }

    /// A batch settled: relay it, then let held events go on.
    fn settled(&mut self, (source, settled): (Source, Settled)) {
        self.lobby.settle(source, settled);
        self.unpark();
    }

    /// Applies the held events of clients that no longer wait, in order,
    /// until each waits again or has none left.
    fn unpark(&mut self) {
        loop {
            let unblocked = self.lobby.take_unblocked();
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
        while self.lobby.in_flight() > 0 {
            let left = until.saturating_duration_since(Instant::now());
            match runtime::timeout(left, self.lobby.settled()).await {
                Ok(settled) => self.settled(settled),
                Err(_) => break,
            }
        }
        self.handle(Event::Shutdown)
    }

    /// When the timer must wake the broker: a login deadline or a held
    /// password attempt, whichever comes first.
    fn next_deadline(&mut self) -> Option<Instant> {
        let login = self.lobby.next_login_deadline();
        let attempt = self.attempts.first().map(|&(at, _, _)| at);
        let session = self.lobby.next_session_expiry();
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
        let lobby = &mut self.lobby;
        match event {
            Event::Connect { id, peer } => {
                let greeting = match self.config.password {
                    Some(_) => reply::PASSWORD_GREETING,
                    None => reply::GREETING,
                };
                lobby.connect(id, peer, &[greeting], Instant::now());
            }
            Event::Line { id, text } => self.line(id, &text),
            Event::TooLong { id } => {
                lobby.tell(id, &reply::line_too_long(self.config.max_line_bytes));
            }
            Event::TooFast { id } => {
                let line = reply::too_fast(self.config.rate, self.config.burst);
                lobby.tell_as(id, &line, Reply::TooFast);
            }
            Event::Dropped { id, count } => {
                lobby.tell_as(id, &reply::dropped(count), Reply::Dropped(count));
            }
            Event::Disconnect { id, why } => {
                // Dropped, not left: keep the name for its owner a while.
                let hold = why
                    .is_some()
                    .then(|| Instant::now() + self.config.name_hold);
                let host = self.lobby.mailbox(id).and_then(Mailbox::host);
                if let Some(Some(name)) = self.leave(id, End::Flush, why) {
                    if let Some(until) = hold.filter(|_| !self.config.name_hold.is_zero()) {
                        self.lobby.hold_name(&name, host, until);
                    }
                }
            }
            Event::Shutdown => {
                lobby.tell_everyone(reply::SHUTTING_DOWN, Reply::ShuttingDown);
                for peer in lobby.mailboxes() {
                    peer.outbox.end(End::Flush);
                }
                return true;
            }
        }
        false
    }

    fn line(&mut self, id: ClientId, text: &str) {
        let now = Instant::now();
        let (Some(addr), Some(stage)) = (
            self.lobby.mailbox(id).map(|peer| peer.addr),
            self.lobby.stage(id),
        ) else {
            return;
        };
        // Read once, here: the gates below and the lobby see the same command.
        let read = Read::new(text, self.lobby.is_tagged(id), stage);
        let command = read.command();
        if self.held_back(id, text, &command, now) || self.metered(id, read.label, &command, now) {
            return;
        }
        if !matches!(command, Command::Said(_)) || matches!(command, Command::Said(Input::Nick(_)))
        {
            // This line may take a name: names whose hold ran out are free.
            self.lobby.release_names(now);
        }
        let happened = self.lobby.run(id, read.label, command);
        self.after_line(id, addr, happened, now);
    }

    /// Whether a password attempt must wait for its address's back-off
    /// (it is held, or refused if one waits already).
    fn held_back(&mut self, id: ClientId, text: &str, command: &Command<'_>, now: Instant) -> bool {
        let attempt = match command {
            Command::Password { input, .. } => !matches!(input, Input::Quit),
            Command::Tagged => !self.lobby.is_admitted(id),
            _ => false,
        };
        if self.config.password.is_none() || !attempt {
            return false;
        }
        let Some(host) = self.lobby.mailbox(id).map(|peer| Host::of(peer.addr.ip())) else {
            return true;
        };
        if self.attempts.iter().any(|&(_, held, _)| held == id) {
            // One attempt waits already; this one would jump the wait.
            let secs = self.backoff.wait(host, now).map_or(1, |w| w.as_secs() + 1);
            self.lobby.tell(id, &reply::password_wait(secs));
            return true;
        }
        let Some(wait) = self.backoff.wait(host, now) else {
            return false;
        };
        let at = now + wait;
        let i = self.attempts.partition_point(|&(t, _, _)| t <= at);
        self.attempts.insert(i, (at, id, text.to_string()));
        true
    }

    /// Whether what the line pulls must wait until what its payer pulled
    /// before is paid for (it is refused, and the client tries later); a
    /// resume too, or one address could pull the whole history over and
    /// over by resuming.
    fn metered(
        &mut self,
        id: ClientId,
        label: Option<&str>,
        command: &Command<'_>,
        now: Instant,
    ) -> bool {
        let pulls = matches!(
            command,
            Command::Said(Input::Who | Input::History(_))
                | Command::Room(RoomInput::Rooms | RoomInput::Who(_) | RoomInput::History(..))
                | Command::Resume(_)
        );
        if !pulls {
            return false;
        }
        let payer = self.payer(id);
        if let Some(wait) = self.meters.wait(payer, now) {
            let refusal = reply::output_limited(wait.as_secs() + 1);
            self.lobby.answer(id, label, &refusal);
            return true;
        }
        // Lists are charged as asked; blocks as they are made.
        let bytes = self.lobby.list_bytes(id, command);
        if bytes > 0 {
            self.meters.charge(payer, bytes, now);
        }
        false
    }

    /// What a line's outcome means for the connection, the log and the
    /// meters.
    fn after_line(&mut self, id: ClientId, addr: SocketAddr, happened: Happened, now: Instant) {
        let host = Host::of(addr.ip());
        // History blocks (a late joiner's, `/history`'s, a resume's) are
        // charged as they are made.
        for (to, bytes) in self.lobby.take_blocks_sent() {
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
        match self.lobby.mailbox(id) {
            Some(peer) if !peer.trusted => Payer::Host(Host::of(peer.addr.ip())),
            _ => Payer::Connection(id),
        }
    }

    /// Closes the connections whose time to log in ran out.
    fn expire_logins(&mut self, now: Instant) {
        let late = self.lobby.expire_logins(now);
        let secs = self.config.login_timeout.as_secs();
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
        self.backlog.settle(self.lobby.take_tally());
        self.throttle
            .pause(self.backlog.bytes(), Instant::now())
            .is_some()
    }

    /// What every event ends with: cut off those whose queue overflowed,
    /// settle the backlog, update the status line and, unless stopping,
    /// give the writers time to catch up if the room is far behind.
    async fn after_event(&mut self, stopping: bool) {
        self.log_store_news();
        for (ghost, peer) in self.lobby.take_ghosts() {
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
            let overflowed = self.lobby.take_overflowed();
            if overflowed.is_empty() {
                break;
            }
            for id in overflowed {
                let end = End::Drop;
                let why = Some("send queue full: the client is not reading".to_string());
                self.leave(id, end, why);
            }
        }
        self.backlog.settle(self.lobby.take_tally());
        self.log.status(self.lobby.online(), self.lobby.relayed());
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
        let left = self.lobby.leave(id)?;
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

    fn config(login_timeout: Duration) -> Arc<Config> {
        Arc::new(Config {
            announce_max: 0,
            login_timeout,
            rate: 0,
            burst: 0,
            name_hold: Duration::ZERO,
            password_delay_max: Duration::from_secs(1),
            output_rate: 1 << 20,
            ..Config::default()
        })
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
        let (streams, _) =
            Streams::open(dir.path(), 1 << 20, &Config::default()).expect("a new store opens");
        let backlog = Arc::new(Backlog::new(0, usize::MAX));
        // The accept loop's end of the notices is dropped: sends then fail,
        // which the broker allows for.
        let (notices, _) = async_channel::unbounded();
        let log = Log::silent();
        let broker = Broker::new(
            config(login_timeout),
            streams,
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
        while broker.lobby.in_flight() > 0 {
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
