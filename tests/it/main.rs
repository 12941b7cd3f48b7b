//! Integration tests: one crate, so the binary and the helpers are built once.
//! Every network wait has a timeout, so a bug fails a test instead of hanging it.

mod binary;
mod util;

mod secure;

mod address;
mod cli;
mod client_ux;
mod completions;
mod hostile;
mod hostile_server;
mod layers;
mod man;
mod order;
mod password;
mod props;
mod pty;
mod server;
mod tls;
