//! Making a lobby: from the server's [`Config`] (the one place limits
//! and defaults are read) and its streams, memory or a store; and the
//! builders unit tests use to change one rule at a time.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::protocol::limits::Limits;
use crate::protocol::name::Name;
use crate::protocol::password::Password;
use crate::protocol::room::RoomName;
use crate::stream::rooms::{Place, Streams as RoomStreams};
use crate::stream::{
    bound_histories, HistoryLimits, Id, Millis, OpenError, RoomStream, SavedSessions,
};

use super::super::config::Config;
use super::super::deadline::LoginDeadlines;
use super::super::desk::Desk;
use super::super::kept::Keeper;
use super::super::mailbox::Mailbox;
use super::super::room::Room;
use super::super::sessions::{self, Sessions, TokenSource};
use super::names::Holds;
use super::Lobby;

/// What the lobby keeps things in: `#main`'s stream, the private
/// messages', the rooms a store held, and where a new room's stream
/// comes from (with a store: `DIR/main/`, `DIR/private/`, `DIR/#KEY/`).
pub struct Streams {
    pub main: RoomStream,
    pub private: RoomStream,
    /// Rooms other than `#main` found in the store, to make again.
    pub rooms: Vec<(RoomName, RoomStream)>,
    /// The next id after those of the rooms found and left closed (see
    /// [`Streams::open`]): no id is given twice.
    pub closed_next_id: Option<Id>,
    pub factory: RoomStreams,
}

impl Streams {
    /// All in memory: a restart forgets them.
    pub fn memory(limits: HistoryLimits) -> Streams {
        Streams {
            main: RoomStream::memory(limits),
            private: RoomStream::memory(limits),
            rooms: Vec::new(),
            closed_next_id: None,
            factory: RoomStreams::memory(limits),
        }
    }

    /// All kept in the store at `root` (see [`RoomStreams`]), with what
    /// recovery mended or found odd, for the log. A room's folder whose
    /// name cannot be read back as a room is skipped, and said. A room
    /// with nothing said kept and no kept session to wait for is closed
    /// again at once (its folder stays, for a `/join`): folders of rooms
    /// people only passed through pile up, and open at once they would
    /// take every file the server may open.
    pub fn open(
        root: &Path,
        segment_bytes: u64,
        config: &Config,
    ) -> Result<(Streams, Vec<String>), OpenError> {
        let (factory, found) = RoomStreams::store(root, segment_bytes, config.history)?;
        let mut notices = Vec::new();
        let mut main = open_one(&factory, Place::Main, &mut notices)?;
        let private = open_one(&factory, Place::Private, &mut notices)?;
        let awaited = awaited_rooms(&[&main, &private]);
        let mut rooms = Vec::new();
        let mut closed_next_id = None;
        for room in found {
            let typed = room.shown.as_deref().unwrap_or(&room.key);
            let name = match RoomName::parse(typed) {
                Ok(name) if name.key() == room.key => name,
                _ => {
                    notices.push(format!(
                        "skipped the folder of room {}: its name does not read back",
                        room.key
                    ));
                    continue;
                }
            };
            let place = Place::Room {
                key: name.key(),
                shown: name.as_str(),
            };
            let stream = open_one(&factory, place, &mut notices)?;
            if !stream.has_said() && !awaited.contains(name.key()) {
                closed_next_id = closed_next_id.max(stream.next_id());
                continue;
            }
            rooms.push((name, stream));
            // At most --max-rooms (#main counted), as the lobby holds them:
            // rooms set aside at the cap keep their folders, so a store may
            // have many more. The least recent goes, one a kept session
            // waits for last.
            if rooms.len() >= config.max_rooms {
                let (_, closed) = rooms.swap_remove(least_recent(&rooms, &awaited));
                closed_next_id = closed_next_id.max(closed.next_id());
            }
            // And every history together within --history-memory, as the
            // lobby keeps them, while they are read rather than after.
            let mut streams: Vec<&mut RoomStream> = rooms.iter_mut().map(|(_, s)| s).collect();
            streams.push(&mut main);
            bound_histories(&mut streams, config.history_memory);
        }
        let streams = Streams {
            main,
            private,
            rooms,
            closed_next_id,
            factory,
        };
        Ok((streams, notices))
    }
}

/// Which of `rooms` was said in least recently (by its newest id: one
/// server's streams draw ids from one sequence), among those no kept
/// session waits for if there is one.
fn least_recent(rooms: &[(RoomName, RoomStream)], awaited: &HashSet<String>) -> usize {
    let recency = |(at, (name, stream)): (usize, &(RoomName, RoomStream))| {
        (awaited.contains(name.key()), stream.history().newest(), at)
    };
    rooms
        .iter()
        .enumerate()
        .map(recency)
        .min()
        .map_or(0, |(_, _, at)| at)
}

/// The keys of the rooms the sessions kept in `streams` were in.
fn awaited_rooms(streams: &[&RoomStream]) -> HashSet<String> {
    let saved = streams.iter().filter_map(|s| s.sessions());
    let names = saved.flat_map(|s| s.saved.iter().flat_map(|kept| kept.rooms.iter()));
    let rooms = names.filter_map(|name| RoomName::parse(name).ok());
    rooms.map(|room| room.key().to_string()).collect()
}

/// The stream of `place`, what its recovery found added to `notices`.
fn open_one(
    factory: &RoomStreams,
    place: Place<'_>,
    notices: &mut Vec<String>,
) -> Result<RoomStream, OpenError> {
    let (stream, more) = factory.open(place)?;
    notices.extend(more.iter().map(ToString::to_string));
    Ok(stream)
}

/// `#main`'s stream as given (a store, say); all else in memory.
impl From<RoomStream> for Streams {
    fn from(main: RoomStream) -> Streams {
        let limits = main.history().limits();
        Streams {
            main,
            ..Streams::memory(limits)
        }
    }
}

impl<M: Mailbox> Default for Lobby<M> {
    fn default() -> Self {
        let config = Arc::new(Config::default());
        let streams = Streams::memory(config.history);
        Lobby::from_config(config, streams, Instant::now())
    }
}

impl<M: Mailbox> Lobby<M> {
    /// A lobby with the default config, in memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A lobby that applies `config`, keeping what is said in `streams`.
    /// Sessions a store kept across a restart are taken back, as away
    /// from `now`. Their file is the private messages' (`DIR/private/`);
    /// one a store from before private messages had their own folder
    /// kept in `DIR/main/` is read too, then emptied.
    pub fn from_config(config: Arc<Config>, streams: Streams, now: Instant) -> Self {
        let Streams {
            mut main,
            mut private,
            rooms,
            closed_next_id,
            factory,
        } = streams;
        let old = main.take_sessions();
        let saved = private.take_sessions();
        let next_id = rooms.iter().map(|(_, stream)| stream.next_id()).fold(
            main.next_id().max(private.next_id()).max(closed_next_id),
            Option::max,
        );
        let mut desk = Desk::new();
        desk.next_id = next_id;
        let mut lobby = Lobby {
            desk,
            names: HashMap::new(),
            holds: Holds::default(),
            config: Arc::clone(&config),
            logins: LoginDeadlines::new(config.login_timeout),
            now,
            sessions: Sessions::new(config.resume_window, sessions::system_tokens()),
            next_session: 1,
            ghosts: Vec::new(),
            private: Keeper::new(private),
            rooms: HashMap::new(),
            main_key: RoomName::main().shared_key(),
            factory,
            away_rooms: HashMap::new(),
            unreadable_sessions: 0,
        }
        .with_kept_sessions(config.max_kept, config.max_kept_per_addr);
        lobby.main_key = lobby.add_room(Room::new(RoomName::main(), main));
        for (name, stream) in rooms {
            lobby.add_room(Room::new(name, stream));
        }
        // The rooms first: a session taken back waits in those it was in.
        let mut lobby = lobby.with_saved(saved, old, now);
        // Then those a store kept with nothing said in them and nobody
        // to wait for (passed through: joins and leaves alone) are
        // forgotten, as they were before the restart; their folders stay,
        // for a /join to open again.
        let keys: Vec<Arc<str>> = lobby.rooms.keys().cloned().collect();
        for key in &keys {
            lobby.forget_if_idle(key);
        }
        lobby.bound_history();
        lobby
    }

    /// Takes back what the store's sessions files kept (see
    /// `from_config`): the private messages' file is written to from now
    /// on; without one (`#main` alone in a store), `#main`'s is.
    fn with_saved(
        self,
        saved: Option<SavedSessions>,
        old: Option<SavedSessions>,
        now: Instant,
    ) -> Self {
        match (saved, old) {
            (Some(mut saved), Some(mut old)) => {
                use crate::stream::saved::SessionLog;
                for kept in &old.saved {
                    saved.log.opened(kept.id, &kept.key, &kept.name);
                }
                old.log.rewrite(&mut std::iter::empty());
                saved.saved.append(&mut old.saved);
                saved.unreadable += old.unreadable;
                self.with_saved_sessions(saved, now)
            }
            (Some(saved), None) | (None, Some(saved)) => self.with_saved_sessions(saved, now),
            (None, None) => self,
        }
    }

    /// Lines of the stores' sessions files that could not be read.
    pub fn unreadable_sessions(&self) -> usize {
        self.unreadable_sessions
    }
}

impl<M: Mailbox> Lobby<M> {
    /// Stops announcing joins and leaves above `max` in the room (0: never stops).
    pub fn with_announce_max(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.config).announce_max = max;
        self
    }

    /// Asks every connection for `password` (none: an open server).
    pub fn with_password(mut self, password: Option<Password>) -> Self {
        Arc::make_mut(&mut self.config).password = password;
        self
    }

    /// Gives each connection `limit` to log in.
    pub fn with_login_timeout(mut self, limit: Duration) -> Self {
        self.logins = LoginDeadlines::new(limit);
        self
    }

    /// States `limits` to whoever asks with `/limits` (the readers apply them).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        let config = Arc::make_mut(&mut self.config);
        config.rate = limits.rate;
        config.burst = limits.burst;
        config.max_line_bytes = limits.max_line_bytes;
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

    /// Uses `clock` for the time tagged lines carry (tests).
    pub fn with_clock(mut self, clock: impl FnMut() -> Millis + Send + 'static) -> Self {
        self.desk.clock = Box::new(clock);
        self
    }

    /// Takes back sessions a store kept across a restart: each is away
    /// from `now`, resumable for the window, its name held for it; and
    /// writes the sessions to come to `saved`'s file.
    fn with_saved_sessions(mut self, saved: SavedSessions, now: Instant) -> Self {
        let window = self.sessions.window();
        let mut sessions = std::mem::replace(
            &mut self.sessions,
            Sessions::new(window, sessions::system_tokens()),
        )
        .with_log(Box::new(saved.log));
        self.unreadable_sessions += saved.unreadable;
        for kept in saved.saved {
            let Ok(name) = Name::parse(&kept.name) else {
                continue;
            };
            self.next_session = self.next_session.max(kept.id + 1);
            self.holds.hold(&name, None, Some(kept.id), now + window);
            let (id, rooms) = (kept.id, self.rooms_named(&kept.rooms));
            let names = self.shown_names(&rooms);
            let changed = names
                .iter()
                .map(|n| &**n)
                .ne(kept.rooms.iter().map(String::as_str));
            sessions.restore(kept, name, now);
            if changed {
                // A room gone since: the log no longer names it, lest a
                // room of that name made later take the session in.
                sessions.moved(id, &names);
            }
            if !rooms.is_empty() {
                self.wait_in(id, rooms);
            }
        }
        self.sessions = sessions;
        self
    }
}
