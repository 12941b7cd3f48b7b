//! Logging in: read the greeting, give the room's password if it wants one,
//! then a name, asking the person again (on a terminal) while the server
//! refuses what was given.
//!
//! The prompts are asked from here, not from the application layer, because
//! the conversation decides when to ask: again after a taken name or a
//! wrong password, never after the server's last word. Whether asking is
//! allowed at all is decided by the caller ([`Ask`]). While a prompt is up
//! the connection is watched: a server that closes it for its login timeout
//! is reconnected to when the person presses Enter ([`Outcome::Again`]),
//! one that goes away otherwise is reported at once.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures::channel::mpsc;
use futures::future::pending;
use futures::{FutureExt, StreamExt};

use super::confirm;
use super::connect::Writer;
use super::input::{Screen, Typed};
use super::lines::{send_line, Incoming, ServerLines};
use super::prompt::Prompt;
use super::render::{self, Colors};
use super::tags::{self, Error, Reply, Tags};
use crate::protocol::message::{classify, reply, ServerLine};
use crate::protocol::name::Name;
use crate::protocol::password::Secret;
use crate::protocol::sanitize::sanitize_bytes;
use crate::runtime;

/// What the person gave on the command line (or in the environment), or
/// typed at a prompt on an earlier connection.
#[derive(Debug)]
pub struct Credentials {
    /// The name to log in with; None: ask.
    pub name: Option<Name>,
    /// The room's password, if one was given.
    pub password: Option<Secret>,
    /// Whether `password` was typed at the prompt (a wrong one may be typed
    /// again) rather than given by a flag (a wrong one ends the login).
    pub password_typed: bool,
}

/// Where a name comes from when none was given (or the server refused it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// A prompt on the terminal (and, for a password, only there).
    Prompt,
    /// The first non-blank line of piped stdin.
    Stdin,
}

/// How a login ended.
#[derive(Debug)]
pub enum Outcome {
    /// The server took the name.
    /// `tagged`: the server speaks tagged mode to us.
    /// `password`: the one the room took, kept to come back with.
    LoggedIn {
        name: Name,
        tagged: Box<Tagged>,
        password: Option<Secret>,
    },
    /// The person left at a prompt (Ctrl-D, or `/quit` as the password).
    Left,
    /// The server closed the connection for taking too long while the
    /// person was typing: log in again, on a new connection, with what was
    /// typed (nobody is asked twice).
    Again(Credentials),
}

/// What a tagged login told us.
#[derive(Debug, Clone, Default)]
pub struct Tagged {
    /// The tags of `Tagged mode on.` (the room's limits).
    pub mode: Tags,
    /// The tags of `You are logged in as:` (session token, last id).
    pub login: Tags,
}

/// The label of the password line in tagged mode: a password that
/// starts with `~x ` must not be taken for a label and its text.
const PASSWORD_LABEL: &str = "p";

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
    /// How refusals are coloured.
    pub colors: Colors,
    /// How long each answer of the server may take.
    pub patience: Duration,
    /// Lines show their time (the login's too, when the server gives it).
    pub timestamps: bool,
    /// `Connected to: …`, said once the greeting shows a sockchat server
    /// (not a TLS one, which a plain join cannot talk to); None: say nothing.
    pub connected: Option<String>,
}

/// One step of the login, as far as it went.
enum Step {
    Done,
    Left,
    /// The server gave up on this connection while the person typed.
    Expired,
}

impl Login<'_> {
    /// Logs in with `given`, asking for what is missing.
    pub async fn run(self, mut given: Credentials) -> anyhow::Result<Outcome> {
        let mut login = Attempt {
            login: self,
            expired: false,
            tagged: Tagged::default(),
        };
        login.greeted().await?;
        // Asked before the password and the name, as the protocol wants,
        // and once the greeting showed a sockchat server (not TLS, which
        // closes on a plain line before its alert is read).
        login.send(crate::protocol::tagged::SWITCH).await?;
        login.tagged_answer().await?;
        let step = match login.tagged.mode.password {
            true => login.give_password(&mut given).await?,
            false if given.password.is_some() && !given.password_typed => {
                eprintln!("sockchat: note: this room asks for no password; yours was not sent");
                Step::Done
            }
            false => Step::Done,
        };
        let step = match step {
            Step::Done => login.give_name(&mut given).await?,
            other => other,
        };
        Ok(match step {
            Step::Left => Outcome::Left,
            Step::Expired => Outcome::Again(given),
            Step::Done => match given.name {
                Some(name) => Outcome::LoggedIn {
                    name,
                    tagged: Box::new(login.tagged),
                    password: given.password,
                },
                None => bail!("the server took no name"),
            },
        })
    }
}

/// A login under way on one connection.
struct Attempt<'a> {
    login: Login<'a>,
    /// The server closed this connection for its login timeout: what is
    /// typed now is for the next one.
    expired: bool,
    /// What the server told us in tagged mode so far.
    tagged: Tagged,
}

impl Attempt<'_> {
    /// Reads the greeting: a sockchat server's (not a TLS one's), which
    /// does not refuse us (a full room's is its last word).
    async fn greeted(&mut self) -> anyhow::Result<()> {
        let wait = greeting_patience(self.login.patience);
        let greeting = self
            .reply_or(Instant::now() + wait, || {
                let secs = wait.as_secs();
                anyhow!("the server accepted the connection but said nothing within {secs} s")
            })
            .await?
            .line;
        if crate::tls::looks_like_tls(&greeting) || greeting == reply::TLS_REQUIRED.as_bytes() {
            bail!(
                "the server speaks TLS: use --tls (or --tls-fingerprint for a self-signed server)"
            );
        }
        if let Some(connected) = &self.login.connected {
            Screen::Plain.print(connected);
        }
        // The greeting comes before tagged mode: only its shape is read.
        if let ServerLine::Error(why) = classify(&sanitize_bytes(&greeting)) {
            bail!("the server refused the connection: {why}");
        }
        Ok(())
    }

    /// Reads the answer to `/tagged`: tagged mode on, with the room's
    /// limits and whether it wants a password. A server that does not
    /// know it (an older one) refuses it: this client cannot talk to it.
    /// Other lines before it (notices) are passed over.
    async fn tagged_answer(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.login.patience;
        loop {
            let answer = self.reply(deadline).await?;
            if answer.tags.time.is_some() {
                self.tagged.mode = answer.tags;
                return Ok(());
            }
            match classify(&sanitize_bytes(&answer.line)) {
                // A notice before the answer (the greeting's second line).
                ServerLine::Notice(_) | ServerLine::Other(_) => {}
                _ => bail!(
                    "the server does not speak tagged mode: it is older than this client \
                     (it answered /tagged with: {})",
                    sanitize_bytes(&answer.line)
                ),
            }
        }
    }

    /// Gives a name (`given`, else asked for) until the server takes one;
    /// the name taken is left in `given`.
    async fn give_name(&mut self, given: &mut Credentials) -> anyhow::Result<Step> {
        let prompt = self.login.ask == Ask::Prompt;
        loop {
            let name = match given.name.take() {
                Some(name) => name,
                None if prompt => {
                    let Some(text) = self.answer(Prompt::name(), "username").await? else {
                        return self.leave().await;
                    };
                    match Name::parse(&text) {
                        Ok(name) if self.expired => {
                            given.name = Some(name);
                            return Ok(Step::Expired);
                        }
                        Ok(name) => name,
                        Err(_) if text.is_empty() => continue,
                        Err(why) => {
                            eprintln!("{why}");
                            continue;
                        }
                    }
                }
                None => name_from_stdin(self.login.piped.as_deref_mut()).await?,
            };
            self.send(name.as_str()).await?;
            // One deadline for the answer, however many other lines come first.
            let deadline = Instant::now() + self.login.patience;
            loop {
                let Incoming { tags, line } = self.reply(deadline).await?;
                match (&tags.reply, tags.error) {
                    (Some(Reply::Login { .. }), _) => {
                        self.show_login(&tags, &line);
                        self.tagged.login = tags;
                        given.name = Some(name);
                        return Ok(Step::Done);
                    }
                    (_, Some(Error::Timeout)) if prompt => {
                        // Typed just as the server gave up: give it again.
                        given.name = Some(name);
                        return Ok(Step::Expired);
                    }
                    (_, Some(_)) if prompt => {
                        eprintln!("{}", render::render(&line, self.login.colors));
                        break;
                    }
                    (_, Some(_)) => {
                        let why = confirm::why(&sanitize_bytes(&line)).to_string();
                        let why = why.strip_suffix(reply::TYPE_ANOTHER).unwrap_or(&why);
                        bail!("the server refused the name {name}: {why}")
                    }
                    // The greeting tells `nc` users to type a name: we just did.
                    _ => {}
                }
            }
        }
    }

    /// Shows the login line, with its time if lines show theirs.
    fn show_login(&self, tags: &Tags, line: &[u8]) {
        let time = tags.time.filter(|_| self.login.timestamps);
        let mut clock = super::clock::Clock::system(time.unwrap_or(0));
        let stamp = time
            .and_then(|t| clock.stamp(t))
            .map(|stamp| format!("{} ", render::faint(&stamp.time, self.login.colors)));
        let shown = render::render(line, self.login.colors);
        Screen::Plain.print(&format!("{}{shown}", stamp.unwrap_or_default()));
    }

    /// Gives the room's password: the one given, else asked for on the
    /// terminal (again after a wrong one, while the server allows). The
    /// password accepted is left in `given`, for a login again.
    async fn give_password(&mut self, given: &mut Credentials) -> anyhow::Result<Step> {
        let prompt = self.login.ask == Ask::Prompt;
        loop {
            let retry = prompt && (given.password.is_none() || given.password_typed);
            let secret = match given.password.take() {
                Some(secret) => secret,
                None if prompt => {
                    let Some(text) = self.answer(Prompt::password(), "password").await? else {
                        return self.leave().await;
                    };
                    match Secret::new(text) {
                        Ok(secret) if self.expired => {
                            given.password = Some(secret);
                            given.password_typed = true;
                            return Ok(Step::Expired);
                        }
                        Ok(secret) => {
                            given.password_typed = true;
                            secret
                        }
                        Err(why) => {
                            eprintln!("{why}; try again");
                            continue;
                        }
                    }
                }
                None => bail!(
                    "the room has a password and there is no terminal to ask for it: \
                     give it with --password-file FILE or SOCKCHAT_PASSWORD"
                ),
            };
            self.send(&tags::labeled(PASSWORD_LABEL, secret.expose()))
                .await?;
            let deadline = Instant::now() + self.login.patience;
            loop {
                let Incoming { tags, line } = self.reply(deadline).await?;
                let why = || confirm::why(&sanitize_bytes(&line)).to_string();
                match (&tags.reply, tags.error) {
                    (Some(Reply::Password), _) => {
                        given.password = Some(secret);
                        return Ok(Step::Done);
                    }
                    (Some(Reply::Bye), _) => return Ok(Step::Left),
                    (_, Some(Error::PasswordFirst)) if retry => {
                        // `/help` (or another command) typed as the password.
                        eprintln!(
                            "Type the room's password and press Enter (it is not shown as you \
                             type); /quit or Ctrl-D leaves."
                        );
                        break;
                    }
                    (_, Some(Error::Timeout)) if retry => {
                        given.password = Some(secret);
                        return Ok(Step::Expired);
                    }
                    (_, Some(Error::Password { left: 1.. })) if retry => {
                        eprintln!("{}", render::render(&line, self.login.colors));
                        break;
                    }
                    (_, Some(Error::Password { .. })) => {
                        bail!("the server refused the password: {}", why())
                    }
                    (_, Some(_)) => bail!("the server refused the login: {}", why()),
                    _ => {}
                }
            }
        }
    }

    /// The person's answer to `prompt` (None: Ctrl-D), while watching the
    /// connection: if the server closes it for its login timeout, the
    /// answer is kept for a new one; if it goes away otherwise, that is
    /// said at once.
    async fn answer(&mut self, mut prompt: Prompt, what: &str) -> anyhow::Result<Option<String>> {
        // The last thing the server said, to tell why it went away.
        let mut last: Option<(Tags, String)> = None;
        loop {
            let watching = !self.expired;
            let event = {
                let server = &mut *self.login.server;
                let line = async {
                    match watching {
                        true => server.incoming().await,
                        false => pending().await,
                    }
                }
                .fuse();
                let typed = prompt.answer().fuse();
                futures::pin_mut!(line, typed);
                futures::select! {
                    typed = typed => Ok(typed),
                    line = line => Err(line),
                }
            };
            match event {
                Ok(typed) => return typed.context("cannot read from the terminal"),
                Err(Ok(Some(Incoming { tags, line }))) => match tags.error {
                    Some(Error::Timeout) => self.expired = true,
                    _ => last = Some((tags, sanitize_bytes(&line).into_owned())),
                },
                Err(Ok(None) | Err(_)) => {
                    prompt.abandon();
                    let why = match &last {
                        Some((tags, _)) if tags.reply == Some(Reply::Shutdown) => {
                            "the server shut down".to_string()
                        }
                        Some((tags, line)) if tags.error.is_some() => {
                            let why = confirm::why(line);
                            format!("the server closed the connection ({why})")
                        }
                        _ => "the server closed the connection".to_string(),
                    };
                    bail!("{why} while waiting for your {what}");
                }
            }
        }
    }

    /// Leaves at a prompt (Ctrl-D): says goodbye to the server, if it is
    /// still there, and shows its answer.
    async fn leave(&mut self) -> anyhow::Result<Step> {
        if self.expired || send_line(self.login.writer, "/quit").await.is_err() {
            return Ok(Step::Left);
        }
        let deadline = Instant::now() + self.login.patience;
        while let Ok(Incoming { tags, line }) = self.reply(deadline).await {
            if tags.reply == Some(Reply::Bye) {
                Screen::Plain.print(&render::render(&line, self.login.colors));
                break;
            }
        }
        Ok(Step::Left)
    }

    /// Sends one line.
    async fn send(&mut self, line: &str) -> anyhow::Result<()> {
        send_line(self.login.writer, line).await
    }

    /// The next line from the server, by `deadline`.
    async fn reply(&mut self, deadline: Instant) -> anyhow::Result<Incoming> {
        let secs = self.login.patience.as_secs();
        self.reply_or(deadline, || {
            anyhow!("the server did not answer the login within {secs} s")
        })
        .await
    }

    /// The next line from the server, by `deadline`; else `silent()`.
    async fn reply_or(
        &mut self,
        deadline: Instant,
        silent: impl FnOnce() -> anyhow::Error,
    ) -> anyhow::Result<Incoming> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = runtime::timeout(left, self.login.server.incoming())
            .await
            .map_err(|_| silent())?
            .context("lost the connection while logging in")?;
        line.ok_or_else(|| anyhow!("the server closed the connection while logging in"))
    }
}

/// A server greets a connection the moment it takes it: one that has said
/// nothing for this long is not going to, and a script must not wait on it
/// for the whole login timeout (the same 10 s a send may take).
pub const GREETING_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for the greeting: [`GREETING_TIMEOUT`], or the login's
/// own `patience` if shorter.
fn greeting_patience(patience: Duration) -> Duration {
    patience.min(GREETING_TIMEOUT)
}

/// The first non-blank line of piped stdin, which must be a valid name.
async fn name_from_stdin(piped: Option<&mut mpsc::Receiver<Typed>>) -> anyhow::Result<Name> {
    let piped = piped.ok_or_else(|| anyhow!("no username: pass --name or set SOCKCHAT_NAME"))?;
    while let Some(Typed::Line(line)) = piped.next().await {
        if line.trim().is_empty() {
            continue;
        }
        return Name::parse(&line)
            .map_err(|why| anyhow!("invalid username '{}' on stdin: {why}", line.trim()));
    }
    bail!("no username: stdin ended before one was given (pass --name or set SOCKCHAT_NAME)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_server_is_given_up_on_after_10_s_or_the_login_timeout_if_shorter() {
        let secs = Duration::from_secs;
        let default = secs(crate::client::defaults::LOGIN_TIMEOUT_SECS);
        assert_eq!(greeting_patience(default), secs(10));
        assert_eq!(greeting_patience(secs(2)), secs(2));
    }
}
