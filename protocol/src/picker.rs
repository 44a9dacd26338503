//! Which block to ask which peer for next: rarest first, finish started pieces first,
//! and an endgame that asks a second peer for the last blocks.
//!
//! One picker per torrent, shared by all of its peer sessions. Peers are named by a
//! [`PeerSlot`] the driver assigns. The picker never sees data: the driver reports
//! blocks received and whether a completed piece's hash checked out.

use crate::availability::{Availability, Wanted};
use crate::bitfield::{words_contain, Bitfield};
use crate::pieces::PieceLayout;
use crate::rng::Rng;
use crate::wire::BlockRef;

/// A driver-assigned name for one peer connection.
pub type PeerSlot = u64;

/// In the endgame, at most this many peers are asked for the same block.
pub const MAX_ENDGAME_DUPLICATES: usize = 2;

/// The peers asked for one block (at most [`MAX_ENDGAME_DUPLICATES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Askers {
    slots: [PeerSlot; MAX_ENDGAME_DUPLICATES],
    len: usize,
}

impl Askers {
    fn one(peer: PeerSlot) -> Askers {
        let mut slots = [0; MAX_ENDGAME_DUPLICATES];
        slots[0] = peer;
        Askers { slots, len: 1 }
    }

    fn peers(&self) -> &[PeerSlot] {
        &self.slots[..self.len]
    }

    fn contains(&self, peer: PeerSlot) -> bool {
        self.peers().contains(&peer)
    }

    /// Adds `peer` if there is room.
    fn push(&mut self, peer: PeerSlot) -> bool {
        if self.len >= MAX_ENDGAME_DUPLICATES {
            return false;
        }
        self.slots[self.len] = peer;
        self.len += 1;
        true
    }

    fn remove(&mut self, peer: PeerSlot) {
        let mut k = 0;
        for i in 0..self.len {
            if self.slots[i] != peer {
                self.slots[k] = self.slots[i];
                k += 1;
            }
        }
        self.len = k;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockState {
    Missing,
    Requested(Askers),
    Received,
}

/// The blocks of a started piece; a piece of one block (the simulator's case) keeps
/// its state inline.
#[derive(Debug, Clone)]
enum Blocks {
    One(BlockState),
    Many(Vec<BlockState>),
}

impl Blocks {
    fn as_mut_slice(&mut self) -> &mut [BlockState] {
        match self {
            Blocks::One(b) => std::slice::from_mut(b),
            Blocks::Many(v) => v,
        }
    }

    fn len(&self) -> usize {
        match self {
            Blocks::One(_) => 1,
            Blocks::Many(v) => v.len(),
        }
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut BlockState> {
        self.as_mut_slice().get_mut(i)
    }
}

#[derive(Debug, Clone)]
struct Partial {
    blocks: Blocks,
    received: u32,
    /// Blocks in `Missing`.
    missing: u32,
}

/// The started pieces, in no order: few at a time, so two short arrays searched from
/// the front, a piece appended when it starts and its place taken by the last one when
/// it ends (one allocation each, reused). A start or an end touches one or two entries
/// and moves none of the others; the decisions that depend on an order of the started
/// pieces take them in index order ([`Partials::next_after`]).
#[derive(Debug, Clone, Default)]
struct Partials {
    pieces: Vec<u32>,
    states: Vec<Partial>,
}

impl Partials {
    fn position(&self, piece: u32) -> Option<usize> {
        self.pieces.iter().position(|p| *p == piece)
    }

    fn get_mut(&mut self, piece: u32) -> Option<&mut Partial> {
        let i = self.position(piece)?;
        self.states.get_mut(i)
    }

    /// Starts `piece`, which is not started, with `partial`: its place.
    fn insert(&mut self, piece: u32, partial: Partial) -> usize {
        debug_assert!(
            self.position(piece).is_none(),
            "piece {piece} started twice"
        );
        self.pieces.push(piece);
        self.states.push(partial);
        self.pieces.len() - 1
    }

    fn remove(&mut self, piece: u32) -> Option<Partial> {
        let i = self.position(piece)?;
        self.pieces.swap_remove(i);
        Some(self.states.swap_remove(i))
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Partial> {
        self.states.iter_mut()
    }

    /// The place of the least started piece above `after` (of the least of all if
    /// `None`): stepping with it visits the started pieces in index order.
    fn next_after(&self, after: Option<u32>) -> Option<usize> {
        let mut best: Option<(u32, usize)> = None;
        for (i, &p) in self.pieces.iter().enumerate() {
            if after.is_some_and(|a| p <= a) {
                continue;
            }
            if best.is_none_or(|(b, _)| p < b) {
                best = Some((p, i));
            }
        }
        best.map(|(_, i)| i)
    }
}

/// Where picked blocks go: a list, or the one block of [`Requests::pick_one`].
trait Sink {
    fn len(&self) -> usize;
    fn push(&mut self, block: BlockRef);
}

impl Sink for Vec<BlockRef> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn push(&mut self, block: BlockRef) {
        Vec::push(self, block);
    }
}

/// At most one block.
struct One(Option<BlockRef>);

impl Sink for One {
    fn len(&self) -> usize {
        usize::from(self.0.is_some())
    }
    fn push(&mut self, block: BlockRef) {
        self.0 = Some(block);
    }
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

/// The piece picker of one torrent: its peers' [`Availability`] and its own
/// [`Requests`]. This is what a node runs; the simulator shares one availability among
/// many downloaders' requests instead.
#[derive(Debug, Clone)]
pub struct Picker {
    availability: Availability,
    /// The pieces we have.
    have: Bitfield,
    requests: Requests,
}

impl Picker {
    /// A picker for `layout`, already having `have`, asking for blocks of `block_len`.
    pub fn new(layout: PieceLayout, block_len: u32, have: Bitfield, seed: u64) -> Picker {
        Picker {
            availability: Availability::new(layout.piece_count()),
            have,
            requests: Requests::new(layout, block_len, seed),
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
        self.availability.count(i)
    }

    /// A peer announced its bitfield.
    pub fn add_peer(&mut self, bits: &Bitfield) {
        self.availability.add(bits);
    }

    /// A peer announced one more piece.
    pub fn add_have(&mut self, piece: u32) {
        self.availability.increment(piece);
    }

    /// A peer went away: forget its pieces and release its requests.
    pub fn remove_peer(&mut self, peer: PeerSlot, bits: &Bitfield) {
        self.availability.remove(bits);
        self.requests.release_all(peer);
    }

    /// A peer refused or cancelled a request: release it.
    pub fn release(&mut self, peer: PeerSlot, block: &BlockRef) {
        self.requests.release(peer, block);
    }

    /// Up to `max` blocks to request from `peer`, which has `peer_has`.
    pub fn pick(&mut self, peer: PeerSlot, peer_has: &Bitfield, max: usize) -> Vec<BlockRef> {
        self.requests.pick(
            peer,
            peer_has.words(),
            self.have.words(),
            max,
            &self.availability,
        )
    }

    /// A block arrived from `peer`.
    pub fn block_received(&mut self, peer: PeerSlot, block: &BlockRef) -> Received {
        self.requests.block_received(peer, block)
    }

    /// A completed piece hashed correctly: we have it now.
    pub fn piece_verified(&mut self, piece: u32) {
        self.requests.piece_verified(piece);
        self.have.set(piece);
    }

    /// A completed piece failed its hash: forget its blocks and ask again.
    pub fn piece_failed(&mut self, piece: u32) {
        self.requests.piece_failed(piece);
    }

    /// Whether we want anything `peer_has` offers.
    pub fn wants_any(&self, peer_has: &Bitfield) -> bool {
        peer_has.any_and_not(&self.have)
    }
}

/// One downloader's side of piece picking: the pieces it started and which peers it
/// asked for which block. It picks against an [`Availability`] and the set of pieces
/// the downloader has, both lent by the caller, so a node keeps one per torrent
/// ([`Picker`], which owns the set) and the simulator can share one swarm-wide
/// availability among many downloaders and keep their sets in one table.
///
/// The decision, in order: finish started pieces first (their missing blocks); then
/// start the rarest piece the peer offers, ties broken at random
/// ([`Availability::rarest`]); when nothing is left to start or missing, the endgame
/// asks a second peer for blocks already requested.
///
/// Laid out in declaration order, what every pick and every arriving block read first
/// (the first [`Requests::HOT_BYTES`] bytes), so that a driver holding it inline in a
/// larger record can keep those bytes on two cache lines.
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Requests {
    /// The started pieces (their indices are the started set; those with a missing
    /// block are the open ones). A handful at a time, so no bitfields of them: a
    /// driver reading ahead touches two short arrays instead of three more sets.
    partial: Partials,
    layout: PieceLayout,
    block_len: u32,
    /// Blocks missing over every started piece (the sum of their `missing`): a pick
    /// looks through the started pieces for missing blocks only when there are some,
    /// which is rare (a released request), so it need not read their states.
    missing: u32,
    rng: Rng,
    /// Block lists of finished pieces, reused for the next ones (pieces of more than
    /// one block only).
    spare: Vec<Vec<BlockState>>,
}

impl Requests {
    /// How many of its first bytes a pick or an arriving block of a piece of one block
    /// reads (the rest is used by pieces of many blocks only).
    pub const HOT_BYTES: usize = std::mem::offset_of!(Requests, spare);

    /// Requests for `layout`, asking for blocks of `block_len`; ties are broken by a
    /// generator seeded with `seed`.
    pub fn new(layout: PieceLayout, block_len: u32, seed: u64) -> Requests {
        Requests {
            layout,
            block_len: block_len.max(1),
            partial: Partials::default(),
            missing: 0,
            spare: Vec::new(),
            rng: Rng::new(seed),
        }
    }

    /// The pieces started and not yet verified, in no particular order.
    pub fn started(&self) -> &[u32] {
        &self.partial.pieces
    }

    /// Whether a block covers a whole piece (as in the simulator): a piece is then
    /// one block, found without a division.
    fn whole_pieces(&self) -> bool {
        u64::from(self.block_len) >= self.layout.piece_length()
    }

    fn block_count(&self, piece: u32) -> u32 {
        if self.whole_pieces() {
            return u32::from(piece < self.layout.piece_count());
        }
        u32::try_from(
            self.layout
                .piece_len(piece)
                .div_ceil(u64::from(self.block_len)),
        )
        .unwrap_or(0)
    }

    fn block_ref(&self, piece: u32, block: u32) -> BlockRef {
        let offset = block.saturating_mul(self.block_len);
        let len = (self
            .layout
            .piece_len(piece)
            .saturating_sub(u64::from(offset)))
        .min(u64::from(self.block_len));
        BlockRef {
            piece,
            offset,
            length: u32::try_from(len).unwrap_or(self.block_len),
        }
    }

    /// `peer` went away: release every request made to it.
    pub fn release_all(&mut self, peer: PeerSlot) {
        for p in self.partial.iter_mut() {
            for b in p.blocks.as_mut_slice() {
                if release(b, peer) {
                    p.missing += 1;
                    self.missing += 1;
                }
            }
        }
    }

    /// A peer refused or cancelled a request: release it.
    pub fn release(&mut self, peer: PeerSlot, block: &BlockRef) {
        let index = block.offset / self.block_len;
        let Some(p) = self.partial.get_mut(block.piece) else {
            return;
        };
        if let Some(b) = p.blocks.get_mut(index as usize) {
            if release(b, peer) {
                p.missing += 1;
                self.missing += 1;
            }
        }
    }

    /// Up to `max` blocks to request from `peer`, which has the pieces of `peer_has`,
    /// for a downloader having the pieces of `have` (both the words of a
    /// [`Bitfield`], see [`Bitfield::words`]), the rarity of pieces taken from
    /// `availability`.
    pub fn pick(
        &mut self,
        peer: PeerSlot,
        peer_has: &[u64],
        have: &[u64],
        max: usize,
        availability: &Availability,
    ) -> Vec<BlockRef> {
        let mut out = Vec::new();
        self.pick_into(peer, peer_has, have, max, availability, &mut out);
        out
    }

    /// One block to request from `peer`, as [`Requests::pick`] with `max` = 1, without
    /// allocating.
    pub fn pick_one(
        &mut self,
        peer: PeerSlot,
        peer_has: &[u64],
        have: &[u64],
        availability: &Availability,
    ) -> Option<BlockRef> {
        let mut out = One(None);
        self.pick_to(peer, peer_has, have, 1, availability, &mut out);
        out.0
    }

    /// The list of its started pieces, as (start, bytes): a driver that knows it will
    /// call this picker soon (the simulator, reading ahead of its events) can prefetch
    /// it, and once it is in cache, [`Requests::state_buffer`]. Reading through these
    /// addresses is the caller's affair; the picker changes nothing.
    pub fn started_buffer(&self) -> (*const u8, usize) {
        let pieces = &self.partial.pieces;
        (
            pieces.as_ptr().cast(),
            std::mem::size_of_val(pieces.as_slice()),
        )
    }

    /// The state of started `piece`, as (start, bytes), found by a search of the
    /// started list (so read [`Requests::started_buffer`] ahead first); nothing if
    /// `piece` is not started. What a block of it arriving reads. Hints, as
    /// [`Requests::started_buffer`].
    pub fn state_buffer(&self, piece: u32) -> (*const u8, usize) {
        let state = self
            .partial
            .position(piece)
            .and_then(|i| self.partial.states.get(i));
        buffer_of(state)
    }

    /// The last started piece's state, as (start, bytes), found without reading the
    /// started list: a piece that ends is replaced by it, and the next piece to start
    /// goes after it. Hints, as [`Requests::started_buffer`].
    pub fn tail_buffer(&self) -> (*const u8, usize) {
        buffer_of(self.partial.states.last())
    }

    /// [`Requests::pick`], appending to `out` (which should start empty).
    pub fn pick_into(
        &mut self,
        peer: PeerSlot,
        peer_has: &[u64],
        have: &[u64],
        max: usize,
        availability: &Availability,
        out: &mut Vec<BlockRef>,
    ) {
        self.pick_to(peer, peer_has, have, max, availability, out);
    }

    fn pick_to<S: Sink>(
        &mut self,
        peer: PeerSlot,
        peer_has: &[u64],
        have: &[u64],
        max: usize,
        availability: &Availability,
        out: &mut S,
    ) {
        let base = out.len();
        // 1. Finish started pieces first, so pieces complete (and can be shared) sooner.
        //    (`take_missing` neither adds nor removes started pieces.)
        debug_assert_eq!(
            self.missing,
            self.partial.states.iter().map(|p| p.missing).sum::<u32>()
        );
        let mut last = None;
        while self.missing > 0 {
            let Some(i) = self.partial.next_after(last) else {
                break;
            };
            let piece = self.partial.pieces[i];
            last = Some(piece);
            if self.partial.states[i].missing > 0 && words_contain(peer_has, piece) {
                self.take_missing(i, peer, base + max, out);
                if out.len() - base >= max {
                    return;
                }
            }
        }
        // 2. Start the rarest pieces this peer has, ties broken at random.
        let mut exhausted = None;
        while out.len() - base < max {
            let wanted = Wanted {
                offered: peer_has,
                have,
                started: &self.partial.pieces,
            };
            let Some(piece) = availability.rarest(wanted, &mut self.rng) else {
                exhausted = Some(true);
                break;
            };
            self.start_for(piece, peer, base + max, out);
        }
        // 3. Endgame: nothing left to start and nothing missing; ask this peer too for
        //    blocks others are slow to deliver.
        if out.len() > base {
            return;
        }
        let exhausted = exhausted.unwrap_or_else(|| {
            let wanted = Wanted {
                offered: peer_has,
                have,
                started: &self.partial.pieces,
            };
            availability.rarest(wanted, &mut self.rng).is_none()
        });
        if !exhausted {
            return;
        }
        let mut last = None;
        while let Some(i) = self.partial.next_after(last) {
            let piece = self.partial.pieces[i];
            last = Some(piece);
            if words_contain(peer_has, piece) {
                let n = self.block_count(piece);
                for b in 0..n {
                    let block = self.block_ref(piece, b);
                    let Some(state) = self
                        .partial
                        .get_mut(piece)
                        .and_then(|p| p.blocks.get_mut(b as usize))
                    else {
                        continue;
                    };
                    if let BlockState::Requested(askers) = state {
                        if !askers.contains(peer) && askers.push(peer) {
                            out.push(block);
                            if out.len() - base >= max {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Starts `piece`, which is not started (the rarest of the wanted pieces, which
    /// leave out the started ones): every block missing. Returns its place in `partial`.
    fn start(&mut self, piece: u32) -> usize {
        let n = self.block_count(piece);
        let blocks = if n == 1 {
            Blocks::One(BlockState::Missing)
        } else {
            let mut v = self.spare.pop().unwrap_or_default();
            v.clear();
            v.resize(n as usize, BlockState::Missing);
            Blocks::Many(v)
        };
        self.missing += n;
        self.partial.insert(
            piece,
            Partial {
                blocks,
                received: 0,
                missing: n,
            },
        )
    }

    /// Starts `piece` (as [`Requests::start`]) and asks `peer` for its missing blocks
    /// (as [`Requests::take_missing`]) until `out` holds `max`; a piece of one block,
    /// with room in `out`, is started already asked.
    fn start_for<S: Sink>(&mut self, piece: u32, peer: PeerSlot, max: usize, out: &mut S) {
        if out.len() < max && self.block_count(piece) == 1 {
            self.partial.insert(
                piece,
                Partial {
                    blocks: Blocks::One(BlockState::Requested(Askers::one(peer))),
                    received: 0,
                    missing: 0,
                },
            );
            out.push(self.block_ref(piece, 0));
            return;
        }
        let i = self.start(piece);
        self.take_missing(i, peer, max, out);
    }

    fn recycle(&mut self, blocks: Blocks) {
        if let Blocks::Many(v) = blocks {
            self.spare.push(v);
        }
    }

    /// Forgets `piece`'s blocks.
    fn finish(&mut self, piece: u32) {
        if let Some(p) = self.partial.remove(piece) {
            self.missing -= p.missing;
            self.recycle(p.blocks);
        }
    }

    /// Asks `peer` for the missing blocks of the started piece at place `i` of
    /// `partial`, until `out` holds `max`.
    fn take_missing<S: Sink>(&mut self, i: usize, peer: PeerSlot, max: usize, out: &mut S) {
        let Some(&piece) = self.partial.pieces.get(i) else {
            return;
        };
        let n = self.block_count(piece);
        for b in 0..n {
            if out.len() >= max {
                return;
            }
            let block = self.block_ref(piece, b);
            let Some(p) = self.partial.states.get_mut(i) else {
                return;
            };
            if let Some(state) = p.blocks.get_mut(b as usize) {
                if *state == BlockState::Missing {
                    *state = BlockState::Requested(Askers::one(peer));
                    p.missing -= 1;
                    self.missing -= 1;
                    out.push(block);
                }
            }
        }
    }

    /// A block arrived from `peer`.
    pub fn block_received(&mut self, peer: PeerSlot, block: &BlockRef) -> Received {
        let index = if self.whole_pieces() {
            0
        } else {
            block.offset / self.block_len
        };
        let expected = self.block_ref(block.piece, index);
        if expected.offset != block.offset || expected.length != block.length {
            return Received::Unexpected;
        }
        let Some(partial) = self.partial.get_mut(block.piece) else {
            return Received::Unexpected;
        };
        let Some(state) = partial.blocks.get_mut(index as usize) else {
            return Received::Unexpected;
        };
        let cancel = match state {
            // Asked of this peer alone (all but the endgame): no one to cancel.
            BlockState::Requested(askers) if askers.len == 1 && askers.slots[0] == peer => {
                Vec::new()
            }
            BlockState::Requested(askers) if askers.contains(peer) => askers
                .peers()
                .iter()
                .copied()
                .filter(|p| *p != peer)
                .collect(),
            _ => return Received::Unexpected,
        };
        *state = BlockState::Received;
        partial.received += 1;
        let complete = partial.received as usize == partial.blocks.len();
        Received::Accepted { complete, cancel }
    }

    /// A completed piece hashed correctly: we have it now.
    /// (The caller adds it to the set of pieces it has.)
    pub fn piece_verified(&mut self, piece: u32) {
        self.finish(piece);
    }

    /// A completed piece failed its hash: forget its blocks and ask again.
    pub fn piece_failed(&mut self, piece: u32) {
        self.finish(piece);
    }
}

/// `state`'s bytes, as (start, bytes); none for `None`.
fn buffer_of(state: Option<&Partial>) -> (*const u8, usize) {
    state.map_or((std::ptr::null(), 0), |s| {
        (std::ptr::from_ref(s).cast(), std::mem::size_of::<Partial>())
    })
}

/// Releases `peer`'s request of a block; true if the block became missing again.
fn release(state: &mut BlockState, peer: PeerSlot) -> bool {
    if let BlockState::Requested(askers) = state {
        askers.remove(peer);
        if askers.len == 0 {
            *state = BlockState::Missing;
            return true;
        }
    }
    false
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
    fn released_pieces_are_taken_again_in_index_order_whatever_order_they_started_in() {
        // One block a piece; availability 3 < 1 < 0, 2, so piece 3 starts first.
        let layout = PieceLayout::new(16 * 1024, 4 * 16 * 1024).unwrap();
        let mut p = Picker::new(layout, 16 * 1024, Bitfield::new(4), 7);
        let all = Bitfield::full(4);
        let mut not3 = Bitfield::full(4);
        not3.clear(3);
        let mut only02 = Bitfield::new(4);
        only02.set(0);
        only02.set(2);
        p.add_peer(&all);
        p.add_peer(&not3);
        p.add_peer(&only02);
        let first = p.pick(1, &all, 1);
        let second = p.pick(1, &all, 1);
        assert_eq!((first[0].piece, second[0].piece), (3, 1));
        p.release(1, &first[0]);
        p.release(1, &second[0]);
        // Both are missing again: the lower index comes first, from any peer.
        assert_eq!(p.pick(2, &all, 1)[0].piece, 1);
        assert_eq!(p.pick(2, &all, 1)[0].piece, 3);
        // A piece that ends leaves the others started.
        assert!(matches!(
            p.block_received(
                2,
                &BlockRef {
                    piece: 1,
                    offset: 0,
                    length: 16 * 1024
                }
            ),
            Received::Accepted { complete: true, .. }
        ));
        p.piece_verified(1);
        let mut started = p.requests.started().to_vec();
        started.sort_unstable();
        assert_eq!(started, [3]);
    }

    #[test]
    fn a_block_past_its_piece_or_off_the_grid_is_unexpected() {
        let mut p = picker(2);
        let all = Bitfield::full(2);
        p.add_peer(&all);
        let asked = p.pick(1, &all, 1);
        let piece = asked[0].piece;
        for (offset, length) in [(64 * 1024, 16 * 1024), (u32::MAX, 1), (1, 16 * 1024)] {
            let block = BlockRef {
                piece,
                offset,
                length,
            };
            assert_eq!(
                p.block_received(1, &block),
                Received::Unexpected,
                "{offset}"
            );
        }
        // Whole-piece blocks: only offset 0 and the piece's length.
        let layout = PieceLayout::new(16 * 1024, 2 * 16 * 1024).unwrap();
        let mut w = Picker::new(layout, 16 * 1024, Bitfield::new(2), 1);
        w.add_peer(&all);
        let asked = w.pick(1, &all, 1)[0];
        assert_eq!((asked.offset, asked.length), (0, 16 * 1024));
        let off = BlockRef {
            offset: 16 * 1024,
            ..asked
        };
        assert_eq!(w.block_received(1, &off), Received::Unexpected);
        let short = BlockRef {
            length: 100,
            ..asked
        };
        assert_eq!(w.block_received(1, &short), Received::Unexpected);
        assert!(matches!(
            w.block_received(1, &asked),
            Received::Accepted { complete: true, .. }
        ));
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
    fn requests_share_one_availability_and_pick_one_takes_the_rarest() {
        // One block per piece, as the simulator runs it.
        let layout = PieceLayout::new(32 * 1024, 8 * 32 * 1024).unwrap();
        let mut swarm = Availability::new(8);
        let all = Bitfield::full(8);
        swarm.add(&all);
        swarm.add(&all);
        swarm.decrement(5); // piece 5 is the rarest
        let mut a = Requests::new(layout, 32 * 1024, 1);
        let mut b = Requests::new(layout, 32 * 1024, 2);
        let (mut a_has, b_has) = (Bitfield::new(8), Bitfield::new(8));
        let first = a.pick_one(7, all.words(), a_has.words(), &swarm).unwrap();
        assert_eq!((first.piece, first.offset, first.length), (5, 0, 32 * 1024));
        assert_eq!(
            b.pick_one(7, all.words(), b_has.words(), &swarm)
                .unwrap()
                .piece,
            5
        );
        assert_ne!(
            a.pick_one(7, all.words(), a_has.words(), &swarm)
                .unwrap()
                .piece,
            5,
            "started"
        );
        assert_eq!(
            a.block_received(7, &first),
            Received::Accepted {
                complete: true,
                cancel: vec![]
            }
        );
        a.piece_verified(5);
        a_has.set(5);
        assert!(!a.started().contains(&5));
        assert_ne!(
            a.pick_one(7, all.words(), a_has.words(), &swarm)
                .map(|b| b.piece),
            Some(5),
            "had"
        );
        // A released one-block piece is asked for again, from anyone.
        let mut only6 = Bitfield::new(8);
        only6.set(6);
        let six = b.pick_one(9, only6.words(), b_has.words(), &swarm).unwrap();
        b.release(9, &six);
        assert_eq!(
            b.pick_one(3, only6.words(), b_has.words(), &swarm),
            Some(six)
        );
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
