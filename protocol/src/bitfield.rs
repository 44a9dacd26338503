//! A set of piece indices in BitTorrent's bitfield layout (bit 7 of byte 0 is piece 0).
//!
//! Held as 64-bit words so that set operations (and-not, counting, finding the first
//! member) run a word at a time without decoding bytes: piece `64·w + k` is bit
//! `63 − k` of word `w`, so a word is eight wire bytes read big-endian. The wire form
//! is produced and parsed at the boundary ([`Bitfield::to_wire`],
//! [`Bitfield::from_wire`]).
//!
//! The word functions ([`and_not_any`], [`Members`], [`word_mask`]) also work on
//! borrowed word slices, so a driver that keeps many peers' sets in one block of
//! memory (the simulator) can run the protocol's choices on them directly.

/// Which pieces a peer has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bitfield {
    /// `len` bits, then zero bits up to a whole word.
    words: Vec<u64>,
    len: u32,
    count: u32,
}

/// Bytes of the wire form of a set over `len` pieces.
fn wire_len(len: u32) -> usize {
    (len as usize).div_ceil(8)
}

/// Words of a set over `len` pieces.
pub fn word_len(len: u32) -> usize {
    (len as usize).div_ceil(64)
}

impl Bitfield {
    /// An empty set over `len` pieces.
    pub fn new(len: u32) -> Bitfield {
        Bitfield {
            words: vec![0; word_len(len)],
            len,
            count: 0,
        }
    }

    /// All `len` pieces.
    pub fn full(len: u32) -> Bitfield {
        let mut b = Bitfield::new(len);
        b.words.fill(u64::MAX);
        let spare = b.words.len() * 64 - len as usize;
        if let Some(last) = b.words.last_mut() {
            if spare > 0 {
                *last &= u64::MAX << spare;
            }
        }
        b.count = len;
        b
    }

    /// Reads a wire bitfield; `None` if its length is wrong or spare bits are set.
    pub fn from_wire(bytes: &[u8], len: u32) -> Option<Bitfield> {
        if bytes.len() != wire_len(len) {
            return None;
        }
        let spare = bytes.len() * 8 - len as usize;
        if spare > 0 && bytes.last().is_some_and(|b| b & ((1u8 << spare) - 1) != 0) {
            return None;
        }
        let mut b = Bitfield::new(len);
        for (w, chunk) in bytes.chunks(8).enumerate() {
            let mut eight = [0u8; 8];
            eight[..chunk.len()].copy_from_slice(chunk);
            b.words[w] = u64::from_be_bytes(eight);
        }
        b.count = b.words.iter().map(|w| w.count_ones()).sum();
        Some(b)
    }

    /// The wire form.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out: Vec<u8> = self.words.iter().flat_map(|w| w.to_be_bytes()).collect();
        out.truncate(wire_len(self.len));
        out
    }

    /// Number of pieces the set ranges over.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True if the set ranges over no pieces.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many pieces are in the set.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// True if every piece is in the set.
    pub fn is_full(&self) -> bool {
        self.count == self.len
    }

    /// Whether piece `i` is in the set (false out of range).
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.words[i as usize / 64] & word_mask(i) != 0
    }

    /// Adds piece `i`; returns false if it was there or is out of range.
    pub fn set(&mut self, i: u32) -> bool {
        if i >= self.len || self.get(i) {
            return false;
        }
        self.words[i as usize / 64] |= word_mask(i);
        self.count += 1;
        true
    }

    /// Removes piece `i`; returns false if it was not there.
    pub fn clear(&mut self, i: u32) -> bool {
        if !self.get(i) {
            return false;
        }
        self.words[i as usize / 64] &= !word_mask(i);
        self.count -= 1;
        true
    }

    /// Number of 64-bit words (pieces `64·w ..= 64·w + 63` are word `w`).
    pub fn word_count(&self) -> usize {
        self.words.len()
    }

    /// Word `w` (0 past the end): piece `64·w + k` is bit `63 − k`.
    pub fn word(&self, w: usize) -> u64 {
        self.words.get(w).copied().unwrap_or(0)
    }

    /// The words in order.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// How many pieces are in `self` and not in `other`.
    pub fn count_and_not(&self, other: &Bitfield) -> u32 {
        self.words
            .iter()
            .enumerate()
            .map(|(w, x)| (x & !other.word(w)).count_ones())
            .sum()
    }

    /// Whether some piece is in `self` and not in `other`.
    pub fn any_and_not(&self, other: &Bitfield) -> bool {
        and_not_any(&self.words, &other.words)
    }

    /// The pieces in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words
            .iter()
            .enumerate()
            .flat_map(|(w, x)| Members::new(w, *x))
    }
}

/// Whether some bit is in `a` and not in `b` (words of `a` past the end of `b` count
/// whole).
pub fn and_not_any(a: &[u64], b: &[u64]) -> bool {
    a.iter()
        .enumerate()
        .any(|(w, x)| x & !b.get(w).copied().unwrap_or(0) != 0)
}

/// Whether piece `i` is in the set held in `words` (see [`Bitfield::words`]; false
/// past the end).
pub fn words_contain(words: &[u64], i: u32) -> bool {
    words
        .get(i as usize / 64)
        .is_some_and(|x| x & word_mask(i) != 0)
}

/// The pieces of one word, in order.
#[derive(Debug, Clone)]
pub struct Members {
    base: u32,
    bits: u64,
}

impl Members {
    /// The members of word `w` whose bits are `bits` (see [`Bitfield::word`]).
    pub fn new(w: usize, bits: u64) -> Members {
        Members {
            base: (w * 64) as u32,
            bits,
        }
    }
}

impl Iterator for Members {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.bits == 0 {
            return None;
        }
        let k = self.bits.leading_zeros();
        self.bits &= !(1u64 << (63 - k));
        Some(self.base + k)
    }
}

/// The bit of piece `i` within its word (see [`Bitfield::word`]).
pub fn word_mask(i: u32) -> u64 {
    1u64 << (63 - (i % 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_layout_and_spare_bits() {
        let mut b = Bitfield::new(10);
        assert!(b.set(0) && b.set(9) && !b.set(9) && !b.set(10));
        assert_eq!(b.to_wire(), vec![0x80, 0x40]);
        assert_eq!(Bitfield::from_wire(&[0x80, 0x40], 10), Some(b.clone()));
        assert_eq!(Bitfield::from_wire(&[0x80, 0x41], 10), None);
        assert_eq!(Bitfield::from_wire(&[0x80], 10), None);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![0, 9]);
        assert!(Bitfield::full(10).is_full());
    }

    #[test]
    fn full_sets_only_real_pieces_and_matches_the_wire() {
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
            let f = Bitfield::full(len);
            assert_eq!(f.count(), len);
            assert_eq!(f.iter().count() as u32, len);
            assert_eq!(Bitfield::from_wire(&f.to_wire(), len), Some(f.clone()));
        }
    }

    #[test]
    fn word_operations_agree_with_bit_by_bit() {
        let mut rng = crate::rng::Rng::new(7);
        for len in [1u32, 63, 64, 65, 130, 1000] {
            let (mut a, mut b) = (Bitfield::new(len), Bitfield::new(len));
            for i in 0..len {
                if rng.below(3) == 0 {
                    a.set(i);
                }
                if rng.below(2) == 0 {
                    b.set(i);
                }
            }
            let slow = (0..len).filter(|i| a.get(*i) && !b.get(*i)).count() as u32;
            assert_eq!(a.count_and_not(&b), slow);
            assert_eq!(a.any_and_not(&b), slow > 0);
            let members: Vec<u32> = (0..len).filter(|i| a.get(*i)).collect();
            assert_eq!(a.iter().collect::<Vec<_>>(), members);
            for i in 0..len + 70 {
                assert_eq!(words_contain(a.words(), i), a.get(i));
                if i < len {
                    assert_eq!(a.word(i as usize / 64) & word_mask(i) != 0, a.get(i));
                }
            }
            if let Some(&first) = members.first() {
                assert!(a.clear(first) && !a.clear(first));
                assert_eq!(a.count(), members.len() as u32 - 1);
            }
        }
    }
}
