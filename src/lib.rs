//! sockchat: a real-time chat for the terminal over TCP.
//!
//! Layout:
//! - [`cli`]: the one clap definition (help and shell completions come from it).
//! - [`protocol`]: pure wire rules: bytes → lines, names, sanitizing, commands
//!   and the text of every line the server sends.
//! - [`server`]: `sockchat serve`: accept loop, the broker that owns the room,
//!   one reader and one writer task per connection.
//! - [`stream`]: what a room keeps: message ids and times, the history in
//!   memory and the durable transcript (`serve --store`), behind one
//!   `RoomStream` per room.
//! - [`client`]: `sockchat join`: connect, log in, render the room, edit input.
//! - [`tls`]: TLS for private rooms: certificates, what a client trusts,
//!   fingerprints, and plain words for handshake failures.
//! - [`runtime`]: every async-std name the crate uses, so a move to another
//!   runtime touches one file.

pub mod cli;
pub mod client;
pub mod protocol;
pub mod runtime;
pub mod server;
pub mod stream;
pub mod tls;

/// Whether output to `stream` may be coloured: it is a terminal and the
/// user has not set `NO_COLOR` (<https://no-color.org>: any non-empty value).
pub fn color_allowed(stream: impl std::io::IsTerminal) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    stream.is_terminal() && !no_color
}
