//! Fetching a magnet's metadata (the info dictionary) from peers, as a state machine.
//!
//! The metadata is fetched whole from one peer at a time. Bytes that do not hash to the
//! info-hash then convict that one peer (it is reported, to be banned) and the next
//! peer that offered the metadata is asked; a peer that rejects a request, leaves, or
//! stays silent too long hands the fetch on as well. So one lying or dead peer delays a
//! download by one attempt, and never stalls it, whatever size it announced.
//!
//! The driver reports what peers say ([`MetadataFetch::offer`], [`MetadataFetch::piece`],
//! [`MetadataFetch::rejected`], [`MetadataFetch::gone`]) and the time
//! ([`MetadataFetch::tick`]); it sends the requests each call returns.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::{MAX_METADATA_LEN, METADATA_PIECE_LEN};
use crate::InfoHash;

/// How long a peer asked for the metadata may stay silent before the next is asked.
pub const PATIENCE: Duration = Duration::from_secs(10);

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
    since: Instant,
}

/// The fetch of one torrent's metadata. `P` names a peer (a connection slot).
#[derive(Debug)]
pub struct MetadataFetch<P> {
    info_hash: InfoHash,
    /// Peers that announced the metadata and were not asked yet, oldest first.
    offers: VecDeque<(P, u32)>,
    current: Option<Current<P>>,
}

impl<P: Copy + Eq> MetadataFetch<P> {
    /// A fetch of the metadata of `info_hash`; nobody has offered it yet.
    pub fn new(info_hash: InfoHash) -> MetadataFetch<P> {
        MetadataFetch {
            info_hash,
            offers: VecDeque::new(),
            current: None,
        }
    }

    /// `peer` says it has the metadata, `total` bytes of it. Returns a request to send
    /// if nobody is being asked.
    pub fn offer(&mut self, peer: P, total: u32, now: Instant) -> Option<Request<P>> {
        if total == 0 || total > MAX_METADATA_LEN {
            return None;
        }
        self.offers.retain(|(p, _)| *p != peer);
        self.offers.push_back((peer, total));
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
        if total != c.total || index as usize >= c.pieces.len() || data.len() as u64 != expected {
            return Progress::Pending;
        }
        c.pieces[index as usize] = Some(data);
        c.since = now;
        if c.pieces.iter().any(Option::is_none) {
            return Progress::Pending;
        }
        let bytes: Vec<u8> = c
            .pieces
            .iter_mut()
            .flat_map(|p| p.take())
            .flatten()
            .collect();
        self.current = None;
        if InfoHash::of_info_bytes(&bytes) == self.info_hash {
            return Progress::Complete(bytes);
        }
        // A lying peer's other offers go too.
        self.offers.retain(|(p, _)| *p != peer);
        Progress::Lied {
            peer,
            next: self.next(now),
        }
    }

    /// `peer` refused a metadata request: if it was the one asked, the next is asked.
    pub fn rejected(&mut self, peer: P, now: Instant) -> Option<Request<P>> {
        self.gone(peer, now)
    }

    /// `peer` left: forgotten, and if it was the one asked, the next is asked.
    pub fn gone(&mut self, peer: P, now: Instant) -> Option<Request<P>> {
        self.offers.retain(|(p, _)| *p != peer);
        if self.asking() == Some(peer) {
            self.current = None;
            return self.next(now);
        }
        None
    }

    /// The time: a peer silent for [`PATIENCE`] is given up on, and the next asked.
    pub fn tick(&mut self, now: Instant) -> Option<Request<P>> {
        let silent = self
            .current
            .as_ref()
            .filter(|c| now.saturating_duration_since(c.since) >= PATIENCE)?
            .peer;
        self.gone(silent, now)
    }

    fn next(&mut self, now: Instant) -> Option<Request<P>> {
        if self.current.is_some() {
            return None;
        }
        let (peer, total) = self.offers.pop_front()?;
        let count = total.div_ceil(METADATA_PIECE_LEN);
        self.current = Some(Current {
            peer,
            total,
            pieces: vec![None; count as usize],
            since: now,
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
        // Peer 3 sends a piece, then goes silent; patience runs from its last piece.
        let t1 = t0 + Duration::from_secs(5);
        f.piece(3, 0, total(), pieces(&bytes)[0].clone(), t1);
        assert_eq!(f.tick(t1 + PATIENCE - Duration::from_millis(1)), None);
        assert_eq!(f.tick(t1 + PATIENCE), None, "nobody else offered it");
        assert_eq!(f.asking(), None);
        // A later offer is asked at once.
        assert_eq!(
            f.offer(5, total(), t1 + PATIENCE),
            Some(Request { peer: 5, count: 3 })
        );
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
