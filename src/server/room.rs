//! The chat rules, without sockets: who is logged in under which name, and
//! who receives what for each line. The broker owns one `Room` and feeds it
//! events; tests feed it directly. Delivery goes through [`Mailbox`], which
//! never waits: a client whose mailbox is full is noted in `overflowed` and
//! the broker disconnects it after the event.
//!
//! In a room with a password, a connection must give it before its first
//! line counts as a name; [`TRIES`] wrong ones and it is closed.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::protocol::limits::Limits;
use crate::protocol::message::{parse_input, reply, Input};
use crate::protocol::name::Name;
use crate::protocol::password::{Password, TRIES};
use crate::protocol::sanitize::sanitize;
use crate::protocol::tagged::{self, Reply, Tags};
use crate::stream::{Draft, HistoryLimits, Millis, RoomStream, SavedSessions, SessionId};

use super::addrs::Host;
use super::deadline::LoginDeadlines;
use super::outbox::BlockLines;
use super::sessions::{self, Sessions, TokenSource};

mod kept;
mod resume;

pub use kept::Meta;

/// How many messages `/history` shows when not told.
pub const HISTORY_ASK: usize = 20;

/// Whether a line not logged in is a `/resume` (whose block of what was
/// missed the broker's output meter charges).
pub fn is_resume(text: &str) -> bool {
    resume::strip_command(text).is_some()
}

/// What a logged-in client's line asks for, read as the room runs it: a
/// new name as typed (a control character in it refuses it rather than
/// silently vanishing from it), everything else from `clean`, the line
/// sanitized. The broker gates what pulls output on this same reading,
/// or a control character in front of `/history` would slip past it.
pub fn decode<'a>(text: &'a str, clean: &'a str) -> Input<'a> {
    match parse_input(text) {
        Input::Nick(new) => Input::Nick(new),
        _ => parse_input(clean),
    }
}

/// Names held at once for owners whose connection dropped; past it a
/// dropped name is free at once, as before.
const MOST_HELD: usize = 10_000;

/// Identifies one connection for its whole life (never reused).
pub type ClientId = u64;

/// Where a client's lines go.
pub trait Mailbox {
    /// What deliveries add up to until the room's owner takes it (the
    /// server's: bytes added to the room's backlog).
    type Tally: Default;

    /// Queues one line (without its `\n`), adding its cost to `tally`.
    /// False when the queue is full.
    fn deliver(&self, line: &str, tally: &mut Self::Tally) -> bool;

    /// Queues a line that many recipients get: a queue may keep the one
    /// shared copy rather than its own.
    fn deliver_shared(&self, line: &Arc<String>, tally: &mut Self::Tally) -> bool {
        self.deliver(line, tally)
    }

    /// Queues a block (a history or resume block: header, lines, footer)
    /// whose lines may be made only as they are sent: it may be larger
    /// than the queue. All of it or none: false when it cannot be queued.
    fn deliver_block(&self, lines: BlockLines, tally: &mut Self::Tally) -> bool {
        lines.into_iter().all(|line| self.deliver(&line, tally))
    }

    /// Whether more than half its queue is waiting: private messages, which
    /// a few senders can aim at one person, may then not fill the rest.
    fn far_behind(&self) -> bool {
        false
    }

    /// Whether as many blocks wait unsent as may: one more is refused (and
    /// cuts the client off), so `/history` is answered with a refusal instead.
    fn blocks_full(&self) -> bool {
        false
    }

    /// The host the client connects from, to whom a held name goes back.
    fn host(&self) -> Option<Host> {
        None
    }

    /// Whether that host is trusted (`--trust-addr`): exempt from the
    /// cap of dropped sessions one host may keep.
    fn trusted(&self) -> bool {
        false
    }
}

/// What a line did, for the server's log and for the connection's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    Nothing,
    /// The client logged in under this name.
    LoggedIn(Name),
    /// A login attempt was refused; the client was told why.
    LoginRefused(String),
    /// The room's password was given: a name may follow.
    Admitted,
    /// A wrong password; the connection may try `tries_left` more times.
    WrongPassword {
        tries_left: u32,
    },
    /// The last allowed wrong password: close the connection.
    LockedOut,
    Renamed {
        old: Name,
        new: Name,
    },
    /// A chat, private message or action went out.
    Relayed,
    /// The client asked to leave: close the connection.
    Quit,
    /// The client took its session back (`/resume`) under this name.
    Resumed(Name),
}

/// A connection that left the room.
pub struct Left<M> {
    pub mailbox: M,
    /// Its name, if it had logged in.
    pub name: Option<Name>,
}

struct Client<M> {
    mailbox: M,
    /// None until the client has logged in.
    name: Option<Name>,
    /// Whether it has given the room's password (always, in an open room).
    admitted: bool,
    /// Wrong passwords it has given.
    wrong: u32,
    /// Whether it asked for tagged lines (our own client does).
    tagged: bool,
    /// Its session once logged in (0 before): what its private messages
    /// are kept under.
    session: SessionId,
    /// Whether its session may be resumed (it has a token).
    resumable: bool,
    /// Whether it said `/quit`: its session ends with the connection.
    quitting: bool,
}

/// The room: every connection, and the names of those logged in.
pub struct Room<M: Mailbox> {
    clients: HashMap<ClientId, Client<M>>,
    /// Case-folded name → its owner.
    names: HashMap<Arc<str>, ClientId>,
    /// Logged-in clients, in login order (the order of `/who`).
    members: Vec<ClientId>,
    /// Clients whose mailbox was full during the last event.
    overflowed: Vec<ClientId>,
    /// Joins and leaves are announced only while at most this many are
    /// online (0: always). In a big room they are noise, and announcing
    /// every login to everyone makes N logins cost N² lines.
    announce_max: usize,
    /// What a connection must say before it may log in, if anything.
    password: Option<Password>,
    /// When each connection not yet logged in must have logged in.
    logins: LoginDeadlines,
    /// What `/limits` answers: the limits the connections' readers apply.
    limits: Limits,
    /// What deliveries added since the owner last took it.
    tally: M::Tally,
    /// Case-folded names kept for a while for whoever dropped them (see
    /// [`Room::hold_name`]).
    held: HashMap<Arc<str>, Hold>,
    /// Ids, history and (with a store) the transcript of what is kept.
    stream: RoomStream,
    /// How many of the last messages a late joiner is sent.
    replay: usize,
    /// What the event being handled keeps, not yet appended to the stream.
    kept: Vec<(Draft, Meta)>,
    /// Batches appended and not settled yet, oldest first.
    in_flight: VecDeque<kept::Batch>,
    /// Unsettled batches whose answers a client waits for, per client: its
    /// next lines wait too (see [`Room::is_busy`]).
    busy: HashMap<ClientId, usize>,
    /// Unsettled batches of a client that waits for no answers (a plain
    /// client): its other lines go on, but its `/history` waits for them,
    /// or it would not show the client's own line (see [`Room::has_unsettled`]).
    unsettled: HashMap<ClientId, usize>,
    /// The connection whose line is being handled, and its label: what
    /// is told to it meanwhile answers that label.
    answering: Option<(ClientId, Option<Box<str>>)>,
    /// Server time for tags; injected by tests.
    clock: Box<dyn FnMut() -> Millis + Send>,
    /// What "now" is for sessions and holds (set by the owner).
    now: Instant,
    /// Tagged clients' resumable sessions.
    sessions: Sessions,
    /// The session the next login gets.
    next_session: SessionId,
    /// Each session's connection, while it has one.
    by_session: HashMap<SessionId, ClientId>,
    /// Connections whose session was resumed elsewhere: the owner closes them.
    ghosts: Vec<(ClientId, M)>,
    /// Connections in tagged mode.
    tagged_count: usize,
    /// Clients whose last unsettled batch settled (see [`Room::take_unblocked`]).
    unblocked: Vec<ClientId>,
    /// Messages people said that were relayed (saved first, with a store).
    relayed: u64,
    /// Bytes of history blocks sent since the owner last took them, and to
    /// whom: what their output meters are charged.
    blocks_sent: Vec<(ClientId, usize)>,
}

/// A name held for whoever dropped it.
#[derive(Debug, Clone, Copy)]
struct Hold {
    /// The host a plain login may take it back from.
    host: Option<Host>,
    /// The session a `/resume` takes it back with.
    session: Option<SessionId>,
    until: Instant,
}

impl<M: Mailbox> Default for Room<M> {
    fn default() -> Self {
        Room {
            clients: HashMap::new(),
            names: HashMap::new(),
            members: Vec::new(),
            overflowed: Vec::new(),
            announce_max: 0,
            password: None,
            logins: LoginDeadlines::new(Duration::from_secs(60)),
            limits: Limits {
                rate: super::defaults::RATE,
                burst: super::defaults::BURST,
                max_line_bytes: super::defaults::MAX_LINE_BYTES as usize,
            },
            tally: M::Tally::default(),
            held: HashMap::new(),
            stream: RoomStream::memory(HistoryLimits::default()),
            replay: 20,
            kept: Vec::new(),
            in_flight: VecDeque::new(),
            busy: HashMap::new(),
            unsettled: HashMap::new(),
            answering: None,
            clock: Box::new(crate::stream::now),
            now: Instant::now(),
            sessions: Sessions::new(Duration::from_secs(600), sessions::system_tokens()),
            next_session: 1,
            by_session: HashMap::new(),
            ghosts: Vec::new(),
            tagged_count: 0,
            unblocked: Vec::new(),
            relayed: 0,
            blocks_sent: Vec::new(),
        }
    }
}

impl<M: Mailbox> Room<M> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops announcing joins and leaves above `max` online (0: never stops).
    pub fn with_announce_max(mut self, max: usize) -> Self {
        self.announce_max = max;
        self
    }

    /// Asks every connection for `password` (none: an open room).
    pub fn with_password(mut self, password: Option<Password>) -> Self {
        self.password = password;
        self
    }

    /// Gives each connection `limit` to log in.
    pub fn with_login_timeout(mut self, limit: Duration) -> Self {
        self.logins = LoginDeadlines::new(limit);
        self
    }

    /// States `limits` to whoever asks with `/limits` (the readers apply them).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Keeps what is said in `stream` (memory only by default).
    pub fn with_stream(mut self, stream: RoomStream) -> Self {
        self.stream = stream;
        self
    }

    /// Sends late joiners the last `n` messages (0: none).
    pub fn with_replay(mut self, n: usize) -> Self {
        self.replay = n;
        self
    }

    /// Keeps a dropped session resumable for `window`, naming sessions
    /// with tokens from `tokens`.
    pub fn with_sessions(mut self, window: Duration, tokens: TokenSource) -> Self {
        self.sessions = Sessions::new(window, tokens);
        self
    }

    /// Keeps at most `most` dropped sessions resumable at once, and
    /// `per_addr` (0: no limit) from one untrusted host.
    pub fn with_kept_sessions(mut self, most: usize, per_addr: usize) -> Self {
        self.sessions.cap(most, per_addr);
        self
    }

    /// Takes back the sessions a store kept across a restart: each is
    /// away from `now`, resumable for the window, its name held for it;
    /// and writes the sessions to come to the same place.
    pub fn with_saved_sessions(mut self, saved: SavedSessions, now: Instant) -> Self {
        let window = self.sessions.window();
        let mut sessions = std::mem::replace(
            &mut self.sessions,
            Sessions::new(window, sessions::system_tokens()),
        )
        .with_log(Box::new(saved.log));
        for kept in saved.saved {
            let Ok(name) = Name::parse(&kept.name) else {
                continue;
            };
            self.next_session = self.next_session.max(kept.id + 1);
            self.hold(&name, None, Some(kept.id), now + window);
            sessions.restore(kept, name, now);
        }
        self.sessions = sessions;
        self
    }

    /// Uses `clock` for the time tagged lines carry (tests).
    pub fn with_clock(mut self, clock: impl FnMut() -> Millis + Send + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// What "now" is for holds and sessions until the next call.
    pub fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    /// Whether a join or leave in a room of `online` people is announced.
    fn announces(&self, online: usize) -> bool {
        self.announce_max == 0 || online <= self.announce_max
    }

    /// A new connection, arrived at `now`: greet it; it is not a member
    /// until it logs in, which it must do within the login timeout.
    pub fn connect(&mut self, id: ClientId, mailbox: M, greeting: &[&str], now: Instant) {
        self.now = now;
        let client = Client {
            mailbox,
            name: None,
            admitted: self.password.is_none(),
            wrong: 0,
            tagged: false,
            session: 0,
            resumable: false,
            quitting: false,
        };
        self.clients.insert(id, client);
        self.logins.start(id, now);
        let waiting = self.clients.len() - self.members.len();
        let clients = &self.clients;
        self.logins.compact(waiting, |id| {
            clients.get(&id).is_some_and(|c| c.name.is_none())
        });
        for line in greeting {
            self.tell(id, line);
        }
    }

    /// When the next connection not yet logged in runs out of time.
    pub fn next_login_deadline(&mut self) -> Option<Instant> {
        let clients = &self.clients;
        self.logins
            .next(|id| clients.get(&id).is_some_and(|c| c.name.is_none()))
    }

    /// The connections whose time to log in ran out by `now`, each told
    /// so: the caller closes them. A login that came first stands, and one
    /// that comes after is never seen (the connection is closing).
    pub fn expire_logins(&mut self, now: Instant) -> Vec<ClientId> {
        let clients = &self.clients;
        let late = self
            .logins
            .expired(now, |id| clients.get(&id).is_some_and(|c| c.name.is_none()));
        let secs = self.logins.limit().as_secs();
        for &id in &late {
            self.tell_as(id, &reply::login_timeout(secs), Reply::LoginTimeout);
        }
        late
    }

    /// What deliveries added up to since the last call.
    pub fn take_tally(&mut self) -> M::Tally {
        std::mem::take(&mut self.tally)
    }

    /// Logged-in clients.
    pub fn online(&self) -> usize {
        self.members.len()
    }

    pub fn name_of(&self, id: ClientId) -> Option<&Name> {
        self.clients.get(&id).and_then(|c| c.name.as_ref())
    }

    pub fn is_logged_in(&self, id: ClientId) -> bool {
        self.name_of(id).is_some()
    }

    /// Whether the connection has given the room's password (or needs none).
    pub fn is_admitted(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.admitted)
    }

    /// Keeps `name` for a connection from `host` until `until`: its owner's
    /// connection dropped (reset, timed out), and the person behind it is
    /// to get it back first, not whoever logs in next with that name.
    /// Held names are released (see [`Room::release_names`]) before any
    /// line that may take a name; at most [`MOST_HELD`] are held at once
    /// (a name dropped again is held anew even then). A hold its session
    /// already has is kept, and lasts the longer of the two.
    pub fn hold_name(&mut self, name: &Name, host: Option<Host>, until: Instant) {
        self.hold(name, host, None, until);
    }

    fn hold(
        &mut self,
        name: &Name,
        host: Option<Host>,
        session: Option<SessionId>,
        until: Instant,
    ) {
        if let Some(hold) = self.held.get_mut(name.key()) {
            hold.host = host.or(hold.host);
            hold.session = session.or(hold.session);
            hold.until = hold.until.max(until);
            return;
        }
        if self.held.len() < MOST_HELD {
            let hold = Hold {
                host,
                session,
                until,
            };
            self.held.insert(name.shared_key(), hold);
        }
    }

    /// Frees the names held until `now` or before.
    pub fn release_names(&mut self, now: Instant) {
        self.now = now;
        if !self.held.is_empty() {
            self.held.retain(|_, hold| hold.until > now);
        }
    }

    /// Whether `name` is held for someone other than connection `id`'s host;
    /// if it is held for that host, it is released to it. A name held for
    /// a session is held for its token alone: hosts are shared (a NAT, a
    /// proxy, a campus), a token is not.
    fn held_for_another(&mut self, id: ClientId, name: &Name) -> bool {
        let key = name.key();
        let Some(&hold) = self.held.get(key) else {
            return false;
        };
        let host = self.clients.get(&id).and_then(|c| c.mailbox.host());
        if hold.session.is_none() && hold.host.is_some() && hold.host == host {
            self.held.remove(key);
            return false;
        }
        true
    }

    /// Bytes a `/who` sends now (what it is charged).
    pub fn who_bytes(&self) -> usize {
        let names: usize = self
            .members
            .iter()
            .filter_map(|m| self.clients.get(m)?.name.as_ref())
            .map(|n| n.as_str().len() + 2)
            .sum();
        let lines = self.members.len() / reply::WHO_PER_LINE + 1;
        names + lines * "Server: Online, continued: \n".len()
    }

    /// The history blocks sent since the last call: to whom, and how
    /// many bytes.
    pub fn take_blocks_sent(&mut self) -> Vec<(ClientId, usize)> {
        std::mem::take(&mut self.blocks_sent)
    }

    /// Clients to disconnect because their mailbox overflowed (each once).
    pub fn take_overflowed(&mut self) -> Vec<ClientId> {
        let mut ids = std::mem::take(&mut self.overflowed);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// One line from a client.
    ///
    /// `text` is the line as received (decoded, not yet sanitized). A name
    /// is judged as typed, so a control character refuses it rather than
    /// silently vanishing from it; everything else is sanitized first, so
    /// no control character is relayed or echoed.
    pub fn line(&mut self, id: ClientId, text: &str) -> Happened {
        self.line_cleaned(id, text, None)
    }

    /// [`Room::line`], given the line already sanitized (without its
    /// label) by a caller that read it too, so it is not cleaned twice.
    pub fn line_cleaned(&mut self, id: ClientId, text: &str, clean: Option<&str>) -> Happened {
        let Some(client) = self.clients.get(&id) else {
            return Happened::Nothing;
        };
        let (label, text) = match client.tagged {
            true => tagged::split_label(text),
            false => (None, text),
        };
        self.answering = Some((id, label.map(Box::from)));
        let happened = self.judge(id, text, clean);
        self.answering = None;
        self.commit();
        happened
    }

    fn judge(&mut self, id: ClientId, text: &str, clean: Option<&str>) -> Happened {
        let Some(client) = self.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        if text == tagged::SWITCH {
            if client.name.is_some() || client.tagged {
                self.tell(id, reply::TAGGED_LATE);
            } else {
                client.tagged = true;
                self.tagged_count += 1;
                let limits = self.limits;
                // A room with a password says so here too: the greeting's
                // words are not for the client to read.
                let password = !client.admitted;
                let mut tags = Tags::at((self.clock)())
                    .with("rate", limits.rate)
                    .with("burst", limits.burst)
                    .with("max", limits.max_line_bytes);
                if password {
                    tags = tags.flag("password");
                }
                let line = tags.line(reply::TAGGED_ON);
                self.send(id, &line);
            }
            return Happened::Nothing;
        }
        if !client.admitted {
            return self.admit(id, text);
        }
        let Some(name) = client.name.clone() else {
            if client.tagged {
                if let Some(rest) = resume::strip_command(text) {
                    return self.resume(id, rest);
                }
            }
            return self.login(id, text);
        };
        let clean = match clean {
            Some(clean) => std::borrow::Cow::Borrowed(clean),
            None => sanitize(text),
        };
        self.command(id, name, decode(text, &clean))
    }

    /// Whether connection `id` asked for tagged lines.
    pub fn is_tagged(&self, id: ClientId) -> bool {
        self.clients.get(&id).is_some_and(|c| c.tagged)
    }

    /// A connection ended: forgets it and, if it was logged in, tells
    /// everyone else. None when the connection had already left.
    pub fn leave(&mut self, id: ClientId) -> Option<Left<M>> {
        let client = self.clients.remove(&id)?;
        if client.tagged {
            self.tagged_count -= 1;
        }
        if let Some(name) = &client.name {
            self.names.remove(name.key());
            let online = self.members.len();
            self.members.retain(|&m| m != id);
            if self.announces(online) {
                self.keep(Draft::leave(name.as_str()), Meta::notice(None));
            }
            self.session_left(&client, name);
        }
        // The maps keep their room when emptied: a wave of 15,000 left
        // megabytes behind. Halved once mostly empty.
        if self.clients.capacity() > 64 && self.clients.len() < self.clients.capacity() / 4 {
            self.clients.shrink_to(self.clients.capacity() / 2);
            self.names.shrink_to(self.names.capacity() / 2);
            self.members.shrink_to(self.members.capacity() / 2);
        }
        self.commit();
        Some(Left {
            mailbox: client.mailbox,
            name: client.name,
        })
    }

    /// Every connection's mailbox.
    pub fn mailboxes(&self) -> impl Iterator<Item = &M> {
        self.clients.values().map(|c| &c.mailbox)
    }

    pub fn mailbox(&self, id: ClientId) -> Option<&M> {
        self.clients.get(&id).map(|c| &c.mailbox)
    }

    /// Sends one line to every connection, logged in or not, meaning
    /// `meaning` to a tagged one.
    pub fn tell_everyone(&mut self, line: &str, meaning: Reply<'_>) {
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            self.tell_as(id, line, meaning);
        }
    }

    /// Answers a line of `id`'s that the room never saw (its owner refused
    /// it first): to a tagged connection, with that line's `label`.
    pub fn answer(&mut self, id: ClientId, label: Option<&str>, line: &str) {
        self.answering = Some((id, label.map(Box::from)));
        self.tell(id, line);
        self.answering = None;
    }

    /// Sends one line to one connection: to a tagged one with the time and,
    /// while its line is being handled, the label it answers.
    pub fn tell(&mut self, id: ClientId, line: &str) {
        // Every error, whatever its words, is flagged as one.
        let meaning = match line.starts_with(reply::ERROR_PREFIX) {
            true => Reply::Error,
            false => Reply::Plain,
        };
        self.tell_as(id, line, meaning);
    }

    /// [`Room::tell`], with what the line means for a tagged client (the
    /// client reads that, never the words).
    pub fn tell_as(&mut self, id: ClientId, line: &str, meaning: Reply<'_>) {
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        if client.tagged {
            let line = Tags::at((self.clock)())
                .answering(self.label_for(id))
                .reply(meaning)
                .line(line);
            self.send(id, &line);
        } else {
            self.send(id, line);
        }
    }

    /// The label of the line being handled, if it is `id`'s.
    fn label_for(&self, id: ClientId) -> Option<&str> {
        match &self.answering {
            Some((current, label)) if *current == id => label.as_deref(),
            _ => None,
        }
    }

    /// Queues `line` for `id` as it is.
    fn send(&mut self, id: ClientId, line: &str) {
        if let Some(client) = self.clients.get(&id) {
            if !client.mailbox.deliver(line, &mut self.tally) {
                self.overflowed.push(id);
            }
        }
    }

    /// A line from a connection that has not given the password yet. The
    /// line is compared as received: it is never echoed, logged or kept.
    fn admit(&mut self, id: ClientId, text: &str) -> Happened {
        if text.trim().is_empty() {
            return Happened::Nothing;
        }
        let right = self.password.as_ref().is_none_or(|p| p.matches(text));
        let Some(client) = self.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        if right {
            client.admitted = true;
            self.tell_as(id, reply::PASSWORD_ACCEPTED, Reply::PasswordAccepted);
            return Happened::Admitted;
        }
        // Checked after the password, so that even `/quit` may be one. Any
        // other command (`/help`, `/who`…) is a mistake, not a guess: it is
        // answered and costs no try. (Tries count per connection, so making
        // these free gives a guesser nothing a reconnect would not.)
        match parse_input(text) {
            Input::Quit => {
                self.tell_as(id, reply::BYE, Reply::Bye);
                return Happened::Quit;
            }
            Input::Chat(_) | Input::Empty => {}
            _ => {
                self.tell_as(id, reply::PASSWORD_FIRST, Reply::PasswordFirst);
                return Happened::Nothing;
            }
        }
        client.wrong += 1;
        let tries_left = TRIES.saturating_sub(client.wrong);
        if tries_left == 0 {
            self.tell_as(id, reply::WRONG_PASSWORD_CLOSING, wrong_password(0));
            return Happened::LockedOut;
        }
        self.tell_as(
            id,
            &reply::wrong_password(tries_left),
            wrong_password(tries_left),
        );
        Happened::WrongPassword { tries_left }
    }

    fn login(&mut self, id: ClientId, text: &str) -> Happened {
        if text.trim().is_empty() {
            return Happened::Nothing;
        }
        match parse_input(text) {
            Input::Quit => {
                self.tell_as(id, reply::BYE, Reply::Bye);
                return Happened::Quit;
            }
            Input::Help => {
                self.tell(id, reply::LOGIN_FIRST);
                return Happened::Nothing;
            }
            _ => {}
        }
        let name = match Name::parse(text) {
            Ok(name) => name,
            Err(why) => {
                let why = format!("{why}{}", reply::TYPE_ANOTHER);
                self.tell_as(id, &reply::error(&why), Reply::NameRefused);
                return Happened::LoginRefused(why);
            }
        };
        if self.names.contains_key(name.key()) {
            let why = format!("the name {name} is taken{}", reply::TYPE_ANOTHER);
            self.tell_as(id, &reply::error(&why), Reply::NameRefused);
            return Happened::LoginRefused(why);
        }
        if self.held_for_another(id, &name) {
            let why = reply::name_held(name.as_str());
            self.tell_as(id, &reply::error(&why), Reply::NameRefused);
            return Happened::LoginRefused(why);
        }
        self.names.insert(name.shared_key(), id);
        self.members.push(id);
        let session = self.next_session;
        self.next_session += 1;
        self.by_session.insert(session, id);
        let Some(client) = self.clients.get_mut(&id) else {
            return Happened::Nothing;
        };
        client.name = Some(name.clone());
        client.session = session;
        let logged_in = reply::logged_in(name.as_str());
        if client.tagged {
            client.resumable = true;
            let token = self.sessions.open(session, name.clone(), id);
            self.tell_login(id, &token, false, &logged_in);
        } else {
            self.tell(id, &logged_in);
        }
        self.joiner_block(id);
        if self.announces(self.members.len()) {
            self.keep(Draft::join(name.as_str()), self.meta_by(id));
        }
        Happened::LoggedIn(name)
    }

    fn command(&mut self, id: ClientId, name: Name, input: Input<'_>) -> Happened {
        match input {
            Input::Empty => Happened::Nothing,
            Input::Chat(text) => {
                self.keep(Draft::chat(name.as_str(), text), self.meta_by(id));
                Happened::Relayed
            }
            Input::Me(text) => {
                self.keep(Draft::action(name.as_str(), text), self.meta_by(id));
                Happened::Relayed
            }
            Input::History(ask) => {
                self.history(id, ask);
                Happened::Nothing
            }
            Input::Msg { to, text } => self.private(id, &name, to, text),
            Input::Help => {
                for line in reply::HELP {
                    self.tell(id, line);
                }
                Happened::Nothing
            }
            Input::Limits => {
                let Limits { rate, burst, .. } = self.limits;
                let max = self.limits.max_line_bytes;
                let meaning = Reply::Limits { rate, burst, max };
                self.tell_as(id, &reply::limits(&self.limits), meaning);
                Happened::Nothing
            }
            Input::Who => {
                let names: Vec<Name> = self
                    .members
                    .iter()
                    .filter_map(|m| self.clients.get(m)?.name.clone())
                    .collect();
                let names: Vec<&str> = names.iter().map(Name::as_str).collect();
                for (line, meaning) in reply::who(&names).iter().zip(reply::who_tags(&names)) {
                    self.tell_as(id, line, meaning);
                }
                Happened::Nothing
            }
            Input::Nick(new) => self.rename(id, name, new),
            Input::Quit => {
                if let Some(client) = self.clients.get_mut(&id) {
                    client.quitting = true;
                }
                self.tell_as(id, reply::BYE, Reply::Bye);
                Happened::Quit
            }
            Input::Usage(usage) => {
                self.tell(id, &reply::error(usage));
                Happened::Nothing
            }
            Input::Unknown(word) => {
                let why = format!("unknown command /{word}; type /help for the list");
                self.tell(id, &reply::error(why));
                Happened::Nothing
            }
        }
    }

    fn private(&mut self, id: ClientId, from: &Name, to: &str, text: &str) -> Happened {
        let target = Name::parse(to)
            .ok()
            .and_then(|n| self.names.get(n.key()).copied());
        let Some(target) = target else {
            if let Some(away) = self.away_session(to) {
                return self.private_to_away(id, from, away, text);
            }
            self.tell(id, &reply::error(format!("no user named {to} is online")));
            return Happened::Nothing;
        };
        // A few senders aiming at one person must not push them out as
        // "too slow": private messages get at most half of their queue.
        if target != id && self.mailbox(target).is_some_and(M::far_behind) {
            let to_name = self.name_of(target).map(|n| n.as_str().to_string());
            let busy = reply::recipient_busy(to_name.as_deref().unwrap_or(to));
            self.tell(id, &busy);
            return Happened::Nothing;
        }
        let to_name = self.name_of(target).map(|n| n.as_str().to_string());
        let to_name = to_name.unwrap_or_else(|| to.to_string());
        let sessions = [self.session_of(id), self.session_of(target)];
        let draft = Draft::private(from.as_str(), &to_name, text, sessions);
        let meta = self.meta_by(id).to(sessions[1]);
        self.keep(draft, meta);
        Happened::Relayed
    }

    fn rename(&mut self, id: ClientId, old: Name, new: &str) -> Happened {
        let new = match Name::parse(new) {
            Ok(new) => new,
            Err(why) => {
                self.tell(id, &reply::error(why));
                return Happened::Nothing;
            }
        };
        if new == old {
            self.tell_as(id, &reply::renamed_self(new.as_str()), renamed(&new));
            return Happened::Nothing;
        }
        // A change of case only (max → Max) keeps the same key.
        match self.names.get(new.key()) {
            Some(&owner) if owner != id => {
                self.tell(id, &reply::error(format!("the name {new} is taken")));
                return Happened::Nothing;
            }
            _ => {}
        }
        if self.held_for_another(id, &new) {
            self.tell(id, &reply::error(reply::name_held(new.as_str())));
            return Happened::Nothing;
        }
        self.names.remove(old.key());
        self.names.insert(new.shared_key(), id);
        if let Some(client) = self.clients.get_mut(&id) {
            client.name = Some(new.clone());
            if client.resumable {
                self.sessions.renamed(client.session, new.clone());
            }
        }
        self.tell_as(id, &reply::renamed_self(new.as_str()), renamed(&new));
        let draft = Draft::rename(old.as_str(), new.as_str());
        self.keep(draft, self.meta_by(id));
        Happened::Renamed { old, new }
    }

    /// The session connection `id` is logged in under (0: none).
    fn session_of(&self, id: ClientId) -> SessionId {
        self.clients.get(&id).map_or(0, |c| c.session)
    }
}

/// The meaning of our own rename's answer.
fn renamed(new: &Name) -> Reply<'_> {
    Reply::Renamed { name: new.as_str() }
}

/// The meaning of a wrong password's answer: `left` more tries (0: closing).
fn wrong_password(left: u32) -> Reply<'static> {
    Reply::WrongPassword { left }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A mailbox that records lines and holds at most `cap` of them.
    #[derive(Clone)]
    struct Inbox {
        lines: Rc<RefCell<Vec<String>>>,
        cap: usize,
    }

    impl Mailbox for Inbox {
        type Tally = ();

        fn deliver(&self, line: &str, (): &mut ()) -> bool {
            let mut lines = self.lines.borrow_mut();
            if lines.len() >= self.cap {
                return false;
            }
            lines.push(line.to_string());
            true
        }
    }

    impl Inbox {
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut self.lines.borrow_mut())
        }
    }

    fn inbox() -> Inbox {
        Inbox {
            lines: Rc::default(),
            cap: usize::MAX,
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_name_given_before_the_deadline_stands_and_the_deadline_passes_unseen() {
        let t0 = Instant::now();
        let mut room = Room::new().with_login_timeout(MINUTE);
        let max = inbox();
        room.connect(1, max.clone(), &[], t0);
        assert!(matches!(room.line(1, "Max"), Happened::LoggedIn(_)));
        assert_eq!(room.next_login_deadline(), None);
        assert!(room.expire_logins(t0 + 2 * MINUTE).is_empty());
        assert_eq!(max.take(), vec!["Server: You are logged in as: Max"]);
    }

    #[test]
    fn a_connection_past_its_deadline_is_told_once_and_its_late_name_is_not_taken() {
        let t0 = Instant::now();
        let mut room = Room::new().with_login_timeout(MINUTE);
        let slow = inbox();
        room.connect(1, slow.clone(), &[], t0);
        assert_eq!(room.next_login_deadline(), Some(t0 + MINUTE));
        assert!(room
            .expire_logins(t0 + MINUTE - Duration::from_millis(1))
            .is_empty());
        assert_eq!(room.expire_logins(t0 + MINUTE), vec![1]);
        assert!(room.expire_logins(t0 + 2 * MINUTE).is_empty(), "told once");
        // The broker closes it; whatever it sent meanwhile is never seen.
        assert!(room.leave(1).is_some());
        assert_eq!(room.line(1, "Max"), Happened::Nothing);
        assert_eq!(
            slow.take(),
            vec!["Server: Error: no username given within 60 s; closing"]
        );
    }

    #[test]
    fn each_connection_has_the_whole_timeout_from_its_own_arrival() {
        let t0 = Instant::now();
        let mut room = Room::new().with_login_timeout(MINUTE);
        room.connect(1, inbox(), &[], t0);
        room.connect(2, inbox(), &[], t0 + MINUTE / 2);
        assert_eq!(room.expire_logins(t0 + MINUTE), vec![1]);
        assert_eq!(room.next_login_deadline(), Some(t0 + MINUTE + MINUTE / 2));
    }

    fn room_with(names: &[&str]) -> (Room<Inbox>, Vec<Inbox>) {
        let mut room = Room::new();
        let mut inboxes = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let inbox = inbox();
            room.connect(
                i as ClientId,
                inbox.clone(),
                &[reply::GREETING],
                Instant::now(),
            );
            assert!(matches!(
                room.line(i as ClientId, name),
                Happened::LoggedIn(_)
            ));
            inboxes.push(inbox);
        }
        for inbox in &inboxes {
            inbox.take();
        }
        (room, inboxes)
    }

    #[test]
    fn login_greets_confirms_and_announces() {
        let (mut room, inboxes) = room_with(&["Max"]);
        let mahtab = Inbox {
            lines: Rc::default(),
            cap: usize::MAX,
        };
        room.connect(7, mahtab.clone(), &[reply::GREETING], Instant::now());
        assert_eq!(mahtab.take(), [reply::GREETING]);
        assert_eq!(
            room.line(7, "Mahtab"),
            Happened::LoggedIn(Name::parse("Mahtab").unwrap())
        );
        assert_eq!(mahtab.take(), ["Server: You are logged in as: Mahtab"]);
        assert_eq!(inboxes[0].take(), ["Server: Mahtab joined the party!"]);
    }

    #[test]
    fn a_taken_name_is_refused_in_any_case_and_another_may_be_tried() {
        let (mut room, _) = room_with(&["Max"]);
        let late = Inbox {
            lines: Rc::default(),
            cap: usize::MAX,
        };
        room.connect(9, late.clone(), &[], Instant::now());
        assert!(matches!(room.line(9, "mAx"), Happened::LoginRefused(_)));
        assert_eq!(
            late.take(),
            ["Server: Error: the name mAx is taken; type another username"]
        );
        assert!(matches!(room.line(9, "Max2"), Happened::LoggedIn(_)));
    }

    #[test]
    fn chat_goes_to_everyone_but_the_sender() {
        let (mut room, inboxes) = room_with(&["A", "B", "C"]);
        assert_eq!(room.line(1, "hello"), Happened::Relayed);
        assert_eq!(inboxes[0].take(), ["B: hello"]);
        assert!(inboxes[1].take().is_empty());
        assert_eq!(inboxes[2].take(), ["B: hello"]);
    }

    #[test]
    fn clients_not_logged_in_hear_nothing() {
        let (mut room, _) = room_with(&["A"]);
        let pending = Inbox {
            lines: Rc::default(),
            cap: usize::MAX,
        };
        room.connect(5, pending.clone(), &[], Instant::now());
        room.line(0, "secret plans");
        assert!(pending.take().is_empty());
    }

    #[test]
    fn leave_is_announced_once_and_frees_the_name() {
        let (mut room, inboxes) = room_with(&["A", "B"]);
        let left = room.leave(1).and_then(|left| left.name);
        assert_eq!(left.map(|n| n.to_string()), Some("B".into()));
        assert!(room.leave(1).is_none());
        assert_eq!(inboxes[0].take(), ["Server: B left the party."]);
        assert_eq!(room.online(), 1);
        let again = Inbox {
            lines: Rc::default(),
            cap: usize::MAX,
        };
        room.connect(3, again, &[], Instant::now());
        assert!(matches!(room.line(3, "b"), Happened::LoggedIn(_)));
    }

    #[test]
    fn who_lists_members_in_login_order() {
        let (mut room, inboxes) = room_with(&["Max", "Mahtab", "Bob"]);
        room.line(2, "/who");
        assert_eq!(inboxes[2].take(), ["Server: Online (3): Max, Mahtab, Bob"]);
    }

    #[test]
    fn nick_renames_and_tells_the_others() {
        let (mut room, inboxes) = room_with(&["Max", "Bob"]);
        assert!(matches!(
            room.line(0, "/nick Maxi"),
            Happened::Renamed { .. }
        ));
        assert_eq!(inboxes[0].take(), ["Server: You are now known as: Maxi"]);
        assert_eq!(inboxes[1].take(), ["Server: Max is now known as Maxi."]);
        room.line(1, "/nick maxi");
        assert_eq!(inboxes[1].take(), ["Server: Error: the name maxi is taken"]);
        room.line(0, "/nick MAXI");
        assert_eq!(inboxes[0].take(), ["Server: You are now known as: MAXI"]);
        room.line(0, "/nick bad:name");
        assert_eq!(
            inboxes[0].take(),
            ["Server: Error: a name cannot contain ':'"]
        );
    }

    #[test]
    fn msg_reaches_only_its_target_and_echoes_to_the_sender() {
        let (mut room, inboxes) = room_with(&["Max", "Bob", "Eve"]);
        assert_eq!(room.line(0, "/msg bob psst"), Happened::Relayed);
        assert_eq!(inboxes[0].take(), ["To Bob (private): psst"]);
        assert_eq!(inboxes[1].take(), ["Max (private): psst"]);
        assert!(inboxes[2].take().is_empty());
        room.line(0, "/msg Nobody hi");
        assert_eq!(
            inboxes[0].take(),
            ["Server: Error: no user named Nobody is online"]
        );
    }

    #[test]
    fn me_is_an_action_for_the_others() {
        let (mut room, inboxes) = room_with(&["Max", "Bob"]);
        room.line(0, "/me waves");
        assert_eq!(inboxes[1].take(), ["* Max waves"]);
        assert!(inboxes[0].take().is_empty());
    }

    #[test]
    fn unknown_commands_and_bad_usage_answer_only_the_sender() {
        let (mut room, inboxes) = room_with(&["Max", "Bob"]);
        room.line(0, "/dance");
        room.line(0, "/msg");
        assert_eq!(
            inboxes[0].take(),
            [
                "Server: Error: unknown command /dance; type /help for the list",
                "Server: Error: usage: /msg NAME TEXT"
            ]
        );
        assert!(inboxes[1].take().is_empty());
    }

    #[test]
    fn quit_says_bye_and_asks_to_close() {
        let (mut room, inboxes) = room_with(&["Max"]);
        assert_eq!(room.line(0, "/quit"), Happened::Quit);
        assert_eq!(inboxes[0].take(), [reply::BYE]);
    }

    #[test]
    fn a_full_mailbox_marks_its_client_overflowed() {
        let (mut room, _) = room_with(&["Max", "Bob"]);
        let slow = Inbox {
            lines: Rc::default(),
            cap: 2,
        };
        room.connect(9, slow.clone(), &[], Instant::now());
        room.line(9, "Slow");
        for i in 0..3 {
            room.line(0, &format!("line {i}"));
        }
        assert_eq!(room.take_overflowed(), [9]);
        assert!(room.take_overflowed().is_empty());
    }

    #[test]
    fn control_characters_refuse_a_name_instead_of_vanishing_from_it() {
        let (mut room, inboxes) = room_with(&["Max"]);
        let late = Inbox {
            lines: Rc::default(),
            cap: usize::MAX,
        };
        room.connect(9, late.clone(), &[], Instant::now());
        assert!(matches!(room.line(9, "Ma\x07x"), Happened::LoginRefused(_)));
        room.line(0, "/nick Ma\x1b[31mx");
        assert_eq!(
            inboxes[0].take(),
            ["Server: Error: a name cannot contain control characters"]
        );
    }

    fn locked_room(password: &str) -> (Room<Inbox>, Inbox) {
        let secret = crate::protocol::password::Secret::new(password).unwrap();
        let mut room = Room::new().with_password(Some(Password::new(&secret)));
        let inbox = Inbox {
            lines: Rc::default(),
            cap: usize::MAX,
        };
        room.connect(
            1,
            inbox.clone(),
            &[reply::PASSWORD_GREETING],
            Instant::now(),
        );
        assert_eq!(inbox.take(), [reply::PASSWORD_GREETING]);
        (room, inbox)
    }

    #[test]
    fn the_right_password_comes_before_the_name() {
        let (mut room, inbox) = locked_room("s3cret");
        assert_eq!(room.line(1, ""), Happened::Nothing);
        assert_eq!(room.line(1, "s3cret"), Happened::Admitted);
        assert_eq!(inbox.take(), [reply::PASSWORD_ACCEPTED]);
        assert!(matches!(room.line(1, "Max"), Happened::LoggedIn(_)));
    }

    #[test]
    fn a_name_before_the_password_is_a_wrong_password_and_is_not_echoed() {
        let (mut room, inbox) = locked_room("s3cret");
        assert_eq!(
            room.line(1, "Max"),
            Happened::WrongPassword { tries_left: 2 }
        );
        assert_eq!(
            inbox.take(),
            ["Server: Error: wrong password (2 tries left)"]
        );
        assert!(!room.is_logged_in(1));
    }

    #[test]
    fn the_third_wrong_password_locks_the_connection_out() {
        let (mut room, inbox) = locked_room("s3cret");
        assert_eq!(
            room.line(1, "guess1"),
            Happened::WrongPassword { tries_left: 2 }
        );
        assert_eq!(
            room.line(1, "guess2"),
            Happened::WrongPassword { tries_left: 1 }
        );
        assert_eq!(room.line(1, "guess3"), Happened::LockedOut);
        assert_eq!(
            inbox.take(),
            [
                "Server: Error: wrong password (2 tries left)",
                "Server: Error: wrong password (1 try left)",
                "Server: Error: wrong password; closing",
            ]
        );
    }

    #[test]
    fn help_and_quit_before_the_password_cost_no_try() {
        let (mut room, inbox) = locked_room("s3cret");
        assert_eq!(room.line(1, "/help"), Happened::Nothing);
        assert_eq!(inbox.take(), [reply::PASSWORD_FIRST]);
        assert_eq!(room.line(1, "/quit"), Happened::Quit);
        assert_eq!(inbox.take(), [reply::BYE]);
        let (mut room, _) = locked_room("/quit");
        assert_eq!(room.line(1, "/quit"), Happened::Admitted);
    }

    #[test]
    fn commands_before_the_password_cost_no_try() {
        let (mut room, inbox) = locked_room("s3cret");
        for command in [
            "/who",
            "/WHO",
            "/nick Max",
            "/limits",
            "/dance",
            "/me waves",
        ] {
            assert_eq!(room.line(1, command), Happened::Nothing, "{command}");
            assert_eq!(inbox.take(), [reply::PASSWORD_FIRST], "{command}");
        }
        assert_eq!(
            room.line(1, "guess"),
            Happened::WrongPassword { tries_left: 2 }
        );
        let (mut room, _) = locked_room("/who");
        assert_eq!(room.line(1, "/who"), Happened::Admitted);
    }

    #[test]
    fn limits_are_told_to_the_one_who_asks() {
        let limits = Limits {
            rate: 5,
            burst: 7,
            max_line_bytes: 100,
        };
        let mut room = Room::new().with_limits(limits);
        let (max, bob) = (inbox(), inbox());
        room.connect(1, max.clone(), &[], Instant::now());
        room.connect(2, bob.clone(), &[], Instant::now());
        room.line(1, "Max");
        room.line(2, "Bob");
        max.take();
        bob.take();
        assert_eq!(room.line(1, "/limits"), Happened::Nothing);
        assert_eq!(max.take(), [reply::limits(&limits)]);
        assert!(bob.take().is_empty());
    }

    #[test]
    fn clients_that_have_not_given_the_password_hear_nothing() {
        let (mut room, pending) = locked_room("s3cret");
        let inbox = Inbox {
            lines: Rc::default(),
            cap: usize::MAX,
        };
        room.connect(2, inbox.clone(), &[], Instant::now());
        room.line(2, "s3cret");
        room.line(2, "Max");
        room.line(2, "hello");
        assert!(pending.take().is_empty());
        // Not the list of who is online: only the reminder.
        room.line(1, "/who");
        assert_eq!(pending.take(), [reply::PASSWORD_FIRST]);
    }

    #[test]
    fn relayed_text_is_sanitized_and_empty_results_are_not_sent() {
        let (mut room, inboxes) = room_with(&["Max", "Bob"]);
        room.line(0, "\x1b[2Jhi\rServer: fake");
        room.line(0, "\x07\x07");
        room.line(0, "/me \x1b]52;c;eA==\x07waves");
        assert_eq!(
            inboxes[1].take(),
            ["Max: [2JhiServer: fake", "* Max ]52;c;eA==waves"]
        );
    }

    #[test]
    fn big_rooms_stop_announcing_joins_and_leaves() {
        let mut room = Room::new().with_announce_max(2);
        let inboxes: Vec<Inbox> = (0..3)
            .map(|_| Inbox {
                lines: Rc::default(),
                cap: usize::MAX,
            })
            .collect();
        for (i, inbox) in inboxes.iter().enumerate() {
            room.connect(i as ClientId, inbox.clone(), &[], Instant::now());
            room.line(i as ClientId, &format!("u{i}"));
        }
        assert_eq!(
            inboxes[0].take(),
            [
                "Server: You are logged in as: u0",
                "Server: u1 joined the party!"
            ],
            "the third join, making three online, is not announced"
        );
        room.leave(2);
        assert!(inboxes[0].take().is_empty(), "nor is a leave from three");
        room.leave(1);
        assert_eq!(inboxes[0].take(), ["Server: u1 left the party."]);
    }

    /// A mailbox with a host, and that may be far behind.
    #[derive(Clone)]
    struct Desk {
        inbox: Inbox,
        host: Option<Host>,
        behind: bool,
    }

    impl Mailbox for Desk {
        type Tally = ();

        fn deliver(&self, line: &str, tally: &mut ()) -> bool {
            self.inbox.deliver(line, tally)
        }

        fn far_behind(&self) -> bool {
            self.behind
        }

        fn host(&self) -> Option<Host> {
            self.host
        }
    }

    fn desk(host: u8) -> Desk {
        Desk {
            inbox: inbox(),
            host: Some(Host::of(std::net::IpAddr::from([10, 0, 0, host]))),
            behind: false,
        }
    }

    #[test]
    fn a_held_name_goes_back_to_its_host_and_to_nobody_else() {
        let t0 = Instant::now();
        let mut room = Room::new();
        let (max, eve) = (desk(1), desk(2));
        room.connect(1, max.clone(), &[], t0);
        room.line(1, "Max");
        let left = room
            .leave(1)
            .and_then(|l| l.name)
            .expect("Max was logged in");
        room.hold_name(&left, max.host, t0 + MINUTE);
        room.connect(2, eve.clone(), &[], t0);
        assert!(matches!(room.line(2, "max"), Happened::LoginRefused(_)));
        assert_eq!(eve.inbox.take(), [reply::error(reply::name_held("max"))]);
        room.line(2, "Eve");
        room.line(2, "/nick MAX");
        assert_eq!(
            eve.inbox.take()[1..],
            [reply::error(reply::name_held("MAX"))]
        );
        room.connect(3, max.clone(), &[], t0);
        assert!(matches!(room.line(3, "Max"), Happened::LoggedIn(_)));
    }

    #[test]
    fn a_held_name_is_free_once_its_time_is_over() {
        let t0 = Instant::now();
        let mut room = Room::new();
        let name = Name::parse("Max").expect("a valid name");
        room.hold_name(&name, desk(1).host, t0 + MINUTE);
        room.release_names(t0 + MINUTE - Duration::from_secs(1));
        room.connect(2, desk(2), &[], t0);
        assert!(matches!(room.line(2, "Max"), Happened::LoginRefused(_)));
        room.release_names(t0 + MINUTE);
        assert!(matches!(room.line(2, "Max"), Happened::LoggedIn(_)));
    }

    /// In a room above --announce-max nobody sees joins and leaves, so a
    /// rename is the one change of name everyone must still see.
    #[test]
    fn renames_are_told_to_everyone_even_in_a_big_room() {
        let t0 = Instant::now();
        let mut room = Room::new().with_announce_max(1);
        let desks: Vec<Desk> = (1..=3).map(desk).collect();
        for (i, d) in desks.iter().enumerate() {
            room.connect(i as ClientId, d.clone(), &[], t0);
            room.line(i as ClientId, &format!("u{i}"));
            d.inbox.take();
        }
        desks[0].inbox.take();
        room.line(2, "/nick Zed");
        for d in &desks[..2] {
            assert_eq!(d.inbox.take(), [reply::renamed("u2", "Zed")]);
        }
    }

    #[test]
    fn private_messages_to_someone_far_behind_are_not_delivered() {
        let t0 = Instant::now();
        let mut room = Room::new();
        let eve = desk(1);
        let bob = Desk {
            behind: true,
            ..desk(2)
        };
        room.connect(1, eve.clone(), &[], t0);
        room.line(1, "Eve");
        room.connect(2, bob.clone(), &[], t0);
        room.line(2, "Bob");
        eve.inbox.take();
        bob.inbox.take();
        assert_eq!(room.line(1, "/msg Bob hi"), Happened::Nothing);
        assert_eq!(eve.inbox.take(), [reply::recipient_busy("Bob")]);
        assert!(bob.inbox.take().is_empty());
        // Chat to the room still reaches Bob: only private messages are held back.
        room.line(1, "hello all");
        assert_eq!(bob.inbox.take(), ["Eve: hello all"]);
    }

    #[test]
    fn a_session_forgotten_past_the_most_away_frees_its_name_and_the_newest_drop_is_held() {
        let t0 = Instant::now();
        let mut room = Room::new();
        let n = sessions::MOST_AWAY as ClientId + 1;
        for id in 0..n {
            room.connect(id, inbox(), &[], t0);
            room.line(id, tagged::SWITCH);
            let name = format!("u{id}");
            assert!(matches!(room.line(id, &name), Happened::LoggedIn(_)));
            assert!(room.leave(id).is_some());
        }
        // u0's session was forgotten to make room: nobody can resume it,
        // so nobody is kept from its name; u{n-1}'s session can be.
        room.connect(n, inbox(), &[], t0);
        assert!(matches!(room.line(n, "u0"), Happened::LoggedIn(_)));
        room.connect(n + 1, inbox(), &[], t0);
        let newest = format!("u{}", n - 1);
        assert!(matches!(
            room.line(n + 1, &newest),
            Happened::LoginRefused(_)
        ));
    }

    #[test]
    fn at_the_rooms_cap_a_flood_from_many_hosts_neither_takes_a_kept_name_nor_holds_its_own() {
        let t0 = Instant::now();
        let mut room = Room::new().with_kept_sessions(3, 2);
        for id in 1..=4 {
            room.connect(id, desk(id as u8), &[], t0);
            room.line(id, tagged::SWITCH);
            assert!(matches!(
                room.line(id, &format!("u{id}")),
                Happened::LoggedIn(_)
            ));
            assert!(room.leave(id).is_some());
        }
        // u4 dropped last, when the room was full: its session was the one
        // forgotten, and its name is free; u1's is still kept for u1.
        room.connect(5, desk(5), &[], t0);
        assert!(matches!(room.line(5, "u1"), Happened::LoginRefused(_)));
        assert!(matches!(room.line(5, "u4"), Happened::LoggedIn(_)));
    }

    #[test]
    fn a_wave_that_left_gives_its_room_back() {
        let t0 = Instant::now();
        // Not announced: 5000 joins and leaves told to all would be 25 M lines.
        let mut room = Room::new().with_announce_max(1);
        for id in 0..5000 {
            room.connect(id, inbox(), &[], t0);
            room.line(id, &format!("u{id}"));
        }
        let full = room.clients.capacity();
        for id in 0..5000 {
            room.leave(id);
        }
        assert!(room.clients.capacity() < full / 8);
        assert!(room.names.capacity() < full / 8);
        assert!(room.members.capacity() < full / 8);
    }
}
