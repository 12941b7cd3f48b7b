//! Whether a line asks for the person's attention: someone else's chat or
//! action that names them (the name as a word, any case, with or without
//! `@`), or a private message to them. Pure.

use crate::protocol::message::ServerLine;

/// Whether `line` (classified) calls for `me`'s attention.
pub fn calls(line: &ServerLine<'_>, me: &str) -> bool {
    match *line {
        ServerLine::PrivateFrom { .. } => true,
        ServerLine::Chat { from, text } | ServerLine::Action { name: from, text } => {
            !same(from, me) && names(text, me)
        }
        _ => false,
    }
}

/// Whether `text` holds `name` as a word: not inside a longer word, in any
/// case, `@name` too.
pub fn names(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let lower = text.to_lowercase();
    let name = name.to_lowercase();
    let word = |c: char| c.is_alphanumeric() || c == '_';
    lower.match_indices(&name).any(|(at, found)| {
        let before = lower[..at].chars().next_back();
        let after = lower[at + found.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

fn same(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::classify;

    #[test]
    fn a_name_is_found_as_a_word_in_any_case() {
        for text in [
            "max",
            "hi Max",
            "MAX!",
            "@max can you",
            "ping max, please",
            "(Max)",
        ] {
            assert!(names(text, "Max"), "{text}");
        }
        for text in ["maxi", "Maximilian", "amax", "max_power", "max2", ""] {
            assert!(!names(text, "Max"), "{text}");
        }
    }

    #[test]
    fn names_with_punctuation_and_other_scripts_are_found() {
        assert!(names("ask bob.smith now", "bob.smith"));
        assert!(names("привет, Ольга", "ольга"));
        assert!(!names("Ольгаа", "Ольга"));
    }

    #[test]
    fn chat_actions_and_private_messages_call_but_notices_and_own_lines_do_not() {
        let calls_max = |line: &str| calls(&classify(line), "Max");
        assert!(calls_max("Ann: hey max"));
        assert!(calls_max("* Ann pokes @Max"));
        assert!(calls_max("Ann (private): psst"));
        assert!(!calls_max("Ann: hey maxi"));
        assert!(!calls_max("Server: Max joined the party!"));
        assert!(!calls_max("max: talking about Max"));
        assert!(!calls_max("To Ann (private): hi max"));
    }
}
