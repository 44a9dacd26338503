//! Fetching a magnet's metadata (the info dictionary) from peers, as a state machine.
//!
//! The metadata is fetched whole from one peer at a time. Bytes that do not hash to the
//! info-hash then convict that one peer (it is reported, to be banned, and never asked
//! again) and the next peer that offered the metadata is asked. A peer that rejects a
//! request, leaves, or is too slow hands the fetch on too; one still connected is asked
//! again later. So one lying, silent or dribbling peer delays a download by one
//! bounded attempt, and never stalls it:
//! - each attempt has a deadline from when it was asked, [`PATIENCE`] plus
//!   [`PER_PIECE`] for each piece of the size it announced (an 8 MiB dictionary must
//!   come at 64 KiB/s or better), and must bring a new piece every [`PATIENCE`];
//! - the next peer asked is one announcing the size most peers announce, so a crowd
//!   of peers lying about the size waits behind the honest ones.
//!
//! The driver reports what peers say ([`MetadataFetch::offer`], [`MetadataFetch::piece`],
//! [`MetadataFetch::rejected`], [`MetadataFetch::gone`]) and the time
//! ([`MetadataFetch::tick`]); it sends the requests each call returns.

use std::time::{Duration, Instant};

use crate::wire::{MAX_METADATA_LEN, METADATA_PIECE_LEN};
use crate::InfoHash;

/// How long the peer asked may go without sending a new piece; also the base of each
/// attempt's deadline, and how long a peer that refused or was too slow waits before
/// it is asked again.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Time allowed for each metadata piece (16 KiB) on top of [`PATIENCE`].
pub const PER_PIECE: Duration = Duration::from_millis(250);

/// Ask `peer` for metadata pieces `0..count`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<P> {
    /// The peer to ask.
    pub peer: P,
    /// The number of pieces to ask for, from 0.
    pub count: u32,
}

/// What a metadata piece brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress<P> {
    /// Nothing to do yet (more pieces are due, or the piece was not one we asked for).
    Pending,
    /// The whole info dictionary, hashing to the info-hash.
    Complete(Vec<u8>),
    /// `peer` sent metadata that does not hash to the info-hash: ban it, and send the
    /// request to the next peer, if any.
    Lied {
        /// The peer that sent it.
        peer: P,
        /// The next request.
        next: Option<Request<P>>,
    },
}

#[derive(Debug)]
struct Current<P> {
    peer: P,
    total: u32,
    pieces: Vec<Option<Vec<u8>>>,
    /// When it was asked, the time by which all of it must be in, and when it last
    /// brought a new piece.
    deadline: Instant,
    progress: Instant,
}

#[derive(Debug)]
struct Offer<P> {
    peer: P,
    total: u32,
    /// Not asked before this (a peer that refused or was too slow).
    not_before: Instant,
}

/// The fetch of one torrent's metadata. `P` names a peer (a connection slot).
#[derive(Debug)]
pub struct MetadataFetch<P> {
    info_hash: InfoHash,
    /// Peers that announced the metadata and are not being asked, oldest first.
    offers: Vec<Offer<P>>,
    current: Option<Current<P>>,
}

impl<P: Copy + Eq> MetadataFetch<P> {
    /// A fetch of the metadata of `info_hash`; nobody has offered it yet.
    pub fn new(info_hash: InfoHash) -> MetadataFetch<P> {
        MetadataFetch {
            info_hash,
            offers: Vec::new(),
            current: None,
        }
    }

    /// `peer` says it has the metadata, `total` bytes of it. Returns a request to send
    /// if nobody is being asked.
    pub fn offer(&mut self, peer: P, total: u32, now: Instant) -> Option<Request<P>> {
        if total == 0 || total > MAX_METADATA_LEN {
            return None;
        }
        self.offers.retain(|o| o.peer != peer);
        self.offers.push(Offer {
            peer,
            total,
            not_before: now,
        });
        self.next(now)
    }

    /// The peer being asked, if any.
    pub fn asking(&self) -> Option<P> {
        self.current.as_ref().map(|c| c.peer)
    }

    /// A metadata piece from `peer`.
    pub fn piece(
        &mut self,
        peer: P,
        index: u32,
        total: u32,
        data: Vec<u8>,
        now: Instant,
    ) -> Progress<P> {
        let Some(c) = self.current.as_mut().filter(|c| c.peer == peer) else {
            return Progress::Pending;
        };
        let start = u64::from(index) * u64::from(METADATA_PIECE_LEN);
        let expected = u64::from(c.total)
            .saturating_sub(start)
            .min(u64::from(METADATA_PIECE_LEN));
        let Some(slot) = c.pieces.get_mut(index as usize) else {
            return Progress::Pending;
        };
        // A piece already in, or of the wrong size, is no progress.
        if total != c.total || data.len() as u64 != expected || slot.is_some() {
            return Progress::Pending;
        }
        *slot = Some(data);
        c.progress = now;
        if c.pieces.iter().any(Option::is_none) {
            return Progress::Pending;
        }
        let bytes: Vec<u8> = c
            .pieces
            .iter_mut()
            .flat_map(Option::take)
            .flatten()
            .collect();
        self.current = None;
        if InfoHash::of_info_bytes(&bytes) == self.info_hash {
            return Progress::Complete(bytes);
        }
        // A liar is never asked again.
        self.offers.retain(|o| o.peer != peer);
        Progress::Lied {
            peer,
            next: self.next(now),
        }
    }

    /// `peer` refused a metadata request: if it was the one asked, the next is asked,
    /// and it is asked again after [`PATIENCE`].
    pub fn rejected(&mut self, peer: P, now: Instant) -> Option<Request<P>> {
        let c = self.current.take_if(|c| c.peer == peer)?;
        self.offers.push(Offer {
            peer,
            total: c.total,
            not_before: now + PATIENCE,
        });
        self.next(now)
    }

    /// `peer` left: forgotten, and if it was the one asked, the next is asked.
    pub fn gone(&mut self, peer: P, now: Instant) -> Option<Request<P>> {
        self.offers.retain(|o| o.peer != peer);
        self.current.take_if(|c| c.peer == peer)?;
        self.next(now)
    }

    /// The time: a peer past its deadline, or without a new piece for [`PATIENCE`], is
    /// given up on for now (asked again after [`PATIENCE`]) and the next is asked; or a
    /// peer that waited its turn out is asked.
    pub fn tick(&mut self, now: Instant) -> Option<Request<P>> {
        let too_slow = self.current.as_ref().is_some_and(|c| {
            now >= c.deadline || now.saturating_duration_since(c.progress) >= PATIENCE
        });
        if too_slow {
            let peer = self.current.as_ref()?.peer;
            return self.rejected(peer, now);
        }
        self.next(now)
    }

    /// Asks the best offer that may be asked now: one announcing the size most offers
    /// announce, the oldest of those.
    fn next(&mut self, now: Instant) -> Option<Request<P>> {
        if self.current.is_some() {
            return None;
        }
        let votes = |total: u32| self.offers.iter().filter(|o| o.total == total).count();
        let best = self
            .offers
            .iter()
            .enumerate()
            .filter(|(_, o)| o.not_before <= now)
            // max_by_key keeps the last of equals; the oldest is wanted, so compare
            // (votes, -position).
            .max_by_key(|(i, o)| (votes(o.total), std::cmp::Reverse(*i)))
            .map(|(i, _)| i)?;
        let Offer { peer, total, .. } = self.offers.remove(best);
        let count = total.div_ceil(METADATA_PIECE_LEN);
        self.current = Some(Current {
            peer,
            total,
            pieces: vec![None; count as usize],
            deadline: now + PATIENCE + PER_PIECE * count,
            progress: now,
        });
        Some(Request { peer, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = 40_000; // three pieces: 16384, 16384, 7232

    fn info() -> Vec<u8> {
        (0..LEN).map(|i| (i % 251) as u8).collect()
    }

    fn pieces(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes
            .chunks(METADATA_PIECE_LEN as usize)
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn total() -> u32 {
        LEN as u32
    }

    #[test]
    fn one_peer_sends_it_all_and_the_hash_checks() {
        let bytes = info();
        let now = Instant::now();
        let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&bytes));
        assert_eq!(
            f.offer(1u64, total(), now),
            Some(Request { peer: 1, count: 3 })
        );
        // A second offer waits: one peer is asked at a time.
        assert_eq!(f.offer(2, total(), now), None);
        let ps = pieces(&bytes);
        assert_eq!(
            f.piece(1, 2, total(), ps[2].clone(), now),
            Progress::Pending
        );
        // Pieces from a peer not asked, of the wrong size, or out of range count for nothing.
        assert_eq!(
            f.piece(2, 0, total(), ps[0].clone(), now),
            Progress::Pending
        );
        assert_eq!(f.piece(1, 0, total(), vec![0; 10], now), Progress::Pending);
        assert_eq!(f.piece(1, 3, total(), vec![], now), Progress::Pending);
        assert_eq!(
            f.piece(1, 0, total(), ps[0].clone(), now),
            Progress::Pending
        );
        assert_eq!(
            f.piece(1, 1, total(), ps[1].clone(), now),
            Progress::Complete(bytes)
        );
    }

    #[test]
    fn a_liar_is_reported_and_the_next_peer_asked_whatever_size_it_claimed() {
        let bytes = info();
        let now = Instant::now();
        let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&bytes));
        // The liar comes first and claims a different size.
        let lie = vec![7u8; 100];
        assert_eq!(f.offer(9u64, 100, now), Some(Request { peer: 9, count: 1 }));
        assert_eq!(f.offer(1, total(), now), None);
        assert_eq!(
            f.piece(9, 0, 100, lie, now),
            Progress::Lied {
                peer: 9,
                next: Some(Request { peer: 1, count: 3 })
            }
        );
        let mut last = Progress::Pending;
        for (i, p) in pieces(&bytes).into_iter().enumerate() {
            last = f.piece(1, i as u32, total(), p, now);
        }
        assert_eq!(last, Progress::Complete(bytes));
    }

    #[test]
    fn rejection_departure_and_silence_each_hand_the_fetch_on() {
        let bytes = info();
        let t0 = Instant::now();
        let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&bytes));
        f.offer(1u64, total(), t0);
        for peer in [2, 3, 4] {
            assert_eq!(f.offer(peer, total(), t0), None);
        }
        // A peer that is not being asked leaving changes nothing.
        assert_eq!(f.gone(4, t0), None);
        assert_eq!(f.rejected(1, t0), Some(Request { peer: 2, count: 3 }));
        assert_eq!(f.gone(2, t0), Some(Request { peer: 3, count: 3 }));
        // Peer 3 sends a piece, then repeats it: a repeat is no progress.
        let ps = pieces(&bytes);
        // (All within the attempt's deadline, t0 + 10.75 s.)
        let t1 = t0 + Duration::from_millis(100);
        f.piece(3, 0, total(), ps[0].clone(), t1);
        let t2 = t1 + PATIENCE - Duration::from_millis(1);
        assert_eq!(f.piece(3, 0, total(), ps[0].clone(), t2), Progress::Pending);
        assert_eq!(f.tick(t2), None);
        // Silent since t1: given up on at t1 + PATIENCE, and peer 1, whose wait after
        // refusing is over, is asked.
        let t3 = t1 + PATIENCE;
        assert_eq!(f.tick(t3), Some(Request { peer: 1, count: 3 }));
        // Peer 1 sends everything: complete.
        let mut last = Progress::Pending;
        for (i, p) in ps.into_iter().enumerate() {
            last = f.piece(1, i as u32, total(), p, t3);
        }
        assert_eq!(last, Progress::Complete(bytes));
    }

    #[test]
    fn a_peer_that_refused_is_asked_again_after_a_wait() {
        let t0 = Instant::now();
        let mut f = MetadataFetch::new(InfoHash([1; 20]));
        assert_eq!(
            f.offer(1u64, total(), t0),
            Some(Request { peer: 1, count: 3 })
        );
        assert_eq!(f.rejected(1, t0), None, "nobody else to ask");
        assert_eq!(f.tick(t0 + PATIENCE - Duration::from_millis(1)), None);
        assert_eq!(f.tick(t0 + PATIENCE), Some(Request { peer: 1, count: 3 }));
    }

    #[test]
    fn a_dribbling_peer_is_given_up_on_at_its_deadline() {
        let bytes = vec![5u8; 20 * METADATA_PIECE_LEN as usize];
        let ps = pieces(&bytes);
        let t0 = Instant::now();
        let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&bytes));
        let total = bytes.len() as u32;
        assert_eq!(
            f.offer(1u64, total, t0),
            Some(Request { peer: 1, count: 20 })
        );
        f.offer(2, total, t0);
        // One new piece every 9 s keeps it under PATIENCE, but the whole attempt must
        // be done by t0 + 10 s + 20 × 250 ms = t0 + 15 s.
        let deadline = t0 + PATIENCE + PER_PIECE * 20;
        f.piece(1, 0, total, ps[0].clone(), t0 + Duration::from_secs(9));
        assert_eq!(f.tick(deadline - Duration::from_millis(1)), None);
        assert_eq!(f.tick(deadline), Some(Request { peer: 2, count: 20 }));
    }

    #[test]
    fn the_size_most_peers_announce_is_fetched_first() {
        let bytes = info();
        let t0 = Instant::now();
        let mut f = MetadataFetch::new(InfoHash::of_info_bytes(&bytes));
        // Someone is being asked; meanwhile one peer claims 100 bytes and two the truth.
        f.offer(1u64, total(), t0);
        f.offer(7, 100, t0);
        f.offer(2, total(), t0);
        f.offer(3, total(), t0);
        assert_eq!(f.gone(1, t0), Some(Request { peer: 2, count: 3 }));
    }

    #[test]
    fn sizes_beyond_the_wire_limit_are_not_fetched() {
        let mut f = MetadataFetch::new(InfoHash([0; 20]));
        let now = Instant::now();
        assert_eq!(f.offer(1u64, MAX_METADATA_LEN + 1, now), None);
        assert_eq!(f.offer(1u64, 0, now), None);
        assert_eq!(f.asking(), None);
    }
}
