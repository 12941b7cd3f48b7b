//! The one test harness: everything the test files share.
//!
//! - [`command`]: a `Command` for the binary with the environment scrubbed;
//!   every spawn of `sockchat` starts there.
//! - [`output`]: a child's stdout, stderr or pty, read on a thread of its
//!   own so that every wait has a deadline.
//! - [`process`]: a running child with piped stdio; a finished run.
//! - [`serve`]: `sockchat serve --port 0` as a child, its banner parsed
//!   once, killed when dropped.
//! - [`in_process`]: `sockchat::server::run` on 127.0.0.1:0 in the test.
//! - [`client`]: the line client (plain TCP or TLS) and its blocking face
//!   for tests that are not async.
//! - [`pki`]: certificates made in the test, in a temp dir.
//! - [`proc_net`]: a socket's row in /proc/net/tcp (queues, timers).
//! - [`proxy`]: a TCP proxy the test controls: it cuts connections.
//! - [`store`]: a `serve --store` directory decoded line by line, and a
//!   tiny tmpfs for a disk that fills up.
//! - [`tagged`]: our own client's tagged mode (labels out, tags in).
//! - [`terminal`]: the binary on a pseudo-terminal.

pub mod client;
pub mod command;
pub mod in_process;
pub mod output;
pub mod pki;
pub mod proc_net;
pub mod process;
pub mod proxy;
pub mod serve;
pub mod store;
pub mod tagged;
pub mod terminal;

use std::time::Duration;

pub use client::{Client, Nc};
pub use command::{join_command, sockchat};
pub use in_process::TestServer;
pub use output::Output;
pub use process::{finish, finish_blocking, Finished, Running};
pub use serve::{untimed, Serve, Server};
pub use tagged::Tagged;

/// How long any single wait in a test may take: a bug fails the test
/// instead of hanging it, and no healthy wait comes anywhere near this.
pub const WAIT: Duration = Duration::from_secs(10);

/// Runs an async test body (or one step of a blocking test) to its end.
pub fn run<T>(body: impl std::future::Future<Output = T>) -> T {
    async_std::task::block_on(body)
}

/// Writes `contents` to `name` in `dir`; returns the file's path.
pub fn write_file(dir: &std::path::Path, name: &str, contents: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write a temp file");
    path
}

/// Asserts each of `lines` is in `out` exactly once (as a whole line,
/// trailing spaces aside, as a screen row has them), in order.
pub fn once_in_order(out: &str, lines: &[&str]) {
    let mut after = 0;
    for line in lines {
        let found: Vec<usize> = out
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim_end() == *line)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(found.len(), 1, "{line:?} is not there exactly once:\n{out}");
        assert!(found[0] >= after, "{line:?} is out of order:\n{out}");
        after = found[0];
    }
}

/// The escape character that starts every colour or cursor sequence: piped
/// output must have none.
pub const ESC: char = '\x1b';

/// Fails unless `line` is free of control characters (C0, DEL, C1).
pub fn assert_clean(line: &str) {
    assert!(
        !line.chars().any(char::is_control),
        "a control character reached a client: {line:?}"
    );
}

/// `prefix` + the attack + `\n`, as bytes.
pub fn attack_line(prefix: &str, attack: &[u8]) -> Vec<u8> {
    let mut line = prefix.as_bytes().to_vec();
    line.extend_from_slice(attack);
    line.push(b'\n');
    line
}
