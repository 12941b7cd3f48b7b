//! `sockchat join`: connect (with a spinner, and TLS when asked for), give
//! the room's password if it wants one, log in (asking for a name until the
//! server takes one), then show the room while sending what the person types.

pub mod connect;
pub mod input;
pub mod render;
pub mod terminal;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures::channel::mpsc;
use futures::{AsyncRead, AsyncReadExt, AsyncWriteExt, FutureExt, StreamExt};

use crate::cli::JoinArgs;
use crate::protocol::line::{Frame, LineFramer};
use crate::protocol::message::{classify, reply, ServerLine};
use crate::protocol::name::Name;
use crate::protocol::password::Secret;
use crate::protocol::sanitize::sanitize_bytes;
use crate::runtime;
use connect::{Reader, Writer};
use input::{Screen, Typed};

/// The longest line accepted from the server; longer ones are skipped.
const MAX_SERVER_LINE: usize = 64 * 1024;

/// After we stop sending, how long the server has to close its side.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the person sees when the server hangs up on them.
pub const SERVER_LEFT: &str = "Server left.";

/// `sockchat join`.
pub fn join(args: JoinArgs) -> anyhow::Result<ExitCode> {
    let stdin_tty = std::io::stdin().is_terminal();
    let interactive = stdin_tty && std::io::stdout().is_terminal();
    let color = crate::color_allowed(std::io::stdout());
    let given = match &args.name {
        Some(raw) => {
            Some(Name::parse(raw).map_err(|why| anyhow!("invalid --name {raw:?}: {why}"))?)
        }
        None => None,
    };
    // Files are read before connecting, so a typo fails at once.
    let secret = args.password()?;
    let trust = args.trust();
    let tls_config = trust.as_ref().map(crate::tls::client_config).transpose()?;
    runtime::block_on(async {
        let wait = Duration::from_secs(args.wait);
        let stream = connect::connect(&args.host, args.port, wait).await?;
        let addr = connect::display_addr(&args.host, args.port);
        let (reader, mut writer, how) = match (tls_config, &trust) {
            (Some(config), Some(trust)) => {
                connect::start_tls(stream, &args.host, &addr, config, trust).await?
            }
            _ => {
                let (reader, writer) = connect::plain(stream);
                (reader, writer, String::new())
            }
        };
        let mut screen = Screen::Plain;
        match how.as_str() {
            "" => screen.print(&format!("Connected to: {addr}")),
            how => screen.print(&format!("Connected to: {addr} ({how})")),
        }
        let mut server = ServerLines::new(reader);
        // Piped input is read from the start: its first line may be the name.
        // A terminal is left to the name prompt until the login is done: a
        // reader started earlier would take half of the keys typed there.
        let mut piped = (!stdin_tty).then(input::start_stdin);
        let ask = if stdin_tty { Ask::Prompt } else { Ask::Stdin };
        if trust.is_none() {
            // Our server ignores an empty line; a TLS server cannot parse it
            // and answers at once, which `login` recognizes.
            send_line(&mut writer, "").await?;
        }
        let credentials = Credentials {
            name: given,
            password: secret,
        };
        let prompting = stdin_tty.then(terminal::PromptGuard::install);
        login(
            &mut server,
            &mut writer,
            credentials,
            ask,
            piped.as_mut(),
            color,
            Duration::from_secs(args.login_timeout),
        )
        .await?;
        drop(prompting);

        let _restore = interactive.then(terminal::RestoreGuard::save);
        let (screen, typed) = match piped {
            Some(piped) => (Screen::Plain, piped),
            // A terminal in, a pipe out (`| tee log`): lines, no editor.
            None if !interactive => (Screen::Plain, input::start_stdin()),
            None => input::start_editor().context("cannot start the line editor")?,
        };
        Ok(session(server, writer, screen, typed, color).await)
    })
}

/// What the person gave on the command line (or in the environment).
struct Credentials {
    name: Option<Name>,
    password: Option<Secret>,
}

/// Where a name comes from when `--name` gives none (or the server refused it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// A dialoguer prompt on the terminal.
    Prompt,
    /// The first non-blank line of piped stdin.
    Stdin,
}

/// Logs in: reads the greeting, gives the password if the room wants one,
/// then a name; returns once the server has confirmed the name.
async fn login(
    server: &mut ServerLines,
    writer: &mut Writer,
    given: Credentials,
    ask: Ask,
    mut piped: Option<&mut mpsc::Receiver<Typed>>,
    color: bool,
    patience: Duration,
) -> anyhow::Result<Name> {
    let mut screen = Screen::Plain;
    let greeting = login_reply(server, Instant::now() + patience, patience).await?;
    if crate::tls::looks_like_tls(&greeting) || greeting == reply::TLS_REQUIRED.as_bytes() {
        bail!("the server speaks TLS: use --tls (or --tls-fingerprint for a self-signed server)");
    }
    match classify(&sanitize_bytes(&greeting)) {
        ServerLine::PasswordWanted(_) => {
            give_password(server, writer, given.password, ask, color, patience).await?;
        }
        ServerLine::Error(why) => bail!("the server refused the connection: {why}"),
        _ if given.password.is_some() => {
            eprintln!("sockchat: note: this room asks for no password; yours was not sent");
        }
        _ => {}
    }
    let mut candidate = given.name;
    loop {
        let name = match candidate.take() {
            Some(name) => name,
            None if ask == Ask::Prompt => prompt_name()?,
            None => name_from_stdin(piped.as_deref_mut()).await?,
        };
        send_line(writer, name.as_str()).await?;
        // One deadline for the answer, however many other lines come first.
        let deadline = Instant::now() + patience;
        loop {
            let line = login_reply(server, deadline, patience).await?;
            let text = sanitize_bytes(&line).into_owned();
            match classify(&text) {
                ServerLine::LoggedIn(_) => {
                    screen.print(&render::render(&line, color));
                    return Ok(name);
                }
                ServerLine::Error(why) if ask == Ask::Prompt => {
                    eprintln!("{}", render::render(&line, color));
                    let _ = why;
                    break;
                }
                ServerLine::Error(why) => bail!("the server refused the name {name}: {why}"),
                // The greeting tells `nc` users to type a name: we just did.
                _ => {}
            }
        }
    }
}

/// The next line from the server while logging in.
async fn login_reply(
    server: &mut ServerLines,
    deadline: Instant,
    patience: Duration,
) -> anyhow::Result<Vec<u8>> {
    let left = deadline.saturating_duration_since(Instant::now());
    let line = runtime::timeout(left, server.next())
        .await
        .map_err(|_| {
            let secs = patience.as_secs();
            anyhow!("the server did not answer the login within {secs} s")
        })?
        .context("lost the connection while logging in")?;
    line.ok_or_else(|| anyhow!("the server closed the connection while logging in"))
}

/// Gives the room's password: the one given, else asked for on the
/// terminal (again after a wrong one, while the server allows).
async fn give_password(
    server: &mut ServerLines,
    writer: &mut Writer,
    mut given: Option<Secret>,
    ask: Ask,
    color: bool,
    patience: Duration,
) -> anyhow::Result<()> {
    let retry = given.is_none() && ask == Ask::Prompt;
    loop {
        let secret = match given.take() {
            Some(secret) => secret,
            None if ask == Ask::Prompt => prompt_password()?,
            None => bail!(
                "the room has a password and there is no terminal to ask for it: \
                 give it with --password-file FILE or SOCKCHAT_PASSWORD"
            ),
        };
        send_line(writer, secret.expose()).await?;
        let deadline = Instant::now() + patience;
        loop {
            let line = login_reply(server, deadline, patience).await?;
            let text = sanitize_bytes(&line).into_owned();
            match classify(&text) {
                ServerLine::PasswordAccepted(_) => return Ok(()),
                ServerLine::PasswordRefused(_)
                    if retry && text != reply::WRONG_PASSWORD_CLOSING =>
                {
                    eprintln!("{}", render::render(&line, color));
                    break;
                }
                ServerLine::PasswordRefused(why) => bail!("the server refused the password: {why}"),
                ServerLine::Error(why) => bail!("the server refused the login: {why}"),
                _ => {}
            }
        }
    }
}

/// Asks on the terminal, without echo, until the answer can be a password.
fn prompt_password() -> anyhow::Result<Secret> {
    loop {
        let typed = dialoguer::Password::new()
            .with_prompt("This room has a password")
            .interact()
            .context("cannot read the password from the terminal")?;
        match Secret::new(typed) {
            Ok(secret) => return Ok(secret),
            Err(why) => eprintln!("{why}; try again"),
        }
    }
}

/// Asks on the terminal until the answer is a valid name.
fn prompt_name() -> anyhow::Result<Name> {
    let raw: String = dialoguer::Input::new()
        .with_prompt("Please enter your username")
        .validate_with(|input: &String| {
            Name::parse(input)
                .map(|_| ())
                .map_err(|why| why.to_string())
        })
        .interact_text()
        .context("cannot read a username from the terminal")?;
    Ok(Name::parse(&raw)?)
}

/// The first non-blank line of piped stdin, which must be a valid name.
async fn name_from_stdin(piped: Option<&mut mpsc::Receiver<Typed>>) -> anyhow::Result<Name> {
    let piped = piped.ok_or_else(|| anyhow!("no username: pass --name or set SOCKCHAT_NAME"))?;
    while let Some(Typed::Line(line)) = piped.next().await {
        if line.trim().is_empty() {
            continue;
        }
        return Name::parse(&line)
            .map_err(|why| anyhow!("invalid username {:?} on stdin: {why}", line.trim()));
    }
    bail!("no username: stdin ended before one was given (pass --name or set SOCKCHAT_NAME)")
}

/// Shows the room and sends what is typed, until one side ends.
async fn session(
    mut server: ServerLines,
    mut writer: Writer,
    mut screen: Screen,
    mut typed: mpsc::Receiver<Typed>,
    color: bool,
) -> ExitCode {
    // Once we stop sending (Ctrl-D, Ctrl-C, /quit, end of piped input) the
    // server closes its side after the last lines; until then we keep reading.
    let mut leaving: Option<std::time::Instant> = None;
    let mut typing = true;
    loop {
        let next_line = server.next().fuse();
        futures::pin_mut!(next_line);
        let typed_next = async {
            if typing {
                typed.next().await
            } else {
                futures::future::pending().await
            }
        }
        .fuse();
        futures::pin_mut!(typed_next);
        let closing = async move {
            match leaving {
                Some(since) => runtime::sleep(CLOSE_TIMEOUT.saturating_sub(since.elapsed())).await,
                None => futures::future::pending::<()>().await,
            }
        }
        .fuse();
        futures::pin_mut!(closing);
        futures::select! {
            line = next_line => match line {
                Ok(Some(line)) => screen.print(&render::render(&line, color)),
                Ok(None) | Err(_) if leaving.is_some() => {
                    screen.finish(None);
                    return ExitCode::SUCCESS;
                }
                Ok(None) | Err(_) => {
                    screen.finish(Some(SERVER_LEFT));
                    return ExitCode::FAILURE;
                }
            },
            event = typed_next => match event {
                Some(Typed::Line(line)) => {
                    if is_quit(&line) {
                        leaving.get_or_insert_with(std::time::Instant::now);
                    }
                    if send_line(&mut writer, &line).await.is_err() {
                        screen.finish(Some(SERVER_LEFT));
                        return ExitCode::FAILURE;
                    }
                }
                Some(Typed::Eof) | Some(Typed::Interrupted) | None => {
                    typing = false;
                    leaving.get_or_insert_with(std::time::Instant::now);
                    // Ends our side (TLS: close_notify, then FIN); the
                    // server's last lines are still read. Bounded, as a
                    // stalled server must not keep us here.
                    let _ = runtime::timeout(CLOSE_TIMEOUT, writer.close()).await;
                }
            },
            () = closing => {
                screen.finish(None);
                return ExitCode::SUCCESS;
            }
        }
    }
}

/// Whether the server will take `line` as `/quit` (`/QUIT`, `/quit bye`…).
fn is_quit(line: &str) -> bool {
    crate::protocol::message::parse_input(line) == crate::protocol::message::Input::Quit
}

async fn send_line(writer: &mut Writer, line: &str) -> anyhow::Result<()> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    // A TLS writer holds bytes until flushed.
    let send = async {
        writer.write_all(&bytes).await?;
        writer.flush().await
    };
    send.await.context("cannot send to the server")
}

/// Lines from the server, each at most [`MAX_SERVER_LINE`] bytes.
pub struct ServerLines {
    stream: Reader,
    framer: LineFramer,
    ready: std::collections::VecDeque<Vec<u8>>,
    buf: Vec<u8>,
    eof: bool,
}

impl ServerLines {
    /// Lines from `stream`: a socket, or the reading half of a TLS session.
    pub fn new(stream: impl AsyncRead + Unpin + Send + 'static) -> Self {
        ServerLines {
            stream: Box::new(stream),
            framer: LineFramer::new(MAX_SERVER_LINE),
            ready: Default::default(),
            buf: vec![0; 8192],
            eof: false,
        }
    }

    /// The next line (raw bytes, not yet sanitized); None at the end.
    /// Cancel-safe: dropping the future loses no line.
    pub async fn next(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Ok(Some(line));
            }
            if self.eof {
                return Ok(None);
            }
            let n = self.stream.read(&mut self.buf).await?;
            let ready = &mut self.ready;
            if n == 0 {
                self.eof = true;
                if let Some(frame) = self.framer.finish() {
                    ready.extend(keep(frame));
                }
            } else {
                self.framer
                    .feed(&self.buf[..n], |frame| ready.extend(keep(frame)));
            }
        }
    }
}

fn keep(frame: Frame<'_>) -> Option<Vec<u8>> {
    match frame {
        Frame::Line(line) => Some(line.to_vec()),
        Frame::TooLong => Some(b"[a line from the server was too long and was skipped]".to_vec()),
    }
}
