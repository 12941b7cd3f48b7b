//! Blocks of kept messages (a late joiner's, `/history`'s, a resume's),
//! and what answers a kept message's sender: shared by the rooms and the
//! lobby's private messages.

use std::sync::Arc;

use crate::protocol::message::reply;
use crate::protocol::rooms;
use crate::protocol::stamp::stamp;
use crate::protocol::tagged::{Kept, Reply, Tags};
use crate::stream::record::RECORD_OVERHEAD;
use crate::stream::{Kind, PackedRecord, Record};

use super::client_id::ClientId;
use super::desk::Desk;
use super::kept::Meta;
use super::mailbox::Mailbox;

/// A history line's bytes beyond its record's text and names, as charged
/// to the output meter: the time in front (`[MM-DD HH:MM] `) or a tagged
/// line's id and time, and the line's punctuation.
const SHOWN_OVERHEAD: usize = 32;

/// A kept message in a block, as its viewer is to see it.
pub struct Shown {
    pub record: PackedRecord,
    /// A private message the viewer sent (shown as its `To …` copy).
    pub sent: bool,
    /// The room it belongs to (its name as shown); None: a private message.
    pub room: Option<Arc<str>>,
    /// Whether that room is the viewer's current one (no `[#room] ` then).
    pub current: bool,
}

impl Shown {
    /// The line a plain client reads (after its time).
    fn plain(&self, record: &Record) -> String {
        let text = viewed(record, self.sent);
        match &self.room {
            Some(room) if !self.current => rooms::reply::prefixed(room, &text),
            _ => text,
        }
    }

    /// The line a tagged client reads.
    fn tagged(&self, record: &Record) -> String {
        let text = viewed(record, self.sent);
        let tags = kept_tags(record).flag("h");
        match &self.room {
            Some(room) => tags.with("room", rooms::tag_value(room)).line(&text),
            None => tags.flag("pm").line(&text),
        }
    }
}

/// The connection a meta's sender has now (it may have resumed on
/// another one).
pub fn author<M: Mailbox>(desk: &Desk<M>, meta: &Meta) -> Option<ClientId> {
    match meta.by_session {
        Some(session) => desk.by_session.get(&session).copied(),
        None => meta.by,
    }
}

/// The label an answer to `meta`'s line carries on `author`'s
/// connection: none on a connection other than the one the line came
/// on (a resume happened meanwhile), where that label means nothing.
pub fn label_of(meta: &Meta, author: Option<ClientId>) -> Option<&str> {
    meta.label
        .as_deref()
        .filter(|_| author.is_some() && author == meta.by)
}

/// Tells the sender of what `meta` describes that it was not saved.
pub fn tell_unsaved<M: Mailbox>(
    desk: &mut Desk<M>,
    meta: &Meta,
    author: Option<ClientId>,
    why: &str,
) {
    let Some(author) = author else { return };
    let error = reply::error(why);
    if desk.is_tagged(author) {
        let line = Tags::at(desk.now())
            .reply(Reply::Error)
            .answering(label_of(meta, Some(author)))
            .line(&error);
        desk.send(author, &line);
    } else {
        desk.send(author, &error);
    }
}

/// A block of kept messages: a header that says how many, each one as
/// it was relayed (with its time in front for a plain client, and its
/// room's name if that is not the client's current room; tagged `h`,
/// with its id, time and room, for a tagged one), and a footer; `room`,
/// the room a block of one room is of. Queued as one whole, its lines
/// made as the client's writer gets to them (see
/// [`Mailbox::deliver_block`]): a block larger than the client's queue
/// reaches a client that reads it, and live lines come after it.
pub fn block<M: Mailbox>(
    desk: &mut Desk<M>,
    id: ClientId,
    (header, footer): (&str, &str),
    shown: Vec<Shown>,
    missed: u64,
    room: Option<&str>,
) {
    let Some(tagged) = desk.clients.get(&id).map(|c| c.tagged) else {
        return;
    };
    // What the block costs its address's output meter, counted before
    // its lines are made (they are made as the writer reaches them):
    // each record's text and names, and a share for its time and its
    // shape (`[HH:MM] `, `: `, a tagged line's tags).
    let body: usize = shown
        .iter()
        .map(|s| s.record.weight() - RECORD_OVERHEAD + SHOWN_OVERHEAD)
        .sum();
    desk.blocks_sent
        .push((id, body + header.len() + footer.len()));
    let now = desk.now();
    let (head, foot) = match tagged {
        true => {
            let label = desk.label_for(id);
            let mut head = Tags::at(now)
                .with("history", shown.len())
                .with("missed", missed);
            let mut foot = Tags::at(now).with("history", "end");
            if let Some(room) = room {
                head = head.with("room", rooms::tag_value(room));
                foot = foot.with("room", rooms::tag_value(room));
            }
            (
                head.answering(label).line(header),
                foot.answering(label).line(footer),
            )
        }
        false => (header.to_string(), footer.to_string()),
    };
    // Each record is unpacked as its line is made, and dropped with it.
    let body = shown.into_iter().map(move |shown| {
        let record = shown.record.record();
        match tagged {
            true => shown.tagged(&record),
            false => format!("{}{}", stamp(record.time, now), shown.plain(&record)),
        }
    });
    let lines = std::iter::once(head)
        .chain(body)
        .chain(std::iter::once(foot));
    let Desk {
        clients,
        tally,
        overflowed,
        ..
    } = desk;
    if let Some(client) = clients.get(&id) {
        if !client.mailbox.deliver_block(Box::new(lines), tally) {
            overflowed.push(id);
        }
    }
}

/// The tags of a kept message: its id, its time and what it is.
pub fn kept_tags(record: &Record) -> Tags {
    let kept = match &record.kind {
        Kind::Chat { from, .. } => Kept::Chat { from },
        Kind::Action { from, .. } => Kept::Action { from },
        Kind::Join { from } => Kept::Join { from },
        Kind::Leave { from } => Kept::Leave { from },
        Kind::Rename { from, new } => Kept::Rename { from, new },
        Kind::Private { from, to, .. } => Kept::Private { from, to },
    };
    Tags::kept(record.id, record.time).kept_as(kept)
}

/// A kept message as its viewer saw it: a private message it `sent` is
/// its `To …` copy.
fn viewed(record: &Record, sent: bool) -> String {
    match &record.kind {
        Kind::Private { to, text, .. } if sent => reply::private_to(to, text),
        kind => room_line(kind),
    }
}

/// A room message as everyone saw it.
pub fn room_line(kind: &Kind) -> String {
    match kind {
        Kind::Chat { from, text } => reply::chat(from, text),
        Kind::Action { from, text } => reply::action(from, text),
        Kind::Join { from } => reply::joined(from),
        Kind::Leave { from } => reply::left(from),
        Kind::Rename { from, new } => reply::renamed(from, new),
        Kind::Private { from, text, .. } => reply::private_from(from, text),
    }
}
