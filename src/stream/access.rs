//! Who may read a store. It holds private messages, so its folders are
//! made 0700 and its files 0600 whatever the umask, and a store that
//! another user may read (any group or other permission on the room's
//! folder or on a file the server keeps there) is refused at start rather
//! than written to.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::files::{
    plain, segment_first_id, OpenError, LOCK_FILE, NAME_FILE, SESSIONS_FILE, SESSIONS_FRESH,
};

/// A store folder's mode: its owner only.
pub const DIR_MODE: u32 = 0o700;

/// A store file's mode: its owner only.
pub const FILE_MODE: u32 = 0o600;

/// Options that create a file as [`FILE_MODE`] (the umask can only take
/// bits away, and it does not take an owner's).
pub fn new_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Creates the folder `dir` (not its parents) as [`DIR_MODE`].
pub fn create_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(dir)?;
    // Exactly 0700, whatever the umask took.
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
}

/// Whether a file of the room's folder is one the server keeps (segments,
/// the sessions file, the lock, the room's name), as against files the operator put there
/// (a compressed old segment keeps its own mode).
fn kept(name: &str) -> bool {
    segment_first_id(name).is_some()
        || name == LOCK_FILE
        || name == SESSIONS_FILE
        || name == SESSIONS_FRESH
        || name == NAME_FILE
}

/// Refuses `path` if a group or other permission bit is set on it.
fn owner_only(path: &Path) -> Result<(), OpenError> {
    let meta = fs::metadata(path).map_err(|e| OpenError::new(path, plain(&e)))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    let fix = if meta.is_dir() {
        "chmod -R go="
    } else {
        "chmod go="
    };
    Err(OpenError::new(
        path,
        format!(
            "other users may read it (mode {mode:04o}), and the store holds private \
             messages: `{fix}` it first"
        ),
    ))
}

/// Refuses the room's folder `dir` if another user may read it or a file
/// the server keeps in it.
pub fn check_room(dir: &Path) -> Result<(), OpenError> {
    owner_only(dir)?;
    let entries = fs::read_dir(dir).map_err(|e| OpenError::new(dir, plain(&e)))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| OpenError::new(dir, plain(&e)))?;
        if entry.file_name().to_str().is_some_and(kept) {
            files.push(entry.path());
        }
    }
    files.sort();
    files.iter().try_for_each(|path| owner_only(path))
}

/// Makes sure the store's folder `given` (as `--store` names it) exists:
/// creates it, and it alone, when its parent does. Returns whether it
/// was created. Errors name `given` as it was typed.
pub fn prepare_root(given: &Path) -> Result<bool, OpenError> {
    match fs::metadata(given) {
        Ok(meta) if meta.is_dir() => return Ok(false),
        Ok(_) => return Err(OpenError::new(given, "not a directory")),
        // Not a directory: a file on the way, said below by name.
        Err(err)
            if !matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Err(OpenError::new(given, plain(&err)))
        }
        Err(_) => {}
    }
    let parent = given
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(OpenError::new(
                given,
                format!("{} is not a directory", parent.display()),
            ))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(OpenError::new(
                given,
                format!(
                    "{} does not exist (only the store's own folder is created)",
                    parent.display()
                ),
            ))
        }
        Err(err) => return Err(OpenError::new(given, plain(&err))),
    }
    create_dir(given).map_err(|e| OpenError::new(given, plain(&e)))?;
    // The new folder's name must survive a crash too.
    fs::File::open(parent)
        .and_then(|p| p.sync_all())
        .map_err(|e| OpenError::new(parent, plain(&e)))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("exists").permissions().mode() & 0o777
    }

    #[test]
    // Under another umask too: tests/it/history.rs starts the server under
    // umask 022 and 000 (the umask is the whole process's, so not here).
    fn folders_and_files_are_owner_only() {
        let root = tempfile::tempdir().expect("a temp dir");
        let dir = root.path().join("main");
        let file = dir.join("sockchat.lock");
        create_dir(&dir).expect("created");
        new_file()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&file)
            .expect("created");
        assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));
        assert_eq!(check_room(&dir), Ok(()));
    }

    #[test]
    fn a_room_or_a_kept_file_others_may_read_is_refused_naming_it() {
        let root = tempfile::tempdir().expect("a temp dir");
        let dir = root.path().join("main");
        create_dir(&dir).expect("created");
        let segment = dir.join("sockchat-00000000000000000001.jsonl");
        fs::write(&segment, "").expect("written");
        fs::set_permissions(&segment, fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = check_room(&dir).expect_err("refused").to_string();
        assert_eq!(
            err,
            format!(
                "{}: other users may read it (mode 0644), and the store holds private \
                 messages: `chmod go=` it first",
                segment.display()
            )
        );
        // A file the operator put there is theirs.
        fs::rename(&segment, dir.join("sockchat-1.jsonl.gz")).expect("renamed");
        assert_eq!(check_room(&dir), Ok(()));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).expect("chmod");
        let err = check_room(&dir).expect_err("refused").to_string();
        assert!(
            err.contains("(mode 0750)") && err.contains("chmod -R go="),
            "{err}"
        );
    }

    #[test]
    fn only_the_last_folder_of_a_store_path_is_created() {
        let root = tempfile::tempdir().expect("a temp dir");
        let store = root.path().join("store");
        assert_eq!(prepare_root(&store), Ok(true));
        assert_eq!(mode(&store), 0o700);
        assert_eq!(prepare_root(&store), Ok(false));
        let deep = root.path().join("no/such/store");
        let err = prepare_root(&deep).expect_err("refused").to_string();
        assert_eq!(
            err,
            format!(
                "{}: {} does not exist (only the store's own folder is created)",
                deep.display(),
                root.path().join("no/such").display()
            )
        );
        assert!(!root.path().join("no").exists());
        let file = root.path().join("file");
        fs::write(&file, "").expect("written");
        assert_eq!(
            prepare_root(&file).expect_err("refused").to_string(),
            format!("{}: not a directory", file.display())
        );
        let under_file = file.join("x");
        assert_eq!(
            prepare_root(&under_file).expect_err("refused").to_string(),
            format!(
                "{}: {} is not a directory",
                under_file.display(),
                file.display()
            )
        );
    }
}
