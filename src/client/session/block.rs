//! A catch-up block being held: what it has so far, what ends it, and
//! when it is given up on. Data only; [`super::held`] fills and ends it.

use std::time::{Duration, Instant};

use crate::client::catchup::{Catchup, Point};
use crate::client::lines::Incoming;
use crate::client::tags::Tags;

/// When a catch-up block being held ends.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Until {
    /// At the block's footer (the login's or a resume's block).
    End,
    /// At the footer (or the refusal) answering our `/history after`.
    Answer(String),
}

/// How a block that came short (or was refused) is asked for again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Again {
    /// `/history [ROOM] after ID`: from where it was collected after.
    After(Point),
    /// `/history [N]`: the last N (None: the server's default) of `#main`,
    /// for a block with nothing known before it (a first login's, or after
    /// a restart that lost every id we saw).
    Last(Option<u64>),
}

/// A catch-up block being held.
pub(super) struct Holding {
    /// The lines so far.
    pub(super) block: Catchup<Incoming>,
    /// What ends it.
    pub(super) until: Until,
    /// When to stop waiting for its end and show what came.
    pub(super) deadline: Instant,
    /// Lines the latest block's header promised (`history=N`).
    pub(super) promised: u64,
    /// History lines that came since that header (those held before
    /// included).
    pub(super) came: u64,
    /// How many times a short block was asked for again.
    pub(super) asked_again: u32,
    /// It is the answer to logging in again (not a resume): a refusal
    /// of it means the server lost what we saw; then the room's last
    /// messages are asked for once.
    pub(super) again_login: bool,
    /// The server was found to have lost what we saw (said at the end).
    pub(super) restarted: bool,
}

impl Holding {
    pub(super) fn new(block: Catchup<Incoming>, until: Until, patience: Duration) -> Holding {
        Holding {
            block,
            until,
            deadline: Instant::now() + patience,
            promised: 0,
            came: 0,
            asked_again: 0,
            again_login: false,
            restarted: false,
        }
    }
}

/// The label of our line that `tags` answers, as an [`Until`].
pub(super) fn answering(tags: &Tags) -> Until {
    match &tags.re {
        Some(re) => Until::Answer(re.clone()),
        None => Until::End,
    }
}
