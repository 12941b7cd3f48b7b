//! Limits per address, kept by the accept loop alone: how many connections
//! one host holds, how many of them have not logged in yet, how many are
//! still in a TLS handshake, and how fast it opens new ones. Without them
//! one host could take every `--max-clients` slot with silent connections.
//!
//! A host is an IPv4 address, or an IPv6 /64 (one home or office network
//! gets a /64, and a single machine can use as many addresses in it as it
//! likes). Trusted hosts (`--trust-addr`, loopback by default) are counted
//! only towards the room's totals. Pure: the caller passes the time.
//!
//! The table is bounded: an entry goes once its host has no connection and
//! its connect bucket is full again; past its cap, idle entries are
//! forgotten early, so it holds at most the cap or the hosts with live
//! connections (at most `--max-clients`).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::time::Instant;

use super::client_id::ClientId;
use crate::protocol::rate::RateLimit;

/// What one host is charged against: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Host(IpAddr);

impl Host {
    pub fn of(ip: IpAddr) -> Host {
        match ip {
            IpAddr::V4(_) => Host(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Host(IpAddr::V4(v4)),
                None => {
                    let net = u128::from(v6) & !((1u128 << 64) - 1);
                    Host(IpAddr::V6(Ipv6Addr::from(net)))
                }
            },
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// A network given as `ADDR/PREFIX` (or a bare address: one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network's address.
    net: IpAddr,
    /// How many of its leading bits name the network.
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_matches(
                u128::from(u32::from(net)),
                u128::from(u32::from(ip)),
                32,
                self.prefix,
            ),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_matches(u128::from(net), u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }

    /// Loopback: what `--trust-addr` trusts unless told otherwise.
    pub fn loopback() -> Vec<Cidr> {
        vec![
            Cidr {
                net: IpAddr::from([127, 0, 0, 0]),
                prefix: 8,
            },
            Cidr {
                net: IpAddr::V6(Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ]
    }
}

/// Whether the first `prefix` of `bits` bits of `a` and `b` agree.
fn prefix_matches(a: u128, b: u128, bits: u8, prefix: u8) -> bool {
    if prefix == 0 {
        return true;
    }
    let shift = u32::from(bits - prefix);
    (a >> shift) == (b >> shift)
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let bits = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= bits => p,
                _ => return Err(format!("the prefix /{p} is not between /0 and /{bits}")),
            },
        };
        Ok(Cidr { net, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// The limits the table applies (0 in a count: no limit).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections one host may hold.
    pub per_host: usize,
    /// Of those, not logged in yet.
    pub pending_per_host: usize,
    /// New connections a second from one host (0: no limit).
    pub connect_rate: u32,
    /// New connections from one host in a burst above the rate.
    pub connect_burst: u32,
    /// Unfinished TLS handshakes from one host.
    pub handshakes_per_host: usize,
    /// Unfinished TLS handshakes in all.
    pub handshakes: usize,
    /// A connection's message burst (`--burst`), part of which a host
    /// that keeps reconnecting no longer gets.
    pub burst: u32,
    /// Lines that log in (the name, and the password if the room has one),
    /// given on top of the burst: logging in costs no chat (issue 9).
    pub login_lines: u32,
    /// Most hosts remembered at once.
    pub hosts: usize,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The host holds `--max-per-addr` connections already.
    TooMany(usize),
    /// The host has `--max-pending-per-addr` connections not logged in.
    TooManyPending(usize),
    /// The host opens connections faster than `--connect-rate`.
    TooFast,
    /// The host has `--max-handshakes-per-addr` TLS handshakes unfinished.
    TooManyHandshakes(usize),
    /// The room has `--max-handshakes` TLS handshakes unfinished.
    HandshakesFull(usize),
}

/// What happened to an admitted connection, as its task and the broker
/// tell the accept loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Its TLS handshake finished.
    Handshaken(ClientId),
    /// It logged in.
    LoggedIn(ClientId),
    /// It is gone.
    Gone(ClientId),
}

/// How far a connection got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// In its TLS handshake.
    Handshake,
    /// Not logged in yet.
    Pending,
    /// Logged in.
    In,
}

/// What one host holds.
#[derive(Debug)]
struct Entry {
    /// Its connections, at every stage.
    connections: usize,
    /// Not logged in yet (including those in a handshake).
    pending: usize,
    handshakes: usize,
    /// New connections: a token each.
    connects: RateLimit,
}

/// One connection as the table knows it.
#[derive(Debug, Clone, Copy)]
struct Conn {
    /// Where it comes from.
    host: Host,
    /// How far it got.
    stage: Stage,
    /// Trusted hosts have no entry: only the totals count them.
    trusted: bool,
}

/// Every host's connections, and the room's unfinished handshakes.
#[derive(Debug)]
pub struct AddrTable {
    limits: Limits,
    /// Each untrusted host with connections, or whose connect bucket is
    /// still refilling.
    hosts: HashMap<Host, Entry>,
    /// Each admitted connection that is not gone, but those from trusted
    /// hosts without TLS (nothing of theirs is counted here).
    conns: HashMap<ClientId, Conn>,
    /// Unfinished TLS handshakes in all.
    handshakes: usize,
}

impl AddrTable {
    pub fn new(limits: Limits) -> Self {
        AddrTable {
            limits,
            hosts: HashMap::new(),
            conns: HashMap::new(),
            handshakes: 0,
        }
    }

    /// A new connection `id` from `ip` at `now`, starting with a TLS
    /// handshake if `tls`. Admitted: the message tokens it starts with
    /// (its login lines plus as much of its burst as its host's connect
    /// bucket is full, so reconnecting does not buy a fresh burst).
    pub fn admit(
        &mut self,
        id: ClientId,
        ip: IpAddr,
        trusted: bool,
        tls: bool,
        now: Instant,
    ) -> Result<u32, Refusal> {
        let limits = self.limits;
        if tls && over(self.handshakes, limits.handshakes) {
            return Err(Refusal::HandshakesFull(limits.handshakes));
        }
        let host = Host::of(ip);
        let stage = if tls {
            Stage::Handshake
        } else {
            Stage::Pending
        };
        let start = if trusted {
            limits.login_lines + limits.burst
        } else {
            if !self.hosts.contains_key(&host) && self.hosts.len() >= limits.hosts {
                self.forget_idle(now, false);
                if self.hosts.len() >= limits.hosts {
                    self.forget_idle(now, true);
                }
            }
            let entry = self.hosts.entry(host).or_insert_with(|| Entry {
                connections: 0,
                pending: 0,
                handshakes: 0,
                connects: RateLimit::new(limits.connect_rate, limits.connect_burst, now),
            });
            if over(entry.connections, limits.per_host) {
                return Err(Refusal::TooMany(limits.per_host));
            }
            if over(entry.pending, limits.pending_per_host) {
                return Err(Refusal::TooManyPending(limits.pending_per_host));
            }
            if tls && over(entry.handshakes, limits.handshakes_per_host) {
                return Err(Refusal::TooManyHandshakes(limits.handshakes_per_host));
            }
            let fill = entry.connects.fill(now);
            if !entry.connects.allow(now) {
                return Err(Refusal::TooFast);
            }
            entry.connections += 1;
            entry.pending += 1;
            entry.handshakes += usize::from(tls);
            limits.login_lines + (f64::from(limits.burst) * fill) as u32
        };
        if trusted && !tls {
            // Nothing of it is counted per host, and it has no handshake:
            // no record (19,000 idle clients from a trusted network would
            // otherwise cost 57 bytes each here).
            return Ok(start);
        }
        self.handshakes += usize::from(tls);
        self.conns.insert(
            id,
            Conn {
                host,
                stage,
                trusted,
            },
        );
        Ok(start)
    }

    /// Applies what a connection's task or the broker reported.
    pub fn notice(&mut self, notice: Notice, now: Instant) {
        match notice {
            Notice::Handshaken(id) => self.advance(id, Stage::Handshake, Stage::Pending),
            Notice::LoggedIn(id) => {
                // A login reported before the handshake's end cannot be;
                // one reported after the connection is gone is ignored.
                self.advance(id, Stage::Pending, Stage::In);
            }
            Notice::Gone(id) => {
                let Some(conn) = self.conns.remove(&id) else {
                    return;
                };
                self.uncount(conn);
                if let Some(entry) = self.hosts.get_mut(&conn.host) {
                    if entry.connections == 0 && entry.connects.is_full(now) {
                        self.hosts.remove(&conn.host);
                    }
                }
                // A map keeps its room when emptied: give a wave's back.
                shrink(&mut self.conns);
                shrink(&mut self.hosts);
            }
        }
    }

    /// Connections admitted and not gone, but trusted plain ones (for tests).
    pub fn live(&self) -> usize {
        self.conns.len()
    }

    /// Hosts remembered (for tests).
    pub fn hosts(&self) -> usize {
        self.hosts.len()
    }

    /// Moves a connection from stage `from` to `to` (if it is at `from`).
    fn advance(&mut self, id: ClientId, from: Stage, to: Stage) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.stage != from {
            return;
        }
        conn.stage = to;
        let conn = *conn;
        if from == Stage::Handshake {
            self.handshakes -= 1;
        }
        if let Some(entry) = self.entry(conn) {
            match from {
                Stage::Handshake => entry.handshakes -= 1,
                Stage::Pending => entry.pending -= 1,
                Stage::In => {}
            }
        }
    }

    /// Uncounts a connection that is gone, from whatever stage it was at.
    fn uncount(&mut self, conn: Conn) {
        if conn.stage == Stage::Handshake {
            self.handshakes -= 1;
        }
        if let Some(entry) = self.entry(conn) {
            entry.connections -= 1;
            if conn.stage != Stage::In {
                entry.pending -= 1;
            }
            if conn.stage == Stage::Handshake {
                entry.handshakes -= 1;
            }
        }
    }

    /// The entry `conn` is counted in: none for a trusted host.
    fn entry(&mut self, conn: Conn) -> Option<&mut Entry> {
        if conn.trusted {
            return None;
        }
        self.hosts.get_mut(&conn.host)
    }

    /// Drops the entries of hosts with no connection whose connect bucket
    /// is full; with `early`, those whose bucket is not full yet too.
    fn forget_idle(&mut self, now: Instant, early: bool) {
        self.hosts
            .retain(|_, e| e.connections > 0 || (!early && !e.connects.is_full(now)));
    }
}

/// Halves a map's room once it is mostly empty.
fn shrink<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
    if map.capacity() > 64 && map.len() < map.capacity() / 4 {
        map.shrink_to(map.capacity() / 2);
    }
}

/// Whether `count` has reached `limit` (0: no limit).
fn over(count: usize, limit: usize) -> bool {
    limit != 0 && count >= limit
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooMany(n) => write!(f, "{n} connections from this address already"),
            Refusal::TooManyPending(n) => {
                write!(f, "{n} connections from this address are not logged in yet")
            }
            Refusal::TooFast => f.write_str("this address is connecting too fast"),
            Refusal::TooManyHandshakes(n) => {
                write!(f, "{n} TLS handshakes from this address are unfinished")
            }
            Refusal::HandshakesFull(n) => write!(f, "{n} TLS handshakes are unfinished"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LIMITS: Limits = Limits {
        per_host: 4,
        pending_per_host: 2,
        connect_rate: 10,
        connect_burst: 5,
        handshakes_per_host: 1,
        handshakes: 3,
        burst: 40,
        login_lines: 2,
        hosts: 8,
    };

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn ipv6_hosts_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            Host::of(ip("2001:db8::1")),
            Host::of(ip("2001:db8::ffff:2"))
        );
        assert_ne!(Host::of(ip("2001:db8::1")), Host::of(ip("2001:db8:0:1::1")));
        assert_eq!(Host::of(ip("::ffff:10.0.0.1")), Host::of(ip("10.0.0.1")));
        assert_eq!(Host::of(ip("2001:db8::1")).to_string(), "2001:db8::/64");
    }

    #[test]
    fn cidrs_parse_and_match() {
        let lan: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(lan.contains(ip("10.1.200.3")));
        assert!(!lan.contains(ip("10.2.0.1")));
        assert!(lan.contains(ip("::ffff:10.1.0.9")));
        let one: Cidr = "fd00::5".parse().unwrap();
        assert!(one.contains(ip("fd00::5")) && !one.contains(ip("fd00::6")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        assert!(Cidr::loopback().iter().any(|c| c.contains(ip("127.0.0.2"))));
        assert!(Cidr::loopback().iter().any(|c| c.contains(ip("::1"))));
    }

    #[test]
    fn a_host_past_its_pending_limit_is_refused_while_another_gets_in() {
        let t0 = Instant::now();
        let mut table = AddrTable::new(LIMITS);
        assert!(table.admit(1, ip("10.0.0.1"), false, false, t0).is_ok());
        assert!(table.admit(2, ip("10.0.0.1"), false, false, t0).is_ok());
        assert_eq!(
            table.admit(3, ip("10.0.0.1"), false, false, t0),
            Err(Refusal::TooManyPending(2))
        );
        assert!(table.admit(4, ip("10.0.0.2"), false, false, t0).is_ok());
        // Logging in frees a pending slot, not a connection slot.
        table.notice(Notice::LoggedIn(1), t0);
        table.notice(Notice::LoggedIn(2), t0);
        assert!(table.admit(5, ip("10.0.0.1"), false, false, t0).is_ok());
        table.notice(Notice::LoggedIn(5), t0);
        assert!(table.admit(6, ip("10.0.0.1"), false, false, t0).is_ok());
        assert_eq!(
            table.admit(7, ip("10.0.0.1"), false, false, t0),
            Err(Refusal::TooMany(4))
        );
        table.notice(Notice::Gone(6), t0);
        assert!(table.admit(8, ip("10.0.0.1"), false, false, t0).is_ok());
    }

    #[test]
    fn a_host_connecting_too_fast_is_refused_until_its_bucket_refills() {
        let t0 = Instant::now();
        let mut table = AddrTable::new(LIMITS);
        for id in 0..5 {
            assert!(table.admit(id, ip("10.0.0.1"), false, false, t0).is_ok());
            table.notice(Notice::Gone(id), t0);
        }
        assert_eq!(
            table.admit(9, ip("10.0.0.1"), false, false, t0),
            Err(Refusal::TooFast)
        );
        // 10 a second: one more after 100 ms.
        let later = t0 + Duration::from_millis(100);
        assert!(table.admit(10, ip("10.0.0.1"), false, false, later).is_ok());
    }

    #[test]
    fn reconnecting_does_not_buy_a_fresh_burst() {
        let t0 = Instant::now();
        let mut table = AddrTable::new(LIMITS);
        let first = table.admit(1, ip("10.0.0.1"), false, false, t0).unwrap();
        assert_eq!(first, 2 + 40);
        table.notice(Notice::Gone(1), t0);
        let starts: Vec<u32> = (2..6)
            .map(|id| {
                let start = table.admit(id, ip("10.0.0.1"), false, false, t0).unwrap();
                table.notice(Notice::Gone(id), t0);
                start
            })
            .collect();
        assert_eq!(starts, vec![2 + 32, 2 + 24, 2 + 16, 2 + 8]);
    }

    #[test]
    fn trusted_hosts_are_not_limited_but_count_in_the_totals() {
        let t0 = Instant::now();
        let mut table = AddrTable::new(LIMITS);
        for id in 0..20 {
            assert_eq!(table.admit(id, ip("127.0.0.1"), true, false, t0), Ok(42));
        }
        assert_eq!(table.live(), 0, "no record of trusted plain connections");
        assert_eq!(table.hosts(), 0);
        for id in 20..23 {
            assert!(table.admit(id, ip("127.0.0.1"), true, true, t0).is_ok());
        }
        assert_eq!(
            table.admit(23, ip("127.0.0.1"), true, true, t0),
            Err(Refusal::HandshakesFull(3))
        );
    }

    #[test]
    fn handshakes_are_limited_per_host_and_end_with_the_handshake() {
        let t0 = Instant::now();
        let mut table = AddrTable::new(LIMITS);
        assert!(table.admit(1, ip("10.0.0.1"), false, true, t0).is_ok());
        assert_eq!(
            table.admit(2, ip("10.0.0.1"), false, true, t0),
            Err(Refusal::TooManyHandshakes(1))
        );
        table.notice(Notice::Handshaken(1), t0);
        assert!(table.admit(3, ip("10.0.0.1"), false, true, t0).is_ok());
        // Still pending after its handshake: 1 and 3 fill the host's two.
        table.notice(Notice::Handshaken(3), t0);
        assert_eq!(
            table.admit(4, ip("10.0.0.1"), false, true, t0),
            Err(Refusal::TooManyPending(2))
        );
        for id in [1, 3] {
            table.notice(Notice::Gone(id), t0);
        }
        assert_eq!(table.live(), 0);
        assert!(table.admit(5, ip("10.0.0.1"), false, true, t0).is_ok());
    }

    #[test]
    fn the_table_forgets_idle_hosts_and_never_grows_past_its_cap() {
        let t0 = Instant::now();
        let mut table = AddrTable::new(LIMITS);
        for i in 0..100u32 {
            let ip = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            assert!(table.admit(u64::from(i), ip, false, false, t0).is_ok());
            table.notice(Notice::Gone(u64::from(i)), t0);
            assert!(table.hosts() <= LIMITS.hosts);
        }
        // Once its bucket is full again, a host that left is forgotten.
        let later = t0 + Duration::from_secs(1);
        assert!(table
            .admit(500, ip("10.9.9.9"), false, false, later)
            .is_ok());
        table.notice(Notice::Gone(500), later + Duration::from_secs(1));
        assert!(table.hosts() <= LIMITS.hosts);
        assert!(!table.hosts.contains_key(&Host::of(ip("10.9.9.9"))));
    }

    #[test]
    fn the_memory_of_a_wave_is_given_back() {
        let t0 = Instant::now();
        let mut table = AddrTable::new(Limits {
            connect_rate: 0,
            ..LIMITS
        });
        for id in 0..10_000 {
            let ip = IpAddr::from([10, 0, (id / 256) as u8, (id % 256) as u8]);
            assert!(table.admit(id, ip, false, false, t0).is_ok());
        }
        let full = table.conns.capacity();
        for id in 0..10_000 {
            table.notice(Notice::Gone(id), t0);
        }
        assert!(
            table.conns.capacity() < full / 8,
            "{full} -> {}",
            table.conns.capacity()
        );
    }

    #[test]
    fn no_limit_is_zero() {
        let t0 = Instant::now();
        let mut table = AddrTable::new(Limits {
            per_host: 0,
            pending_per_host: 0,
            connect_rate: 0,
            handshakes: 0,
            handshakes_per_host: 0,
            ..LIMITS
        });
        for id in 0..100 {
            assert!(table.admit(id, ip("10.0.0.1"), false, true, t0).is_ok());
        }
    }
}
