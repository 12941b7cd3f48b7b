//! The wire protocol, as pure code: no sockets, no tasks, no terminal.
//!
//! Bytes become lines in [`line`](mod@line), lines are cleaned in [`sanitize`], a
//! client's line becomes an [`message::Input`], and every line the server
//! sends is built (and classified again by the client) in [`message`].
//! A room's password is checked in [`password`]. Room names (`#ops`) are
//! in [`room`], room commands and their answers in [`rooms`]; what they share with user names (the characters either may
//! hold, the look-alike key) in [`spelling`]. The character classes
//! that names and chat text are judged by are in [`unicode`]. The flood
//! limit is a token bucket ([`rate`]), which the client shapes like the
//! server's from the [`limits`] the server states. Our own client's opt-in
//! tagged lines (ids, times, labels) are in [`tagged`]; the times a plain
//! client reads in a history block, in [`stamp`]. Telnet's commands are
//! dropped from a plain connection's bytes by [`telnet`], before [`line`](mod@line).

pub mod limits;
pub mod line;
pub mod message;
pub mod name;
pub mod password;
pub mod rate;
pub mod room;
pub mod rooms;
pub mod sanitize;
pub mod spelling;
pub mod stamp;
pub mod tagged;
pub mod telnet;
pub mod unicode;
