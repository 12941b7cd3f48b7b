//! Logging in: read the greeting, give the room's password if it wants one,
//! then a name, asking the person again (on a terminal) while the server
//! refuses what was given.
//!
//! The prompts live here, not in the application layer, because the
//! conversation decides when to ask: again after a taken name or a wrong
//! password, never after the server's last word. Whether asking is allowed
//! at all is decided by the caller ([`Ask`]).

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures::channel::mpsc;
use futures::StreamExt;

use super::connect::Writer;
use super::input::{Screen, Typed};
use super::lines::{send_line, ServerLines};
use super::render;
use crate::protocol::message::{classify, reply, ServerLine};
use crate::protocol::name::Name;
use crate::protocol::password::Secret;
use crate::protocol::sanitize::sanitize_bytes;
use crate::runtime;

/// What the person gave on the command line (or in the environment).
#[derive(Debug)]
pub struct Credentials {
    /// The name to log in with; None: ask.
    pub name: Option<Name>,
    /// The room's password, if one was given.
    pub password: Option<Secret>,
}

/// Where a name comes from when none was given (or the server refused it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// A prompt on the terminal (and, for a password, only there).
    Prompt,
    /// The first non-blank line of piped stdin.
    Stdin,
}

/// How the login goes: where to ask, how to show the server's refusals.
pub struct Login<'a> {
    /// The server's lines.
    pub server: &'a mut ServerLines,
    /// Our side of the connection.
    pub writer: &'a mut Writer,
    /// Where a name comes from when needed.
    pub ask: Ask,
    /// Piped stdin, whose first line may be the name.
    pub piped: Option<&'a mut mpsc::Receiver<Typed>>,
    /// Whether refusals are shown in colour.
    pub color: bool,
    /// How long each answer of the server may take.
    pub patience: Duration,
}

impl Login<'_> {
    /// Logs in with `given`; returns once the server has confirmed the name.
    pub async fn run(mut self, given: Credentials) -> anyhow::Result<Name> {
        let greeting = self.reply(Instant::now() + self.patience).await?;
        if crate::tls::looks_like_tls(&greeting) || greeting == reply::TLS_REQUIRED.as_bytes() {
            bail!(
                "the server speaks TLS: use --tls (or --tls-fingerprint for a self-signed server)"
            );
        }
        match classify(&sanitize_bytes(&greeting)) {
            ServerLine::PasswordWanted(_) => self.give_password(given.password).await?,
            ServerLine::Error(why) => bail!("the server refused the connection: {why}"),
            _ if given.password.is_some() => {
                eprintln!("sockchat: note: this room asks for no password; yours was not sent");
            }
            _ => {}
        }
        self.give_name(given.name).await
    }

    /// Gives a name (`given`, else asked for) until the server takes one.
    async fn give_name(&mut self, mut given: Option<Name>) -> anyhow::Result<Name> {
        loop {
            let name = match given.take() {
                Some(name) => name,
                None if self.ask == Ask::Prompt => prompt_name()?,
                None => name_from_stdin(self.piped.as_deref_mut()).await?,
            };
            send_line(self.writer, name.as_str()).await?;
            // One deadline for the answer, however many other lines come first.
            let deadline = Instant::now() + self.patience;
            loop {
                let line = self.reply(deadline).await?;
                match classify(&sanitize_bytes(&line)) {
                    ServerLine::LoggedIn(_) => {
                        Screen::Plain.print(&render::render(&line, self.color));
                        return Ok(name);
                    }
                    ServerLine::Error(_) if self.ask == Ask::Prompt => {
                        eprintln!("{}", render::render(&line, self.color));
                        break;
                    }
                    ServerLine::Error(why) => bail!("the server refused the name {name}: {why}"),
                    // The greeting tells `nc` users to type a name: we just did.
                    _ => {}
                }
            }
        }
    }

    /// Gives the room's password: the one given, else asked for on the
    /// terminal (again after a wrong one, while the server allows).
    async fn give_password(&mut self, mut given: Option<Secret>) -> anyhow::Result<()> {
        let retry = given.is_none() && self.ask == Ask::Prompt;
        loop {
            let secret = match given.take() {
                Some(secret) => secret,
                None if self.ask == Ask::Prompt => prompt_password()?,
                None => bail!(
                    "the room has a password and there is no terminal to ask for it: \
                     give it with --password-file FILE or SOCKCHAT_PASSWORD"
                ),
            };
            send_line(self.writer, secret.expose()).await?;
            let deadline = Instant::now() + self.patience;
            loop {
                let line = self.reply(deadline).await?;
                let text = sanitize_bytes(&line).into_owned();
                match classify(&text) {
                    ServerLine::PasswordAccepted(_) => return Ok(()),
                    ServerLine::PasswordRefused(_)
                        if retry && text != reply::WRONG_PASSWORD_CLOSING =>
                    {
                        eprintln!("{}", render::render(&line, self.color));
                        break;
                    }
                    ServerLine::PasswordRefused(why) => {
                        bail!("the server refused the password: {why}")
                    }
                    ServerLine::Error(why) => bail!("the server refused the login: {why}"),
                    _ => {}
                }
            }
        }
    }

    /// The next line from the server, by `deadline`.
    async fn reply(&mut self, deadline: Instant) -> anyhow::Result<Vec<u8>> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = runtime::timeout(left, self.server.next())
            .await
            .map_err(|_| {
                let secs = self.patience.as_secs();
                anyhow!("the server did not answer the login within {secs} s")
            })?
            .context("lost the connection while logging in")?;
        line.ok_or_else(|| anyhow!("the server closed the connection while logging in"))
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
