//! Our own lines in tagged mode: each is sent with a label, and shown as
//! sent only when the server answers it: the echo of a room message (with
//! its id), or the answer to a command. An error answering it marks it as
//! not sent, with the reason; a line still unanswered when a later line's
//! answer comes was dropped by the room (too fast). Lines unanswered when
//! the connection drops are handed back, to be sent again after the resume
//! unless the replay shows they arrived. Pure: labels and lines in, what
//! to show out.

use std::collections::VecDeque;

use super::tags::Error;
use crate::protocol::message::{parse_input, reply, Input};

/// What to do with a line from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Show it as it is.
    Show,
    /// Show it, after marking `mine` as not sent for `why` (lines of ours
    /// it passed over, or the one it refuses).
    Refused(Vec<(String, String)>),
}

/// Why a line passed over by a later answer was not sent.
pub const DROPPED: &str = "the room dropped it: sent too fast";

/// Lines awaiting their answer, at most: a server that never answers must
/// not make this grow without end.
const MOST_AWAITING: usize = 1024;

/// One line of ours, sent with a label.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sent {
    /// The label it went with.
    label: String,
    /// The line as typed.
    line: String,
    /// Some answer to it has come.
    answered: bool,
}

/// Our labeled lines, oldest first.
#[derive(Debug, Default)]
pub struct Confirm {
    /// Lines sent and still remembered, oldest first.
    sent: VecDeque<Sent>,
    /// Lines the server refused or dropped.
    refused: u64,
}

impl Confirm {
    /// `line` was sent as `label`.
    pub fn sent(&mut self, label: &str, line: &str) {
        if self.sent.len() >= MOST_AWAITING {
            self.sent.pop_front();
        }
        self.sent.push_back(Sent {
            label: label.to_string(),
            line: line.to_string(),
            answered: false,
        });
    }

    /// A server line answering `re` (if it names one of ours): `error`
    /// when its tags say it is one, with the reason as the line gives it.
    pub fn heard(&mut self, re: Option<&str>, error: Option<(Error, &str)>) -> Answer {
        let Some(re) = re else {
            return Answer::Show;
        };
        let Some(at) = self.sent.iter().position(|s| s.label == re) else {
            return Answer::Show;
        };
        let mut refused = Vec::new();
        // Every line before it got no answer: the room dropped them.
        for passed in self.sent.drain(..at) {
            if !passed.answered {
                refused.push((passed.line, DROPPED.to_string()));
            }
        }
        let current = &mut self.sent[0];
        if let Some((error, why)) = error {
            let why = why.strip_suffix(reply::TYPE_ANOTHER).unwrap_or(why);
            // A second error for one line (a drop notice after it) marks nothing twice.
            if !current.answered && !matches!(error, Error::Dropped(_)) {
                refused.push((current.line.clone(), why.to_string()));
            }
        }
        current.answered = true;
        self.refused += refused.len() as u64;
        match refused.is_empty() {
            true => Answer::Show,
            false => Answer::Refused(refused),
        }
    }

    /// Whether `label` is one of ours still remembered.
    pub fn knows(&self, label: &str) -> bool {
        self.sent.iter().any(|s| s.label == label)
    }

    /// A line of ours refused before it was sent.
    pub fn refused_here(&mut self) {
        self.refused += 1;
    }

    /// How many of our lines were refused.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The connection dropped: the lines still unanswered, oldest first,
    /// for sending again. Answered ones are forgotten.
    pub fn unanswered(&mut self) -> Vec<String> {
        self.sent
            .drain(..)
            .filter(|s| !s.answered)
            .map(|s| s.line)
            .collect()
    }
}

/// The reason an error line gives, as the person reads it: without the
/// `Server: Error: ` it usually starts with (its words are shown, never
/// read for meaning).
pub fn why(line: &str) -> &str {
    line.strip_prefix(reply::ERROR_PREFIX)
        .or_else(|| line.strip_prefix(reply::SERVER_PREFIX))
        .unwrap_or(line)
}

/// How the room shows `line` of ours when it arrives (`Max: hi`,
/// `* Max waves`, `To Bob (private): hi`), to find it in a replay; None
/// for a command the room shows no trace of.
pub fn as_shown(name: &str, line: &str) -> Option<String> {
    match parse_input(line) {
        Input::Chat(text) => Some(reply::chat(name, text)),
        Input::Me(text) => Some(reply::action(name, text)),
        Input::Msg { to, text } => Some(reply::private_to(to, text)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOWN: Option<(Error, &str)> = None;

    fn error(why: &str) -> Option<(Error, &str)> {
        Some((Error::Other, why))
    }

    #[test]
    fn an_echo_confirms_its_line() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "hello");
        assert_eq!(confirm.heard(Some("1"), SHOWN), Answer::Show);
        assert_eq!(confirm.unanswered(), Vec::<String>::new());
        assert_eq!(confirm.refused(), 0);
    }

    #[test]
    fn an_error_for_a_label_marks_that_line_not_sent() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "/msg Bobb hi");
        let refused = error("no user named Bobb is online");
        assert_eq!(
            confirm.heard(Some("1"), refused),
            Answer::Refused(vec![(
                "/msg Bobb hi".to_string(),
                "no user named Bobb is online".to_string()
            )])
        );
        assert_eq!(confirm.refused(), 1);
    }

    #[test]
    fn a_line_passed_over_by_a_later_answer_was_dropped() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "one");
        confirm.sent("2", "two");
        confirm.sent("3", "three");
        assert_eq!(confirm.heard(Some("1"), SHOWN), Answer::Show);
        assert_eq!(
            confirm.heard(Some("3"), SHOWN),
            Answer::Refused(vec![("two".to_string(), DROPPED.to_string())])
        );
        assert_eq!(confirm.refused(), 1);
    }

    #[test]
    fn a_command_with_many_answers_is_marked_once() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "/nick Bob");
        let taken = error("the name Bob is taken; type another username");
        assert!(matches!(
            confirm.heard(Some("1"), taken),
            Answer::Refused(_)
        ));
        assert_eq!(confirm.heard(Some("1"), taken), Answer::Show);
        confirm.sent("2", "/who");
        assert_eq!(confirm.heard(Some("2"), SHOWN), Answer::Show);
        assert_eq!(confirm.heard(Some("2"), SHOWN), Answer::Show);
        assert_eq!(confirm.refused(), 1);
    }

    #[test]
    fn lines_unanswered_at_a_drop_are_handed_back_in_order() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "seen");
        confirm.sent("2", "lost a");
        confirm.sent("3", "lost b");
        confirm.heard(Some("1"), SHOWN);
        assert_eq!(confirm.unanswered(), ["lost a", "lost b"]);
        assert_eq!(confirm.unanswered(), Vec::<String>::new());
    }

    #[test]
    fn lines_of_others_or_unknown_labels_are_just_shown() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "hi");
        assert_eq!(confirm.heard(None, SHOWN), Answer::Show);
        assert_eq!(confirm.heard(Some("9"), error("x")), Answer::Show);
        assert_eq!(confirm.unanswered(), ["hi"]);
    }

    #[test]
    fn a_drop_count_marks_no_line_twice() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "a");
        assert!(matches!(
            confirm.heard(Some("1"), error("slow")),
            Answer::Refused(_)
        ));
        let dropped = Some((Error::Dropped(3), "3 dropped"));
        assert_eq!(confirm.heard(Some("1"), dropped), Answer::Show);
        assert_eq!(confirm.refused(), 1);
    }

    #[test]
    fn the_reason_is_shown_without_the_servers_prefix() {
        assert_eq!(why("Server: Error: no such user"), "no such user");
        assert_eq!(why("Server: Fehler: kein Name"), "Fehler: kein Name");
        assert_eq!(why("odd"), "odd");
    }

    #[test]
    fn a_line_is_found_in_a_replay_as_the_room_shows_it() {
        assert_eq!(as_shown("Max", "hi").as_deref(), Some("Max: hi"));
        assert_eq!(as_shown("Max", "/me waves").as_deref(), Some("* Max waves"));
        assert_eq!(
            as_shown("Max", "/msg Bob psst").as_deref(),
            Some("To Bob (private): psst")
        );
        assert_eq!(as_shown("Max", "/who"), None);
    }
}
