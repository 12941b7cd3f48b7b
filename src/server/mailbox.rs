//! Where a client's lines go, as the chat rules see it: the broker's
//! handle on a connection implements [`Mailbox`]; tests use an inbox.
//! Delivery never waits: a full queue answers false.

use std::sync::Arc;

use super::addrs::Host;
use super::outbox::BlockLines;

/// Where a client's lines go.
pub trait Mailbox {
    /// What deliveries add up to until the room's owner takes it (the
    /// server's: bytes added to the room's backlog).
    type Tally: Default;

    /// Queues one line (without its `\n`), adding its cost to `tally`.
    /// False when the queue is full.
    fn deliver(&self, line: &str, tally: &mut Self::Tally) -> bool;

    /// Queues a line that many recipients get: a queue may keep the one
    /// shared copy rather than its own.
    fn deliver_shared(&self, line: &Arc<String>, tally: &mut Self::Tally) -> bool {
        self.deliver(line, tally)
    }

    /// Queues a block (a history or resume block: header, lines, footer)
    /// whose lines may be made only as they are sent: it may be larger
    /// than the queue. All of it or none: false when it cannot be queued.
    fn deliver_block(&self, lines: BlockLines, tally: &mut Self::Tally) -> bool {
        lines.into_iter().all(|line| self.deliver(&line, tally))
    }

    /// Whether more than half its queue is waiting: private messages, which
    /// a few senders can aim at one person, may then not fill the rest.
    fn far_behind(&self) -> bool {
        false
    }

    /// Whether as many blocks wait unsent as may: one more is refused (and
    /// cuts the client off), so `/history` is answered with a refusal instead.
    fn blocks_full(&self) -> bool {
        false
    }

    /// The host the client connects from, to whom a held name goes back.
    fn host(&self) -> Option<Host> {
        None
    }

    /// Whether that host is trusted (`--trust-addr`): exempt from the
    /// cap of dropped sessions one host may keep.
    fn trusted(&self) -> bool {
        false
    }
}
