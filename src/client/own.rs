//! The person's own lines in the transcript: shown as everyone else sees
//! them (`Max: text`, `* Max waves`; a private message comes back from the
//! server as `To Bob (private): …`), and a line the server refused marked
//! as not sent. Pure: lines in, what to show out.
//!
//! The server answers every command, in the order the commands came, and a
//! chat line not at all; so a refusal that is not about sending too fast
//! belongs to the oldest command still waiting for its answer.

use std::collections::VecDeque;

use crate::protocol::message::{classify, parse_input, reply, Input, ServerLine};

/// What the server's answer to a command looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// `To Bob (private): …`
    Private,
    /// `Server: You are now known as: …`
    Renamed,
    /// `Server: Online (…`
    Who,
    /// `Server: Commands:`
    Help,
    /// `Server: Limits: …`
    Limits,
    /// `Server: The last N messages…` (or `… after id …`)
    History,
    /// Only ever an error (a command used wrongly, or unknown).
    Refusal,
}

/// What to do with a line from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// Show it as it is.
    Show,
    /// It refused this line of ours, for `why`: show the line, marked.
    NotSent { mine: String, why: String },
}

/// Commands of ours waiting for their answer, at most: a server that
/// never answers must not make this grow without end.
const MOST_AWAITING: usize = 1024;

/// The person's lines, as far as the transcript is concerned.
pub struct Own {
    /// Our name in the room (it changes with `/nick`).
    name: String,
    /// Commands sent and not answered yet, oldest first.
    awaiting: VecDeque<(String, Answer)>,
    /// Lines the server refused.
    refused: u64,
    /// The server said we send too fast and has not yet said how many it dropped.
    dropping: bool,
}

impl Own {
    pub fn new(name: &str) -> Own {
        Own {
            name: name.to_string(),
            awaiting: VecDeque::new(),
            refused: 0,
            dropping: false,
        }
    }

    /// `line` is being sent: the server-shaped line to show for it now, if
    /// any (a command is shown by the server's answer).
    pub fn sent(&mut self, line: &str) -> Option<String> {
        let answer = match parse_input(line) {
            Input::Chat(text) => return Some(reply::chat(&self.name, text)),
            Input::Me(text) => return Some(reply::action(&self.name, text)),
            Input::Empty | Input::Quit => return None,
            Input::Msg { .. } => Answer::Private,
            Input::Nick(_) => Answer::Renamed,
            Input::Who => Answer::Who,
            Input::Help => Answer::Help,
            Input::Limits => Answer::Limits,
            Input::History(_) => Answer::History,
            Input::Usage(_) | Input::Unknown(_) => Answer::Refusal,
        };
        if self.awaiting.len() >= MOST_AWAITING {
            // A server that never answers: the oldest is forgotten, so
            // that a refusal can no longer be pinned on it.
            self.awaiting.pop_front();
        }
        self.awaiting.push_back((line.to_string(), answer));
        None
    }

    /// A line of ours was refused before it was sent.
    pub fn refused_here(&mut self) {
        self.refused += 1;
    }

    /// A line from the server (sanitized).
    pub fn heard(&mut self, line: &str) -> Heard {
        match classify(line) {
            ServerLine::Error(why) if why.starts_with(reply::TOO_FAST_TEXT) => {
                self.dropping = true;
            }
            ServerLine::Error(why) => {
                if let Some(count) = reply::dropped_count(why) {
                    self.refused += count;
                    self.dropping = false;
                    return Heard::Show;
                }
                self.refused += 1;
                if let Some((mine, _)) = self.awaiting.pop_front() {
                    let why = why.to_string();
                    return Heard::NotSent { mine, why };
                }
            }
            ServerLine::PrivateTo { .. } => self.answered(Answer::Private),
            ServerLine::Notice(text) => {
                if let Some(new) = text.strip_prefix("You are now known as: ") {
                    self.name = new.to_string();
                    self.answered(Answer::Renamed);
                } else if text.starts_with("Online (") {
                    self.answered(Answer::Who);
                } else if text == "Commands:" {
                    self.answered(Answer::Help);
                } else if text.ends_with("times UTC):") && !text.contains("before you came") {
                    self.answered(Answer::History);
                } else if line.starts_with(reply::LIMITS_PREFIX) {
                    self.answered(Answer::Limits);
                }
            }
            _ => {}
        }
        Heard::Show
    }

    /// How many of our lines the server refused (a run of drops it has not
    /// counted yet is at least one).
    pub fn refused(&self) -> u64 {
        self.refused + u64::from(self.dropping)
    }

    fn answered(&mut self, answer: Answer) {
        if self.awaiting.front().is_some_and(|(_, a)| *a == answer) {
            self.awaiting.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_a_server_never_answers_are_kept_up_to_a_bound() {
        let mut own = Own::new("Max");
        for _ in 0..MOST_AWAITING + 100 {
            assert_eq!(own.sent("/who"), None);
        }
        assert_eq!(own.awaiting.len(), MOST_AWAITING);
    }

    #[test]
    fn chat_and_actions_are_shown_as_the_others_see_them() {
        let mut own = Own::new("Max");
        assert_eq!(own.sent("hello"), Some("Max: hello".to_string()));
        assert_eq!(own.sent("/me waves"), Some("* Max waves".to_string()));
        assert_eq!(own.sent("//shrug"), Some("Max: /shrug".to_string()));
        assert_eq!(own.sent("/msg Bob psst"), None);
        assert_eq!(own.sent("/quit"), None);
    }

    #[test]
    fn a_refusal_marks_the_oldest_command_waiting() {
        let mut own = Own::new("Max");
        own.sent("/msg Bob hi");
        own.sent("/msg Nobody hi");
        assert_eq!(own.heard("Bob: unrelated"), Heard::Show);
        assert_eq!(own.heard("To Bob (private): hi"), Heard::Show);
        assert_eq!(
            own.heard("Server: Error: no user named Nobody is online"),
            Heard::NotSent {
                mine: "/msg Nobody hi".to_string(),
                why: "no user named Nobody is online".to_string()
            }
        );
        assert_eq!(own.refused(), 1);
    }

    #[test]
    fn a_new_name_is_used_for_the_lines_after_it() {
        let mut own = Own::new("Max");
        own.sent("/nick Maxi");
        assert_eq!(own.heard("Server: You are now known as: Maxi"), Heard::Show);
        assert_eq!(own.sent("hi"), Some("Maxi: hi".to_string()));
        own.sent("/nick Bob");
        let taken = own.heard("Server: Error: the name Bob is taken");
        assert!(matches!(taken, Heard::NotSent { .. }), "{taken:?}");
        assert_eq!(own.sent("hi"), Some("Maxi: hi".to_string()));
    }

    #[test]
    fn dropped_lines_are_counted_not_pinned_on_a_command() {
        let mut own = Own::new("Max");
        own.sent("/who");
        let too_fast = reply::too_fast(20, 40);
        assert_eq!(own.heard(&too_fast), Heard::Show);
        assert_eq!(own.refused(), 1);
        assert_eq!(own.heard(&reply::dropped(5)), Heard::Show);
        assert_eq!(own.refused(), 5);
        assert_eq!(own.heard("Server: Online (1): Max"), Heard::Show);
        assert_eq!(own.heard("Server: Error: unrelated"), Heard::Show);
        assert_eq!(own.refused(), 6);
    }
}
