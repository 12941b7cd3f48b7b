//! Our own lines in tagged mode: each is sent with a label, and shown as
//! sent only when the server answers it: the echo of a room message (with
//! its id), or the answer to a command. An error answering it marks it as
//! not sent, with the reason; a line still unanswered when a later line's
//! answer comes was dropped by the room (too fast). Lines unanswered when
//! the connection drops are handed back, to be sent again after the resume
//! unless the replay shows they arrived. Pure: labels and lines in, what
//! to show out.

use std::collections::VecDeque;

use crate::protocol::message::{parse_input, reply, Input, ServerLine};

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

    /// A server line answering `re` (if it names one of ours), classified.
    pub fn heard(&mut self, re: Option<&str>, line: &ServerLine<'_>) -> Answer {
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
        if let ServerLine::Error(why) = line {
            let why = why.strip_suffix(reply::TYPE_ANOTHER).unwrap_or(why);
            // A second error for one line (a drop notice after it) marks nothing twice.
            if !current.answered && !is_drop_count(why) {
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

fn is_drop_count(why: &str) -> bool {
    reply::dropped_count(why).is_some()
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
    use crate::protocol::message::classify;

    #[test]
    fn an_echo_confirms_its_line() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "hello");
        assert_eq!(
            confirm.heard(Some("1"), &classify("Max: hello")),
            Answer::Show
        );
        assert_eq!(confirm.unanswered(), Vec::<String>::new());
        assert_eq!(confirm.refused(), 0);
    }

    #[test]
    fn an_error_for_a_label_marks_that_line_not_sent() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "/msg Bobb hi");
        let error = classify("Server: Error: no user named Bobb is online");
        assert_eq!(
            confirm.heard(Some("1"), &error),
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
        assert_eq!(
            confirm.heard(Some("1"), &classify("Max: one")),
            Answer::Show
        );
        assert_eq!(
            confirm.heard(Some("3"), &classify("Max: three")),
            Answer::Refused(vec![("two".to_string(), DROPPED.to_string())])
        );
        assert_eq!(confirm.refused(), 1);
    }

    #[test]
    fn a_command_with_many_answers_is_marked_once() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "/nick Bob");
        let taken = classify("Server: Error: the name Bob is taken; type another username");
        assert!(matches!(
            confirm.heard(Some("1"), &taken),
            Answer::Refused(_)
        ));
        assert_eq!(confirm.heard(Some("1"), &taken), Answer::Show);
        confirm.sent("2", "/who");
        assert_eq!(
            confirm.heard(Some("2"), &classify("Server: Online (1): Max")),
            Answer::Show
        );
        assert_eq!(
            confirm.heard(Some("2"), &classify("Server: Online, continued: x")),
            Answer::Show
        );
        assert_eq!(confirm.refused(), 1);
    }

    #[test]
    fn lines_unanswered_at_a_drop_are_handed_back_in_order() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "seen");
        confirm.sent("2", "lost a");
        confirm.sent("3", "lost b");
        confirm.heard(Some("1"), &classify("Max: seen"));
        assert_eq!(confirm.unanswered(), ["lost a", "lost b"]);
        assert_eq!(confirm.unanswered(), Vec::<String>::new());
    }

    #[test]
    fn lines_of_others_or_unknown_labels_are_just_shown() {
        let mut confirm = Confirm::default();
        confirm.sent("1", "hi");
        assert_eq!(confirm.heard(None, &classify("Ann: hi")), Answer::Show);
        assert_eq!(
            confirm.heard(Some("9"), &classify("Server: Error: x")),
            Answer::Show
        );
        assert_eq!(confirm.unanswered(), ["hi"]);
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
