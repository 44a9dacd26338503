//! How many peers have each piece, kept sorted by that count, and the rarest-first
//! choice made against it: among the pieces a downloader wants from one peer, the one
//! the fewest peers have, ties broken uniformly at random.
//!
//! The pieces are held in an array ordered by count, with the start of each count's
//! run recorded, as libtorrent's piece picker keeps them: when a piece's count goes up
//! or down by one it swaps places with the piece at the edge of its run and the edge
//! moves, so an update is O(1) and the array stays sorted. A choice then either walks
//! the array from the rarest end until it meets a wanted piece, or walks the wanted
//! pieces (a word-wise and-not of three [`Bitfield`]s) looking up their counts, which
//! ever is shorter: O(min(wanted, pieces / wanted)) in the usual case instead of a scan
//! of every piece.
//!
//! One [`Availability`] serves the node's [`Picker`](crate::picker::Picker) (one per
//! torrent, counting its connected peers) and the simulator (one per swarm).

use crate::bitfield::{word_mask, words_contain, Bitfield, Members};
use crate::rng::Rng;

/// The pieces a downloader could start from one peer: offered by the peer, not had,
/// not already started.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// The pieces the peer has, as the words of a [`Bitfield`] over the torrent's
    /// pieces ([`Bitfield::words`]): a driver holding many peers' sets in one table
    /// lends a row of it.
    pub offered: &'a [u64],
    /// The pieces the downloader has, as [`Bitfield`] words.
    pub have: &'a [u64],
    /// The pieces the downloader has started (asked someone for), in any order: a
    /// handful at a time, so a list rather than a set over every piece.
    pub started: &'a [u32],
}

impl Wanted<'_> {
    /// Word `w` of the set (see [`Bitfield::word`]).
    pub fn word(&self, w: usize) -> u64 {
        let started = self
            .started
            .iter()
            .filter(|p| **p as usize / 64 == w)
            .fold(0, |a, p| a | word_mask(*p));
        let word = |set: &[u64]| set.get(w).copied().unwrap_or(0);
        word(self.offered) & !word(self.have) & !started
    }

    /// Whether piece `i` is in the set.
    pub fn contains(&self, i: u32) -> bool {
        let w = i as usize / 64;
        self.word(w) & word_mask(i) != 0
    }

    /// How many pieces are in the set.
    pub fn count(&self) -> u32 {
        (0..self.offered.len())
            .map(|w| self.word(w).count_ones())
            .sum()
    }

    /// The pieces in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.offered.len()).flat_map(|w| Members::new(w, self.word(w)))
    }
}

/// Per-piece counts of the peers that have each piece, sorted by count.
#[derive(Debug, Clone)]
pub struct Availability {
    /// How many peers have each piece.
    count: Vec<u32>,
    /// Every piece, in increasing order of count.
    order: Vec<u32>,
    /// Where each piece is in `order`.
    position: Vec<u32>,
    /// `start[c]`: how many pieces have a count below `c` — the first place in `order`
    /// of count `c`. The last entry is the piece count (no piece has that count yet).
    start: Vec<u32>,
    /// `order` cut into blocks of `1 << block_shift` places: block `b` as a set of pieces
    /// (`words` words, [`Bitfield`] layout), so the first block holding a wanted piece
    /// is found a word at a time rather than a place at a time.
    blocks: Vec<u64>,
    /// Log2 of the places of `order` per block: a power of two, so a place's block is
    /// a shift (every count change moves two places).
    block_shift: u32,
    /// Words per block set.
    words: usize,
}

impl Availability {
    /// Counts of zero for `pieces` pieces.
    pub fn new(pieces: u32) -> Availability {
        let n = pieces as usize;
        let words = crate::bitfield::word_len(pieces);
        // At most `MAX_BLOCKS` blocks, so the sets take at most `MAX_BLOCKS · words`
        // words however large the torrent.
        let block_len = (64 * n.div_ceil(64 * MAX_BLOCKS).max(1)).next_power_of_two();
        let block_shift = block_len.trailing_zeros();
        let mut blocks = vec![0; n.div_ceil(block_len) * words];
        for p in 0..pieces {
            blocks[p as usize / block_len * words + p as usize / 64] |= word_mask(p);
        }
        Availability {
            count: vec![0; n],
            order: (0..pieces).collect(),
            position: (0..pieces).collect(),
            start: vec![0, pieces],
            blocks,
            block_shift,
            words,
        }
    }

    /// Number of pieces.
    pub fn len(&self) -> u32 {
        self.count.len() as u32
    }

    /// True over no pieces.
    pub fn is_empty(&self) -> bool {
        self.count.is_empty()
    }

    /// How many peers have piece `i` (0 out of range).
    pub fn count(&self, i: u32) -> u32 {
        self.count.get(i as usize).copied().unwrap_or(0)
    }

    fn swap(&mut self, a: usize, b: usize) {
        let (pa, pb) = (self.order[a], self.order[b]);
        self.order.swap(a, b);
        self.position[pb as usize] = a as u32;
        self.position[pa as usize] = b as u32;
        let (ba, bb) = (a >> self.block_shift, b >> self.block_shift);
        if ba != bb {
            // `pa` goes from block `ba` to block `bb`, `pb` the other way.
            for block in [ba, bb] {
                let at = block * self.words;
                self.blocks[at + pa as usize / 64] ^= word_mask(pa);
                self.blocks[at + pb as usize / 64] ^= word_mask(pb);
            }
        }
    }

    /// One more peer has piece `i` (ignored out of range).
    pub fn increment(&mut self, i: u32) {
        let Some(&c) = self.count.get(i as usize) else {
            return;
        };
        let c = c as usize;
        if c + 2 == self.start.len() {
            self.start.push(self.len());
        }
        // Move to the last place of count c's run, then end the run before it.
        let edge = self.start[c + 1] as usize - 1;
        self.swap(self.position[i as usize] as usize, edge);
        self.start[c + 1] -= 1;
        self.count[i as usize] += 1;
    }

    /// One peer fewer has piece `i` (ignored out of range or at zero).
    pub fn decrement(&mut self, i: u32) {
        let c = match self.count.get(i as usize) {
            Some(&c) if c > 0 => c as usize,
            _ => return,
        };
        // Move to the first place of count c's run, then start the run after it.
        let edge = self.start[c] as usize;
        self.swap(self.position[i as usize] as usize, edge);
        self.start[c] += 1;
        self.count[i as usize] -= 1;
    }

    /// A peer with `bits` arrived.
    pub fn add(&mut self, bits: &Bitfield) {
        for i in bits.iter() {
            self.increment(i);
        }
    }

    /// A peer with `bits` left.
    pub fn remove(&mut self, bits: &Bitfield) {
        for i in bits.iter() {
            self.decrement(i);
        }
    }

    /// The rarest piece of `wanted`, ties broken uniformly at random with `rng`; `None`
    /// if nothing is wanted.
    pub fn rarest(&self, wanted: Wanted<'_>, rng: &mut Rng) -> Option<u32> {
        // The wanted set is computed once, a word at a time, into a buffer on the stack
        // (one of `SMALL_WORDS` words, or `STACK_WORDS`, whichever holds the torrent's
        // pieces: zeroing the larger for a small torrent cost more than the rest of
        // the set's computation) and read from there.
        let count = wanted.offered.len();
        if count <= SMALL_WORDS {
            let mut stack = [0u64; SMALL_WORDS];
            self.rarest_of(wanted, &mut stack[..count], rng)
        } else if count <= STACK_WORDS {
            let mut stack = [0u64; STACK_WORDS];
            self.rarest_of(wanted, &mut stack[..count], rng)
        } else {
            self.rarest_of(wanted, &mut vec![0; count], rng)
        }
    }

    /// [`Availability::rarest`], with `words` (as many as `wanted.offered`) to hold the
    /// wanted set.
    fn rarest_of(&self, wanted: Wanted<'_>, words: &mut [u64], rng: &mut Rng) -> Option<u32> {
        // offered & !have, word by word (`have` may be shorter: missing words are 0).
        let k = wanted.have.len().min(words.len());
        let (head, tail) = words.split_at_mut(k);
        let (offered_head, offered_tail) = wanted.offered.split_at(k);
        for ((x, o), h) in head.iter_mut().zip(offered_head).zip(&wanted.have[..k]) {
            *x = o & !h;
        }
        tail.copy_from_slice(offered_tail);
        let mut total: usize = words.iter().map(|x| x.count_ones() as usize).sum();
        for &p in wanted.started {
            if let Some(x) = words.get_mut(p as usize / 64) {
                let bit = *x & word_mask(p);
                total -= usize::from(bit != 0);
                *x &= !bit;
            }
        }
        self.rarest_in(words, total, rng)
    }

    /// The least place in `order` of a piece in `words`, looking from block `from` on;
    /// `None` if no piece of those blocks is in `words`.
    fn first_wanted_place(&self, words: &[u64], from: usize) -> Option<usize> {
        if self.words == 0 {
            return None;
        }
        let w = self.words.min(words.len());
        let words = &words[..w];
        let block = self
            .blocks
            .chunks_exact(self.words)
            .skip(from)
            .find(|set| set.iter().zip(words).fold(0, |a, (x, y)| a | (x & y)) != 0)?;
        let mut least = u32::MAX;
        for (k, (x, y)) in block.iter().zip(words).enumerate() {
            for p in Members::new(k, x & y) {
                least = least.min(self.position[p as usize]);
            }
        }
        Some(least as usize)
    }

    /// [`Availability::rarest`] of the set held in `words` (`total` members).
    ///
    /// The decision, whose draws a seeded run replays: take the least count `c` among
    /// the wanted pieces and the `ties` wanted pieces with that count; draw one of
    /// them uniformly. The tie order is the sorted order's when count `c`'s run ends
    /// within `2·total + 16` places of the rarest end (where walking that order is the
    /// cheaper search), and index order otherwise.
    ///
    /// How it is found: the first wanted place in the sorted order, by a short walk
    /// from the rarest end (cheap when the wanted pieces include rare ones) or else
    /// from the first block whose piece set meets the wanted set; the ties are the
    /// wanted pieces of that place's run, walked (sorted when the tie order is index
    /// order), or for a long run found by one pass over the wanted pieces.
    fn rarest_in(&self, words: &[u64], total: usize, rng: &mut Rng) -> Option<u32> {
        if total == 0 {
            return None;
        }
        let contains = |p: u32| words_contain(words, p);
        let budget = 2 * total + 16;
        let n = self.order.len();
        let prefix = (total / 2 + 8).min(PREFIX).min(n);
        // The first wanted place in the sorted order: a short walk, else the first
        // block holding a wanted piece and the least place among its wanted pieces.
        let first = match self.order[..prefix].iter().position(|p| contains(*p)) {
            Some(first) => first,
            None => self.first_wanted_place(words, prefix >> self.block_shift)?,
        };
        let c = self.count[self.order[first] as usize];
        let end = self.start[c as usize + 1] as usize;
        // Nothing before `first` in its run is wanted: the ties are the wanted pieces
        // of `order[first..end]`.
        let run = &self.order[first..end];
        if end <= budget {
            let ties = run.iter().filter(|p| contains(**p)).count();
            let pick = pick_tie(ties, rng);
            return run.iter().copied().filter(|p| contains(*p)).nth(pick);
        }
        if run.len() <= CANDIDATES {
            // Ties in index order.
            let mut candidates = [0u32; CANDIDATES];
            let mut ties = 0;
            for p in run.iter().copied().filter(|p| contains(*p)) {
                candidates[ties] = p;
                ties += 1;
            }
            let candidates = &mut candidates[..ties];
            candidates.sort_unstable();
            return candidates.get(pick_tie(ties, rng)).copied();
        }
        // One pass over the wanted pieces: the least count, how many have it, and the
        // first `CANDIDATES` of them in index order.
        let members = || {
            words
                .iter()
                .enumerate()
                .flat_map(|(w, x)| Members::new(w, *x))
                .filter(|p| (*p as usize) < n)
        };
        let mut least = u32::MAX;
        let mut ties = 0usize;
        let mut candidates = [0u32; CANDIDATES];
        for p in members() {
            let c = self.count[p as usize];
            if c < least {
                least = c;
                ties = 0;
            }
            if c == least {
                if let Some(slot) = candidates.get_mut(ties) {
                    *slot = p;
                }
                ties += 1;
            }
        }
        if ties == 0 {
            return None;
        }
        let pick = pick_tie(ties, rng);
        let run_start = self.start[least as usize] as usize;
        let end = self.start[least as usize + 1] as usize;
        if end <= budget && ties > 1 {
            // Ties in the sorted order's sequence.
            return self.order[run_start..end]
                .iter()
                .copied()
                .filter(|p| contains(*p))
                .nth(pick);
        }
        if end <= budget {
            return Some(candidates[0]);
        }
        // `pick < ties`, so a kept candidate is a real one.
        match candidates.get(pick) {
            Some(p) => Some(*p),
            None => members()
                .filter(|p| self.count[*p as usize] == least)
                .nth(pick),
        }
    }
}

/// Ties kept by [`Availability::rarest`]'s pass over the wanted pieces (more are
/// found by a second pass), and the longest run whose ties it sorts itself.
const CANDIDATES: usize = 32;

/// The longest walk of the sorted order before [`Availability::rarest`] looks block
/// by block instead (about what one block's test costs).
const PREFIX: usize = 16;

/// At most this many blocks of the sorted order have their own set.
const MAX_BLOCKS: usize = 64;

/// Torrents of up to this many 64-piece words (4,096 pieces) compute their wanted set
/// on the stack.
const STACK_WORDS: usize = 64;

/// Torrents of up to this many words (1,024 pieces) use a smaller stack buffer.
const SMALL_WORDS: usize = 16;

/// A uniform index in `0..ties` (no draw when there is no choice).
fn pick_tie(ties: usize, rng: &mut Rng) -> usize {
    if ties <= 1 {
        0
    } else {
        rng.below(ties as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(a: &Availability) -> bool {
        let counts: Vec<u32> = a.order.iter().map(|p| a.count(*p)).collect();
        let runs_ok = (0..a.start.len() - 1)
            .all(|c| (a.start[c]..a.start[c + 1]).all(|k| counts[k as usize] == c as u32));
        let blocks_ok = a.order.iter().enumerate().all(|(k, p)| {
            let set = &a.blocks[(k >> a.block_shift) * a.words..][..a.words];
            words_contain(set, *p)
        }) && a.blocks.iter().map(|x| x.count_ones()).sum::<u32>() == a.len();
        counts.windows(2).all(|w| w[0] <= w[1])
            && blocks_ok
            && runs_ok
            && a.order
                .iter()
                .enumerate()
                .all(|(k, p)| a.position[*p as usize] == k as u32)
    }

    /// The rarest-first choice as it was first written (session 3): a walk of the
    /// sorted order within a budget, else two passes over the wanted pieces. The
    /// faster [`Availability::rarest`] must return the same piece with the same draws.
    fn rarest_reference(a: &Availability, wanted: Wanted<'_>, rng: &mut Rng) -> Option<u32> {
        let words: Vec<u64> = (0..wanted.offered.len()).map(|w| wanted.word(w)).collect();
        let total: usize = words.iter().map(|x| x.count_ones() as usize).sum();
        if total == 0 {
            return None;
        }
        let contains = |p: u32| {
            words
                .get(p as usize / 64)
                .is_some_and(|x| x & word_mask(p) != 0)
        };
        let budget = 2 * total + 16;
        let n = a.order.len();
        let limit = budget.min(n);
        if let Some(first) = a.order[..limit].iter().position(|p| contains(*p)) {
            let c = a.count[a.order[first] as usize] as usize;
            let end = a.start[c + 1] as usize;
            if end <= budget {
                let run = &a.order[first..end];
                let ties = run.iter().filter(|p| contains(**p)).count();
                let pick = pick_tie(ties, rng);
                return run.iter().copied().filter(|p| contains(*p)).nth(pick);
            }
        } else if limit == n {
            return None;
        }
        let members = || {
            words
                .iter()
                .enumerate()
                .flat_map(|(w, x)| Members::new(w, *x))
                .filter(|p| (*p as usize) < n)
        };
        let mut least = u32::MAX;
        let mut ties = 0;
        for p in members() {
            let c = a.count[p as usize];
            if c < least {
                least = c;
                ties = 1;
            } else if c == least {
                ties += 1;
            }
        }
        let pick = pick_tie(ties, rng);
        members()
            .filter(|p| a.count[*p as usize] == least)
            .nth(pick)
    }

    /// A random availability over `n` pieces (counts up to about `spread`, the sorted
    /// order shuffled by the swaps of many updates) and a random wanted set.
    fn random_case(n: u32, spread: u64, seed: u64) -> (Availability, [Bitfield; 3]) {
        let mut rng = Rng::new(seed);
        let mut a = Availability::new(n);
        for _ in 0..(u64::from(n) * spread) {
            let i = rng.below(u64::from(n)) as u32;
            if rng.below(4) == 0 {
                a.decrement(i);
            } else {
                a.increment(i);
            }
        }
        let mut sets = [Bitfield::new(n), Bitfield::new(n), Bitfield::new(n)];
        let density = [1 + rng.below(40), 1 + rng.below(3), 2 + rng.below(30)];
        for i in 0..n {
            for (set, d) in sets.iter_mut().zip(density) {
                if rng.below(d) == 0 {
                    set.set(i);
                }
            }
        }
        // Sometimes the peer offers mostly common pieces (a flash crowd's early phase).
        if rng.below(2) == 0 {
            let cut = a.order[a.start[a.start.len() / 2] as usize..].to_vec();
            sets[0] = Bitfield::new(n);
            for p in cut {
                if rng.below(3) == 0 {
                    sets[0].set(p);
                }
            }
        }
        (a, sets)
    }

    proptest::proptest! {
        #[test]
        fn rarest_picks_what_the_reference_picks_with_the_same_draws(
            n in proptest::prop_oneof![1u32..70, 70u32..1100, 4090u32..4200],
            spread in 0u64..12,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let (a, [offered, have, started]) = random_case(n, spread, seed);
            let started: Vec<u32> = started.iter().collect();
            let wanted = Wanted { offered: offered.words(), have: have.words(), started: &started };
            for k in 0..8 {
                let mut fast = Rng::new(seed ^ k);
                let mut slow = Rng::new(seed ^ k);
                let got = a.rarest(wanted, &mut fast);
                let want = rarest_reference(&a, wanted, &mut slow);
                proptest::prop_assert_eq!(got, want);
                proptest::prop_assert_eq!(fast.next_u64(), slow.next_u64(), "same draws");
            }
        }
    }

    /// The rarest wanted pieces, by brute force.
    fn rarest_set(a: &Availability, wanted: Wanted<'_>) -> Vec<u32> {
        let least = wanted.iter().map(|p| a.count(p)).min();
        wanted
            .iter()
            .filter(|p| Some(a.count(*p)) == least)
            .collect()
    }

    #[test]
    fn increments_and_decrements_keep_the_order_sorted() {
        let mut rng = Rng::new(3);
        for n in [0u32, 1, 100, 1000, 5000] {
            let mut a = Availability::new(n);
            let mut shadow = vec![0u32; n as usize];
            for _ in 0..20_000.min(n * 200) {
                let i = rng.below(u64::from(n)) as u32;
                if rng.below(5) < 3 {
                    a.increment(i);
                    shadow[i as usize] += 1;
                } else {
                    a.decrement(i);
                    shadow[i as usize] = shadow[i as usize].saturating_sub(1);
                }
            }
            assert!(sorted(&a));
            assert!((0..n).all(|i| a.count(i) == shadow[i as usize]));
            a.increment(n + 1000);
            a.decrement(n + 1000);
            assert!(sorted(&a));
        }
    }

    #[test]
    fn rarest_is_always_among_the_rarest_wanted_and_ties_are_all_reachable() {
        let mut rng = Rng::new(11);
        for round in 0..300 {
            let n = [5u32, 64, 200, 1000][round % 4];
            let mut a = Availability::new(n);
            let (mut offered, mut have, mut started) =
                (Bitfield::new(n), Bitfield::new(n), Bitfield::new(n));
            let density = 1 + rng.below(20);
            for i in 0..n {
                for _ in 0..rng.below(4) {
                    a.increment(i);
                }
                if rng.below(density) == 0 {
                    offered.set(i);
                }
                if rng.below(4) == 0 {
                    have.set(i);
                }
                if rng.below(8) == 0 {
                    started.set(i);
                }
            }
            let started: Vec<u32> = started.iter().collect();
            let wanted = Wanted {
                offered: offered.words(),
                have: have.words(),
                started: &started,
            };
            let best = rarest_set(&a, wanted);
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..(best.len() * 30).max(1) {
                let got = a.rarest(wanted, &mut rng);
                assert_eq!(got.is_some(), !best.is_empty());
                if let Some(p) = got {
                    assert!(best.contains(&p), "{p} is not among the rarest {best:?}");
                    seen.insert(p);
                }
            }
            if best.len() <= 8 {
                assert_eq!(seen.len(), best.len(), "every tie gets picked");
            }
        }
    }

    #[test]
    fn nothing_wanted_is_none() {
        let mut rng = Rng::new(1);
        let a = Availability::new(10);
        let full = Bitfield::full(10);
        let empty = Bitfield::new(10);
        fn w<'a>(o: &'a Bitfield, h: &'a Bitfield) -> Wanted<'a> {
            Wanted {
                offered: o.words(),
                have: h.words(),
                started: &[],
            }
        }
        assert_eq!(a.rarest(w(&empty, &empty), &mut rng), None);
        assert_eq!(a.rarest(w(&full, &full), &mut rng), None);
        assert!(a.rarest(w(&full, &empty), &mut rng).is_some());
    }
}
