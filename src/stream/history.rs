//! A room's history in memory: the last room messages, bounded in count and
//! in bytes, and for each session the private messages it sent or got,
//! bounded the same way. Pure: records in, selections out.
//!
//! Private messages live in per-session lists rather than in the room's
//! list: a flood of them cannot push the room's past out, a replay by name
//! (`last`) cannot see them at all, and a session that never had one costs
//! nothing (it has no list). Nothing here is per connection: an idle
//! connection costs the history nothing.
//!
//! Every list remembers the newest id it has dropped (`trimmed_to`): a
//! replay after an id older than that may have missed records, at most as
//! many as the ids in between. That is an upper bound, not a count: some
//! of those ids were other sessions' private messages, or lines that were
//! never saved (ids are not reused, so a failed write leaves a gap).

use std::collections::{HashMap, VecDeque};

use super::packed::{compact, Packed, PackedRecord};
use super::record::{Id, Millis, Record};

/// Names a session: what a login gets and a resumed connection takes
/// back. Given by the broker; not the secret token.
pub type SessionId = u64;

/// A list's bounds. A count of 0 keeps nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most records kept.
    pub count: usize,
    /// The most bytes kept, as [`Record::weight`] counts them.
    pub bytes: usize,
}

/// The bounds of the room's list and of each session's private list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    /// The room's list (`--history N` is its count).
    pub room: Limits,
    /// Each session's private list.
    pub session: Limits,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits {
            room: Limits {
                count: 1000,
                bytes: 4 << 20,
            },
            session: Limits {
                count: 100,
                bytes: 256 << 10,
            },
        }
    }
}

/// What a replay after an id finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    /// At most this many records after the id are no longer kept (0: the
    /// replay is complete).
    pub missed: u64,
    /// What is kept after the id, oldest first.
    pub records: Vec<PackedRecord>,
}

/// The id asked for is newer than anything this room has settled: not an
/// id of this room's life (say, from before a restart without a store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ahead {
    /// The newest id settled.
    pub newest: Id,
}

impl std::fmt::Display for Ahead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "that id is newer than anything in this room (newest is {})",
            self.newest
        )
    }
}

/// The most bytes all sessions' private lists hold together: each list
/// is bounded, but ten thousand sessions (some resumable for minutes after
/// they dropped) times one list's bound would be gigabytes. Past it the
/// oldest private messages of any session go first.
pub const MOST_PRIVATE_BYTES: usize = 32 << 20;

/// One bounded list of records in id order, packed.
#[derive(Debug, Default)]
struct Ring {
    /// Oldest first.
    entries: Packed,
    /// The sum of the entries' weights.
    bytes: usize,
    /// The newest id dropped from this list, 0 if none.
    trimmed_to: Id,
    /// Of a session's private list, the ids of those the session sent
    /// (ascending): names change and are taken again, so who sent one is
    /// not told by its names.
    sent: VecDeque<Id>,
}

impl Ring {
    fn push(&mut self, record: &Record, limits: Limits) {
        self.bytes += record.weight();
        self.entries.push(record);
        while self.entries.len() > limits.count || self.bytes > limits.bytes {
            if self.drop_oldest() == 0 {
                break;
            }
        }
    }

    /// Drops the oldest entry; its weight, 0 if none was kept.
    fn drop_oldest(&mut self) -> usize {
        let Some((old, weight)) = self.entries.pop_front() else {
            return 0;
        };
        self.bytes -= weight;
        self.trimmed_to = old.id;
        if self.sent.front() == Some(&old.id) {
            self.sent.pop_front();
            if self.sent.is_empty() {
                self.sent = VecDeque::new();
            }
        }
        weight
    }

    /// The kept records newer than `id`.
    fn after(&self, id: Id) -> impl Iterator<Item = PackedRecord> + '_ {
        self.entries
            .iter()
            .skip_while(move |slot| slot.head.id <= id)
            .map(|slot| slot.kept())
    }
}

/// A room's history. See the module's comment.
#[derive(Debug)]
pub struct History {
    limits: HistoryLimits,
    /// Room messages: what a replay by name may show.
    room: Ring,
    /// Private lists, only for sessions that had a private message.
    sessions: HashMap<SessionId, Ring>,
    /// Every private list's entries, oldest first, for the bound on them
    /// all (entries trimmed or forgotten since are skipped when met).
    private_order: VecDeque<(Id, SessionId)>,
    /// The bytes of every private list together.
    private_bytes: usize,
    /// The entries of every private list together.
    private_entries: usize,
    /// The newest id pushed (or recovered), room or private.
    newest: Id,
}

impl History {
    /// An empty history whose room has already dropped everything up to
    /// `trimmed_to` (0 for a new room; after a restart, what came before
    /// the recovered records).
    pub fn new(limits: HistoryLimits, trimmed_to: Id) -> History {
        History {
            limits,
            room: Ring {
                trimmed_to,
                ..Ring::default()
            },
            sessions: HashMap::new(),
            private_order: VecDeque::new(),
            private_bytes: 0,
            private_entries: 0,
            newest: trimmed_to,
        }
    }

    /// Keeps a settled record: a room one in the room's list, a private
    /// one in the lists of `sessions` (its sender's and its receiver's).
    /// Records come in id order.
    pub fn push(&mut self, record: &Record, sessions: Option<[SessionId; 2]>) {
        self.newest = self.newest.max(record.id);
        match sessions {
            None => self.room.push(record, self.limits.room),
            Some([a, b]) => {
                // One to oneself is shown as received, as it was live.
                if a != b {
                    self.push_private(b, record, false);
                }
                self.push_private(a, record, a != b);
                self.bound_private();
            }
        }
    }

    /// Puts back a private message of `session` after a restart (in id
    /// order, like [`History::push`]).
    pub fn restore_private(&mut self, session: SessionId, record: &Record, sent: bool) {
        self.newest = self.newest.max(record.id);
        self.push_private(session, record, sent);
        self.bound_private();
    }

    fn push_private(&mut self, session: SessionId, record: &Record, sent: bool) {
        let id = record.id;
        let ring = self.sessions.entry(session).or_default();
        let (bytes, entries) = (ring.bytes, ring.entries.len());
        if sent {
            ring.sent.push_back(id);
        }
        ring.push(record, self.limits.session);
        self.private_bytes = self.private_bytes + ring.bytes - bytes;
        self.private_entries = self.private_entries + ring.entries.len() - entries;
        self.private_order.push_back((id, session));
    }

    /// Drops the oldest private messages while all lists together hold
    /// more than [`MOST_PRIVATE_BYTES`]; forgets stale order entries.
    fn bound_private(&mut self) {
        while self.private_bytes > MOST_PRIVATE_BYTES {
            let Some((id, session)) = self.private_order.pop_front() else {
                break;
            };
            let Some(ring) = self.sessions.get_mut(&session) else {
                continue;
            };
            if ring.entries.front().is_some_and(|r| r.id == id) {
                self.private_bytes -= ring.drop_oldest();
                self.private_entries -= 1;
            }
        }
        if self.private_order.len() > 2 * self.private_entries + 1024 {
            // A list only ever loses its oldest entries (or goes whole), so
            // an entry is still kept if it is not older than its list's
            // oldest.
            let sessions = &self.sessions;
            self.private_order.retain(|(id, session)| {
                sessions
                    .get(session)
                    .and_then(|ring| ring.entries.front())
                    .is_some_and(|oldest| oldest.id <= *id)
            });
        }
    }

    /// Notes ids that were given but never kept (a failed write), so that
    /// a later id is not taken for one from the future.
    pub fn skip_to(&mut self, id: Id) {
        self.newest = self.newest.max(id);
    }

    /// The last `k` room messages, oldest first (fewer if fewer are kept).
    pub fn last(&self, k: usize) -> Vec<PackedRecord> {
        let skip = self.room.entries.len().saturating_sub(k);
        compact(
            self.room
                .entries
                .iter()
                .skip(skip)
                .map(|slot| slot.kept())
                .collect(),
        )
    }

    /// The last `k` room messages people said (chat and `/me`, no notices),
    /// oldest first: what a late joiner and `/history` show.
    pub fn last_said(&self, k: usize) -> Vec<PackedRecord> {
        if k == 0 {
            return Vec::new();
        }
        // Packed records are read forward only: keep the last k met.
        let mut said = VecDeque::new();
        for slot in self.room.entries.iter().filter(|s| s.head.is_said()) {
            if said.len() == k {
                said.pop_front();
            }
            said.push_back(slot);
        }
        compact(said.iter().map(|slot| slot.kept()).collect())
    }

    /// Whether a message people said is kept: the first one found ends
    /// the look (`last_said(1)` would read the whole list).
    pub fn has_said(&self) -> bool {
        self.room.entries.iter().any(|slot| slot.head.is_said())
    }

    /// Everything kept after `id`: room messages and, for `session`, its
    /// private ones, in id order, with how many may be missing.
    pub fn after(&self, id: Id, session: Option<SessionId>) -> Result<Replay, Ahead> {
        if id > self.newest {
            return Err(Ahead {
                newest: self.newest,
            });
        }
        let private = session.and_then(|s| self.sessions.get(&s));
        let trimmed_to = private
            .map_or(Id::ZERO, |p| p.trimmed_to)
            .max(self.room.trimmed_to);
        let mut records = Vec::new();
        let mut room = self.room.after(id).peekable();
        let mut mine = private.into_iter().flat_map(|p| p.after(id)).peekable();
        // Both lists are in id order: merge them.
        loop {
            let next = match (room.peek(), mine.peek()) {
                (Some(r), Some(m)) if m.id() < r.id() => mine.next(),
                (Some(_), _) => room.next(),
                (None, _) => mine.next(),
            };
            let Some(next) = next else { break };
            records.push(next);
        }
        Ok(Replay {
            missed: trimmed_to.get().saturating_sub(id.get()),
            records: compact(records),
        })
    }

    /// Whether `session` sent the private message `id` it keeps (one it
    /// sent to itself counts as received).
    pub fn sent_by(&self, session: SessionId, id: Id) -> bool {
        self.sessions
            .get(&session)
            .is_some_and(|ring| ring.sent.binary_search(&id).is_ok())
    }

    /// Drops a session's private list (its resume window has passed).
    pub fn forget(&mut self, session: SessionId) {
        if let Some(ring) = self.sessions.remove(&session) {
            self.private_bytes -= ring.bytes;
            self.private_entries -= ring.entries.len();
        }
    }

    /// How many room messages are kept.
    pub fn len(&self) -> usize {
        self.room.entries.len()
    }

    /// Whether no room message is kept.
    pub fn is_empty(&self) -> bool {
        self.room.entries.is_empty()
    }

    /// The bytes of the room's list alone (what the bound on every
    /// room's history together counts).
    pub fn room_bytes(&self) -> usize {
        self.room.bytes
    }

    /// When the oldest room message kept was taken, and its id (one
    /// server's streams draw ids from one sequence, so the id orders
    /// messages of one millisecond), if one is kept.
    pub fn oldest(&self) -> Option<(Millis, Id)> {
        self.room.entries.front().map(|r| (r.time, r.id))
    }

    /// Drops the oldest room message (it then counts as missed, like one
    /// the room's own bounds dropped); returns its bytes, 0 if none was
    /// kept.
    pub fn drop_oldest(&mut self) -> usize {
        self.room.drop_oldest()
    }

    /// The bytes kept, room and private lists together.
    pub fn bytes(&self) -> usize {
        self.room.bytes + self.sessions.values().map(|s| s.bytes).sum::<usize>()
    }

    /// Its bounds.
    pub fn limits(&self) -> HistoryLimits {
        self.limits
    }

    /// The newest id pushed.
    pub fn newest(&self) -> Id {
        self.newest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::record::{Kind, RECORD_OVERHEAD};

    fn chat(id: u64, text: &str) -> Record {
        Record {
            id: Id::new(id),
            time: 1000 + id,
            kind: Kind::Chat {
                from: "Max".into(),
                text: text.into(),
            },
        }
    }

    fn private(id: u64) -> Record {
        Record {
            id: Id::new(id),
            time: 1000 + id,
            kind: Kind::Private {
                from: "Max".into(),
                to: "Ann".into(),
                text: "psst".into(),
            },
        }
    }

    fn limits(count: usize, bytes: usize) -> HistoryLimits {
        HistoryLimits {
            room: Limits { count, bytes },
            session: Limits { count, bytes },
        }
    }

    fn ids(records: &[PackedRecord]) -> Vec<u64> {
        records.iter().map(|r| r.id().get()).collect()
    }

    fn room_with(limit: HistoryLimits, range: std::ops::RangeInclusive<u64>) -> History {
        let mut history = History::new(limit, Id::new(0));
        for id in range {
            history.push(&chat(id, "hi"), None);
        }
        history
    }

    #[test]
    fn keeps_the_last_n_by_count() {
        let history = room_with(limits(3, usize::MAX), 1..=5);
        assert_eq!(ids(&history.last(10)), [3, 4, 5]);
        assert_eq!(history.len(), 3);
    }

    #[test]
    fn keeps_the_last_that_fit_in_the_byte_bound() {
        // Each record weighs RECORD_OVERHEAD + 3 ("Max") + 10 bytes of text.
        let weight = RECORD_OVERHEAD + 13;
        let mut history = History::new(limits(1000, 2 * weight + weight / 2), Id::new(0));
        for id in 1..=4 {
            history.push(&chat(id, "0123456789"), None);
        }
        assert_eq!(ids(&history.last(10)), [3, 4]);
        assert_eq!(history.bytes(), 2 * weight);
    }

    #[test]
    fn a_record_bigger_than_the_byte_bound_is_not_kept_and_counts_as_missed() {
        let mut history = History::new(limits(1000, RECORD_OVERHEAD + 10), Id::new(0));
        history.push(&chat(1, "x"), None);
        history.push(&chat(2, &"y".repeat(100)), None);
        assert!(history.is_empty());
        assert_eq!(history.bytes(), 0);
        assert_eq!(history.after(Id::new(0), None).map(|r| r.missed), Ok(2));
    }

    #[test]
    fn history_zero_keeps_nothing_and_says_what_was_missed() {
        let history = room_with(limits(0, usize::MAX), 1..=4);
        assert!(history.last(10).is_empty());
        assert_eq!(
            history.after(Id::new(1), None),
            Ok(Replay {
                missed: 3,
                records: vec![]
            })
        );
    }

    #[test]
    fn has_said_is_whether_a_chat_or_action_is_still_kept() {
        let mut history = History::new(limits(2, usize::MAX), Id::new(0));
        history.push(&notice(1), None);
        assert!(!history.has_said(), "a notice is not said");
        history.push(&chat(2, "hi"), None);
        assert!(history.has_said());
        history.push(&notice(3), None);
        history.push(&notice(4), None);
        assert!(!history.has_said(), "the chat was trimmed");
    }

    #[test]
    fn last_k_is_the_newest_k_oldest_first() {
        let history = room_with(limits(10, usize::MAX), 1..=6);
        assert_eq!(ids(&history.last(2)), [5, 6]);
        assert_eq!(ids(&history.last(0)), Vec::<u64>::new());
    }

    #[test]
    fn after_an_id_gives_everything_newer_and_nothing_missed() {
        let history = room_with(limits(10, usize::MAX), 1..=6);
        let replay = history.after(Id::new(4), None).expect("4 is known");
        assert_eq!((replay.missed, ids(&replay.records)), (0, vec![5, 6]));
        let replay = history.after(Id::new(6), None).expect("6 is the newest");
        assert_eq!((replay.missed, ids(&replay.records)), (0, vec![]));
    }

    #[test]
    fn after_an_id_that_is_a_gap_starts_at_the_next_kept_one() {
        // Ids 3 and 4 were someone else's private message and a failed write.
        let mut history = History::new(limits(10, usize::MAX), Id::new(0));
        for id in [1, 2, 5, 6] {
            history.push(&chat(id, "hi"), None);
        }
        history.push(&private(7), Some([10, 11]));
        let replay = history
            .after(Id::new(3), None)
            .expect("3 is older than the newest");
        assert_eq!((replay.missed, ids(&replay.records)), (0, vec![5, 6]));
    }

    #[test]
    fn after_an_id_older_than_what_is_kept_tells_how_many_may_be_missed() {
        let history = room_with(limits(3, usize::MAX), 1..=10);
        // 8, 9, 10 are kept; 3 to 7 are gone.
        let replay = history.after(Id::new(2), None).expect("2 is known");
        assert_eq!((replay.missed, ids(&replay.records)), (5, vec![8, 9, 10]));
        // Just at the edge: nothing is missing.
        let replay = history.after(Id::new(7), None).expect("7 is known");
        assert_eq!(replay.missed, 0);
    }

    #[test]
    fn an_id_from_the_future_is_refused() {
        let history = room_with(limits(3, usize::MAX), 1..=5);
        assert_eq!(
            history.after(Id::new(6), None),
            Err(Ahead { newest: Id::new(5) })
        );
        assert_eq!(
            History::new(limits(3, 3), Id::ZERO).after(Id::new(1), None),
            Err(Ahead { newest: Id::new(0) })
        );
    }

    #[test]
    fn ids_skipped_by_a_failed_write_are_not_from_the_future() {
        let mut history = room_with(limits(3, usize::MAX), 1..=2);
        history.skip_to(Id::new(4));
        assert_eq!(
            history.after(Id::new(4), None).map(|r| r.records.len()),
            Ok(0)
        );
    }

    #[test]
    fn a_recovered_history_counts_what_came_before_as_missed() {
        let mut history = History::new(limits(10, usize::MAX), Id::new(40));
        history.push(&chat(41, "hi"), None);
        assert_eq!(history.after(Id::new(30), None).map(|r| r.missed), Ok(10));
        assert_eq!(history.after(Id::new(40), None).map(|r| r.missed), Ok(0));
    }

    #[test]
    fn all_private_lists_together_stay_under_their_bound_oldest_first() {
        let mut history = History::new(HistoryLimits::default(), Id::new(0));
        let text = "x".repeat(16 << 10);
        let big = |id: u64| Record {
            id: Id::new(id),
            time: id,
            kind: Kind::Private {
                from: "Max".into(),
                to: "Ann".into(),
                text: text.clone(),
            },
        };
        // 1,200 messages of 16 KiB between 600 pairs of sessions: each is
        // in two lists, 38 MiB in all, over the 32 MiB bound.
        for id in 1..=1200 {
            let pair = (id - 1) % 600 * 2;
            history.push(&big(id), Some([pair, pair + 1]));
        }
        assert!(history.private_bytes <= MOST_PRIVATE_BYTES);
        assert_eq!(history.private_bytes, history.bytes());
        // The first pair's first message went; its second and the newest stay.
        let first = history
            .after(Id::new(0), Some(0))
            .expect("an id of this room");
        assert_eq!(ids(&first.records), [601]);
        assert_eq!(first.missed, 1);
        let newest = history
            .after(Id::new(0), Some(1199))
            .expect("an id of this room");
        assert_eq!(ids(&newest.records), [600, 1200]);
        // Forgetting a session gives its bytes back.
        let before = history.private_bytes;
        history.forget(1199);
        assert!(history.private_bytes < before);
        assert_eq!(history.private_bytes, history.bytes());
    }

    #[test]
    fn private_messages_are_never_replayed_by_name() {
        let mut history = room_with(limits(10, usize::MAX), 1..=2);
        history.push(&private(3), Some([7, 8]));
        history.push(&chat(4, "hi"), None);
        assert_eq!(ids(&history.last(10)), [1, 2, 4]);
        assert_eq!(
            history.after(Id::new(0), None).map(|r| ids(&r.records)),
            Ok(vec![1, 2, 4])
        );
        assert_eq!(
            history.after(Id::new(0), Some(9)).map(|r| ids(&r.records)),
            Ok(vec![1, 2, 4])
        );
    }

    #[test]
    fn both_sessions_of_a_private_message_get_it_in_order() {
        let mut history = room_with(limits(10, usize::MAX), 1..=2);
        history.push(&private(3), Some([7, 8]));
        history.push(&chat(4, "hi"), None);
        history.push(&private(5), Some([8, 9]));
        for (session, expected) in [
            (7, vec![2, 3, 4]),
            (8, vec![2, 3, 4, 5]),
            (9, vec![2, 4, 5]),
        ] {
            let replay = history
                .after(Id::new(1), Some(session))
                .expect("1 is known");
            assert_eq!(ids(&replay.records), expected, "session {session}");
        }
    }

    #[test]
    fn a_private_message_to_oneself_is_kept_once() {
        let mut history = History::new(limits(10, usize::MAX), Id::new(0));
        history.push(&private(1), Some([7, 7]));
        assert_eq!(
            history.after(Id::new(0), Some(7)).map(|r| ids(&r.records)),
            Ok(vec![1])
        );
        assert_eq!(history.bytes(), private(1).weight());
    }

    #[test]
    fn a_sessions_private_list_is_bounded_and_its_losses_count_as_missed() {
        let mut history = History::new(
            HistoryLimits {
                room: Limits {
                    count: 10,
                    bytes: usize::MAX,
                },
                session: Limits {
                    count: 2,
                    bytes: usize::MAX,
                },
            },
            Id::ZERO,
        );
        for id in 1..=5 {
            history.push(&private(id), Some([7, 8]));
        }
        let replay = history.after(Id::new(0), Some(7)).expect("0 is known");
        assert_eq!((replay.missed, ids(&replay.records)), (3, vec![4, 5]));
        // The room's list lost nothing.
        assert_eq!(history.after(Id::new(0), None).map(|r| r.missed), Ok(0));
    }

    #[test]
    fn a_forgotten_session_costs_nothing_and_gets_no_private_replay() {
        let mut history = History::new(limits(10, usize::MAX), Id::new(0));
        history.push(&private(1), Some([7, 8]));
        history.forget(7);
        history.forget(8);
        assert_eq!(history.bytes(), 0);
        assert_eq!(
            history.after(Id::new(0), Some(7)).map(|r| r.records.len()),
            Ok(0)
        );
    }

    use proptest::prelude::*;

    /// One record pushed: private between two of sessions 1 to 3, or not.
    fn op() -> impl Strategy<Value = (Option<[SessionId; 2]>, usize)> {
        let sessions = prop_oneof![
            Just(None),
            (1..4u64, 1..4u64).prop_map(|(a, b)| Some([a, b]))
        ];
        (sessions, 0..40usize)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever was pushed, the bounds hold, and a replay gives every
        /// record it should that is still kept, in order, and never claims
        /// fewer missed than are really missing.
        #[test]
        fn replays_are_in_order_and_never_hide_a_loss(
            ops in prop::collection::vec(op(), 0..40),
            count in 0..8usize,
            bytes in 0..1200usize,
            after in 0..45u64,
            session in 1..4u64,
        ) {
            let limit = Limits { count, bytes };
            let mut history = History::new(HistoryLimits { room: limit, session: limit }, Id::new(0));
            let mut pushed = Vec::new();
            for (id, (sessions, len)) in (1..).zip(ops) {
                let record = match sessions {
                    None => chat(id, &"x".repeat(len)),
                    Some(_) => private(id),
                };
                history.push(&record, sessions);
                pushed.push((record, sessions));
            }
            prop_assert!(history.len() <= count);
            let room_bytes: usize = history.last(usize::MAX).iter().map(|r| r.weight()).sum();
            prop_assert!(room_bytes <= bytes);
            let newest = pushed.len() as u64;
            let Ok(replay) = history.after(Id::new(after), Some(session)) else {
                prop_assert!(after > newest);
                return Ok(());
            };
            let wanted: Vec<u64> = pushed
                .iter()
                .filter(|(r, s)| r.id.get() > after && s.is_none_or(|pair| pair.contains(&session)))
                .map(|(r, _)| r.id.get())
                .collect();
            let got = ids(&replay.records);
            prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "in order: {:?}", got);
            prop_assert!(got.iter().all(|id| wanted.contains(id)), "only what is wanted");
            let missing = wanted.iter().filter(|id| !got.contains(id)).count() as u64;
            prop_assert!(missing <= replay.missed, "missing {} but missed says {}", missing, replay.missed);
            if replay.missed == 0 {
                prop_assert_eq!(got, wanted);
            }
        }
    }

    fn notice(id: u64) -> Record {
        Record {
            id: Id::new(id),
            time: 1000 + id,
            kind: Kind::Join { from: "Ann".into() },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A room list long enough to fill many chunks answers as a plain
        /// list of the records its bounds keep would.
        #[test]
        fn a_room_list_of_many_chunks_answers_as_a_plain_list_would(
            lines in prop::collection::vec((0..1800usize, any::<bool>()), 0..400),
            count in 1..300usize,
            bytes in 2000..200_000usize,
            drops in 0..20usize,
            after in 0..420u64,
            k in 0..350usize,
        ) {
            let limit = Limits { count, bytes };
            let mut history = History::new(HistoryLimits { room: limit, session: limit }, Id::new(0));
            let mut model: VecDeque<Record> = VecDeque::new();
            let mut trimmed = 0;
            let weight = |m: &VecDeque<Record>| m.iter().map(Record::weight).sum::<usize>();
            let mut newest = 0;
            for (id, (len, said)) in (1..).zip(lines) {
                let record = if said { chat(id, &"y".repeat(len)) } else { notice(id) };
                history.push(&record, None);
                model.push_back(record);
                newest = id;
                while model.len() > count || weight(&model) > bytes {
                    trimmed = model.pop_front().expect("over a bound").id.get();
                }
            }
            for _ in 0..drops {
                if history.drop_oldest() > 0 {
                    trimmed = model.pop_front().expect("one was kept").id.get();
                }
            }
            let ids_of = |records: &mut dyn Iterator<Item = &Record>| -> Vec<u64> {
                records.map(|r| r.id.get()).collect()
            };
            prop_assert_eq!(history.room_bytes(), weight(&model));
            let all: Vec<Record> = history.last(usize::MAX).iter().map(PackedRecord::record).collect();
            prop_assert_eq!(&all, &Vec::from(model.clone()));
            let last = ids_of(&mut model.iter().skip(model.len().saturating_sub(k)));
            prop_assert_eq!(ids(&history.last(k)), last);
            let mut said: Vec<u64> = ids_of(&mut model.iter().rev().filter(|r| r.kind.is_said()).take(k));
            said.reverse();
            prop_assert_eq!(ids(&history.last_said(k)), said);
            match history.after(Id::new(after), None) {
                Ok(replay) => {
                    prop_assert!(after <= newest);
                    prop_assert_eq!(ids(&replay.records), ids_of(&mut model.iter().filter(|r| r.id.get() > after)));
                    prop_assert_eq!(replay.missed, trimmed.saturating_sub(after));
                }
                Err(_) => prop_assert!(after > newest),
            }
        }
    }
}
