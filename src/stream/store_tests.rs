//! The store on files written by the tests: recovery (torn tail, corrupt
//! middle, empty files, rotation), and writes that fail.

use super::*;
use crate::stream::record::{Kind, LAST_ID};
use std::sync::Mutex;
use std::time::Duration;

/// How long a test waits for the writer thread.
const WAIT: Duration = Duration::from_secs(10);

fn chat(id: u64, text: &str) -> Record {
    Record {
        id: Id::new(id),
        time: 1_764_583_200_000 + id,
        kind: Kind::Chat {
            from: "Max".into(),
            text: text.into(),
        },
    }
}

fn private(id: u64) -> Record {
    Record {
        id: Id::new(id),
        time: 1_764_583_200_000 + id,
        kind: Kind::Private {
            from: "Max".into(),
            to: "Ann".into(),
            text: "psst".into(),
        },
    }
}

fn lines(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        record.encode(&mut out);
    }
    out
}

fn limits(count: usize) -> Limits {
    Limits {
        count,
        bytes: usize::MAX,
    }
}

fn config(dir: &Path, count: usize) -> StoreConfig {
    StoreConfig {
        dir: dir.to_path_buf(),
        segment_bytes: SEGMENT_BYTES,
        history: limits(count),
    }
}

fn ids(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.id.get()).collect()
}

/// A temp dir only its owner may read, as a store's folder must be.
fn private_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a temp dir");
    let private = std::fs::Permissions::from_mode(0o700);
    std::fs::set_permissions(dir.path(), private).expect("chmod the temp dir");
    dir
}

/// Writes a segment by hand, as the store would (its owner's only).
fn segment(dir: &Path, first: u64, bytes: &[u8]) -> PathBuf {
    use std::io::Write;
    let path = dir.join(segment_name(Id::new(first)));
    super::access::new_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut file| file.write_all(bytes))
        .expect("the test's directory is writable");
    path
}

/// Submits records and waits until they settle.
fn save(store: &Store, records: Vec<Record>) -> Result<(), WriteError> {
    let (tx, rx) = mpsc::channel();
    store.submit(
        records.into_iter().map(Arc::new).collect(),
        Box::new(move |result| {
            // The test is waiting on `rx`.
            let _ = tx.send(result);
        }),
    );
    rx.recv_timeout(WAIT)
        .expect("the writer settles within the wait")
}

fn open(dir: &Path, count: usize) -> Result<(Store, Recovered), OpenError> {
    Store::open(&config(dir, count))
}

/// Why opening the store in `dir` stopped the start.
fn refused(dir: &Path) -> String {
    match open(dir, 10) {
        Ok(_) => panic!("the store in {} opened", dir.display()),
        Err(err) => err.to_string(),
    }
}

#[test]
fn io_errors_are_told_in_plain_words() {
    let full = io::Error::from_raw_os_error(libc::ENOSPC);
    assert_eq!(plain(&full), "the disk is full");
    let eio = io::Error::from_raw_os_error(libc::EIO);
    assert_eq!(plain(&eio), "input/output error");
    assert_eq!(
        WriteError::from(eio).to_string(),
        "not saved: input/output error"
    );
}

#[test]
fn segment_names_sort_as_their_ids_do() {
    assert_eq!(
        segment_name(Id::new(42)),
        "sockchat-00000000000000000042.jsonl"
    );
    assert_eq!(
        segment_first_id(&segment_name(Id::new(42))),
        Some(Id::new(42))
    );
    assert_eq!(
        segment_first_id(&segment_name(Id::new(u64::MAX))),
        Some(Id::new(u64::MAX))
    );
    assert!(segment_name(Id::new(9)) < segment_name(Id::new(10)));
    for other in [
        "sockchat-42.jsonl",
        "sockchat-0000000000000000004x.jsonl",
        "notes.txt",
        "sockchat.lock",
    ] {
        assert_eq!(segment_first_id(other), None, "{other}");
    }
}

#[test]
fn a_new_store_starts_at_id_1_with_nothing_to_recover() {
    let dir = private_dir();
    let store_dir = dir.path().join("not-there-yet");
    let (_store, recovered) = open(&store_dir, 10).expect("a new store opens");
    assert_eq!(
        recovered,
        Recovered {
            next_id: Id::new(1),
            records: vec![],
            trimmed_to: Id::ZERO,
            torn: None,
            empty: None,
            private: vec![],
        }
    );
    assert!(store_dir.join(LOCK_FILE).exists());
}

#[test]
fn what_was_saved_is_recovered_and_ids_continue() {
    let dir = private_dir();
    {
        let (store, _) = open(dir.path(), 10).expect("a new store opens");
        save(&store, vec![chat(1, "one"), chat(2, "two")]).expect("saved");
        save(&store, vec![private(3), chat(4, "four")]).expect("saved");
    }
    let (_store, recovered) = open(dir.path(), 10).expect("the store reopens");
    assert_eq!(recovered.next_id.get(), 5);
    // Private messages are on disk but not replayed after a restart.
    assert_eq!(
        recovered.records,
        vec![chat(1, "one"), chat(2, "two"), chat(4, "four")]
    );
    assert_eq!(recovered.trimmed_to.get(), 0);
    assert_eq!(recovered.torn, None);
    let file = std::fs::read(dir.path().join(segment_name(Id::new(1)))).expect("the first segment");
    assert_eq!(
        file,
        lines(&[chat(1, "one"), chat(2, "two"), private(3), chat(4, "four")])
    );
}

#[test]
fn recovery_keeps_the_newest_records_within_the_history() {
    let dir = private_dir();
    let records: Vec<Record> = (1..=10).map(|id| chat(id, "hi")).collect();
    segment(dir.path(), 1, &lines(&records));
    let (_store, recovered) = open(dir.path(), 3).expect("opens");
    assert_eq!(ids(&recovered.records), [8, 9, 10]);
    assert_eq!(recovered.trimmed_to.get(), 7);
    assert_eq!(recovered.next_id.get(), 11);
}

#[test]
fn ids_before_the_oldest_file_count_as_missed_once_the_operator_pruned_it() {
    let dir = private_dir();
    // sockchat-…01.jsonl (ids 1 to 4) was deleted by the operator.
    segment(dir.path(), 5, &lines(&[chat(5, "a"), chat(6, "b")]));
    let (_store, recovered) = open(dir.path(), 10).expect("opens");
    assert_eq!(
        (ids(&recovered.records), recovered.trimmed_to.get()),
        (vec![5, 6], 4)
    );
}

#[test]
fn history_zero_recovers_only_the_id_counter() {
    let dir = private_dir();
    segment(dir.path(), 1, &lines(&[chat(1, "a"), chat(2, "b")]));
    let (_store, recovered) = open(dir.path(), 0).expect("opens");
    assert_eq!(
        (
            recovered.next_id.get(),
            recovered.records.len(),
            recovered.trimmed_to.get()
        ),
        (3, 0, 2)
    );
}

#[test]
fn a_torn_last_line_is_dropped_reported_and_cut_off() {
    let dir = private_dir();
    let mut bytes = lines(&[chat(1, "one"), chat(2, "two")]);
    let good = bytes.len() as u64;
    let torn = lines(&[chat(3, "three")]);
    bytes.extend_from_slice(&torn[..torn.len() - 5]);
    let path = segment(dir.path(), 1, &bytes);
    {
        let (store, recovered) = open(dir.path(), 10).expect("a torn tail does not stop the start");
        assert_eq!(ids(&recovered.records), [1, 2]);
        assert_eq!(recovered.next_id.get(), 3);
        let torn = recovered.torn.expect("the torn line is reported");
        assert_eq!((torn.line, torn.bytes), (3, (bytes.len() as u64) - good));
        assert!(
            torn.to_string()
                .contains("line 3: dropped an incomplete last line"),
            "{torn}"
        );
        assert_eq!(std::fs::metadata(&path).map(|m| m.len()).ok(), Some(good));
        save(&store, vec![chat(3, "again")]).expect("saved after the cut");
    }
    let (_store, recovered) = open(dir.path(), 10).expect("reopens clean");
    assert_eq!(recovered.torn, None);
    assert_eq!(recovered.records.last(), Some(&chat(3, "again")));
}

/// Bytes that are one whole line each.
fn raw(text: &str) -> Vec<u8> {
    format!("{text}\n").into_bytes()
}

fn concat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// What is wrong, the segments, which segment is named and what the
/// error says after its path.
type Damage = (&'static str, Vec<(u64, Vec<u8>)>, usize, &'static str);

#[test]
fn damage_stops_the_start_with_one_line_naming_file_line_and_cause() {
    for (what, segments, at, expected) in damaged_lines().into_iter().chain(damaged_ids()) {
        let dir = private_dir();
        let paths: Vec<PathBuf> = segments
            .iter()
            .map(|(first, bytes)| segment(dir.path(), *first, bytes))
            .collect();
        let err = refused(dir.path());
        let expected = format!("{}{expected}", paths[at].display());
        assert!(err.starts_with(&expected), "{what}: {err}");
    }
}

/// Lines that are not whole, checked records.
fn damaged_lines() -> Vec<Damage> {
    vec![
        (
            "a line in the middle that is not a whole record",
            vec![(
                1,
                concat(&[
                    raw(r#"{"id":1,"time":5,"kind":"chat","from":"Max","text":"one"}"#),
                    raw(r#"{"id":2,"time":5,"kind":"chat","from":"Max"}"#),
                    lines(&[chat(3, "three")]),
                ]),
            )],
            0,
            " line 2: a chat record needs `text`",
        ),
        (
            "a character changed inside a record",
            vec![(
                1,
                concat(&[
                    lines(&[chat(1, "one")]),
                    String::from_utf8(lines(&[chat(2, "pay 100")]))
                        .expect("UTF-8")
                        .replace("100", "900")
                        .into_bytes(),
                    lines(&[chat(3, "three")]),
                ]),
            )],
            0,
            " line 2: the checksum does not match (the line says ",
        ),
        (
            "a line stripped of its checksum among lines that have one",
            vec![(
                1,
                concat(&[
                    lines(&[chat(1, "one")]),
                    raw(r#"{"id":2,"time":5,"kind":"chat","from":"Max","text":"two"}"#),
                ]),
            )],
            0,
            " line 2: the line has no checksum, though lines before it do",
        ),
        (
            "garbage that ends in a line end is not a torn tail",
            vec![(1, concat(&[lines(&[chat(1, "one")]), raw("\0\0\0\0")]))],
            0,
            " line 2: not a record: expected value at line 1 column 1",
        ),
    ]
}

/// Ids that cannot be, in a line or in a file's name.
fn damaged_ids() -> Vec<Damage> {
    let at_max = Record {
        id: Id::new(u64::MAX),
        ..chat(1, "a")
    };
    let at_zero = Record {
        id: Id::ZERO,
        ..at_max.clone()
    };
    vec![
        (
            "ids that do not increase",
            vec![(1, lines(&[chat(1, "a"), chat(3, "b"), chat(3, "c")]))],
            0,
            " line 3: id 3 is not after the line before's (3)",
        ),
        (
            "id 0",
            vec![(0, lines(&[at_zero]))],
            0,
            " line 1: id 0 is not a record id",
        ),
        (
            "the last id there is",
            vec![(0, lines(&[at_max]))],
            0,
            " line 1: id 18446744073709551615 is past the last id there can be \
             (9223372036854775807)",
        ),
        (
            "an id too near the end to go on from",
            vec![(
                1,
                lines(&[Record {
                    id: LAST_ID.next(),
                    ..chat(1, "a")
                }]),
            )],
            0,
            " line 1: id 9223372036854775808 is past the last id there can be \
             (9223372036854775807)",
        ),
        (
            "an empty file whose name is the last id there is",
            vec![(1, lines(&[chat(1, "a")])), (u64::MAX, Vec::new())],
            1,
            ": its name gives first id 18446744073709551615, past the last id there \
             can be (9223372036854775807)",
        ),
        (
            "an id below its file's name",
            vec![(5, lines(&[chat(4, "a")]))],
            0,
            " line 1: id 4 is below this file's first id (5, from its name)",
        ),
        (
            "an id that reaches the next file's range",
            vec![
                (1, lines(&[chat(1, "a"), chat(5, "b")])),
                (5, lines(&[chat(6, "c")])),
            ],
            0,
            " line 2: id 5 is not below the next file's first id (5)",
        ),
        (
            "an incomplete last line in an older file",
            vec![
                (1, concat(&[lines(&[chat(1, "a")]), b"{\"id\":2".to_vec()])),
                (3, lines(&[chat(3, "c")])),
            ],
            0,
            " line 2: the last line is incomplete (no line end)",
        ),
    ]
}

#[test]
fn an_empty_newest_file_gives_the_next_id_from_its_name() {
    let dir = private_dir();
    segment(dir.path(), 1, &lines(&[chat(1, "a"), chat(2, "b")]));
    // Rotated at 7 (ids 3 to 6 were lost to failed writes), then stopped.
    segment(dir.path(), 7, b"");
    let (store, recovered) = open(dir.path(), 10).expect("an empty file is fine");
    assert_eq!(
        (recovered.next_id.get(), ids(&recovered.records)),
        (7, vec![1, 2])
    );
    let empty = recovered.empty.expect("reported");
    assert_eq!(
        empty.to_string(),
        format!(
            "{}: the newest file is empty (a write to it failed, or it was emptied; any \
             records it held are gone): ids go on from 7",
            dir.path().join(segment_name(Id::new(7))).display()
        )
    );
    save(&store, vec![chat(7, "c")]).expect("saved");
    drop(store);
    let file =
        std::fs::read(dir.path().join(segment_name(Id::new(7)))).expect("the newest segment");
    assert_eq!(file, lines(&[chat(7, "c")]));
}

#[test]
fn an_empty_only_file_is_a_new_store() {
    let dir = private_dir();
    segment(dir.path(), 1, b"");
    let (_store, recovered) = open(dir.path(), 10).expect("opens");
    assert_eq!(
        (recovered.next_id.get(), recovered.trimmed_to.get()),
        (1, 0)
    );
}

#[test]
fn files_rotate_by_size_and_recovery_reads_across_them() {
    let dir = private_dir();
    let one_line = lines(&[chat(1, "x")]).len() as u64;
    let config = StoreConfig {
        segment_bytes: 2 * one_line,
        ..config(dir.path(), 5)
    };
    {
        let (store, _) = Store::open(&config).expect("opens");
        for id in 1..=7 {
            save(&store, vec![chat(id, "x")]).expect("saved");
        }
    }
    let names: Vec<_> = segments(dir.path())
        .expect("listed")
        .into_iter()
        .map(|(first, _)| first.get())
        .collect();
    assert_eq!(names, [1, 3, 5, 7]);
    let (store, recovered) = Store::open(&config).expect("reopens");
    assert_eq!(ids(&recovered.records), [3, 4, 5, 6, 7]);
    assert_eq!(
        (recovered.next_id.get(), recovered.trimmed_to.get()),
        (8, 2)
    );
    // The newest file had room for one more line.
    save(&store, vec![chat(8, "x")]).expect("saved");
    drop(store);
    assert_eq!(segments(dir.path()).map(|s| s.len()).ok(), Some(4));
}

#[test]
fn recovery_does_not_read_older_files_than_the_history_needs() {
    let dir = private_dir();
    segment(dir.path(), 1, b"not even json\n");
    segment(dir.path(), 10, &lines(&[chat(10, "a"), chat(11, "b")]));
    let (_store, recovered) = open(dir.path(), 2).expect("the old file is the operator's");
    assert_eq!(
        (ids(&recovered.records), recovered.trimmed_to.get()),
        (vec![10, 11], 9)
    );
    // But a history that needs it reads it, and finds it damaged.
    assert!(open(dir.path(), 3).is_err());
}

#[test]
fn a_batch_with_a_huge_group_still_lands_in_order() {
    let dir = private_dir();
    let text = "y".repeat(1000);
    let (store, _) = open(dir.path(), 10).expect("opens");
    let (tx, rx) = mpsc::channel();
    // More than GROUP_BYTES, submitted without waiting: several groups.
    let count = 3 * GROUP_BYTES / text.len();
    for id in 1..=count as u64 {
        let tx = tx.clone();
        store.submit(
            vec![Arc::new(chat(id, &text))],
            Box::new(move |result| {
                // The test is waiting on `rx`.
                let _ = tx.send((id, result));
            }),
        );
    }
    let settled: Vec<_> = (0..count)
        .map(|_| rx.recv_timeout(WAIT).expect("settles"))
        .collect();
    assert!(settled.iter().all(|(_, r)| r.is_ok()));
    assert!(
        settled.windows(2).all(|w| w[0].0 < w[1].0),
        "in submission order"
    );
    drop(store);
    let (_store, recovered) = open(dir.path(), count).expect("reopens");
    assert_eq!(recovered.records.len(), count);
}

#[test]
fn a_second_server_on_the_same_store_is_refused() {
    let dir = private_dir();
    let (_store, _) = open(dir.path(), 10).expect("opens");
    let err = refused(dir.path());
    assert_eq!(
        err,
        format!(
            "{}: another sockchat serve is using this store",
            dir.path().display()
        )
    );
}

#[test]
fn a_store_path_that_is_a_file_is_a_clear_error() {
    let dir = private_dir();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").expect("writable");
    let err = refused(&file);
    assert!(err.starts_with(&file.display().to_string()), "{err}");
}

// ------------------------------------------------------- failing writes

/// A segment in memory whose writes, syncs and truncations fail on cue.
#[derive(Clone, Default)]
struct Faulty {
    state: Arc<Mutex<FaultState>>,
}

#[derive(Default)]
struct FaultState {
    bytes: Vec<u8>,
    /// The next write stores this many bytes, then fails.
    write_fails_after: Option<usize>,
    /// The next N syncs fail.
    sync_fails: usize,
    /// The next N truncations fail.
    set_len_fails: usize,
    /// The next N creations fail.
    create_fails: usize,
    /// The first ids of the segments created.
    created: Vec<Id>,
}

fn fault(kind: &str) -> io::Error {
    io::Error::other(format!("injected {kind} failure"))
}

impl Segment for Faulty {
    fn write_at(&mut self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let mut state = self.state.lock().expect("not poisoned");
        assert_eq!(
            offset as usize,
            state.bytes.len(),
            "writes append at the good length"
        );
        match state.write_fails_after.take() {
            Some(n) => {
                state.bytes.extend_from_slice(&bytes[..n.min(bytes.len())]);
                Err(fault("write"))
            }
            None => {
                state.bytes.extend_from_slice(bytes);
                Ok(())
            }
        }
    }
    fn sync(&mut self) -> io::Result<()> {
        let mut state = self.state.lock().expect("not poisoned");
        if state.sync_fails > 0 {
            state.sync_fails -= 1;
            return Err(fault("sync"));
        }
        Ok(())
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let mut state = self.state.lock().expect("not poisoned");
        if state.set_len_fails > 0 {
            state.set_len_fails -= 1;
            return Err(fault("truncate"));
        }
        state.bytes.truncate(len as usize);
        Ok(())
    }
}

impl Disk for Faulty {
    type File = Faulty;
    fn create(&mut self, first: Id) -> io::Result<Faulty> {
        let mut state = self.state.lock().expect("not poisoned");
        if state.create_fails > 0 {
            state.create_fails -= 1;
            return Err(fault("create"));
        }
        // One file for all segments: the tests look at what was written.
        state.created.push(first);
        Ok(self.clone())
    }
}

fn faulty_writer() -> (Writer<Faulty>, Faulty) {
    let disk = Faulty::default();
    let writer = Writer {
        disk: disk.clone(),
        current: None,
        segment_bytes: SEGMENT_BYTES,
    };
    (writer, disk)
}

fn group(writer: &mut Writer<Faulty>, records: &[Record]) -> io::Result<()> {
    writer.write_group(&lines(records), records[0].id)
}

fn on_disk(disk: &Faulty) -> Vec<u8> {
    disk.state.lock().expect("not poisoned").bytes.clone()
}

#[test]
fn a_half_written_group_is_cut_back_and_the_next_one_lands() {
    let (mut writer, disk) = faulty_writer();
    group(&mut writer, &[chat(1, "one")]).expect("written");
    disk.state.lock().expect("not poisoned").write_fails_after = Some(10);
    let err = group(&mut writer, &[chat(2, "two")]).expect_err("the write failed");
    assert_eq!(err.to_string(), "injected write failure");
    assert_eq!(
        on_disk(&disk),
        lines(&[chat(1, "one")]),
        "no half line is left"
    );
    group(&mut writer, &[chat(3, "three")]).expect("the next write works");
    assert_eq!(on_disk(&disk), lines(&[chat(1, "one"), chat(3, "three")]));
}

#[test]
fn a_failed_sync_is_not_durable_and_its_lines_are_cut_back() {
    let (mut writer, disk) = faulty_writer();
    group(&mut writer, &[chat(1, "one")]).expect("written");
    disk.state.lock().expect("not poisoned").sync_fails = 1;
    assert!(group(&mut writer, &[chat(2, "two")]).is_err());
    assert_eq!(on_disk(&disk), lines(&[chat(1, "one")]));
    group(&mut writer, &[chat(3, "three")]).expect("works again");
    assert_eq!(on_disk(&disk), lines(&[chat(1, "one"), chat(3, "three")]));
}

#[test]
fn while_a_failed_write_cannot_be_undone_nothing_more_is_written() {
    let (mut writer, disk) = faulty_writer();
    group(&mut writer, &[chat(1, "one")]).expect("written");
    {
        let mut state = disk.state.lock().expect("not poisoned");
        state.write_fails_after = Some(7);
        // The undo right after the failure, and the retry before the next group.
        state.set_len_fails = 2;
    }
    assert!(group(&mut writer, &[chat(2, "two")]).is_err());
    let err = group(&mut writer, &[chat(3, "three")]).expect_err("the undo still fails");
    assert!(
        err.to_string().starts_with("could not undo a failed write"),
        "{err}"
    );
    assert_eq!(
        on_disk(&disk).len(),
        lines(&[chat(1, "one")]).len() + 7,
        "nothing appended after the half line"
    );
    group(&mut writer, &[chat(4, "four")]).expect("undone, then written");
    assert_eq!(on_disk(&disk), lines(&[chat(1, "one"), chat(4, "four")]));
}

#[test]
fn a_segment_that_cannot_be_created_fails_the_group_and_is_tried_again() {
    let (mut writer, disk) = faulty_writer();
    disk.state.lock().expect("not poisoned").create_fails = 1;
    assert!(group(&mut writer, &[chat(1, "one")]).is_err());
    group(&mut writer, &[chat(2, "two")]).expect("created this time");
    let state = disk.state.lock().expect("not poisoned");
    assert_eq!(
        state.created,
        [Id::new(2)],
        "named after the first id it holds"
    );
    assert_eq!(state.bytes, lines(&[chat(2, "two")]));
}

/// A store whose first `sync_fails` syncs fail, for the stream's tests.
pub(in crate::stream) fn faulty_store(sync_fails: usize) -> Store {
    let (writer, disk) = faulty_writer();
    disk.state.lock().expect("not poisoned").sync_fails = sync_fails;
    let lock = tempfile::tempfile().expect("a file to stand for the lock");
    Store::spawn(writer, lock)
}

#[test]
fn the_writer_thread_reports_a_failure_to_every_batch_of_its_group_and_carries_on() {
    let (writer, disk) = faulty_writer();
    let lock = tempfile::tempfile().expect("a file to stand for the lock");
    disk.state.lock().expect("not poisoned").sync_fails = 1;
    let store = Store::spawn(writer, lock);
    let err = save(&store, vec![chat(1, "one")]).expect_err("the sync failed");
    assert_eq!(err.to_string(), "not saved: injected sync failure");
    save(&store, vec![chat(2, "two")]).expect("the thread is still there");
    drop(store);
    assert_eq!(on_disk(&disk), lines(&[chat(2, "two")]));
}

// --------------------------------------------------- a real full disk

/// A 64 KiB tmpfs mounted for one test, unmounted when dropped. None when
/// this test may not mount (not root, no mount namespace rights).
struct TinyDisk {
    dir: tempfile::TempDir,
}

impl TinyDisk {
    fn mount() -> Option<TinyDisk> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(TinyDisk { dir })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        // Lazy: a file still open elsewhere must not keep it mounted.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_fails_the_append_and_a_later_one_works_again() {
    let Some(disk) = TinyDisk::mount() else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let store_dir = disk.dir.path().join("store");
    let (store, _) = open(&store_dir, 100).expect("opens on the tmpfs");
    save(&store, vec![chat(1, "before")]).expect("saved");
    // Fill the disk.
    let filler = disk.dir.path().join("filler");
    let mut file = File::create(&filler).expect("room for a file");
    let block = vec![b'x'; 4096];
    while std::io::Write::write_all(&mut file, &block).is_ok() {}
    drop(file);
    let text = "z".repeat(3000);
    let err = save(&store, vec![chat(2, &text), chat(3, &text)]).expect_err("the disk is full");
    assert_eq!(err.to_string(), "not saved: the disk is full");
    std::fs::remove_file(&filler).expect("the filler goes");
    save(&store, vec![chat(4, "after")]).expect("saved once there is room");
    drop(store);
    let (_store, recovered) = open(&store_dir, 100).expect("no damage after the failure");
    assert_eq!(recovered.records, vec![chat(1, "before"), chat(4, "after")]);
    assert_eq!(recovered.torn, None);
}

/// A line of about the size people type in a chat room.
const TYPICAL: &str = "a line of about the size people type in a chat room";

/// Submits one record whose settling sends on `tx` whether it was saved
/// and how long it took from here.
fn submit_timed(store: &Store, id: u64, tx: &mpsc::Sender<(bool, Duration)>) {
    let tx = tx.clone();
    let submitted = std::time::Instant::now();
    store.submit(
        vec![Arc::new(chat(id, TYPICAL))],
        Box::new(move |result| {
            // The test is waiting on the receiver.
            let _ = tx.send((result.is_ok(), submitted.elapsed()));
        }),
    );
}

/// Waits for `n` timed records; their waits, sorted.
fn waits(rx: &mpsc::Receiver<(bool, Duration)>, n: u64) -> Vec<Duration> {
    let mut waits: Vec<Duration> = (0..n)
        .map(|_| {
            let (ok, wait) = rx.recv_timeout(WAIT).expect("settles");
            assert!(ok);
            wait
        })
        .collect();
    waits.sort();
    waits
}

/// The `p`th percentile of sorted waits.
fn pct(waits: &[Duration], p: usize) -> Duration {
    waits[(waits.len() * p / 100).min(waits.len() - 1)]
}

/// Not a check: prints what group commit sustains on this disk.
/// `cargo test --release --lib group_commit_figures -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, run by hand"]
fn group_commit_figures() {
    use std::time::Instant;
    let dir =
        tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("a temp dir on the project's disk");
    let store_dir = dir.path().join("main");
    let (store, _) = open(&store_dir, 0).expect("opens");
    let (tx, rx) = mpsc::channel();
    let mut next = 1;
    // One at a time: each record waits for its own fdatasync.
    let serial = 300;
    let start = Instant::now();
    for _ in 0..serial {
        submit_timed(&store, next, &tx);
        next += 1;
        waits(&rx, 1);
    }
    let took = start.elapsed();
    println!(
        "one at a time: {serial} records in {took:.2?}: {:.0}/s",
        serial as f64 / took.as_secs_f64()
    );
    // Pipelined, as a busy broker submits: one record a batch, no waiting.
    let count = 200_000;
    let start = Instant::now();
    for _ in 0..count {
        submit_timed(&store, next, &tx);
        next += 1;
    }
    let all = waits(&rx, count);
    let took = start.elapsed();
    println!(
        "pipelined: {count} records in {took:.2?}: {:.0}/s; submit-to-durable p50 {:.2?}, p99 {:.2?}",
        count as f64 / took.as_secs_f64(),
        pct(&all, 50),
        pct(&all, 99)
    );
    // A steady load, as a room under a benchmark: latency at a rate.
    for rate in [10_000u64, 50_000] {
        let start = Instant::now();
        for n in 0..rate {
            // Paced a millisecond at a time: sleeping leaves the core to
            // the writer thread, as a broker waiting on its sockets would.
            let due = start + Duration::from_secs_f64(n as f64 / rate as f64);
            if let Some(ahead) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(ahead.max(Duration::from_millis(1)));
            }
            submit_timed(&store, next, &tx);
            next += 1;
        }
        let all = waits(&rx, rate);
        println!(
            "steady {rate}/s for 1 s: submit-to-durable p50 {:.2?}, p99 {:.2?}, max {:.2?}",
            pct(&all, 50),
            pct(&all, 99),
            pct(&all, 100)
        );
    }
}
