//! BitTorrent v1 metainfo (BEP 3): `.torrent` files, single- and multi-file, read and
//! written, with the ILP Torrent license inside the info dictionary.
//!
//! Reading keeps the info dictionary's bytes exactly as they stand in the file, so the
//! info-hash of a torrent made by another tool (with keys we do not know, such as
//! `private`, `source`, `md5sum` or v2 hybrid fields) is the one that tool computed.

pub(crate) mod error;
pub(crate) mod fields;
mod paths;
mod write;

pub use error::{MetainfoError, MAX_INFO_LEN, MAX_TORRENT_LEN};
pub use write::{NewTorrent, TorrentFile};

use crate::bencode::{Dict, Value};
use crate::info_hash::InfoHash;
use crate::license::{License, LicenseSignature};
use crate::pieces::PieceLayout;
use fields::Fields;
use paths::check_component;

/// The largest piece length accepted (256 MiB; common tools stop at 16 or 32 MiB).
pub const MAX_PIECE_LENGTH: u64 = 256 << 20;
/// The most files a torrent may list.
pub const MAX_FILES: usize = 1 << 20;

/// One file of a torrent, with its path relative to the torrent's root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileEntry {
    /// Path components (for a single-file torrent, just the name). Each component is
    /// checked: never empty, `.`, `..`, nor containing a separator.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// A BEP 47 padding file (`attr` contains `p`): zeros that are never written to disk.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pad: bool,
}

/// Whether the torrent is one file or a directory of files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `length` at the top of the info dictionary: one file named `name`.
    SingleFile {
        /// The file's length in bytes.
        length: u64,
    },
    /// `files`: a directory named `name` holding these files.
    MultiFile {
        /// The files, in torrent order (the order their bytes are concatenated in).
        files: Vec<FileEntry>,
    },
}

/// The parsed info dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Suggested name of the file or directory.
    pub name: String,
    /// Bytes per piece (the last piece may be shorter).
    pub piece_length: u64,
    /// SHA-1 of each piece.
    pub pieces: Vec<[u8; 20]>,
    /// Single- or multi-file.
    pub layout: Layout,
    /// BEP 27 private flag.
    pub private: bool,
    /// The license, if the torrent is paid.
    pub license: Option<License>,
}

/// A parsed `.torrent` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    /// SHA-1 of the info dictionary's exact bytes.
    pub info_hash: InfoHash,
    /// The info dictionary.
    pub info: Info,
    /// Tracker URLs: `announce` then every `announce-list` tier, each URL once.
    pub trackers: Vec<String>,
    /// Free-text comment.
    pub comment: Option<String>,
    /// The program that made the torrent.
    pub created_by: Option<String>,
    /// Creation time, seconds since the Unix epoch.
    pub creation_date: Option<i64>,
    info_bytes: Vec<u8>,
}

impl Metainfo {
    /// Parses a `.torrent` file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        if bytes.len() > MAX_TORRENT_LEN {
            return Err(MetainfoError::TooLarge(bytes.len()));
        }
        let top = match Value::decode(bytes)? {
            Value::Dict(d) => d,
            other => {
                return Err(MetainfoError::Type {
                    field: "torrent".into(),
                    expected: "a dictionary",
                    found: other.kind(),
                })
            }
        };
        let f = Fields::new(&top, "");
        let info_dict = f.dict("info")?.ok_or_else(|| f.missing("info"))?;
        let info = Info::from_dict(info_dict)?;
        let mut trackers: Vec<String> = Vec::new();
        let mut add = |url: &[u8]| {
            if let Ok(url) = std::str::from_utf8(url) {
                let url = url.trim();
                if !url.is_empty() && !trackers.iter().any(|t| t == url) {
                    trackers.push(url.to_owned());
                }
            }
        };
        if let Some(url) = f.opt_bytes("announce")? {
            add(url);
        }
        // announce-list is a list of tiers, each a list of URLs; tolerate oddities in it
        // (other clients do), since it changes nothing about the content.
        if let Some(tiers) = f.opt_list("announce-list")? {
            for tier in tiers {
                if let Value::List(urls) = tier {
                    for url in urls {
                        if let Value::Bytes(url) = url {
                            add(url);
                        }
                    }
                }
            }
        }
        let text = |key: &str| {
            f.opt_bytes(key)
                .map(|o| o.map(|b| String::from_utf8_lossy(b).into_owned()))
        };
        Ok(Metainfo {
            info_hash: InfoHash::of_info_bytes(info_dict.raw()),
            info,
            trackers,
            comment: text("comment")?,
            created_by: text("created by")?,
            creation_date: f.opt_int("creation date")?,
            info_bytes: info_dict.raw().to_vec(),
        })
    }

    /// The info dictionary's exact bytes (what BEP 9 metadata exchange sends).
    pub fn info_bytes(&self) -> &[u8] {
        &self.info_bytes
    }

    /// Builds a metainfo from an info dictionary fetched by info-hash (BEP 9), checking
    /// that the bytes hash to `expected`.
    pub fn from_info_bytes(
        info_bytes: &[u8],
        expected: InfoHash,
        trackers: Vec<String>,
    ) -> Result<Metainfo, MetainfoError> {
        let actual = InfoHash::of_info_bytes(info_bytes);
        if actual != expected {
            return Err(MetainfoError::invalid(
                "info",
                format!("metadata hashes to {actual}, not the expected {expected}"),
            ));
        }
        let info = Info::from_bytes(info_bytes)?;
        Ok(Metainfo {
            info_hash: actual,
            info,
            trackers,
            comment: None,
            created_by: None,
            creation_date: None,
            info_bytes: info_bytes.to_vec(),
        })
    }

    /// The signature status of the license (absent for a free torrent).
    pub fn license_signature(&self) -> LicenseSignature {
        self.info
            .license
            .as_ref()
            .map_or(LicenseSignature::Absent, License::signature_status)
    }

    /// A magnet link for this torrent: info-hash, name, trackers and license hints.
    pub fn magnet(&self) -> crate::magnet::Magnet {
        crate::magnet::Magnet::for_torrent(self)
    }
}

impl Info {
    /// Parses a bencoded info dictionary on its own.
    pub fn from_bytes(bytes: &[u8]) -> Result<Info, MetainfoError> {
        if bytes.len() > MAX_TORRENT_LEN {
            return Err(MetainfoError::TooLarge(bytes.len()));
        }
        match Value::decode(bytes)? {
            Value::Dict(d) => Info::from_dict(&d),
            other => Err(MetainfoError::Type {
                field: "info".into(),
                expected: "a dictionary",
                found: other.kind(),
            }),
        }
    }

    fn from_dict(dict: &Dict<'_>) -> Result<Info, MetainfoError> {
        if dict.raw().len() > MAX_INFO_LEN {
            return Err(MetainfoError::invalid(
                "info",
                format!(
                    "the info dictionary is {} bytes, more than the {MAX_INFO_LEN}-byte limit \
                     peers exchange: use larger pieces (fewer piece hashes)",
                    dict.raw().len()
                ),
            ));
        }
        let f = Fields::new(dict, "info");
        let name = utf8_field(&f, "name")?.ok_or_else(|| f.missing("name"))?;
        check_component(&name).map_err(|r| MetainfoError::invalid(f.name("name"), r))?;
        let piece_length = f.uint("piece length")?;
        if piece_length == 0 || piece_length > MAX_PIECE_LENGTH {
            return Err(MetainfoError::invalid(
                f.name("piece length"),
                format!("expected 1 to {MAX_PIECE_LENGTH} bytes, found {piece_length}"),
            ));
        }
        let raw_pieces = f.bytes("pieces")?;
        if raw_pieces.len() % 20 != 0 {
            return Err(MetainfoError::invalid(
                f.name("pieces"),
                format!(
                    "expected a multiple of 20 bytes, found {}",
                    raw_pieces.len()
                ),
            ));
        }
        let pieces: Vec<[u8; 20]> = raw_pieces
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0u8; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();
        let layout = match (f.opt("length"), f.opt("files")) {
            (Some(_), None) => Layout::SingleFile {
                length: f.uint("length")?,
            },
            (None, Some(_)) => Layout::MultiFile {
                files: parse_files(&f)?,
            },
            (Some(_), Some(_)) => {
                return Err(MetainfoError::invalid(
                    "info",
                    "has both `length` and `files`",
                ))
            }
            (None, None) => {
                return Err(MetainfoError::invalid(
                    "info",
                    "has neither `length` nor `files`",
                ))
            }
        };
        let private = f.opt_int("private")? == Some(1);
        let license = match f.dict("license")? {
            Some(d) => Some(License::from_dict(d, "info.license")?),
            None => None,
        };
        let info = Info {
            name,
            piece_length,
            pieces,
            layout,
            private,
            license,
        };
        let total = info.total_length();
        let layout =
            PieceLayout::new(piece_length, total).map_err(|r| MetainfoError::invalid("info", r))?;
        if u64::from(layout.piece_count()) != info.pieces.len() as u64 {
            return Err(MetainfoError::invalid(
                "info.pieces",
                format!(
                    "{} bytes in pieces of {piece_length} make {} pieces, but {} hashes are listed",
                    total,
                    layout.piece_count(),
                    info.pieces.len()
                ),
            ));
        }
        if let Some(license) = &info.license {
            // Every piece must cost at least one unit: a piece priced at nothing could be
            // served and taken without any payment, and the price spreads evenly
            // ([`crate::split::piece_price`]).
            if license.price.0 < u64::from(layout.piece_count()) {
                return Err(MetainfoError::invalid(
                    "info.license.price",
                    format!(
                        "{} units for {} pieces leaves some pieces free: a paid torrent must cost at least one unit a piece (raise the price or use larger pieces)",
                        license.price.0,
                        layout.piece_count()
                    ),
                ));
            }
        }
        Ok(info)
    }

    /// The files in torrent order; a single-file torrent has one, named `name`.
    pub fn files(&self) -> Vec<FileEntry> {
        match &self.layout {
            Layout::SingleFile { length } => vec![FileEntry {
                path: vec![self.name.clone()],
                length: *length,
                pad: false,
            }],
            Layout::MultiFile { files } => files.clone(),
        }
    }

    /// Total bytes of all files (padding included: it is part of the piece stream).
    pub fn total_length(&self) -> u64 {
        match &self.layout {
            Layout::SingleFile { length } => *length,
            Layout::MultiFile { files } => files
                .iter()
                .map(|f| f.length)
                .fold(0u64, u64::saturating_add),
        }
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        // Parsing checked that the count matches the layout, which fits in u32.
        u32::try_from(self.pieces.len()).unwrap_or(u32::MAX)
    }

    /// How pieces map onto bytes. Always valid for a parsed `Info`.
    pub fn piece_layout(&self) -> PieceLayout {
        match PieceLayout::new(self.piece_length, self.total_length()) {
            Ok(l) => l,
            Err(e) => unreachable!("a parsed Info has a valid layout: {e}"),
        }
    }
}

/// Prefers the BEP 3 `KEY.utf-8` variant, then `KEY` as UTF-8, then `KEY` decoded lossily.
fn utf8_field(f: &Fields<'_, '_>, key: &str) -> Result<Option<String>, MetainfoError> {
    if let Ok(Some(b)) = f.opt_bytes(&format!("{key}.utf-8")) {
        if let Ok(s) = std::str::from_utf8(b) {
            return Ok(Some(s.to_owned()));
        }
    }
    Ok(f.opt_bytes(key)?
        .map(|b| String::from_utf8_lossy(b).into_owned()))
}

fn parse_files(f: &Fields<'_, '_>) -> Result<Vec<FileEntry>, MetainfoError> {
    let list = f.opt_list("files")?.unwrap_or_default();
    if list.is_empty() {
        return Err(MetainfoError::invalid(f.name("files"), "the list is empty"));
    }
    if list.len() > MAX_FILES {
        return Err(MetainfoError::invalid(
            f.name("files"),
            format!("{} files, more than the limit of {MAX_FILES}", list.len()),
        ));
    }
    let mut files = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let path = format!("info.files[{i}]");
        let Value::Dict(d) = entry else {
            return Err(MetainfoError::Type {
                field: path,
                expected: "a dictionary",
                found: entry.kind(),
            });
        };
        let ef = Fields::new(d, &path);
        let length = ef.uint("length")?;
        let components = match ef.opt_list("path.utf-8") {
            Ok(Some(p))
                if p.iter()
                    .all(|c| matches!(c, Value::Bytes(b) if std::str::from_utf8(b).is_ok())) =>
            {
                p
            }
            _ => ef.opt_list("path")?.ok_or_else(|| ef.missing("path"))?,
        };
        let mut parts = Vec::with_capacity(components.len());
        for c in components {
            let Value::Bytes(b) = c else {
                return Err(MetainfoError::Type {
                    field: ef.name("path"),
                    expected: "a list of strings",
                    found: c.kind(),
                });
            };
            let part = String::from_utf8_lossy(b).into_owned();
            check_component(&part).map_err(|r| MetainfoError::invalid(ef.name("path"), r))?;
            parts.push(part);
        }
        if parts.is_empty() {
            return Err(MetainfoError::invalid(ef.name("path"), "the path is empty"));
        }
        let pad = matches!(ef.opt_bytes("attr"), Ok(Some(a)) if a.contains(&b'p'));
        files.push(FileEntry {
            path: parts,
            length,
            pad,
        });
    }
    paths::check_distinct(&files)?;
    Ok(files)
}

#[cfg(test)]
mod tests;
