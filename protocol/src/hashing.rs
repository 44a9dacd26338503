//! Piece hashing on all cores, streaming: each worker thread reads one piece at a time
//! into its own buffer and hashes it, so memory stays at `threads × piece_length`.
//!
//! Reading is the caller's business (this crate does no I/O): it supplies a
//! [`PieceSource`] that fills a buffer with a piece's bytes, from files, memory or a
//! network buffer alike.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;

use sha1::{Digest, Sha1};

use crate::pieces::PieceLayout;

/// Something that can produce the bytes of any piece, from several threads at once.
pub trait PieceSource: Sync {
    /// What reading can fail with.
    type Error: Send;
    /// Fills `buf` (exactly the piece's length) with piece `index`.
    fn read_piece(&self, index: u32, buf: &mut [u8]) -> Result<(), Self::Error>;
}

/// SHA-1 of one piece's bytes.
pub fn piece_hash(bytes: &[u8]) -> [u8; 20] {
    Sha1::digest(bytes).into()
}

/// The most piece buffers the hashing workers hold at once, in bytes.
pub const HASH_MEMORY: usize = 1 << 30;

/// Hashes every piece with `threads` workers and calls `each(index, result)` as each
/// piece finishes (in no particular order). Returns after all pieces are done, or after
/// `each` returns `false` (stop early).
pub fn hash_each_piece<S: PieceSource>(
    layout: PieceLayout,
    source: &S,
    threads: usize,
    each: &(dyn Fn(u32, Result<[u8; 20], S::Error>) -> bool + Sync),
) {
    let next = AtomicU32::new(0);
    let stop = AtomicBool::new(false);
    // Each worker holds one piece: as many as fit the memory budget (a torrent of
    // 256 MiB pieces hashes 4 at a time, not 64).
    let piece = usize::try_from(layout.piece_length())
        .unwrap_or(usize::MAX)
        .max(1);
    let threads = threads.clamp(1, 64).min((HASH_MEMORY / piece).max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = vec![0u8; 0];
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= layout.piece_count() {
                        break;
                    }
                    // piece_len ≤ piece_length, which parsing bounds (≤ 256 MiB).
                    let len = usize::try_from(layout.piece_len(index)).unwrap_or(0);
                    buf.resize(len, 0);
                    let result = source
                        .read_piece(index, &mut buf)
                        .map(|()| piece_hash(&buf));
                    if !each(index, result) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
}

/// Hashes every piece; the first read error stops the work and is returned.
pub fn hash_pieces<S: PieceSource>(
    layout: PieceLayout,
    source: &S,
    threads: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<[u8; 20]>, S::Error> {
    let hashes = Mutex::new(vec![[0u8; 20]; layout.piece_count() as usize]);
    let error = Mutex::new(None);
    hash_each_piece(layout, source, threads, &|index, result| match result {
        Ok(hash) => {
            if let Ok(mut h) = hashes.lock() {
                h[index as usize] = hash;
            }
            progress(layout.piece_len(index));
            true
        }
        Err(e) => {
            if let Ok(mut slot) = error.lock() {
                slot.get_or_insert(e);
            }
            false
        }
    });
    if let Some(e) = error.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(hashes.into_inner().unwrap_or_else(|p| p.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Mem(Vec<u8>, PieceLayout, Option<u32>);
    impl PieceSource for Mem {
        type Error = String;
        fn read_piece(&self, index: u32, buf: &mut [u8]) -> Result<(), String> {
            if Some(index) == self.2 {
                return Err("boom".into());
            }
            let off = self.1.piece_offset(index) as usize;
            buf.copy_from_slice(&self.0[off..off + buf.len()]);
            Ok(())
        }
    }

    #[test]
    fn parallel_hashes_match_sequential_ones() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let layout = PieceLayout::new(1000, data.len() as u64 - 17).unwrap();
        let src = Mem(data.clone(), layout, None);
        let done = AtomicU32::new(0);
        let got = hash_pieces(layout, &src, 4, &|n| {
            done.fetch_add(n as u32, Ordering::Relaxed);
        })
        .unwrap();
        let want: Vec<[u8; 20]> = data[..data.len() - 17]
            .chunks(1000)
            .map(piece_hash)
            .collect();
        assert_eq!(got, want);
        assert_eq!(done.load(Ordering::Relaxed) as u64, layout.total_length());
    }

    #[test]
    fn read_errors_are_returned() {
        let data = vec![0u8; 200_000];
        let layout = PieceLayout::new(1000, data.len() as u64).unwrap();
        assert_eq!(
            hash_pieces(layout, &Mem(data, layout, Some(99)), 2, &|_| {}),
            Err("boom".to_string())
        );
    }
}
