//! The announce store: who is in which swarm, in memory, with expiry and hard limits,
//! so a flood of announces cannot exhaust memory, and fair eviction, so a flood cannot
//! lock others out either.
//!
//! Every per-address limit counts a [`Host`] (an IPv4 address or an IPv6 /64); the
//! addresses of [`crate::host::UNLIMITED`] are counted but never limited. When the store
//! holds as many swarms or peers as it may, a newcomer still gets in: the swarm that
//! goes is one of those of the host that created the most live swarms, and of a few of
//! them drawn at random, the least announced (fewest hosts announcing in it, then the
//! longest since its last announce). A flood of new swarms thus evicts the flooder's own
//! swarms, and a host that created few never loses one while a heavier one exists.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ilpt_protocol::InfoHash;

use crate::host::Host;

/// Most live swarms one host may have created (been the first to announce in) at once:
/// a publisher seeding many new torrents stays well under it, and a flooder needs
/// `max_torrents / MAX_SWARMS_PER_HOST` hosts to fill the store, which fair eviction
/// then still lets newcomers into.
pub const MAX_SWARMS_PER_HOST: usize = 1_000;

/// How many of the heaviest creator's swarms an eviction compares: enough to find a
/// little-used one, few enough that a flood of evictions costs no more than announces.
pub const EVICTION_SAMPLE: usize = 8;

/// Limits of the store.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most swarms tracked at once; past it, a new swarm evicts one (see the module doc).
    pub max_torrents: usize,
    /// Most peers kept per swarm.
    pub max_peers_per_torrent: usize,
    /// Most peers over all swarms; past it, a new peer evicts a swarm as a new swarm does.
    pub max_peers_total: usize,
    /// A peer that does not announce again within this time is dropped.
    pub peer_ttl: Duration,
    /// Most peers (ports) of one host in one swarm.
    pub max_peers_per_ip: usize,
    /// Most peers of one host over all swarms (a seedbox with many torrents stays well
    /// under it; one host cannot fill the store).
    pub max_peers_per_ip_total: usize,
    /// Most live swarms one host may have created ([`MAX_SWARMS_PER_HOST`]).
    pub max_swarms_per_ip: usize,
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
            max_swarms_per_ip: MAX_SWARMS_PER_HOST,
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
#[derive(Debug)]
struct Swarm {
    peers: Vec<Entry>,
    index: HashMap<SocketAddr, usize>,
    seeders: usize,
    /// Peers by host.
    per_host: HashMap<Host, usize>,
    /// The host that announced in it first, which it counts against.
    creator: Host,
    /// Where it is in its creator's list of swarms.
    creator_slot: usize,
    /// When a peer last announced in it.
    last_announce: Instant,
}

impl Swarm {
    fn new(creator: Host, creator_slot: usize, now: Instant) -> Swarm {
        Swarm {
            peers: Vec::new(),
            index: HashMap::new(),
            seeders: 0,
            per_host: HashMap::new(),
            creator,
            creator_slot,
            last_announce: now,
        }
    }

    fn len(&self) -> usize {
        self.peers.len()
    }

    fn contains(&self, addr: &SocketAddr) -> bool {
        self.index.contains_key(addr)
    }

    /// How much it is used, least first: the hosts announcing in it, then how recently.
    fn use_rank(&self) -> (usize, Instant) {
        (self.per_host.len(), self.last_announce)
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
                *self.per_host.entry(Host::of(entry.addr.ip())).or_default() += 1;
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
        let host = Host::of(gone.addr.ip());
        if let Some(n) = self.per_host.get_mut(&host) {
            *n -= 1;
            if *n == 0 {
                self.per_host.remove(&host);
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
        self.per_host.clear();
        for e in &self.peers {
            *self.per_host.entry(Host::of(e.addr.ip())).or_default() += 1;
        }
        gone
    }

    /// Peers listed from `host`.
    fn peers_of(&self, host: Host) -> usize {
        self.per_host.get(&host).copied().unwrap_or(0)
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

/// What one host holds in the store.
#[derive(Debug, Default)]
struct HostUse {
    /// Its peers over all swarms (expired ones until purged).
    peers: usize,
    /// The live swarms it created.
    created: Vec<InfoHash>,
}

impl HostUse {
    fn is_empty(&self) -> bool {
        self.peers == 0 && self.created.is_empty()
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
    /// What each host holds; hosts that hold nothing are not kept.
    hosts: HashMap<Host, HostUse>,
    /// Hosts that created a live swarm, by how many: the last is the heaviest creator.
    by_created: BTreeSet<(usize, Host)>,
}

/// Counts `addrs`, no longer listed, out of their hosts' peers in `hosts`.
fn forget_peers(hosts: &mut HashMap<Host, HostUse>, addrs: &[SocketAddr]) {
    for a in addrs {
        let host = Host::of(a.ip());
        if let Some(usage) = hosts.get_mut(&host) {
            usage.peers = usage.peers.saturating_sub(1);
            if usage.is_empty() {
                hosts.remove(&host);
            }
        }
    }
}

/// Why an announce was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A limit is reached and neither expiry nor eviction freed anything.
    #[error("tracker is full, try again later")]
    Full,
    /// The swarm, or the store, lists as many peers of this host as it takes.
    #[error("too many peers of your address in this swarm")]
    TooManyFromAddress,
    /// This host created as many live swarms as it may.
    #[error("too many new torrents from your address")]
    TooManySwarmsFromAddress,
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
            hosts: HashMap::new(),
            by_created: BTreeSet::new(),
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
                let left = swarm.remove(&peer);
                let empty = swarm.len() == 0;
                if left {
                    self.total -= 1;
                    self.forget_peers(&[peer]);
                }
                if empty {
                    self.remove_swarm(&ih);
                }
            }
        } else {
            let known = self.swarms.get(&ih).is_some_and(|s| s.contains(&peer));
            if !known {
                self.admit(ih, peer, now)?;
            }
            let Some(swarm) = self.swarms.get_mut(&ih) else {
                // `admit` made the swarm, and a known peer's swarm exists.
                return Err(StoreError::Full);
            };
            swarm.last_announce = now;
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
                self.hosts.entry(Host::of(peer.ip())).or_default().peers += 1;
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

    /// Makes room for `peer`, new in swarm `ih`, and makes the swarm if it is new, or
    /// says which limit refuses it.
    fn admit(&mut self, ih: InfoHash, peer: SocketAddr, now: Instant) -> Result<(), StoreError> {
        let host = Host::of(peer.ip());
        let limited = Host::limited(peer.ip()).is_some();
        let (held_peers, held_swarms) = self
            .hosts
            .get(&host)
            .map_or((0, 0), |h| (h.peers, h.created.len()));
        if limited && held_peers >= self.limits.max_peers_per_ip_total {
            return Err(StoreError::TooManyFromAddress);
        }
        if let Some(swarm) = self.swarms.get_mut(&ih) {
            let mut expired = Vec::new();
            if limited && swarm.peers_of(host) >= self.limits.max_peers_per_ip {
                expired = swarm.expire(now);
                if swarm.peers_of(host) >= self.limits.max_peers_per_ip {
                    self.forget_expired(&expired);
                    return Err(StoreError::TooManyFromAddress);
                }
            }
            if swarm.len() >= self.limits.max_peers_per_torrent {
                expired.extend(swarm.expire(now));
                if swarm.len() >= self.limits.max_peers_per_torrent {
                    self.forget_expired(&expired);
                    return Err(StoreError::Full);
                }
            }
            self.forget_expired(&expired);
        } else if limited && held_swarms >= self.limits.max_swarms_per_ip {
            return Err(StoreError::TooManySwarmsFromAddress);
        }
        let full = |s: &Store| {
            s.total >= s.limits.max_peers_total
                || (!s.swarms.contains_key(&ih) && s.swarms.len() >= s.limits.max_torrents)
        };
        if full(self) {
            let due = self
                .last_full_purge
                .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1));
            if due {
                self.last_full_purge = Some(now);
                self.purge(now);
            }
        }
        while full(self) {
            if !self.evict_one() {
                return Err(StoreError::Full);
            }
        }
        if !self.swarms.contains_key(&ih) {
            // The swarm joined may itself have been evicted: the peer now creates it.
            if limited && self.created_by(host) >= self.limits.max_swarms_per_ip {
                return Err(StoreError::TooManySwarmsFromAddress);
            }
            let created = &mut self.hosts.entry(host).or_default().created;
            created.push(ih);
            let n = created.len();
            self.by_created.remove(&(n - 1, host));
            self.by_created.insert((n, host));
            self.swarms.insert(ih, Swarm::new(host, n - 1, now));
        }
        Ok(())
    }

    /// Evicts the least announced of a few swarms of the heaviest creator; false if
    /// there is no swarm.
    fn evict_one(&mut self) -> bool {
        let Some(&(_, heaviest)) = self.by_created.last() else {
            return false;
        };
        let Some(created) = self.hosts.get(&heaviest).map(|h| &h.created) else {
            return false;
        };
        // A window at a random place: every swarm of a host with few is compared.
        let start = self.rng.below(created.len() as u64) as usize;
        let mut victim: Option<(InfoHash, (usize, Instant))> = None;
        for k in 0..EVICTION_SAMPLE.min(created.len()) {
            let Some(ih) = created.get((start + k) % created.len()) else {
                continue;
            };
            let Some(rank) = self.swarms.get(ih).map(Swarm::use_rank) else {
                continue;
            };
            if victim.is_none_or(|(_, best)| rank < best) {
                victim = Some((*ih, rank));
            }
        }
        match victim {
            Some((ih, _)) => {
                tracing::debug!(info_hash = %ih.to_hex(), "store full: evicting a swarm");
                self.remove_swarm(&ih);
                true
            }
            None => false,
        }
    }

    /// Removes swarm `ih` with its peers, and its count against its creator.
    fn remove_swarm(&mut self, ih: &InfoHash) {
        let Some(swarm) = self.swarms.remove(ih) else {
            return;
        };
        self.total -= swarm.len();
        let addrs: Vec<SocketAddr> = swarm.peers.iter().map(|e| e.addr).collect();
        self.forget_peers(&addrs);
        let host = swarm.creator;
        let Some(usage) = self.hosts.get_mut(&host) else {
            return;
        };
        let n = usage.created.len();
        if swarm.creator_slot < n {
            usage.created.swap_remove(swarm.creator_slot);
            if let Some(moved) = usage.created.get(swarm.creator_slot) {
                if let Some(s) = self.swarms.get_mut(moved) {
                    s.creator_slot = swarm.creator_slot;
                }
            }
            self.by_created.remove(&(n, host));
            if n > 1 {
                self.by_created.insert((n - 1, host));
            }
        }
        if usage.is_empty() {
            self.hosts.remove(&host);
        }
    }

    /// Live swarms `host` created.
    fn created_by(&self, host: Host) -> usize {
        self.hosts.get(&host).map_or(0, |h| h.created.len())
    }

    /// Counts `addrs`, no longer listed, out of their hosts' peers.
    fn forget_peers(&mut self, addrs: &[SocketAddr]) {
        forget_peers(&mut self.hosts, addrs);
    }

    /// Counts `addrs`, just expired from one swarm, out of the store.
    fn forget_expired(&mut self, addrs: &[SocketAddr]) {
        self.total -= addrs.len();
        self.forget_peers(addrs);
    }

    /// Drops expired peers and empty swarms.
    pub fn purge(&mut self, now: Instant) {
        let mut empty = Vec::new();
        for (ih, swarm) in &mut self.swarms {
            let gone = swarm.expire(now);
            self.total -= gone.len();
            forget_peers(&mut self.hosts, &gone);
            if swarm.len() == 0 {
                empty.push(*ih);
            }
        }
        for ih in &empty {
            self.remove_swarm(ih);
        }
    }

    /// Peers listed across all swarms.
    pub fn total_peers(&self) -> usize {
        self.total
    }

    /// Swarms tracked.
    pub fn swarms(&self) -> usize {
        self.swarms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn v4(a: u8, b: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([198, 51, a, b], port))
    }

    fn v6(net: u16, iface: u16, port: u16) -> SocketAddr {
        SocketAddr::from(([0x2001, 0xdb8, 0, net, 0, 0, 0, iface], port))
    }

    fn ih(n: u32) -> InfoHash {
        let mut h = [0; 20];
        h[..4].copy_from_slice(&n.to_be_bytes());
        InfoHash(h)
    }

    #[test]
    fn a_new_swarm_gets_in_when_five_hosts_filled_the_store() {
        let limits = Limits {
            max_torrents: 100,
            ..Limits::default()
        };
        let mut s = Store::new(limits);
        let now = Instant::now();
        // Five hosts create 20 swarms each: the store is full.
        for host in 0..5u8 {
            for t in 0..20u32 {
                let n = u32::from(host) * 20 + t;
                s.announce(ih(n), v4(1, host, 6881), false, false, 0, now)
                    .unwrap();
            }
        }
        assert_eq!(s.swarms(), 100);
        // A newcomer's swarm gets in, and so do the next ones of other newcomers.
        for (i, newcomer) in (0..30u8).enumerate() {
            let swarm = ih(1000 + i as u32);
            s.announce(swarm, v4(2, newcomer, 6881), true, false, 0, now)
                .unwrap();
            let p = s.announce(swarm, v4(3, newcomer, 1), false, false, 50, now);
            assert_eq!(p.unwrap().peers, vec![v4(2, newcomer, 6881)]);
        }
        assert_eq!(s.swarms(), 100);
        // The flooders paid for it: the newcomers' swarms all stayed.
        for i in 0..30u32 {
            assert!(
                s.swarms.contains_key(&ih(1000 + i)),
                "newcomer swarm {i} evicted"
            );
        }
        assert!(s.total_peers() <= 100 + 30);
    }

    #[test]
    fn a_flood_of_new_swarms_evicts_the_flooders_own() {
        let limits = Limits {
            max_torrents: 50,
            max_swarms_per_ip: 1_000,
            ..Limits::default()
        };
        let mut s = Store::new(limits);
        let now = Instant::now();
        // Ten honest hosts each publish one torrent, which others join.
        for h in 0..10u8 {
            s.announce(ih(u32::from(h)), v4(9, h, 1), true, false, 0, now)
                .unwrap();
            s.announce(ih(u32::from(h)), v4(8, h, 1), false, false, 0, now)
                .unwrap();
        }
        // One host floods 10,000 new swarms: each one past the limit evicts one of its own.
        for t in 0..10_000u32 {
            let _ = s.announce(ih(100_000 + t), v4(66, 6, 6881), false, false, 0, now);
        }
        assert_eq!(s.swarms(), 50);
        for h in 0..10u32 {
            assert!(s.swarms.contains_key(&ih(h)), "honest swarm {h} evicted");
        }
    }

    #[test]
    fn of_the_heaviest_creators_swarms_the_least_announced_goes_first() {
        let limits = Limits {
            max_torrents: 4,
            ..Limits::default()
        };
        let mut s = Store::new(limits);
        let t0 = Instant::now();
        let creator = v4(1, 1, 1);
        for t in 0..3u32 {
            s.announce(ih(t), creator, true, false, 0, t0).unwrap();
        }
        // Swarm 0 is joined by two other hosts; swarm 2 is announced in later than 1.
        s.announce(ih(0), v4(2, 2, 1), false, false, 0, t0).unwrap();
        s.announce(ih(0), v4(3, 3, 1), false, false, 0, t0).unwrap();
        let t1 = t0 + Duration::from_secs(10);
        s.announce(ih(2), creator, true, false, 0, t1).unwrap();
        // Another host's swarm fills the store; the next new one evicts swarm 1.
        s.announce(ih(7), v4(4, 4, 1), true, false, 0, t1).unwrap();
        s.announce(ih(8), v4(5, 5, 1), true, false, 0, t1).unwrap();
        let kept: Vec<bool> = [0, 1, 2, 7, 8]
            .iter()
            .map(|&t| s.swarms.contains_key(&ih(t)))
            .collect();
        assert_eq!(kept, [true, false, true, true, true]);
        // Its peers left the counts with it.
        assert_eq!(s.total_peers(), 3 + 1 + 1 + 1);
        assert_eq!(s.hosts[&Host::of(creator.ip())].created.len(), 2);
    }

    #[test]
    fn one_host_creates_only_so_many_swarms_and_one_ipv6_slash_64_is_one_host() {
        let limits = Limits {
            max_swarms_per_ip: 3,
            ..Limits::default()
        };
        let mut s = Store::new(limits);
        let now = Instant::now();
        // Three swarms from three addresses of one /64: that /64's quota.
        for i in 0..3u16 {
            s.announce(ih(u32::from(i)), v6(1, i + 1, 6881), true, false, 0, now)
                .unwrap();
        }
        assert_eq!(
            s.announce(ih(9), v6(1, 0xbeef, 6881), true, false, 0, now),
            Err(StoreError::TooManySwarmsFromAddress)
        );
        // Joining swarms others created is not creating; another /64 has its own quota.
        s.announce(ih(50), v6(2, 1, 6881), true, false, 0, now)
            .unwrap();
        s.announce(ih(50), v6(1, 1, 6881), false, false, 0, now)
            .unwrap();
        s.announce(ih(9), v6(2, 1, 6881), true, false, 0, now)
            .unwrap();
        // A swarm that empties stops counting against its creator.
        s.announce(ih(0), v6(1, 1, 6881), true, true, 0, now)
            .unwrap();
        s.announce(ih(10), v6(1, 7, 6881), true, false, 0, now)
            .unwrap();
        // 127.0.0.1 is not limited; 127.0.0.2 is a host like any other.
        for t in 100..110u32 {
            s.announce(ih(t), addr(1), true, false, 0, now).unwrap();
        }
        let mut other_loopback = |t: u32| {
            let peer = SocketAddr::from(([127, 0, 0, 2], 1));
            s.announce(ih(t), peer, true, false, 0, now)
        };
        for t in 200..203u32 {
            other_loopback(t).unwrap();
        }
        assert_eq!(
            other_loopback(203),
            Err(StoreError::TooManySwarmsFromAddress)
        );
    }

    #[test]
    fn every_per_address_limit_counts_an_ipv6_slash_64_as_one_address() {
        let limits = Limits {
            max_peers_per_ip_total: 12,
            ..Limits::default()
        };
        let mut s = Store::new(limits);
        let now = Instant::now();
        // In one swarm: 8 peers of one /64, whatever their addresses.
        for i in 1..=8u16 {
            s.announce(ih(1), v6(5, i, 6881), false, false, 0, now)
                .unwrap();
        }
        assert_eq!(
            s.announce(ih(1), v6(5, 0x99, 6881), false, false, 0, now),
            Err(StoreError::TooManyFromAddress)
        );
        s.announce(ih(1), v6(6, 1, 6881), false, false, 0, now)
            .unwrap();
        // Over all swarms: 12.
        for i in 1..=4u16 {
            s.announce(ih(2), v6(5, 100 + i, 6881), false, false, 0, now)
                .unwrap();
        }
        assert_eq!(
            s.announce(ih(3), v6(5, 0x1234, 1), false, false, 0, now),
            Err(StoreError::TooManyFromAddress)
        );
    }

    #[test]
    fn a_full_peer_count_evicts_a_swarm_rather_than_refusing() {
        let limits = Limits {
            max_peers_total: 40,
            ..Limits::default()
        };
        let mut s = Store::new(limits);
        let now = Instant::now();
        // Five hosts hold 40 peers in swarms they created.
        for host in 0..5u8 {
            for t in 0..8u16 {
                let swarm = ih(u32::from(host) * 100 + u32::from(t));
                s.announce(swarm, v4(1, host, t + 1), false, false, 0, now)
                    .unwrap();
            }
        }
        assert_eq!(s.total_peers(), 40);
        s.announce(ih(999), v4(7, 7, 1), true, false, 0, now)
            .unwrap();
        assert_eq!(s.total_peers(), 40);
        assert!(s.swarms.contains_key(&ih(999)));
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
            max_swarms_per_ip: MAX_SWARMS_PER_HOST,
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
