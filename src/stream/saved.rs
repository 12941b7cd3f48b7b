//! Sessions that outlive a restart: `DIR/main/sessions.jsonl` beside the
//! transcript, one JSON object a line, the last line of a session winning:
//!
//! ```text
//! {"session":7,"key":"5f1c…","name":"Max"}
//! {"session":7,"key":"5f1c…","name":"Maxi"}
//! {"session":7,"end":true}
//! ```
//!
//! `key` is the SHA-256 of the session's token, never the token, so the
//! file resumes nobody. Best effort, not synced: a session it loses (a
//! crash right after a login) cannot be resumed, and its client logs in
//! again and fills the gap from the history. On open the file is read,
//! a line it cannot read is skipped (and counted), and it is rewritten
//! with the sessions still open, so it never grows beyond one line for
//! each session and each login or rename since the start.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::history::SessionId;

/// The file's name in a room's folder.
pub const FILE: &str = "sessions.jsonl";

/// What a session is found by: the SHA-256 of its token.
pub type Key = [u8; 32];

/// Lines the file may have beyond those of the open sessions before it is
/// rewritten with those alone: logins, renames and ends would otherwise
/// grow it for as long as the server runs.
pub const MOST_STALE_LINES: usize = 100_000;

/// Where sessions are written, so that they outlive a restart.
pub trait SessionLog: Send {
    /// Session `id` is open (or was renamed) under `name`.
    fn opened(&mut self, id: SessionId, key: &Key, name: &str);
    /// Session `id` is over.
    fn ended(&mut self, id: SessionId);
    /// Lines written since the file was last rewritten.
    fn lines(&self) -> usize;
    /// Rewrites the file with `open` alone (every session still open).
    fn rewrite(&mut self, open: &mut dyn Iterator<Item = (SessionId, Key, String)>);
}

/// A session that outlived a restart, as the file kept it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub id: SessionId,
    pub key: Key,
    pub name: String,
}

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
}

/// The open file, appended to as sessions come and go.
pub struct SessionsFile {
    file: File,
    /// The room's folder.
    dir: PathBuf,
    /// Lines written since the last rewrite.
    lines: usize,
}

impl SessionsFile {
    /// Reads `dir/sessions.jsonl` (if any), rewrites it with the sessions
    /// still open and opens it for appending. Returns the file, the
    /// sessions and how many lines could not be read.
    pub fn open(dir: &Path) -> io::Result<(SessionsFile, Vec<Saved>, usize)> {
        let path = dir.join(FILE);
        let mut open: BTreeMap<SessionId, Saved> = BTreeMap::new();
        let mut unreadable = 0;
        match File::open(&path) {
            Ok(file) => {
                for line in BufReader::new(file).lines() {
                    let line = line?;
                    match parse(&line) {
                        Some(Ok(saved)) => {
                            open.insert(saved.id, saved);
                        }
                        Some(Err(ended)) => {
                            open.remove(&ended);
                        }
                        None => unreadable += 1,
                    }
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        let saved: Vec<Saved> = open.into_values().collect();
        let mut all = saved.iter().map(|s| (s.id, s.key, s.name.clone()));
        let file = replace(dir, &mut all)?;
        let lines = saved.len();
        let dir = dir.to_path_buf();
        Ok((SessionsFile { file, dir, lines }, saved, unreadable))
    }

    fn append(&mut self, line: &[u8]) {
        // One write a line, so a crash leaves at worst a torn last line,
        // which the next start skips. A failed write costs only that
        // session's resume after a restart (its client logs in again);
        // a disk in trouble is reported by the transcript's own writes.
        let _ = self.file.write_all(line);
        self.lines += 1;
    }
}

/// Writes `open` to a new file and puts it in the old one's place;
/// returns it open for appending.
fn replace(
    dir: &Path,
    open: &mut dyn Iterator<Item = (SessionId, Key, String)>,
) -> io::Result<File> {
    let path = dir.join(FILE);
    let fresh = dir.join(format!("{FILE}.new"));
    let mut text = Vec::new();
    for (id, key, name) in open {
        text.extend(encode(id, &key, &name));
    }
    fs::write(&fresh, &text)?;
    fs::rename(&fresh, &path)?;
    OpenOptions::new().append(true).open(&path)
}

impl SessionLog for SessionsFile {
    fn lines(&self) -> usize {
        self.lines
    }

    fn rewrite(&mut self, open: &mut dyn Iterator<Item = (SessionId, Key, String)>) {
        let mut count = 0;
        let mut counted = open.inspect(|_| count += 1);
        // If this fails the old file stays, and appending goes on.
        if let Ok(file) = replace(&self.dir, &mut counted) {
            self.file = file;
            self.lines = count;
        }
    }

    fn opened(&mut self, id: SessionId, key: &Key, name: &str) {
        let line = encode(id, key, name);
        self.append(&line);
    }

    fn ended(&mut self, id: SessionId) {
        let line = Line {
            session: id,
            key: None,
            name: None,
            end: true,
        };
        let mut text = serde_json::to_vec(&line).unwrap_or_default();
        text.push(b'\n');
        self.append(&text);
    }
}

fn encode(id: SessionId, key: &Key, name: &str) -> Vec<u8> {
    let line = Line {
        session: id,
        key: Some(key.iter().map(|b| format!("{b:02x}")).collect()),
        name: Some(name.to_string()),
        end: false,
    };
    // A struct of numbers and strings always serializes.
    let mut text = serde_json::to_vec(&line).unwrap_or_default();
    text.push(b'\n');
    text
}

/// A line: Ok(a session open), Err(a session ended), None: unreadable.
fn parse(text: &str) -> Option<Result<Saved, SessionId>> {
    let line: Line = serde_json::from_str(text).ok()?;
    if line.end {
        return Some(Err(line.session));
    }
    let hex = line.key?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(Ok(Saved {
        id: line.session,
        key,
        name: line.name?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_of_a_session_wins_and_ended_or_unreadable_ones_are_dropped() {
        let dir = tempfile::tempdir().expect("a temp dir");
        {
            let (mut file, saved, unreadable) = SessionsFile::open(dir.path()).expect("opens");
            assert_eq!((saved.len(), unreadable), (0, 0));
            file.opened(1, &[1; 32], "Max");
            file.opened(2, &[2; 32], "Ann");
            file.opened(1, &[1; 32], "Maxi");
            file.ended(2);
            file.opened(3, &[3; 32], "Bob");
        }
        // A crash mid-line leaves a torn last line.
        let path = dir.path().join(FILE);
        let mut text = fs::read_to_string(&path).expect("readable");
        text.push_str("{\"session\":4,\"ke");
        fs::write(&path, text).expect("writable");

        let (_, saved, unreadable) = SessionsFile::open(dir.path()).expect("opens again");
        let names: Vec<(SessionId, &str)> = saved.iter().map(|s| (s.id, s.name.as_str())).collect();
        assert_eq!(names, [(1, "Maxi"), (3, "Bob")]);
        assert_eq!(saved[0].key, [1; 32]);
        assert_eq!(unreadable, 1);
        // Rewritten with the open sessions only.
        let lines = fs::read_to_string(&path).expect("readable").lines().count();
        assert_eq!(lines, 2);
    }
}
