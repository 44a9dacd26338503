//! A torrent's data on disk while it downloads and seeds: real files written in place,
//! every piece checked against its SHA-1 before it counts.
//!
//! Resume needs no journal: on start, the pieces already on disk are hashed, and those
//! that match are kept. A crash can at worst lose pieces that were not fully written,
//! and those fail their hash and are fetched again.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ilpt_protocol::bitfield::Bitfield;
use ilpt_protocol::hashing::{hash_each_piece, piece_hash, PieceSource};
use ilpt_protocol::pieces::{FileMap, PieceLayout};
use ilpt_protocol::{FileEntry, Info, Layout};

/// The files of one torrent on disk.
#[derive(Debug)]
pub struct Storage {
    files: Vec<Option<File>>,
    pad: Vec<bool>,
    map: FileMap,
    layout: PieceLayout,
    hashes: Vec<[u8; 20]>,
    paths: Vec<PathBuf>,
    fresh: bool,
}

fn join(root: &Path, f: &FileEntry) -> PathBuf {
    f.path.iter().fold(root.to_path_buf(), |p, c| p.join(c))
}

impl Storage {
    /// Where a torrent's files go under `out`: `out/NAME` for one file, `out/NAME/…`
    /// for several, as other clients lay them out.
    pub fn paths_under(info: &Info, out: &Path) -> Vec<PathBuf> {
        Storage::paths_at(info, &out.join(&info.name))
    }

    /// Where a torrent's files go when its top-level file or folder is `root` (which
    /// may be named other than the torrent): `root` for one file, `root/…` for several.
    pub fn paths_at(info: &Info, root: &Path) -> Vec<PathBuf> {
        match &info.layout {
            Layout::SingleFile { .. } => vec![root.to_path_buf()],
            Layout::MultiFile { files } => files.iter().map(|f| join(root, f)).collect(),
        }
    }

    /// Opens (creating as needed, at full length) the files at `paths`.
    pub fn create(info: &Info, paths: Vec<PathBuf>) -> Result<Storage> {
        let entries = info.files();
        let mut files = Vec::with_capacity(entries.len());
        // Nothing on disk yet: no piece can be there, so there is nothing to check.
        let mut fresh = true;
        for (entry, path) in entries.iter().zip(&paths) {
            if entry.pad {
                files.push(None);
                continue;
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            let len = file.metadata()?.len();
            if len > 0 {
                fresh = false;
            }
            if len != entry.length {
                file.set_len(entry.length)
                    .with_context(|| format!("cannot size {}", path.display()))?;
            }
            files.push(Some(file));
        }
        Ok(Storage {
            files,
            pad: entries.iter().map(|e| e.pad).collect(),
            map: FileMap::new(entries.iter().map(|e| e.length)),
            layout: info.piece_layout(),
            hashes: info.pieces.clone(),
            paths,
            fresh,
        })
    }

    /// Opens existing files read-only-ish for seeding (they must exist).
    pub fn open_existing(info: &Info, paths: Vec<PathBuf>) -> Result<Storage> {
        for (entry, path) in info.files().iter().zip(&paths) {
            if !entry.pad && !path.is_file() {
                anyhow::bail!("{} is missing", path.display());
            }
        }
        Storage::create(info, paths)
    }

    /// The file paths, in torrent order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The piece layout.
    pub fn layout(&self) -> PieceLayout {
        self.layout
    }

    fn io<F>(&self, offset: u64, len: usize, mut f: F) -> std::io::Result<()>
    where
        F: FnMut(Option<&File>, u64, std::ops::Range<usize>) -> std::io::Result<()>,
    {
        let mut at = 0usize;
        for span in self.map.spans(offset, len as u64) {
            let n = usize::try_from(span.len).map_err(std::io::Error::other)?;
            let file = if self.pad[span.file] {
                None
            } else {
                self.files[span.file].as_ref()
            };
            f(file, span.offset, at..at + n)?;
            at += n;
        }
        if at != len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "past the end of the torrent",
            ));
        }
        Ok(())
    }

    /// Reads `len` bytes of piece `piece` at `offset`.
    pub fn read_block(&self, piece: u32, offset: u32, len: u32) -> std::io::Result<Vec<u8>> {
        if u64::from(offset) + u64::from(len) > self.layout.piece_len(piece) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "block outside the piece",
            ));
        }
        let mut buf = vec![0u8; len as usize];
        let start = self.layout.piece_offset(piece) + u64::from(offset);
        self.io(start, buf.len(), |file, at, range| match file {
            Some(f) => f.read_exact_at(&mut buf[range], at),
            None => {
                buf[range].fill(0);
                Ok(())
            }
        })?;
        Ok(buf)
    }

    /// Writes a block of piece `piece` at `offset`.
    pub fn write_block(&self, piece: u32, offset: u32, data: &[u8]) -> std::io::Result<()> {
        if u64::from(offset) + data.len() as u64 > self.layout.piece_len(piece) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "block outside the piece",
            ));
        }
        let start = self.layout.piece_offset(piece) + u64::from(offset);
        self.io(start, data.len(), |file, at, range| match file {
            Some(f) => f.write_all_at(&data[range], at),
            None => Ok(()),
        })
    }

    /// Whether piece `piece` on disk matches its hash.
    pub fn verify_piece(&self, piece: u32) -> bool {
        let len = u32::try_from(self.layout.piece_len(piece)).unwrap_or(0);
        match self.read_block(piece, 0, len) {
            Ok(data) => self.hashes.get(piece as usize) == Some(&piece_hash(&data)),
            Err(_) => false,
        }
    }

    /// Hashes every piece on disk (both cores) and returns those that match: what a
    /// restarted download keeps.
    pub fn check_all(&self, threads: usize) -> Bitfield {
        if self.fresh {
            return Bitfield::new(self.layout.piece_count());
        }
        let have = std::sync::Mutex::new(Bitfield::new(self.layout.piece_count()));
        hash_each_piece(self.layout, self, threads, &|index, result| {
            if let Ok(h) = result {
                if self.hashes.get(index as usize) == Some(&h) {
                    if let Ok(mut b) = have.lock() {
                        b.set(index);
                    }
                }
            }
            true
        });
        have.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    /// Flushes file data to disk.
    pub fn sync(&self) -> std::io::Result<()> {
        for f in self.files.iter().flatten() {
            f.sync_data()?;
        }
        Ok(())
    }
}

impl PieceSource for Storage {
    type Error = std::io::Error;

    fn read_piece(&self, index: u32, buf: &mut [u8]) -> std::io::Result<()> {
        let start = self.layout.piece_offset(index);
        self.io(start, buf.len(), |file, at, range| match file {
            Some(f) => f.read_exact_at(&mut buf[range], at),
            None => {
                buf[range].fill(0);
                Ok(())
            }
        })
    }
}
