//! Making a lobby: from the server's [`Config`] (the one place limits
//! and defaults are read) and its streams, memory or a store; and the
//! builders unit tests use to change one rule at a time.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::protocol::limits::Limits;
use crate::protocol::name::Name;
use crate::protocol::password::Password;
use crate::stream::{self, HistoryLimits, Millis, Notice, OpenError, RoomStream, SavedSessions};

use super::super::config::Config;
use super::super::deadline::LoginDeadlines;
use super::super::desk::Desk;
use super::super::kept::Keeper;
use super::super::mailbox::Mailbox;
use super::super::room::Room;
use super::super::sessions::{self, Sessions, TokenSource};
use super::names::Holds;
use super::{Lobby, MAIN};

/// The private messages' folder in a store.
pub const PRIVATE: &str = "private";

/// What the lobby keeps things in: `#main`'s stream and the private
/// messages' (with a store, `DIR/main/` and `DIR/private/`).
pub struct Streams {
    pub main: RoomStream,
    pub private: RoomStream,
}

impl Streams {
    /// Both in memory: a restart forgets them.
    pub fn memory(limits: HistoryLimits) -> Streams {
        Streams {
            main: RoomStream::memory(limits),
            private: RoomStream::memory(limits),
        }
    }

    /// Both kept in the store at `root` (see [`RoomStream::open`]), with
    /// what recovery mended or found odd, for the log.
    pub fn open(
        root: &Path,
        segment_bytes: u64,
        limits: HistoryLimits,
    ) -> Result<(Streams, Vec<Notice>), OpenError> {
        let (main, mut notices) = RoomStream::open(root, stream::MAIN, segment_bytes, limits)?;
        let (private, more) = RoomStream::open(root, PRIVATE, segment_bytes, limits)?;
        notices.extend(more);
        Ok((Streams { main, private }, notices))
    }
}

/// `#main`'s stream as given (a store, say), private messages in memory.
impl From<RoomStream> for Streams {
    fn from(main: RoomStream) -> Streams {
        let private = RoomStream::memory(main.history().limits());
        Streams { main, private }
    }
}

impl<M: Mailbox> Default for Lobby<M> {
    fn default() -> Self {
        let config = Config::default();
        Lobby::from_config(&config, Streams::memory(config.history), Instant::now())
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
    pub fn from_config(config: &Config, streams: Streams, now: Instant) -> Self {
        let Streams {
            mut main,
            mut private,
        } = streams;
        let old = main.take_sessions();
        let saved = private.take_sessions();
        let next_id = main.next_id().max(private.next_id());
        let mut desk = Desk::new();
        desk.next_id = next_id;
        let lobby = Lobby {
            desk,
            names: HashMap::new(),
            holds: Holds::default(),
            announce_max: config.announce_max,
            password: config.password.clone(),
            logins: LoginDeadlines::new(config.login_timeout),
            limits: Limits {
                rate: config.rate,
                burst: config.burst,
                max_line_bytes: config.max_line_bytes,
            },
            replay: config.replay,
            now,
            sessions: Sessions::new(config.resume_window, sessions::system_tokens()),
            next_session: 1,
            ghosts: Vec::new(),
            private: Keeper::new(private),
            main: Room::new(MAIN, main),
            unreadable_sessions: 0,
        }
        .with_kept_sessions(config.max_kept, config.max_kept_per_addr);
        lobby.with_saved(saved, old, now)
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
        self.announce_max = max;
        self
    }

    /// Asks every connection for `password` (none: an open server).
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
            sessions.restore(kept, name, now);
        }
        self.sessions = sessions;
        self
    }
}
