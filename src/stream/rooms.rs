//! Where each of a server's streams lives: the factory the server asks
//! for a room's stream, and the folder names of a store.
//!
//! A store `DIR` holds one folder a stream:
//!
//! ```text
//! DIR/main/          #main (as every store before rooms had it)
//! DIR/#ops/          another room: `#` and its key, escaped (below)
//! DIR/#%C3%A9t%C3%A9/   the room whose key is `été`
//! DIR/private/       private messages and the sessions that outlive a restart
//! ```
//!
//! A room's key (see `protocol::room`) is folded and may hold any
//! character; in a folder's name every byte outside `[a-z0-9_-]` is
//! written `%XX` (upper-case hex), so the name is the same on every file
//! system (no case folding, no Unicode normalisation, no `/` or `.`), and
//! reads back to exactly one key. Each room's folder also holds `name`:
//! the room's name as its creator spelled it, for the server to show
//! after a restart (a key is folded, so it cannot be shown).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::access;
use super::store::{plain, Notice, OpenError};
use super::{HistoryLimits, RoomStream};

/// #main's folder.
pub const MAIN_DIR: &str = super::MAIN;

/// The private stream's folder.
pub const PRIVATE_DIR: &str = "private";

pub use super::files::NAME_FILE;

/// The longest folder name file systems take (ext4, xfs, btrfs, apfs).
const MOST_NAME_BYTES: usize = 255;

/// The folder name of the room whose key is `key`: `#` and the key with
/// every byte outside `[a-z0-9_-]` as `%XX`.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    out.push('#');
    for byte in key.bytes() {
        if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The key of the room whose folder is named `name`; None for a name
/// [`encode_key`] does not write (no `#`, an empty key, a byte that should
/// have been escaped or one escaped that should not, lower-case hex, or
/// bytes that are not UTF-8): such a folder is not a room's.
pub fn decode_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix('#')?.as_bytes();
    let mut bytes = Vec::with_capacity(rest.len());
    let mut at = 0;
    while at < rest.len() {
        let byte = rest[at];
        if byte != b'%' {
            bytes.push(plain_byte(byte)?);
            at += 1;
            continue;
        }
        let hex = rest.get(at + 1..at + 3)?;
        let value = (upper_hex(hex[0])? << 4) | upper_hex(hex[1])?;
        if plain_byte(value).is_some() {
            return None;
        }
        bytes.push(value);
        at += 3;
    }
    if bytes.is_empty() {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// `byte` if a folder name holds it as is.
fn plain_byte(byte: u8) -> Option<u8> {
    (byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' || byte == b'-')
        .then_some(byte)
}

fn upper_hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Which stream the server asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// `#main`, in `DIR/main/`.
    Main,
    /// Another room: its key, and its name as shown (kept in its folder).
    Room { key: &'a str, shown: &'a str },
    /// Private messages, in `DIR/private/`.
    Private,
}

impl Place<'_> {
    /// Its folder's name in a store.
    pub fn dir_name(&self) -> String {
        match self {
            Place::Main => MAIN_DIR.into(),
            Place::Room { key, .. } => encode_key(key),
            Place::Private => PRIVATE_DIR.into(),
        }
    }
}

/// A room found in a store at start, for the server to make again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundRoom {
    /// Its key, from its folder's name.
    pub key: String,
    /// Its name as shown, from its `name` file; None if that is missing
    /// or unreadable (the server may then skip the room, or name it by
    /// its key).
    pub shown: Option<String>,
}

/// Makes a server's streams: all in memory, or each in its folder of one
/// store. The server asks it for `#main`, for the private stream, and for
/// each room as the room is made.
pub struct Streams {
    limits: HistoryLimits,
    /// None: memory only.
    store: Option<StoreAt>,
}

struct StoreAt {
    root: PathBuf,
    segment_bytes: u64,
}

impl Streams {
    /// Every stream in memory: a restart forgets them.
    pub fn memory(limits: HistoryLimits) -> Streams {
        Streams {
            limits,
            store: None,
        }
    }

    /// Every stream in its folder of the store `root` (which exists: see
    /// [`access::prepare_root`]); also the rooms other than `#main` that
    /// the store holds, by key.
    pub fn store(
        root: &Path,
        segment_bytes: u64,
        limits: HistoryLimits,
    ) -> Result<(Streams, Vec<FoundRoom>), OpenError> {
        let found = found_rooms(root)?;
        let store = StoreAt {
            root: root.to_path_buf(),
            segment_bytes,
        };
        let streams = Streams {
            limits,
            store: Some(store),
        };
        Ok((streams, found))
    }

    /// The stream of `place`, recovered from its folder with a store (and
    /// what recovery mended, for the log), new in memory without one.
    pub fn open(&self, place: Place<'_>) -> Result<(RoomStream, Vec<Notice>), OpenError> {
        let Some(store) = &self.store else {
            return Ok((RoomStream::memory(self.limits), Vec::new()));
        };
        let dir = place.dir_name();
        if dir.len() > MOST_NAME_BYTES {
            return Err(OpenError::new(
                &store.root.join(&dir),
                format!(
                    "the room's folder name would be {} bytes, more than a file name may hold \
                     ({MOST_NAME_BYTES})",
                    dir.len()
                ),
            ));
        }
        let opened = RoomStream::open(&store.root, &dir, store.segment_bytes, self.limits)?;
        if let Place::Room { shown, .. } = place {
            let path = store.root.join(&dir).join(NAME_FILE);
            write_name(&path, shown).map_err(|e| OpenError::new(&path, plain(&e)))?;
        }
        Ok(opened)
    }

    /// Whether streams are kept on disk.
    pub fn is_durable(&self) -> bool {
        self.store.is_some()
    }
}

/// Writes the room's shown name unless its folder already has one: the
/// first spelling stays, as the room shows it.
fn write_name(path: &Path, shown: &str) -> io::Result<()> {
    let mut file = match access::new_file().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(err) => return Err(err),
    };
    file.write_all(format!("{shown}\n").as_bytes())?;
    file.sync_all()
}

/// The rooms in the store `root`, by their folders' names (sorted).
fn found_rooms(root: &Path) -> Result<Vec<FoundRoom>, OpenError> {
    let entries = fs::read_dir(root).map_err(|e| OpenError::new(root, plain(&e)))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| OpenError::new(root, plain(&e)))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let Some(key) = entry.file_name().to_str().and_then(decode_key) else {
            continue;
        };
        if is_dir {
            let shown = read_name(&entry.path().join(NAME_FILE));
            found.push(FoundRoom { key, shown });
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

/// A room's shown name from its `name` file: one short line.
pub fn read_name(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let name = text.strip_suffix('\n').unwrap_or(&text);
    (!name.is_empty() && name.len() <= 256 && !name.contains(['\n', '\r'])).then(|| name.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::{Draft, Limits};

    #[test]
    fn a_plain_key_is_its_own_folder_name_after_a_hash() {
        assert_eq!(encode_key("ops"), "#ops");
        assert_eq!(encode_key("a_b-9"), "#a_b-9");
        assert_eq!(decode_key("#ops").as_deref(), Some("ops"));
    }

    #[test]
    fn every_other_byte_is_escaped_so_no_key_can_climb_out_of_the_store() {
        assert_eq!(encode_key("../x"), "#%2E%2E%2Fx");
        assert_eq!(encode_key("a b"), "#a%20b");
        assert_eq!(encode_key("%"), "#%25");
        assert_eq!(encode_key("Ops"), "#%4Fps");
        assert_eq!(encode_key("été"), "#%C3%A9t%C3%A9");
        assert_eq!(decode_key("#%C3%A9t%C3%A9").as_deref(), Some("été"));
        assert_eq!(decode_key("#%2E%2E%2Fx").as_deref(), Some("../x"));
    }

    #[test]
    fn a_name_encode_does_not_write_is_not_a_room() {
        for name in [
            "ops",     // no '#'
            "#",       // an empty key
            "#Ops",    // a byte that should be escaped
            "#%6Fps",  // an escaped byte that should not be
            "#%c3%a9", // lower-case hex
            "#%C3",    // not UTF-8
            "#%4",     // cut short
            "#a.b", "main", "private",
        ] {
            assert_eq!(decode_key(name), None, "{name:?}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_key_reads_back_and_names_are_only_safe_bytes(key in "\\PC{1,32}") {
            let name = encode_key(&key);
            prop_assert!(name[1..].bytes().all(|b| plain_byte(b).is_some() || b == b'%'
                || b.is_ascii_uppercase() || b.is_ascii_digit()));
            prop_assert_eq!(decode_key(&name), Some(key));
        }
    }

    fn limits() -> HistoryLimits {
        let limit = Limits {
            count: 10,
            bytes: usize::MAX,
        };
        HistoryLimits {
            room: limit,
            session: limit,
        }
    }

    /// A store folder as `serve` makes it (owner only).
    fn store_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temp dir");
        let root = dir.path().join("store");
        access::prepare_root(&root).expect("made");
        dir
    }

    fn keep(stream: &mut RoomStream, text: &str) {
        stream
            .append(vec![Draft::chat("Max", text)])
            .expect("taken");
        let settled = crate::runtime::block_on(crate::runtime::timeout(
            std::time::Duration::from_secs(10),
            stream.settled(),
        ));
        assert!(settled.expect("settles").outcome.is_ok());
    }

    #[test]
    fn each_stream_has_its_folder_and_rooms_are_found_again_with_their_names() {
        let dir = store_root();
        let root = dir.path().join("store");
        {
            let (streams, found) = Streams::store(&root, 1 << 20, limits()).expect("opens");
            assert_eq!(found, []);
            for place in [
                Place::Main,
                Place::Private,
                Place::Room {
                    key: "ops",
                    shown: "#OPS",
                },
                Place::Room {
                    key: "été",
                    shown: "#Été",
                },
            ] {
                let (mut stream, _) = streams.open(place).expect("opens");
                keep(&mut stream, &place.dir_name());
            }
        }
        let mut dirs: Vec<_> = fs::read_dir(&root)
            .expect("listed")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .into_string()
                    .expect("UTF-8")
            })
            .collect();
        dirs.sort();
        assert_eq!(dirs, ["#%C3%A9t%C3%A9", "#ops", "main", "private"]);
        let (streams, found) = Streams::store(&root, 1 << 20, limits()).expect("reopens");
        let named = |key: &str, shown: &str| FoundRoom {
            key: key.into(),
            shown: Some(shown.into()),
        };
        assert_eq!(found, [named("ops", "#OPS"), named("été", "#Été")]);
        // A second open keeps the first spelling, and the room's past.
        let (stream, _) = streams
            .open(Place::Room {
                key: "ops",
                shown: "#ops",
            })
            .expect("reopens");
        assert_eq!(stream.last(10).len(), 1);
        assert_eq!(
            read_name(&root.join("#ops").join(NAME_FILE)).as_deref(),
            Some("#OPS")
        );
    }

    #[test]
    fn a_key_too_long_for_a_folder_name_is_refused_in_plain_words() {
        let dir = store_root();
        let (streams, _) =
            Streams::store(&dir.path().join("store"), 1 << 20, limits()).expect("opens");
        let key = "é".repeat(50);
        let err = streams
            .open(Place::Room {
                key: &key,
                shown: "#x",
            })
            .err()
            .expect("refused");
        assert!(
            err.cause.contains("more than a file name may hold"),
            "{err}"
        );
    }

    #[test]
    fn in_memory_every_place_is_a_new_stream() {
        let streams = Streams::memory(limits());
        let (stream, notices) = streams.open(Place::Private).expect("memory opens");
        assert!(!stream.is_durable() && notices.is_empty());
    }
}
