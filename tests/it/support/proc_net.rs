//! The kernel's view of TCP sockets, from /proc/net/tcp (IPv4 only).

use std::net::SocketAddr;

/// The fields of the /proc/net/tcp row for the socket from `local` to
/// `remote` (`fields[4]` is `tx_queue:rx_queue`, `fields[5]` the timer).
pub fn tcp_row(local: SocketAddr, remote: SocketAddr) -> Option<Vec<String>> {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(v4) => {
            let ip = u32::from_le_bytes(v4.ip().octets());
            format!("{ip:08X}:{:04X}", v4.port())
        }
        SocketAddr::V6(_) => String::new(),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ours =
            fields.get(1) == Some(&local.as_str()) && fields.get(2) == Some(&remote.as_str());
        ours.then(|| fields.iter().map(|f| f.to_string()).collect())
    })
}

/// The hex number before the `:` of `field` (`tx_queue:rx_queue`, `tr:when`).
pub fn first_hex(field: &str) -> Option<u64> {
    u64::from_str_radix(field.split(':').next()?, 16).ok()
}
