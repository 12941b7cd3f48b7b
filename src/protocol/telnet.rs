//! Telnet's commands, out of a plain connection's input. A person at
//! `telnet` who presses Ctrl-C sends `IAC IP IAC DO TIMING-MARK`
//! (FF F4 FF FD 06), and a client may open with option negotiation
//! (window size, terminal type) before the first line; none of it is text,
//! and without this filter it reached the room as `����`. As IRC servers
//! and MUDs do, the commands are dropped before lines are cut; nothing is
//! answered (every option stays off, as it is when never agreed to).
//!
//! IAC is the byte FF, which never occurs in UTF-8, so text is never
//! touched: the bytes F0–FE after an IAC are commands only there. What
//! is dropped:
//! - `IAC WILL/WONT/DO/DONT option` (three bytes);
//! - `IAC SB … IAC SE`, a subnegotiation, skipped without being kept: one
//!   longer than [`MAX_SUBNEGOTIATION`] ends there, so a stray `IAC SB`
//!   cannot swallow the rest of the connection;
//! - `IAC` and one of SE, NOP, DM, BRK, IP, AO, AYT, EC, EL, GA (two bytes).
//!
//! `IAC IAC` is telnet's way to send the byte FF, which is kept (it is not
//! UTF-8, so it reads as U+FFFD like any other stray byte). An IAC before
//! any other byte is no telnet command: the IAC is dropped, the byte kept
//! (a line end after it still ends the line).

/// Interpret As Command: what starts every telnet command.
const IAC: u8 = 0xFF;
/// Subnegotiation Begin and End.
const SB: u8 = 250;
const SE: u8 = 240;
/// The commands followed by an option byte: WILL, WONT, DO, DONT.
const OPTION_VERBS: std::ops::RangeInclusive<u8> = 251..=254;
/// The commands of one byte: SE (outside a subnegotiation), NOP, DM, BRK,
/// IP, AO, AYT, EC, EL, GA.
const SINGLE_COMMANDS: std::ops::RangeInclusive<u8> = SE..=249;

/// The most bytes of a subnegotiation skipped before giving up on its
/// `IAC SE`. The longest real ones (terminal type, environment) are well
/// under this.
pub const MAX_SUBNEGOTIATION: u16 = 1024;

/// Where the filter is in the telnet command stream, carried from one read
/// to the next (a command may be split between them). It keeps no bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Telnet {
    /// In text.
    #[default]
    Data,
    /// After an IAC.
    Command,
    /// After WILL, WONT, DO or DONT: the option byte is next.
    Option,
    /// Inside a subnegotiation, this many bytes into it.
    Sub(u16),
    /// After an IAC inside a subnegotiation, this many bytes into it.
    SubCommand(u16),
}

impl Telnet {
    /// Drops the telnet commands from `buf` in place; returns how many bytes
    /// of text are left at its start.
    ///
    /// ```
    /// use sockchat::protocol::telnet::Telnet;
    ///
    /// // Ctrl-C at `telnet`, then a line.
    /// let mut read = *b"\xff\xf4\xff\xfd\x06hi\r\n";
    /// let kept = Telnet::default().filter(&mut read);
    /// assert_eq!(&read[..kept], b"hi\r\n");
    /// ```
    pub fn filter(&mut self, buf: &mut [u8]) -> usize {
        // The usual read: text, no IAC (a memchr).
        if *self == Telnet::Data && !buf.contains(&IAC) {
            return buf.len();
        }
        let mut kept = 0;
        for i in 0..buf.len() {
            // Never ahead of `i`: at most one byte out for each byte in.
            if let Some(byte) = self.step(buf[i]) {
                buf[kept] = byte;
                kept += 1;
            }
        }
        kept
    }

    /// Takes one byte; returns it if it is text.
    fn step(&mut self, byte: u8) -> Option<u8> {
        let (next, text) = match *self {
            Telnet::Data if byte == IAC => (Telnet::Command, None),
            Telnet::Data => (Telnet::Data, Some(byte)),
            Telnet::Command => match byte {
                IAC => (Telnet::Data, Some(IAC)),
                SB => (Telnet::Sub(0), None),
                b if OPTION_VERBS.contains(&b) => (Telnet::Option, None),
                b if SINGLE_COMMANDS.contains(&b) => (Telnet::Data, None),
                b => (Telnet::Data, Some(b)),
            },
            Telnet::Option => (Telnet::Data, None),
            Telnet::Sub(n) if n >= MAX_SUBNEGOTIATION => {
                // Given up on: this byte is text again.
                *self = Telnet::Data;
                return self.step(byte);
            }
            Telnet::Sub(n) if byte == IAC => (Telnet::SubCommand(n + 1), None),
            Telnet::Sub(n) => (Telnet::Sub(n + 1), None),
            Telnet::SubCommand(_) if byte == SE => (Telnet::Data, None),
            // IAC IAC is an FF inside the subnegotiation; anything else
            // after an IAC there is not telnet's either: skipped alike.
            Telnet::SubCommand(n) => (Telnet::Sub(n + 1), None),
        };
        *self = next;
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `reads` one after another; the text that is left.
    fn text_of(reads: &[&[u8]]) -> Vec<u8> {
        let mut telnet = Telnet::default();
        let mut out = Vec::new();
        for read in reads {
            let mut buf = read.to_vec();
            let kept = telnet.filter(&mut buf);
            out.extend_from_slice(&buf[..kept]);
        }
        out
    }

    #[test]
    fn ctrl_c_at_telnet_leaves_only_the_line() {
        // IAC IP IAC DO TIMING-MARK, as telnet sends for Ctrl-C.
        assert_eq!(
            text_of(&[b"\xff\xf4\xff\xfd\x06after ctrl-c\r\n"]),
            b"after ctrl-c\r\n"
        );
    }

    #[test]
    fn option_negotiation_is_dropped() {
        // IAC WILL NAWS, IAC DO SGA, IAC WONT ECHO, IAC DONT LINEMODE.
        assert_eq!(
            text_of(&[b"\xff\xfb\x1fa\xff\xfd\x03b\xff\xfc\x01c\xff\xfe\x22d"]),
            b"abcd"
        );
    }

    #[test]
    fn a_subnegotiation_is_skipped_whatever_it_holds() {
        // NAWS 80 x 10: its 10 is a line feed, and it holds an escaped FF.
        assert_eq!(
            text_of(&[b"x\xff\xfa\x1f\x00\x50\x00\x0a\xff\xff\xff\xf0y\n"]),
            b"xy\n"
        );
    }

    #[test]
    fn every_single_byte_command_is_dropped() {
        for command in SINGLE_COMMANDS {
            assert_eq!(text_of(&[&[b'a', IAC, command, b'b']]), b"ab", "{command}");
        }
    }

    #[test]
    fn a_command_split_between_reads_is_still_dropped() {
        let bytes = b"hi\xff\xfd\x06 \xff\xfa\x18\x00xterm\xff\xf0there\n";
        for cut in 0..bytes.len() {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(text_of(&[a, b]), b"hi there\n", "cut at {cut}");
        }
        let one_by_one: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(text_of(&one_by_one), b"hi there\n");
    }

    #[test]
    fn an_escaped_iac_is_one_ff_byte() {
        assert_eq!(text_of(&[b"a\xff\xffb"]), b"a\xffb");
    }

    #[test]
    fn an_iac_before_a_byte_that_is_no_command_is_dropped_and_the_byte_kept() {
        assert_eq!(text_of(&[b"a\xffb\xff\n"]), b"ab\n");
    }

    #[test]
    fn utf8_text_with_bytes_f0_to_fe_is_untouched() {
        let text = "héllo 中文 👋🦀 \u{10FFFD} Zoë".as_bytes();
        assert!(text.iter().any(|b| (0xF0..=0xFE).contains(b)));
        let mut buf = text.to_vec();
        assert_eq!(Telnet::default().filter(&mut buf), text.len());
        assert_eq!(buf, text);
    }

    #[test]
    fn a_subnegotiation_without_its_end_stops_at_the_cap() {
        let cap = usize::from(MAX_SUBNEGOTIATION);
        let mut endless = b"\xff\xfa\x18".to_vec();
        endless.extend(std::iter::repeat_n(b'x', cap - 1));
        endless.extend_from_slice(b"line\n");
        assert_eq!(text_of(&[&endless]), b"line\n");
        // Up to the cap, an IAC SE still ends it.
        let mut long = b"\xff\xfa\x18".to_vec();
        long.extend(std::iter::repeat_n(b'x', cap - 2));
        long.extend_from_slice(b"\xff\xf0line\n");
        assert_eq!(text_of(&[&long]), b"line\n");
    }
}
