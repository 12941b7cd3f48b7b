//! Integration tests: one crate, so the binary and the helpers are built once.
//! Every network wait has a timeout, so a bug fails a test instead of hanging it.
//! One file per capability; the shared harness is `support`.

mod support;

mod chat;
mod cli;
mod client;
mod client_rooms;
mod history;
mod limits;
mod login;
mod resume;
mod rooms;
mod tls;
mod wording;
