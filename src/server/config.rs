//! The server's limits and their defaults: the one place they are defined
//! (`serve --help` shows these defaults; the flags are converted to a
//! [`Config`] by the application layer).

use std::sync::Arc;
use std::time::Duration;

use crate::protocol::password::Password;

/// The server's limits (see `sockchat serve --help`).
#[derive(Debug, Clone)]
pub struct Config {
    pub max_line_bytes: usize,
    pub max_clients: usize,
    pub login_timeout: Duration,
    pub send_queue: usize,
    /// Bytes that may wait for all clients together.
    pub send_budget: usize,
    pub rate: u32,
    pub burst: u32,
    /// Joins and leaves are announced while at most this many are online (0: always).
    pub announce_max: usize,
    /// Speak TLS on every connection with this config; None: plain TCP.
    pub tls: Option<Arc<futures_rustls::rustls::ServerConfig>>,
    /// What a connection must give before a name; None: an open room.
    pub password: Option<Password>,
}

/// The defaults, shared by `Config::default` and `serve --help`.
pub mod defaults {
    /// Where `serve` listens: every IPv4 interface.
    pub const HOST: &str = "0.0.0.0";
    pub const PORT: u16 = crate::address::DEFAULT_PORT;
    pub const MAX_LINE_BYTES: u32 = 4096;
    pub const MAX_CLIENTS: u32 = 10_000;
    pub const LOGIN_TIMEOUT_SECS: u64 = 60;
    pub const SEND_QUEUE: u32 = 1 << 20;
    pub const SEND_BUDGET: u64 = 64 << 20;
    pub const RATE: u32 = 20;
    pub const BURST: u32 = 40;
    pub const ANNOUNCE_MAX: u32 = 200;
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line_bytes: defaults::MAX_LINE_BYTES as usize,
            max_clients: defaults::MAX_CLIENTS as usize,
            login_timeout: Duration::from_secs(defaults::LOGIN_TIMEOUT_SECS),
            send_queue: defaults::SEND_QUEUE as usize,
            send_budget: defaults::SEND_BUDGET as usize,
            rate: defaults::RATE,
            burst: defaults::BURST,
            announce_max: defaults::ANNOUNCE_MAX as usize,
            tls: None,
            password: None,
        }
    }
}
