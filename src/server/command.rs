//! A client's line, decoded once at the boundary into what it asks for.
//! The broker reads each line here (label, sanitizing, parsing), gates
//! on the result (password back-off, output meters) and hands the very
//! same [`Command`] to the lobby, which routes it; no part of the server
//! parses a line again.

use std::borrow::Cow;

use crate::protocol::message::{parse_input, Input};
use crate::protocol::rooms::{parse_room_input, RoomInput};
use crate::protocol::sanitize::sanitize;
use crate::protocol::tagged;

/// How far a connection has come, which decides how its line is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// It owes the server's password: the line is compared as received.
    Password,
    /// It has no name yet: the line is a name as typed (or a `/resume`).
    Name,
    /// Logged in: the line is sanitized, then read as chat or a command.
    In,
}

/// One line, read: its label (tagged clients only) and, for a logged-in
/// client, its sanitized text.
pub struct Read<'a> {
    /// The label a tagged client put in front, which answers carry.
    pub label: Option<&'a str>,
    /// The line without its label, as received.
    pub bare: &'a str,
    /// The line sanitized (logged-in clients only).
    clean: Option<Cow<'a, str>>,
    stage: Stage,
    tagged: bool,
}

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `/tagged`: switch to tagged lines (only before a name).
    Tagged,
    /// What a connection that owes the password said: `given` is compared
    /// as received (even `/quit` may be the password); `input` is what
    /// it means if it is not the password.
    Password { given: &'a str, input: Input<'a> },
    /// A name as typed (a control character in it refuses it), or, as
    /// `input`, a command before logging in.
    Name { given: &'a str, input: Input<'a> },
    /// `/resume …` before logging in, from a tagged client: the rest.
    Resume(&'a str),
    /// A logged-in client's chat or command.
    Said(Input<'a>),
    /// A logged-in client's room command.
    Room(RoomInput<'a>),
}

impl<'a> Read<'a> {
    /// Reads `text` from a connection at `stage`, tagged or not. Only a
    /// tagged client's line can carry a label.
    pub fn new(text: &'a str, tagged: bool, stage: Stage) -> Read<'a> {
        let (label, bare) = match tagged && text.starts_with(tagged::MARK) {
            true => tagged::split_label(text),
            false => (None, text),
        };
        let clean = (stage == Stage::In).then(|| sanitize(bare));
        Read {
            label,
            bare,
            clean,
            stage,
            tagged,
        }
    }

    /// What the line asks for. A logged-in client's new name is judged as
    /// typed (a control character refuses it rather than silently
    /// vanishing from it); everything else it says, sanitized.
    pub fn command(&self) -> Command<'_> {
        let bare = self.bare;
        if bare == tagged::SWITCH {
            return Command::Tagged;
        }
        match (self.stage, &self.clean) {
            (Stage::Password, _) => Command::Password {
                given: bare,
                input: parse_input(bare),
            },
            (Stage::Name, _) => match strip_resume(bare).filter(|_| self.tagged) {
                Some(rest) => Command::Resume(rest),
                None => Command::Name {
                    given: bare,
                    input: parse_input(bare),
                },
            },
            (Stage::In, Some(clean)) => match parse_input(bare) {
                Input::Nick(new) => Command::Said(Input::Nick(new)),
                _ => match parse_room_input(clean) {
                    Some(room) => Command::Room(room),
                    None => Command::Said(parse_input(clean)),
                },
            },
            (Stage::In, None) => Command::Said(parse_input(bare)),
        }
    }
}

/// What follows `/resume ` in a line, if it is one.
fn strip_resume(text: &str) -> Option<&str> {
    let (word, rest) = text.split_once(' ')?;
    word.eq_ignore_ascii_case("/resume").then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_character_is_cleaned_from_a_command_but_kept_in_a_new_name() {
        let read = Read::new("\x1b/who", false, Stage::In);
        assert_eq!(read.command(), Command::Said(Input::Who));
        let read = Read::new("/nick Ma\x07x", false, Stage::In);
        assert_eq!(read.command(), Command::Said(Input::Nick("Ma\x07x")));
    }

    #[test]
    fn only_a_tagged_client_has_labels_and_may_resume() {
        let read = Read::new("~a1 /resume ab 3", true, Stage::Name);
        assert_eq!(read.label, Some("a1"));
        assert_eq!(read.command(), Command::Resume("ab 3"));
        let read = Read::new("~a1 /resume ab 3", false, Stage::Name);
        assert_eq!(read.label, None);
        assert!(matches!(read.command(), Command::Name { .. }));
    }

    #[test]
    fn a_password_is_taken_as_received() {
        let read = Read::new(" s3cret\x07", false, Stage::Password);
        let Command::Password { given, .. } = read.command() else {
            panic!("not a password");
        };
        assert_eq!(given, " s3cret\x07");
    }
}
