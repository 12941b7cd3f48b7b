//! `sockchat store check DIR`: reads every line of every segment of every
//! stream's folder in a store (`main/`, each room's `#KEY/`, `private/`:
//! see [`super::rooms`]), as recovery would, and notes each broken
//! rule instead of stopping at the first. A server's start reads only the
//! newest segments, as far back as `--history` needs; this reads them
//! all, so damage in an old file is found before anyone needs it. Only
//! reads: nothing in the store is changed, and a running server is not
//! disturbed.

use std::fmt;
use std::path::{Path, PathBuf};

use super::access;
use super::id::Id;
use super::rooms;
use super::saved::SessionsFile;
use super::segment::{Line, Lines, Rules, MAX_LINE};
use super::store::{plain, segments, OpenError};

/// What was found in one room's folder.
#[derive(Debug, Default)]
pub struct Room {
    /// The folder.
    pub dir: PathBuf,
    /// The room's name as shown, from its `name` file (rooms other than
    /// `#main` have one).
    pub shown: Option<String>,
    /// Its segments.
    pub files: usize,
    /// Whole records that keep every rule.
    pub records: u64,
    /// Broken lines: each names its file, line and cause.
    pub damage: Vec<OpenError>,
    /// Files that could not be read at all.
    pub unreadable: Vec<OpenError>,
    /// A mode that other users may read by, which `serve` refuses to
    /// start on: not damage, but the store will not do as it is.
    pub refused: Option<OpenError>,
    /// Things worth knowing that are not damage: a torn last line in the
    /// newest file (a server stopped, or is, mid-write; the next start
    /// drops it), an empty newest file, unreadable lines of the sessions
    /// file (skipped at start).
    pub notes: Vec<String>,
}

/// What was found in the store.
#[derive(Debug, Default)]
pub struct Report {
    pub rooms: Vec<Room>,
    /// Folders in the store that are no stream's (`serve` never reads
    /// them): named, not checked.
    pub skipped: Vec<PathBuf>,
}

impl Report {
    pub fn damaged(&self) -> bool {
        self.rooms.iter().any(|r| !r.damage.is_empty())
    }

    pub fn unreadable(&self) -> bool {
        self.rooms.iter().any(|r| !r.unreadable.is_empty())
    }

    /// Whether `serve` would refuse a room for its modes.
    pub fn refused(&self) -> bool {
        self.rooms.iter().any(|r| r.refused.is_some())
    }
}

impl fmt::Display for Room {
    /// One line: the folder and what it holds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(f, "{}", self.dir.display())?;
        if let Some(shown) = &self.shown {
            write!(f, " ({shown})")?;
        }
        write!(
            f,
            ": {}, {} records, {}",
            plural(self.files, "file", "files"),
            self.records,
            plural(self.damage.len(), "damaged line", "damaged lines"),
        )?;
        if !self.unreadable.is_empty() {
            write!(
                f,
                ", {}",
                plural(self.unreadable.len(), "unreadable file", "unreadable files")
            )?;
        }
        if self.refused.is_some() {
            f.write_str(", refused by `serve` as others may read it")?;
        }
        Ok(())
    }
}

/// Checks the store whose folder is `root` (what `--store` names). Err:
/// it could not be read at all, or holds no room.
pub fn check(root: &Path) -> Result<Report, OpenError> {
    let entries = std::fs::read_dir(root).map_err(|e| OpenError::new(root, plain(&e)))?;
    let mut dirs = Vec::new();
    let mut skipped = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| OpenError::new(root, plain(&e)))?;
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        match entry.file_name().to_str().is_some_and(is_stream_dir) {
            true => dirs.push(entry.path()),
            false => skipped.push(entry.path()),
        }
    }
    skipped.sort();
    if dirs.is_empty() {
        return Err(OpenError::new(
            root,
            "no room's folder in it: is this the folder `serve --store` was given?",
        ));
    }
    dirs.sort();
    let rooms = dirs.into_iter().map(|dir| check_room(&dir)).collect();
    Ok(Report { rooms, skipped })
}

/// Whether a folder of the store is a stream's, by its name.
fn is_stream_dir(name: &str) -> bool {
    name == rooms::MAIN_DIR || name == rooms::PRIVATE_DIR || rooms::decode_key(name).is_some()
}

fn check_room(dir: &Path) -> Room {
    let mut room = Room {
        dir: dir.to_path_buf(),
        shown: rooms::read_name(&dir.join(rooms::NAME_FILE)),
        ..Room::default()
    };
    room.refused = access::check_room(dir).err().map(|mut err| {
        err.cause.push_str(" (`serve` refuses to start on it)");
        err
    });
    match SessionsFile::read(dir) {
        Ok((_, 0)) => {}
        Ok((_, skipped)) => room.notes.push(format!(
            "{}: {skipped} unreadable lines (a start skips them; those sessions \
             cannot be resumed)",
            dir.join(super::saved::FILE).display()
        )),
        Err(err) => room.unreadable.push(OpenError::sessions(dir, &err)),
    }
    let found = match segments(dir) {
        Ok(found) => found,
        Err(err) => {
            room.unreadable.push(err);
            return room;
        }
    };
    room.files = found.len();
    for (index, (first, path)) in found.iter().enumerate() {
        let before = found.get(index + 1).map(|(next, _)| *next);
        let newest = before.is_none();
        if let Err(err) = check_segment(path, *first, before, newest, &mut room) {
            room.unreadable.push(err);
        }
    }
    room
}

/// Reads one segment to its end, noting every broken line in `room`.
fn check_segment(
    path: &Path,
    first: Id,
    before: Option<Id>,
    newest: bool,
    room: &mut Room,
) -> Result<(), OpenError> {
    let mut lines = Lines::open(path).map_err(|e| OpenError::new(path, plain(&e)))?;
    let mut rules = match Rules::new(first, before) {
        Ok(rules) => rules,
        Err(cause) => {
            room.damage.push(OpenError::new(path, cause));
            return Ok(());
        }
    };
    while let Some((number, line)) = lines
        .next_line()
        .map_err(|e| OpenError::new(path, plain(&e)))?
    {
        match line {
            Line::Whole(bytes) => match rules.check(bytes) {
                Ok(_) => room.records += 1,
                Err(cause) => room.damage.push(OpenError::at(path, number, cause)),
            },
            Line::TooLong => room.damage.push(OpenError::at(
                path,
                number,
                format!("a line longer than {MAX_LINE} bytes"),
            )),
            Line::Torn { bytes } if newest => room.notes.push(format!(
                "{} line {number}: an incomplete last line ({bytes} bytes): a server \
                 stopped, or is, while writing it; a start drops it",
                path.display()
            )),
            Line::Torn { .. } => room.damage.push(OpenError::at(
                path,
                number,
                "the last line is incomplete (no line end)",
            )),
        }
    }
    if newest && lines.number() == 0 {
        room.notes.push(format!(
            "{}: the newest file is empty (a write to it failed, or it was emptied)",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::record::{Kind, Record, LAST_ID};
    use crate::stream::store::segment_name;
    use std::io::Write;

    fn lines(ids: std::ops::RangeInclusive<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        for id in ids {
            let kind = Kind::Chat {
                from: "Max".into(),
                text: format!("line {id}"),
            };
            let id = Id::new(id);
            Record { id, time: 1, kind }.encode(&mut out);
        }
        out
    }

    fn segment(dir: &Path, first: u64, bytes: &[u8]) -> PathBuf {
        let path = dir.join(segment_name(Id::new(first)));
        access::new_file()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(bytes))
            .expect("written");
        path
    }

    #[test]
    fn every_line_of_every_file_is_read_and_each_broken_one_named() {
        let root = tempfile::tempdir().expect("a temp dir");
        let dir = root.path().join("main");
        access::create_dir(&dir).expect("created");
        let flipped = String::from_utf8(lines(1..=3))
            .expect("UTF-8")
            .replacen("line 2", "line 7", 1);
        let old = segment(&dir, 1, flipped.as_bytes());
        let mut middle = lines(4..=5);
        middle.extend_from_slice(b"\0\0\n");
        middle.extend(lines(6..=6));
        let middle = segment(&dir, 4, &middle);
        let mut newest = lines(10..=11);
        newest.extend_from_slice(b"{\"id\":12");
        segment(&dir, 10, &newest);
        let report = check(root.path()).expect("readable");
        assert!(report.damaged());
        assert!(!report.unreadable());
        let room = &report.rooms[0];
        let damage: Vec<(PathBuf, Option<u64>)> = room
            .damage
            .iter()
            .map(|d| (d.path.clone(), d.line))
            .collect();
        assert_eq!(damage, [(old, Some(2)), (middle, Some(3))]);
        assert!(room.damage[0]
            .cause
            .starts_with("the checksum does not match"));
        assert_eq!(room.records, 7);
        assert_eq!(room.notes.len(), 1, "{:?}", room.notes);
        assert!(room.notes[0].contains("an incomplete last line"));
        assert_eq!(
            room.to_string(),
            format!("{}: 3 files, 7 records, 2 damaged lines", dir.display())
        );
    }

    #[test]
    fn a_file_or_a_record_past_the_last_id_is_damage() {
        let root = tempfile::tempdir().expect("a temp dir");
        let dir = root.path().join("main");
        access::create_dir(&dir).expect("created");
        let mut far = Vec::new();
        let kind = Kind::Join { from: "Max".into() };
        Record {
            id: LAST_ID.next(),
            time: 1,
            kind,
        }
        .encode(&mut far);
        let old = segment(&dir, 1, &far);
        let huge = segment(&dir, u64::MAX, b"");
        let report = check(root.path()).expect("readable");
        assert!(report.damaged());
        let damage: Vec<(PathBuf, Option<u64>)> = report.rooms[0]
            .damage
            .iter()
            .map(|d| (d.path.clone(), d.line))
            .collect();
        assert_eq!(damage, [(old, Some(1)), (huge, None)]);
    }

    #[test]
    fn a_mode_serve_refuses_is_found_with_the_chmod_that_mends_it() {
        use std::os::unix::fs::PermissionsExt;
        let chmod = |path: &Path, mode| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        let root = tempfile::tempdir().expect("a temp dir");
        let dir = root.path().join("main");
        access::create_dir(&dir).expect("created");
        let file = segment(&dir, 1, &lines(1..=2));
        chmod(&file, 0o644);
        let report = check(root.path()).expect("readable");
        assert!(report.refused() && !report.damaged() && !report.unreadable());
        let refused = report.rooms[0].refused.as_ref().expect("refused");
        assert_eq!(
            refused.to_string(),
            format!(
                "{}: other users may read it (mode 0644), and the store holds private \
                 messages: `chmod go=` it first (`serve` refuses to start on it)",
                file.display()
            )
        );
        chmod(&file, 0o600);
        chmod(&dir, 0o755);
        let report = check(root.path()).expect("readable");
        let refused = report.rooms[0].refused.as_ref().expect("refused");
        assert_eq!(refused.path, dir);
        assert!(refused.cause.contains("`chmod -R go=`"), "{refused}");
        chmod(&dir, 0o700);
        assert!(!check(root.path()).expect("readable").refused());
    }

    #[test]
    fn a_clean_store_has_no_damage_and_a_folder_without_rooms_is_not_a_store() {
        let root = tempfile::tempdir().expect("a temp dir");
        let err = check(root.path()).expect_err("no room").to_string();
        assert!(err.contains("no room's folder in it"), "{err}");
        let dir = root.path().join("main");
        access::create_dir(&dir).expect("created");
        segment(&dir, 1, &lines(1..=2));
        let report = check(root.path()).expect("readable");
        assert!(!report.damaged() && !report.unreadable());
        assert_eq!(report.rooms[0].notes, Vec::<String>::new());
        assert!(!report.refused());
    }
}
