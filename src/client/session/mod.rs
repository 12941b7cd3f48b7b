//! The chat itself, once logged in: print what the server sends, send what
//! is typed, and leave cleanly when either side ends. It stamps each line
//! with its time, confirms our own lines by their echo, shows replayed
//! history as a dimmed block under a marker, calls the person's attention
//! to mentions, and, when the connection drops, comes back (resuming the
//! session) without losing a line either way. What a line means is read
//! from its tags ([`super::tags`]), never from the server's words.
//!
//! - [`block`]: a catch-up block being held (data only);
//! - [`chat`]: what the session keeps between lines, and showing them;
//! - [`heard`]: a line from the server;
//! - [`held`]: a catch-up block held until it is whole, then shown;
//! - [`away`]: coming back after the connection dropped;
//! - [`send`]: sending what is typed, and leaving;
//! - this file: the loop, and what it waits for.
//!
//! Each uses only those listed before it, so no two use each other.

mod away;
mod block;
mod chat;
mod heard;
mod held;
mod send;

use std::process::ExitCode;
use std::time::Instant;

use futures::channel::mpsc;
use futures::future::pending;
use futures::FutureExt;

use super::input::{Screen, Typed};
use super::lines::{Incoming, ServerLines};
use super::login::Tagged;
use super::pace::Paced;
use super::Options;
use crate::runtime;
use chat::{tagged_limits, Chat};
pub use chat::{Connection, Look, Me};
pub use send::SERVER_LEFT;
use send::{Loop, Then, CLOSE_TIMEOUT};

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
    chat.start_in(&mut conn.writer).await;
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
