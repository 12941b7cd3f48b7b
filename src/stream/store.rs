//! `serve --store DIR`: the durable transcript. Append-only files of JSON
//! lines (one [`Record`] a line), written and fdatasync'd by a thread of
//! its own; the caller hands over a batch and is told, through its
//! callback, once the batch is on disk, or that it is not.
//!
//! - Group commit: the thread takes every batch that is waiting (up to
//!   [`GROUP_BYTES`]), writes them with one write and makes them durable
//!   with one fdatasync, so a busy room pays one sync for many lines.
//! - Segments: `sockchat-<first id, 20 digits>.jsonl`, so names sort in id
//!   order. A new segment is started when the current one has reached the
//!   configured size; old segments are never touched again, and deleting
//!   (or moving, or compressing) them is the operator's business.
//! - A failed write or sync is reported to every batch of its group (never
//!   as durable), and the file is cut back to its last good length before
//!   anything else is written, so it never keeps half a line in the
//!   middle. The thread carries on: the next batch tries again.
//! - Recovery on open: the newest segments are read, back as far as the
//!   history needs, to recover the id counter and the history. A last line
//!   without its `\n` in the newest segment (a crash mid-write) is dropped,
//!   cut off the file and reported; any other damage (a line that is not a
//!   record, ids not increasing, an id outside its file's range) stops the
//!   open with one line naming the file, the line and the cause.
//! - One server per directory: `DIR/sockchat.lock` is held (flock) while
//!   the store is open.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::access;
pub use super::files::{plain, segment_first_id, segment_name, OpenError, LOCK_FILE};
use super::history::Limits;
use super::record::{Id, Record};
pub use super::segment::MAX_LINE;
use super::segment::{Line, Lines, Rules};

/// A group commit stops taking batches once it holds this many bytes, so
/// one sync never waits for an unbounded write.
pub const GROUP_BYTES: usize = 1 << 20;

/// The default size at which a new segment is started.
pub const SEGMENT_BYTES: u64 = 64 << 20;

/// A line dropped at recovery because the server stopped while writing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// The newest segment.
    pub path: PathBuf,
    /// Its line number, counting from 1.
    pub line: u64,
    /// How many bytes of it there were.
    pub bytes: u64,
}

impl fmt::Display for Torn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} line {}: dropped an incomplete last line ({} bytes): the server stopped while writing it",
            self.path.display(),
            self.line,
            self.bytes
        )
    }
}

/// The newest segment found empty at start: a write to a new file failed
/// and nothing was written after, or someone emptied it. Whatever it
/// held is gone; ids go on from its name's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Empty {
    /// The newest segment.
    pub path: PathBuf,
    /// Its first id, from its name: the next id given out.
    pub first: Id,
}

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the newest file is empty (a write to it failed, or it was emptied; any \
             records it held are gone): ids go on from {}",
            self.path.display(),
            self.first
        )
    }
}

/// What recovery mended or found odd, for the log (one line each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Torn(Torn),
    Empty(Empty),
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Torn(torn) => torn.fmt(f),
            Notice::Empty(empty) => empty.fmt(f),
        }
    }
}

/// What recovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// The id the next record gets.
    pub next_id: Id,
    /// The newest room records (no private ones: sessions do not survive
    /// a restart), oldest first, within the history's limits.
    pub records: Vec<Record>,
    /// Every id up to this one that is not in `records` is gone from
    /// memory (0 for a new store).
    pub trimmed_to: Id,
    /// The torn last line that was dropped, if there was one.
    pub torn: Option<Torn>,
    /// The newest segment, if it was empty.
    pub empty: Option<Empty>,
    /// The private messages asked for that were found, oldest first.
    pub private: Vec<Record>,
}

/// Why a batch was not saved: one line for the log and for the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError {
    /// The failed call's kind of error, for callers that tell them apart.
    pub kind: io::ErrorKind,
    /// What failed, in plain words.
    pub cause: String,
}

impl From<io::Error> for WriteError {
    fn from(err: io::Error) -> Self {
        WriteError {
            kind: err.kind(),
            cause: plain(&err),
        }
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not saved: {}", self.cause)
    }
}

impl std::error::Error for WriteError {}

/// What a batch's submitter is called with once the batch is settled.
pub type Done = Box<dyn FnOnce(Result<(), WriteError>) + Send>;

/// One batch for the writer thread.
struct Job {
    /// In id order.
    records: Vec<Arc<Record>>,
    /// Called once, when the group holding the batch has settled.
    done: Done,
}

/// How a store is set up.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The room's folder (created if missing).
    pub dir: PathBuf,
    /// A new segment starts once the current one is this big.
    pub segment_bytes: u64,
    /// How much history to recover.
    pub history: Limits,
}

/// An open store: the writer thread and the directory's lock.
pub struct Store {
    /// None only while dropping.
    jobs: Option<mpsc::Sender<Job>>,
    /// The writer thread; None if it could not be started.
    thread: Option<JoinHandle<()>>,
    /// Holds the directory's lock for as long as the store is open.
    _lock: File,
}

impl Store {
    /// Opens (creating it if needed) the store in `config.dir`, recovers
    /// it and starts the writer thread.
    pub fn open(config: &StoreConfig) -> Result<(Store, Recovered), OpenError> {
        Store::open_keeping(config, &HashSet::new())
    }

    /// [`Store::open`], also recovering the private messages `wanted`
    /// (those kept for sessions that outlive the restart) among the
    /// segments the history's recovery reads.
    pub fn open_keeping(
        config: &StoreConfig,
        wanted: &HashSet<Id>,
    ) -> Result<(Store, Recovered), OpenError> {
        let dir = &config.dir;
        // Its parent, the store's own folder, exists: `serve` made sure.
        access::prepare_root(dir)?;
        let lock = lock(dir)?;
        access::check_room(dir)?;
        let (recovered, current) = recover(dir, config.history, wanted)?;
        let writer = Writer {
            disk: Files { dir: dir.clone() },
            current,
            segment_bytes: config.segment_bytes.max(1),
        };
        Ok((Store::spawn(writer, lock), recovered))
    }

    fn spawn<D: Disk + 'static>(writer: Writer<D>, lock: File) -> Store {
        let (jobs, from_store) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || writer_loop(from_store, writer));
        Store {
            jobs: Some(jobs),
            // Without a thread every submit fails at once (below), which is
            // what a store that cannot write should do.
            thread: thread.ok(),
            _lock: lock,
        }
    }

    /// Hands `records` (in id order, newer than any submitted before) to
    /// the writer thread; `done` is called on that thread once they are
    /// durable, or with why not. The queue is unbounded: the caller bounds
    /// what it has in flight.
    pub fn submit(&self, records: Vec<Arc<Record>>, done: Done) {
        let job = Job { records, done };
        let Some(jobs) = self.jobs.as_ref().filter(|_| self.thread.is_some()) else {
            return (job.done)(Err(stopped()));
        };
        if let Err(mpsc::SendError(job)) = jobs.send(job) {
            (job.done)(Err(stopped()));
        }
    }
}

fn stopped() -> WriteError {
    WriteError {
        kind: io::ErrorKind::BrokenPipe,
        cause: "the store's writer has stopped".into(),
    }
}

impl Drop for Store {
    /// Lets the writer finish what was submitted, then stops it.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            // A panic in the writer has already failed its batches (their
            // callbacks were dropped); nothing is left to do about it here.
            let _ = thread.join();
        }
    }
}

/// Takes the directory's lock, or says who holds it.
fn lock(dir: &Path) -> Result<File, OpenError> {
    use std::os::fd::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let file = access::new_file()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| OpenError::new(&path, plain(&e)))?;
    // SAFETY: flock only reads the descriptor, which `file` keeps open.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if taken != 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::WouldBlock {
            return Err(OpenError::new(
                dir,
                "another sockchat serve is using this store",
            ));
        }
        return Err(OpenError::new(&path, plain(&err)));
    }
    Ok(file)
}

// ---------------------------------------------------------------- recovery

/// The segments in `dir`, oldest first.
pub(super) fn segments(dir: &Path) -> Result<Vec<(Id, PathBuf)>, OpenError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| OpenError::new(dir, plain(&e)))? {
        let entry = entry.map_err(|e| OpenError::new(dir, plain(&e)))?;
        let name = entry.file_name();
        if let Some(first) = name.to_str().and_then(segment_first_id) {
            found.push((first, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// The newest records of one segment, bounded by what the history still
/// has room for.
struct Tail<'a> {
    /// Oldest first.
    records: VecDeque<Record>,
    /// Their weight.
    bytes: usize,
    /// What the history still has room for.
    limits: Limits,
    /// Whether a record had to be let go for the bounds.
    full: bool,
    /// Private messages to keep (see [`Store::open_keeping`]).
    wanted: &'a HashSet<Id>,
    /// Those found in this segment.
    private: Vec<Record>,
}

impl Tail<'_> {
    fn push(&mut self, record: Record) {
        self.bytes += record.weight();
        self.records.push_back(record);
        while self.records.len() > self.limits.count || self.bytes > self.limits.bytes {
            let Some(old) = self.records.pop_front() else {
                break;
            };
            self.bytes -= old.weight();
            self.full = true;
        }
    }
}

/// What reading one segment found.
struct Scan {
    /// The newest id in it.
    last: Option<Id>,
    /// The length of its whole lines.
    good_len: u64,
    /// Its incomplete last line, if any.
    torn: Option<Torn>,
}

/// Reads one segment whose name says it starts at `first` and whose ids
/// must be below `before` (the next segment's first id), keeping its
/// newest room records in `tail`. A torn last line is allowed only when
/// `newest`.
fn scan(
    path: &Path,
    first: Id,
    before: Option<Id>,
    newest: bool,
    tail: &mut Tail<'_>,
) -> Result<Scan, OpenError> {
    let mut lines = Lines::open(path).map_err(|e| OpenError::new(path, plain(&e)))?;
    let mut rules = Rules::new(first, before).map_err(|e| OpenError::new(path, e))?;
    let mut torn = None;
    loop {
        let line = lines
            .next_line()
            .map_err(|e| OpenError::new(path, plain(&e)))?;
        let Some((number, line)) = line else { break };
        let record = match line {
            Line::Whole(line) => rules
                .check(line)
                .map_err(|e| OpenError::at(path, number, e))?,
            Line::TooLong => {
                return Err(OpenError::at(
                    path,
                    number,
                    format!("a line longer than {MAX_LINE} bytes"),
                ))
            }
            Line::Torn { .. } if !newest => {
                return Err(OpenError::at(
                    path,
                    number,
                    "the last line is incomplete (no line end)",
                ))
            }
            Line::Torn { bytes } => {
                torn = Some(Torn {
                    path: path.to_path_buf(),
                    line: number,
                    bytes,
                });
                break;
            }
        };
        if record.kind.is_room() {
            tail.push(record);
        } else if tail.wanted.contains(&record.id) {
            tail.private.push(record);
        }
    }
    Ok(Scan {
        last: rules.last,
        good_len: lines.whole_len,
        torn,
    })
}

/// Reads the newest segments back as far as `limits` need, and opens the
/// newest for appending (cutting off a torn last line).
fn recover(
    dir: &Path,
    limits: Limits,
    wanted: &HashSet<Id>,
) -> Result<(Recovered, Option<Open<File>>), OpenError> {
    let segments = segments(dir)?;
    let mut chunks: Vec<VecDeque<Record>> = Vec::new();
    let mut private: Vec<Record> = Vec::new();
    let mut left = limits;
    let mut next_id = Id::new(1);
    let mut torn = None;
    let mut empty = None;
    let mut current = None;
    let mut before = None;
    for (index, (first, path)) in segments.iter().enumerate().rev() {
        let newest = index + 1 == segments.len();
        if !newest && (left.count == 0 || left.bytes == 0) {
            break;
        }
        let mut tail = Tail {
            records: VecDeque::new(),
            bytes: 0,
            limits: left,
            full: false,
            wanted,
            private: Vec::new(),
        };
        let scan = scan(path, *first, before, newest, &mut tail)?;
        if newest {
            // No overflow: the rules let no id, nor a name, past LAST_ID.
            next_id = next_id
                .max(*first)
                .max(scan.last.map_or(Id::ZERO, Id::next));
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| OpenError::new(path, plain(&e)))?;
            if scan.torn.is_some() {
                file.set_len(scan.good_len)
                    .and_then(|()| file.sync_data())
                    .map_err(|e| {
                        OpenError::new(
                            path,
                            format!("could not drop the incomplete last line: {}", plain(&e)),
                        )
                    })?;
            }
            torn = scan.torn;
            if scan.good_len == 0 && torn.is_none() {
                empty = Some(Empty {
                    path: path.clone(),
                    first: *first,
                });
            }
            current = Some(Open {
                file,
                first: *first,
                len: scan.good_len,
                dirty: false,
            });
        }
        left.count -= tail.records.len();
        left.bytes -= tail.bytes;
        let full = tail.full;
        private.append(&mut tail.private);
        chunks.push(tail.records);
        before = Some(*first);
        if full {
            break;
        }
    }
    let records: Vec<Record> = chunks.into_iter().rev().flatten().collect();
    // Whatever came before the first recovered record is not in memory:
    // older segments, or ones the operator removed, may have held it.
    let trimmed_to = records
        .first()
        .map_or(next_id.prev(), |oldest| oldest.id.prev());
    private.sort_by_key(|r| r.id);
    let recovered = Recovered {
        next_id,
        records,
        trimmed_to,
        torn,
        empty,
        private,
    };
    Ok((recovered, current))
}

// ------------------------------------------------------------ the writer

/// One open segment file, as the writer needs it; a trait so tests can
/// make writes and syncs fail.
pub trait Segment: Send {
    fn write_at(&mut self, bytes: &[u8], offset: u64) -> io::Result<()>;
    /// Makes what was written durable (fdatasync).
    fn sync(&mut self) -> io::Result<()>;
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

/// Where segments are made.
pub trait Disk: Send {
    type File: Segment;
    /// Creates the (empty) segment that starts at `first`, durably.
    fn create(&mut self, first: Id) -> io::Result<Self::File>;
}

impl Segment for File {
    fn write_at(&mut self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.write_all_at(bytes, offset)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

/// Segments in a directory.
struct Files {
    /// The room's folder.
    dir: PathBuf,
}

impl Disk for Files {
    type File = File;
    fn create(&mut self, first: Id) -> io::Result<File> {
        let path = self.dir.join(segment_name(first));
        let file = access::new_file()
            .write(true)
            .create_new(true)
            .open(&path)?;
        // The new name must survive a crash too, or its lines would.
        if let Err(err) = File::open(&self.dir).and_then(|d| d.sync_all()) {
            // Best effort: an empty segment left behind is harmless.
            let _ = std::fs::remove_file(&path);
            return Err(err);
        }
        Ok(file)
    }
}

/// The segment being appended to.
struct Open<F> {
    /// Opened for writing; written at `len`.
    file: F,
    /// Its first id (from its name).
    first: Id,
    /// The length of what was written and synced.
    len: u64,
    /// Whether a failed write may have left bytes past `len`.
    dirty: bool,
}

/// Writes groups to the current segment; runs on the writer thread.
struct Writer<D: Disk> {
    /// Where new segments are created.
    disk: D,
    /// None until the first write of a new store.
    current: Option<Open<D::File>>,
    /// The size at which the next group starts a new segment.
    segment_bytes: u64,
}

impl<D: Disk> Writer<D> {
    /// Writes `bytes` (whole lines whose first id is `first`) and makes
    /// them durable; on failure nothing of them stays in the file.
    fn write_group(&mut self, bytes: &[u8], first: Id) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.repair()?;
        let current = match self.current.take() {
            Some(current) if current.len == 0 || current.len < self.segment_bytes => current,
            full => match self.disk.create(first) {
                Ok(file) => Open {
                    file,
                    first,
                    len: 0,
                    dirty: false,
                },
                Err(err) => {
                    self.current = full;
                    return Err(err);
                }
            },
        };
        let current = self.current.insert(current);
        debug_assert!(first >= current.first);
        let written = current
            .file
            .write_at(bytes, current.len)
            .and_then(|()| current.file.sync());
        match written {
            Ok(()) => {
                current.len += bytes.len() as u64;
                Ok(())
            }
            Err(err) => {
                current.dirty = true;
                // If this fails too, the next group tries again first.
                let _ = self.repair();
                Err(err)
            }
        }
    }

    /// Cuts the current segment back to its last good length after a
    /// failed write, durably.
    fn repair(&mut self) -> io::Result<()> {
        let Some(current) = self.current.as_mut().filter(|c| c.dirty) else {
            return Ok(());
        };
        current
            .file
            .set_len(current.len)
            .and_then(|()| current.file.sync())
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("could not undo a failed write: {}", plain(&e)),
                )
            })?;
        current.dirty = false;
        Ok(())
    }
}

/// The writer thread: one group commit per turn, until the store closes.
fn writer_loop<D: Disk>(jobs: mpsc::Receiver<Job>, mut writer: Writer<D>) {
    let mut bytes = Vec::new();
    while let Ok(job) = jobs.recv() {
        bytes.clear();
        let mut group = vec![job];
        encode(&group[0], &mut bytes);
        while bytes.len() < GROUP_BYTES {
            let Ok(job) = jobs.try_recv() else { break };
            encode(&job, &mut bytes);
            group.push(job);
        }
        let first = group
            .iter()
            .find_map(|j| j.records.first())
            .map_or(Id::ZERO, |r| r.id);
        let result = writer.write_group(&bytes, first).map_err(WriteError::from);
        for job in group {
            (job.done)(result.clone());
        }
    }
}

fn encode(job: &Job, out: &mut Vec<u8>) {
    for record in &job.records {
        record.encode(out);
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
pub(super) mod tests;
