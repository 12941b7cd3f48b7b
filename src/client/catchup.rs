//! Catching up: the history the server replays after a login or a resume
//! (and, when a session could not be resumed, the answer to our
//! `/history after LAST`) is held until its end, de-duplicated by id (ids
//! are opaque: equal or not) in the order it came, then shown as one block under a marker line:
//! `── 14 new since 17:42, 3 mention you ──` (on a first login, `── the
//! last 20 messages ──`). Pure: items in, the block out.
//!
//! A block whose footer came before as many lines as its header promised
//! (`history=N`) is not complete: the caller asks again from where the
//! block began ([`Catchup::ask_again_after`]) rather than call it so, and
//! what comes again is merged in place ([`Catchup::again`]).

use std::collections::HashSet;

/// Where a block was collected from: a stream (a room, or `@`) and the
/// newest id seen of it, both as the server wrote them.
pub type Point = (String, String);

/// What makes a line the same line again: its stream's key, its id and
/// a hash of its text (the two copies of a private message to oneself
/// share an id).
pub type Same = (String, String, u64);

/// What the marker line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Lines in the block.
    pub count: u64,
    /// Of them, lines that call for the person's attention.
    pub mentions: u64,
    /// Messages the server no longer keeps (lost to the person).
    pub missed: u64,
    /// Messages a block's header promised that never came, even when
    /// asked for again.
    pub short: u64,
    /// The time the block starts from (ms since the epoch), if known.
    pub since: Option<u64>,
    /// The replay of a first login: what was said before the person came,
    /// not news to catch up on.
    pub first: bool,
}

/// Lines held past this many bytes are not held: the block is shown
/// as it stands and the rest as it comes (a server replaying without end
/// must not fill our memory).
pub const MOST_BYTES: usize = 8 << 20;

/// A block being collected. Ids are opaque (compared for equality only):
/// lines keep the order they came in, which is the server's order.
#[derive(Debug)]
pub struct Catchup<T> {
    /// The lines, in order, each with what makes it the same line again.
    lines: Vec<(Option<Same>, T)>,
    /// The `Same` of every line held.
    held: HashSet<Same>,
    /// While a block asked for again comes: where its next new line goes
    /// (just after the last line it shares with what is held).
    merging: Option<usize>,
    /// Where it was collected after; None: a first login's last messages.
    after: Option<Point>,
    /// Lines that call for the person's attention.
    mentions: u64,
    /// Messages the server says are no longer kept.
    missed: u64,
    /// Messages promised that never came.
    short: u64,
    /// Given, or the time of the first line.
    since: Option<u64>,
    /// Bytes held so far (as the caller counts them).
    bytes: usize,
    /// The replay of a first login.
    first: bool,
}

impl<T> Catchup<T> {
    /// A block of what came after `after` (None: nothing known to start
    /// from); `since`: when the person was last here, if they were.
    pub fn new(after: Option<Point>, since: Option<u64>) -> Catchup<T> {
        Catchup {
            lines: Vec::new(),
            held: HashSet::new(),
            merging: None,
            after,
            mentions: 0,
            missed: 0,
            short: 0,
            since,
            bytes: 0,
            first: false,
        }
    }

    /// The block a first login is given: the room's last messages.
    pub fn first_login() -> Catchup<T> {
        Catchup {
            first: true,
            ..Catchup::new(None, None)
        }
    }

    /// Adds one line (`size` bytes); false if it was held already.
    pub fn add(
        &mut self,
        same: Option<Same>,
        time: Option<u64>,
        calls: bool,
        size: usize,
        item: T,
    ) -> bool {
        if let Some(same) = &same {
            if self.held.contains(same) {
                self.passed(same);
                return false;
            }
            self.held.insert(same.clone());
        }
        match self.merging.as_mut() {
            Some(at) => {
                self.lines.insert(*at, (same, item));
                *at += 1;
            }
            None => self.lines.push((same, item)),
        }
        self.since = self.since.or(time);
        self.mentions += u64::from(calls);
        self.bytes = self.bytes.saturating_add(size);
        true
    }

    /// A line that came again (held already, or shown before): a block
    /// asked for again goes on after it, if it holds it.
    pub fn passed(&mut self, same: &Same) {
        if let Some(at) = self.merging.as_mut() {
            let found = self
                .lines
                .iter()
                .position(|(s, _)| s.as_ref() == Some(same));
            *at = found.map_or(*at, |i| i + 1);
        }
    }

    /// The block asked for again begins: its lines are the whole stretch
    /// again, so each new one goes where it belongs among those held.
    pub fn again(&mut self) {
        self.merging = Some(0);
    }

    /// The server says `missed` more are no longer kept.
    pub fn missed(&mut self, missed: u64) {
        self.missed = self.missed.saturating_add(missed);
    }

    /// The server says `missed` are no longer kept, of a point it was
    /// asked about before: not counted twice.
    pub fn missed_at_least(&mut self, missed: u64) {
        self.missed = self.missed.max(missed);
    }

    /// A block's header promised `short` more lines than came, and asking
    /// again did not bring them.
    pub fn short(&mut self, short: u64) {
        self.short = self.short.saturating_add(short);
    }

    /// Where to ask `/history ROOM after ID` from when the block came
    /// short: where it was collected after. None for a first login's last
    /// messages (nothing seen before: the caller asks for the last lines
    /// again; what is asked again is held once anyway).
    pub fn ask_again_after(&self) -> Option<&Point> {
        self.after.as_ref()
    }

    /// Whether it is a first login's replay.
    pub fn is_first(&self) -> bool {
        self.first
    }

    /// Whether it holds as much as it may.
    pub fn full(&self) -> bool {
        self.bytes >= MOST_BYTES
    }

    /// The block: its summary, and its lines in order.
    pub fn finish(self) -> (Summary, Vec<T>) {
        let summary = Summary {
            count: self.lines.len() as u64,
            mentions: self.mentions,
            missed: self.missed,
            short: self.short,
            since: self.since,
            first: self.first,
        };
        (summary, self.lines.into_iter().map(|(_, t)| t).collect())
    }
}

/// The marker line: `── 14 new since 17:42, 3 mention you ──`; `since` is
/// the summary's time as shown. None when there is nothing to say.
pub fn marker(summary: &Summary, since: Option<&str>) -> Option<String> {
    if summary.count == 0 && summary.missed == 0 && summary.short == 0 {
        return None;
    }
    let mut text = match (summary.count, since) {
        (1, _) if summary.first => "the last message".to_string(),
        (n, _) if summary.first => format!("the last {n} messages"),
        (0, _) => "nothing new".to_string(),
        (n, Some(since)) => format!("{n} new since {since}"),
        (n, None) => format!("{n} new"),
    };
    match summary.mentions {
        0 => {}
        1 => text.push_str(", 1 mentions you"),
        n => text.push_str(&format!(", {n} mention you")),
    }
    match summary.missed {
        0 => {}
        1 => text.push_str("; 1 older message is no longer kept"),
        n => text.push_str(&format!("; {n} older messages are no longer kept")),
    }
    match summary.short {
        0 => {}
        1 => text.push_str("; 1 message did not arrive"),
        n => text.push_str(&format!("; {n} messages did not arrive")),
    }
    Some(format!("── {text} ──"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_shown_once_in_the_order_it_came() {
        let mut block = Catchup::new(None, None);
        assert!(block.add(id("13"), Some(3), false, 1, "c"));
        assert!(block.add(id("11"), Some(2), true, 1, "a"));
        assert!(!block.add(id("13"), Some(3), false, 1, "c again"));
        assert!(block.add(None, Some(4), false, 1, "no id"));
        let (summary, lines) = block.finish();
        assert_eq!(lines, ["c", "a", "no id"], "ids are not numbers to sort by");
        assert_eq!(
            summary,
            Summary {
                count: 3,
                mentions: 1,
                missed: 0,
                short: 0,
                since: Some(3),
                first: false,
            }
        );
    }

    fn id(id: &str) -> Option<Same> {
        Some(("#main".to_string(), id.to_string(), 0))
    }

    #[test]
    fn both_copies_of_a_private_message_to_oneself_are_kept() {
        let mut block = Catchup::new(None, None);
        let copy = |hash| Some(("@".to_string(), "4".to_string(), hash));
        assert!(block.add(copy(1), None, false, 1, "Max (private): hi"));
        assert!(block.add(copy(2), None, false, 1, "To Max (private): hi"));
        assert!(!block.add(copy(2), None, false, 1, "To Max (private): hi"));
        assert_eq!(block.finish().0.count, 2);
    }

    #[test]
    fn a_block_asked_again_fills_the_holes_in_place() {
        let mut block = Catchup::first_login();
        block.add(id("a"), None, false, 1, "one");
        block.add(id("c"), None, false, 1, "three");
        block.again();
        block.add(id("a"), None, false, 1, "one");
        block.add(id("b"), None, false, 1, "two");
        block.add(id("c"), None, false, 1, "three");
        block.add(id("d"), None, false, 1, "four");
        assert_eq!(block.finish().1, ["one", "two", "three", "four"]);
    }

    #[test]
    fn the_marker_counts_new_lines_mentions_and_what_was_lost() {
        let summary = |count, mentions, missed| Summary {
            count,
            mentions,
            missed,
            short: 0,
            since: Some(0),
            first: false,
        };
        assert_eq!(
            marker(&summary(14, 3, 0), Some("17:42")).as_deref(),
            Some("── 14 new since 17:42, 3 mention you ──")
        );
        assert_eq!(
            marker(&summary(1, 1, 0), Some("09:00")).as_deref(),
            Some("── 1 new since 09:00, 1 mentions you ──")
        );
        assert_eq!(
            marker(&summary(2, 0, 5), None).as_deref(),
            Some("── 2 new; 5 older messages are no longer kept ──")
        );
        assert_eq!(
            marker(&summary(0, 0, 1), None).as_deref(),
            Some("── nothing new; 1 older message is no longer kept ──")
        );
        assert_eq!(marker(&summary(0, 0, 0), Some("10:00")), None);
        let short = Summary {
            short: 2,
            ..summary(5, 0, 0)
        };
        assert_eq!(
            marker(&short, None).as_deref(),
            Some("── 5 new; 2 messages did not arrive ──")
        );
    }

    #[test]
    fn a_short_block_is_asked_for_again_from_where_it_began() {
        // After a resume: from the last id seen before it.
        let after = ("#ops".to_string(), "40".to_string());
        let mut block = Catchup::new(Some(after.clone()), None);
        block.add(id("45"), None, false, 1, ());
        assert_eq!(block.ask_again_after(), Some(&after));
        // A late joiner's block: nothing to ask after (its last lines are).
        let joiner = Catchup::<()>::first_login();
        assert_eq!(joiner.ask_again_after(), None);
        assert!(joiner.is_first());
    }

    #[test]
    fn a_first_logins_replay_is_the_last_messages_not_news_since() {
        let mut block = Catchup::first_login();
        block.add(id("1"), Some(100), false, 1, ());
        block.add(id("2"), Some(200), true, 1, ());
        let (summary, _) = block.finish();
        assert_eq!(
            marker(&summary, Some("17:42")).as_deref(),
            Some("── the last 2 messages, 1 mentions you ──")
        );
        let mut one = Catchup::first_login();
        one.add(id("1"), Some(100), false, 1, ());
        let (summary, _) = one.finish();
        assert_eq!(
            marker(&summary, Some("17:42")).as_deref(),
            Some("── the last message ──")
        );
    }

    #[test]
    fn a_given_since_wins_over_the_first_lines_time() {
        let mut block = Catchup::new(None, Some(100));
        block.add(id("1"), Some(200), false, 1, ());
        assert_eq!(block.finish().0.since, Some(100));
    }

    #[test]
    fn a_block_past_its_bound_says_it_is_full() {
        let mut block = Catchup::new(None, None);
        block.add(id("1"), None, false, MOST_BYTES - 1, ());
        assert!(!block.full());
        block.add(id("2"), None, false, 1, ());
        assert!(block.full());
    }
}
