//! What each address has pulled of the room's output: `/who`, `/history`
//! and the blocks a login or a resume is sent, paid for at
//! `--output-rate` bytes a second (see [`ByteMeter`]). An address's meter
//! outlives its connections, so reconnecting buys no fresh allowance (one
//! address pulled 520 MB in 10 s that way). A trusted host is metered per
//! connection instead: behind a proxy on loopback everyone is one host,
//! and one person's `/history` must not hold up the others'. Pure: the
//! caller passes the time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::addrs::Host;
use super::client_id::ClientId;
use crate::protocol::rate::ByteMeter;

/// Meters kept at once; past it, those paid up are forgotten (they
/// remember nothing a new meter would not), then the one paid soonest.
pub const MOST_METERS: usize = 4096;

/// Who pays for a client's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payer {
    /// An untrusted address, for all its connections.
    Host(Host),
    /// A connection of a trusted host, alone.
    Connection(ClientId),
}

/// Every payer's meter.
#[derive(Debug)]
pub struct OutputMeters {
    /// Bytes a second (0: no limit).
    rate: u32,
    /// How far ahead of its payments a payer may run.
    slack: Duration,
    meters: HashMap<Payer, ByteMeter>,
}

impl OutputMeters {
    pub fn new(rate: u32, slack: Duration) -> OutputMeters {
        OutputMeters {
            rate,
            slack,
            meters: HashMap::new(),
        }
    }

    /// How long `payer` must wait before it may pull more (None: now).
    pub fn wait(&self, payer: Payer, now: Instant) -> Option<Duration> {
        self.meters.get(&payer)?.wait(now)
    }

    /// Charges `payer` for `bytes` sent at `now`.
    pub fn charge(&mut self, payer: Payer, bytes: usize, now: Instant) {
        if self.rate == 0 || bytes == 0 {
            return;
        }
        if !self.meters.contains_key(&payer) && self.meters.len() >= MOST_METERS {
            self.meters.retain(|_, meter| meter.paid_by() > now);
            if self.meters.len() >= MOST_METERS {
                let soonest = self
                    .meters
                    .iter()
                    .min_by_key(|(_, meter)| meter.paid_by())
                    .map(|(&payer, _)| payer);
                if let Some(soonest) = soonest {
                    self.meters.remove(&soonest);
                }
            }
        }
        let (rate, slack) = (self.rate, self.slack);
        self.meters
            .entry(payer)
            .or_insert_with(|| ByteMeter::new(rate, slack, now))
            .charge(bytes, now);
    }

    /// A connection is gone: a trusted one's meter goes with it (an
    /// address's stays until it is paid up and its place is wanted).
    pub fn gone(&mut self, id: ClientId) {
        self.meters.remove(&Payer::Connection(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    const S: Duration = Duration::from_secs(1);

    fn host(last: u8) -> Payer {
        Payer::Host(Host::of(IpAddr::from([10, 0, 0, last])))
    }

    #[test]
    fn an_address_pays_for_all_its_connections_and_reconnecting_does_not_reset_it() {
        let t0 = Instant::now();
        let mut meters = OutputMeters::new(1000, 2 * S);
        meters.charge(host(1), 3000, t0);
        assert_eq!(meters.wait(host(1), t0), Some(S));
        // The connection that pulled it is gone; the address still owes.
        meters.gone(1);
        assert_eq!(meters.wait(host(1), t0), Some(S));
        assert_eq!(
            meters.wait(host(2), t0),
            None,
            "another address owes nothing"
        );
        assert_eq!(meters.wait(host(1), t0 + S), None);
    }

    #[test]
    fn a_trusted_connection_pays_alone_and_its_meter_goes_with_it() {
        let t0 = Instant::now();
        let mut meters = OutputMeters::new(1000, 2 * S);
        meters.charge(Payer::Connection(7), 3000, t0);
        assert_eq!(meters.wait(Payer::Connection(7), t0), Some(S));
        assert_eq!(meters.wait(Payer::Connection(8), t0), None);
        meters.gone(7);
        assert_eq!(meters.meters.len(), 0);
    }

    #[test]
    fn the_meters_never_grow_past_their_cap_and_debtors_are_kept_first() {
        let t0 = Instant::now();
        let mut meters = OutputMeters::new(1000, 2 * S);
        // One big debtor, then a crowd that pays up within a second.
        meters.charge(host(1), 10_000, t0);
        for id in 1..MOST_METERS as u64 {
            meters.charge(Payer::Connection(id), 1, t0);
        }
        assert_eq!(meters.meters.len(), MOST_METERS);
        let later = t0 + S;
        meters.charge(host(2), 1, later);
        assert_eq!(meters.meters.len(), 2, "the paid-up crowd is forgotten");
        assert_eq!(meters.wait(host(1), later), Some(7 * S));
        // Every meter in debt: the one paid soonest makes way.
        for id in 1..(MOST_METERS as u64 - 1) {
            meters.charge(Payer::Connection(id), 2, later);
        }
        meters.charge(host(3), 1, later);
        assert_eq!(meters.wait(host(1), later), Some(7 * S), "the debtor stays");
        assert_eq!(meters.meters.len(), MOST_METERS);
        assert!(!meters.meters.contains_key(&host(2)), "paid soonest");
    }

    #[test]
    fn rate_zero_keeps_nothing() {
        let t0 = Instant::now();
        let mut meters = OutputMeters::new(0, 2 * S);
        meters.charge(host(1), 1 << 30, t0);
        assert_eq!(meters.wait(host(1), t0), None);
        assert_eq!(meters.meters.len(), 0);
    }
}
