//! sockchat: a real-time chat for the terminal over TCP.
//!
//! Layout:
//! - [`cli`]: the one clap definition (help and shell completions come from it).
//! - [`protocol`]: pure wire rules: bytes → lines, names, sanitizing, commands
//!   and the text of every line the server sends.
//! - [`server`]: `sockchat serve`: accept loop, the broker that owns the room,
//!   one reader and one writer task per connection.
//! - [`client`]: `sockchat join`: connect, log in, render the room, edit input.
//! - [`tls`]: TLS for private rooms: certificates, what a client trusts,
//!   fingerprints, and plain words for handshake failures.
//! - [`runtime`]: every async-std name the crate uses, so a move to another
//!   runtime touches one file.

pub mod address;
pub mod app;
pub mod cli;
pub mod client;
pub mod protocol;
pub mod runtime;
pub mod server;
pub mod tls;
