//! Plain words for errors, so that every error a person reads, from `join`
//! or from `serve`, has one style: `sockchat: what failed: why`, lower
//! case, with no OS error numbers and no Rust type names.

use std::io;

/// "Connection refused (os error 111)" → "connection refused".
pub fn io_error(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    lower_first(&text)
}

/// An error and its causes as one line: "what failed: why: deeper why",
/// with I/O errors in [`io_error`]'s words.
pub fn error_line(error: &anyhow::Error) -> String {
    let parts: Vec<String> = error
        .chain()
        .map(|cause| match cause.downcast_ref::<io::Error>() {
            Some(io) => io_error(io),
            None => cause.to_string(),
        })
        .collect();
    parts.join(": ")
}

/// A Rust name in words: "BadCertificate" → "bad certificate".
pub fn camel_words(name: &str) -> String {
    let mut words = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    words
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_error_numbers_are_left_out() {
        let e = io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(io_error(&e), "network is unreachable");
        let e = io::Error::from_raw_os_error(libc::EADDRINUSE);
        let line = error_line(&anyhow::Error::new(e).context("cannot listen on 0.0.0.0:3000"));
        assert_eq!(
            line,
            "cannot listen on 0.0.0.0:3000: address already in use"
        );
    }

    #[test]
    fn rust_names_become_words() {
        assert_eq!(camel_words("BadCertificate"), "bad certificate");
        assert_eq!(
            camel_words("NoCipherSuitesInCommon"),
            "no cipher suites in common"
        );
    }
}
