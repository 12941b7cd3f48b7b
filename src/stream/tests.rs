//! The stream as the broker drives it: append, settle, ask for the past.

use super::*;
use crate::runtime::{block_on, timeout};
use std::time::Duration;

/// How long a test waits for a batch to settle.
const WAIT: Duration = Duration::from_secs(10);

fn limits(count: usize) -> HistoryLimits {
    HistoryLimits {
        room: Limits {
            count,
            bytes: usize::MAX,
        },
        session: Limits {
            count,
            bytes: usize::MAX,
        },
    }
}

/// A clock that says 1000, 1001, 1002, …
fn ticking() -> impl FnMut() -> Millis + Send + 'static {
    let mut now = 999;
    move || {
        now += 1;
        now
    }
}

/// What has an id: a record just settled, or one a replay gave.
trait Numbered {
    fn number(&self) -> u64;
}

impl Numbered for Arc<Record> {
    fn number(&self) -> u64 {
        self.id.get()
    }
}

impl Numbered for PackedRecord {
    fn number(&self) -> u64 {
        self.id().get()
    }
}

fn ids(records: &[impl Numbered]) -> Vec<u64> {
    records.iter().map(Numbered::number).collect()
}

/// Waits for the next batch to settle.
fn settle(stream: &mut RoomStream) -> Settled {
    block_on(timeout(WAIT, stream.settled())).expect("a batch settles within the wait")
}

/// Appends and waits for that batch.
fn keep(stream: &mut RoomStream, drafts: Vec<Draft>) -> Result<Vec<Arc<Record>>, WriteError> {
    let ticket = stream.append(drafts).expect("room in flight");
    let settled = settle(stream);
    assert_eq!(settled.ticket, Some(ticket));
    settled.outcome
}

#[test]
fn ids_increase_from_1_across_batches_and_each_batch_has_one_time() {
    let mut stream = RoomStream::memory(limits(10)).with_clock(ticking());
    let first = keep(
        &mut stream,
        vec![Draft::join("Max"), Draft::chat("Max", "hi")],
    )
    .expect("kept");
    let second = keep(&mut stream, vec![Draft::action("Max", "waves")]).expect("kept");
    assert_eq!((ids(&first), ids(&second)), (vec![1, 2], vec![3]));
    assert_eq!(
        first
            .iter()
            .chain(&second)
            .map(|r| r.time)
            .collect::<Vec<_>>(),
        [1000, 1000, 1001]
    );
    assert_eq!(
        second[0].kind,
        Kind::Action {
            from: "Max".into(),
            text: "waves".into()
        }
    );
    assert_eq!(stream.next_id().map(Id::get), Some(4));
}

#[test]
fn a_batch_is_in_the_history_only_once_it_has_settled() {
    let mut stream = RoomStream::memory(limits(10));
    let ticket = stream
        .append(vec![Draft::chat("Max", "hi")])
        .expect("room in flight");
    assert!(stream.last(10).is_empty(), "not settled yet");
    let settled = stream.try_settled().expect("memory-only settles at once");
    assert_eq!(settled.ticket, Some(ticket));
    assert_eq!(settled.outcome.map(|r| ids(&r)), Ok(vec![1]));
    assert_eq!(ids(&stream.last(10)), [1]);
    assert_eq!(stream.try_settled(), None);
}

#[test]
fn batches_settle_in_the_order_they_were_appended() {
    let mut stream = RoomStream::memory(limits(10));
    let tickets: Vec<_> = (0..3)
        .map(|_| stream.append(vec![Draft::chat("Max", "hi")]).expect("room"))
        .collect();
    let settled: Vec<_> = (0..3).map(|_| settle(&mut stream).ticket).collect();
    let tickets: Vec<_> = tickets.into_iter().map(Some).collect();
    assert_eq!(settled, tickets);
}

#[test]
fn the_room_and_the_sessions_see_their_own_past() {
    let mut stream = RoomStream::memory(limits(10));
    keep(
        &mut stream,
        vec![
            Draft::join("Max"),
            Draft::rename("Max", "Maxi"),
            Draft::private("Maxi", "Ann", "psst", [1, 2]),
            Draft::leave("Maxi"),
        ],
    )
    .expect("kept");
    assert_eq!(ids(&stream.last(10)), [1, 2, 4]);
    assert_eq!(
        stream.after(Id::new(1), Some(2)).map(|r| ids(&r.records)),
        Ok(vec![2, 3, 4])
    );
    assert_eq!(
        stream.after(Id::new(1), Some(3)).map(|r| ids(&r.records)),
        Ok(vec![2, 4])
    );
    stream.forget(2);
    assert_eq!(
        stream.after(Id::new(1), Some(2)).map(|r| ids(&r.records)),
        Ok(vec![2, 4])
    );
}

#[test]
fn too_much_waiting_is_refused_without_using_ids() {
    let mut stream = RoomStream::memory(limits(10));
    let big = "x".repeat(MAX_IN_FLIGHT / 4);
    // Nothing is settled, so everything stays in flight.
    let mut taken = 0;
    while stream.append(vec![Draft::chat("Max", &big)]).is_ok() {
        taken += 1;
        assert!(taken < 10, "the bound holds");
    }
    assert_eq!(taken, 3);
    assert_eq!(
        stream.append(vec![Draft::chat("Max", &big)]),
        Err(NotKept::Backlog)
    );
    assert_eq!(stream.next_id().map(Id::get), Some(4));
    while stream.try_settled().is_some() {}
    assert_eq!(stream.append(vec![Draft::chat("Max", &big)]), Ok(3));
    assert_eq!(stream.next_id().map(Id::get), Some(5));
}

#[test]
fn past_the_last_id_a_batch_is_refused_not_wrapped() {
    let mut stream = RoomStream::new(limits(10), Backend::memory(LAST_ID.prev()), Id::ZERO);
    let two = || vec![Draft::chat("Max", "a"), Draft::chat("Max", "b")];
    assert_eq!(stream.append(two()), Ok(0));
    assert_eq!(stream.next_id(), Some(LAST_ID.next()));
    assert_eq!(stream.append(two()), Err(NotKept::NoIdsLeft));
    assert_eq!(
        stream.append(vec![Draft::chat("Max", "c")]),
        Err(NotKept::NoIdsLeft)
    );
    assert_eq!(stream.next_id(), Some(LAST_ID.next()));
    let mut stream = RoomStream::new(limits(10), Backend::memory(Id::new(u64::MAX)), Id::ZERO);
    assert_eq!(stream.append(two()), Err(NotKept::NoIdsLeft), "no overflow");
}

#[test]
fn a_batch_the_disk_refused_is_not_in_the_history_and_its_ids_are_not_reused() {
    let backend = Backend::files(store::tests::faulty_store(1), Id::new(1));
    let stream = RoomStream::new(limits(10), backend, Id::ZERO);
    let mut stream = stream.with_clock(ticking());
    let err = keep(
        &mut stream,
        vec![Draft::chat("Max", "lost"), Draft::chat("Max", "lost too")],
    );
    assert_eq!(
        err.map(|r| ids(&r)).map_err(|e| e.to_string()),
        Err("not saved: injected sync failure".into())
    );
    assert!(stream.last(10).is_empty());
    // A client that asks after a lost id is not told it is from the future.
    assert_eq!(
        stream.after(Id::new(2), None),
        Ok(Replay {
            missed: 0,
            records: vec![]
        })
    );
    let kept = keep(&mut stream, vec![Draft::chat("Max", "saved")]).expect("the disk works again");
    assert_eq!(ids(&kept), [3]);
    assert_eq!(
        stream.after(Id::new(2), None).map(|r| ids(&r.records)),
        Ok(vec![3])
    );
}

#[test]
fn a_stored_stream_recovers_its_history_and_continues_its_ids() {
    let root = tempfile::tempdir().expect("a temp dir");
    {
        let (mut stream, notices) =
            RoomStream::open(root.path(), MAIN, store::SEGMENT_BYTES, limits(3)).expect("opens");
        assert_eq!(notices, []);
        assert!(stream.is_durable());
        for text in ["a", "b", "c", "d"] {
            keep(&mut stream, vec![Draft::chat("Max", text)]).expect("saved");
        }
        keep(
            &mut stream,
            vec![Draft::private("Max", "Ann", "psst", [1, 2])],
        )
        .expect("saved");
    }
    assert!(root
        .path()
        .join(MAIN)
        .join(store::segment_name(Id::new(1)))
        .exists());
    let (mut stream, _) =
        RoomStream::open(root.path(), MAIN, store::SEGMENT_BYTES, limits(3)).expect("reopens");
    assert_eq!(ids(&stream.last(10)), [2, 3, 4]);
    let replay = stream.after(Id::new(0), None).expect("0 is known");
    assert_eq!((replay.missed, ids(&replay.records)), (1, vec![2, 3, 4]));
    // The private message (5) is not replayed; its id is not taken again.
    assert_eq!(
        stream.after(Id::new(5), None).map(|r| r.records.len()),
        Ok(0)
    );
    let kept = keep(&mut stream, vec![Draft::chat("Max", "e")]).expect("saved");
    assert_eq!(ids(&kept), [6]);
}

/// Two streams on one [`SharedLog`], as two servers sharing one room.
fn two_servers() -> (SharedLog, RoomStream, RoomStream) {
    let log = SharedLog::new();
    let a = RoomStream::with_backend(limits(10), Backend::shared(&log));
    let b = RoomStream::with_backend(limits(10), Backend::shared(&log));
    (log, a, b)
}

/// Everything ready to settle, as (ticket, ids).
fn drain(stream: &mut RoomStream) -> Vec<(Option<Ticket>, Vec<u64>)> {
    std::iter::from_fn(|| stream.try_settled())
        .map(|s| (s.ticket, s.outcome.map(|r| ids(&r)).expect("kept")))
        .collect()
}

#[test]
fn two_writers_of_one_log_take_in_each_others_records_in_the_logs_order() {
    let (log, mut a, mut b) = two_servers();
    let first = a.append(vec![Draft::chat("Ann", "a")]).expect("taken");
    let second = b.append(vec![Draft::chat("Bob", "b"), Draft::chat("Bob", "bb")]);
    let third = a.append(vec![Draft::chat("Ann", "c")]).expect("taken");
    // The log gave the ids, whoever appended.
    let texts: Vec<u64> = log.records().iter().map(|r| r.id.get()).collect();
    assert_eq!(texts, [1, 2, 3, 4]);
    // Each hears of its own batches by ticket, of the other's with none,
    // in the log's order, though nobody drained in between.
    assert_eq!(
        drain(&mut a),
        [
            (Some(first), vec![1]),
            (None, vec![2, 3]),
            (Some(third), vec![4])
        ]
    );
    assert_eq!(
        drain(&mut b),
        [
            (None, vec![1]),
            (Some(second.expect("taken")), vec![2, 3]),
            (None, vec![4])
        ]
    );
    // Both histories are the log's, and replay after an id the same way.
    for stream in [&a, &b] {
        assert_eq!(ids(&stream.last(10)), [1, 2, 3, 4]);
        let replay = stream.after(Id::new(2), None).expect("2 is known");
        assert_eq!((replay.missed, ids(&replay.records)), (0, vec![3, 4]));
    }
    assert_eq!(a.next_id(), None, "a shared log's ids are not counted here");
}

#[test]
fn a_private_message_from_elsewhere_is_handed_on_but_replayed_to_no_one_here() {
    let (_log, mut a, mut b) = two_servers();
    a.append(vec![Draft::private("Ann", "Bob", "psst", [1, 2])])
        .expect("taken");
    b.append(vec![Draft::chat("Bob", "hi")]).expect("taken");
    let arrived = settle(&mut b);
    assert_eq!(arrived.ticket, None);
    assert!(matches!(
        arrived.outcome.as_deref().map(|r| &r[0].kind),
        Ok(Kind::Private { .. })
    ));
    settle(&mut b);
    // B's sessions 1 and 2 are not A's: nothing private is replayed here,
    // and the private id is not taken for one from the future.
    assert_eq!(
        b.after(Id::ZERO, Some(1)).map(|r| ids(&r.records)),
        Ok(vec![2])
    );
    assert_eq!(
        b.after(Id::new(1), None).map(|r| ids(&r.records)),
        Ok(vec![2])
    );
    // A keeps its own private message for its sessions.
    settle(&mut a);
    assert_eq!(
        a.after(Id::ZERO, Some(1)).map(|r| ids(&r.records)),
        Ok(vec![1])
    );
}

#[test]
fn a_writer_that_waits_wakes_for_records_appended_elsewhere() {
    let (_log, mut a, mut b) = two_servers();
    let waiting = std::thread::spawn(move || {
        let settled = settle(&mut b);
        (settled.ticket, settled.outcome.map(|r| ids(&r)))
    });
    a.append(vec![Draft::chat("Ann", "a")]).expect("taken");
    assert_eq!(waiting.join().expect("no panic"), (None, Ok(vec![1])));
}
