//! How a torrent's byte stream divides into pieces, and how a piece maps onto files.
//!
//! All files of a torrent are concatenated in order into one stream; pieces are
//! consecutive `piece_length` slices of it (the last may be shorter). A piece can span
//! several files, and a file several pieces.

/// Pieces over a byte stream of `total_length` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceLayout {
    piece_length: u64,
    total_length: u64,
    piece_count: u32,
}

impl PieceLayout {
    /// A layout; refuses an empty stream, a zero piece length, or more than 2^32 - 1 pieces.
    pub fn new(piece_length: u64, total_length: u64) -> Result<PieceLayout, String> {
        if piece_length == 0 {
            return Err("piece length is zero".into());
        }
        if total_length == 0 {
            return Err("the torrent holds no data (total length 0)".into());
        }
        let count = total_length.div_ceil(piece_length);
        let piece_count = u32::try_from(count)
            .ok()
            .filter(|c| *c < u32::MAX)
            .ok_or_else(|| format!("{count} pieces is more than this format allows"))?;
        Ok(PieceLayout {
            piece_length,
            total_length,
            piece_count,
        })
    }

    /// Bytes per piece (all but the last).
    pub fn piece_length(&self) -> u64 {
        self.piece_length
    }

    /// Total bytes.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// Byte offset of piece `index` in the stream.
    pub fn piece_offset(&self, index: u32) -> u64 {
        u64::from(index) * self.piece_length
    }

    /// Length of piece `index` (0 if out of range).
    pub fn piece_len(&self, index: u32) -> u64 {
        if index >= self.piece_count {
            return 0;
        }
        let start = self.piece_offset(index);
        (self.total_length - start).min(self.piece_length)
    }
}

/// A run of bytes inside one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpan {
    /// Index of the file in torrent order.
    pub file: usize,
    /// Offset inside that file.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
}

/// Where each file starts in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMap {
    starts: Vec<u64>,
    lengths: Vec<u64>,
}

impl FileMap {
    /// A map of files with these lengths, in torrent order.
    pub fn new(lengths: impl IntoIterator<Item = u64>) -> FileMap {
        let lengths: Vec<u64> = lengths.into_iter().collect();
        let mut starts = Vec::with_capacity(lengths.len());
        let mut at = 0u64;
        for len in &lengths {
            starts.push(at);
            at = at.saturating_add(*len);
        }
        FileMap { starts, lengths }
    }

    /// The file runs covering stream bytes `[offset, offset + len)`, in order.
    /// Zero-length files are skipped; bytes past the end are not covered.
    pub fn spans(&self, offset: u64, len: u64) -> Vec<FileSpan> {
        let end = offset.saturating_add(len);
        // The first file whose end is past `offset`.
        let first = self
            .starts
            .iter()
            .zip(&self.lengths)
            .position(|(s, l)| s + l > offset)
            .unwrap_or(self.starts.len());
        let mut out = Vec::new();
        for file in first..self.starts.len() {
            let (start, flen) = (self.starts[file], self.lengths[file]);
            if start >= end {
                break;
            }
            if flen == 0 {
                continue;
            }
            let from = offset.max(start);
            let to = end.min(start + flen);
            out.push(FileSpan {
                file,
                offset: from - start,
                len: to - from,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn last_piece_is_short() {
        let l = PieceLayout::new(16, 40).unwrap();
        assert_eq!(l.piece_count(), 3);
        assert_eq!([l.piece_len(0), l.piece_len(2), l.piece_len(3)], [16, 8, 0]);
        assert!(PieceLayout::new(16, 0).is_err());
        assert!(PieceLayout::new(0, 10).is_err());
        assert!(PieceLayout::new(1, u64::MAX).is_err());
    }

    #[test]
    fn piece_spans_files_and_skips_empty_ones() {
        let m = FileMap::new([10, 0, 5, 20]);
        assert_eq!(
            m.spans(8, 10),
            vec![
                FileSpan {
                    file: 0,
                    offset: 8,
                    len: 2
                },
                FileSpan {
                    file: 2,
                    offset: 0,
                    len: 5
                },
                FileSpan {
                    file: 3,
                    offset: 0,
                    len: 3
                },
            ]
        );
        assert_eq!(m.spans(35, 10), vec![]);
    }

    proptest! {
        #[test]
        fn spans_cover_exactly_the_range(lengths in proptest::collection::vec(0u64..50, 1..8), off in 0u64..200, len in 0u64..100) {
            let total: u64 = lengths.iter().sum();
            let m = FileMap::new(lengths.clone());
            let covered: u64 = m.spans(off, len).iter().map(|s| s.len).sum();
            let expect = off.saturating_add(len).min(total).saturating_sub(off.min(total));
            prop_assert_eq!(covered, expect);
            for s in m.spans(off, len) {
                prop_assert!(s.offset + s.len <= lengths[s.file]);
            }
        }
    }
}
