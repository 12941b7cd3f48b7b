//! One connection: its reader (this task) turns bytes into lines for the
//! broker; its writer (a task of its own) drains the connection's outbox
//! into the socket. Errors here end this connection only.

use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::future::{self, Either};
use futures::SinkExt;

use super::broker::{Event, Peer};
use super::outbox::{End, Next, Outbox};
use super::rate::RateLimit;
use super::room::ClientId;
use super::Config;
use crate::protocol::line::{Frame, LineFramer};
use crate::protocol::message::reply;
use crate::protocol::sanitize::sanitize_bytes;
use crate::runtime::{self, ReadExt, TcpStream, WriteExt};

/// How long a closing connection waits for the client to close its side
/// after our FIN, so that the last lines are read rather than reset.
const LINGER: Duration = Duration::from_secs(2);

/// How long a client being dropped for not reading gets to take the notice.
const DROP_NOTICE_TIME: Duration = Duration::from_millis(100);

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 4096;

/// Serves one accepted connection until it ends.
pub async fn connection(
    id: ClientId,
    stream: TcpStream,
    addr: SocketAddr,
    mut events: mpsc::Sender<Event>,
    config: Arc<Config>,
) {
    let outbox = Arc::new(Outbox::new(config.send_queue));
    let logged_in = Arc::new(AtomicBool::new(false));
    let peer = Peer {
        addr,
        outbox: outbox.clone(),
        logged_in: logged_in.clone(),
    };
    if events.send(Event::Connect { id, peer }).await.is_err() {
        return; // The server is shutting down.
    }
    let (reader_done, reader_done_rx) = oneshot::channel();
    let writer = runtime::spawn(writer_loop(stream.clone(), outbox.clone(), reader_done_rx));
    let why = reader_loop(id, &stream, &outbox, &logged_in, &mut events, &config).await;
    // Send fails only when the broker has stopped, and then nobody is left to tell.
    let _ = events.send(Event::Disconnect { id, why }).await;
    let _ = reader_done.send(());
    writer.await;
}

/// Reads lines until the client leaves; returns why, when it was an error.
async fn reader_loop(
    id: ClientId,
    mut stream: &TcpStream,
    outbox: &Outbox,
    logged_in: &AtomicBool,
    events: &mut mpsc::Sender<Event>,
    config: &Config,
) -> Option<String> {
    let started = Instant::now();
    let mut framer = LineFramer::new(config.max_line_bytes);
    let mut limit = RateLimit::new(config.rate, config.burst, started);
    let mut dropped: u64 = 0;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut lines: Vec<Result<String, ()>> = Vec::new();
    loop {
        let read = if logged_in.load(Ordering::Relaxed) {
            stream.read(&mut buf).await
        } else {
            let left = config.login_timeout.saturating_sub(started.elapsed());
            match runtime::timeout(left, stream.read(&mut buf)).await {
                Ok(read) => read,
                Err(_) => {
                    let secs = config.login_timeout.as_secs();
                    let _ = outbox.push(reply::login_timeout(secs).as_bytes());
                    return Some(format!("no username within {secs} s"));
                }
            }
        };
        let n = match read {
            Ok(0) => {
                if let Some(frame) = framer.finish() {
                    lines.push(owned(frame));
                }
                0
            }
            Ok(n) => {
                framer.feed(&buf[..n], |frame| lines.push(owned(frame)));
                n
            }
            Err(e) => return Some(e.to_string()),
        };
        for line in lines.drain(..) {
            let Ok(text) = line else {
                let _ = outbox.push(reply::line_too_long(config.max_line_bytes).as_bytes());
                continue;
            };
            let now = Instant::now();
            if !limit.allow(now) {
                if dropped == 0 {
                    let _ = outbox.push(reply::too_fast(config.rate, config.burst).as_bytes());
                }
                dropped += 1;
                continue;
            }
            if dropped > 0 {
                let _ = outbox.push(reply::dropped(dropped).as_bytes());
                dropped = 0;
            }
            if events.send(Event::Line { id, text }).await.is_err() {
                return None;
            }
        }
        if n == 0 {
            return None;
        }
    }
}

fn owned(frame: Frame<'_>) -> Result<String, ()> {
    match frame {
        Frame::Line(bytes) => Ok(sanitize_bytes(bytes).into_owned()),
        Frame::TooLong => Err(()),
    }
}

/// Writes whatever is queued, as one write per wake-up, until the outbox ends.
async fn writer_loop(stream: TcpStream, outbox: Arc<Outbox>, reader_done: oneshot::Receiver<()>) {
    let mut buf = Vec::new();
    loop {
        match outbox.next(&mut buf).await {
            Next::Write => {
                let mut writing = &stream;
                let write = writing.write_all(&buf);
                let dropped = outbox.dropped();
                futures::pin_mut!(write, dropped);
                match future::select(write, dropped).await {
                    Either::Left((Ok(()), _)) => {}
                    // The client is gone or cut off: the reader notices and reports it.
                    Either::Left((Err(_), _)) | Either::Right(_) => {
                        let _ = stream.shutdown(Shutdown::Both);
                        return;
                    }
                }
                buf.clear();
                // Keep memory small on idle connections after a burst.
                if buf.capacity() > 64 * 1024 {
                    buf = Vec::new();
                }
            }
            Next::End(End::Flush) => {
                // FIN first, then let the client close, so it reads our last lines.
                let _ = stream.shutdown(Shutdown::Write);
                let _ = runtime::timeout(LINGER, reader_done).await;
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            Next::End(End::Drop(notice)) => {
                let mut writing = &stream;
                let line = format!("{notice}\n");
                let _ =
                    runtime::timeout(DROP_NOTICE_TIME, writing.write_all(line.as_bytes())).await;
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
    }
}
