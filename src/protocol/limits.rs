//! A room's limits on what one client sends, as the server states them in
//! answer to `/limits` (the [`fmt::Display`] of [`Limits`], which
//! `message::reply::limits` sends) and as the client reads them back to
//! pace its lines so that none is dropped. Both sides of that line are
//! here, so they cannot drift apart.

use std::fmt;

/// How the answer to `/limits` begins.
pub const LIMITS_PREFIX: &str = "Server: Limits: ";

/// What the answer to `/limits` says for `--rate 0`.
pub const NO_RATE_LIMIT: &str = "no rate limit, ";

/// What one client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Messages a second on average; 0: no rate limit.
    pub rate: u32,
    /// Messages that may come at once above the rate.
    pub burst: u32,
    /// The longest line taken, in bytes (without its line end).
    pub max_line_bytes: usize,
}

/// The answer to `/limits` (read back by [`Limits::parse`]).
impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = self.max_line_bytes;
        match self.rate {
            0 => write!(f, "{LIMITS_PREFIX}{NO_RATE_LIMIT}lines up to {max} bytes"),
            rate => write!(
                f,
                "{LIMITS_PREFIX}{rate} messages a second, bursts of {}, lines up to {max} bytes",
                self.burst
            ),
        }
    }
}

impl Limits {
    /// Reads a `/limits` answer; None for any other line.
    pub fn parse(line: &str) -> Option<Limits> {
        let text = line.strip_prefix(LIMITS_PREFIX)?;
        let (rate, burst, rest) = match text.strip_prefix(NO_RATE_LIMIT) {
            Some(rest) => (0, 0, rest),
            None => {
                let (rate, rest) = number_then(text, " messages a second, bursts of ")?;
                let (burst, rest) = number_then(rest, ", ")?;
                (rate, burst, rest)
            }
        };
        let (max, rest) = number_then(rest.strip_prefix("lines up to ")?, " bytes")?;
        if !rest.is_empty() {
            return None;
        }
        Some(Limits {
            rate: u32::try_from(rate).ok()?,
            burst: u32::try_from(burst).ok()?,
            max_line_bytes: usize::try_from(max).ok()?,
        })
    }
}

/// A decimal number at the start of `text`, then `then`; the rest after it.
fn number_then<'a>(text: &'a str, then: &str) -> Option<(u64, &'a str)> {
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let number = text[..digits].parse().ok()?;
    Some((number, text[digits..].strip_prefix(then)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_answer_reads_back_as_the_limits_it_states() {
        for limits in [
            Limits {
                rate: 20,
                burst: 40,
                max_line_bytes: 4096,
            },
            Limits {
                rate: 0,
                burst: 0,
                max_line_bytes: 64,
            },
        ] {
            let line = limits.to_string();
            assert_eq!(Limits::parse(&line), Some(limits), "{line}");
        }
        assert_eq!(
            Limits {
                rate: 20,
                burst: 40,
                max_line_bytes: 4096
            }
            .to_string(),
            "Server: Limits: 20 messages a second, bursts of 40, lines up to 4096 bytes"
        );
    }

    #[test]
    fn other_lines_are_not_limits() {
        for line in [
            "Server: Limits: 20 messages a second",
            "Server: Limits: x messages a second, bursts of 4, lines up to 9 bytes",
            "Server: Limits: 1 messages a second, bursts of 4, lines up to 9 bytes!",
            "Max: Server: Limits: no rate limit, lines up to 9 bytes",
            "Server: Limits: 99999999999 messages a second, bursts of 4, lines up to 9 bytes",
        ] {
            assert_eq!(Limits::parse(line), None, "{line}");
        }
    }
}
