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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_torrents: 100_000,
            max_peers_per_torrent: 5_000,
            max_peers_total: 1_000_000,
            peer_ttl: Duration::from_secs(30 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    seeder: bool,
    expires: Instant,
}

/// Swarm membership.
#[derive(Debug, Default)]
pub struct Store {
    swarms: HashMap<InfoHash, HashMap<SocketAddr, Entry>>,
    total: usize,
    limits: Limits,
}

/// Why an announce was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The tracker is full.
    #[error("tracker is full, try again later")]
    Full,
}

/// The answer to an announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    /// Other peers of the swarm (not the announcer), at most `numwant`.
    pub peers: Vec<SocketAddr>,
    /// Peers with the whole file.
    pub complete: usize,
    /// Peers still downloading.
    pub incomplete: usize,
}

impl Store {
    /// An empty store with these limits.
    pub fn new(limits: Limits) -> Store {
        Store {
            swarms: HashMap::new(),
            total: 0,
            limits,
        }
    }

    /// Records an announce (or removes the peer on `stopped`) and returns other peers.
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
                if swarm.remove(&peer).is_some() {
                    self.total -= 1;
                }
                if swarm.is_empty() {
                    self.swarms.remove(&ih);
                }
            }
        } else {
            let known = self.swarms.get(&ih).is_some_and(|s| s.contains_key(&peer));
            if !known {
                if self.total >= self.limits.max_peers_total {
                    self.purge(now);
                    if self.total >= self.limits.max_peers_total {
                        return Err(StoreError::Full);
                    }
                }
                if !self.swarms.contains_key(&ih) && self.swarms.len() >= self.limits.max_torrents {
                    return Err(StoreError::Full);
                }
            }
            let swarm = self.swarms.entry(ih).or_default();
            if !known && swarm.len() >= self.limits.max_peers_per_torrent {
                swarm.retain(|_, e| e.expires > now);
                if swarm.len() >= self.limits.max_peers_per_torrent {
                    return Err(StoreError::Full);
                }
            }
            if swarm
                .insert(
                    peer,
                    Entry {
                        seeder,
                        expires: now + self.limits.peer_ttl,
                    },
                )
                .is_none()
            {
                self.total += 1;
            }
        }
        let Some(swarm) = self.swarms.get(&ih) else {
            return Ok(Peers {
                peers: vec![],
                complete: 0,
                incomplete: 0,
            });
        };
        let live = swarm.iter().filter(|(_, e)| e.expires > now);
        let complete = live.clone().filter(|(_, e)| e.seeder).count();
        let incomplete = live.clone().count() - complete;
        let peers = live
            .map(|(a, _)| *a)
            .filter(|a| *a != peer)
            .take(numwant)
            .collect();
        Ok(Peers {
            peers,
            complete,
            incomplete,
        })
    }

    /// Drops expired peers and empty swarms.
    pub fn purge(&mut self, now: Instant) {
        let mut total = 0;
        self.swarms.retain(|_, swarm| {
            swarm.retain(|_, e| e.expires > now);
            total += swarm.len();
            !swarm.is_empty()
        });
        self.total = total;
    }

    /// Peers tracked over all swarms.
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
    fn a_flood_of_announces_is_bounded() {
        let limits = Limits {
            max_torrents: 10,
            max_peers_per_torrent: 5,
            max_peers_total: 20,
            peer_ttl: Duration::from_secs(60),
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
