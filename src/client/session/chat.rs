//! What the session keeps between lines, grouped by what each part is
//! for, and showing a line.

use std::time::Instant;

use crate::client::connect::Writer;
use crate::client::lines::ServerLines;
use crate::client::pace::FALLBACK;
use crate::client::render::Colors;
use crate::protocol::limits::Limits;
use crate::protocol::name::Name;
use crate::protocol::password::Secret;

use super::block::{Again, Holding};
use crate::client::clock::Clock;
use crate::client::confirm::Confirm;
use crate::client::cursor::{stream_of, Cursor, Recent};
use crate::client::input::Screen;
use crate::client::lines::Incoming;
use crate::client::mention;
use crate::client::palette::Palette;
use crate::client::render::{self, Emphasis};
use crate::client::rooms::Rooms;
use crate::client::tags::{Labels, Reply, Tags};
use crate::client::Options;
use crate::protocol::message::classify;
use crate::protocol::sanitize::sanitize_bytes;

/// One connection to the server.
pub struct Connection {
    /// The server's lines.
    pub server: ServerLines,
    /// Our side of it.
    pub writer: Writer,
}

/// Who is talking, for the transcript, the pacing and coming back.
pub struct Me {
    /// The name the server took.
    pub name: Name,
    /// The room's password, kept (in memory only) to come back with.
    pub password: Option<Secret>,
    /// Our own lines are shown (typed on a terminal; a piped bot's are not).
    pub echo: bool,
    /// Input is piped: refused lines make the exit code a failure.
    pub piped: bool,
}

/// How lines look, decided by the caller from the flags and the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    /// The colours lines are printed in.
    pub colors: Colors,
    /// Each line shows its time.
    pub timestamps: bool,
    /// A mention or a private message rings the bell.
    pub bell: bool,
}

/// The room's limits as tagged mode states them (the label's bytes
/// included in `max`); what is missing is taken from `serve`'s defaults.
pub(super) fn tagged_limits(mode: &Tags) -> Limits {
    Limits {
        rate: mode.rate.unwrap_or(FALLBACK.rate),
        burst: mode.burst.unwrap_or(FALLBACK.burst),
        max_line_bytes: mode.max.unwrap_or(FALLBACK.max_line_bytes),
    }
}

/// Now, in milliseconds since the epoch.
pub(super) fn now_millis() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Everything the session keeps between lines.
pub(super) struct Chat<'a> {
    /// Where and how lines are shown.
    pub(super) view: View,
    /// Who we are (as logged in), and how our lines are shown.
    pub(super) me: Me,
    /// Our name now (it changes with `/nick`).
    pub(super) name: String,
    /// Our lines on their way.
    pub(super) mine: Mine,
    /// What we saw of the session, to come back to it.
    pub(super) seen: Seen,
    /// Catch-up blocks.
    pub(super) catch: Catching,
    /// Lines that wait for a catch-up after a reconnect.
    pub(super) waiting: Waiting,
    /// The rooms we are in, the current one, the ones known.
    pub(super) rooms: Rooms,
    /// Where and how to connect again.
    pub(super) options: &'a Options,
    /// Come back when the connection drops.
    pub(super) reconnect: bool,
}

/// Where and how lines are shown.
pub(super) struct View {
    pub(super) screen: Screen,
    pub(super) look: Look,
    /// Times for the stamps and the marker (local time).
    pub(super) clock: Clock,
    /// The colours of the names seen.
    pub(super) palette: Palette,
    /// Typed lines waiting for the room's pace, as last shown.
    sending: Option<usize>,
}

/// Our lines on their way.
#[derive(Default)]
pub(super) struct Mine {
    /// Our labeled lines awaiting their answer.
    pub(super) confirm: Confirm,
    /// The labels our lines get.
    pub(super) labels: Labels,
    /// Our rename, as the room's record of it will say (old name, new
    /// name), still to come: the server told us first, so it is not shown.
    pub(super) own_rename: Option<(String, String)>,
    /// The label of the `/rooms` asked at the start, for Tab after
    /// `/join`: its answer is learned, not shown.
    pub(super) quiet: Option<String>,
}

/// What we saw of the session, to come back to it.
#[derive(Default)]
pub(super) struct Seen {
    /// The token to resume the session with, once the server gave one.
    pub(super) token: Option<String>,
    /// The newest id seen of each stream (what a resume asks to replay
    /// after).
    pub(super) cursor: Cursor,
    /// The ids seen lately: a line is shown once.
    pub(super) recent: Recent,
    /// The id of the line that came last, whatever its stream.
    pub(super) latest: Option<String>,
    /// The time of the newest line seen (the marker's "since").
    pub(super) last_time: Option<u64>,
}

impl Seen {
    /// A line with these tags was shown: its id is its stream's newest.
    pub(super) fn id(&mut self, tags: &Tags) {
        if let Some(id) = &tags.id {
            self.cursor.set(stream_of(tags), id);
            self.latest = Some(id.clone());
        }
    }

    /// A line of `time` was seen.
    pub(super) fn at(&mut self, time: Option<u64>) {
        if let Some(time) = time {
            self.last_time = Some(self.last_time.map_or(time, |t| t.max(time)));
        }
    }
}

/// Catch-up blocks.
pub(super) struct Catching {
    /// A catch-up block being collected.
    pub(super) holding: Option<Holding>,
    /// The block held came short (or was refused): ask for it again so.
    pub(super) ask_again: Option<Again>,
    /// Inside a block the person asked for with `/history`: shown dimmed.
    pub(super) asked_block: bool,
    /// Coming back: the next block's "since" is when we left.
    pub(super) away_since: Option<u64>,
    /// The next block is the replay of the first login (the room's last
    /// messages), not what was missed while away.
    pub(super) first_block: bool,
}

/// Lines that wait for a catch-up after a reconnect.
#[derive(Default)]
pub(super) struct Waiting {
    /// The unanswered ones at the drop, then those typed while away.
    pub(super) lines: Option<(Vec<String>, Vec<String>)>,
    /// The input ended meanwhile: leave once they are sent.
    pub(super) end: bool,
}

impl<'a> Chat<'a> {
    pub(super) fn new(
        screen: Screen,
        look: Look,
        me: Me,
        options: &'a Options,
        reconnect: bool,
    ) -> Chat<'a> {
        let view = View {
            screen,
            look,
            clock: Clock::system(now_millis()),
            palette: Palette::new(look.colors),
            sending: None,
        };
        let catch = Catching {
            holding: None,
            ask_again: None,
            asked_block: false,
            away_since: None,
            first_block: true,
        };
        Chat {
            view,
            name: me.name.as_str().to_string(),
            me,
            mine: Mine::default(),
            seen: Seen::default(),
            catch,
            waiting: Waiting::default(),
            rooms: Rooms::default(),
            options,
            reconnect,
        }
    }

    /// The tags of the login line: the session to come back to, and
    /// `#main`'s newest id (the late joiner's block that follows is older:
    /// it does not move the cursor).
    pub(super) fn logged_in(&mut self, login: &Tags) {
        if let Some(token) = &login.session {
            self.seen.token = Some(token.clone());
        }
        if let Some(last) = &login.last {
            self.seen.cursor.set(stream_of(login), last);
            self.seen.latest = Some(last.clone());
        }
        self.seen.at(login.time);
    }

    /// The rooms changed: the prompt and Tab are told.
    pub(super) fn rooms_changed(&mut self) {
        let prompt = self.rooms.prompt().map(str::to_string);
        self.view.screen.rooms(prompt, self.rooms.known());
    }

    /// When the block held is given up on, if one is.
    pub(super) fn catching_up(&self) -> Option<Instant> {
        self.catch.holding.as_ref().map(|h| h.deadline)
    }

    /// Whether a dropped connection will be come back from.
    pub(super) fn may_come_back(&self) -> bool {
        self.reconnect && self.seen.token.is_some()
    }

    /// Shows one line: its time, the line (dimmed if `history`), and the
    /// bell if it calls for the person.
    pub(super) fn show(&mut self, incoming: &Incoming, history: bool) {
        if !history {
            // Who is online, for Tab: from live lines only, not the past.
            self.view.screen.heard(&incoming.tags);
        }
        let text = sanitize_bytes(&incoming.line);
        let calls = mention::calls(&classify(&text), &self.name);
        // A line of another of our rooms says which; an answer about a
        // room (joined, left, now talking in) names it in its words.
        let about_a_room = matches!(
            incoming.tags.reply,
            Some(Reply::Join | Reply::Leave | Reply::Switch)
        );
        let room = incoming.tags.room.as_deref();
        let room = room.filter(|room| !about_a_room && !self.rooms.is_current(room));
        self.view.show(
            incoming,
            Shown {
                history,
                calls,
                room,
            },
        );
    }

    /// Shows how many typed lines wait for the room's pace, when it changed.
    pub(super) fn show_sending(&mut self, waiting: Option<usize>) {
        if waiting != self.view.sending {
            self.view.sending = waiting;
            self.view.screen.sending(waiting);
        }
    }

    /// One of our lines was not sent, for `why`: marked in the transcript.
    pub(super) fn not_sent(&mut self, mine: &str, why: &str) {
        let marked = render::not_sent(mine, why, self.view.look.colors);
        self.view.screen.print(&marked);
    }
}

/// How one line is shown.
struct Shown<'r> {
    /// Replayed: dimmed, and no bell.
    history: bool,
    /// It calls for the person.
    calls: bool,
    /// The room it is of, if not the current one.
    room: Option<&'r str>,
}

impl View {
    /// Shows one line: its time, its room if not the current one, the line
    /// (dimmed if `history`), and the bell if it `calls` for the person
    /// (live).
    fn show(&mut self, incoming: &Incoming, shown: Shown<'_>) {
        let Shown {
            history,
            calls,
            room,
        } = shown;
        let mut out = String::new();
        if self.look.timestamps {
            if let Some(stamp) = incoming.tags.time.and_then(|t| self.clock.stamp(t)) {
                if let Some(day) = stamp.day {
                    let day = render::faint(&day, self.look.colors);
                    self.screen.print(&day);
                }
                out.push_str(&render::faint(&stamp.time, self.look.colors));
                out.push(' ');
            }
        }
        let emphasis = Emphasis {
            history,
            mention: calls,
        };
        if let Some(room) = room {
            out.push_str(&render::room(room, &mut self.palette, history));
        }
        out.push_str(&render::styled(&incoming.line, &mut self.palette, emphasis));
        if calls && !history && self.look.bell {
            out.push('\x07');
        }
        self.screen.print(&out);
    }

    pub(super) fn print_faint(&mut self, text: &str) {
        let text = render::faint(text, self.look.colors);
        self.screen.print(&text);
    }

    /// Hands the terminal back, `last` shown last.
    pub(super) fn finish(&mut self, last: Option<&str>) {
        let screen = std::mem::replace(&mut self.screen, Screen::Plain);
        screen.finish(last);
    }
}
