//! A catch-up block (the login's, a resume's) held until it is whole,
//! asked for again if it came short, then shown under its marker; and our
//! lines the drop left unanswered, found in it or sent again.

use std::time::Instant;

use super::block::{Again, Until};
use super::chat::Chat;
use crate::client::catchup::{self, Point};
use crate::client::confirm;
use crate::client::connect::Writer;
use crate::client::cursor::MAIN;
use crate::client::lines::{send_line, Incoming};
use crate::client::tags::{self, Kept};
use crate::protocol::message::{parse_input, Input};
use crate::protocol::sanitize::sanitize_bytes;

/// How many times a block that came short is asked for again before what
/// came is shown as it is (with the shortfall said). Our server never
/// sends one (a block it cannot send whole ends the connection, and the
/// resume asks again); an older or a broken one might, every time.
const MOST_ASKED_AGAIN: u32 = 2;

impl Chat<'_> {
    /// The footer of the block held came: if fewer lines came than its
    /// header promised, how to ask for it again (while we may), else
    /// None, the shortfall noted for the marker if there was one.
    pub(super) fn came_short(&mut self) -> Option<Again> {
        let holding = self.catch.holding.as_mut()?;
        let short = holding.promised.saturating_sub(holding.came);
        if short == 0 {
            return None;
        }
        let again = match holding.block.ask_again_after() {
            Some(point) => Some(Again::After(point.clone())),
            // A first login's last messages: the last ones again.
            None if holding.block.is_first() => Some(Again::Last(Some(holding.promised))),
            None => None,
        };
        if holding.asked_again >= MOST_ASKED_AGAIN || again.is_none() {
            holding.block.short(short);
            return None;
        }
        holding.asked_again += 1;
        again
    }

    /// `#main` and its newest id seen, if one was: where a block of it
    /// starts from.
    pub(super) fn main_point(&self) -> Option<Point> {
        let id = self.seen.cursor.of(MAIN)?;
        Some((MAIN.to_string(), id.to_string()))
    }

    /// Asks for the block again as [`Chat::came_short`] (or a refusal)
    /// said, if it did: the block held is then ended by its answer.
    /// Labeled apart from the person's lines, so that its answer is held,
    /// not shown as theirs. A connection gone meanwhile is noticed by the
    /// next read.
    pub(super) async fn ask_again(&mut self, writer: &mut Writer) {
        let Some(again) = self.catch.ask_again.take() else {
            return;
        };
        let Some(holding) = &mut self.catch.holding else {
            return;
        };
        let label = self.mine.labels.next();
        holding.until = Until::Answer(label.clone());
        holding.deadline = Instant::now() + self.options.login_timeout;
        let asked = match again {
            Again::After((room, id)) => tags::history_after(&room, &id),
            Again::Last(Some(n)) => format!("/history {n}"),
            Again::Last(None) => "/history".to_string(),
        };
        let _ = send_line(writer, &tags::labeled(&label, &asked)).await;
    }

    /// Logged in again, the server had none of what we saw: said once.
    fn say_restarted(&mut self) {
        let how = "the server restarted without keeping its history: \
                   what was said before the restart is lost";
        match self.view.screen.is_editor() {
            true => self.view.print_faint(&format!("── {how} ──")),
            false => eprintln!("sockchat: {how}"),
        }
    }

    /// The block held is complete (or `refused`: the server could not give
    /// it): the marker, then the block; then what waited for it.
    pub(super) fn caught_up(&mut self, refused: Option<String>) -> Vec<String> {
        let Some(holding) = self.catch.holding.take() else {
            return Vec::new();
        };
        if holding.restarted {
            self.say_restarted();
        }
        let (summary, lines) = holding.block.finish();
        let since = summary.since.and_then(|since| self.view.clock.short(since));
        if let Some(marker) = catchup::marker(&summary, since.as_deref()) {
            self.view.print_faint(&marker);
        }
        if let Some(why) = refused {
            let why = confirm::why(&why);
            self.view.print_faint(&format!(
                "── what was said while you were away could not be recovered: {why} ──"
            ));
        }
        let mut resend = self.waiting.lines.take();
        for line in &lines {
            self.seen.at(line.tags.time);
            // In order: each stream's last is its newest. (A first login's
            // are older than the login's `last`, already taken.)
            if !summary.first {
                self.seen.id(&line.tags);
            }
            if let Some((unanswered, _)) = &mut resend {
                self.arrived(line, unanswered);
            }
            self.show(line, true);
        }
        match resend {
            Some((mut unanswered, away)) => {
                unanswered.extend(away);
                unanswered
            }
            None => Vec::new(),
        }
    }

    /// A line of ours the server got before the drop is in the block: it
    /// is shown there, and taken out of `unanswered` (not sent again).
    fn arrived(&mut self, line: &Incoming, unanswered: &mut Vec<String>) {
        // Our rename the room took (its answer lost with the link): our
        // lines after it are under the new name.
        if let Some(Kept::Rename { from, new }) = &line.tags.kept {
            if *from == self.name {
                self.name.clone_from(new);
                let nick = |mine: &String| parse_input(mine) == Input::Nick(new);
                if let Some(at) = unanswered.iter().position(nick) {
                    unanswered.remove(at);
                }
            }
        }
        let text = sanitize_bytes(&line.line);
        let name = &self.name;
        let shown = |mine: &String| confirm::as_shown(name, mine).as_deref() == Some(&*text);
        if let Some(at) = unanswered.iter().position(shown) {
            unanswered.remove(at);
        }
    }
}
