//! What the person's side hands the session, whichever reads it (the
//! line editor, the dumb terminal's reader or piped stdin): a leaf, so
//! that those readers and [`super::input`], which starts them, do not use
//! each other.

/// One event from the person's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    Line(String),
    /// A piped line longer than `input::MAX_INPUT_LINE`: dropped
    /// as it was read.
    TooLong,
    /// Ctrl-D, or the end of piped input.
    Eof,
    /// Ctrl-C, SIGINT or SIGTERM.
    Interrupted,
}

/// Typed lines waiting to be sent; when full, reading stdin waits.
pub(super) const INPUT_QUEUE: usize = 64;
