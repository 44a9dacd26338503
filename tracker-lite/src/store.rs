//! The announce store: who is in which swarm, in memory, with expiry and hard limits,
//! so a flood of announces cannot exhaust memory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ilpt_protocol::InfoHash;

/// Limits of the store.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most swarms tracked at once.
    pub max_torrents: usize,
    /// Most peers kept per swarm.
    pub max_peers_per_torrent: usize,
    /// Most peers over all swarms.
    pub max_peers_total: usize,
    /// A peer that does not announce again within this time is dropped.
    pub peer_ttl: Duration,
    /// Most peers (ports) of one IP address in one swarm; loopback is not limited
    /// (local tests and benchmarks run every peer on 127.0.0.1).
    pub max_peers_per_ip: usize,
    /// Most peers of one IP address over all swarms (a seedbox with many torrents
    /// stays well under it; one host cannot fill the store). Loopback is not limited.
    pub max_peers_per_ip_total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_torrents: 100_000,
            max_peers_per_torrent: 5_000,
            max_peers_total: 1_000_000,
            peer_ttl: Duration::from_secs(30 * 60),
            max_peers_per_ip: 8,
            max_peers_per_ip_total: 20_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    addr: SocketAddr,
    seeder: bool,
    expires: Instant,
}

/// One swarm: its peers in a vector (so an answer is a window of it, not a walk over a
/// hash map), an index by address, and running counts of seeders and leechers.
#[derive(Debug, Default)]
struct Swarm {
    peers: Vec<Entry>,
    index: HashMap<SocketAddr, usize>,
    seeders: usize,
    /// Peers by IP address.
    per_ip: HashMap<std::net::IpAddr, usize>,
}

impl Swarm {
    fn len(&self) -> usize {
        self.peers.len()
    }

    fn contains(&self, addr: &SocketAddr) -> bool {
        self.index.contains_key(addr)
    }

    /// Adds or renews `entry`; true if it is new.
    fn upsert(&mut self, entry: Entry) -> bool {
        match self.index.get(&entry.addr) {
            Some(&i) => {
                let old = std::mem::replace(&mut self.peers[i], entry);
                self.seeders = self.seeders + usize::from(entry.seeder) - usize::from(old.seeder);
                false
            }
            None => {
                self.index.insert(entry.addr, self.peers.len());
                self.peers.push(entry);
                self.seeders += usize::from(entry.seeder);
                *self.per_ip.entry(entry.addr.ip()).or_default() += 1;
                true
            }
        }
    }

    /// Removes `addr`; true if it was there.
    fn remove(&mut self, addr: &SocketAddr) -> bool {
        let Some(i) = self.index.remove(addr) else {
            return false;
        };
        let gone = self.peers.swap_remove(i);
        self.seeders -= usize::from(gone.seeder);
        if let Some(n) = self.per_ip.get_mut(&gone.addr.ip()) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&gone.addr.ip());
            }
        }
        if let Some(moved) = self.peers.get(i) {
            self.index.insert(moved.addr, i);
        }
        true
    }

    /// Drops expired peers; returns the addresses it dropped.
    fn expire(&mut self, now: Instant) -> Vec<SocketAddr> {
        if self.peers.iter().all(|e| e.expires > now) {
            return Vec::new();
        }
        let gone: Vec<SocketAddr> = self
            .peers
            .iter()
            .filter(|e| e.expires <= now)
            .map(|e| e.addr)
            .collect();
        self.peers.retain(|e| e.expires > now);
        self.index = self
            .peers
            .iter()
            .enumerate()
            .map(|(i, e)| (e.addr, i))
            .collect();
        self.seeders = self.peers.iter().filter(|e| e.seeder).count();
        self.per_ip.clear();
        for e in &self.peers {
            *self.per_ip.entry(e.addr.ip()).or_default() += 1;
        }
        gone
    }

    /// Peers listed from `ip`.
    fn peers_of_ip(&self, ip: std::net::IpAddr) -> usize {
        self.per_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Up to `numwant` live peers other than `me`, from a window starting at `start`.
    fn sample(
        &self,
        me: SocketAddr,
        numwant: usize,
        start: usize,
        now: Instant,
    ) -> Vec<SocketAddr> {
        let n = self.peers.len();
        if n == 0 {
            return Vec::new();
        }
        let (tail, head) = self.peers.split_at(start % n);
        head.iter()
            .chain(tail)
            .filter(|e| e.addr != me && e.expires > now)
            .map(|e| e.addr)
            .take(numwant)
            .collect()
    }
}

/// Who is in which swarm.
#[derive(Debug)]
pub struct Store {
    swarms: HashMap<InfoHash, Swarm>,
    total: usize,
    limits: Limits,
    rng: ilpt_protocol::rng::Rng,
    /// When the store last purged itself because it was full: a full store purges at
    /// most once a second, not at every announce of a new peer.
    last_full_purge: Option<Instant>,
    /// Peers listed by IP address, over all swarms (expired ones until purged).
    per_ip: HashMap<std::net::IpAddr, usize>,
}

/// Counts `addrs` out of `per_ip`.
fn forget_ips(per_ip: &mut HashMap<std::net::IpAddr, usize>, addrs: &[SocketAddr]) {
    for a in addrs {
        if let Some(n) = per_ip.get_mut(&a.ip()) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&a.ip());
            }
        }
    }
}

/// Why an announce was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A limit is reached and expiry freed nothing.
    #[error("tracker is full, try again later")]
    Full,
    /// The swarm lists as many peers of this IP address as it takes.
    #[error("too many peers of your address in this swarm")]
    TooManyFromAddress,
}

/// The answer to an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    /// Other peers of the swarm (a random window of it).
    pub peers: Vec<SocketAddr>,
    /// Seeders in the swarm (expired ones count until the next purge).
    pub complete: usize,
    /// Leechers in the swarm (likewise).
    pub incomplete: usize,
}

impl Store {
    /// An empty store with these limits.
    pub fn new(limits: Limits) -> Store {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Store {
            swarms: HashMap::new(),
            total: 0,
            limits,
            rng: ilpt_protocol::rng::Rng::new(seed),
            last_full_purge: None,
            per_ip: HashMap::new(),
        }
    }

    /// Records an announce of `peer` in swarm `ih` (or its leaving, if `stopped`) and
    /// answers with up to `numwant` other peers.
    pub fn announce(
        &mut self,
        ih: InfoHash,
        peer: SocketAddr,
        seeder: bool,
        stopped: bool,
        numwant: usize,
        now: Instant,
    ) -> Result<Peers, StoreError> {
        if stopped {
            if let Some(swarm) = self.swarms.get_mut(&ih) {
                if swarm.remove(&peer) {
                    self.total -= 1;
                    forget_ips(&mut self.per_ip, &[peer]);
                }
                if swarm.len() == 0 {
                    self.swarms.remove(&ih);
                }
            }
        } else {
            let known = self.swarms.get(&ih).is_some_and(|s| s.contains(&peer));
            if !known {
                if self.total >= self.limits.max_peers_total {
                    let due = self
                        .last_full_purge
                        .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
                    if due {
                        self.last_full_purge = Some(now);
                        self.purge(now);
                    }
                    if self.total >= self.limits.max_peers_total {
                        return Err(StoreError::Full);
                    }
                }
                if !self.swarms.contains_key(&ih) && self.swarms.len() >= self.limits.max_torrents {
                    return Err(StoreError::Full);
                }
                if !peer.ip().is_loopback()
                    && self.per_ip.get(&peer.ip()).copied().unwrap_or(0)
                        >= self.limits.max_peers_per_ip_total
                {
                    return Err(StoreError::TooManyFromAddress);
                }
            }
            let swarm = self.swarms.entry(ih).or_default();
            if !known
                && !peer.ip().is_loopback()
                && swarm.peers_of_ip(peer.ip()) >= self.limits.max_peers_per_ip
            {
                let gone = swarm.expire(now);
                self.total -= gone.len();
                forget_ips(&mut self.per_ip, &gone);
                if swarm.peers_of_ip(peer.ip()) >= self.limits.max_peers_per_ip {
                    return Err(StoreError::TooManyFromAddress);
                }
            }
            if !known && swarm.len() >= self.limits.max_peers_per_torrent {
                let gone = swarm.expire(now);
                self.total -= gone.len();
                forget_ips(&mut self.per_ip, &gone);
                if swarm.len() >= self.limits.max_peers_per_torrent {
                    return Err(StoreError::Full);
                }
            }
            let entry = Entry {
                addr: peer,
                seeder,
                // A TTL too large for the clock lists the peer as long as it can.
                expires: now
                    .checked_add(self.limits.peer_ttl)
                    .unwrap_or(now + Duration::from_secs(365 * 24 * 3600)),
            };
            if swarm.upsert(entry) {
                self.total += 1;
                *self.per_ip.entry(peer.ip()).or_default() += 1;
            }
        }
        let Some(swarm) = self.swarms.get(&ih) else {
            return Ok(Peers {
                peers: vec![],
                complete: 0,
                incomplete: 0,
            });
        };
        let start = usize::try_from(self.rng.below(swarm.len().max(1) as u64)).unwrap_or(0);
        Ok(Peers {
            peers: swarm.sample(peer, numwant, start, now),
            complete: swarm.seeders,
            incomplete: swarm.len() - swarm.seeders,
        })
    }

    /// Drops expired peers and empty swarms.
    pub fn purge(&mut self, now: Instant) {
        let mut total = 0;
        let per_ip = &mut self.per_ip;
        self.swarms.retain(|_, swarm| {
            forget_ips(per_ip, &swarm.expire(now));
            total += swarm.len();
            swarm.len() > 0
        });
        self.total = total;
    }

    /// Peers listed across all swarms.
    pub fn total_peers(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn one_address_lists_only_a_few_peers_in_a_swarm() {
        let mut s = Store::new(Limits::default());
        let ih = InfoHash([3; 20]);
        let now = Instant::now();
        let from = |port: u16| SocketAddr::from(([192, 0, 2, 7], port));
        for port in 1..=8 {
            s.announce(ih, from(port), false, false, 0, now).unwrap();
        }
        assert_eq!(
            s.announce(ih, from(9), false, false, 0, now),
            Err(StoreError::TooManyFromAddress)
        );
        // Renewing one listed is fine; so is another address, another swarm, loopback.
        s.announce(ih, from(3), true, false, 0, now).unwrap();
        s.announce(
            ih,
            SocketAddr::from(([192, 0, 2, 8], 1)),
            false,
            false,
            0,
            now,
        )
        .unwrap();
        s.announce(InfoHash([4; 20]), from(9), false, false, 0, now)
            .unwrap();
        for port in 1..=20 {
            s.announce(ih, addr(port), false, false, 0, now).unwrap();
        }
        // One leaves, or expires: room again.
        s.announce(ih, from(1), false, true, 0, now).unwrap();
        s.announce(ih, from(9), false, false, 0, now).unwrap();
        let later = now + Limits::default().peer_ttl + Duration::from_secs(1);
        s.announce(ih, from(10), false, false, 0, later).unwrap();
        assert_eq!(
            s.total_peers(),
            2 + 1 + 1 + 20 - 23 + 1,
            "expired peers leave the count"
        );
    }

    #[test]
    fn one_address_lists_only_so_many_peers_over_all_swarms() {
        let limits = Limits {
            max_peers_per_ip_total: 5,
            ..Limits::default()
        };
        let mut s = Store::new(limits);
        let now = Instant::now();
        let host = SocketAddr::from(([192, 0, 2, 9], 6881));
        for t in 0..5u8 {
            s.announce(InfoHash([t; 20]), host, true, false, 0, now)
                .unwrap();
        }
        assert_eq!(
            s.announce(InfoHash([9; 20]), host, true, false, 0, now),
            Err(StoreError::TooManyFromAddress)
        );
        // Leaving one swarm, or expiring and being purged, gives room back.
        s.announce(InfoHash([0; 20]), host, true, true, 0, now)
            .unwrap();
        s.announce(InfoHash([9; 20]), host, true, false, 0, now)
            .unwrap();
        let later = now + Limits::default().peer_ttl + Duration::from_secs(1);
        s.purge(later);
        assert_eq!(s.total_peers(), 0);
        for t in 10..15u8 {
            s.announce(InfoHash([t; 20]), host, true, false, 0, later)
                .unwrap();
        }
        // Loopback is not limited.
        for t in 20..40u8 {
            s.announce(InfoHash([t; 20]), addr(1), true, false, 0, later)
                .unwrap();
        }
    }

    #[test]
    fn peers_see_each_other_but_not_themselves_and_stopped_peers_leave() {
        let mut s = Store::new(Limits::default());
        let ih = InfoHash([1; 20]);
        let now = Instant::now();
        s.announce(ih, addr(1), true, false, 50, now).unwrap();
        let p = s.announce(ih, addr(2), false, false, 50, now).unwrap();
        assert_eq!(p.peers, vec![addr(1)]);
        assert_eq!((p.complete, p.incomplete), (1, 1));
        s.announce(ih, addr(1), true, true, 50, now).unwrap();
        assert!(s
            .announce(ih, addr(2), false, false, 50, now)
            .unwrap()
            .peers
            .is_empty());
    }

    #[test]
    fn answers_are_random_windows_and_counts_follow_changes() {
        let mut s = Store::new(Limits::default());
        let ih = InfoHash([2; 20]);
        let now = Instant::now();
        for p in 1..=100 {
            s.announce(ih, addr(p), p % 4 == 0, false, 0, now).unwrap();
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let a = s.announce(ih, addr(500), false, false, 10, now).unwrap();
            assert_eq!(a.peers.len(), 10);
            assert!(!a.peers.contains(&addr(500)));
            assert_eq!((a.complete, a.incomplete), (25, 76));
            seen.extend(a.peers);
        }
        // Twenty answers of ten drawn at random windows cover far more than ten peers.
        assert!(seen.len() > 30, "only {} distinct peers", seen.len());
        // A leecher turning seeder, and one leaving, move the counts.
        s.announce(ih, addr(1), true, false, 0, now).unwrap();
        s.announce(ih, addr(2), false, true, 0, now).unwrap();
        let a = s.announce(ih, addr(500), false, false, 200, now).unwrap();
        assert_eq!((a.complete, a.incomplete), (26, 74));
        assert_eq!(a.peers.len(), 99);
        // Expired peers are neither answered nor, after a purge, counted.
        let later = now + Duration::from_secs(31 * 60);
        let a = s.announce(ih, addr(600), false, false, 200, later).unwrap();
        assert_eq!(a.peers, Vec::<SocketAddr>::new());
        s.purge(later);
        assert_eq!(s.total_peers(), 1);
    }

    #[test]
    fn a_flood_of_announces_is_bounded() {
        let limits = Limits {
            max_torrents: 10,
            max_peers_per_torrent: 5,
            max_peers_total: 20,
            peer_ttl: Duration::from_secs(60),
            max_peers_per_ip: 8,
            max_peers_per_ip_total: 20_000,
        };
        let mut s = Store::new(limits);
        let now = Instant::now();
        let mut refused = 0;
        for t in 0..50u8 {
            for p in 0..50u16 {
                if s.announce(InfoHash([t; 20]), addr(p), false, false, 50, now)
                    .is_err()
                {
                    refused += 1;
                }
            }
        }
        assert!(s.total_peers() <= 20);
        assert!(refused > 0);
        // Expired entries make room again.
        s.purge(now + Duration::from_secs(61));
        assert_eq!(s.total_peers(), 0);
    }
}
