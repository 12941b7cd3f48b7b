//! The chat itself, once logged in: print what the server sends, send what
//! is typed, and leave cleanly when either side ends.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::future::pending;
use futures::{AsyncWriteExt, FutureExt};

use super::connect::Writer;
use super::input::{Screen, Typed};
use super::lines::{send_line, ServerLines};
use super::own::{Heard, Own};
use super::pace::{Paced, FALLBACK};
use super::render::{self, Colors};
use crate::protocol::limits::Limits;
use crate::protocol::message::{classify, parse_input, Input, ServerLine};
use crate::protocol::sanitize::sanitize_bytes;
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

/// Who is talking, for the transcript and the pacing.
pub struct Me {
    /// The name the server took.
    pub name: String,
    /// Lines the server's flood limit has counted so far (the login's).
    pub sent: u32,
    /// Our own lines are shown (typed on a terminal; a piped bot's are not).
    pub echo: bool,
    /// Input is piped: refused lines make the exit code a failure.
    pub piped: bool,
}

/// Shows the room and sends what is typed, until one side ends.
pub async fn session(
    mut server: ServerLines,
    mut writer: Writer,
    mut screen: Screen,
    typed: mpsc::Receiver<Typed>,
    colors: Colors,
    me: Me,
) -> ExitCode {
    // The room's limits, to pace what we send; the answer is not shown.
    let asked = send_line(&mut writer, "/limits").await.is_ok();
    let mut typed = Paced::new(typed, me.sent + u32::from(asked), Instant::now());
    let mut limits_answered = !asked;
    let mut own = Own::new(&me.name);
    let refused = |own: &Own, code: ExitCode| match (me.piped, own.refused()) {
        (true, n @ 1..) => {
            let s = if n == 1 { "" } else { "s" };
            eprintln!("sockchat: the server refused {n} line{s} of the input");
            ExitCode::FAILURE
        }
        _ => code,
    };
    // Once we stop sending (Ctrl-D, Ctrl-C, /quit, end of piped input) the
    // server closes its side after the last lines; until then we keep reading.
    let mut leaving: Option<Instant> = None;
    let mut typing = true;
    loop {
        let input = typing.then_some(&mut typed);
        match next(&mut server, input, leaving).await {
            Next::Server(Ok(Some(line))) => {
                let text = sanitize_bytes(&line);
                // Our own `/limits` is answered first (replies come in
                // order); that answer is hidden even when it comes after
                // the pacer stopped waiting for it.
                if !limits_answered {
                    if let Some(limits) = learned(&text) {
                        limits_answered = true;
                        if !typed.knows() {
                            typed.learn(limits, Instant::now());
                        }
                        continue;
                    }
                }
                screen.heard(&text);
                match own.heard(&text) {
                    Heard::Show => screen.print(&render::render(&line, colors)),
                    Heard::NotSent { mine, why } => {
                        screen.print(&render::not_sent(&mine, &why, colors))
                    }
                }
            }
            Next::Server(Ok(None) | Err(_)) if leaving.is_some() => {
                screen.finish(None);
                return refused(&own, ExitCode::SUCCESS);
            }
            Next::Server(Ok(None) | Err(_)) => {
                screen.finish(Some(SERVER_LEFT));
                return ExitCode::FAILURE;
            }
            Next::Typed(Some(Typed::Line(line))) => {
                if let Some(max) = typed.too_long(&line) {
                    own.refused_here();
                    let why = format!("longer than the room's {max} bytes");
                    match me.echo {
                        true => screen.print(&render::not_sent(&line, &why, colors)),
                        false => eprintln!("sockchat: a line was not sent: it is {why}"),
                    }
                    continue;
                }
                if is_quit(&line) {
                    leaving.get_or_insert_with(Instant::now);
                }
                if send_line(&mut writer, &line).await.is_err() {
                    screen.finish(Some(SERVER_LEFT));
                    return ExitCode::FAILURE;
                }
                if let Some(shown) = own.sent(&line).filter(|_| me.echo) {
                    screen.print(&render::render(shown.as_bytes(), colors));
                }
            }
            Next::Typed(Some(Typed::TooLong)) => {
                own.refused_here();
                let max = super::input::MAX_INPUT_LINE;
                eprintln!("sockchat: a line was not sent: it is longer than {max} bytes");
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
                return refused(&own, ExitCode::SUCCESS);
            }
        }
    }
}

/// Waits for the next line from the server, the next thing typed (while
/// `typed` is given) or, once `leaving`, the end of [`CLOSE_TIMEOUT`].
/// Cancel-safe on every branch, so nothing is lost to the others.
async fn next(
    server: &mut ServerLines,
    typed: Option<&mut Paced>,
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

/// The limits in the server's answer to our `/limits`; a server too old
/// to know the command refuses it, and its defaults are assumed.
fn learned(line: &str) -> Option<Limits> {
    match classify(line) {
        ServerLine::Error(why) if why.starts_with("unknown command /limits") => Some(FALLBACK),
        _ => Limits::parse(line),
    }
}

/// Whether the server will take `line` as `/quit` (`/QUIT`, `/quit bye`…).
fn is_quit(line: &str) -> bool {
    parse_input(line) == Input::Quit
}
