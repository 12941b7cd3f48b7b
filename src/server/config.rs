//! The server's limits and their defaults: the one place they are defined
//! (`serve --help` shows these defaults; the flags are converted to a
//! [`Config`] by the application layer).

use std::sync::Arc;
use std::time::Duration;

use super::addrs::Cidr;
use crate::protocol::password::Password;
use crate::stream::HistoryLimits;

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
    /// Hosts exempt from the per-address limits (loopback by default).
    pub trusted: Vec<Cidr>,
    /// Connections one address may hold (0: no limit).
    pub max_per_addr: usize,
    /// Connections one address may hold that have not logged in (0: no limit).
    pub max_pending_per_addr: usize,
    /// New connections a second from one address (0: no limit).
    pub connect_rate: u32,
    /// New connections from one address in a burst above the rate.
    pub connect_burst: u32,
    /// Unfinished TLS handshakes in all (0: no limit).
    pub max_handshakes: usize,
    /// Unfinished TLS handshakes from one address (0: no limit).
    pub max_handshakes_per_addr: usize,
    /// Each socket's kernel send buffer (SO_SNDBUF); 0: the kernel's own.
    pub socket_send_buffer: usize,
    /// How long a name stays its owner's after a connection dropped uncleanly.
    pub name_hold: Duration,
    /// The longest wait between two password attempts from one address.
    pub password_delay_max: Duration,
    /// Bytes a second of command output (`/who`, `/history`) one client may pull.
    pub output_rate: u32,
    /// What the room keeps in memory (`--history N` is its count).
    pub history: HistoryLimits,
    /// The bytes every room's history may hold together (as
    /// `Record::weight` counts them); past it, the oldest message of any
    /// room goes first.
    pub history_memory: usize,
    /// How many of the last messages a late joiner is sent.
    pub replay: usize,
    /// How long a dropped session may be resumed.
    pub resume_window: Duration,
    /// Dropped sessions kept resumable at once, in all.
    pub max_kept: usize,
    /// Dropped sessions kept resumable at once from one address (0: no limit).
    pub max_kept_per_addr: usize,
    /// Rooms on the server at once, `#main` included.
    pub max_rooms: usize,
    /// Rooms one person may be in at once, `#main` included.
    pub max_joined: usize,
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
    /// Loopback: a proxy or tunnel on this machine looks like one host.
    pub const TRUST_ADDR: &[&str] = &["127.0.0.0/8", "::1"];
    pub const MAX_PER_ADDR: u32 = 32;
    pub const MAX_PENDING_PER_ADDR: u32 = 8;
    pub const CONNECT_RATE: u32 = 5;
    pub const CONNECT_BURST: u32 = 20;
    pub const MAX_HANDSHAKES: u32 = 256;
    pub const MAX_HANDSHAKES_PER_ADDR: u32 = 8;
    /// The kernel doubles it, for its bookkeeping: 128 KiB a socket.
    pub const SOCKET_SEND_BUFFER: u32 = 64 << 10;
    pub const NAME_HOLD_SECS: u64 = 30;
    /// Below `join`'s own 30 s wait for an answer.
    pub const PASSWORD_DELAY_MAX_SECS: u64 = 10;
    /// A `/who` of 10,000 names (about 120 KB) every two seconds.
    pub const OUTPUT_RATE: u32 = 64 << 10;
    /// ergo keeps 2048 a channel, ssh-chat 20; a working day of a busy team.
    pub const HISTORY: u32 = 1000;
    /// `serve --threads`: on 2 cores, one thread relayed S1 9.1–9.8M and S2
    /// 7.5–9.9M lines/s where two did 6.8–7.4M and 7.7–7.9M (the broker is
    /// one task either way; two threads contend for the queues' locks and
    /// the shared lines' counts).
    pub const THREADS: u32 = 1;
    /// Every room's history together: 16 rooms full to their own 4 MiB
    /// bound. Without it, 1000 rooms of 4 MiB could be filled by a few
    /// people taking turns.
    pub const HISTORY_MEMORY_MIB: u32 = 64;
    /// What a late joiner sees: a screenful.
    pub const REPLAY: u32 = 20;
    pub const RESUME_WINDOW_SECS: u64 = 600;
    /// Past it, the newest drop of the addresses holding the most goes.
    pub const MAX_KEPT: u32 = 10_000;
    /// As many as the connections one address may hold: every one of
    /// them may drop at once (a NAT's Wi-Fi blinks) and all resume.
    pub const MAX_KEPT_PER_ADDR: u32 = MAX_PER_ADDR;
    pub const STORE_SEGMENT_MIB: u64 = 64;
    /// Rooms a busy team's server holds, with room to spare, while
    /// rooms made to fill the server stay bounded.
    pub const MAX_ROOMS: u32 = 1000;
    /// More than anyone follows; each room joined costs its members
    /// a little memory, so it is bounded.
    pub const MAX_JOINED: u32 = 50;
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
            trusted: Cidr::loopback(),
            max_per_addr: defaults::MAX_PER_ADDR as usize,
            max_pending_per_addr: defaults::MAX_PENDING_PER_ADDR as usize,
            connect_rate: defaults::CONNECT_RATE,
            connect_burst: defaults::CONNECT_BURST,
            max_handshakes: defaults::MAX_HANDSHAKES as usize,
            max_handshakes_per_addr: defaults::MAX_HANDSHAKES_PER_ADDR as usize,
            socket_send_buffer: defaults::SOCKET_SEND_BUFFER as usize,
            name_hold: Duration::from_secs(defaults::NAME_HOLD_SECS),
            password_delay_max: Duration::from_secs(defaults::PASSWORD_DELAY_MAX_SECS),
            output_rate: defaults::OUTPUT_RATE,
            history: HistoryLimits::default(),
            history_memory: (defaults::HISTORY_MEMORY_MIB as usize) << 20,
            replay: defaults::REPLAY as usize,
            resume_window: Duration::from_secs(defaults::RESUME_WINDOW_SECS),
            max_kept: defaults::MAX_KEPT as usize,
            max_kept_per_addr: defaults::MAX_KEPT_PER_ADDR as usize,
            max_rooms: defaults::MAX_ROOMS as usize,
            max_joined: defaults::MAX_JOINED as usize,
        }
    }
}
