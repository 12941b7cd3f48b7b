//! A line from the server: a block's header or footer, a line of a block
//! held, or a live line (ours confirmed, a refusal marked, the rest shown).
//! Every decision is taken from the line's tags.

use super::block::{answering, Again, Holding, Until};
use super::chat::{tagged_limits, Chat};
use crate::client::catchup::Catchup;
use crate::client::confirm::{self, Answer};
use crate::client::cursor::{same, Note};
use crate::client::lines::Incoming;
use crate::client::mention;
use crate::client::tags::{Block, Kept, Reply, Tags, MAX_LABEL_COST};
use crate::protocol::limits::Limits;
use crate::protocol::message::{classify, reply};
use crate::protocol::sanitize::sanitize_bytes;

impl Chat<'_> {
    /// A line from the server; returns lines of ours to send now (those
    /// waiting for the catch-up after a reconnect).
    pub(super) fn heard(&mut self, incoming: Incoming) -> Vec<String> {
        if let Some(Reply::Nick { name }) = &incoming.tags.reply {
            let old = std::mem::replace(&mut self.name, name.clone());
            self.mine.own_rename = Some((old, name.clone()));
        }
        // Rooms first: the line itself is then shown as of its room.
        if self.rooms.heard(&incoming.tags) {
            self.rooms_changed();
        }
        if incoming.tags.re.is_some() && incoming.tags.re == self.mine.quiet {
            // The answer to the `/rooms` asked for Tab: learned, not shown.
            return Vec::new();
        }
        if let (Some(last), Some(room)) = (&incoming.tags.last, &incoming.tags.room) {
            // Entering a room: its newest id (its block, older, follows).
            self.seen.cursor.set(room, last);
        }
        match incoming.tags.block {
            Some(Block::Start { count, missed }) => {
                self.block_start(incoming, count, missed);
                Vec::new()
            }
            Some(Block::End) => self.block_end(incoming),
            None if self.catch.holding.is_some() => self.held(incoming),
            None => {
                self.live(incoming);
                Vec::new()
            }
        }
    }

    /// A block's header: a block to hold (the login's, a resume's, the
    /// answer to asking again), or the person's own `/history`, shown.
    fn block_start(&mut self, incoming: Incoming, count: u64, missed: u64) {
        if let Some(holding) = &mut self.catch.holding {
            match holding.asked_again {
                0 => holding.block.missed(missed),
                // The same point asked again: the same loss, and the same
                // lines, which fill the holes in place.
                _ => {
                    holding.block.missed_at_least(missed);
                    holding.block.again();
                }
            }
            (holding.promised, holding.came) = (count, 0);
            return;
        }
        let re = incoming.tags.re.as_deref();
        if re.is_some_and(|re| self.mine.confirm.knows(re)) {
            // The person's own `/history`: shown as the server says it,
            // and answered (not taken for dropped by a later answer).
            self.mine.confirm.heard(re, None);
            self.catch.asked_block = true;
            let header = Incoming {
                tags: incoming.tags.clone(),
                line: without_utc(&incoming.line),
            };
            self.show(&header, true);
            return;
        }
        let mut block = match std::mem::take(&mut self.catch.first_block) {
            true => Catchup::first_login(),
            false => Catchup::new(self.main_point(), self.catch.away_since.take()),
        };
        block.missed(missed);
        let mut holding = Holding::new(block, Until::End, self.options.login_timeout);
        holding.promised = count;
        self.catch.holding = Some(holding);
    }

    /// A block's footer: the person's `/history` ends, or the block held
    /// is whole (or asked for again, if it came short).
    fn block_end(&mut self, incoming: Incoming) -> Vec<String> {
        if self.catch.asked_block {
            self.catch.asked_block = false;
            self.show(&incoming, true);
            return Vec::new();
        }
        let ours = match &self.catch.holding {
            Some(h) => h.until == Until::End || h.until == answering(&incoming.tags),
            None => false,
        };
        if !ours {
            return Vec::new();
        }
        if let Some(again) = self.came_short() {
            // Held on: the answer to asking again ends it.
            self.catch.ask_again = Some(again);
            return Vec::new();
        }
        self.caught_up(None)
    }

    /// A line while a block is held: into the block.
    fn held(&mut self, incoming: Incoming) -> Vec<String> {
        let tags = &incoming.tags;
        let Some(holding) = &mut self.catch.holding else {
            return Vec::new();
        };
        if matches!(holding.until, Until::Answer(_)) && holding.until == answering(tags) {
            if std::mem::take(&mut holding.again_login) {
                // Logged in again, and the server knows none of the ids we
                // saw: it restarted without keeping its history. What it
                // has now is all new to us: its last messages.
                self.catch.ask_again = Some(Again::Last(None));
                self.restarted();
                return Vec::new();
            }
            // Our `/history after` refused (a room that keeps no history).
            let why = sanitize_bytes(&incoming.line).into_owned();
            return self.caught_up(Some(why));
        }
        // Every line of the block counts as come, shown or not.
        holding.came += u64::from(tags.history);
        // Our own arrival on logging in again: not shown (as live) nor
        // counted as news.
        if tags.id.is_some() && is_join_of(tags, &self.name) {
            return Vec::new();
        }
        // A line already shown (live before the drop, or in a room's block
        // when joining it again): once only. An id given to another line
        // than before: the server lost what we saw.
        let note = self.seen.recent.note(tags, &incoming.line);
        if note == Note::Reused && holding.again_login {
            self.restarted();
        }
        let text = sanitize_bytes(&incoming.line);
        let calls = mention::calls(&classify(&text), &self.name);
        let (same, time, size) = (same(tags, &incoming.line), tags.time, incoming.line.len());
        let Some(holding) = &mut self.catch.holding else {
            return Vec::new();
        };
        match (note, same) {
            (Note::Again, Some(same)) => holding.block.passed(&same),
            (Note::Again, None) => {}
            (_, same) => {
                holding.block.add(same, time, calls, size, incoming);
            }
        }
        if holding.block.full() {
            return self.caught_up(None);
        }
        Vec::new()
    }

    /// The server lost what we saw (it restarted without its history):
    /// said once the catch-up is whole.
    fn restarted(&mut self) {
        if let Some(holding) = &mut self.catch.holding {
            holding.restarted = true;
        }
    }

    /// A live line (or one of the person's own `/history`).
    fn live(&mut self, incoming: Incoming) {
        let tags = &incoming.tags;
        // A live line already shown in a catch-up (or twice): once only.
        // (Replayed ones are noted too: a room's block when joining it
        // again after a drop shows none of them twice.)
        let note = self.seen.recent.note(tags, &incoming.line);
        if tags.id.is_some() && !tags.history && !self.catch.asked_block {
            if note == Note::Again {
                return;
            }
            self.seen.id(tags);
        }
        self.seen.at(tags.time);
        let ours = tags
            .re
            .as_deref()
            .is_some_and(|re| self.mine.confirm.knows(re));
        if !self.answered(&incoming) {
            return;
        }
        // A piped bot's own messages are not printed back; its private
        // one's `To Bob (private): …` always is.
        let private = matches!(tags.kept, Some(Kept::Private { .. }));
        if ours && tags.id.is_some() && !self.me.echo && !private {
            return;
        }
        // Our own join's echo: nobody is shown their own arrival.
        if tags.id.is_some() && !tags.history && is_join_of(tags, &self.name) {
            return;
        }
        let history = tags.history || self.catch.asked_block;
        if !history && self.told_own_rename(tags) {
            return;
        }
        if let (Some(Reply::Limits), true) = (&tags.reply, ours) {
            // The person's `/limits`: the longest line they can type, as a
            // refusal of a longer one says it (our label takes the rest).
            let limits = tagged_limits(tags);
            let typed = Limits {
                max_line_bytes: limits.max_line_bytes.saturating_sub(MAX_LABEL_COST),
                ..limits
            };
            let line = reply::limits(&typed).into_bytes();
            let told = Incoming { line, ..incoming };
            self.show(&told, history);
            return;
        }
        self.show(&incoming, history);
    }

    /// Our lines that `incoming` answers, marked not sent if it refuses
    /// them (or passed over them). False when it is then not to be shown.
    fn answered(&mut self, incoming: &Incoming) -> bool {
        let tags = &incoming.tags;
        let text = sanitize_bytes(&incoming.line);
        let error = tags.error.map(|error| (error, confirm::why(&text)));
        match self.mine.confirm.heard(tags.re.as_deref(), error) {
            Answer::Show => true,
            Answer::Refused(refused) => {
                for (mine, why) in refused {
                    self.not_sent(&mine, &why);
                }
                tags.error.is_none()
            }
        }
    }

    /// Whether `tags` are of the room's record of the rename the server
    /// already told us of: then the editor learns of it (for Tab), and it
    /// is not shown twice.
    fn told_own_rename(&mut self, tags: &Tags) -> bool {
        let ours = match (&tags.kept, &self.mine.own_rename) {
            (Some(Kept::Rename { from, new }), Some((old, now))) => from == old && new == now,
            _ => false,
        };
        if ours {
            self.mine.own_rename = None;
            self.view.screen.heard(tags);
        }
        ours
    }
}

/// Whether `tags` are of `name`'s arrival.
fn is_join_of(tags: &Tags, name: &str) -> bool {
    matches!(&tags.kept, Some(Kept::Join { from }) if from == name)
}

/// A history header as the person reads it: the server tells a plain
/// client its lines' times are UTC, but here each line shows the local
/// time from its tag (or none), so the header does not say UTC. (Only
/// how it is shown: a header in other words is shown as it is.)
fn without_utc(line: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(line)
        .replace(" (times UTC):", ":")
        .replace("; times UTC):", "):")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::without_utc;

    #[test]
    fn a_history_header_does_not_say_utc_to_someone_shown_local_times() {
        let said = |line: &str| String::from_utf8(without_utc(line.as_bytes())).ok();
        assert_eq!(
            said("Server: The last 3 messages (times UTC):").as_deref(),
            Some("Server: The last 3 messages:")
        );
        assert_eq!(
            said("Server: 2 messages after id 7 (5 older are no longer kept; times UTC):")
                .as_deref(),
            Some("Server: 2 messages after id 7 (5 older are no longer kept):")
        );
        assert_eq!(said("Ann: times UTC").as_deref(), Some("Ann: times UTC"));
    }
}
