//! `sockchat join`: connect (with a spinner, and TLS when asked for), give
//! the room's password if it wants one, log in (asking for a name until the
//! server takes one), then show the room while sending what the person types.
//!
//! It is driven by [`Options`] and the terminal facts in [`Tty`], both
//! decided by the caller (the application layer turns flags into them).
//! The terminal's settings are [`terminal`]'s alone: the prompts, the line
//! editor and a dumb terminal's reader ask it for the mode they need, and
//! it puts the terminal back on every way out.

mod catchup;
mod clock;
mod confirm;
pub mod connect;
mod cursor;
mod dumb;
pub mod editor;
pub mod input;
mod lines;
mod login;
mod mention;
mod pace;
mod palette;
mod prompt;
mod reconnect;
pub mod render;
mod resume;
mod rooms;
mod session;
mod tags;
pub mod terminal;
mod typed;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_rustls::rustls::ClientConfig;

use crate::address::Address;
use crate::protocol::name::Name;
use crate::protocol::password::Secret;
use crate::protocol::room::RoomName;
use crate::runtime;
use crate::tls::Trust;
use connect::{Reader, Writer};
use futures::channel::mpsc;
use input::{Interrupts, Screen};
use lines::{send_line, ServerLines};
use login::{Ask, Credentials, Login, Outcome};
use render::Colors;
use typed::Typed;

pub use session::SERVER_LEFT;

/// The defaults of `join`'s options, shared with `join --help`.
pub mod defaults {
    /// The server `join` connects to: this machine.
    pub const HOST: &str = "127.0.0.1";
    pub const PORT: u16 = crate::address::DEFAULT_PORT;
    /// How long the server has to answer each step of the login.
    pub const LOGIN_TIMEOUT_SECS: u64 = 30;
}

/// What `join` is asked to do.
#[derive(Debug)]
pub struct Options {
    /// The server.
    pub address: Address,
    /// How long to keep retrying while the server is not up yet.
    pub wait: Duration,
    /// How long the server has to answer each step of the login.
    pub login_timeout: Duration,
    /// The name to log in with; None: ask (or read it from piped stdin).
    pub name: Option<Name>,
    /// The room to start in (`join --room`); None: `#main`, where
    /// everyone lands.
    pub room: Option<RoomName>,
    /// The room's password, if given; None: ask, if the room wants one.
    pub password: Option<Secret>,
    /// TLS, when asked for; None: plain TCP.
    pub tls: Option<Tls>,
    /// Show each line's time; None: on a terminal only.
    pub timestamps: Option<bool>,
    /// Connect again and resume when the connection drops; None: when
    /// typing on a terminal only (a script keeps its exit 1).
    pub reconnect: Option<bool>,
    /// Ring the terminal's bell for a mention or a private message.
    pub bell: bool,
}

/// How to speak TLS to the server.
#[derive(Debug)]
pub struct Tls {
    /// What vouches for the server (told to the person once connected).
    pub trust: Trust,
    /// The rustls config made for `trust`.
    pub config: Arc<ClientConfig>,
}

/// Facts about the terminal, decided once by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Tty {
    /// stdin is a terminal: prompts and the line editor, not piped lines.
    pub stdin: bool,
    /// stdout is a terminal: with `stdin`, the line editor may run.
    pub stdout: bool,
    /// The colours lines are printed in.
    pub colors: Colors,
}

/// `sockchat join`: runs the whole session; the exit code says how it ended.
pub fn join(options: Options, tty: Tty) -> anyhow::Result<ExitCode> {
    runtime::block_on(async {
        // Piped input is read from the start: its first line may be the name.
        // A terminal is left to the name prompt until the login is done: a
        // reader started earlier would take half of the keys typed there.
        let mut piped = (!tty.stdin).then(input::start_stdin);
        let prompting = tty.stdin.then(terminal::PromptGuard::install);
        let mut credentials = Credentials {
            name: options.name.clone(),
            password: options.password.clone(),
            password_typed: false,
        };
        // Times on a terminal unless told otherwise (from the login line on).
        let timestamps = options.timestamps.unwrap_or(tty.stdout);
        let mut again = false;
        // Logs in; again on a new connection (quietly) if the server closed
        // the first for its login timeout while the person was typing.
        let (server, writer, name, tagged, password) = loop {
            let (reader, mut writer, reached) = reach(&options).await?;
            let mut server = ServerLines::new(reader);
            if options.tls.is_none() {
                // Our server ignores an empty line; a TLS server cannot parse it
                // and answers at once, which the login recognizes.
                send_line(&mut writer, "").await?;
            }
            let login = Login {
                server: &mut server,
                writer: &mut writer,
                ask: if tty.stdin { Ask::Prompt } else { Ask::Stdin },
                piped: piped.as_mut().map(|(lines, _)| lines),
                colors: tty.colors,
                patience: options.login_timeout,
                timestamps,
                connected: (!again).then_some(reached),
            };
            match login.run(credentials).await? {
                Outcome::LoggedIn {
                    name,
                    tagged,
                    password,
                } => break (server, writer, name, tagged, password),
                Outcome::Left => return Ok(ExitCode::SUCCESS),
                Outcome::Again(typed) => credentials = typed,
            }
            again = true;
        };
        drop(prompting);

        let term = std::env::var("TERM").ok();
        let on_terminal = tty.stdin && tty.stdout;
        let interactive = on_terminal && editor::can_drive(term.as_deref());
        let _restore = on_terminal.then(terminal::RestoreGuard::save);
        let (screen, typed) = start_screen(piped, on_terminal, interactive);
        let me = session::Me {
            name,
            password,
            echo: tty.stdin,
            piped: !tty.stdin,
        };
        let look = session::Look {
            colors: tty.colors,
            timestamps,
            bell: options.bell && tty.stdout,
        };
        let reconnect = options.reconnect.unwrap_or(tty.stdin);
        let conn = session::Connection { server, writer };
        Ok(session::session(conn, screen, typed, look, me, tagged, &options, reconnect).await)
    })
}

/// Where lines are shown and what is typed comes from: piped input as
/// it was started, else the terminal: the line editor if it can drive it.
fn start_screen(
    piped: Option<(mpsc::Receiver<Typed>, Interrupts)>,
    on_terminal: bool,
    interactive: bool,
) -> (Screen, mpsc::Receiver<Typed>) {
    match piped {
        Some((piped, interrupts)) => {
            interrupts.watch();
            (Screen::Plain, piped)
        }
        // A terminal the editor cannot drive (`TERM=dumb`): plain
        // lines, read key by key.
        None if on_terminal && !interactive => match input::start_dumb() {
            Ok(started) => started,
            Err(_) => (Screen::Plain, input::start_stdin_watched()),
        },
        // A terminal in, a pipe out (`| tee log`): lines, no editor.
        None if !interactive => (Screen::Plain, input::start_stdin_watched()),
        None => match input::start_editor(editor::reflows(|v| std::env::var(v).ok())) {
            Ok(started) => started,
            // Not a terminal after all (no termios): plain lines still chat.
            Err(_) => (Screen::Plain, input::start_stdin_watched()),
        },
    }
}

/// Connects once (no spinner, nothing said) and starts TLS if asked for.
/// A refused certificate is fatal (trying again cannot help: a pinned
/// certificate that changed stays changed); other errors, in a few words,
/// are worth another try.
async fn open(options: &Options) -> Result<(Reader, Writer), resume::Fail> {
    let stream = connect::attempt(&options.address)
        .await
        .map_err(resume::Fail::Again)?;
    match &options.tls {
        Some(tls) => {
            let started =
                connect::start_tls(stream, &options.address, tls.config.clone(), &tls.trust).await;
            started
                .map(|(reader, writer, _)| (reader, writer))
                .map_err(|e| match e.is::<connect::CertificateRefused>() {
                    true => resume::Fail::Fatal(e),
                    false => resume::Fail::Again(crate::words::error_line(&e)),
                })
        }
        None => Ok(connect::plain(stream)),
    }
}

/// Connects (retrying while `wait` allows) and starts TLS if asked for;
/// with `Connected to: …`, what it reached, to be said once the server
/// greets.
async fn reach(options: &Options) -> anyhow::Result<(Reader, Writer, String)> {
    let address = &options.address;
    let stream = connect::connect(address, options.wait).await?;
    let (reader, writer, how) = match &options.tls {
        Some(tls) => connect::start_tls(stream, address, tls.config.clone(), &tls.trust).await?,
        None => {
            let (reader, writer) = connect::plain(stream);
            (reader, writer, String::new())
        }
    };
    let reached = match how.as_str() {
        "" => format!("Connected to: {address}"),
        how => format!("Connected to: {address} ({how})"),
    };
    Ok((reader, writer, reached))
}
