//! Coming back after the connection dropped: a new connection, tagged mode,
//! the room's password (kept in memory for this), then `/resume TOKEN
//! CURSOR` (the newest id seen of each stream). If the server no longer
//! knows the session (it restarted, or the window passed), the same name
//! logs in again (the session then joins its rooms again and asks what was
//! said meanwhile). Nobody is asked anything: this runs under the session's
//! status line, while the person may go on typing.

use std::time::{Duration, Instant};

use super::confirm;
use super::lines::{send_line, Incoming, ServerLines};
use super::tags::{self, Error, Labels, Reply, Tags};
use super::Options;
use crate::protocol::message::reply;
use crate::protocol::name::Name;
use crate::protocol::password::Secret;
use crate::protocol::sanitize::sanitize_bytes;
use crate::protocol::tagged::SWITCH;
use crate::runtime;

/// Who comes back, and from where in the room.
pub struct Who<'a> {
    /// The name to log in with again if the session is gone.
    pub name: &'a Name,
    /// The room's password, if it has one.
    pub password: Option<&'a Secret>,
    /// The session token the server gave.
    pub token: &'a str,
    /// The newest id seen of each stream, as `/resume` takes it.
    pub cursor: String,
    /// The id of the line that came last, whatever its stream (for a
    /// server that takes one id).
    pub latest: Option<&'a str>,
}

/// Back in the room on a new connection.
pub struct Back {
    /// The new connection's lines.
    pub server: ServerLines,
    /// Our side of it.
    pub writer: super::connect::Writer,
    /// The session was resumed (else: logged in again).
    pub resumed: bool,
    /// The tags of `Tagged mode on.` (the room's limits).
    pub mode: Tags,
    /// The tags of `You are logged in as:` (the session token, last id).
    pub login: Tags,
}

/// Why coming back failed.
#[derive(Debug)]
pub enum Fail {
    /// Try again later: the server is not (yet) there; a few words why.
    Again(String),
    /// Trying again would not help (the name is taken, the password is wrong).
    Fatal(anyhow::Error),
}

/// Connects again and resumes, or logs in again.
pub async fn come_back(
    options: &Options,
    who: &Who<'_>,
    labels: &mut Labels,
) -> Result<Back, Fail> {
    let (reader, writer) = super::open(options).await?;
    let mut back = Back {
        server: ServerLines::new(reader),
        writer,
        resumed: false,
        mode: Tags::default(),
        login: Tags::default(),
    };
    let patience = options.login_timeout;
    if options.tls.is_none() {
        // As at the first login: an empty line our server ignores.
        back.send("").await?;
    }
    back.send(SWITCH).await?;
    // The greeting, then the answer to `/tagged` (the greeting comes
    // before tagged mode: what it says is read from that answer).
    back.reply(patience).await?;
    let answer = back.reply(patience).await?;
    if answer.tags.time.is_none() {
        return Err(Fail::Fatal(anyhow::anyhow!(
            "the server no longer speaks tagged mode, so the session cannot be resumed"
        )));
    }
    back.mode = answer.tags;
    if back.mode.password {
        back.give_password(who.password, labels, patience).await?;
    }
    // A server that takes one id only (today's `/resume TOKEN LAST`, one
    // sequence for every stream) refuses a cursor: the newest id that
    // came is its LAST.
    let mut asks = vec![who.cursor.as_str()];
    asks.extend(who.latest.filter(|latest| *latest != who.cursor));
    for cursor in asks {
        let line = tags::resume(who.token, cursor);
        back.send(&tags::labeled(&labels.next(), &line)).await?;
        if back.resumed(patience).await? {
            // The server sends what was missed, as a block, by itself.
            return Ok(back);
        }
    }
    back.log_in_again(who, labels, patience).await?;
    Ok(back)
}

/// The reason an error line gives, as the person reads it.
fn why(line: &Incoming) -> String {
    confirm::why(&sanitize_bytes(&line.line)).to_string()
}

fn fatal(why: &str) -> Fail {
    Fail::Fatal(anyhow::anyhow!("{why}"))
}

impl Back {
    /// Gives the room's password, the one it took before.
    async fn give_password(
        &mut self,
        password: Option<&Secret>,
        labels: &mut Labels,
        patience: Duration,
    ) -> Result<(), Fail> {
        let Some(secret) = password else {
            return Err(fatal("the room has a password now"));
        };
        self.send(&tags::labeled(&labels.next(), secret.expose()))
            .await?;
        loop {
            let line = self.reply(patience).await?;
            match (&line.tags.reply, line.tags.error) {
                (Some(Reply::Password), _) => return Ok(()),
                (_, Some(Error::Password { .. })) => {
                    let why = why(&line);
                    return Err(fatal(&format!("the server refused the password: {why}")));
                }
                (_, Some(_)) => return Err(Fail::Again(why(&line))),
                _ => {}
            }
        }
    }

    /// Reads the answer to `/resume`: true if the session was resumed,
    /// false if it cannot be (then we log in with a name).
    async fn resumed(&mut self, patience: Duration) -> Result<bool, Fail> {
        loop {
            let line = self.reply(patience).await?;
            match (&line.tags.reply, line.tags.error) {
                (Some(Reply::Login { .. }), _) => {
                    self.resumed = line.tags.resumed;
                    self.login = line.tags;
                    return Ok(true);
                }
                (_, Some(Error::Resume)) => return Ok(false),
                (_, Some(_)) => return Err(Fail::Again(why(&line))),
                _ => {}
            }
        }
    }

    /// The session is gone: logs in again with our name.
    async fn log_in_again(
        &mut self,
        who: &Who<'_>,
        labels: &mut Labels,
        patience: Duration,
    ) -> Result<(), Fail> {
        self.send(&tags::labeled(&labels.next(), who.name.as_str()))
            .await?;
        loop {
            let line = self.reply(patience).await?;
            match (&line.tags.reply, line.tags.error) {
                (Some(Reply::Login { .. }), _) => {
                    self.login = line.tags;
                    return Ok(());
                }
                (_, Some(_)) => {
                    let why = why(&line);
                    let why = why.strip_suffix(reply::TYPE_ANOTHER).unwrap_or(&why);
                    let name = who.name;
                    return Err(fatal(&format!("could not log in again as {name}: {why}")));
                }
                _ => {}
            }
        }
    }

    async fn send(&mut self, line: &str) -> Result<(), Fail> {
        send_line(&mut self.writer, line)
            .await
            .map_err(|e| Fail::Again(crate::words::error_line(&e)))
    }

    /// The next line, within `patience`.
    async fn reply(&mut self, patience: std::time::Duration) -> Result<Incoming, Fail> {
        let deadline = Instant::now() + patience;
        let left = deadline.saturating_duration_since(Instant::now());
        let got = runtime::timeout(left, self.server.incoming()).await;
        match got {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err(Fail::Again("the server closed the connection".into())),
            Ok(Err(e)) => Err(Fail::Again(crate::words::io_error(&e))),
            Err(_) => Err(Fail::Again("the server did not answer".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A connection the server has already reset: every write fails.
    struct Reset;

    impl futures::AsyncWrite for Reset {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Err(io::Error::from_raw_os_error(libc::EPIPE)))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_failed_send_is_said_in_plain_words_for_the_status_line() {
        let mut back = Back {
            server: ServerLines::new(futures::io::empty()),
            writer: Box::new(Reset),
            resumed: false,
            mode: Tags::default(),
            login: Tags::default(),
        };
        let Err(Fail::Again(why)) = runtime::block_on(back.send("/tagged")) else {
            panic!("a reset connection took a line");
        };
        assert_eq!(why, "cannot send to the server: broken pipe");
    }
}
