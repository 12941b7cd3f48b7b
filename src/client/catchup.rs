//! Catching up: the history the server replays after a login or a resume
//! (and, when a session could not be resumed, the answer to our
//! `/history after LAST`) is held until its end, de-duplicated by id and put
//! in id order, then shown as one block under a marker line:
//! `── 14 new since 17:42, 3 mention you ──`. Pure: items in, the block out.
//!
//! A block whose footer came before as many lines as its header promised
//! (`history=N`) is not complete: the caller asks again from where the
//! block began ([`Catchup::ask_again_after`]) rather than call it so.

use std::collections::BTreeMap;

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
}

/// Lines held past this many bytes are not held: the block is shown
/// as it stands and the rest as it comes (a server replaying without end
/// must not fill our memory).
pub const MOST_BYTES: usize = 8 << 20;

/// A block being collected.
#[derive(Debug)]
pub struct Catchup<T> {
    /// Lines with an id, by id: each once, in order.
    by_id: BTreeMap<u64, T>,
    /// Lines without an id, in the order they came.
    others: Vec<T>,
    /// Ids up to this one were seen before: dropped.
    seen_through: u64,
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
}

impl<T> Catchup<T> {
    /// A block of what came after id `seen_through` (0: nothing seen yet);
    /// `since`: when the person was last here, if they were.
    pub fn new(seen_through: u64, since: Option<u64>) -> Catchup<T> {
        Catchup {
            by_id: BTreeMap::new(),
            others: Vec::new(),
            seen_through,
            mentions: 0,
            missed: 0,
            short: 0,
            since,
            bytes: 0,
        }
    }

    /// Adds one line (`size` bytes); false if it was dropped as seen.
    pub fn add(
        &mut self,
        id: Option<u64>,
        time: Option<u64>,
        calls: bool,
        size: usize,
        item: T,
    ) -> bool {
        match id {
            Some(id) if id <= self.seen_through || self.by_id.contains_key(&id) => return false,
            Some(id) => {
                self.by_id.insert(id, item);
            }
            None => self.others.push(item),
        }
        self.since = self.since.or(time);
        self.mentions += u64::from(calls);
        self.bytes = self.bytes.saturating_add(size);
        true
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

    /// The id to ask `/history after` from when a block came short: the
    /// id it was collected after, or, for a block of the last messages
    /// (a late joiner's: nothing seen before), the one before its oldest
    /// line. Not the newest line held: ids have gaps (others' private
    /// messages), so a hole in the middle cannot be told from a gap, and
    /// what is asked again from the start is held once (by id) anyway.
    /// None when there is nothing to ask from.
    pub fn ask_again_after(&self) -> Option<u64> {
        if self.seen_through > 0 {
            return Some(self.seen_through);
        }
        let oldest = self.by_id.keys().next()?;
        Some(oldest - 1)
    }

    /// Whether it holds as much as it may.
    pub fn full(&self) -> bool {
        self.bytes >= MOST_BYTES
    }

    /// The newest id held, if any.
    pub fn newest(&self) -> Option<u64> {
        self.by_id.keys().next_back().copied()
    }

    /// The block: its summary, and its lines in order.
    pub fn finish(self) -> (Summary, Vec<T>) {
        let count = (self.by_id.len() + self.others.len()) as u64;
        let summary = Summary {
            count,
            mentions: self.mentions,
            missed: self.missed,
            short: self.short,
            since: self.since,
        };
        let mut lines: Vec<T> = self.by_id.into_values().collect();
        lines.extend(self.others);
        (summary, lines)
    }
}

/// The marker line: `── 14 new since 17:42, 3 mention you ──`; `since` is
/// the summary's time as shown. None when there is nothing to say.
pub fn marker(summary: &Summary, since: Option<&str>) -> Option<String> {
    if summary.count == 0 && summary.missed == 0 && summary.short == 0 {
        return None;
    }
    let mut text = match (summary.count, since) {
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
    fn a_block_is_shown_once_in_id_order_without_what_was_seen() {
        let mut block = Catchup::new(10, None);
        assert!(!block.add(Some(9), Some(1), false, 1, "seen"));
        assert!(block.add(Some(13), Some(3), false, 1, "c"));
        assert!(block.add(Some(11), Some(2), true, 1, "a"));
        assert!(!block.add(Some(13), Some(3), false, 1, "c again"));
        assert!(block.add(None, Some(4), false, 1, "no id"));
        assert_eq!(block.newest(), Some(13));
        let (summary, lines) = block.finish();
        assert_eq!(lines, ["a", "c", "no id"]);
        assert_eq!(
            summary,
            Summary {
                count: 3,
                mentions: 1,
                missed: 0,
                short: 0,
                since: Some(3)
            }
        );
    }

    #[test]
    fn the_marker_counts_new_lines_mentions_and_what_was_lost() {
        let summary = |count, mentions, missed| Summary {
            count,
            mentions,
            missed,
            short: 0,
            since: Some(0),
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
        let mut block = Catchup::new(40, None);
        block.add(Some(45), None, false, 1, ());
        assert_eq!(block.ask_again_after(), Some(40));
        // A late joiner's block: from just before its oldest line.
        let mut joiner = Catchup::new(0, None);
        assert_eq!(joiner.ask_again_after(), None, "nothing to ask from");
        joiner.add(Some(9), None, false, 1, ());
        joiner.add(Some(7), None, false, 1, ());
        assert_eq!(joiner.ask_again_after(), Some(6));
    }

    #[test]
    fn a_given_since_wins_over_the_first_lines_time() {
        let mut block = Catchup::new(0, Some(100));
        block.add(Some(1), Some(200), false, 1, ());
        assert_eq!(block.finish().0.since, Some(100));
    }

    #[test]
    fn a_block_past_its_bound_says_it_is_full() {
        let mut block = Catchup::new(0, None);
        block.add(Some(1), None, false, MOST_BYTES - 1, ());
        assert!(!block.full());
        block.add(Some(2), None, false, 1, ());
        assert!(block.full());
    }
}
