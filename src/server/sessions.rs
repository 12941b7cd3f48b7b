//! Resumable sessions: what a tagged client gets at login so it can come
//! back after a dropped connection and take its name and its place in the
//! stream back. A session is named by a secret token (128 random bits,
//! never logged); it stays resumable while its connection is open (a
//! half-open ghost included) and for the resume window after it dropped.
//! Pure: the room owns one [`Sessions`] and passes the time in.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::protocol::name::Name;
use crate::stream::saved::{Key, Saved, SessionLog};
use crate::stream::SessionId;

use super::addrs::Host;
use super::away::AwayByHost;
use super::client_id::ClientId;

/// Sessions kept at once for connections that dropped, unless told (see
/// [`Sessions::cap`]); past it, the newest drop of the hosts holding the
/// most is forgotten (see [`AwayByHost`]).
pub const MOST_AWAY: usize = super::defaults::MAX_KEPT as usize;

/// A session's secret.
pub type Token = [u8; 16];

/// The key of `token`: what a session is found by, and all a store keeps
/// of it, so a copy of the store's files resumes nobody.
pub fn key_of(token: &Token) -> Key {
    Sha256::digest(token).into()
}

/// Where tokens come from: the system's random source (tests inject).
pub type TokenSource = Box<dyn FnMut() -> Token + Send>;

/// Random tokens from the operating system.
pub fn system_tokens() -> TokenSource {
    Box::new(|| {
        let mut token = [0u8; 16];
        // The OS random source fails only on systems too broken to serve
        // anyone; a server that cannot make secrets must not pretend to.
        getrandom::fill(&mut token).expect("the operating system's random source failed");
        token
    })
}

/// A token as it goes on the wire: 32 lowercase hex digits.
pub fn to_hex(token: &Token) -> String {
    token.iter().map(|b| format!("{b:02x}")).collect()
}

/// A token from the wire; None unless it is exactly 32 hex digits.
pub fn from_hex(text: &str) -> Option<Token> {
    if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut token = [0u8; 16];
    for (i, byte) in token.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(token)
}

/// One resumable session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Names its private messages in the room's stream.
    pub id: SessionId,
    /// The name it had last.
    pub name: Name,
    /// Its connection, while it has one.
    pub client: Option<ClientId>,
    /// When its connection dropped; None while it has one.
    pub away_since: Option<Instant>,
}

/// Every resumable session of the room.
pub struct Sessions {
    /// By the key of their token.
    by_token: HashMap<Key, Session>,
    /// The key of each session, to find it from its connection's side.
    tokens: HashMap<SessionId, Key>,
    /// Dropped sessions in the order they dropped (entries of sessions
    /// that came back or ended since are skipped when met).
    away: VecDeque<(Instant, SessionId)>,
    /// Sessions away now.
    away_count: usize,
    /// Most sessions away at once.
    most_away: usize,
    /// Most sessions away at once from one untrusted host (0: no limit).
    most_away_per_host: usize,
    /// Those away, by the host they dropped from (restored ones are not:
    /// their host is not known).
    by_host: AwayByHost,
    /// How long a dropped session stays resumable.
    window: Duration,
    tokens_from: TokenSource,
    /// Where sessions are kept across restarts, if anywhere.
    log: Option<Box<dyn SessionLog>>,
}

impl Sessions {
    pub fn new(window: Duration, tokens_from: TokenSource) -> Sessions {
        Sessions {
            by_token: HashMap::new(),
            tokens: HashMap::new(),
            away: VecDeque::new(),
            away_count: 0,
            most_away: MOST_AWAY,
            most_away_per_host: 0,
            by_host: AwayByHost::default(),
            window,
            tokens_from,
            log: None,
        }
    }

    /// Keeps at most `most` sessions away at once, and `per_host` (0: no
    /// limit) from one untrusted host.
    pub fn cap(&mut self, most: usize, per_host: usize) {
        self.most_away = most;
        self.most_away_per_host = per_host;
    }

    /// Writes every session opened, renamed or ended to `log`.
    pub fn with_log(mut self, log: Box<dyn SessionLog>) -> Sessions {
        self.log = Some(log);
        self
    }

    /// Takes back a session that outlived a restart: it is away from
    /// `now`, resumable for the window like any dropped one.
    pub fn restore(&mut self, saved: Saved, name: Name, now: Instant) {
        let session = Session {
            id: saved.id,
            name,
            client: None,
            away_since: Some(now),
        };
        self.by_token.insert(saved.key, session);
        self.tokens.insert(saved.id, saved.key);
        self.away.push_back((now, saved.id));
        self.away_count += 1;
    }

    /// How long a dropped session stays resumable.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Starts a session for `client`, logged in as `name`; returns its token.
    pub fn open(&mut self, id: SessionId, name: Name, client: ClientId) -> Token {
        let (token, key) = loop {
            let token = (self.tokens_from)();
            let key = key_of(&token);
            if !self.by_token.contains_key(&key) {
                break (token, key);
            }
        };
        if let Some(log) = &mut self.log {
            log.opened(id, &key, name.as_str());
        }
        let session = Session {
            id,
            name,
            client: Some(client),
            away_since: None,
        };
        self.by_token.insert(key, session);
        self.tokens.insert(id, key);
        self.compact_log();
        token
    }

    /// Rewrites the log with the open sessions once it has grown well past
    /// them (see [`SessionLog::wants_rewrite`]); checked after every write.
    fn compact_log(&mut self) {
        let Some(log) = &mut self.log else { return };
        if log.wants_rewrite() {
            let mut open = self
                .by_token
                .iter()
                .map(|(key, s)| (s.id, *key, s.name.as_str().to_string()));
            log.rewrite(&mut open);
        }
    }

    /// The session `token` names if it may be resumed at `now`.
    pub fn resumable(&self, token: &Token, now: Instant) -> Option<&Session> {
        let session = self.by_token.get(&key_of(token))?;
        match session.away_since {
            None => Some(session),
            Some(since) if now.saturating_duration_since(since) < self.window => Some(session),
            Some(_) => None,
        }
    }

    /// The name of session `id` while it is away (dropped, resumable).
    pub fn away_name(&self, id: SessionId) -> Option<&Name> {
        let session = self.by_token.get(self.tokens.get(&id)?)?;
        session.away_since.map(|_| &session.name)
    }

    /// Gives session `id` its new connection.
    pub fn resumed(&mut self, id: SessionId, client: ClientId) {
        let Some(session) = self.session_mut(id) else {
            return;
        };
        session.client = Some(client);
        if session.away_since.take().is_some() {
            self.away_count -= 1;
        }
        self.by_host.remove(id);
    }

    /// The session's name changed.
    pub fn renamed(&mut self, id: SessionId, name: Name) {
        if let (Some(log), Some(key)) = (&mut self.log, self.tokens.get(&id)) {
            log.opened(id, key, name.as_str());
        }
        if let Some(session) = self.session_mut(id) {
            session.name = name;
        }
        self.compact_log();
    }

    /// The private message `record` is kept for session `id` (which `sent`
    /// it or received it): a store's log notes it, for after a restart.
    pub fn kept_private(&mut self, id: SessionId, record: crate::stream::Id, sent: bool) {
        if let (Some(log), true) = (&mut self.log, self.tokens.contains_key(&id)) {
            log.private(id, record, sent);
            self.compact_log();
        }
    }

    /// Session `id` is in the rooms of `keys` now, its current one last: a
    /// store's log notes it, so that a resume after a restart takes it
    /// back into them.
    pub fn moved(&mut self, id: SessionId, keys: &[std::sync::Arc<str>]) {
        if let (Some(log), true) = (&mut self.log, self.tokens.contains_key(&id)) {
            log.rooms(id, keys);
            self.compact_log();
        }
    }

    /// Session `id`'s connection dropped at `now`, from `host` (trusted
    /// ones have no cap of their own: behind a proxy on loopback everyone
    /// is one host): it stays resumable for the window. Returns the
    /// sessions forgotten to stay under the caps.
    pub fn away(
        &mut self,
        id: SessionId,
        now: Instant,
        host: Option<Host>,
        trusted: bool,
    ) -> Vec<SessionId> {
        let Some(session) = self.session_mut(id) else {
            return Vec::new();
        };
        if session.away_since.is_some() {
            return Vec::new();
        }
        session.client = None;
        session.away_since = Some(now);
        self.away.push_back((now, id));
        self.away_count += 1;
        let mut forgotten = Vec::new();
        if let Some(host) = host {
            let cap = if trusted { 0 } else { self.most_away_per_host };
            if let Some(oldest) = self.by_host.add(id, host, cap) {
                self.end(oldest);
                forgotten.push(oldest);
            }
        }
        while self.away_count > self.most_away {
            // Restored sessions alone (no host known): the oldest.
            match self.by_host.most_held().or_else(|| self.pop_away()) {
                Some(oldest) => {
                    self.end(oldest);
                    forgotten.push(oldest);
                }
                None => break,
            }
        }
        forgotten
    }

    /// Ends session `id` for good (`/quit`, or its name was taken over).
    pub fn end(&mut self, id: SessionId) {
        self.by_host.remove(id);
        if let Some(token) = self.tokens.remove(&id) {
            if let Some(log) = &mut self.log {
                log.ended(id);
            }
            if let Some(session) = self.by_token.remove(&token) {
                if session.away_since.is_some() {
                    self.away_count -= 1;
                }
            }
        }
    }

    /// Ends the sessions whose window has passed by `now`; returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<SessionId> {
        let mut expired = Vec::new();
        while self.next_expiry().is_some_and(|at| at <= now) {
            if let Some(id) = self.pop_away() {
                self.end(id);
                expired.push(id);
            }
        }
        expired
    }

    /// When the next dropped session's window ends.
    pub fn next_expiry(&mut self) -> Option<Instant> {
        self.drop_stale();
        self.away.front().map(|&(since, _)| since + self.window)
    }

    /// The session away longest, taken off the queue (still a session).
    fn pop_away(&mut self) -> Option<SessionId> {
        self.drop_stale();
        self.away.pop_front().map(|(_, id)| id)
    }

    /// Drops queue entries of sessions that came back or ended since.
    fn drop_stale(&mut self) {
        while let Some(&(since, id)) = self.away.front() {
            let current = self
                .tokens
                .get(&id)
                .and_then(|t| self.by_token.get(t))
                .is_some_and(|s| s.away_since == Some(since));
            if current {
                break;
            }
            self.away.pop_front();
        }
    }

    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        let token = self.tokens.get(&id)?;
        self.by_token.get_mut(token)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stream::saved::MOST_STALE_LINES;

    /// Tokens 1, 2, 3… (each its number in the last byte).
    pub(crate) fn counting() -> TokenSource {
        let mut n = 0u8;
        Box::new(move || {
            n = n.wrapping_add(1);
            let mut token = [0; 16];
            token[15] = n;
            token
        })
    }

    fn name(text: &str) -> Name {
        Name::parse(text).expect("a valid name")
    }

    const WINDOW: Duration = Duration::from_secs(600);

    #[test]
    fn a_token_goes_to_hex_and_back_and_nothing_else_parses() {
        let token = [0xab; 16];
        let hex = to_hex(&token);
        assert_eq!(hex, "ab".repeat(16));
        assert_eq!(from_hex(&hex), Some(token));
        assert_eq!(from_hex(&hex.to_uppercase()), Some(token));
        assert_eq!(from_hex(&hex[1..]), None, "too short");
        assert_eq!(from_hex(&format!("{}zz", &hex[2..])), None, "not hex");
        assert_eq!(from_hex(&"é".repeat(16)), None, "not ASCII");
        assert_eq!(
            from_hex(&format!("+f{}", &hex[2..])),
            None,
            "a sign is no digit"
        );
    }

    #[test]
    fn a_session_is_resumable_while_connected_and_for_the_window_after_a_drop() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(WINDOW, counting());
        let token = sessions.open(7, name("Max"), 1);
        assert!(
            sessions.resumable(&token, t0).is_some(),
            "a ghost may be resumed"
        );
        sessions.away(7, t0, None, false);
        let just_in = t0 + WINDOW - Duration::from_millis(1);
        assert_eq!(sessions.resumable(&token, just_in).map(|s| s.id), Some(7));
        assert!(sessions.resumable(&token, t0 + WINDOW).is_none());
        assert_eq!(sessions.next_expiry(), Some(t0 + WINDOW));
        assert_eq!(sessions.expire(t0 + WINDOW), [7]);
        assert!(sessions.resumable(&token, t0).is_none(), "gone for good");
        assert_eq!(sessions.next_expiry(), None);
    }

    #[test]
    fn a_resumed_session_no_longer_expires_and_an_ended_one_is_gone() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(WINDOW, counting());
        let max = sessions.open(1, name("Max"), 10);
        let ann = sessions.open(2, name("Ann"), 11);
        sessions.away(1, t0, None, false);
        sessions.resumed(1, 12);
        assert_eq!(sessions.expire(t0 + WINDOW * 2), Vec::<SessionId>::new());
        assert_eq!(
            sessions.resumable(&max, t0).and_then(|s| s.client),
            Some(12)
        );
        sessions.end(2);
        assert!(sessions.resumable(&ann, t0).is_none());
    }

    /// A log that counts what it is asked to write, shared with the test.
    #[derive(Clone, Default)]
    struct Counting(std::sync::Arc<std::sync::Mutex<(usize, Vec<usize>)>>);

    impl SessionLog for Counting {
        fn opened(&mut self, _: SessionId, _: &Key, _: &str) {
            self.0.lock().expect("not poisoned").0 += 1;
        }
        fn ended(&mut self, _: SessionId) {
            self.0.lock().expect("not poisoned").0 += 1;
        }
        fn private(&mut self, _: SessionId, _: crate::stream::Id, _: bool) {
            self.0.lock().expect("not poisoned").0 += 1;
        }
        fn rooms(&mut self, _: SessionId, _: &[std::sync::Arc<str>]) {
            self.0.lock().expect("not poisoned").0 += 1;
        }
        fn wants_rewrite(&self) -> bool {
            let state = self.0.lock().expect("not poisoned");
            let base = state.1.last().copied().unwrap_or(0);
            state.0 > 2 * base + MOST_STALE_LINES
        }
        fn rewrite(&mut self, open: &mut dyn Iterator<Item = (SessionId, Key, String)>) {
            let count = open.count();
            let mut state = self.0.lock().expect("not poisoned");
            state.0 = count;
            state.1.push(count);
        }
    }

    #[test]
    fn the_log_is_rewritten_with_the_open_sessions_before_it_grows_without_end() {
        let log = Counting::default();
        let mut sessions = Sessions::new(WINDOW, counting()).with_log(Box::new(log.clone()));
        let max = name("Max");
        // Two sessions stay open; a third comes and goes again and again.
        sessions.open(1, max.clone(), 1);
        sessions.open(2, max.clone(), 2);
        for id in 3..(3 + MOST_STALE_LINES as u64) {
            sessions.open(id, max.clone(), id);
            sessions.end(id);
        }
        let (lines, rewrites) = log.0.lock().expect("not poisoned").clone();
        assert!(!rewrites.is_empty(), "never rewritten");
        assert!(rewrites.iter().all(|&open| open == 3), "{rewrites:?}");
        assert!(lines <= MOST_STALE_LINES + 2 * 3 + 1, "{lines} lines");
    }

    #[test]
    fn private_messages_alone_also_get_the_log_rewritten() {
        let log = Counting::default();
        let mut sessions = Sessions::new(WINDOW, counting()).with_log(Box::new(log.clone()));
        sessions.open(1, name("Max"), 1);
        // A session that logs in once and then only sends: no login comes
        // to check the size.
        for record in 0..(MOST_STALE_LINES as u64 + 10) {
            let record = record.to_string().parse().expect("an id's text");
            sessions.kept_private(1, record, true);
        }
        let (lines, rewrites) = log.0.lock().expect("not poisoned").clone();
        assert_eq!(rewrites, [1], "rewritten once, with the one session");
        assert!(lines <= MOST_STALE_LINES, "{lines} lines");
    }

    fn host(last: u8) -> Option<Host> {
        Some(Host::of(std::net::IpAddr::from([10, 0, 0, last])))
    }

    #[test]
    fn one_host_flooding_the_room_with_dropped_sessions_loses_its_own_first() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(WINDOW, counting());
        sessions.cap(3, 2);
        let max = name("Max");
        sessions.open(1, max.clone(), 1);
        assert!(sessions.away(1, t0, host(1), false).is_empty());
        for id in 2..=4 {
            sessions.open(id, max.clone(), id);
        }
        // Trusted: past the room's cap, not its own.
        for id in 2..=3 {
            assert!(sessions.away(id, t0, host(2), true).is_empty());
        }
        assert_eq!(
            sessions.away(4, t0, host(2), true),
            [4],
            "its own newest, not the oldest, 1"
        );
        assert_eq!(sessions.away_name(1), Some(&max), "1 is still kept");
        assert_eq!(sessions.away_name(2), Some(&max), "2 dropped earlier");
    }

    #[test]
    fn a_flood_of_single_sessions_from_many_hosts_leaves_an_older_one_kept() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(WINDOW, counting());
        sessions.cap(3, 2);
        let max = name("Max");
        for id in 1..=10 {
            sessions.open(id, max.clone(), id);
        }
        assert!(sessions.away(1, t0, host(1), false).is_empty());
        for id in 2..=10 {
            let forgotten = sessions.away(id, t0, host(id as u8), false);
            assert!(forgotten.iter().all(|&f| f != 1), "{forgotten:?}");
        }
        assert_eq!(sessions.away_name(1), Some(&max), "1 is still kept");
    }

    #[test]
    fn an_untrusted_host_keeps_no_more_than_its_cap() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(WINDOW, counting());
        sessions.cap(100, 2);
        let max = name("Max");
        for id in 1..=4 {
            sessions.open(id, max.clone(), id);
        }
        assert!(sessions.away(1, t0, host(1), false).is_empty());
        assert!(sessions.away(2, t0, host(1), false).is_empty());
        assert!(sessions.away(3, t0, host(2), false).is_empty());
        assert_eq!(sessions.away(4, t0, host(1), false), [1]);
        assert_eq!(sessions.away_name(1), None);
        assert_eq!(sessions.away_name(3), Some(&max));
    }

    #[test]
    fn past_the_most_away_the_one_away_longest_is_forgotten() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(WINDOW, {
            let mut n = 0u64;
            Box::new(move || {
                n += 1;
                let mut token = [0; 16];
                token[..8].copy_from_slice(&n.to_le_bytes());
                token
            })
        });
        let max = name("Max");
        for id in 1..=MOST_AWAY as u64 {
            sessions.open(id, max.clone(), id);
            assert!(sessions.away(id, t0, None, false).is_empty());
        }
        let id = MOST_AWAY as u64 + 1;
        sessions.open(id, max, id);
        assert_eq!(
            sessions.away(id, t0 + Duration::from_secs(1), None, false),
            [1]
        );
    }
}
