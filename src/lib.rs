//! sockchat: a real-time chat for the terminal over TCP.
//!
//! Layout (each layer uses only those below it; `tests/it/cli.rs`
//! checks that the core never reaches up, and that no two modules of
//! `src/` use each other, directly or through others):
//! - [`cli`]: the one clap definition (help, shell completions and man
//!   pages come from it). Clap only.
//! - [`app`]: what `main` runs: flags → [`server::Config`] and
//!   [`client::Options`], password and certificate files, signals, the
//!   banner, and the terminal facts (colour, TTYs), decided once.
//! - [`server`]: `sockchat serve`'s core: accept loop, the broker that owns
//!   the lobby and its rooms, one reader and one writer task per connection.
//! - [`client`]: `sockchat join`'s core: connect, log in, render the room,
//!   edit input; the terminal's modes (raw, no echo, bracketed paste) are
//!   changed by `client::terminal` alone.
//! - [`protocol`]: pure wire rules: bytes → lines, user names and room
//!   names, sanitizing, commands and the text of every line the server
//!   sends.
//! - [`stream`]: what a room keeps: message ids and times, the history in
//!   memory and the durable transcript (`serve --store`), behind one
//!   `RoomStream` per room, which the broker drives.
//! - [`tls`]: TLS for private rooms: certificates, what a client trusts,
//!   fingerprints, and plain words for handshake failures.
//! - [`address`]: host and port, read once (IPv6 brackets in one place).
//! - [`runtime`]: every async-std name the crate uses, so a move to another
//!   runtime touches one file.
//! - [`words`]: plain words for errors (one style for `join` and `serve`).

pub mod address;
pub mod app;
pub mod cli;
pub mod client;
pub mod protocol;
pub mod runtime;
pub mod server;
pub mod stream;
pub mod tls;
pub mod words;
