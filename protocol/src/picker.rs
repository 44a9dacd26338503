//! Which block to ask which peer for next: rarest first, finish started pieces first,
//! and an endgame that asks a second peer for the last blocks.
//!
//! One picker per torrent, shared by all of its peer sessions. Peers are named by a
//! [`PeerSlot`] the driver assigns. The picker never sees data: the driver reports
//! blocks received and whether a completed piece's hash checked out.

use std::collections::BTreeMap;

use crate::bitfield::Bitfield;
use crate::pieces::PieceLayout;
use crate::rng::Rng;
use crate::wire::BlockRef;

/// A driver-assigned name for one peer connection.
pub type PeerSlot = u64;

/// In the endgame, at most this many peers are asked for the same block.
pub const MAX_ENDGAME_DUPLICATES: usize = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
enum BlockState {
    Missing,
    Requested(Vec<PeerSlot>),
    Received,
}

#[derive(Debug, Clone)]
struct Partial {
    blocks: Vec<BlockState>,
    received: u32,
}

/// What happened to a received block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Not requested, or already received: ignore the data.
    Unexpected,
    /// Keep the data. `complete` if this was the piece's last block (hash it now);
    /// `cancel` lists other peers that were asked for the same block (endgame).
    Accepted {
        /// The piece is complete.
        complete: bool,
        /// Peers to send a Cancel.
        cancel: Vec<PeerSlot>,
    },
}

/// The piece picker of one torrent.
#[derive(Debug, Clone)]
pub struct Picker {
    layout: PieceLayout,
    block_len: u32,
    have: Bitfield,
    availability: Vec<u32>,
    partial: BTreeMap<u32, Partial>,
    rng: Rng,
}

impl Picker {
    /// A picker for `layout`, already having `have`, asking for blocks of `block_len`.
    pub fn new(layout: PieceLayout, block_len: u32, have: Bitfield, seed: u64) -> Picker {
        Picker {
            availability: vec![0; layout.piece_count() as usize],
            layout,
            block_len: block_len.max(1),
            have,
            partial: BTreeMap::new(),
            rng: Rng::new(seed),
        }
    }

    /// The pieces we have.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// True when every piece is verified.
    pub fn is_complete(&self) -> bool {
        self.have.is_full()
    }

    /// How many peers are known to have piece `i`.
    pub fn availability(&self, i: u32) -> u32 {
        self.availability.get(i as usize).copied().unwrap_or(0)
    }

    fn block_count(&self, piece: u32) -> u32 {
        u32::try_from(
            self.layout
                .piece_len(piece)
                .div_ceil(u64::from(self.block_len)),
        )
        .unwrap_or(0)
    }

    fn block_ref(&self, piece: u32, block: u32) -> BlockRef {
        let offset = block * self.block_len;
        let len = (self.layout.piece_len(piece) - u64::from(offset)).min(u64::from(self.block_len));
        BlockRef {
            piece,
            offset,
            length: u32::try_from(len).unwrap_or(self.block_len),
        }
    }

    /// A peer announced its bitfield.
    pub fn add_peer(&mut self, bits: &Bitfield) {
        for i in bits.iter() {
            if let Some(a) = self.availability.get_mut(i as usize) {
                *a += 1;
            }
        }
    }

    /// A peer announced one more piece.
    pub fn add_have(&mut self, piece: u32) {
        if let Some(a) = self.availability.get_mut(piece as usize) {
            *a += 1;
        }
    }

    /// A peer went away: forget its pieces and release its requests.
    pub fn remove_peer(&mut self, peer: PeerSlot, bits: &Bitfield) {
        for i in bits.iter() {
            if let Some(a) = self.availability.get_mut(i as usize) {
                *a = a.saturating_sub(1);
            }
        }
        for p in self.partial.values_mut() {
            for b in &mut p.blocks {
                release(b, peer);
            }
        }
    }

    /// A peer refused or cancelled a request: release it.
    pub fn release(&mut self, peer: PeerSlot, block: &BlockRef) {
        let index = block.offset / self.block_len;
        if let Some(b) = self
            .partial
            .get_mut(&block.piece)
            .and_then(|p| p.blocks.get_mut(index as usize))
        {
            release(b, peer);
        }
    }

    /// Up to `max` blocks to request from `peer`, which has `peer_has`.
    pub fn pick(&mut self, peer: PeerSlot, peer_has: &Bitfield, max: usize) -> Vec<BlockRef> {
        let mut out = Vec::new();
        // 1. Finish started pieces first, so pieces complete (and can be shared) sooner.
        let started: Vec<u32> = self
            .partial
            .keys()
            .copied()
            .filter(|p| peer_has.get(*p))
            .collect();
        for piece in started {
            self.take_missing(piece, peer, max, &mut out);
            if out.len() >= max {
                return out;
            }
        }
        // 2. Start the rarest pieces this peer has, ties broken at random.
        while out.len() < max {
            let Some(piece) = self.rarest(peer_has) else {
                break;
            };
            let n = self.block_count(piece);
            self.partial.insert(
                piece,
                Partial {
                    blocks: vec![BlockState::Missing; n as usize],
                    received: 0,
                },
            );
            self.take_missing(piece, peer, max, &mut out);
        }
        // 3. Endgame: nothing left to start and nothing missing; ask this peer too for
        //    blocks others are slow to deliver.
        if out.is_empty() && self.rarest(peer_has).is_none() {
            let pieces: Vec<u32> = self
                .partial
                .keys()
                .copied()
                .filter(|p| peer_has.get(*p))
                .collect();
            'outer: for piece in pieces {
                let n = self.block_count(piece);
                for b in 0..n {
                    let block = self.block_ref(piece, b);
                    let Some(state) = self
                        .partial
                        .get_mut(&piece)
                        .and_then(|p| p.blocks.get_mut(b as usize))
                    else {
                        continue;
                    };
                    if let BlockState::Requested(peers) = state {
                        if !peers.contains(&peer) && peers.len() < MAX_ENDGAME_DUPLICATES {
                            peers.push(peer);
                            out.push(block);
                            if out.len() >= max {
                                break 'outer;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn take_missing(&mut self, piece: u32, peer: PeerSlot, max: usize, out: &mut Vec<BlockRef>) {
        let n = self.block_count(piece);
        for b in 0..n {
            if out.len() >= max {
                return;
            }
            let block = self.block_ref(piece, b);
            if let Some(state) = self
                .partial
                .get_mut(&piece)
                .and_then(|p| p.blocks.get_mut(b as usize))
            {
                if *state == BlockState::Missing {
                    *state = BlockState::Requested(vec![peer]);
                    out.push(block);
                }
            }
        }
    }

    fn rarest(&mut self, peer_has: &Bitfield) -> Option<u32> {
        let mut best: Option<(u32, u32)> = None; // (availability, piece)
        let mut ties = 0u64;
        for piece in peer_has.iter() {
            if self.have.get(piece) || self.partial.contains_key(&piece) {
                continue;
            }
            let a = self.availability(piece);
            match best {
                Some((ba, _)) if a > ba => {}
                Some((ba, _)) if a == ba => {
                    // Reservoir sampling: each tied piece equally likely.
                    ties += 1;
                    if self.rng.below(ties) == 0 {
                        best = Some((a, piece));
                    }
                }
                _ => {
                    best = Some((a, piece));
                    ties = 1;
                }
            }
        }
        best.map(|(_, p)| p)
    }

    /// A block arrived from `peer`.
    pub fn block_received(&mut self, peer: PeerSlot, block: &BlockRef) -> Received {
        let index = block.offset / self.block_len;
        let expected = self.block_ref(block.piece, index);
        if block.offset % self.block_len != 0 || expected.length != block.length {
            return Received::Unexpected;
        }
        let Some(partial) = self.partial.get_mut(&block.piece) else {
            return Received::Unexpected;
        };
        let Some(state) = partial.blocks.get_mut(index as usize) else {
            return Received::Unexpected;
        };
        let cancel = match state {
            BlockState::Requested(peers) if peers.contains(&peer) => {
                peers.iter().copied().filter(|p| *p != peer).collect()
            }
            _ => return Received::Unexpected,
        };
        *state = BlockState::Received;
        partial.received += 1;
        let complete = partial.received as usize == partial.blocks.len();
        Received::Accepted { complete, cancel }
    }

    /// A completed piece hashed correctly: we have it now.
    pub fn piece_verified(&mut self, piece: u32) {
        self.partial.remove(&piece);
        self.have.set(piece);
    }

    /// A completed piece failed its hash: forget its blocks and ask again.
    pub fn piece_failed(&mut self, piece: u32) {
        self.partial.remove(&piece);
    }

    /// Whether we want anything `peer_has` offers.
    pub fn wants_any(&self, peer_has: &Bitfield) -> bool {
        peer_has.iter().any(|p| !self.have.get(p))
    }
}

fn release(state: &mut BlockState, peer: PeerSlot) {
    if let BlockState::Requested(peers) = state {
        peers.retain(|p| *p != peer);
        if peers.is_empty() {
            *state = BlockState::Missing;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picker(pieces: u32) -> Picker {
        let layout = PieceLayout::new(32 * 1024, u64::from(pieces) * 32 * 1024 - 100).unwrap();
        Picker::new(layout, 16 * 1024, Bitfield::new(pieces), 42)
    }

    #[test]
    fn rarest_piece_is_picked_first_and_started_pieces_are_finished_first() {
        let mut p = picker(4);
        let all = Bitfield::full(4);
        let mut only2 = Bitfield::new(4);
        only2.set(2);
        p.add_peer(&all);
        p.add_peer(&all);
        let mut rare = Bitfield::full(4);
        rare.set(3);
        p.add_peer(&only2); // piece 2: 3 peers; others: 2
                            // Pieces 0, 1, 3 tie at availability 2; piece 2 is the most common.
        let first = p.pick(1, &all, 1);
        assert_ne!(first[0].piece, 2);
        // The same piece's second block comes next, before any new piece.
        let second = p.pick(1, &all, 1);
        assert_eq!(second[0].piece, first[0].piece);
        assert_eq!(second[0].offset, 16 * 1024);
    }

    #[test]
    fn last_block_is_short_and_a_piece_completes_then_verifies() {
        let mut p = picker(2);
        let all = Bitfield::full(2);
        p.add_peer(&all);
        let blocks = p.pick(1, &all, 10);
        assert_eq!(blocks.len(), 4);
        let last = blocks
            .iter()
            .find(|b| b.piece == 1 && b.offset == 16 * 1024)
            .unwrap();
        assert_eq!(last.length, 16 * 1024 - 100);
        let piece0: Vec<_> = blocks.iter().filter(|b| b.piece == 0).collect();
        assert_eq!(
            p.block_received(1, piece0[0]),
            Received::Accepted {
                complete: false,
                cancel: vec![]
            }
        );
        assert_eq!(p.block_received(1, piece0[0]), Received::Unexpected);
        assert_eq!(
            p.block_received(2, piece0[1]),
            Received::Unexpected,
            "not requested from peer 2"
        );
        assert_eq!(
            p.block_received(1, piece0[1]),
            Received::Accepted {
                complete: true,
                cancel: vec![]
            }
        );
        p.piece_verified(0);
        assert!(p.have().get(0));
        assert!(!p.is_complete());
    }

    #[test]
    fn failed_piece_is_asked_for_again_and_dropped_peers_release_requests() {
        let mut p = picker(1);
        let all = Bitfield::full(1);
        let b = p.pick(1, &all, 10);
        assert_eq!(b.len(), 2);
        p.remove_peer(1, &all);
        assert_eq!(
            p.pick(2, &all, 10).len(),
            2,
            "released blocks are picked again"
        );
        for blk in &b {
            p.block_received(2, blk);
        }
        p.piece_failed(0);
        assert_eq!(p.pick(3, &all, 10).len(), 2);
    }

    #[test]
    fn endgame_asks_a_second_peer_and_cancels_the_first() {
        let mut p = picker(1);
        let all = Bitfield::full(1);
        let b = p.pick(1, &all, 10);
        let dup = p.pick(2, &all, 10);
        assert_eq!(dup, b, "endgame duplicates the outstanding blocks");
        assert!(
            p.pick(3, &all, 10).is_empty(),
            "at most two peers per block"
        );
        assert_eq!(
            p.block_received(2, &b[0]),
            Received::Accepted {
                complete: false,
                cancel: vec![1]
            }
        );
    }
}
