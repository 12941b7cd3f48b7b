//! The one task that owns the room. Connection tasks send it [`Event`]s
//! over a bounded channel; it applies them to the [`Room`], whose
//! deliveries append to each recipient's [`Outbox`] without ever waiting.
//! A recipient whose outbox is full is disconnected on the spot, so a slow
//! reader can cost only its own connection, never the room's pace.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::mpsc;
use futures::StreamExt;

use super::log::Log;
use super::outbox::{Backlog, End, Outbox};
use super::room::{ClientId, Happened, Mailbox, Room};
use crate::protocol::message::reply;
use crate::protocol::password::{Password, TRIES};
use crate::runtime;

/// What connection tasks tell the broker.
pub enum Event {
    /// A new connection, with the queue its writer drains.
    Connect { id: ClientId, peer: Peer },
    /// One line from the client, decoded (invalid UTF-8 as U+FFFD), not yet sanitized.
    Line { id: ClientId, text: String },
    /// The connection is gone; `why` is for the log when it failed.
    Disconnect { id: ClientId, why: Option<String> },
    /// The server is stopping: tell everyone, flush, close.
    Shutdown,
}

/// The broker's handle on one connection.
pub struct Peer {
    pub addr: SocketAddr,
    pub outbox: Arc<Outbox>,
    /// Set once the client logs in; its reader then stops the login clock.
    pub logged_in: Arc<AtomicBool>,
}

impl Mailbox for Peer {
    fn deliver(&self, line: &str) -> bool {
        self.outbox.push_deferred(line.as_bytes()).is_ok()
    }
}

/// The longest the broker waits for writers to catch up after one event.
const BACKLOG_PAUSE: Duration = Duration::from_millis(2);

/// After a pause that did not drain the backlog, how long to go on without
/// pausing: at most 2 ms in every 100 ms are lost to stalled clients.
const BACKLOG_STALLED: Duration = Duration::from_millis(100);

/// The line a client gets when it is cut off for not reading.
pub const TOO_SLOW: &str =
    "Server: Error: you are disconnected: you fell too far behind reading messages";

/// Runs until a [`Event::Shutdown`] or until every sender is gone.
pub async fn broker_loop(
    mut events: mpsc::Receiver<Event>,
    greeting: Vec<String>,
    announce_max: usize,
    backlog: Arc<Backlog>,
    password: Option<Password>,
    log: Log,
) {
    let greeting: Vec<&str> = greeting.iter().map(String::as_str).collect();
    let mut room: Room<Peer> = Room::new()
        .with_announce_max(announce_max)
        .with_password(password);
    let mut relayed: u64 = 0;
    // No pause before this time (see the end of the loop).
    let mut pauses_from = Instant::now();
    while let Some(event) = events.next().await {
        match event {
            Event::Connect { id, peer } => room.connect(id, peer, &greeting),
            Event::Line { id, text } => match room.line(id, &text) {
                Happened::Nothing => {}
                Happened::Relayed => relayed += 1,
                Happened::LoggedIn(name) => {
                    if let Some(peer) = room.mailbox(id) {
                        peer.logged_in.store(true, Ordering::Relaxed);
                        log.good(format!("Server: {name} joined the party! ({})", peer.addr));
                    }
                }
                Happened::LoginRefused(why) => {
                    if let Some(peer) = room.mailbox(id) {
                        log.warn(format!("Server: login refused for {}: {why}", peer.addr));
                    }
                }
                Happened::Admitted => {}
                // The attempt itself is never logged: it may be a near miss.
                Happened::WrongPassword { tries_left } => {
                    if let Some(peer) = room.mailbox(id) {
                        let addr = peer.addr;
                        log.warn(format!(
                            "Server: {addr} gave a wrong password ({tries_left} left)"
                        ));
                    }
                }
                Happened::LockedOut => {
                    if let Some(peer) = room.mailbox(id) {
                        let addr = peer.addr;
                        log.error(format!(
                            "Server: {addr} gave a wrong password {TRIES} times; closed"
                        ));
                    }
                    leave(&mut room, id, End::Flush, None, &log);
                }
                Happened::Renamed { old, new } => {
                    log.good(format!("Server: {old} is now known as {new}."));
                }
                Happened::Quit => leave(&mut room, id, End::Flush, None, &log),
            },
            Event::Disconnect { id, why } => leave(&mut room, id, End::Flush, why, &log),
            Event::Shutdown => {
                room.tell_everyone(reply::SHUTTING_DOWN);
                for peer in room.mailboxes() {
                    peer.outbox.end(End::Flush);
                }
                return;
            }
        }
        // Leaving can overflow someone else's queue in turn: repeat until none.
        loop {
            let overflowed = room.take_overflowed();
            if overflowed.is_empty() {
                break;
            }
            for id in overflowed {
                let end = End::Drop(TOO_SLOW.to_string());
                let why = Some("send queue full: the client is not reading".to_string());
                leave(&mut room, id, end, why, &log);
            }
        }
        backlog.settle();
        log.status(room.online(), relayed);
        if backlog.is_high() && Instant::now() >= pauses_from {
            // Let the writers catch up before fanning out more. Bounded, and
            // when a whole pause brought the backlog down not at all (it is
            // held up by clients that do not read) no more pauses for a
            // while: stalled clients must not set the room's pace.
            let before = backlog.bytes();
            let drained = runtime::timeout(BACKLOG_PAUSE, backlog.drained()).await;
            if drained.is_err() && backlog.bytes() >= before {
                pauses_from = Instant::now() + BACKLOG_STALLED;
            }
        }
    }
}

/// Takes a connection out of the room, ends its writer and logs why.
fn leave(room: &mut Room<Peer>, id: ClientId, end: End, why: Option<String>, log: &Log) {
    let Some(left) = room.leave(id) else { return };
    left.mailbox.outbox.end(end);
    let addr = left.mailbox.addr;
    if let Some(why) = why {
        log.error(format!("Server: connection {addr} failed: {why}"));
    }
    match left.name {
        Some(name) => log.warn(format!("Server: {name} left the party. ({addr})")),
        None => log.warn(format!("Server: {addr} disconnected before logging in")),
    }
}
