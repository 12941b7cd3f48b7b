//! The chat itself, once logged in: print what the server sends, send what
//! is typed, and leave cleanly when either side ends.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::future::pending;
use futures::{AsyncWriteExt, FutureExt, StreamExt};

use super::connect::Writer;
use super::input::{Screen, Typed};
use super::lines::{send_line, ServerLines};
use super::render;
use crate::protocol::message::{parse_input, Input};
use crate::runtime;

/// After we stop sending, how long the server has to close its side.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the person sees when the server hangs up on them.
pub const SERVER_LEFT: &str = "Server left.";

/// What happened next in the session.
enum Next {
    /// A line from the server; None or an error: it is gone.
    Server(std::io::Result<Option<Vec<u8>>>),
    /// Something typed; None: the input side is gone.
    Typed(Option<Typed>),
    /// We are leaving and the server has not closed its side in time.
    CloseTimedOut,
}

/// Shows the room and sends what is typed, until one side ends.
pub async fn session(
    mut server: ServerLines,
    mut writer: Writer,
    mut screen: Screen,
    mut typed: mpsc::Receiver<Typed>,
    color: bool,
) -> ExitCode {
    // Once we stop sending (Ctrl-D, Ctrl-C, /quit, end of piped input) the
    // server closes its side after the last lines; until then we keep reading.
    let mut leaving: Option<Instant> = None;
    let mut typing = true;
    loop {
        let input = typing.then_some(&mut typed);
        match next(&mut server, input, leaving).await {
            Next::Server(Ok(Some(line))) => {
                screen.heard(&line);
                screen.print(&render::render(&line, color));
            }
            Next::Server(Ok(None) | Err(_)) if leaving.is_some() => {
                screen.finish(None);
                return ExitCode::SUCCESS;
            }
            Next::Server(Ok(None) | Err(_)) => {
                screen.finish(Some(SERVER_LEFT));
                return ExitCode::FAILURE;
            }
            Next::Typed(Some(Typed::Line(line))) => {
                if is_quit(&line) {
                    leaving.get_or_insert_with(Instant::now);
                }
                if send_line(&mut writer, &line).await.is_err() {
                    screen.finish(Some(SERVER_LEFT));
                    return ExitCode::FAILURE;
                }
            }
            Next::Typed(Some(Typed::Eof | Typed::Interrupted) | None) => {
                typing = false;
                leaving.get_or_insert_with(Instant::now);
                // Ends our side (TLS: close_notify, then FIN); the server's
                // last lines are still read. Bounded, as a stalled server
                // must not keep us here.
                let _ = runtime::timeout(CLOSE_TIMEOUT, writer.close()).await;
            }
            Next::CloseTimedOut => {
                screen.finish(None);
                return ExitCode::SUCCESS;
            }
        }
    }
}

/// Waits for the next line from the server, the next thing typed (while
/// `typed` is given) or, once `leaving`, the end of [`CLOSE_TIMEOUT`].
/// Cancel-safe on every branch, so nothing is lost to the others.
async fn next(
    server: &mut ServerLines,
    typed: Option<&mut mpsc::Receiver<Typed>>,
    leaving: Option<Instant>,
) -> Next {
    let line = server.next().fuse();
    let input = async {
        match typed {
            Some(typed) => typed.next().await,
            None => pending().await,
        }
    }
    .fuse();
    let closing = async {
        match leaving {
            Some(since) => runtime::sleep(CLOSE_TIMEOUT.saturating_sub(since.elapsed())).await,
            None => pending::<()>().await,
        }
    }
    .fuse();
    futures::pin_mut!(line, input, closing);
    futures::select! {
        line = line => Next::Server(line),
        typed = input => Next::Typed(typed),
        () = closing => Next::CloseTimedOut,
    }
}

/// Whether the server will take `line` as `/quit` (`/QUIT`, `/quit bye`…).
fn is_quit(line: &str) -> bool {
    parse_input(line) == Input::Quit
}
