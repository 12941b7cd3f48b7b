//! A `serve --store DIR` directory as the tests see it: its JSON lines
//! decoded here, on their own (not by the server's decoder), and a tiny
//! tmpfs for a store whose disk fills up.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

/// One line of a transcript, as docs/operations.md documents it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saved {
    pub id: u64,
    pub time: u64,
    pub kind: String,
    pub from: String,
    /// Chat, action and private messages.
    pub text: Option<String>,
    /// A rename's new name.
    pub new: Option<String>,
    /// A private message's receiver.
    pub to: Option<String>,
    /// The line's checksum (CRC-32C, 8 hex digits; none on lines written
    /// before checksums).
    pub crc: Option<String>,
}

/// What a store's folder for the room holds.
#[derive(Debug)]
pub struct Transcript {
    /// Every whole line of every file, oldest file first.
    pub records: Vec<Saved>,
    /// The files, oldest first.
    pub files: Vec<PathBuf>,
    /// Bytes after the last line end of the newest file (a crash in the
    /// middle of a write), if any.
    pub torn: usize,
}

impl Transcript {
    /// The room's files in `store/main/`, decoded; panics on a line that
    /// is not a record.
    pub fn read(store: &Path) -> Transcript {
        let dir = store.join("main");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            // The transcript's segments, not the sessions file beside them.
            .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("sockchat-"))
            })
            .collect();
        files.sort();
        let mut records = Vec::new();
        let mut torn = 0;
        for (at, file) in files.iter().enumerate() {
            let bytes = std::fs::read(file).expect("read a transcript file");
            let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            if whole < bytes.len() {
                assert_eq!(at + 1, files.len(), "{} has a torn line", file.display());
                torn = bytes.len() - whole;
            }
            let lines = bytes[..whole].iter().filter(|&&b| b == b'\n').count();
            let split = bytes[..whole].split(|&b| b == b'\n');
            for (number, line) in split.take(lines).enumerate() {
                let saved = serde_json::from_slice(line).unwrap_or_else(|e| {
                    panic!("{} line {}: {e}", file.display(), number + 1);
                });
                records.push(saved);
            }
        }
        Transcript {
            records,
            files,
            torn,
        }
    }

    /// The ids, in file order.
    pub fn ids(&self) -> Vec<u64> {
        self.records.iter().map(|r| r.id).collect()
    }

    /// The newest id, 0 if none.
    pub fn newest(&self) -> u64 {
        self.records.last().map_or(0, |r| r.id)
    }
}

/// A tmpfs of a few KiB mounted for one test, unmounted when dropped: a
/// disk that fills up. Tests run as root here and in CI; where mounting is
/// not allowed, [`TinyDisk::mount`] says so and the test is skipped.
pub struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    /// A tmpfs of `kib` KiB, or None (said on stderr) if this machine does
    /// not let the test mount one.
    pub fn mount(kib: u64) -> Option<TinyDisk> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: this machine does not let the test mount a tmpfs (not root?)");
            return None;
        }
        Some(TinyDisk { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Resizes the mounted file system to `kib` KiB (its files stay).
    pub fn resize(&self, kib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={kib}k")])
            .arg(self.dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "cannot resize the tmpfs");
    }

    /// Writes a file of zeros until the file system is full.
    pub fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.dir.path().join("filler")).expect("a filler");
        let block = [0u8; 1024];
        while file.write_all(&block).is_ok() {}
        // What is left (less than a block) fills with single bytes.
        while file.write_all(&[0]).is_ok() {}
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        // Lazy: a server still running must not keep it mounted. If this
        // fails the mount stays until reboot; nothing else depends on it.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
