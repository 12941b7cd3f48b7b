//! Integration tests: one crate, so the binary and the helpers are built once.
//! Every network wait has a timeout, so a bug fails a test instead of hanging it.

mod support;

mod address;
mod cli;
mod client_ux;
mod completions;
mod defects;
mod docs;
mod editor;
mod history;
mod hostile;
mod hostile_server;
mod layers;
mod man;
mod names_text;
mod order;
mod password;
mod per_addr;
mod props;
mod pty;
mod reconnect;
mod server;
mod store;
mod tls;
