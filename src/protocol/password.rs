//! The room password. A [`Secret`] never shows itself: it has no `Display`
//! and its `Debug` is redacted, so it cannot slip into a log line or an
//! error by accident. The server keeps only the SHA-256 digest of its
//! password ([`Password`]) and compares digests in constant time, so how long
//! an answer takes says nothing about how much of a guess was right (not
//! even its length).

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Wrong passwords one connection may give; the last one closes it.
pub const TRIES: u32 = 3;

/// A password as configured or typed. Read it with [`Secret::expose`], only
/// where it is sent or checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(hidden)")
    }
}

/// Why a password cannot be used. Never holds the password itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordError {
    /// Empty or only whitespace: the server ignores such lines, so it could
    /// never be given.
    Empty,
    /// A line break inside: it could not be sent as one line.
    MultiLine,
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PasswordError::Empty => "the password is empty",
            PasswordError::MultiLine => "the password has a line break in it",
        })
    }
}

impl std::error::Error for PasswordError {}

impl Secret {
    /// A password given as one line (a flag, an environment variable, a prompt).
    pub fn new(text: impl Into<String>) -> Result<Secret, PasswordError> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(PasswordError::Empty);
        }
        if text.contains(['\n', '\r']) {
            return Err(PasswordError::MultiLine);
        }
        Ok(Secret(text))
    }

    /// A password file's contents: one line; its line end is not part of it.
    pub fn from_file_text(text: &str) -> Result<Secret, PasswordError> {
        let line = text.strip_suffix('\n').unwrap_or(text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        Secret::new(line)
    }

    /// The password itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its length in bytes (to check it fits in a line).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a `Secret` made by [`Secret::new`].
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The server's copy of the room password: its SHA-256 digest only.
#[derive(Clone, PartialEq, Eq)]
pub struct Password {
    digest: [u8; 32],
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(hidden)")
    }
}

impl Password {
    pub fn new(secret: &Secret) -> Password {
        Password {
            digest: Sha256::digest(secret.expose().as_bytes()).into(),
        }
    }

    /// Whether `attempt` (a line as received, without its line end) is the
    /// password. Takes the same time whatever the attempt shares with it.
    pub fn matches(&self, attempt: &str) -> bool {
        let attempt: [u8; 32] = Sha256::digest(attempt.as_bytes()).into();
        attempt.ct_eq(&self.digest).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_password_matches() {
        let password = Password::new(&Secret::new("correct horse").unwrap());
        assert!(password.matches("correct horse"));
        for wrong in [
            "correct hors",
            "correct horse ",
            "Correct horse",
            "",
            "correct horsee",
        ] {
            assert!(!password.matches(wrong), "{wrong:?} matched");
        }
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let secret = Secret::new("hunter2").unwrap();
        let password = Password::new(&secret);
        let shown = format!("{secret:?} {password:?} {:?}", Some(&secret));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            !shown.contains(&format!("{:?}", password.digest)),
            "{shown}"
        );
    }

    #[test]
    fn a_password_must_be_one_non_blank_line() {
        assert_eq!(Secret::new(""), Err(PasswordError::Empty));
        assert_eq!(Secret::new(" \t "), Err(PasswordError::Empty));
        assert_eq!(Secret::new("a\nb"), Err(PasswordError::MultiLine));
        assert_eq!(Secret::new("a\rb"), Err(PasswordError::MultiLine));
        assert_eq!(
            Secret::new(" spaced out ").unwrap().expose(),
            " spaced out "
        );
    }

    #[test]
    fn a_password_file_loses_its_line_end_only() {
        let from = |text| Secret::from_file_text(text).map(|s| s.expose().to_string());
        assert_eq!(from("s3cret\n"), Ok("s3cret".into()));
        assert_eq!(from("s3cret\r\n"), Ok("s3cret".into()));
        assert_eq!(from("s3cret"), Ok("s3cret".into()));
        assert_eq!(from("s3cret \n"), Ok("s3cret ".into()));
        assert_eq!(from("\n"), Err(PasswordError::Empty));
        assert_eq!(from("one\ntwo\n"), Err(PasswordError::MultiLine));
    }
}
