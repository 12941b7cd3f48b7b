//! Lines to and from the server: [`ServerLines`] frames what it sends,
//! [`send_line`] sends one of ours.

use std::collections::VecDeque;

use anyhow::Context;
use futures::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::connect::{Reader, Writer};
use super::tags::{self, Tags};
use crate::protocol::line::{Frame, LineFramer};

/// One line from the server: its tags (none unless tagged mode is on) and
/// the line as a plain client would get it (raw bytes, not yet sanitized).
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// Its tags (none when untagged).
    pub tags: Tags,
    /// The line itself, raw.
    pub line: Vec<u8>,
}

/// The longest line accepted from the server; longer ones are skipped.
const MAX_SERVER_LINE: usize = 64 * 1024;

/// How long one line may take to leave: a server that stopped reading
/// would otherwise hold a piped `join` at the end of its input for ever.
pub const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends `line` and its line end, flushed, within [`SEND_TIMEOUT`].
pub async fn send_line(writer: &mut Writer, line: &str) -> anyhow::Result<()> {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    // A TLS writer holds bytes until flushed.
    let send = async {
        writer.write_all(&bytes).await?;
        writer.flush().await
    };
    match crate::runtime::timeout(SEND_TIMEOUT, send).await {
        Ok(sent) => sent.context("cannot send to the server"),
        Err(_) => anyhow::bail!(
            "cannot send to the server: it has not read for {} s",
            SEND_TIMEOUT.as_secs()
        ),
    }
}

/// Lines from the server, each at most [`MAX_SERVER_LINE`] bytes.
pub struct ServerLines {
    /// The socket, or the reading half of a TLS session.
    stream: Reader,
    /// Bytes read but not yet a whole line.
    framer: LineFramer,
    /// Whole lines framed but not yet handed out.
    ready: VecDeque<Vec<u8>>,
    /// Where each read lands.
    buf: Vec<u8>,
    /// The server closed its side.
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

    /// The next line with its tags split off (in tagged mode); None at the
    /// end. A line whose tags are malformed is taken whole, untagged, to be
    /// shown as it came. Cancel-safe, as [`ServerLines::next`].
    pub async fn incoming(&mut self) -> std::io::Result<Option<Incoming>> {
        let Some(line) = self.next().await? else {
            return Ok(None);
        };
        // Tagged mode is all this client speaks; the greeting, before it,
        // has no tags (and a line whose tags are malformed is shown whole).
        if let Ok(Some((tags, rest))) = tags::split(&line) {
            let line = rest.to_vec();
            return Ok(Some(Incoming { tags, line }));
        }
        Ok(Some(Incoming {
            tags: Tags::default(),
            line,
        }))
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
