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
use crate::client::input::Typed;
use crate::client::pace::Paced;
use crate::client::reconnect::{self, Backoff};
use crate::client::resume::{self, Back, Fail, Who};
use crate::protocol::name::Name;
use crate::runtime;

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
        let back = self.attempts(&mut away, typed, &name, &token).await?;
        self.view.screen.status(None);
        let gone = reconnect::span(away.backoff.away(Instant::now()));
        typed.learn(tagged_limits(&back.mode), Instant::now());
        self.say_back(&back, &gone, &name);
        // A room whose ids started again: every id it has is new to us.
        self.seen.last_id = self.seen.last_id.min(back.after);
        if let Some(token) = &back.login.session {
            self.seen.token = Some(token.clone());
        }
        self.catch.away_since = self.seen.last_time;
        if let Some(label) = &back.history {
            // Everything until the answer to our `/history after` is held,
            // de-duplicated and shown in id order.
            let block = Catchup::new(self.seen.last_id, self.catch.away_since.take());
            let until = Until::Answer(label.clone());
            let holding = Holding::new(block, until, self.options.login_timeout);
            self.catch.holding = Some(holding);
        }
        self.waiting.lines = Some((away.unanswered, away.typed));
        Ok(Connection {
            server: back.server,
            writer: back.writer,
        })
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
        loop {
            let wait = runtime::sleep(away.backoff.wait());
            self.away_until(away, typed, wait).await?;
            let who = Who {
                name,
                password: password.as_ref(),
                token,
                last: self.seen.last_id,
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

    /// Says how the coming back went.
    fn say_back(&mut self, back: &Back, gone: &str, name: &Name) {
        let how = match (back.resumed, back.after < self.seen.last_id) {
            (true, _) => format!("Reconnected after {gone}; the session was resumed."),
            (false, false) => format!(
                "Reconnected after {gone}; the server no longer knew this session, so you \
                 logged in again as {name}: private messages sent to you meanwhile are lost."
            ),
            (false, true) => format!(
                "Reconnected after {gone}; the server restarted without keeping its history, \
                 so you logged in again as {name}: what was said before the restart is lost."
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
