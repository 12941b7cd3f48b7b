//! Dropped sessions by the host they dropped from, so that no one host
//! can keep the room's resumable sessions, and the names they hold, to
//! itself: past its cap a host's own oldest is forgotten, and at the
//! room's cap the newest drop of the hosts holding the most makes way,
//! not whoever dropped first (12,000 dropped sessions from one host in
//! 3.6 s used to push a real person's out, and their name went with it).
//! Pure.

use std::collections::{BTreeMap, HashMap};

use super::addrs::Host;
use crate::stream::SessionId;

/// Each host's dropped sessions, oldest first.
#[derive(Debug, Default)]
pub struct AwayByHost {
    /// By host, each session under the number of its drop.
    hosts: HashMap<Host, BTreeMap<u64, SessionId>>,
    /// Each session counted here: its host and the number of its drop.
    sessions: HashMap<SessionId, (Host, u64)>,
    /// The next drop's number.
    next: u64,
}

impl AwayByHost {
    /// Session `id` dropped from `host`, which may keep `cap` (0: any
    /// number). Returns the host's oldest if it now holds more.
    pub fn add(&mut self, id: SessionId, host: Host, cap: usize) -> Option<SessionId> {
        self.remove(id);
        let number = self.next;
        self.next += 1;
        self.sessions.insert(id, (host, number));
        let held = self.hosts.entry(host).or_default();
        held.insert(number, id);
        if cap == 0 || held.len() <= cap {
            return None;
        }
        let (_, oldest) = held.pop_first()?;
        self.sessions.remove(&oldest);
        Some(oldest)
    }

    /// Session `id` came back or ended.
    pub fn remove(&mut self, id: SessionId) {
        let Some((host, number)) = self.sessions.remove(&id) else {
            return;
        };
        if let Some(held) = self.hosts.get_mut(&host) {
            held.remove(&number);
            if held.is_empty() {
                self.hosts.remove(&host);
            }
        }
    }

    /// The session to forget when the room holds too many: of the hosts
    /// holding the most, the newest drop. Newest, not oldest: when every
    /// host holds one (10,001 addresses: a botnet, or the 65,536 /64s of
    /// one IPv6 /48), the oldest would be a real person's session, pushed
    /// out with its name by the flood; the newest is the flood's own, so
    /// a flood eats itself and the sessions already kept stay. The same
    /// holds inside one host (behind a proxy everyone is one). The price:
    /// while the room is full, a new drop is not kept. Linear in the
    /// hosts, which is paid only at the room's cap.
    pub fn most_held(&self) -> Option<SessionId> {
        self.hosts
            .values()
            .filter_map(|held| held.last_key_value().map(|(&n, &id)| (held.len(), n, id)))
            .max_by_key(|&(len, number, _)| (len, number))
            .map(|(_, _, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn host(last: u8) -> Host {
        Host::of(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn past_its_cap_a_host_loses_its_own_oldest() {
        let mut away = AwayByHost::default();
        assert_eq!(away.add(1, host(1), 2), None);
        assert_eq!(away.add(2, host(2), 2), None);
        assert_eq!(away.add(3, host(1), 2), None);
        assert_eq!(away.add(4, host(1), 2), Some(1));
        assert_eq!(away.add(5, host(1), 0), None, "no cap");
    }

    #[test]
    fn at_the_rooms_cap_the_host_holding_the_most_makes_way() {
        let mut away = AwayByHost::default();
        away.add(1, host(1), 0);
        for id in 2..6 {
            away.add(id, host(2), 0);
        }
        assert_eq!(away.most_held(), Some(5), "host 2's newest, not session 1");
        // Of hosts holding as many, the one that dropped last.
        away.add(6, host(3), 0);
        for id in 2..6 {
            away.remove(id);
        }
        assert_eq!(away.most_held(), Some(6));
    }

    #[test]
    fn a_flood_from_many_addresses_at_the_rooms_cap_eats_its_own_sessions() {
        let (cap, flood) = (100, 1_000u32);
        let mut away = AwayByHost::default();
        away.add(0, host(1), 0);
        let mut kept = 1;
        for id in 1..=u64::from(flood) {
            // One session each from distinct addresses, as from a /48.
            let [.., a, b] = id.to_be_bytes();
            away.add(id, Host::of(IpAddr::from([10, 1, a, b])), 0);
            kept += 1;
            if kept > cap {
                let forgotten = away.most_held().expect("the room holds some");
                away.remove(forgotten);
                kept -= 1;
            }
        }
        assert!(
            away.sessions.contains_key(&0),
            "the first session, a real person's, is still kept"
        );
        assert_eq!(away.sessions.len(), cap);
    }

    #[test]
    fn a_session_that_came_back_is_no_longer_counted() {
        let mut away = AwayByHost::default();
        away.add(1, host(1), 1);
        away.remove(1);
        assert_eq!(away.add(2, host(1), 1), None);
        away.remove(2);
        assert_eq!(away.most_held(), None);
        assert!(away.hosts.is_empty() && away.sessions.is_empty());
    }
}
