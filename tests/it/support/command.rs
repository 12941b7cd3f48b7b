//! The one way to make a `Command` for the binary: the environment of
//! whoever runs the tests is scrubbed of what changes what `sockchat`
//! (or a library it uses) does, so a test sets what it depends on.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::process::Command;

use sockchat::client::editor::REFLOW_VARS;

/// The binary under test, built by cargo for this test crate.
pub const BIN: &str = env!("CARGO_BIN_EXE_sockchat");

/// Variables the binary or its libraries read, besides `SOCKCHAT_*`.
const SCRUBBED: &[&str] = &[
    // Colour: sockchat itself, and console/indicatif/yansi (clicolors).
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "COLORTERM",
    // The terminal: the line editor and console; the pty tests set TERM.
    "TERM",
    // With `REFLOW_VARS`, how the line editor knows a terminal that
    // reflows lines on resize (a pty test says which it is).
    "TERM_PROGRAM",
    // console picks its spinner and emoji by it.
    "LANG",
    // clap wraps --help to these.
    "COLUMNS",
    "LINES",
    // rustls-native-certs takes the system's CAs from these instead.
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    // A panic's or an error's backtrace would change stderr.
    "RUST_BACKTRACE",
    "RUST_LIB_BACKTRACE",
];

/// `sockchat ARGS…` with a scrubbed environment.
pub fn sockchat<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(BIN);
    for key in SCRUBBED.iter().chain(REFLOW_VARS) {
        command.env_remove(key);
    }
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SOCKCHAT_") {
            command.env_remove(key);
        }
    }
    command.args(args);
    command
}

/// `sockchat join --host 127.0.0.1 --port PORT EXTRA…` for a room at `addr`.
pub fn join_command(addr: SocketAddr, extra: &[&str]) -> Command {
    let port = addr.port().to_string();
    let mut command = sockchat(["join", "--host", "127.0.0.1", "--port", &port]);
    command.args(extra);
    command
}
