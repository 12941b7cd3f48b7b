//! Sending what is typed (labeled, to be confirmed by its echo), the lines
//! that waited for a catch-up, and leaving.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::AsyncWriteExt;

use super::chat::{Chat, Connection};
use crate::client::connect::Writer;
use crate::client::input::{Typed, MAX_INPUT_LINE};
use crate::client::lines::send_line;
use crate::client::pace::Paced;
use crate::client::render;
use crate::client::tags::{self, MAX_LABEL_COST};
use crate::protocol::message::{parse_input, Input};
use crate::protocol::room::RoomName;
use crate::runtime;

/// After we stop sending, how long the server has to close its side.
pub(super) const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the person sees when the server hangs up on them.
pub const SERVER_LEFT: &str = "Server left.";

/// Where the loop stands between events.
pub(super) struct Loop {
    /// What is typed, at the room's pace.
    pub(super) typed: Paced,
    /// Since when we are leaving: once we stop sending (Ctrl-D, Ctrl-C,
    /// /quit, end of piped input) the server closes its side after the
    /// last lines; until then we keep reading.
    pub(super) leaving: Option<Instant>,
    /// The input is still read.
    pub(super) typing: bool,
}

/// What the loop does after an event.
pub(super) enum Then {
    Go,
    /// The session is over, with this code.
    End(ExitCode),
}

impl Chat<'_> {
    /// Something typed (the end of the input as [`Typed::Eof`]).
    pub(super) async fn typed(
        &mut self,
        conn: &mut Connection,
        state: &mut Loop,
        typed: Typed,
    ) -> Then {
        match typed {
            Typed::Line(line) => {
                if is_quit(&line) {
                    state.leaving.get_or_insert_with(Instant::now);
                }
                if let Some(waiting) = &mut self.waiting.lines {
                    // Still catching up after a reconnect: in order, after it.
                    waiting.1.push(line);
                    return Then::Go;
                }
                // A line that could not leave is sent again once back.
                let sent = self.send(&mut conn.writer, &state.typed, &line).await;
                if !sent && !self.may_come_back() {
                    return Then::End(self.left());
                }
            }
            Typed::TooLong => self.too_long_here(),
            Typed::Eof if self.waiting.lines.is_some() => {
                // The end of input while lines wait for the catch-up: they
                // are sent first, then we leave.
                state.typing = false;
                self.waiting.end = true;
            }
            Typed::Eof | Typed::Interrupted => {
                state.typing = false;
                state.leaving.get_or_insert_with(Instant::now);
                self.abandon_waiting();
                goodbye(&mut conn.writer).await;
            }
        }
        Then::Go
    }

    /// A piped line too long to read was dropped.
    pub(super) fn too_long_here(&mut self) {
        self.mine.confirm.refused_here();
        eprintln!("sockchat: a line was not sent: it is longer than {MAX_INPUT_LINE} bytes");
    }

    /// Sends one typed line, labeled; false if the connection is gone.
    async fn send(&mut self, writer: &mut Writer, typed: &Paced, line: &str) -> bool {
        if let Some(max) = typed.too_long(line, MAX_LABEL_COST) {
            self.mine.confirm.refused_here();
            let why = format!("longer than the room's {max} bytes");
            match self.me.echo {
                true => {
                    let marked = render::not_sent(line, &why, self.view.look.colors);
                    self.view.screen.print(&marked);
                }
                false => eprintln!("sockchat: a line was not sent: it is {why}"),
            }
            return true;
        }
        // The server ignores blank lines and would answer nothing.
        if line.trim().is_empty() {
            return true;
        }
        self.send_labeled(writer, line).await
    }

    /// Sends `line` with a label, to be confirmed by its answer; false if
    /// the connection is gone.
    async fn send_labeled(&mut self, writer: &mut Writer, line: &str) -> bool {
        let label = self.mine.labels.next();
        // Sent or not, it is awaited: a drop hands it back for sending again.
        self.mine.confirm.sent(&label, line);
        self.rooms.sent(&label, line);
        send_line(writer, &tags::labeled(&label, line))
            .await
            .is_ok()
    }

    /// `join --room`: into that room first (`#main` is where everyone
    /// lands already). It is the current room once the server says so.
    /// A connection gone is noticed by the next read.
    pub(super) async fn start_in(&mut self, writer: &mut Writer) {
        self.ask_rooms(writer).await;
        let Some(room) = &self.options.room else {
            return;
        };
        if room.key() == RoomName::main().key() {
            return;
        }
        let line = format!("/join {room}");
        self.send_labeled(writer, &line).await;
    }

    /// Asks the server for its rooms, so that Tab after `/join` offers
    /// the rooms others made, not only those this client has seen: the
    /// answer is learned from its tags (see `Rooms::heard`) and not shown.
    /// A connection gone is noticed by the next read.
    async fn ask_rooms(&mut self, writer: &mut Writer) {
        let label = self.mine.labels.next();
        let line = tags::labeled(&label, "/rooms");
        self.mine.quiet = Some(label);
        let _ = send_line(writer, &line).await;
    }

    /// The lines that waited for a catch-up go next, before anything
    /// typed since, at the room's pace as any typed line (all at once,
    /// those past the room's burst were dropped); if the input ended
    /// meanwhile, its end comes after them. True when the input is to be
    /// read again for that.
    pub(super) fn send_waited(&mut self, typed: &mut Paced, waited: Vec<String>) -> bool {
        let ended = self.waiting.end && self.waiting.lines.is_none();
        if ended {
            self.waiting.end = false;
        }
        let mut first: Vec<Typed> = waited.into_iter().map(Typed::Line).collect();
        if ended {
            first.push(Typed::Eof);
        }
        typed.first(first);
        ended
    }

    /// Leaving while lines wait for the catch-up after a reconnect: they
    /// will not be sent, and the person is told.
    fn abandon_waiting(&mut self) {
        let Some((unanswered, away)) = self.waiting.lines.take() else {
            return;
        };
        let lost = unanswered.len() + away.len();
        if lost > 0 {
            let s = if lost == 1 { "" } else { "s" };
            let text = format!("── left before catching up: {lost} line{s} you typed not sent ──");
            self.view.print_faint(&text);
        }
    }

    /// The server went away and we do not come back.
    pub(super) fn left(&mut self) -> ExitCode {
        self.view.finish(Some(SERVER_LEFT));
        ExitCode::FAILURE
    }

    pub(super) fn finish(&mut self, last: Option<&str>, code: ExitCode) -> ExitCode {
        self.view.finish(last);
        self.exit(code)
    }

    /// The exit code: a failure when piped lines were refused.
    pub(super) fn exit(&self, code: ExitCode) -> ExitCode {
        match (self.me.piped, self.mine.confirm.refused()) {
            (true, n @ 1..) => {
                let s = if n == 1 { "" } else { "s" };
                eprintln!("sockchat: the server refused {n} line{s} of the input");
                ExitCode::FAILURE
            }
            _ => code,
        }
    }
}

/// Leaves on purpose (Ctrl-D, Ctrl-C, the end of piped input) as `/quit`
/// does: the server ends the session and the name is free at once (a
/// connection that merely closes keeps both for `--resume-window`). Then
/// ends our side (TLS: close_notify, then FIN); the server's last lines
/// are still read. Bounded, as a stalled server must not keep us here.
async fn goodbye(writer: &mut Writer) {
    // A connection already gone (or not read) is closed all the same.
    let _ = runtime::timeout(CLOSE_TIMEOUT, send_line(writer, "/quit")).await;
    let _ = runtime::timeout(CLOSE_TIMEOUT, writer.close()).await;
}

/// Whether the server will take `line` as `/quit` (`/QUIT`, `/quit bye`…).
fn is_quit(line: &str) -> bool {
    parse_input(line) == Input::Quit
}
