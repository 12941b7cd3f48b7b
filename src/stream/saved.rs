//! Sessions that outlive a restart: `DIR/private/sessions.jsonl` beside
//! the private messages' transcript, one JSON object a line, the last line of a session winning:
//!
//! ```text
//! {"session":7,"key":"5f1c…","name":"Max"}
//! {"session":7,"key":"5f1c…","name":"Maxi"}
//! {"session":7,"private":42,"sent":true}
//! {"session":7,"rooms":["#main","#Ops"]}
//! {"session":7,"end":true}
//! ```
//!
//! `private` names a private message (by its id in the transcript) kept
//! for the session, `sent` when the session sent it, so that a resume
//! after the restart replays it too, as it was shown. `rooms` names the
//! rooms the session is in (as they are shown), its current room last,
//! written whenever they change, so that a resume after the restart takes
//! it back into them; a session with no such line (a file from before
//! rooms, or one that never left `#main`) is in `#main`.
//!
//! `key` is the SHA-256 of the session's token, never the token, so the
//! file resumes nobody. Best effort, not synced: a session it loses (a
//! crash right after a login) cannot be resumed, and its client logs in
//! again and fills the gap from the history. On open the file is read
//! as bytes, a line it cannot read (torn by a crash, even inside a
//! character of a name) is skipped (and counted), and it is rewritten
//! with the sessions still open (a line for each, one for its rooms if
//! it left `#main` alone, one for each private message kept), and again
//! once it has grown well past that (see [`MOST_STALE_LINES`]). A rewrite
//! that fails later (a full disk) is tried again after a wait (see
//! [`Retry`]), not at every login.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::access;
use super::history::SessionId;
use super::record::Id;
use super::retry::Retry;
use super::segment::{Line as Read, Lines};

pub use super::files::{SESSIONS_FILE as FILE, SESSIONS_FRESH as FRESH};

/// What a session is found by: the SHA-256 of its token.
pub type Key = [u8; 32];

/// Lines the file may grow by, beyond twice what its last rewrite wrote,
/// before it is rewritten with the open sessions alone: logins, renames,
/// ends and private messages would otherwise grow it for as long as the
/// server runs. (Twice: a rewrite of many open sessions must not be
/// followed by another at once.)
pub const MOST_STALE_LINES: usize = 100_000;

/// Bytes of stale lines allowed before a rewrite, whatever their count: a
/// rooms line lists up to `--max-joined` names, so lines alone do not
/// bound the file.
pub const MOST_STALE_BYTES: usize = 16 << 20;

/// Where sessions are written, so that they outlive a restart.
pub trait SessionLog: Send {
    /// Session `id` is open (or was renamed) under `name`.
    fn opened(&mut self, id: SessionId, key: &Key, name: &str);
    /// Session `id` is over.
    fn ended(&mut self, id: SessionId);
    /// The private message `record` is kept for session `id` (which
    /// `sent` it, or received it).
    fn private(&mut self, id: SessionId, record: Id, sent: bool);
    /// Session `id` is in the rooms named `names` (as shown) now, its
    /// current one last.
    fn rooms(&mut self, id: SessionId, names: &[Arc<str>]);
    /// Whether the file has grown enough to be rewritten (see
    /// [`MOST_STALE_LINES`]).
    fn wants_rewrite(&self) -> bool;
    /// Rewrites the file with `open` alone (every session still open).
    fn rewrite(&mut self, open: &mut dyn Iterator<Item = (SessionId, Key, String)>);
}

/// A session that outlived a restart, as the file kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub id: SessionId,
    pub key: Key,
    pub name: String,
    /// The private messages kept for it, oldest first, and whether it
    /// sent each.
    pub private: Vec<(Id, bool)>,
    /// The names (as shown) of the rooms it was in, its current one last;
    /// empty when the file named none (`#main` alone). Read as written:
    /// the server checks them.
    pub rooms: Vec<String>,
}

/// Private messages remembered for one session, at most (the history
/// keeps no more for it).
pub const MOST_PRIVATE: usize = 100;

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    session: SessionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    end: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private: Option<Id>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sent: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rooms: Option<Vec<String>>,
}

impl Line {
    /// A line of session `id` that says nothing yet.
    fn of(session: SessionId) -> Line {
        Line {
            session,
            key: None,
            name: None,
            end: false,
            private: None,
            sent: false,
            rooms: None,
        }
    }

    /// The line as written: JSON and a newline.
    fn encode(&self) -> Vec<u8> {
        // A struct of numbers and strings always serializes.
        let mut text = serde_json::to_vec(self).unwrap_or_default();
        text.push(b'\n');
        text
    }
}

/// What one line says.
enum Entry {
    Open(Saved),
    End(SessionId),
    Private(SessionId, Id, bool),
    Rooms(SessionId, Vec<String>),
}

/// What a rewrite writes again for each open session, beyond its key
/// and name: kept here, as the lines that said it are appended.
#[derive(Default)]
struct Extra {
    /// The private messages of each open session.
    private: HashMap<SessionId, VecDeque<(Id, bool)>>,
    /// The rooms of each open session that ever left `#main` alone (the
    /// very names the rooms hold: a pointer each).
    rooms: HashMap<SessionId, Vec<Arc<str>>>,
}

impl Extra {
    fn of(saved: &[Saved]) -> Extra {
        let private = saved
            .iter()
            .map(|s| (s.id, s.private.iter().copied().collect()))
            .collect();
        let rooms = saved
            .iter()
            .filter(|s| !s.rooms.is_empty())
            .map(|s| {
                (
                    s.id,
                    s.rooms.iter().map(|n| Arc::from(n.as_str())).collect(),
                )
            })
            .collect();
        Extra { private, rooms }
    }

    /// The lines that say what is kept for session `id`.
    fn lines(&self, id: SessionId) -> impl Iterator<Item = Vec<u8>> + '_ {
        let rooms = self.rooms.get(&id).map(|names| encode_rooms(id, names));
        let private = self.private.get(&id).into_iter().flatten();
        let private = private.map(move |&(record, sent)| encode_private(id, record, sent));
        rooms.into_iter().chain(private)
    }

    fn forget(&mut self, id: SessionId) {
        self.private.remove(&id);
        self.rooms.remove(&id);
    }
}

/// The open file, appended to as sessions come and go.
pub struct SessionsFile {
    file: File,
    /// The room's folder.
    dir: PathBuf,
    /// Lines in the file.
    lines: usize,
    /// Lines its last rewrite wrote.
    base: usize,
    /// Bytes in the file, and those its last rewrite wrote.
    bytes: usize,
    base_bytes: usize,
    /// The private messages and rooms of each open session, to write
    /// again when the file is rewritten.
    extra: Extra,
    /// Stale lines allowed before a rewrite ([`MOST_STALE_LINES`]; tests
    /// use fewer).
    most_stale: usize,
    /// When a failed rewrite may be tried again.
    retry: Retry,
    /// The time, for `retry`; injected by tests.
    clock: Box<dyn Fn() -> Instant + Send>,
}

impl SessionsFile {
    /// Reads `dir/sessions.jsonl` (if any): the sessions still open, and
    /// how many lines could not be read.
    pub fn read(dir: &Path) -> io::Result<(Vec<Saved>, usize)> {
        let path = dir.join(FILE);
        let mut open: BTreeMap<SessionId, Saved> = BTreeMap::new();
        let mut unreadable = 0;
        let mut lines = match Lines::open(&path) {
            Ok(lines) => lines,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(err) => return Err(err),
        };
        while let Some((_, line)) = lines.next_line()? {
            // Bytes, not text: a line torn inside a character is one more
            // unreadable line, not a reason to refuse the whole file.
            let entry = match line {
                Read::Whole(bytes) => parse(bytes),
                Read::Torn { .. } | Read::TooLong => None,
            };
            match entry {
                Some(entry) => take(&mut open, entry),
                None => unreadable += 1,
            }
        }
        Ok((open.into_values().collect(), unreadable))
    }

    /// Rewrites `dir/sessions.jsonl` with `saved` alone and opens it for
    /// appending.
    pub fn open(dir: &Path, saved: &[Saved]) -> io::Result<SessionsFile> {
        let extra = Extra::of(saved);
        let mut all = saved.iter().map(|s| (s.id, s.key, s.name.clone()));
        let (file, lines, bytes) = replace(dir, &mut all, &extra)?;
        Ok(SessionsFile {
            file,
            dir: dir.to_path_buf(),
            lines,
            base: lines,
            bytes,
            base_bytes: bytes,
            extra,
            most_stale: MOST_STALE_LINES,
            retry: Retry::default(),
            clock: Box::new(Instant::now),
        })
    }

    /// Uses `clock` for the waits between failed rewrites (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> Instant + Send + 'static) -> SessionsFile {
        self.clock = Box::new(clock);
        self
    }

    fn append(&mut self, line: &[u8]) {
        // One write a line, so a crash leaves at worst a torn last line,
        // which the next start skips. A failed write costs only that
        // session's resume after a restart (its client logs in again);
        // a disk in trouble is reported by the transcript's own writes.
        let _ = self.file.write_all(line);
        self.lines += 1;
        self.bytes += line.len();
    }
}

/// What one line read adds to the sessions still `open`: the last line of
/// a kind wins (private messages add up, the newest kept).
fn take(open: &mut BTreeMap<SessionId, Saved>, entry: Entry) {
    match entry {
        Entry::Open(mut saved) => {
            // A rename: what was kept for the session stays.
            if let Some(old) = open.remove(&saved.id) {
                saved.private = old.private;
                saved.rooms = old.rooms;
            }
            open.insert(saved.id, saved);
        }
        Entry::End(id) => {
            open.remove(&id);
        }
        Entry::Private(id, record, sent) => {
            if let Some(saved) = open.get_mut(&id) {
                saved.private.push((record, sent));
                if saved.private.len() > MOST_PRIVATE {
                    saved.private.remove(0);
                }
            }
        }
        Entry::Rooms(id, rooms) => {
            if let Some(saved) = open.get_mut(&id) {
                saved.rooms = rooms;
            }
        }
    }
}

/// Writes `open` (and what is kept for them) to a new file and puts it
/// in the old one's place; returns it open for appending, its lines and
/// its bytes.
fn replace(
    dir: &Path,
    open: &mut dyn Iterator<Item = (SessionId, Key, String)>,
    extra: &Extra,
) -> io::Result<(File, usize, usize)> {
    let path = dir.join(FILE);
    let fresh = dir.join(FRESH);
    let mut text = Vec::new();
    let mut lines = 0;
    for (id, key, name) in open {
        text.extend(encode(id, &key, &name));
        lines += 1;
        for line in extra.lines(id) {
            text.extend(line);
            lines += 1;
        }
    }
    access::new_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&fresh)
        .and_then(|mut file| file.write_all(&text))?;
    fs::rename(&fresh, &path)?;
    let file = OpenOptions::new().append(true).open(&path)?;
    Ok((file, lines, text.len()))
}

impl SessionLog for SessionsFile {
    fn wants_rewrite(&self) -> bool {
        let stale = self.lines > 2 * self.base + self.most_stale
            || self.bytes > 2 * self.base_bytes + MOST_STALE_BYTES;
        stale && self.retry.due((self.clock)())
    }

    fn rewrite(&mut self, open: &mut dyn Iterator<Item = (SessionId, Key, String)>) {
        let open: Vec<_> = open.collect();
        let is_open = |id: &SessionId| open.iter().any(|(o, _, _)| o == id);
        self.extra.private.retain(|id, _| is_open(id));
        self.extra.rooms.retain(|id, _| is_open(id));
        // If this fails the old file stays, appending goes on, and the
        // next try waits.
        match replace(&self.dir, &mut open.into_iter(), &self.extra) {
            Ok((file, lines, bytes)) => {
                self.file = file;
                self.lines = lines;
                self.base = lines;
                self.bytes = bytes;
                self.base_bytes = bytes;
                self.retry.succeeded();
            }
            Err(_) => self.retry.failed((self.clock)()),
        }
    }

    fn private(&mut self, id: SessionId, record: Id, sent: bool) {
        let kept = self.extra.private.entry(id).or_default();
        kept.push_back((record, sent));
        if kept.len() > MOST_PRIVATE {
            kept.pop_front();
        }
        let line = encode_private(id, record, sent);
        self.append(&line);
    }

    fn rooms(&mut self, id: SessionId, names: &[Arc<str>]) {
        // Nothing changed (a `/switch` to the current room): nothing to say.
        if self
            .extra
            .rooms
            .get(&id)
            .is_some_and(|kept| kept[..] == names[..])
        {
            return;
        }
        let line = encode_rooms(id, names);
        self.extra.rooms.insert(id, names.to_vec());
        self.append(&line);
    }

    fn opened(&mut self, id: SessionId, key: &Key, name: &str) {
        let line = encode(id, key, name);
        self.append(&line);
    }

    fn ended(&mut self, id: SessionId) {
        self.extra.forget(id);
        let line = Line {
            end: true,
            ..Line::of(id)
        };
        self.append(&line.encode());
    }
}

fn encode_private(id: SessionId, record: Id, sent: bool) -> Vec<u8> {
    Line {
        private: Some(record),
        sent,
        ..Line::of(id)
    }
    .encode()
}

fn encode_rooms(id: SessionId, names: &[Arc<str>]) -> Vec<u8> {
    Line {
        rooms: Some(names.iter().map(|n| n.to_string()).collect()),
        ..Line::of(id)
    }
    .encode()
}

fn encode(id: SessionId, key: &Key, name: &str) -> Vec<u8> {
    Line {
        key: Some(key.iter().map(|b| format!("{b:02x}")).collect()),
        name: Some(name.to_string()),
        ..Line::of(id)
    }
    .encode()
}

/// What a line says; None when it cannot be read.
fn parse(bytes: &[u8]) -> Option<Entry> {
    let line: Line = serde_json::from_slice(bytes).ok()?;
    if line.end {
        return Some(Entry::End(line.session));
    }
    if let Some(record) = line.private {
        return Some(Entry::Private(line.session, record, line.sent));
    }
    if let Some(rooms) = line.rooms {
        return Some(Entry::Rooms(line.session, rooms));
    }
    let hex = line.key?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(Entry::Open(Saved {
        id: line.session,
        key,
        name: line.name?,
        private: Vec::new(),
        rooms: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[test]
    fn a_line_torn_inside_a_character_is_skipped_and_counted_like_any_other() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut bytes = encode(1, &[1; 32], "Jürgen");
        // A write cut short inside the `ü` of a name, then the next
        // session's line appended after it, and a last line torn the same.
        let torn = encode(2, &[2; 32], "Jürgen");
        let cut = torn
            .iter()
            .position(|&b| b == 0xc3)
            .expect("a two-byte character")
            + 1;
        bytes.extend_from_slice(&torn[..cut]);
        bytes.extend(encode(3, &[3; 32], "Zoë"));
        bytes.extend_from_slice(&torn[..cut]);
        fs::write(dir.path().join(FILE), &bytes).expect("writable");
        let (saved, unreadable) = SessionsFile::read(dir.path()).expect("reads");
        let names: Vec<(SessionId, &str)> = saved.iter().map(|s| (s.id, s.name.as_str())).collect();
        assert_eq!(names, [(1, "Jürgen")]);
        assert_eq!(unreadable, 2);
    }

    #[test]
    fn a_failed_rewrite_is_tried_again_after_a_wait_not_at_every_line() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let t0 = Instant::now();
        let now = Arc::new(Mutex::new(t0));
        let clock = {
            let now = Arc::clone(&now);
            move || *now.lock().expect("not poisoned")
        };
        let set = |at: Duration| *now.lock().expect("not poisoned") = t0 + at;
        let mut file = SessionsFile::open(dir.path(), &[])
            .expect("opens")
            .with_clock(clock);
        file.most_stale = 3;
        let open = || vec![(1, [1; 32], "Max".to_string())];
        // The rewrite cannot make its new file, as on a full disk.
        fs::create_dir(dir.path().join(FRESH)).expect("a folder in its way");
        for id in 1..=4 {
            file.opened(id, &[1; 32], "Max");
        }
        assert!(file.wants_rewrite());
        file.rewrite(&mut open().into_iter());
        // Not at the next login, nor until the wait is over.
        file.opened(5, &[5; 32], "Ann");
        assert!(!file.wants_rewrite());
        set(Duration::from_millis(4999));
        assert!(!file.wants_rewrite());
        set(Duration::from_secs(5));
        assert!(file.wants_rewrite());
        file.rewrite(&mut open().into_iter());
        // Twice as long after a second failure.
        set(Duration::from_secs(14));
        assert!(!file.wants_rewrite());
        set(Duration::from_secs(15));
        assert!(file.wants_rewrite());
        // Room again: it succeeds and the file holds the open session.
        fs::remove_dir(dir.path().join(FRESH)).expect("removed");
        file.rewrite(&mut open().into_iter());
        assert!(!file.wants_rewrite());
        let (saved, _) = SessionsFile::read(dir.path()).expect("reads");
        assert_eq!(saved.len(), 1);
    }

    #[test]
    fn the_last_line_of_a_session_wins_and_ended_or_unreadable_ones_are_dropped() {
        let dir = tempfile::tempdir().expect("a temp dir");
        {
            let (saved, unreadable) = SessionsFile::read(dir.path()).expect("reads");
            assert_eq!((saved.len(), unreadable), (0, 0));
            let mut file = SessionsFile::open(dir.path(), &saved).expect("opens");
            file.opened(1, &[1; 32], "Max");
            file.opened(2, &[2; 32], "Ann");
            file.private(1, Id::new(40), true);
            file.private(2, Id::new(40), false);
            file.opened(1, &[1; 32], "Maxi");
            file.ended(2);
            file.opened(3, &[3; 32], "Bob");
            file.private(1, Id::new(41), false);
        }
        // A crash mid-line leaves a torn last line.
        let path = dir.path().join(FILE);
        let mut text = fs::read_to_string(&path).expect("readable");
        text.push_str("{\"session\":4,\"ke");
        fs::write(&path, text).expect("writable");

        let (saved, unreadable) = SessionsFile::read(dir.path()).expect("reads again");
        let names: Vec<(SessionId, &str)> = saved.iter().map(|s| (s.id, s.name.as_str())).collect();
        assert_eq!(names, [(1, "Maxi"), (3, "Bob")]);
        assert_eq!(saved[0].key, [1; 32]);
        assert_eq!(
            saved[0].private,
            [(Id::new(40), true), (Id::new(41), false)],
            "kept across the rename"
        );
        assert!(saved[1].private.is_empty());
        assert_eq!(unreadable, 1);
        // Rewritten with the open sessions and their private messages only.
        SessionsFile::open(dir.path(), &saved).expect("rewrites");
        let lines = fs::read_to_string(&path).expect("readable").lines().count();
        assert_eq!(lines, 4);
        let (again, unreadable) = SessionsFile::read(dir.path()).expect("reads the rewrite");
        assert_eq!((again, unreadable), (saved, 0));
    }

    fn names(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|&k| Arc::from(k)).collect()
    }

    #[test]
    fn the_same_rooms_again_write_nothing() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut file = SessionsFile::open(dir.path(), &[]).expect("opens");
        file.opened(1, &[1; 32], "Max");
        file.rooms(1, &names(&["#main", "#ops"]));
        let before = file.lines;
        file.rooms(1, &names(&["#main", "#ops"]));
        assert_eq!(file.lines, before, "a /switch to the current room");
        file.rooms(1, &names(&["#ops", "#main"]));
        assert_eq!(file.lines, before + 1);
    }

    #[test]
    fn a_sessions_rooms_are_kept_current_last_across_a_rename_and_a_rewrite() {
        let dir = tempfile::tempdir().expect("a temp dir");
        {
            let mut file = SessionsFile::open(dir.path(), &[]).expect("opens");
            file.opened(1, &[1; 32], "Max");
            file.rooms(1, &names(&["#main", "#ops"]));
            file.opened(2, &[2; 32], "Ann");
            file.rooms(2, &names(&["#main", "#ops"]));
            file.rooms(2, &names(&["#ops", "#été"]));
            file.private(1, Id::new(40), false);
            file.opened(1, &[1; 32], "Maxi");
            file.rooms(1, &names(&["#ops", "#main"]));
            file.opened(3, &[3; 32], "Cy");
            file.rooms(3, &names(&["#ops"]));
            file.ended(3);
        }
        let (saved, unreadable) = SessionsFile::read(dir.path()).expect("reads");
        assert_eq!(unreadable, 0);
        let rooms: Vec<(&str, Vec<&str>)> = saved
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.rooms.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            rooms,
            [
                ("Maxi", vec!["#ops", "#main"]),
                ("Ann", vec!["#ops", "#été"])
            ],
            "the last list of each, kept across the rename; an ended one gone"
        );
        assert_eq!(saved[0].private, [(Id::new(40), false)]);

        // The start's rewrite: a line for each session, one for its rooms,
        // one for each private message; and it reads back the same.
        let mut file = SessionsFile::open(dir.path(), &saved).expect("rewrites");
        let path = dir.path().join(FILE);
        let count = || fs::read_to_string(&path).expect("readable").lines().count();
        assert_eq!(count(), 5);
        let (again, _) = SessionsFile::read(dir.path()).expect("reads the rewrite");
        assert_eq!(again, saved);

        // A later rewrite keeps the open sessions' rooms, and only theirs.
        file.rooms(2, &names(&["#main"]));
        file.rewrite(&mut std::iter::once((2, [2; 32], "Ann".to_string())));
        assert_eq!(count(), 2);
        let (again, _) = SessionsFile::read(dir.path()).expect("reads the rewrite");
        assert_eq!(again.len(), 1);
        assert_eq!(
            (again[0].id, again[0].rooms.clone()),
            (2, vec!["#main".to_string()])
        );
    }

    #[test]
    fn a_file_from_before_rooms_still_loads_its_sessions_in_main_alone() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let key = "ab".repeat(32);
        let old = format!(
            "{{\"session\":7,\"key\":\"{key}\",\"name\":\"Max\"}}\n\
             {{\"session\":7,\"private\":42,\"sent\":true}}\n"
        );
        fs::write(dir.path().join(FILE), &old).expect("writable");
        let (saved, unreadable) = SessionsFile::read(dir.path()).expect("reads");
        assert_eq!(unreadable, 0);
        assert_eq!(
            saved,
            [Saved {
                id: 7,
                key: [0xab; 32],
                name: "Max".to_string(),
                private: vec![(Id::new(42), true)],
                rooms: Vec::new(),
            }]
        );
        // Rewritten as it was: no rooms line for a session in #main alone.
        SessionsFile::open(dir.path(), &saved).expect("rewrites");
        assert_eq!(
            fs::read_to_string(dir.path().join(FILE)).expect("readable"),
            old
        );
    }

    #[test]
    fn a_rooms_line_is_one_small_json_object_of_names_as_shown() {
        assert_eq!(
            encode_rooms(7, &names(&["#main", "#ops"])),
            b"{\"session\":7,\"rooms\":[\"#main\",\"#ops\"]}\n"
        );
        // A rooms line for a session the file does not have is no harm.
        let dir = tempfile::tempdir().expect("a temp dir");
        fs::write(dir.path().join(FILE), encode_rooms(9, &names(&["#ops"]))).expect("writable");
        assert_eq!(
            SessionsFile::read(dir.path()).expect("reads"),
            (Vec::new(), 0)
        );
    }
}
