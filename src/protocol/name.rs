//! Usernames. A name is 1–32 characters with no whitespace, no control
//! character and no `:`, and it is not `Server` in any case. Those rules are
//! what let a client tell `Max: hi` (chat) from `Server: …` (a notice) and
//! from `Max (private): hi` without guessing. Names also may not start with
//! `/`, so that a command typed before logging in is never taken as a name.
//! Uniqueness is case-insensitive: `max` is taken while `Max` is online.

use std::fmt;

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 32;

/// The name the server speaks as; nobody else may use it.
pub const SERVER_NAME: &str = "Server";

/// A validated username.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

/// Why a name was refused; the text is what the user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    Whitespace,
    Control,
    Invisible,
    Colon,
    Slash,
    Reserved,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            NameError::Empty => "a name cannot be empty",
            NameError::TooLong => "a name is at most 32 characters",
            NameError::Whitespace => "a name cannot contain spaces",
            NameError::Control => "a name cannot contain control characters",
            NameError::Invisible => "a name cannot contain invisible characters",
            NameError::Colon => "a name cannot contain ':'",
            NameError::Slash => "a name cannot start with '/'",
            NameError::Reserved => "that name is reserved",
        };
        f.write_str(why)
    }
}

impl std::error::Error for NameError {}

impl Name {
    /// Validates a name as typed (surrounding whitespace is ignored).
    ///
    /// ```
    /// use sockchat::protocol::name::{Name, NameError};
    ///
    /// assert_eq!(Name::parse(" Max ").map(|n| n.to_string()), Ok("Max".to_string()));
    /// assert_eq!(Name::parse("server"), Err(NameError::Reserved));
    /// assert_eq!(Name::parse("Max Power"), Err(NameError::Whitespace));
    /// ```
    pub fn parse(raw: &str) -> Result<Name, NameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        if name.chars().any(char::is_control) {
            return Err(NameError::Control);
        }
        if name.chars().any(is_invisible) {
            return Err(NameError::Invisible);
        }
        if name.chars().any(char::is_whitespace) {
            return Err(NameError::Whitespace);
        }
        if name.contains(':') {
            return Err(NameError::Colon);
        }
        if name.starts_with('/') {
            return Err(NameError::Slash);
        }
        if name.eq_ignore_ascii_case(SERVER_NAME) {
            return Err(NameError::Reserved);
        }
        Ok(Name(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key under which the name is unique: `Max` and `mAX` collide.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters that show nothing, or reorder what follows: in a name they
/// would let `Max\u{200B}` pass for `Max`, or flip how a line reads.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{E0000}'..='\u{E0FFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_accepted() {
        for name in ["Max", "Mahtab", "a", "x_y-z.1", "Zoë", "中文", "🦀"] {
            assert_eq!(Name::parse(name).map(|n| n.0), Ok(name.to_string()));
        }
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(Name::parse("  Max \t").map(|n| n.0), Ok("Max".to_string()));
    }

    #[test]
    fn empty_and_whitespace_only_names_are_refused() {
        assert_eq!(Name::parse(""), Err(NameError::Empty));
        assert_eq!(Name::parse("   "), Err(NameError::Empty));
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(Name::parse(&"é".repeat(32)).is_ok());
        assert_eq!(Name::parse(&"a".repeat(33)), Err(NameError::TooLong));
    }

    #[test]
    fn inner_whitespace_is_refused() {
        assert_eq!(Name::parse("Max Power"), Err(NameError::Whitespace));
        assert_eq!(Name::parse("Max\u{3000}Power"), Err(NameError::Whitespace));
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(Name::parse("Max\x1b[31m"), Err(NameError::Control));
        assert_eq!(Name::parse("a\u{9b}b"), Err(NameError::Control));
        assert_eq!(Name::parse("a\x7f"), Err(NameError::Control));
    }

    #[test]
    fn invisible_characters_are_refused() {
        for name in ["Max\u{200B}", "\u{202E}xaM", "Ma\u{00AD}x", "\u{FEFF}Max"] {
            assert_eq!(Name::parse(name), Err(NameError::Invisible), "{name:?}");
        }
    }

    #[test]
    fn colon_and_leading_slash_are_refused() {
        assert_eq!(Name::parse("Server:x"), Err(NameError::Colon));
        assert_eq!(Name::parse("/quit"), Err(NameError::Slash));
        assert!(Name::parse("a/b").is_ok());
    }

    #[test]
    fn server_is_reserved_in_any_case() {
        for name in ["Server", "server", "SERVER", "sErVeR"] {
            assert_eq!(Name::parse(name), Err(NameError::Reserved));
        }
        assert!(Name::parse("Servers").is_ok());
    }

    #[test]
    fn the_key_folds_case() {
        let a = Name::parse("Max").unwrap();
        let b = Name::parse("mAX").unwrap();
        assert_eq!(a.key(), b.key());
        assert_ne!(a, b);
    }
}
