//! Every peer's pieces in one table: a row of bitfield words per peer, each row
//! starting on a 64-byte cache line.
//!
//! The rows are read where a piece transfer's cost is cache misses (the pieces a
//! serving peer offers a picker, "is this neighbour useful"), so a row of a
//! 1,000-piece file (16 words, 128 bytes) should be two lines, not three. A `Vec`'s
//! buffer is only 8- or 16-byte aligned, so the table skips the words before the first
//! line boundary and pads each row to whole lines; both are recomputed when the buffer
//! moves. (Safe code can read a pointer's address but not ask for an alignment.)

/// Words in a 64-byte line.
const LINE_WORDS: usize = 8;

/// Per peer, the words of its bitfield ([`ilpt_protocol::bitfield::Bitfield::words`]).
#[derive(Debug)]
pub(crate) struct Rows {
    words: Vec<u64>,
    /// Words of a row that hold pieces.
    len: usize,
    /// Words from one row's start to the next (`len` rounded up to whole lines).
    stride: usize,
    /// Words before row 0 (so that it starts on a line).
    skew: usize,
    rows: usize,
}

impl Rows {
    /// An empty table of rows of `len` words.
    pub(crate) fn new(len: usize) -> Rows {
        Rows {
            words: Vec::new(),
            len,
            stride: len.div_ceil(LINE_WORDS) * LINE_WORDS,
            skew: 0,
            rows: 0,
        }
    }

    /// Words before the first line boundary of the buffer.
    fn skew_of(words: &[u64]) -> usize {
        let addr = words.as_ptr() as usize;
        (LINE_WORDS - (addr / 8) % LINE_WORDS) % LINE_WORDS
    }

    /// Adds a row holding `have` (its first `len` words; missing words are zero).
    pub(crate) fn push(&mut self, have: &[u64]) {
        let n = self.rows;
        let need = LINE_WORDS + (n + 1) * self.stride;
        self.words.resize(need, 0);
        let skew = Rows::skew_of(&self.words);
        if skew != self.skew {
            // The buffer moved to an address with another line offset.
            self.words
                .copy_within(self.skew..self.skew + n * self.stride, skew);
            self.skew = skew;
        }
        self.rows += 1;
        let len = self.len;
        let row = self.row_mut(n as u32);
        for (k, w) in row.iter_mut().enumerate() {
            *w = have.get(k).copied().unwrap_or(0);
        }
        debug_assert_eq!(row.len(), len);
    }

    /// Row `p` (empty past the end).
    pub(crate) fn row(&self, p: u32) -> &[u64] {
        if p as usize >= self.rows {
            return &[];
        }
        let at = self.skew + p as usize * self.stride;
        self.words.get(at..at + self.len).unwrap_or(&[])
    }

    /// Row `p`, mutably (empty past the end).
    pub(crate) fn row_mut(&mut self, p: u32) -> &mut [u64] {
        if p as usize >= self.rows {
            return &mut [];
        }
        let at = self.skew + p as usize * self.stride;
        self.words.get_mut(at..at + self.len).unwrap_or(&mut [])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_words_and_start_on_a_line_as_the_table_grows() {
        for len in [1usize, 7, 8, 16, 17] {
            let mut rows = Rows::new(len);
            let row_of = |p: u64| (0..len as u64).map(|k| p * 1000 + k).collect::<Vec<_>>();
            for p in 0..500u64 {
                rows.push(&row_of(p));
                rows.row_mut(p as u32)[0] ^= 1;
                rows.row_mut(p as u32)[0] ^= 1;
                let first = rows.row(0).as_ptr() as usize;
                assert_eq!(first % 64, 0, "row 0 starts on a line");
                assert_eq!(rows.row(p as u32).as_ptr() as usize % 64, 0);
            }
            for p in 0..500u64 {
                assert_eq!(rows.row(p as u32), row_of(p).as_slice());
            }
            assert!(rows.row(500).is_empty());
        }
    }
}
