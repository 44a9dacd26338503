//! Writing `.torrent` files: a new torrent's fields in, canonical bencode out.

use bendy::encoding::{Encoder, SingleItemEncoder};

use super::{Info, Layout, Metainfo, MetainfoError};
use crate::bencode::MAX_DEPTH;

/// Everything a new torrent file holds. [`NewTorrent::encode`] writes and re-reads it, so
/// what comes out has passed the same checks as any torrent we read.
#[derive(Debug, Clone)]
pub struct NewTorrent {
    /// The info dictionary (name, pieces, files, license…).
    pub info: Info,
    /// Tracker URLs; the first is `announce`, and with more than one each gets its own
    /// `announce-list` tier (as mktorrent writes them).
    pub trackers: Vec<String>,
    /// Optional comment.
    pub comment: Option<String>,
    /// The program that made it, like `ilpt 0.1.0`.
    pub created_by: Option<String>,
    /// Seconds since the Unix epoch; the caller reads the clock, not this crate.
    pub creation_date: Option<i64>,
}

/// A torrent file's bytes together with their parsed form.
#[derive(Debug, Clone)]
pub struct TorrentFile {
    /// The `.torrent` bytes.
    pub bytes: Vec<u8>,
    /// What they parse to.
    pub metainfo: Metainfo,
}

fn encode_info(info: &Info, e: SingleItemEncoder<'_>) -> Result<(), bendy::encoding::Error> {
    e.emit_unsorted_dict(|d| {
        match &info.layout {
            Layout::SingleFile { length } => d.emit_pair(b"length", length)?,
            Layout::MultiFile { files } => d.emit_pair_with(b"files", |e| {
                e.emit_list(|l| {
                    for file in files {
                        l.emit_with(|e| {
                            e.emit_unsorted_dict(|fd| {
                                if file.pad {
                                    fd.emit_pair(b"attr", "p")?;
                                }
                                fd.emit_pair(b"length", file.length)?;
                                fd.emit_pair_with(b"path", |e| {
                                    e.emit_list(|pl| {
                                        for part in &file.path {
                                            pl.emit_str(part)?;
                                        }
                                        Ok(())
                                    })
                                })
                            })
                        })?;
                    }
                    Ok(())
                })
            })?,
        }
        if let Some(license) = &info.license {
            d.emit_pair_with(b"license", |e| license.encode_into(e))?;
        }
        d.emit_pair(b"name", &info.name)?;
        d.emit_pair(b"piece length", info.piece_length)?;
        d.emit_pair_with(b"pieces", |e| e.emit_bytes(&info.pieces.concat()))?;
        if info.private {
            d.emit_pair(b"private", 1)?;
        }
        Ok(())
    })
}

impl NewTorrent {
    /// Encodes the torrent and parses it back.
    pub fn encode(&self) -> Result<TorrentFile, MetainfoError> {
        let mut encoder = Encoder::new().with_max_depth(MAX_DEPTH);
        encoder
            .emit_with(|e| {
                e.emit_unsorted_dict(|d| {
                    if let Some(first) = self.trackers.first() {
                        d.emit_pair(b"announce", first)?;
                    }
                    if self.trackers.len() > 1 {
                        d.emit_pair_with(b"announce-list", |e| {
                            e.emit_list(|tiers| {
                                for t in &self.trackers {
                                    tiers.emit_list(|tier| tier.emit_str(t))?;
                                }
                                Ok(())
                            })
                        })?;
                    }
                    if let Some(c) = &self.comment {
                        d.emit_pair(b"comment", c)?;
                    }
                    if let Some(c) = &self.created_by {
                        d.emit_pair(b"created by", c)?;
                    }
                    if let Some(t) = self.creation_date {
                        d.emit_pair(b"creation date", t)?;
                    }
                    d.emit_pair_with(b"info", |e| encode_info(&self.info, e))
                })
            })
            .map_err(|e| MetainfoError::invalid("torrent", format!("cannot encode: {e}")))?;
        let bytes = encoder
            .get_output()
            .map_err(|e| MetainfoError::invalid("torrent", format!("cannot encode: {e}")))?;
        let metainfo = Metainfo::from_bytes(&bytes)?;
        Ok(TorrentFile { bytes, metainfo })
    }
}
