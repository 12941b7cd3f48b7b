//! The lobby: the server's chat rules above any room, without sockets.
//! It owns every connection (its [`Desk`]), the login (password, name,
//! `/resume`), the names and their holds, sessions, login deadlines,
//! `/nick`, `/msg`, `/quit`, and the private messages, kept in a stream
//! of their own. It routes each decoded [`Command`] to itself or to a
//! [`Room`], which owns its members, stream, relay and notices.
//!
//! The broker owns one lobby and feeds it events; tests feed it
//! directly. Delivery goes through [`Mailbox`], which never waits: a
//! client whose mailbox is full is noted and the broker disconnects it
//! after the event.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use crate::protocol::limits::Limits;
use crate::protocol::message::{reply, HistoryAsk, Input};
use crate::protocol::name::Name;
use crate::protocol::room::RoomName;
use crate::protocol::rooms::RoomInput;
use crate::protocol::tagged::{Reply, Tags};
use crate::stream::rooms::Streams as RoomStreams;
use crate::stream::{Draft, SessionId, Settled};

use super::client_id::ClientId;
use super::command::{Command, Read, Stage};
use super::config::Config;
use super::deadline::LoginDeadlines;
use super::desk::{Client, Desk, Rooms};
use super::kept::{Keeper, Meta};
use super::mailbox::Mailbox;
use super::room::Room;
use super::sessions::{self, Sessions};

mod build;
mod login;
mod names;
mod private;
mod resume;
mod rooms;
#[cfg(test)]
mod tests;

pub use build::Streams;
use names::Holds;

/// What a line did, for the server's log and for the connection's fate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    Nothing,
    /// The client logged in under this name.
    LoggedIn(Name),
    /// A login attempt was refused; the client was told why.
    LoginRefused(String),
    /// The server's password was given: a name may follow.
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

/// A connection that left.
pub struct Left<M> {
    pub mailbox: M,
    /// Its name, if it had logged in.
    pub name: Option<Name>,
}

/// Which stream a settled batch is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The private messages'.
    Private,
    /// A room's, by key.
    Room(Arc<str>),
}

/// A stream's next settled batch, being waited for.
type Settling<'a> = Pin<Box<dyn Future<Output = (Source, Settled)> + Send + 'a>>;

/// The lobby. See the module's comment.
pub struct Lobby<M: Mailbox> {
    /// Every connection, and what deliveries share.
    desk: Desk<M>,
    /// Case-folded name → its owner.
    names: HashMap<Arc<str>, ClientId>,
    /// Names kept for a while for whoever dropped them.
    holds: Holds,
    /// The server's config, read once (announcing, the password, the
    /// limits stated, replay, the caps on rooms): borrowed, never copied.
    config: Arc<Config>,
    /// When each connection not yet logged in must have logged in.
    logins: LoginDeadlines,
    /// What "now" is for sessions and holds (set by the owner).
    now: Instant,
    /// Tagged clients' resumable sessions.
    sessions: Sessions,
    /// The session the next login gets.
    next_session: SessionId,
    /// Connections whose session was resumed elsewhere: the owner closes them.
    ghosts: Vec<(ClientId, M)>,
    /// Private messages: their own stream, so resume and a store keep
    /// them whatever rooms their people are in.
    private: Keeper,
    /// Every room, by key; `#main` always.
    rooms: HashMap<Arc<str>, Room>,
    /// `#main`'s key: where everyone lands at login.
    main_key: Arc<str>,
    /// Where a new room's stream comes from (memory, or its store folder).
    factory: RoomStreams,
    /// The rooms each away session was in, and its current one (last):
    /// a resume takes it back into them.
    away_rooms: HashMap<SessionId, Vec<Arc<str>>>,
    /// Lines of the stores' sessions files that could not be read.
    unreadable_sessions: usize,
}

impl<M: Mailbox> Lobby<M> {
    /// `#main`, which is always there.
    fn main(&self) -> &Room {
        &self.rooms[&self.main_key]
    }

    fn main_mut(&mut self) -> &mut Room {
        self.rooms
            .get_mut(&self.main_key)
            .expect("#main is never forgotten")
    }

    /// What "now" is for holds and sessions until the next call.
    pub fn set_now(&mut self, now: Instant) {
        self.now = now;
    }

    /// What `/limits` answers: the limits the connections' readers apply.
    fn limits(&self) -> Limits {
        Limits {
            rate: self.config.rate,
            burst: self.config.burst,
            max_line_bytes: self.config.max_line_bytes,
        }
    }

    /// Whether a join or leave in a room of `online` people is announced.
    fn announces(&self, online: usize) -> bool {
        // In a big room joins and leaves are noise, and announcing every
        // login to everyone makes N logins cost N² lines.
        let most = self.config.announce_max;
        most == 0 || online <= most
    }

    /// A new connection, arrived at `now`: greet it; it is in no room
    /// until it logs in, which it must do within the login timeout.
    pub fn connect(&mut self, id: ClientId, mailbox: M, greeting: &[&str], now: Instant) {
        self.now = now;
        let client = Client {
            mailbox,
            name: None,
            admitted: self.config.password.is_none(),
            wrong: 0,
            tagged: false,
            session: 0,
            resumable: false,
            quitting: false,
            rooms: Rooms::default(),
        };
        self.desk.clients.insert(id, client);
        self.logins.start(id, now);
        let waiting = self.desk.clients.len() - self.names.len();
        let clients = &self.desk.clients;
        self.logins.compact(waiting, |id| {
            clients.get(&id).is_some_and(|c| c.name.is_none())
        });
        for line in greeting {
            self.desk.tell(id, line);
        }
    }

    /// When the next connection not yet logged in runs out of time.
    pub fn next_login_deadline(&mut self) -> Option<Instant> {
        let clients = &self.desk.clients;
        self.logins
            .next(|id| clients.get(&id).is_some_and(|c| c.name.is_none()))
    }

    /// The connections whose time to log in ran out by `now`, each told
    /// so: the caller closes them. A login that came first stands, and one
    /// that comes after is never seen (the connection is closing).
    pub fn expire_logins(&mut self, now: Instant) -> Vec<ClientId> {
        let clients = &self.desk.clients;
        let late = self
            .logins
            .expired(now, |id| clients.get(&id).is_some_and(|c| c.name.is_none()));
        let secs = self.logins.limit().as_secs();
        for &id in &late {
            self.desk
                .tell_as(id, &reply::login_timeout(secs), Reply::LoginTimeout);
        }
        late
    }

    /// What deliveries added up to since the last call.
    pub fn take_tally(&mut self) -> M::Tally {
        std::mem::take(&mut self.desk.tally)
    }

    /// Logged-in clients.
    pub fn online(&self) -> usize {
        self.names.len()
    }

    pub fn name_of(&self, id: ClientId) -> Option<&Name> {
        self.desk.clients.get(&id).and_then(|c| c.name.as_ref())
    }

    pub fn is_logged_in(&self, id: ClientId) -> bool {
        self.name_of(id).is_some()
    }

    /// Whether the connection has given the server's password (or needs none).
    pub fn is_admitted(&self, id: ClientId) -> bool {
        self.desk.clients.get(&id).is_some_and(|c| c.admitted)
    }

    /// Whether connection `id` asked for tagged lines.
    pub fn is_tagged(&self, id: ClientId) -> bool {
        self.desk.is_tagged(id)
    }

    /// How connection `id`'s next line is to be read; None if it is gone.
    pub fn stage(&self, id: ClientId) -> Option<Stage> {
        let client = self.desk.clients.get(&id)?;
        Some(match (client.admitted, &client.name) {
            (false, _) => Stage::Password,
            (true, None) => Stage::Name,
            (true, Some(_)) => Stage::In,
        })
    }

    /// Bytes a list `command` of `id`'s sends now (what it is charged):
    /// `/who [ROOM]`, `/rooms`; 0 for anything else.
    pub fn list_bytes(&self, id: ClientId, command: &Command<'_>) -> usize {
        let room = match command {
            Command::Said(Input::Who) => self.current_room(id),
            Command::Room(RoomInput::Who(typed)) => RoomName::parse(typed)
                .ok()
                .and_then(|name| self.rooms.get(name.key())),
            Command::Room(RoomInput::Rooms) => {
                let line = |r: &Room| {
                    let topic = r.topic.as_ref().map_or(0, String::len);
                    "Server:   #x (1000 people): \n".len() + r.name().as_str().len() + topic
                };
                return self.rooms.values().map(line).sum();
            }
            _ => None,
        };
        room.map_or(0, |room| room.who_bytes(&self.desk))
    }

    /// The history blocks sent since the last call: to whom, and how
    /// many bytes.
    pub fn take_blocks_sent(&mut self) -> Vec<(ClientId, usize)> {
        std::mem::take(&mut self.desk.blocks_sent)
    }

    /// What changed for the store (failing, saving again) since the last call.
    pub fn take_store_news(&mut self) -> Vec<super::kept::StoreNews> {
        self.desk.waits.take_store_news()
    }

    /// Clients to disconnect because their mailbox overflowed (each once).
    pub fn take_overflowed(&mut self) -> Vec<ClientId> {
        let mut ids = std::mem::take(&mut self.desk.overflowed);
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// One line from a client, as received (decoded, not yet sanitized):
    /// read here, then run (see [`Lobby::run`]).
    pub fn line(&mut self, id: ClientId, text: &str) -> Happened {
        let Some(stage) = self.stage(id) else {
            return Happened::Nothing;
        };
        let read = Read::new(text, self.desk.is_tagged(id), stage);
        self.run(id, read.label, read.command())
    }

    /// Runs a line of `id`'s, decoded at the boundary (see [`Read`]);
    /// what is told to `id` meanwhile answers `label`.
    pub fn run(&mut self, id: ClientId, label: Option<&str>, command: Command<'_>) -> Happened {
        if !self.desk.clients.contains_key(&id) {
            return Happened::Nothing;
        }
        self.desk.answering = Some((id, label.map(Box::from)));
        let happened = match command {
            Command::Tagged => self.switch_tagged(id),
            Command::Password { given, input } => self.admit(id, given, input),
            Command::Resume(rest) => self.resume(id, rest),
            Command::Name { given, input } => self.login(id, given, input),
            Command::Said(input) => self.said(id, input),
            Command::Room(input) => self.room_command(id, input),
        };
        self.desk.answering = None;
        self.commit();
        happened
    }

    /// A logged-in client's chat or command.
    fn said(&mut self, id: ClientId, input: Input<'_>) -> Happened {
        let Some(name) = self.name_of(id).cloned() else {
            return Happened::Nothing;
        };
        match input {
            Input::Empty => Happened::Nothing,
            Input::Chat(text) => self.say(id, Draft::chat(name.as_str(), text)),
            Input::Me(text) => self.say(id, Draft::action(name.as_str(), text)),
            Input::History(ask) => {
                self.history(id, None, ask);
                Happened::Nothing
            }
            Input::Msg { to, text } => self.private(id, &name, to, text),
            Input::Who => {
                if let Some(room) = self.current_room(id) {
                    let names = room.owned_names(&self.desk);
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    for (line, meaning) in reply::who(&names).iter().zip(reply::who_tags(&names)) {
                        self.desk.tell_as(id, line, meaning);
                    }
                }
                Happened::Nothing
            }
            Input::Nick(new) => self.rename(id, name, new),
            Input::Quit => {
                if let Some(client) = self.desk.clients.get_mut(&id) {
                    client.quitting = true;
                }
                self.desk.tell_as(id, reply::BYE, Reply::Bye);
                Happened::Quit
            }
            other => {
                self.answer_plainly(id, other);
                Happened::Nothing
            }
        }
    }

    /// The commands whose answer is one fixed reply.
    fn answer_plainly(&mut self, id: ClientId, input: Input<'_>) {
        match input {
            Input::Help => {
                for line in reply::HELP {
                    self.desk.tell(id, line);
                }
            }
            Input::Limits => {
                let limits = self.limits();
                let Limits { rate, burst, .. } = limits;
                let max = limits.max_line_bytes;
                let meaning = Reply::Limits { rate, burst, max };
                self.desk.tell_as(id, &reply::limits(&limits), meaning);
            }
            Input::Usage(usage) => self.desk.tell(id, &reply::error(usage)),
            Input::Unknown(word) => {
                let why = format!("unknown command /{word}; type /help for the list");
                self.desk.tell(id, &reply::error(why));
            }
            _ => {}
        }
    }

    /// What `id` says to its current room.
    fn say(&mut self, id: ClientId, draft: Draft) -> Happened {
        let meta = self.meta_by(id);
        match self
            .current_key(id)
            .and_then(|key| self.rooms.get_mut(&key))
        {
            Some(room) => {
                room.keep(draft, meta);
                Happened::Relayed
            }
            None => Happened::Nothing,
        }
    }

    /// `/history [ROOM] …`: the last N messages of the room (`id`'s
    /// current one unless named), or everything after an id.
    fn history(&mut self, id: ClientId, key: Option<Arc<str>>, ask: HistoryAsk) {
        let named = key.is_some();
        let Some(key) = key.or_else(|| self.current_key(id)) else {
            return;
        };
        let Some(room) = self.rooms.get(&key) else {
            return;
        };
        if !room.keeps_history() {
            self.desk.tell(id, reply::NO_HISTORY);
            return;
        }
        // A script may ask many times in one write, faster than its writer
        // sends the blocks: that is no reason to cut it off as too slow.
        if self.mailbox(id).is_some_and(M::blocks_full) {
            self.desk.tell(id, reply::HISTORY_BUSY);
            return;
        }
        match ask {
            HistoryAsk::Last(n) => room.history_last(id, n, &mut self.desk),
            HistoryAsk::After(after) => self.history_after(id, &key, !named, after),
        }
    }

    /// A connection ended: forgets it and, if it was logged in, tells
    /// its room. None when the connection had already left.
    pub fn leave(&mut self, id: ClientId) -> Option<Left<M>> {
        let client = self.desk.clients.remove(&id)?;
        if client.tagged {
            self.desk.tagged_count -= 1;
        }
        if let Some(name) = &client.name {
            self.names.remove(name.key());
            // The session first: a room it may come back to must not be
            // forgotten as it empties.
            self.session_left(&client, name);
            self.exit_rooms(id, &client.rooms.to_vec(), Some(name));
        }
        // The maps keep their room when emptied: a wave of 15,000 left
        // megabytes behind. Halved once mostly empty.
        let clients = &mut self.desk.clients;
        if clients.capacity() > 64 && clients.len() < clients.capacity() / 4 {
            clients.shrink_to(clients.capacity() / 2);
            self.names.shrink_to(self.names.capacity() / 2);
        }
        self.commit();
        Some(Left {
            mailbox: client.mailbox,
            name: client.name,
        })
    }

    /// Every connection's mailbox.
    pub fn mailboxes(&self) -> impl Iterator<Item = &M> {
        self.desk.clients.values().map(|c| &c.mailbox)
    }

    pub fn mailbox(&self, id: ClientId) -> Option<&M> {
        self.desk.clients.get(&id).map(|c| &c.mailbox)
    }

    /// Sends one line to every connection, logged in or not, meaning
    /// `meaning` to a tagged one.
    pub fn tell_everyone(&mut self, line: &str, meaning: Reply<'_>) {
        let ids: Vec<ClientId> = self.desk.clients.keys().copied().collect();
        for id in ids {
            self.desk.tell_as(id, line, meaning);
        }
    }

    /// Answers a line of `id`'s that the lobby never saw (its owner refused
    /// it first): to a tagged connection, with that line's `label`.
    pub fn answer(&mut self, id: ClientId, label: Option<&str>, line: &str) {
        self.desk.answering = Some((id, label.map(Box::from)));
        self.desk.tell(id, line);
        self.desk.answering = None;
    }

    /// Sends one line to one connection (see [`Desk::tell`]).
    pub fn tell(&mut self, id: ClientId, line: &str) {
        self.desk.tell(id, line);
    }

    /// Sends one line meaning `meaning` to one connection (see
    /// [`Desk::tell_as`]).
    pub fn tell_as(&mut self, id: ClientId, line: &str, meaning: Reply<'_>) {
        self.desk.tell_as(id, line, meaning);
    }

    /// What a kept message from `id`'s current line carries.
    fn meta_by(&self, id: ClientId) -> Meta {
        let client = self.desk.clients.get(&id);
        Meta {
            by: Some(id),
            by_session: client.map(|c| c.session).filter(|&s| s != 0),
            label: self.desk.label_for(id).map(Box::from),
            to_session: None,
            answers: client.is_some_and(|c| c.tagged),
            notice: None,
        }
    }

    /// Appends what the event kept, in every stream; relays whatever has
    /// settled meanwhile (everything, in memory). A room with a batch
    /// settled here is forgotten if idle, as when the broker settles one:
    /// with a store, the leave notice of a `/leave` sent right after its
    /// `/join` often settles here, and nothing would look at it again.
    fn commit(&mut self) {
        let mut settled = Vec::new();
        for room in self.rooms.values_mut() {
            if room.commit(&mut self.desk) {
                settled.push(Arc::clone(room.key()));
            }
        }
        self.commit_private();
        self.bound_history();
        for key in &settled {
            self.forget_if_idle(key);
        }
    }

    /// Waits for the next batch of any stream to settle; with nothing in
    /// flight, waits for ever (it is meant for a `select`). Only streams
    /// with batches on their way are waited on (in memory, none ever is).
    pub async fn settled(&mut self) -> (Source, Settled) {
        let mut waiting: Vec<Settling<'_>> = Vec::new();
        for room in self.rooms.values_mut() {
            if room.keeper().in_flight() > 0 {
                let key = Arc::clone(room.key());
                let stream = &mut room.keeper_mut().stream;
                waiting.push(Box::pin(async move {
                    (Source::Room(key), stream.settled().await)
                }));
            }
        }
        if self.private.in_flight() > 0 {
            let stream = &mut self.private.stream;
            waiting.push(Box::pin(async move {
                (Source::Private, stream.settled().await)
            }));
        }
        if waiting.is_empty() {
            return futures::future::pending().await;
        }
        futures::future::select_all(waiting).await.0
    }

    /// A batch settled already, if one did.
    pub fn try_settled(&mut self) -> Option<(Source, Settled)> {
        for room in self.rooms.values_mut() {
            if room.keeper().in_flight() > 0 {
                if let Some(settled) = room.keeper_mut().stream.try_settled() {
                    return Some((Source::Room(Arc::clone(room.key())), settled));
                }
            }
        }
        let settled = self.private.stream.try_settled()?;
        Some((Source::Private, settled))
    }

    /// Relays a settled batch of `source`, or tells its senders it was
    /// not saved.
    pub fn settle(&mut self, source: Source, settled: Settled) {
        match source {
            Source::Room(key) => {
                if let Some(room) = self.rooms.get_mut(&key) {
                    room.settle(settled, &mut self.desk);
                }
                self.bound_history();
                self.forget_if_idle(&key);
            }
            Source::Private => self.settle_private(settled),
        }
    }

    /// Batches appended and not settled yet, in every stream.
    pub fn in_flight(&self) -> usize {
        let rooms: usize = self.rooms.values().map(|r| r.keeper().in_flight()).sum();
        rooms + self.private.in_flight()
    }

    /// Bytes appended and not settled yet, in every stream.
    pub fn waiting_bytes(&self) -> usize {
        let rooms: usize = self
            .rooms
            .values()
            .map(|r| r.keeper().stream.waiting_bytes())
            .sum();
        rooms + self.private.stream.waiting_bytes()
    }

    /// Whether `id` waits for a batch of its own to settle.
    pub fn is_busy(&self, id: ClientId) -> bool {
        self.desk.waits.is_busy(id)
    }

    /// Whether a plain client has lines of its own not settled yet.
    pub fn has_unsettled(&self, id: ClientId) -> bool {
        self.desk.waits.has_unsettled(id)
    }

    /// Clients no longer busy since the last call.
    pub fn take_unblocked(&mut self) -> Vec<ClientId> {
        self.desk.waits.take_unblocked()
    }

    /// Messages people said that were relayed (what the status line counts).
    pub fn relayed(&self) -> u64 {
        self.desk.relayed
    }

    /// The newest id any stream has settled: what a client can know of.
    fn newest(&self) -> crate::stream::Id {
        let rooms = self.rooms.values();
        let newest = rooms.map(|r| r.keeper().stream.history().newest()).max();
        newest
            .unwrap_or(crate::stream::Id::ZERO)
            .max(self.private.stream.history().newest())
    }

    /// The login line of a tagged client: its session's token and the
    /// newest id it can know of.
    fn tell_login(&mut self, id: ClientId, token: &sessions::Token, resumed: bool, line: &str) {
        let name = self.name_of(id).map(|n| n.as_str().to_string());
        let name = name.unwrap_or_default();
        let mut tags = Tags::at(self.desk.now())
            .reply(Reply::LoggedIn { name: &name })
            .with("session", sessions::to_hex(token))
            .with("last", self.newest());
        if resumed {
            tags = tags.flag("resumed");
        }
        let line = tags.answering(self.desk.label_for(id)).line(line);
        self.desk.send(id, &line);
    }
}
