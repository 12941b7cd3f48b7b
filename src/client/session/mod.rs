//! The chat itself, once logged in: print what the server sends, send what
//! is typed, and leave cleanly when either side ends. It stamps each line
//! with its time, confirms our own lines by their echo, shows replayed
//! history as a dimmed block under a marker, calls the person's attention
//! to mentions, and, when the connection drops, comes back (resuming the
//! session) without losing a line either way. What a line means is read
//! from its tags ([`super::tags`]), never from the server's words.
//!
//! - this file: the loop, and what it waits for;
//! - [`chat`]: what the session keeps between lines, and showing them;
//! - [`heard`]: a line from the server;
//! - [`held`]: a catch-up block held until it is whole;
//! - [`away`]: coming back after the connection dropped;
//! - [`send`]: sending what is typed, and leaving.

mod away;
mod chat;
mod heard;
mod held;
mod send;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::future::pending;
use futures::FutureExt;

use super::connect::Writer;
use super::input::{Screen, Typed};
use super::lines::{Incoming, ServerLines};
use super::login::Tagged;
use super::pace::{Paced, FALLBACK};
use super::render::Colors;
use super::tags::Tags;
use super::Options;
use crate::protocol::limits::Limits;
use crate::protocol::name::Name;
use crate::protocol::password::Secret;
use crate::runtime;
use chat::Chat;

/// After we stop sending, how long the server has to close its side.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the person sees when the server hangs up on them.
pub const SERVER_LEFT: &str = "Server left.";

/// What happened next in the session.
enum Next {
    /// A line from the server; None or an error: it is gone.
    Server(std::io::Result<Option<Box<Incoming>>>),
    /// Something typed; None: the input side is gone.
    Typed(Option<Typed>),
    /// We are leaving and the server has not closed its side in time.
    CloseTimedOut,
    /// The end of a catch-up block did not come in time.
    CatchupTimedOut,
}

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

/// Where the loop stands between events.
struct Loop {
    /// What is typed, at the room's pace.
    typed: Paced,
    /// Since when we are leaving: once we stop sending (Ctrl-D, Ctrl-C,
    /// /quit, end of piped input) the server closes its side after the
    /// last lines; until then we keep reading.
    leaving: Option<Instant>,
    /// The input is still read.
    typing: bool,
}

/// What the loop does after an event.
enum Then {
    Go,
    /// The session is over, with this code.
    End(ExitCode),
}

/// Shows the room and sends what is typed, until one side ends.
#[allow(clippy::too_many_arguments)]
pub async fn session(
    mut conn: Connection,
    screen: Screen,
    typed: mpsc::Receiver<Typed>,
    look: Look,
    me: Me,
    tagged: Box<Tagged>,
    options: &Options,
    reconnect: bool,
) -> ExitCode {
    let mut chat = Chat::new(screen, look, me, options, reconnect);
    let mut typed = Paced::new(typed, Instant::now());
    typed.learn(tagged_limits(&tagged.mode), Instant::now());
    chat.logged_in(&tagged.login);
    let mut state = Loop {
        typed,
        leaving: None,
        typing: true,
    };
    loop {
        let waiting = state
            .typing
            .then(|| state.typed.waiting(Instant::now()))
            .flatten();
        chat.show_sending(waiting);
        let input = state.typing.then_some(&mut state.typed);
        let catching_up = chat.catching_up();
        let next = next(&mut conn.server, input, state.leaving, catching_up).await;
        if let Then::End(code) = chat.step(&mut conn, &mut state, next).await {
            return code;
        }
    }
}

impl Chat<'_> {
    /// One event of the loop.
    async fn step(&mut self, conn: &mut Connection, state: &mut Loop, next: Next) -> Then {
        match next {
            Next::Server(Ok(Some(incoming))) => {
                let waited = self.heard(*incoming);
                self.ask_again(&mut conn.writer).await;
                state.typing |= self.send_waited(&mut state.typed, waited);
            }
            Next::Server(Ok(None) | Err(_)) if state.leaving.is_some() => {
                return Then::End(self.finish(None, ExitCode::SUCCESS));
            }
            Next::Server(Ok(None) | Err(_)) => match self.come_back(&mut state.typed).await {
                Ok(back) => *conn = back,
                Err(code) => return Then::End(code),
            },
            Next::Typed(Some(typed)) => return self.typed(conn, state, typed).await,
            Next::Typed(None) => return self.typed(conn, state, Typed::Eof).await,
            Next::CloseTimedOut => return Then::End(self.finish(None, ExitCode::SUCCESS)),
            Next::CatchupTimedOut => {
                let secs = self.options.login_timeout.as_secs();
                let why = format!("the server did not answer within {secs} s");
                let waited = self.caught_up(Some(why));
                state.typing |= self.send_waited(&mut state.typed, waited);
            }
        }
        Then::Go
    }
}

/// The room's limits as tagged mode states them (the label's bytes
/// included in `max`); what is missing is taken from `serve`'s defaults.
fn tagged_limits(mode: &Tags) -> Limits {
    Limits {
        rate: mode.rate.unwrap_or(FALLBACK.rate),
        burst: mode.burst.unwrap_or(FALLBACK.burst),
        max_line_bytes: mode.max.unwrap_or(FALLBACK.max_line_bytes),
    }
}

/// Now, in milliseconds since the epoch.
fn now_millis() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Waits for the next line from the server, the next thing typed (while
/// `typed` is given), once `leaving`, the end of [`CLOSE_TIMEOUT`], or
/// the `catching_up` deadline. Cancel-safe on every branch, so nothing is
/// lost to the others.
async fn next(
    server: &mut ServerLines,
    typed: Option<&mut Paced>,
    leaving: Option<Instant>,
    catching_up: Option<Instant>,
) -> Next {
    let line = server.incoming().fuse();
    let input = async {
        match typed {
            Some(typed) => typed.next().await,
            None => pending().await,
        }
    }
    .fuse();
    let closing = until(leaving.map(|since| since + CLOSE_TIMEOUT)).fuse();
    let late = until(catching_up).fuse();
    futures::pin_mut!(line, input, closing, late);
    futures::select! {
        line = line => Next::Server(line.map(|line| line.map(Box::new))),
        typed = input => Next::Typed(typed),
        () = closing => Next::CloseTimedOut,
        () = late => Next::CatchupTimedOut,
    }
}

/// Ends at `at`; never without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => runtime::sleep(at.saturating_duration_since(Instant::now())).await,
        None => pending::<()>().await,
    }
}
