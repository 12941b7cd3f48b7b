//! Room names. A room name is `#` and 1–32 characters after it, held to
//! the rules of user names ([`super::name`]): printable, no whitespace,
//! nothing invisible or control, no loose accents, letters of one script,
//! and unique by the same look-alike key, so `#ops`, `#OPS` and `#0ps` are
//! one room. On top of those, a room name holds no `,` and no `]`: a
//! line from another room is shown as `[#ops] Ann: text`, which a reader
//! (or a program) splits at the first `]`, and a resume cursor lists
//! rooms separated by `,`. A name may hold `:` and `/`, which a user name
//! may not, since a room name is never read where those matter.

use std::fmt;
use std::sync::Arc;
use std::sync::OnceLock;

use super::spelling::{checked, fits_one_script, key_of, Flaw, Spelled};

/// What every room name starts with, shown and on the wire.
pub const SIGIL: char = '#';

/// What is read as the sigil when a name is typed: `#`, and the
/// full-width `＃` and small `﹟` an input method may type for it.
pub const TYPED_SIGILS: [char; 3] = [SIGIL, '\u{FF03}', '\u{FE5F}'];

/// A validated room name; its text (with the `#`), key and shared key
/// are those of the [`Spelled`] it holds. The key is that of
/// what follows the `#` (so a store directory `#KEY` has one `#`):
/// `#ops`, `#OPS`, `#0ps` and `#ОРЅ` (in Cyrillic letters) share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoomName(Spelled);

/// Why a room name was refused; the text is what the user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomNameError {
    /// A flaw that a user name can have too.
    Spelling(Flaw),
    Comma,
    Bracket,
}

impl From<Flaw> for RoomNameError {
    fn from(flaw: Flaw) -> Self {
        RoomNameError::Spelling(flaw)
    }
}

impl fmt::Display for RoomNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomNameError::Spelling(Flaw::Empty) => {
                f.write_str("a room name needs at least one character after '#'")
            }
            RoomNameError::Spelling(Flaw::TooLong) => {
                f.write_str("a room name is at most 32 characters after '#'")
            }
            RoomNameError::Spelling(flaw) => write!(f, "a room name {}", flaw.predicate()),
            RoomNameError::Comma => f.write_str("a room name cannot contain ','"),
            RoomNameError::Bracket => f.write_str("a room name cannot contain ']'"),
        }
    }
}

impl std::error::Error for RoomNameError {}

impl RoomName {
    /// Validates a room name as typed, with or without its `#` (one `#`,
    /// or one full-width `＃` or small `﹟`, is taken as the sigil: `##ops`
    /// is the room `##ops`, `＃ops` is `#ops`). Surrounding whitespace is
    /// ignored.
    ///
    /// ```
    /// use sockchat::protocol::room::{RoomName, RoomNameError};
    ///
    /// assert_eq!(RoomName::parse("ops").map(|r| r.to_string()), Ok("#ops".to_string()));
    /// assert_eq!(RoomName::parse("#OPS").unwrap().key(), RoomName::parse("#0ps").unwrap().key());
    /// assert_eq!(RoomName::parse("#a]b"), Err(RoomNameError::Bracket));
    /// ```
    pub fn parse(raw: &str) -> Result<RoomName, RoomNameError> {
        let trimmed = raw.trim();
        let after = trimmed.strip_prefix(TYPED_SIGILS).unwrap_or(trimmed);
        let after = checked(after)?;
        if after.contains(',') {
            return Err(RoomNameError::Comma);
        }
        if after.contains(']') {
            return Err(RoomNameError::Bracket);
        }
        if !fits_one_script(&after) {
            return Err(Flaw::MixedScripts.into());
        }
        let key = key_of(&after);
        Ok(RoomName(Spelled::new(format!("{SIGIL}{after}"), key)))
    }

    /// `#main`, where everyone lands at login.
    pub fn main() -> RoomName {
        static MAIN: OnceLock<RoomName> = OnceLock::new();
        MAIN.get_or_init(|| RoomName::parse("#main").expect("#main is a valid room name"))
            .clone()
    }

    /// The name as shown (with its `#`).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// See [`Spelled::key`].
    pub fn key(&self) -> &str {
        self.0.key()
    }

    /// [`Spelled::shared_key`].
    pub fn shared_key(&self) -> Arc<str> {
        self.0.shared_key()
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(typed: &str) -> RoomName {
        match RoomName::parse(typed) {
            Ok(room) => room,
            Err(why) => panic!("{typed:?} was refused: {why}"),
        }
    }

    fn refused(typed: &str) -> RoomNameError {
        match RoomName::parse(typed) {
            Ok(ok) => panic!("{typed:?} was accepted as {ok:?}"),
            Err(why) => why,
        }
    }

    #[test]
    fn ops_typed_every_way_is_one_room() {
        let key = room("#ops").shared_key();
        for typed in [
            "ops",
            "#OPS",
            "#0ps",
            "Ops",
            " #ops ",
            "#\u{41E}\u{420}\u{405}",
            "#ｏｐｓ",
        ] {
            assert_eq!(room(typed).key(), &*key, "{typed:?}");
        }
        assert_ne!(room("#ops").key(), room("#opt").key());
    }

    #[test]
    fn a_full_width_or_small_sigil_typed_is_the_sigil() {
        // An IME types `＃`: the user means #ops, not a room `#＃ops`
        // (which is `##ops` by its look).
        for (typed, shown) in [("＃ops", "#ops"), ("﹟ops", "#ops"), (" ＃OPS", "#OPS")] {
            assert_eq!(room(typed).as_str(), shown, "{typed:?}");
            assert_eq!(room(typed).key(), room("#ops").key(), "{typed:?}");
        }
        assert_eq!(room("#＃ops").key(), room("##ops").key());
    }

    #[test]
    fn a_room_is_shown_as_spelled_with_its_sigil() {
        assert_eq!(room("Ops").as_str(), "#Ops");
        assert_eq!(room("#OPS").to_string(), "#OPS");
        assert_eq!(room("##ops").as_str(), "##ops");
        assert_eq!(
            room("#caf\u{65}\u{301}").as_str(),
            "#caf\u{E9}",
            "kept in NFC"
        );
    }

    #[test]
    fn the_key_leaves_the_sigil_out() {
        assert_eq!(room("#ops").key(), room("ops").key());
        assert!(!room("#ops").key().contains('#'));
    }

    #[test]
    fn main_is_main() {
        assert_eq!(RoomName::main().as_str(), "#main");
        assert_eq!(RoomName::main().key(), room("MAIN").key());
        assert_eq!(RoomName::main(), room("#main"));
    }

    #[test]
    fn ordinary_room_names_are_accepted() {
        for typed in [
            "#general",
            "#lunch",
            "#a",
            "#dev-2.0",
            "#ops:night",
            "#a/b",
            "#[x",
            "#中文",
            "#🦀",
        ] {
            assert_eq!(room(typed).as_str(), typed);
        }
    }

    #[test]
    fn one_to_thirty_two_characters_after_the_sigil() {
        assert_eq!(refused("#"), RoomNameError::Spelling(Flaw::Empty));
        assert_eq!(refused(""), RoomNameError::Spelling(Flaw::Empty));
        assert_eq!(refused("  "), RoomNameError::Spelling(Flaw::Empty));
        assert!(RoomName::parse(&format!("#{}", "é".repeat(32))).is_ok());
        assert_eq!(
            refused(&format!("#{}", "a".repeat(33))),
            RoomNameError::Spelling(Flaw::TooLong)
        );
    }

    #[test]
    fn whitespace_and_blanks_are_refused() {
        for typed in [
            "#a b",
            "# ops",
            "#a\u{3000}b",
            "#ops\u{2800}",
            "#a\u{2028}b",
        ] {
            assert_eq!(
                refused(typed),
                RoomNameError::Spelling(Flaw::Whitespace),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn comma_and_closing_bracket_are_refused() {
        assert_eq!(refused("#a,b"), RoomNameError::Comma);
        assert_eq!(refused("#ops]"), RoomNameError::Bracket);
    }

    #[test]
    fn control_characters_are_refused() {
        for typed in ["#ops\x1b[31m", "#a\u{9b}b", "#a\x7f", "#a\tb"] {
            let why = refused(typed);
            assert!(
                why == RoomNameError::Spelling(Flaw::Control)
                    || why == RoomNameError::Spelling(Flaw::Whitespace),
                "{typed:?}: {why:?}"
            );
        }
        assert_eq!(refused("#ops\x1b"), RoomNameError::Spelling(Flaw::Control));
    }

    #[test]
    fn invisible_and_bidi_characters_are_refused() {
        for typed in [
            "#ops\u{200B}",
            "#\u{202E}spo",
            "#o\u{2066}ps",
            "#ops\u{FE0F}",
            "#ops\u{E0001}",
        ] {
            assert_eq!(
                refused(typed),
                RoomNameError::Spelling(Flaw::Invisible),
                "{typed:?}"
            );
        }
    }

    #[test]
    fn unassigned_and_private_use_are_refused() {
        assert_eq!(
            refused("#ops\u{E000}"),
            RoomNameError::Spelling(Flaw::Unassigned)
        );
        assert_eq!(
            refused("#ops\u{0378}"),
            RoomNameError::Spelling(Flaw::Unassigned)
        );
    }

    #[test]
    fn look_alikes_that_would_key_apart_are_refused() {
        assert_eq!(
            refused("#ops\u{332}"),
            RoomNameError::Spelling(Flaw::LooseMark)
        );
        assert_eq!(
            refused("#o\u{41F}s"),
            RoomNameError::Spelling(Flaw::MixedScripts)
        );
        assert_eq!(
            refused("#ops\u{FFFD}"),
            RoomNameError::Spelling(Flaw::NotUtf8)
        );
    }

    #[test]
    fn every_reason_is_one_plain_line_about_a_room_name() {
        for typed in ["#", "#a b", "#a,b", "#a]", "#a\u{200B}", &"x".repeat(40)] {
            let why = refused(typed).to_string();
            assert!(why.starts_with("a room name "), "{why}");
            assert!(!why.contains('\n'), "{why}");
        }
        assert_eq!(
            refused("#").to_string(),
            "a room name needs at least one character after '#'"
        );
    }
}
