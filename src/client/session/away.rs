//! The connection dropped: come back (resuming the session) while the
//! status shows how long we have been away and what is typed is kept.

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::future::pending;
use futures::FutureExt;

use super::block::{Holding, Until};
use super::chat::{tagged_limits, Chat, Connection};
use crate::client::catchup::Catchup;
use crate::client::connect::Writer;
use crate::client::cursor::{MAIN, PRIVATE};
use crate::client::input::Typed;
use crate::client::lines::send_line;
use crate::client::pace::Paced;
use crate::client::reconnect::{self, Backoff};
use crate::client::resume::{self, Back, Fail, Who};
use crate::client::tags;
use crate::protocol::name::Name;
use crate::protocol::room::RoomName;
use crate::runtime;

/// Whether `room` is `#main`.
fn is_main(room: &str) -> bool {
    same_room(room, MAIN)
}

/// Whether two names (as shown) are one room.
fn same_room(a: &str, b: &str) -> bool {
    match (RoomName::parse(a), RoomName::parse(b)) {
        (Ok(a), Ok(b)) => a.key() == b.key(),
        _ => false,
    }
}

/// Lines typed while away that are kept to send after; past it, the
/// input waits (the editor keeps the rest).
const MOST_TYPED_AWAY: usize = 256;

/// How often the reconnect status is redrawn (its spinner and time away).
const STATUS_TICK: Duration = Duration::from_millis(250);

/// The spinner's frames.
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// While the connection is down: what the status says and what waits.
struct Away {
    /// Where we are reconnecting to, as shown.
    address: String,
    /// Our lines unanswered at the drop, to send again once back.
    unanswered: Vec<String>,
    /// Lines typed while away, to send once back.
    typed: Vec<String>,
    /// The waits between attempts, and how long we have been away.
    backoff: Backoff,
    /// Why the last attempt failed, in a few words.
    last_error: Option<String>,
    /// The spinner's frame.
    tick: usize,
}

impl Away {
    fn waiting(&self) -> usize {
        self.unanswered.len() + self.typed.len()
    }
}

impl Chat<'_> {
    /// The connection dropped: come back if we may, keeping what is typed
    /// meanwhile; else say so and end.
    pub(super) async fn come_back(&mut self, typed: &mut Paced) -> Result<Connection, ExitCode> {
        let Some(token) = self.seen.token.clone().filter(|_| self.may_come_back()) else {
            return Err(self.left());
        };
        let mut away = self.went_away();
        let name = Name::parse(&self.name).unwrap_or_else(|_| self.me.name.clone());
        let mut back = self.attempts(&mut away, typed, &name, &token).await?;
        self.view.screen.status(None);
        let gone = reconnect::span(away.backoff.away(Instant::now()));
        typed.learn(tagged_limits(&back.mode), Instant::now());
        self.say_back(&back, &gone, &name);
        if let Some(token) = &back.login.session {
            self.seen.token = Some(token.clone());
        }
        self.catch.away_since = self.seen.last_time;
        if !back.resumed {
            // Everything until the answer to our last `/history after` is
            // held, de-duplicated and shown in order.
            let label = self.join_again(&mut back.writer).await;
            let block = Catchup::new(self.main_point(), self.catch.away_since.take());
            let until = Until::Answer(label);
            let mut holding = Holding::new(block, until, self.options.login_timeout);
            holding.again_login = true;
            self.catch.holding = Some(holding);
        }
        self.waiting.lines = Some((away.unanswered, away.typed));
        Ok(Connection {
            server: back.server,
            writer: back.writer,
        })
    }

    /// Logged in again (the session was gone): into our rooms again (the
    /// current one current again), then what each said since the newest
    /// line we saw of it, `#main`'s asked last. The label of that last
    /// ask, whose answer ends the catch-up. Sends that fail are noticed by
    /// the next read.
    async fn join_again(&mut self, writer: &mut Writer) -> String {
        let rooms: Vec<String> = self.rooms.joined().map(str::to_string).collect();
        let current = self.rooms.current().to_string();
        self.rooms.logged_in_again();
        let mut lines: Vec<String> = rooms
            .iter()
            .filter(|room| !is_main(room))
            .map(|room| format!("/join {room}"))
            .collect();
        if !rooms.iter().any(|room| is_main(room)) {
            lines.push(format!("/leave {MAIN}"));
        }
        if rooms.last() != Some(&current) {
            lines.push(format!("/switch {current}"));
        }
        let mut asks: Vec<(String, String)> = self
            .seen
            .cursor
            .rooms()
            .filter(|(room, _)| rooms.iter().any(|r| same_room(r, room)))
            .map(|(room, id)| (room.to_string(), id.to_string()))
            .collect();
        asks.sort_by_key(|(room, _)| is_main(room));
        lines.extend(asks.iter().map(|(room, id)| tags::history_after(room, id)));
        if asks.is_empty() {
            // Nothing seen yet: the room's last messages.
            lines.push("/history".to_string());
        }
        let mut label = String::new();
        for line in lines {
            label = self.mine.labels.next();
            self.rooms.sent(&label, &line);
            let _ = send_line(writer, &tags::labeled(&label, &line)).await;
        }
        label
    }

    /// What waits while we are away: our unanswered lines (those still
    /// waiting from an earlier drop first); a block half-received is
    /// forgotten (the resume asks for it again).
    fn went_away(&mut self) -> Away {
        let mut unanswered = self.mine.confirm.unanswered();
        let mut typed = Vec::new();
        if let Some((earlier, waiting)) = self.waiting.lines.take() {
            unanswered = earlier.into_iter().chain(unanswered).collect();
            typed = waiting;
        }
        self.catch.holding = None;
        self.catch.ask_again = None;
        self.catch.first_block = false;
        self.catch.asked_block = false;
        let away = Away {
            address: self.options.address.to_string(),
            unanswered,
            typed,
            backoff: Backoff::new(Instant::now()),
            last_error: None,
            tick: 0,
        };
        if !self.view.screen.is_editor() {
            let address = &away.address;
            eprintln!("sockchat: lost the connection; reconnecting to {address}…");
        }
        away
    }

    /// Tries to come back, with waits between the attempts, until one
    /// works or cannot ever.
    async fn attempts(
        &mut self,
        away: &mut Away,
        typed: &mut Paced,
        name: &Name,
        token: &str,
    ) -> Result<Back, ExitCode> {
        // Kept apart from `self` while an attempt runs, as the status and
        // the keys are looked after meanwhile.
        let password = self.me.password.clone();
        let options = self.options;
        let latest = self.seen.latest.clone();
        loop {
            let wait = runtime::sleep(away.backoff.wait());
            self.away_until(away, typed, wait).await?;
            let who = Who {
                name,
                password: password.as_ref(),
                token,
                cursor: self.cursor_of_rooms(),
                latest: latest.as_deref(),
            };
            let mut labels = std::mem::take(&mut self.mine.labels);
            let attempt = resume::come_back(options, &who, &mut labels);
            let tried = self.away_until(away, typed, attempt).await;
            self.mine.labels = labels;
            match tried? {
                Ok(back) => return Ok(back),
                Err(Fail::Again(why)) => away.last_error = Some(why),
                Err(Fail::Fatal(why)) => {
                    self.view.screen.status(None);
                    // The terminal handed back first; the error on stderr.
                    self.view.finish(None);
                    eprintln!("sockchat: {why:#}");
                    return Err(self.exit(ExitCode::FAILURE));
                }
            }
        }
    }

    /// The newest id seen of each stream we are in (the rooms we left
    /// have nothing to catch up on), as `/resume` takes it.
    fn cursor_of_rooms(&self) -> String {
        let mut cursor = self.seen.cursor.clone();
        let rooms: Vec<&str> = self.rooms.joined().collect();
        cursor.retain(|stream| stream == PRIVATE || rooms.iter().any(|r| same_room(r, stream)));
        cursor.wire()
    }

    /// Says how the coming back went.
    fn say_back(&mut self, back: &Back, gone: &str, name: &Name) {
        let how = match back.resumed {
            true => format!("Reconnected after {gone}; the session was resumed."),
            false => format!(
                "Reconnected after {gone}; the server no longer knew this session, so you \
                 logged in again as {name}: private messages sent to you meanwhile are lost."
            ),
        };
        match self.view.screen.is_editor() {
            true => self.view.print_faint(&format!("── {how} ──")),
            false => eprintln!("sockchat: {how}"),
        }
    }

    /// Shows the reconnect status and keeps what is typed until `done`
    /// finishes (the wait before an attempt, or the attempt itself, which
    /// may wait long for a server that does not answer). Err: the person
    /// left meanwhile.
    async fn away_until<T>(
        &mut self,
        away: &mut Away,
        typed: &mut Paced,
        done: impl Future<Output = T>,
    ) -> Result<T, ExitCode> {
        let done = done.fuse();
        futures::pin_mut!(done);
        loop {
            self.show_away(away);
            let nap = runtime::sleep(STATUS_TICK).fuse();
            let reading = away.typed.len() < MOST_TYPED_AWAY && !self.waiting.end;
            let input = async {
                match reading {
                    true => typed.next().await,
                    false => pending().await,
                }
            }
            .fuse();
            futures::pin_mut!(nap, input);
            futures::select! {
                got = done => return Ok(got),
                () = nap => {}
                got = input => self.typed_away(away, got)?,
            }
        }
    }

    /// The reconnect status, its spinner one frame on.
    fn show_away(&mut self, away: &mut Away) {
        let status = reconnect::status(
            &away.address,
            away.backoff.away(Instant::now()),
            away.waiting(),
            away.last_error.as_deref(),
        );
        away.tick += 1;
        let frame = SPINNER[away.tick % SPINNER.len()];
        self.view.screen.status(Some(format!("{frame} {status}")));
    }

    /// Something typed while away: kept, or (the person left) the end.
    fn typed_away(&mut self, away: &mut Away, got: Option<Typed>) -> Result<(), ExitCode> {
        match got {
            Some(Typed::Line(line)) => away.typed.push(line),
            Some(Typed::TooLong) => self.too_long_here(),
            // A script's input ended: its last lines go once back.
            Some(Typed::Eof) | None if self.me.piped => self.waiting.end = true,
            Some(Typed::Eof | Typed::Interrupted) | None => {
                self.view.screen.status(None);
                let last = match away.waiting() {
                    0 => None,
                    1 => Some("sockchat: left while away: 1 line you typed was not sent".into()),
                    n => Some(format!(
                        "sockchat: left while away: {n} lines you typed were not sent"
                    )),
                };
                return Err(self.finish(last.as_deref(), ExitCode::SUCCESS));
            }
        }
        Ok(())
    }
}
