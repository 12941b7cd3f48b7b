//! What a store's folder holds, by name (segments, the lock, the
//! sessions file, a room's name), and why opening one failed: a leaf that
//! the store, its sessions file, its folders' access check and the room
//! factory all use, so none of them needs another for these.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::id::Id;

/// The lock file's name inside the store's directory.
pub const LOCK_FILE: &str = "sockchat.lock";

/// The sessions file's name in a stream's folder.
pub const SESSIONS_FILE: &str = "sessions.jsonl";

/// The name a rewrite of the sessions file is written under before it
/// takes the file's place.
pub const SESSIONS_FRESH: &str = "sessions.jsonl.new";

/// A room's shown name, inside its folder.
pub const NAME_FILE: &str = "name";

/// A segment's file name: ids sort as names do.
pub fn segment_name(first: Id) -> String {
    format!("sockchat-{:020}.jsonl", first.get())
}

/// The first id of a segment, from its file name; None for other files.
pub fn segment_first_id(name: &str) -> Option<Id> {
    let digits = name.strip_prefix("sockchat-")?.strip_suffix(".jsonl")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Past LAST_ID too: the rules then name it as damage.
    digits.parse().ok().map(Id::new)
}

/// Why a store could not be opened: one line, naming the file and line
/// when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenError {
    /// The file (or the directory) at fault.
    pub path: PathBuf,
    /// The line of `path` at fault, counting from 1.
    pub line: Option<u64>,
    /// What is wrong, in plain words.
    pub cause: String,
}

impl OpenError {
    pub(super) fn new(path: &Path, cause: impl fmt::Display) -> OpenError {
        OpenError {
            path: path.to_path_buf(),
            line: None,
            cause: cause.to_string(),
        }
    }

    /// The sessions file in `dir` could not be read or rewritten.
    pub fn sessions(dir: &Path, err: &io::Error) -> OpenError {
        OpenError::new(&dir.join(SESSIONS_FILE), plain(err))
    }

    pub(super) fn at(path: &Path, line: u64, cause: impl fmt::Display) -> OpenError {
        OpenError {
            line: Some(line),
            ..OpenError::new(path, cause)
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} line {line}: {}", self.path.display(), self.cause),
            None => write!(f, "{}: {}", self.path.display(), self.cause),
        }
    }
}

impl std::error::Error for OpenError {}

/// An I/O error in the words a person reads: the common disk troubles
/// said plainly, the rest without "(os error N)" and in lower case, as
/// `join` words its connection errors.
pub fn plain(err: &io::Error) -> String {
    let words = match err.kind() {
        io::ErrorKind::StorageFull => "the disk is full",
        io::ErrorKind::ReadOnlyFilesystem => "the file system is read-only",
        io::ErrorKind::PermissionDenied => "permission denied",
        io::ErrorKind::QuotaExceeded => "the disk quota is used up",
        io::ErrorKind::NotFound => "no such file or directory",
        io::ErrorKind::NotADirectory => "not a directory",
        _ => {
            let text = err.to_string();
            let text = text
                .find(" (os error")
                .map_or(&text[..], |end| &text[..end]);
            let mut chars = text.chars();
            return match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => String::new(),
            };
        }
    };
    words.to_string()
}
