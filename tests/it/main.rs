//! Integration tests: one crate, so the binary and the helpers are built once.
//! Every network wait has a timeout, so a bug fails a test instead of hanging it.

mod util;

mod secure;
mod server;

mod password;
mod tls;
